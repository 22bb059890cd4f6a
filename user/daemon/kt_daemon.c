// SPDX-License-Identifier: MIT
#include "kt_daemon.h"

#include <argp.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kt_addons.h"
#include "kt_array.h"
#include "kt_alert.h"
#include "kt_alloc.h"
#include "kt_alloc_abi.h"
#include "kt_config.h"
#include "kt_engine.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_http.h"
#include "kt_jsondir.h"
#include "kt_pprof_http.h"
#include "kt_pprof_push.h"
#include "kt_log.h"
#include "kt_offcpu.h"
#include "kt_profile.h"
#include "kt_prom.h"
#include "kt_sym.h"
#include "kt_target.h"
#include "kt_timeline.h"
#include "kt_window.h"

#define TICK_NS	      100000000ull /* windows, the process log, ring retirement */
#define MAX_CLI	      512
#define MIN_RETAIN_NS 60000000000ull
#define LOSS_LOG_NS   10000000000ull /* at most one "events lost" line per 10 s */

/* ---------------------------------------------------------------- daemon state */

struct cli_setting {
	const char *section, *key, *value, *flag;
};

/* A process that exited, or one image of it that exec replaced (image). */
struct exited_proc {
	uint32_t pid;
	uint32_t exec_gen;
	bool image;
	uint64_t at;
};

struct daemon {
	const char *config_path;
	bool check_only;
	struct cli_setting cli[MAX_CLI];
	int ncli;
	struct kt_config cfg; /* in force */
	struct kt_engine e;   /* e.s: the session; e.offcpu: off_cpu = yes, fixed at start */
	struct kt_windows *win;
	int default_win;
	struct kt_alerts *alerts;
	FILE *alert_out;
	struct kt_http *http;
	struct kt_pprof_http *pprof; /* /debug/pprof on the same listener */
	struct kt_pprof_push *push;  /* [pprof] push_url */
	struct kt_timeline_sink tl;
	uint64_t fired_seen; /* alerts fired when the timeline was last written */
	bool stacks;	     /* fixed at start: the BPF object is loaded once */
	bool running;	     /* past start-up: the engine's lines are logged as "trace" */
	uint64_t reloads, reload_failures;
	uint64_t scope_said[KT_SCOPE_STAT_NR]; /* scope counters already logged */
	struct exited_proc *exited;
	int nexited;
	size_t capexited;
	uint32_t *announced;
	int nannounced;
	size_t capannounced;
	uint64_t start;
	uint64_t lost_logged, lost_logged_at; /* log_loss: what the last line said, when */
	uint64_t alloc_untracked_said;	      /* --alloc: processes without a slot, logged */
	struct kt_prom_rings *prom_rings;     /* which rings have /metrics series (kt_prom.h) */
};

static volatile sig_atomic_t stop_sig, reload_req, timeline_req;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_req = 1;
}

/* SIGUSR1: write the timeline now (as the one-shot does). */
static void on_usr1(int sig)
{
	(void)sig;
	timeline_req = 1;
}

/* ---------------------------------------------------------------- CLI */

enum {
	OPT_CONFIG = 2000,
	OPT_WATCH,
	OPT_LISTEN,
	OPT_LOG_FORMAT,
	OPT_ALERT,
	OPT_ALERT_LOG,
	OPT_ALERT_EXEC,
	OPT_WINDOWS,
	OPT_EVAL,
	OPT_RETAIN,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX,
	OPT_TIMELINE_MODE,
	OPT_TIMELINE_LAST,
	OPT_TIMELINE_KEEP,
	OPT_FOLDED_DIR,
	OPT_FOLDED_INTERVAL,
	OPT_JSON_DIR,
	OPT_JSON_INTERVAL,
	OPT_RINGBUF,
	OPT_CHECK,
	OPT_OFF_CPU_MIN,
	OPT_METRICS_MAX_RINGS,
	OPT_PUSH_URL,
	OPT_PUSH_INTERVAL,
	OPT_PUSH_FORMAT,
	OPT_APP_NAME,
};

static const struct argp_option daemon_options[] = {
	{"config", OPT_CONFIG, "FILE", 0, "INI config (deploy/kaos-trace.conf); reread on SIGHUP",
	 0},
	{"watch", OPT_WATCH, "PATH", 0, "-b's former name", 0},
	{"listen", OPT_LISTEN, "ADDR:PORT", 0,
	 "Serve /metrics here (default 127.0.0.1:9464; 'off': no endpoint)", 0},
	{"log-format", OPT_LOG_FORMAT, "plain|json", 0, "Log line format on stderr", 0},
	{"alert", OPT_ALERT, "RULE", 0, "Alert rule, e.g. 'send.p99 > 1us for 10s' (repeatable)",
	 0},
	{"alert-log", OPT_ALERT_LOG, "FILE", 0, "Alert transitions as JSON lines (default stderr)",
	 0},
	{"alert-exec", OPT_ALERT_EXEC, "CMD", 0,
	 "Run CMD (absolute path + args, no shell) with each alert as JSON on stdin", 0},
	{"windows", OPT_WINDOWS, "LIST", 0, "Rolling windows (default 10s,1m,10m)", 0},
	{"eval-interval", OPT_EVAL, "DURATION", 0, "Evaluate alert rules this often (default 1s)",
	 0},
	{"retain", OPT_RETAIN, "DURATION", 0,
	 "Forget exited processes after this long (default: the longest window, >= 1m)", 0},
	{"timeline", OPT_TIMELINE, "FILE", 0, "Write a Chrome/Perfetto trace-event timeline", 0},
	{"timeline-max-events", OPT_TIMELINE_MAX, "N", 0,
	 "Timeline cap (default " KT_STR(KT_TIMELINE_DEFAULT_MAX) ")", 0},
	{"timeline-mode", OPT_TIMELINE_MODE, "first|last", 0,
	 "Keep the first events (default) or the newest: a flight recorder, written to a new "
	 "timestamped file on SIGUSR1, when an alert fires and at stop",
	 0},
	{"timeline-last", OPT_TIMELINE_LAST, "DURATION", 0,
	 "Flight recorder of the last DURATION of events (implies --timeline-mode last)", 0},
	{"timeline-keep", OPT_TIMELINE_KEEP, "N", 0,
	 "Flight recorder: its newest N timestamped files are kept (default 10)", 0},
	{"folded-dir", OPT_FOLDED_DIR, "DIR", 0,
	 "Write folded stacks per interval into DIR (enables stack capture)", 0},
	{"folded-interval", OPT_FOLDED_INTERVAL, "DURATION", 0, "Folded file rotation (default 1m)",
	 0},
	{"json-dir", OPT_JSON_DIR, "DIR", 0,
	 "Write an interval JSON report (histograms included: kaos-trace diff reads it) per "
	 "interval into DIR",
	 0},
	{"json-interval", OPT_JSON_INTERVAL, "DURATION", 0, "JSON report interval (default 1m)", 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0, "BPF ring buffer size (power of two)", 0},
	/* --off-cpu-min-us's old name, kept for configs and scripts written for it */
	{"off-cpu-min-block", OPT_OFF_CPU_MIN, "DURATION", OPTION_HIDDEN,
	 "Blocks shorter than this are not counted (default 1us)", 0},
	{"metrics-max-rings", OPT_METRICS_MAX_RINGS, "N", 0,
	 "Rings with their own /metrics series (default 32); more are folded into "
	 "ring=\"_overflow\"",
	 0},
	{"pprof-push-url", OPT_PUSH_URL, "URL", 0,
	 "Push each interval's profiles to a Pyroscope-compatible http://HOST:PORT/ingest", 0},
	{"pprof-push-interval", OPT_PUSH_INTERVAL, "DURATION", 0,
	 "Profile push interval (default 15s)", 0},
	{"pprof-push-format", OPT_PUSH_FORMAT, "pprof|folded", 0,
	 "Pushed profile format (default pprof)", 0},
	{"pprof-app-name", OPT_APP_NAME, "NAME", 0,
	 "Application name of pushed profiles (default kaos-trace): NAME.cpu, NAME.off_cpu, "
	 "NAME.latency",
	 0},
	{"check-config", OPT_CHECK, NULL, 0,
	 "Check the config and the flags (watched paths included), print the result, exit", 0},
	{"verbose", 'v', NULL, 0, "Debug log lines and libbpf output", 0},
	{NULL, 'h', NULL, 0, "Give this help list (as -?, --help)", -1},
	{},
};

static const struct {
	int key;
	const char *section, *name;
} flag_map[] = {
	{'b', "watch", "path"},
	{OPT_WATCH, "watch", "path"},
	{KT_OPT_OFF_CPU_MIN_US, "daemon", "off_cpu_min_us"},
	{KT_OPT_FUNC, "daemon", "func"},
	{KT_OPT_MAX_FUNCS, "daemon", "max_funcs"},
	{KT_OPT_MAX_RATE, "daemon", "max_rate"},
	{KT_OPT_PROFILE, "daemon", "profile"},
	{KT_OPT_PMU, "daemon", "pmu"},
	{KT_OPT_ALLOC_LIB, "daemon", "alloc_lib"},
	{KT_OPT_ALLOC_SHORT, "daemon", "alloc_short"},
	{OPT_LISTEN, "daemon", "listen"},
	{OPT_LOG_FORMAT, "daemon", "log_format"},
	{OPT_ALERT, "alerts", "rule"},
	{OPT_ALERT_LOG, "alerts", "log"},
	{OPT_ALERT_EXEC, "alerts", "exec"},
	{OPT_WINDOWS, "daemon", "windows"},
	{OPT_EVAL, "daemon", "eval_interval"},
	{OPT_RETAIN, "daemon", "retain"},
	{OPT_TIMELINE, "timeline", "file"},
	{OPT_TIMELINE_MAX, "timeline", "max_events"},
	{OPT_TIMELINE_MODE, "timeline", "mode"},
	{OPT_TIMELINE_LAST, "timeline", "last"},
	{OPT_TIMELINE_KEEP, "timeline", "keep"},
	{OPT_FOLDED_DIR, "folded", "dir"},
	{OPT_FOLDED_INTERVAL, "folded", "interval"},
	{OPT_JSON_DIR, "json", "dir"},
	{OPT_JSON_INTERVAL, "json", "interval"},
	{OPT_RINGBUF, "daemon", "ringbuf_size"},
	{KT_OPT_PROBE_COST, "daemon", "probe_cost"},
	{OPT_OFF_CPU_MIN, "daemon", "off_cpu_min_block"},
	{KT_OPT_SAMPLE, "daemon", "sample"},
	{KT_OPT_BUDGET, "daemon", "budget"},
	{OPT_METRICS_MAX_RINGS, "daemon", "metrics_max_rings"},
	{OPT_PUSH_URL, "pprof", "push_url"},
	{OPT_PUSH_INTERVAL, "pprof", "push_interval"},
	{OPT_PUSH_FORMAT, "pprof", "push_format"},
	{OPT_APP_NAME, "pprof", "app_name"},
};

/* Whether a file could be written at path: it is writable, or its directory is. */
static bool path_writable(const char *path)
{
	char dir[PATH_MAX];

	if (access(path, F_OK) == 0)
		return access(path, W_OK) == 0;
	snprintf(dir, sizeof(dir), "%s", path);
	return access(dirname(dir), W_OK) == 0;
}

/* The long name of an option key, in either table. */
static const char *flag_name(int key)
{
	for (size_t j = 0; j < sizeof(daemon_options) / sizeof(daemon_options[0]); j++)
		if (daemon_options[j].key == key && daemon_options[j].name)
			return daemon_options[j].name;
	for (const struct argp_option *o = kt_engine_argp_options; o->name; o++)
		if (o->key == key)
			return o->name;
	return NULL;
}

static error_t daemon_parse_opt(int key, char *arg, struct argp_state *state)
{
	struct daemon *d = state->input;

	if (key == OPT_CONFIG) {
		d->config_path = arg;
		return 0;
	}
	if (key == OPT_CHECK) {
		d->check_only = true;
		return 0;
	}
	if (key == 'h')
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP); /* exits 0, as -? does */
	if (key == ARGP_KEY_INIT) {
		/* getopt's own line names a bad option; argp's "Try --help" would be more */
		state->err_stream = NULL;
		if (state->child_inputs)
			state->child_inputs[0] = d; /* the shared options (kt_engine.h) */
		return 0;
	}
	if (key == 'v') {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "verbose", "yes", "-v"};
		return 0;
	}
	if (key == KT_OPT_ALLOW_NOP5) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "allow_nop5_sites", "yes",
							 "allow-nop5-sites"};
		return 0;
	}
	if (key == KT_OPT_OFF_CPU) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "off_cpu", "yes", "off-cpu"};
		return 0;
	}
	if (key == KT_OPT_ALLOC) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "alloc", "yes", "alloc"};
		return 0;
	}
	if (key == KT_OPT_NO_USDT) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "no_usdt", "yes", "no-usdt"};
		return 0;
	}
	if (key == ARGP_KEY_ARG) {
		/* an error code ends argp_parse without exiting: main returns 2 */
		fprintf(stderr, "kaos-trace daemon: unexpected argument '%s' (see --help)\n", arg);
		return EINVAL;
	}
	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++) {
		if (flag_map[i].key != key)
			continue;
		if (d->ncli == MAX_CLI) {
			fprintf(stderr, "kaos-trace daemon: too many flags\n");
			return E2BIG;
		}
		d->cli[d->ncli].flag = flag_name(key);
		d->cli[d->ncli].section = flag_map[i].section;
		d->cli[d->ncli].key = flag_map[i].name;
		d->cli[d->ncli].value = arg;
		d->ncli++;
		return 0;
	}
	return ARGP_ERR_UNKNOWN;
}

/* The config file (if any) with the flags on top, checked. 0 or -1 with err. */
static int build_config(struct daemon *d, struct kt_config *c, char *err, size_t errlen)
{
	char msg[512];

	kt_config_init(c);
	if (d->config_path && kt_config_load(c, d->config_path, err, errlen))
		goto fail;
	for (int i = 0; i < d->ncli; i++) {
		msg[0] = 0;
		if (kt_config_set(c, d->cli[i].section, d->cli[i].key, d->cli[i].value, msg,
				  sizeof(msg))) {
			snprintf(err, errlen, "--%s: %s", d->cli[i].flag ? d->cli[i].flag : "?",
				 msg);
			goto fail;
		}
	}
	if (kt_config_check(c, err, errlen))
		goto fail;
	return 0;
fail:
	kt_config_free(c);
	return -1;
}

static uint64_t retain_ns(const struct daemon *d);

static void forget_ring(void *ctx, uint32_t pid, uint32_t exec_gen, uint32_t ring_id)
{
	struct daemon *d = ctx;

	kt_agg_forget_ring(&d->e.s.agg, pid, exec_gen, ring_id);
	kt_windows_forget_ring(d->win, pid, exec_gen, ring_id);
}

/*
 * New rings get their /metrics series or the overflow's (kt_prom.h); a
 * ring closed `retain` ago is forgotten, as an exited process is.
 */
static void retire_rings(struct daemon *d, uint64_t now)
{
	int n = kt_prom_rings_update(d->prom_rings, &d->e.s.agg, now, retain_ns(d), forget_ring, d);

	if (n > 0)
		kt_log(KT_LOG_DEBUG, "ring", "%d closed ring%s retired", n, n == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- /metrics */

/* /metrics: a view of the engine's snapshot, the windows, the alerts and off-CPU time. */
static int serve_metrics(struct daemon *d, const char *accept, struct kt_http_response *r)
{
	bool om = strstr(accept, "application/openmetrics-text") != NULL;
	const struct kt_offcpu_thread *othr = NULL;
	struct kt_offcpu_stats ost;
	struct kt_snapshot snap;
	struct kt_alloc_live *heap = NULL;
	struct kt_alloc_stats ast;
	size_t len = 0;
	int nothr = 0, nheap = 0, e;
	FILE *f;

	kt_session_consume(&d->e.s); /* what is waiting counts too */
	kt_engine_snapshot(&d->e, &snap);
	if (d->e.offcpu) {
		/* processes seen since the last tick */
		kt_offcpu_tick(d->e.offcpu, &d->e.s.agg);
		if ((nothr = kt_offcpu_threads(d->e.offcpu, &othr)) < 0)
			return -1;
		kt_offcpu_get_stats(d->e.offcpu, &ost);
	}
	if (d->e.alloc) {
		kt_alloc_tick(d->e.alloc, &d->e.s.agg); /* -b processes seen since the tick */
		/* gone processes keep their figures at exit until retired (track_processes) */
		if ((nheap = kt_alloc_live_procs(d->e.alloc, true, &heap)) < 0)
			return -1;
		kt_alloc_get_stats(d->e.alloc, &ast);
	}
	retire_rings(d, snap.now_ns); /* rings seen since the tick */
	struct kt_prom_push push;

	kt_pprof_push_stats(d->push, &push);
	struct kt_prom_src src = {.agg = snap.agg,
				  .rings = d->prom_rings,
				  .tot = &snap.tot,
				  .win = d->win,
				  .now = snap.now_ns,
				  .alerts = d->alerts,
				  .links = kt_session_nlinks(&d->e.s),
				  .reloads = d->reloads,
				  .reload_failures = d->reload_failures,
				  .cost_warnings = d->e.s.cost_warnings,
				  .offcpu_threads = othr,
				  .noffcpu_threads = (size_t)nothr,
				  .offcpu_stats = d->e.offcpu ? &ost : NULL,
				  .offcpu_min_block_ns = d->cfg.off_cpu_min_ns,
				  .alloc_procs = heap,
				  .nalloc_procs = (size_t)nheap,
				  .alloc_stats = d->e.alloc ? &ast : NULL,
				  .push = d->cfg.pprof_push_url[0] ? &push : NULL};

	f = open_memstream(&r->body, &len);
	e = f ? kt_prom_write(f, &src, om) : -ENOMEM;
	free(heap);
	if (!f)
		return -1;
	if (fclose(f) || e) {
		free(r->body);
		r->body = NULL;
		return -1;
	}
	r->len = len;
	r->status = 200;
	r->content_type = om ? KT_OPENMETRICS_CONTENT_TYPE : KT_PROM_CONTENT_TYPE;
	return 0;
}

static int http_handler(void *ctx, const char *method, const char *path, const char *accept,
			struct kt_http_response *r)
{
	struct daemon *d = ctx;

	(void)method;
	if (!strcmp(path, "/metrics"))
		return serve_metrics(d, accept, r);
	if (d->pprof && kt_pprof_http_handle(d->pprof, path, kt_now_ns(CLOCK_MONOTONIC), r))
		return r->body || r->defer_ns ? 0 : -1;
	if (!strcmp(path, "/healthz")) {
		r->status = 200;
		r->body = strdup("ok\n");
		r->len = r->body ? 3 : 0;
		return r->body ? 0 : -1;
	}
	static const char index_page[] =
		"kaos-trace daemon\n  /metrics  Prometheus/OpenMetrics text\n  /healthz  ok\n"
		"  /debug/pprof/  pprof profiles of the next N seconds\n";

	r->status = strcmp(path, "/") ? 404 : 200;
	r->body = strdup(r->status == 200 ? index_page : "not found\n");
	r->len = r->body ? strlen(r->body) : 0;
	return r->body ? 0 : -1;
}

/* ---------------------------------------------------------------- applying a config */

static bool same_cstr(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/*
 * The paths c's watches resolve to (each program's libkaos.so or itself).
 * With func patterns, profile or off_cpu a watch without kaos probes is
 * traced by them alone (as the engine resolves it); with no_usdt none is
 * attached.
 */
static int resolve_watches(const struct kt_config *c, struct kt_targets *tg, char *err,
			   size_t errlen)
{
	bool optional = c->nfuncs || c->profile_hz || c->off_cpu || c->alloc; /* as the engine */

	memset(tg, 0, sizeof(*tg));
	for (int i = 0; i < c->nwatch && !(c->nfuncs && c->no_usdt); i++) {
		char e[768];
		int r = kt_targets_add_path(tg, c->watch[i], e, sizeof(e));

		if (r < 0 || (r > 0 && !optional)) {
			snprintf(err, errlen, "watch %s: %s", c->watch[i], e);
			kt_targets_free(tg);
			return -1;
		}
	}
	return 0;
}

static bool scope_has(const struct kt_session *s, const char *program)
{
	struct stat st;

	if (stat(program, &st))
		return false;
	for (int i = 0; i < s->nscope; i++)
		if (s->scope_progs[i].dev == st.st_dev && s->scope_progs[i].ino == st.st_ino)
			return true;
	return false;
}

/*
 * Says which processes each new watch traces and, with the process scope
 * loaded, adds new programs to it. The scope is chosen at load: a change
 * of kind (a first library watch, a first program in a library) waits
 * for a restart, and says so.
 */
static void apply_scope(struct daemon *d, const struct kt_targets *tg, bool first)
{
	char err[1024];

	for (int i = 0; i < tg->n; i++) {
		const struct kt_target *t = &tg->v[i];
		int n;

		if (!t->program[0]) {
			if (!d->e.s.scope && first)
				kt_log(KT_LOG_INFO, "scope", "every process mapping %s", t->path);
			else if (d->e.s.scope)
				kt_log(KT_LOG_WARN, "scope",
				       "%s: only processes of the watched programs until a restart "
				       "(the process scope is chosen at start)",
				       t->path);
			continue;
		}
		if (!d->e.s.scope && !first && !t->scoped)
			continue;
		if (!d->e.s.scope) {
			if (t->scoped)
				kt_log(KT_LOG_WARN, "scope",
				       "%s: every process mapping %s (its probes are there; %s)",
				       t->program, t->path,
				       kt_targets_need_scope(tg)
					       ? "only its processes after a restart"
					       : "a library is watched too");
			else
				kt_log(KT_LOG_INFO, "scope", "processes of %s (its own probes)",
				       t->program);
			continue;
		}
		if (scope_has(&d->e.s, t->program))
			continue;
		n = kt_session_scope_program(&d->e.s, t->program, err, sizeof(err));
		if (n < 0)
			kt_log(KT_LOG_ERROR, "scope", "%s: not traced: %s", t->program, err);
		else
			kt_log(KT_LOG_INFO, "scope",
			       "processes of %s, now and later, children included (%d running)",
			       t->program, n);
	}
}

static bool same_funcs(const struct kt_config *a, const struct kt_config *b)
{
	if (a->nfuncs != b->nfuncs)
		return false;
	for (int i = 0; i < a->nfuncs; i++)
		if (strcmp(a->funcs[i], b->funcs[i]))
			return false;
	return true;
}

/*
 * The collectors are loaded once, at start: a reload keeps those in force
 * (c gets them; its own patterns go with the old config) and says so.
 */
static void keep_collectors(struct kt_config *old, struct kt_config *c)
{
	if (!same_funcs(old, c) || old->max_funcs != c->max_funcs || old->max_rate != c->max_rate ||
	    old->no_usdt != c->no_usdt || old->profile_hz != c->profile_hz ||
	    strcmp(old->pmu, c->pmu))
		kt_log(KT_LOG_WARN, "reload",
		       "func, max_funcs, max_rate, no_usdt, profile and pmu change on restart "
		       "only: kept");
	for (int i = 0; i < KT_CONFIG_MAX_FUNCS; i++) {
		char *t = old->funcs[i];

		old->funcs[i] = c->funcs[i];
		c->funcs[i] = t;
	}
	int n = old->nfuncs;

	old->nfuncs = c->nfuncs;
	c->nfuncs = n;
	c->max_funcs = old->max_funcs;
	c->max_rate = old->max_rate;
	c->no_usdt = old->no_usdt;
	c->profile_hz = old->profile_hz;
	memcpy(c->pmu, old->pmu, sizeof(c->pmu));
	c->alloc = old->alloc;
	memcpy(c->alloc_lib, old->alloc_lib, sizeof(c->alloc_lib));
	c->alloc_short_ns = old->alloc_short_ns;
}

static void restart_only(const struct kt_config *old, const struct kt_config *c)
{
	if (old->off_cpu != c->off_cpu || old->off_cpu_min_ns != c->off_cpu_min_ns)
		kt_log(KT_LOG_WARN, "reload",
		       "off_cpu and off_cpu_min_block change on restart only: kept");
	if (old->ringbuf_bytes != c->ringbuf_bytes)
		kt_log(KT_LOG_WARN, "reload", "ringbuf_size changes on restart only: kept %llu",
		       (unsigned long long)old->ringbuf_bytes);
	if (!same_cstr(old->folded_dir, c->folded_dir) &&
	    (!old->folded_dir[0] || !c->folded_dir[0]))
		kt_log(KT_LOG_WARN, "reload",
		       "turning folded stacks on or off needs a restart (stack capture is set at "
		       "load)");
	if (!same_cstr(old->timeline, c->timeline) ||
	    old->timeline_keep_last != c->timeline_keep_last ||
	    old->timeline_last_ns != c->timeline_last_ns || old->timeline_max != c->timeline_max)
		kt_log(KT_LOG_WARN, "reload",
		       "the timeline file, mode, last and max_events change on restart only");
	if (old->probe_cost_ns != c->probe_cost_ns)
		kt_log(KT_LOG_WARN, "reload", "probe_cost changes on restart only");
}

/* The timeline's cap line goes to the log. */
static void timeline_note(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	kt_log(warning ? KT_LOG_WARN : KT_LOG_INFO, "timeline", "%s", line);
}

/* Sampling notes (reclaimed requests, cost warnings) go to the log. */
static void sampling_note(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	kt_log(warning ? KT_LOG_WARN : KT_LOG_INFO, "sampling", "%s", line);
}

/* The sampling of the config in force: logged at start and whenever a reload changes it. */
static void set_sampling(struct daemon *d, bool first)
{
	struct kt_sampling m = kt_sampling_from_flags(d->cfg.sample, d->cfg.budget_pct);
	char b[128];

	d->e.s.note = sampling_note;
	if (!first && m.mode == d->e.s.sampling.mode && m.period == d->e.s.sampling.period &&
	    m.budget_pct == d->e.s.sampling.budget_pct)
		return;
	d->e.s.sampling = m;
	kt_log(KT_LOG_INFO, "sampling", "%s", kt_sampling_describe(&m, b, sizeof(b)));
}

/*
 * The part of a reload that cannot fail: windows, rules, the log; what
 * only a restart changes is kept; c becomes the config in force (emptied).
 */
static void commit_config(struct daemon *d, struct kt_config *c, bool first, const uint64_t *lens,
			  int nw)
{
	uint64_t shortest = 0;

	kt_windows_set(d->win, lens, nw);
	kt_prom_rings_set_max(d->prom_rings, (int)c->metrics_max_rings);
	/* rules without "over": the shortest configured window */
	for (int i = 0; i < c->nwindows; i++)
		if (!shortest || c->windows[i] < shortest)
			shortest = c->windows[i];
	d->default_win = kt_windows_find(d->win, shortest);
	kt_alerts_set_rules(d->alerts, c->rules, c->nrules);
	kt_alerts_set_output(d->alerts, d->alert_out, c->exec_argv[0] ? c->exec_argv : NULL,
			     c->exec_timeout_ns);
	kt_log_setup(stderr, c->log_json, c->verbose ? KT_LOG_DEBUG : KT_LOG_INFO);
	if (!first) {
		restart_only(&d->cfg, c);
		keep_collectors(&d->cfg, c);
		/* keep what only a restart changes */
		c->ringbuf_bytes = d->cfg.ringbuf_bytes;
		c->probe_cost_ns = d->cfg.probe_cost_ns;
		c->off_cpu = d->cfg.off_cpu;
		c->off_cpu_min_ns = d->cfg.off_cpu_min_ns;
		if (!d->stacks)
			c->folded_dir[0] = 0;
		snprintf(c->timeline, sizeof(c->timeline), "%s", d->cfg.timeline);
		c->timeline_keep_last = d->cfg.timeline_keep_last;
		c->timeline_last_ns = d->cfg.timeline_last_ns;
		c->timeline_max = d->cfg.timeline_max;
		if (d->tl.keep) /* the flight recorder's files kept: takes effect now */
			d->tl.keep = (unsigned int)c->timeline_keep;
	}
	kt_config_free(&d->cfg);
	d->cfg = *c;
	memset(c, 0, sizeof(*c));
	set_sampling(d, first);
}

static struct kt_push_cfg push_cfg(const struct kt_config *c)
{
	return (struct kt_push_cfg){.url = c->pprof_push_url,
				    .interval_ns = c->pprof_push_interval_ns,
				    .folded = c->pprof_push_folded,
				    .app_name = c->pprof_app_name,
				    .profile_hz = c->profile_hz};
}

/* The push of the config in force (d->cfg), to the receiver t. */
static void set_push(struct daemon *d, const struct kt_push_target *t)
{
	struct kt_push_cfg pc = push_cfg(&d->cfg);
	struct kt_folded *sink[KT_PUSH_NKINDS];

	kt_pprof_push_set(d->push, t, &pc, kt_now_ns(CLOCK_MONOTONIC));
	kt_pprof_push_sinks(d->push, sink);
	kt_pprof_http_set_push(d->pprof, sink);
	if (t->on)
		kt_log(KT_LOG_INFO, "push",
		       "profiles pushed to http://%s%s%s:%s%s every %.0fs as %s",
		       strchr(t->url.host, ':') ? "[" : "", t->url.host,
		       strchr(t->url.host, ':') ? "]" : "", t->url.port, t->url.path,
		       pc.interval_ns / 1e9, pc.folded ? "folded" : "pprof");
}

/*
 * Makes c the config in force. Everything that can fail is done before
 * anything is changed; on failure the old config stays whole.
 */
static int apply_config(struct daemon *d, struct kt_config *c, bool first, char *err, size_t errlen)
{
	struct kt_targets tg;
	struct kt_http *http = d->http;
	FILE *alert_out = d->alert_out;
	uint64_t lens[KT_WIN_MAX];
	int nw;
	const char *new_paths[KT_SESSION_MAX_ATTACH];
	int nnew;
	struct kt_push_cfg pc = push_cfg(c);
	struct kt_push_target pt;

	if (resolve_watches(c, &tg, err, errlen))
		return -1;
	if (kt_push_target_resolve(&pc, &pt, err, errlen))
		goto fail_targets;
	if (!c->listen[0])
		http = NULL;
	else if (first || !d->http || strcmp(c->listen, d->cfg.listen))
		if (!(http = kt_http_listen(c->listen, http_handler, d, err, errlen)))
			goto fail_targets;
	if (first || strcmp(c->alert_log, d->cfg.alert_log)) {
		char e[600];

		alert_out = kt_alert_log_open(c->alert_log, true, e, sizeof(e));
		if (!alert_out) {
			snprintf(err, errlen, "alert log: %s", e);
			goto fail_http;
		}
	}
	/* attach what is new (or replaced on disk) */
	nnew = kt_engine_attach_paths(&d->e, &tg, c->allow_nop5_sites, new_paths, err, errlen);
	if (nnew < 0)
		goto fail_attach;
	nw = kt_config_windows(c, lens, KT_WIN_MAX);

	/* nothing fails from here on */
	kt_engine_detach_unwanted(&d->e, &tg);
	for (int i = 0; i < nnew; i++)
		kt_log(KT_LOG_INFO, "attach", "attached %d probes to %s", KT_SESSION_NPROBES,
		       new_paths[i]);
	apply_scope(d, &tg, first);
	if (http != d->http) {
		kt_http_close(d->http);
		d->http = http;
		if (http)
			kt_log(KT_LOG_INFO, "http", "metrics on http://%s/metrics",
			       kt_http_bound(http));
		else
			kt_log(KT_LOG_INFO, "http", "metrics endpoint off");
	}
	if (alert_out != d->alert_out) {
		kt_alert_log_close(d->alert_out);
		d->alert_out = alert_out;
	}
	commit_config(d, c, first, lens, nw);
	set_push(d, &pt);
	kt_targets_free(&tg);
	return 0;

fail_attach:
	if (alert_out != d->alert_out)
		kt_alert_log_close(alert_out);
fail_http:
	if (http != d->http)
		kt_http_close(http);
fail_targets:
	kt_targets_free(&tg);
	return -1;
}

static void reload(struct daemon *d)
{
	struct kt_config c;
	char err[1024];

	kt_log(KT_LOG_INFO, "reload", "SIGHUP: rereading %s",
	       d->config_path ? d->config_path : "the flags");
	bool built = build_config(d, &c, err, sizeof(err)) == 0;

	if (!built || apply_config(d, &c, false, err, sizeof(err))) {
		d->reload_failures++;
		kt_log(KT_LOG_ERROR, "reload", "rejected: %s; keeping the previous config", err);
		if (built)
			kt_config_free(&c);
		return;
	}
	d->reloads++;
	kt_log(KT_LOG_INFO, "reload", "applied: %d watch%s, %d rule%s, %d window%s", d->cfg.nwatch,
	       d->cfg.nwatch == 1 ? "" : "es", d->cfg.nrules, d->cfg.nrules == 1 ? "" : "s",
	       kt_windows_count(d->win), kt_windows_count(d->win) == 1 ? "" : "s");
}

/*
 * --check-config: what start-up would refuse beyond the config's syntax (a
 * missing folded directory, an unwritable timeline, a listen address in use
 * or not bindable), so that "config OK" means the daemon can start. 0 or -1
 * with err.
 */
static int check_startable(const struct kt_config *c, char *err, size_t errlen)
{
	struct stat st;

	if (c->folded_dir[0]) {
		int e = stat(c->folded_dir, &st) != 0	   ? errno
			: !S_ISDIR(st.st_mode)		   ? ENOTDIR
			: access(c->folded_dir, W_OK) != 0 ? errno
							   : 0;
		if (e) {
			snprintf(err, errlen, "folded dir %.512s: %s", c->folded_dir, strerror(e));
			return -1;
		}
	}
	if (c->json_dir[0] && access(c->json_dir, W_OK)) {
		snprintf(err, errlen, "json dir %.512s: %s", c->json_dir, strerror(errno));
		return -1;
	}
	if (c->timeline[0] && !path_writable(c->timeline)) {
		snprintf(err, errlen, "timeline %.512s: %s", c->timeline, strerror(errno));
		return -1;
	}
	if (c->listen[0]) {
		struct kt_http *h = kt_http_listen(c->listen, http_handler, NULL, err, errlen);
		if (!h)
			return -1;
		kt_http_close(h);
	}
	struct kt_push_cfg pc = push_cfg(c);
	struct kt_push_target pt;

	return kt_push_target_resolve(&pc, &pt, err, errlen); /* the receiver's host is known */
}

/* ---------------------------------------------------------------- housekeeping */

static bool pid_in(const uint32_t *v, int n, uint32_t pid)
{
	for (int i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

static void push_u32(uint32_t **v, int *n, size_t *cap, uint32_t x)
{
	if (kt_array_reserve(*v, *cap, (size_t)*n + 1))
		return; /* no memory: announced again next time */
	(*v)[(*n)++] = x;
}

static uint64_t retain_ns(const struct daemon *d)
{
	uint64_t longest = 0;

	if (d->cfg.retain_ns)
		return d->cfg.retain_ns;
	for (int i = 0; i < kt_windows_count(d->win); i++)
		if (kt_windows_len(d->win, i) > longest)
			longest = kt_windows_len(d->win, i);
	longest += longest / KT_WIN_SLOTS;
	return longest > MIN_RETAIN_NS ? longest : MIN_RETAIN_NS;
}

/* Says (once per housekeeping pass, when they grew) what the scope and exec tracking missed. */
static void log_scope_losses(struct daemon *d)
{
	uint64_t sc[KT_SCOPE_STAT_NR];

	kt_session_scope_stats(&d->e.s, sc);
	if (sc[KT_SCOPE_FULL] > d->scope_said[KT_SCOPE_FULL])
		kt_log(KT_LOG_WARN, "scope",
		       "%llu processes or tasks could not join the scope (its map is full): their "
		       "operations are not traced",
		       (unsigned long long)(sc[KT_SCOPE_FULL] - d->scope_said[KT_SCOPE_FULL]));
	if (sc[KT_SCOPE_EXEC_LOST] > d->scope_said[KT_SCOPE_EXEC_LOST])
		kt_log(KT_LOG_WARN, "process",
		       "%llu exec records lost (ring buffer full): an exec'd process may show its "
		       "images merged",
		       (unsigned long long)(sc[KT_SCOPE_EXEC_LOST] -
					    d->scope_said[KT_SCOPE_EXEC_LOST]));
	memcpy(d->scope_said, sc, sizeof(sc));
}

/* --alloc: a process that found no slot in the kernel's map is said, never silently untraced. */
static void log_alloc_untracked(struct daemon *d)
{
	struct kt_alloc_stats st;

	if (!d->e.alloc)
		return;
	kt_alloc_get_stats(d->e.alloc, &st);
	if (st.procs_untracked > d->alloc_untracked_said)
		kt_log(KT_LOG_WARN, "alloc",
		       "%llu processes not traced: the map of traced processes is full "
		       "(KAOS_TRACE_ALLOC_MAX_PROCS)",
		       (unsigned long long)(st.procs_untracked - d->alloc_untracked_said));
	d->alloc_untracked_said = st.procs_untracked;
}

/* New processes are logged; exited ones are logged, then forgotten after retain. */
static void track_processes(struct daemon *d, uint64_t now)
{
	/* the engine marked exits (kt_engine_tick): here they are said and forgotten */
	log_scope_losses(d);
	log_alloc_untracked(d);
	for (struct kt_proc *p = d->e.s.agg.procs; p; p = p->next) {
		if (!pid_in(d->announced, d->nannounced, p->pid)) {
			push_u32(&d->announced, &d->nannounced, &d->capannounced, p->pid);
			kt_log(KT_LOG_INFO, "process", "pid %u (%s) traced", p->pid, p->comm);
		}
		if (!p->exited && !p->execed)
			continue;
		bool known = false;

		for (int i = 0; i < d->nexited; i++)
			known |= d->exited[i].pid == p->pid &&
				 (!d->exited[i].image || d->exited[i].exec_gen == p->exec_gen);
		if (known)
			continue;
		if (kt_array_reserve(d->exited, d->capexited, (size_t)d->nexited + 1))
			continue;
		d->exited[d->nexited++] =
			(struct exited_proc){p->pid, p->exec_gen, !p->exited, now};
		if (p->exited)
			kt_log(KT_LOG_INFO, "process", "pid %u (%s) exited", p->pid, p->comm);
		else
			kt_log(KT_LOG_INFO, "process",
			       "pid %u (%s) exec'd: its new image's series carry exec=\"%u\"",
			       p->pid, p->comm, p->exec_gen + 1);
	}
	uint64_t keep = retain_ns(d);

	for (int i = 0; i < d->nexited;) {
		if (now - d->exited[i].at < keep) {
			i++;
			continue;
		}
		uint32_t pid = d->exited[i].pid;

		if (d->exited[i].image) {
			/* an image exec replaced: the process lives on */
			kt_prom_rings_forget_image(d->prom_rings, &d->e.s.agg, pid,
						   d->exited[i].exec_gen);
			kt_agg_forget_image(&d->e.s.agg, pid, d->exited[i].exec_gen);
			kt_windows_forget_image(d->win, pid, d->exited[i].exec_gen);
			d->exited[i] = d->exited[--d->nexited];
			continue;
		}
		kt_log(KT_LOG_DEBUG, "process", "pid %u forgotten (exited %.0f s ago)", pid,
		       (double)(now - d->exited[i].at) / 1e9);
		kt_prom_rings_forget_pid(d->prom_rings, &d->e.s.agg, pid);
		kt_agg_forget_proc(&d->e.s.agg, pid);
		kt_windows_forget_pid(d->win, pid);
		if (d->e.offcpu && d->e.s.folded && d->cfg.folded_dir[0])
			kt_offcpu_fold_since(d->e.offcpu, d->e.s.folded); /* its last blocks */
		kt_offcpu_forget_pid(d->e.offcpu, pid);
		kt_alloc_forget_pid(d->e.alloc, pid);
		if (d->e.s.sym)
			kt_sym_forget_pid(d->e.s.sym, (pid_t)pid);
		for (int k = 0; k < d->nannounced; k++)
			if (d->announced[k] == pid)
				d->announced[k] = d->announced[--d->nannounced];
		d->exited[i] = d->exited[--d->nexited];
	}
}

/*
 * Events lost since the last line, at most one line per LOSS_LOG_NS with the
 * numbers: a flood must be seen in the log without flooding it.
 */
static void log_loss(struct daemon *d, uint64_t now)
{
	struct kt_report_totals t;

	kt_session_totals(&d->e.s, &t);
	if (t.lost == d->lost_logged ||
	    (d->lost_logged_at && now - d->lost_logged_at < LOSS_LOG_NS))
		return;
	kt_log(KT_LOG_WARN, "loss",
	       "%llu events lost in the last %.1f s (%llu of %llu fired since start): ring "
	       "counts are lower bounds (kaos_trace_counts_exact 0); raise ringbuf_size or "
	       "sample",
	       (unsigned long long)(t.lost - d->lost_logged),
	       (double)(now - (d->lost_logged_at ? d->lost_logged_at : d->start)) / 1e9,
	       (unsigned long long)t.lost, (unsigned long long)t.fired);
	d->lost_logged = t.lost;
	d->lost_logged_at = now;
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_folded_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return !strncmp(e->d_name, "kaos-trace-", 11) && n > 7 &&
	       !strcmp(e->d_name + n - 7, ".folded");
}

/* Writes the stacks since the last rotation into a new file; keeps the newest `keep` files. */
static void rotate_folded(struct daemon *d)
{
	char path[PATH_MAX + 320], tmp[PATH_MAX + 340], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	int n;

	if (!d->e.s.folded || !d->cfg.folded_dir[0])
		return;
	if (d->e.offcpu && kt_offcpu_fold_since(d->e.offcpu, d->e.s.folded) < 0)
		kt_log(KT_LOG_WARN, "folded", "off-cpu stacks: out of memory, some left out");
	if (d->e.alloc && (n = kt_alloc_fold_since(d->e.alloc, d->e.s.folded)) < 0)
		kt_log(KT_LOG_WARN, "folded", "alloc stacks: %s, some left out", strerror(-n));
	if (d->e.prof && (n = kt_profile_fold_since(d->e.prof, d->e.s.folded)) < 0)
		kt_log(KT_LOG_WARN, "folded", "cpu profile: %s, some samples left out",
		       strerror(-n));
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, sizeof(path), "%s/kaos-trace-%s.folded", d->cfg.folded_dir, stamp);
	/* two files in one second (the last interval at stop): never replace the first */
	for (int k = 1; k < 100 && access(path, F_OK) == 0; k++)
		snprintf(path, sizeof(path), "%s/kaos-trace-%s-%d.folded", d->cfg.folded_dir, stamp,
			 k);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		kt_log(KT_LOG_ERROR, "folded", "cannot write %s: %s", tmp, strerror(errno));
		kt_folded_clear(d->e.s.folded);
		return;
	}
	n = kt_folded_write(d->e.s.folded, f, KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM,
			    kt_folded_sym_kt, d->e.s.sym);
	if (fclose(f) || n < 0 || rename(tmp, path)) {
		kt_log(KT_LOG_ERROR, "folded", "writing %s failed: %s", path, strerror(errno));
		unlink(tmp);
	} else {
		kt_log(KT_LOG_INFO, "folded", "wrote %d stacks to %s", n, path);
	}
	kt_folded_clear(d->e.s.folded);

	struct dirent **list;
	int nf = scandir(d->cfg.folded_dir, &list, is_folded_file, cmp_names);

	for (int i = 0; i < nf; i++) {
		if (i < nf - d->cfg.folded_keep) {
			snprintf(path, sizeof(path), "%s/%s", d->cfg.folded_dir, list[i]->d_name);
			unlink(path);
		}
		free(list[i]);
	}
	if (nf >= 0)
		free(list);
}

/* The moments before an alert are what a flight recorder is for: written when one fires. */
static void timeline_on_alert(struct daemon *d)
{
	uint64_t fired = kt_alerts_fired(d->alerts);

	if (fired <= d->fired_seen)
		return;
	d->fired_seen = fired;
	kt_timeline_sink_write(&d->tl, "an alert fired");
}

static void timeline_on_signal(struct daemon *d)
{
	if (!d->tl.t)
		kt_log(KT_LOG_WARN, "timeline",
		       "SIGUSR1: no timeline configured ([timeline] file)");
	else
		kt_timeline_sink_write(&d->tl, "SIGUSR1");
}

/* --json-dir: this interval's report into a new file, then a new interval. */
static void write_json(struct daemon *d)
{
	char path[PATH_MAX + 64];
	struct kt_snapshot snap;
	int err;

	kt_engine_snapshot(&d->e, &snap);
	if (d->e.alloc) { /* the heap now, as the one-shot's intervals (alloc_heap) */
		snap.tot.json_extra = kt_alloc_json_interval;
		snap.tot.json_extra_ctx = d->e.alloc;
	}
	err = kt_jsondir_write(d->cfg.json_dir, d->cfg.json_keep, snap.agg, &snap.tot, path,
			       sizeof(path));
	if (err)
		kt_log(KT_LOG_ERROR, "json", "cannot write %s: %s", path, strerror(-err));
	else
		kt_log(KT_LOG_DEBUG, "json", "wrote %s", path);
	kt_engine_interval_reset(&d->e, snap.now_ns);
}

/* ---------------------------------------------------------------- main */

/* Every TICK_NS: windows, processes, retired rings, loss. */
static void tick(struct daemon *d, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];

	kt_addons_global_counters(&d->e.s, g);
	kt_windows_tick(d->win, &d->e.s.agg, g, now);
	track_processes(d, now);
	retire_rings(d, now);
	log_loss(d, now);
}

static void eval_alerts(struct daemon *d, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];
	struct kt_alert_src src = {.agg = &d->e.s.agg,
				   .win = d->win,
				   .global = g,
				   .now = now,
				   .default_win = d->default_win};

	kt_addons_global_counters(&d->e.s, g);
	kt_alerts_eval(d->alerts, &src);
	kt_alerts_note_unmatched(d->alerts, &d->e.s.agg, now);
	timeline_on_alert(d);
}

/* Stopped: detach, then the last outputs. */
static void finish(struct daemon *d)
{
	char err[1024];

	kt_log(KT_LOG_INFO, "stop", "%s: detaching %d probe links", strsignal(stop_sig),
	       kt_session_nlinks(&d->e.s));
	kt_pprof_http_shutdown(d->pprof, d->http); /* profiles being taken: 503 */
	kt_engine_stop(&d->e);			   /* detach, then drain */
	if (d->e.offcpu && d->e.s.folded && d->cfg.folded_dir[0])
		kt_offcpu_fold_since(d->e.offcpu, d->e.s.folded); /* the last blocks, if any */
	if (d->cfg.folded_dir[0] && d->e.s.folded && (kt_folded_size(d->e.s.folded) || d->e.alloc))
		rotate_folded(d); /* --alloc: its towers are folded there */
	if (d->cfg.json_dir[0])
		write_json(d);		     /* the last interval */
	d->tl.finishing = true;		     /* the final write holds every moment */
	kt_timeline_sink_reap(&d->tl, true); /* says how a write under way ended */
	if (kt_timeline_sink_close(&d->tl, err, sizeof(err)))
		kt_log(KT_LOG_ERROR, "timeline", "%s", err);
	else if (err[0])
		kt_log(KT_LOG_INFO, "timeline", "%s", err);
}

static int daemon_run(struct daemon *d)
{
	uint64_t next_tick, next_eval, next_folded, next_json;

	d->start = kt_now_ns(CLOCK_MONOTONIC);
	next_tick = d->start;
	next_eval = d->start + d->cfg.eval_ns;
	next_folded = d->start + d->cfg.folded_interval_ns;
	next_json = d->start + d->cfg.json_interval_ns;
	while (!stop_sig) {
		struct pollfd p[1 + KT_HTTP_MAX_CONNS + 1];
		int nh = 0, e;

		p[0] = (struct pollfd){.fd = kt_session_fd(&d->e.s), .events = POLLIN};
		if (d->http)
			nh = kt_http_pollfds(d->http, p + 1, KT_HTTP_MAX_CONNS + 1);
		e = poll(p, (nfds_t)(1 + nh), 100);
		if (e < 0 && errno != EINTR) {
			kt_log(KT_LOG_ERROR, "poll", "%s", strerror(errno));
			return 1;
		}
		e = kt_session_consume(&d->e.s);
		if (e < 0) {
			kt_log(KT_LOG_ERROR, "poll", "ring buffer: %s", strerror(-e));
			return 1;
		}
		uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

		/* sampling, collectors, exits, scope: the engine's one cadence */
		kt_engine_tick(&d->e, now);
		if (d->http)
			kt_http_service(d->http, p + 1, nh, now);
		kt_pprof_http_tick(d->pprof, d->http, now);
		kt_pprof_push_tick(d->push, now);
		if (now >= next_tick) {
			tick(d, now);
			next_tick = now + TICK_NS;
		}
		if (now >= next_eval) {
			eval_alerts(d, now);
			next_eval = now + d->cfg.eval_ns;
		}
		if (timeline_req) {
			timeline_req = 0;
			timeline_on_signal(d);
		}
		kt_timeline_sink_reap(&d->tl, false);
		kt_alerts_reap(d->alerts, now);
		if (d->cfg.folded_dir[0] && now >= next_folded) {
			rotate_folded(d);
			next_folded = now + d->cfg.folded_interval_ns;
		}
		if (d->cfg.json_dir[0] && now >= next_json) {
			write_json(d);
			next_json = now + d->cfg.json_interval_ns;
		}
		if (reload_req) {
			reload_req = 0;
			reload(d);
		}
	}
	finish(d);
	return 0;
}

/* verbose: libbpf's debug lines as debug log records. */
static void log_libbpf(const char *line)
{
	int n = (int)strcspn(line, "\n");

	kt_log(KT_LOG_DEBUG, "libbpf", "%.*s", n, line);
}

/* The engine's own lines (feature notes, the probe-site choice, a profile summary) go to the log.
 */
static void engine_note(void *ctx, bool warning, const char *line)
{
	const struct daemon *d = ctx;

	/* start-up's lines (feature notes, the probe-site choice) under "start" */
	kt_log(warning ? KT_LOG_WARN : KT_LOG_INFO, d->running ? "trace" : "start", "%s", line);
}

/* The engine as the config asks: it loads once, the watches are attached by apply_config. */
static struct kt_engine_opts engine_opts(struct daemon *d, const struct kt_config *c)
{
	return (struct kt_engine_opts){
		.paths = (const char *const *)c->watch,
		.npaths = c->nwatch,
		.service = true,
		.sample = c->sample,
		.budget_pct = c->budget_pct,
		.stacks = c->folded_dir[0] != 0,
		.weight_latency = c->folded_latency,
		.want_ts = c->timeline[0] != 0,
		.ringbuf_bytes = c->ringbuf_bytes,
		.bpf_log = c->verbose ? log_libbpf : NULL,
		.probe_cost_ns = c->probe_cost_ns,
		.allow_nop5 = c->allow_nop5_sites,
		.off_cpu = c->off_cpu,
		.off_cpu_min_ns = c->off_cpu_min_ns,
		.funcs = (const char *const *)c->funcs,
		.nfuncs = c->nfuncs,
		.max_funcs = c->max_funcs,
		.max_rate = c->max_rate,
		.no_usdt = c->no_usdt,
		.profile_hz = c->profile_hz,
		.alloc = c->alloc,
		.alloc_lib = c->alloc_lib[0] ? c->alloc_lib : NULL,
		.alloc_short_ns = c->alloc_short_ns,
		.pmu = c->pmu[0] ? c->pmu : NULL,
		.note = engine_note,
		.note_ctx = d,
	};
}

/* --check-config: the config, the watches and what start-up would refuse. 0 or 2. */
static int check_only(struct kt_config *c)
{
	struct kt_targets tg;
	char err[1024];
	int rc = resolve_watches(c, &tg, err, sizeof(err));

	if (!rc)
		rc = check_startable(c, err, sizeof(err));
	if (rc)
		fprintf(stderr, "kaos-trace: %s\n", err);
	else
		printf("config OK: %d watch%s (%d object%s with probes), %d rule%s, listen %s\n",
		       c->nwatch, c->nwatch == 1 ? "" : "es", tg.n, tg.n == 1 ? "" : "s", c->nrules,
		       c->nrules == 1 ? "" : "s", c->listen[0] ? c->listen : "off");
	kt_targets_free(&tg);
	kt_config_free(c);
	return rc ? 2 : 0;
}

/*
 * Resolves the watches, checks the outputs, then loads and starts the
 * engine (feature check, calibration, collectors). 0, or the exit status
 * (2: bad input such as an unknown --pmu event, else 1) with err.
 */
static int start_engine(struct daemon *d, const struct kt_config *c, char *err, size_t errlen)
{
	struct kt_engine_opts eo = engine_opts(d, c);
	int rc = kt_engine_open(&d->e, &eo, err, errlen);

	if (rc)
		return rc == KT_ENGINE_EBAD ? 2 : 1;
	if (c->folded_dir[0] && access(c->folded_dir, W_OK)) {
		snprintf(err, errlen, "folded dir %.512s: %s", c->folded_dir, strerror(errno));
		return 1;
	}
	if (c->json_dir[0] && access(c->json_dir, W_OK)) {
		snprintf(err, errlen, "json dir %.512s: %s", c->json_dir, strerror(errno));
		return 1;
	}
	/* before any BPF is loaded: the file itself is opened once the session runs */
	if (c->timeline[0] && !path_writable(c->timeline)) {
		snprintf(err, errlen, "timeline %.512s: %s", c->timeline, strerror(errno));
		return 1;
	}
	if (kt_engine_start(&d->e, err, errlen)) {
		if (d->e.bpf_log)
			kt_session_print_bpf_log(stderr);
		return 1;
	}
	d->stacks = eo.stacks;
	if (d->e.offcpu) {
		char b[32];

		kt_log(KT_LOG_INFO, "start", "off-cpu: sched_switch traced, blocks >= %s counted",
		       kt_fmt_duration(b, sizeof(b), c->off_cpu_min_ns));
	}
	return 0;
}

/* Windows, alerts, /metrics, the timeline: what runs on top of the engine. 0 or -1 with err. */
static int start_service(struct daemon *d, struct kt_config *c, char *err, size_t errlen)
{
	d->win = kt_windows_new(kt_now_ns(CLOCK_MONOTONIC));
	d->alerts = kt_alerts_new();
	d->prom_rings = kt_prom_rings_new(KT_PROM_DEFAULT_MAX_RINGS);
	d->pprof = kt_pprof_http_new(&d->e, c->folded_dir[0] != 0);
	d->push = kt_pprof_push_new(&d->e);
	if (!d->win || !d->alerts || !d->prom_rings || !d->pprof || !d->push) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	kt_config_init(&d->cfg);
	d->cfg.listen[0] = 0;
	d->cfg.alert_log[0] = 0;
	if (apply_config(d, c, true, err, errlen))
		return -1;
	if (!d->cfg.timeline[0])
		return 0;
	d->tl = (struct kt_timeline_sink){
		.cap_hint = "[timeline] max_events",
		.note = timeline_note,
		.keep = d->cfg.timeline_keep_last ? (unsigned int)d->cfg.timeline_keep : 0};
	struct kt_timeline_opts to = {d->cfg.timeline_max, d->cfg.timeline_keep_last,
				      d->cfg.timeline_last_ns};

	if (kt_timeline_sink_open(&d->tl, &d->e.s, d->cfg.timeline, &to, err, errlen)) {
		size_t n = strlen(err);

		if (n + 11 < errlen) { /* the log line says which output failed */
			memmove(err + 10, err, n + 1);
			memcpy(err, "timeline: ", 10);
		}
		return -1;
	}
	return 0;
}

/* The running line: what is attached, the windows, the rules. */
static void say_running(struct daemon *d)
{
	char wins[128] = "";

	for (int i = 0; i < kt_windows_count(d->win); i++) {
		char b[32];
		size_t l = strlen(wins);

		kt_fmt_duration(b, sizeof(b), kt_windows_len(d->win, i));
		snprintf(wins + l, sizeof(wins) - l, "%s%s", i ? "," : "", b);
	}
	kt_log(KT_LOG_INFO, "start",
	       "running: %d probe links on %d path%s, windows %s, %d alert rule%s, probe hit "
	       "costs %.0f ns, pid %d",
	       kt_session_nlinks(&d->e.s), d->e.s.natt, d->e.s.natt == 1 ? "" : "s", wins,
	       d->cfg.nrules, d->cfg.nrules == 1 ? "" : "s", d->e.s.hit_ns, (int)getpid());
}

static void install_signals(void)
{
	struct sigaction stop = {.sa_handler = on_stop}, hup = {.sa_handler = on_hup},
			 usr1 = {.sa_handler = on_usr1}, ign = {.sa_handler = SIG_IGN};

	/*
	 * Alert actions must not inherit our capabilities: a service granted them as
	 * ambient capabilities (deploy/kaos-trace.service) would pass them on through
	 * execve. Our own permitted/effective sets stay.
	 */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGHUP, &hup, NULL);
	sigaction(SIGUSR1, &usr1, NULL);
	sigaction(SIGPIPE, &ign, NULL);
}

static void daemon_free(struct daemon *d)
{
	char ignored[512];

	kt_timeline_sink_close(&d->tl, ignored, sizeof(ignored));
	kt_http_close(d->http);
	kt_pprof_http_free(d->pprof);
	kt_pprof_push_free(d->push);
	kt_alerts_free(d->alerts);
	kt_alert_log_close(d->alert_out);
	kt_windows_free(d->win);
	kt_prom_rings_free(d->prom_rings);
	kt_engine_close(&d->e, false);
	kt_config_free(&d->cfg);
	free(d->exited);
	free(d->announced);
}

int kt_daemon_main(int argc, char **argv)
{
	static const char doc[] =
		"Run kaos-trace as a service: follow binaries/libraries by path, keep rolling "
		"windows, evaluate alert rules, serve Prometheus metrics.\v"
		"Signals: SIGHUP rereads the config (a bad one is rejected, the old one kept); "
		"SIGTERM/SIGINT detach and exit 0.\n"
		"Example:\n"
		"  kaos-trace daemon -b /usr/lib/x86_64-linux-gnu/libkaos.so.0 \\\n"
		"      --alert 'send.p99 > 1us for 10s' --listen 127.0.0.1:9464\n";
	/* the options shared with the one-shot CLI: one table (kt_engine.h) */
	static const struct argp engine_argp = {
		kt_engine_argp_options, daemon_parse_opt, NULL, NULL, NULL, NULL, NULL};
	static const struct argp_child children[] = {
		{&engine_argp, 0,
		 "Targets, collectors and sampling (as in one-shot kaos-trace):", 0},
		{}};
	static const struct argp argp = {
		daemon_options, daemon_parse_opt, NULL, doc, children, NULL, NULL};
	static struct daemon d; /* big (cli table); one per process */
	struct kt_config c;
	char err[1024];
	int rc;

	memset(&d, 0, sizeof(d));
	if (argp_parse(&argp, argc, argv, 0, NULL, &d))
		return 2;
	if (build_config(&d, &c, err, sizeof(err))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		return 2;
	}
	if (d.check_only)
		return check_only(&c);
	kt_log_setup(stderr, c.log_json, c.verbose ? KT_LOG_DEBUG : KT_LOG_INFO);
	/* /metrics holds many connections at once (kt_http.h): room for them */
	long nofile = kt_http_raise_nofile();

	if (nofile < 0)
		kt_log(KT_LOG_WARN, "start", "cannot raise the open-file limit: %s",
		       strerror((int)-nofile));
	rc = start_engine(&d, &c, err, sizeof(err));
	if (!rc && start_service(&d, &c, err, sizeof(err)))
		rc = 1;
	if (rc) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_config_free(&c);
	} else {
		install_signals();
		say_running(&d);
		d.running = true;
		rc = daemon_run(&d);
		kt_log(KT_LOG_INFO, "stop", "exit %d", rc);
	}
	daemon_free(&d);
	return rc;
}
