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

#include "kt_alert.h"
#include "kt_config.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_http.h"
#include "kt_log.h"
#include "kt_offcpu.h"
#include "kt_prom.h"
#include "kt_sym.h"
#include "kt_target.h"
#include "kt_timeline.h"
#include "kt_window.h"

#define TICK_NS	      100000000ull /* windows, exits, sampling */
#define MAX_CLI	      512
#define MIN_RETAIN_NS 60000000000ull
#define LOSS_LOG_NS   10000000000ull /* at most one "events lost" line per 10 s */

/* ---------------------------------------------------------------- shared helpers */

static void global_counters(struct kt_session *s, uint64_t g[KT_WIN_G_NR])
{
	struct kt_report_totals t;

	kt_session_totals(s, &t);
	g[KT_WIN_G_FIRED] = t.fired;
	g[KT_WIN_G_DELIVERED] = t.delivered;
	g[KT_WIN_G_LOST] = t.lost;
}

struct timeline_hook {
	struct kt_timeline *t;
	const char *path;
	bool log_plain;	     /* one-shot: plain stderr line instead of kt_log */
	bool failed;	     /* one-shot: a write before the last failed (exit status 1) */
	const char *pending; /* one-shot: why a write was asked while one ran (NULL: none) */
	const char *running; /* one-shot: why the write under way was started */
	bool finishing;	     /* one-shot: the final write follows: no other starts */
};

static void timeline_event(void *ctx, const struct kt_event *e, size_t size)
{
	struct timeline_hook *h = ctx;
	unsigned long long n;

	if (!h->t || !kt_timeline_add(h->t, e, size))
		return;
	n = (unsigned long long)kt_timeline_written(h->t);
	if (h->log_plain && kt_timeline_keeps_last(h->t))
		fprintf(stderr,
			"kaos-trace: timeline %s: %llu events held; older ones are now replaced "
			"by newer (--timeline-max-events)\n",
			h->path, n);
	else if (h->log_plain)
		fprintf(stderr,
			"kaos-trace: timeline %s: cap of %llu events reached; later events "
			"are counted, not written (--timeline-max-events)\n",
			h->path, n);
	else
		kt_log(KT_LOG_WARN, "timeline",
		       "%s: cap of %llu events reached; later events are counted, not "
		       "written ([timeline] max_events)",
		       h->path, n);
}

/* ---------------------------------------------------------------- one-shot */

struct kt_oneshot {
	struct kt_session *s;
	struct kt_windows *win;
	struct kt_alerts *alerts;
	FILE *alert_out;
	const char *alert_path;
	struct timeline_hook tl;
	uint64_t next_eval;
	uint64_t fired_seen; /* alerts fired when the timeline was last written */
};

static void oneshot_free(struct kt_oneshot *o)
{
	kt_alerts_free(o->alerts);
	kt_windows_free(o->win);
	if (o->alert_out && o->alert_out != stderr)
		fclose(o->alert_out);
	kt_timeline_free(o->tl.t);
	free(o);
}

struct kt_oneshot *kt_oneshot_start(struct kt_session *s, const struct kt_oneshot_opts *opt,
				    char *err, size_t errlen)
{
	struct kt_oneshot *o = calloc(1, sizeof(*o));
	struct kt_rule *rules = opt->nrules ? calloc((size_t)opt->nrules, sizeof(*rules)) : NULL;
	uint64_t lens[KT_WIN_MAX];
	int nw = 0;

	if (!o || (opt->nrules && !rules)) {
		free(o);
		free(rules);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	o->s = s;
	o->win = kt_windows_new(kt_now_ns(CLOCK_MONOTONIC));
	o->alerts = kt_alerts_new();
	if (!o->win || !o->alerts)
		goto oom;
	for (int i = 0; i < opt->nrules; i++) {
		struct kt_rule_error re;
		char eb[256];

		if (kt_rule_parse(opt->rules[i], &rules[i], &re)) {
			snprintf(err, errlen, "--alert '%s': %s", opt->rules[i],
				 kt_rule_strerror(&re, eb, sizeof(eb)));
			goto fail;
		}
		bool dup = false;

		for (int j = 0; j < nw; j++)
			dup |= lens[j] == rules[i].window_ns;
		if (!rules[i].window_ns || dup)
			continue;
		if (nw == KT_WIN_MAX) {
			snprintf(err, errlen, "--alert: more than %d distinct 'over' windows",
				 KT_WIN_MAX);
			goto fail;
		}
		lens[nw++] = rules[i].window_ns;
	}
	if (kt_windows_set(o->win, lens, nw) || kt_alerts_set_rules(o->alerts, rules, opt->nrules))
		goto oom;
	o->alert_path = opt->alert_log;
	if (opt->alert_log && strcmp(opt->alert_log, "-")) {
		o->alert_out = fopen(opt->alert_log, "we");
		if (!o->alert_out) {
			snprintf(err, errlen, "cannot write %s: %s", opt->alert_log,
				 strerror(errno));
			goto fail;
		}
	} else {
		o->alert_out = stderr;
	}
	kt_alerts_set_output(o->alerts, o->alert_out, NULL, 0);
	if (opt->timeline) {
		struct kt_timeline_opts to = {opt->timeline_max, opt->timeline_keep_last,
					      opt->timeline_last_ns};

		o->tl.t = kt_timeline_open(opt->timeline, &to, &s->agg, err, errlen);
		if (!o->tl.t)
			goto fail;
		o->tl.path = opt->timeline;
		o->tl.log_plain = true;
		if (kt_session_add_hook(s, timeline_event, &o->tl)) {
			snprintf(err, errlen, "too many event hooks");
			goto fail;
		}
	}
	o->next_eval = kt_now_ns(CLOCK_MONOTONIC) + 1000000000ull;
	free(rules);
	return o;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(rules);
	oneshot_free(o);
	return NULL;
}

static void oneshot_eval(struct kt_oneshot *o, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];
	struct kt_alert_src src = {.agg = &o->s->agg,
				   .win = o->win,
				   .global = g,
				   .now = now,
				   .default_win = KT_WIN_ALL};

	global_counters(o->s, g);
	kt_windows_tick(o->win, &o->s->agg, g, now);
	if (kt_alerts_nrules(o->alerts))
		kt_alerts_eval(o->alerts, &src);
	if (o->tl.t && kt_alerts_fired(o->alerts) > o->fired_seen) {
		/* the moments before an alert are what a flight recorder is for */
		o->fired_seen = kt_alerts_fired(o->alerts);
		kt_oneshot_write_timeline(o, "an alert fired");
	}
}

/* Says how the background write ended, if it did; starts the one asked meanwhile. */
static void timeline_reap(struct kt_oneshot *o, bool wait)
{
	struct timeline_hook *h = &o->tl;
	char err[640];
	int r = kt_timeline_reap(h->t, wait, err, sizeof(err));

	if (r == 2)
		fprintf(stderr, "kaos-trace: %s: wrote %llu events to timeline %s\n", h->running,
			(unsigned long long)kt_timeline_last_written(h->t), h->path);
	if (r == -1) {
		fprintf(stderr, "kaos-trace: timeline: %s\n", err);
		h->failed = true;
	}
	if ((r == 2 || r == -1) && h->pending && !h->finishing) {
		const char *why = h->pending;

		h->pending = NULL;
		kt_oneshot_write_timeline(o, why);
	}
}

int kt_oneshot_write_timeline(struct kt_oneshot *o, const char *why)
{
	char err[512];
	int r;

	if (!o || !o->tl.t || o->tl.finishing)
		return 0;
	r = kt_timeline_write_bg(o->tl.t, err, sizeof(err));
	if (r == -2) {
		fprintf(stderr, "kaos-trace: %s: %s\n", why, err); /* stdout: not now */
		return 0;
	}
	if (r == 1)
		o->tl.pending = why; /* after the one under way: the newest events */
	if (r == 0)
		o->tl.running = why;
	if (r < 0) {
		fprintf(stderr, "kaos-trace: timeline: %s\n", err);
		o->tl.failed = true;
		return -1;
	}
	return 0;
}

void kt_oneshot_tick(struct kt_oneshot *o, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];

	if (kt_windows_count(o->win)) {
		global_counters(o->s, g);
		kt_windows_tick(o->win, &o->s->agg, g, now);
	}
	if (now >= o->next_eval) {
		oneshot_eval(o, now);
		o->next_eval = now + 1000000000ull;
	}
	if (o->tl.t)
		timeline_reap(o, false);
}

/* One line per rule that matched nothing during the whole run; returns how many. */
static int say_unmatched(struct kt_oneshot *o)
{
	char why[512];
	int n = 0;

	for (int i = 0; i < kt_alerts_nrules(o->alerts); i++) {
		if (kt_alerts_matched(o->alerts, i, true))
			continue;
		fprintf(stderr, "kaos-trace: alert '%s' matched nothing: %s\n",
			kt_alerts_rule(o->alerts, i)->text,
			kt_alert_unmatched_why(kt_alerts_rule(o->alerts, i), &o->s->agg, why,
					       sizeof(why)));
		n++;
	}
	return n;
}

int kt_oneshot_finish(struct kt_oneshot *o, int *unmatched)
{
	char err[512];
	int rc = 0;

	o->tl.finishing = true; /* the final write below holds every alert's moments */
	*unmatched = 0;
	if (kt_alerts_nrules(o->alerts)) {
		oneshot_eval(o, kt_now_ns(CLOCK_MONOTONIC));
		rc = (int)kt_alerts_fired(o->alerts);
		fprintf(stderr, "kaos-trace: alerts: %d rule%s, %llu fired, %llu resolved\n",
			kt_alerts_nrules(o->alerts), kt_alerts_nrules(o->alerts) == 1 ? "" : "s",
			(unsigned long long)kt_alerts_fired(o->alerts),
			(unsigned long long)kt_alerts_resolved(o->alerts));
		*unmatched = say_unmatched(o);
	}
	int werr;
	uint64_t lost = kt_alerts_write_errors(o->alerts, &werr);
	if (lost) {
		/* each failed line was logged; the run must not end with 0 (docs promise it) */
		fprintf(stderr, "kaos-trace: writing %s failed: %s (%llu alert line%s lost)\n",
			o->alert_path ? o->alert_path : "stderr", strerror(werr),
			(unsigned long long)lost, lost == 1 ? "" : "s");
		rc = -1;
	}
	if (o->alert_out && o->alert_out != stderr) {
		if (fclose(o->alert_out) && !lost) {
			fprintf(stderr, "kaos-trace: writing %s failed: %s\n", o->alert_path,
				strerror(errno));
			rc = -1;
		}
		o->alert_out = NULL;
	}
	if (o->tl.t) {
		uint64_t dropped = kt_timeline_dropped(o->tl.t);
		bool last = kt_timeline_keeps_last(o->tl.t);

		timeline_reap(o, true);
		if (kt_timeline_write(o->tl.t, err, sizeof(err))) {
			fprintf(stderr, "kaos-trace: timeline: %s\n", err);
			rc = -1;
		} else {
			fprintf(stderr, "kaos-trace: wrote %llu events to timeline %s%s\n",
				(unsigned long long)kt_timeline_last_written(o->tl.t), o->tl.path,
				!dropped ? ""
				: last	 ? " (the newest: older ones replaced)"
					 : " (cap reached: some left out)");
		}
		rc = o->tl.failed ? -1 : rc;
	}
	oneshot_free(o);
	return rc;
}

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
	struct kt_session s;
	bool session_open;
	struct kt_windows *win;
	int default_win;
	struct kt_alerts *alerts;
	FILE *alert_out;
	struct kt_http *http;
	struct timeline_hook tl;
	bool stacks;		  /* fixed at start: the BPF object is loaded once */
	struct kt_offcpu *offcpu; /* off_cpu = yes: fixed at start too */
	uint64_t reloads, reload_failures;
	uint64_t scope_said[KT_SCOPE_STAT_NR]; /* scope counters already logged */
	struct exited_proc *exited;
	int nexited, capexited;
	uint32_t *announced;
	int nannounced, capannounced;
	uint64_t start;
	uint64_t lost_logged, lost_logged_at; /* log_loss: what the last line said, when */
	struct kt_prom_rings *prom_rings;     /* which rings have /metrics series (kt_prom.h) */
};

static volatile sig_atomic_t stop_sig, reload_req;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_req = 1;
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
	OPT_FOLDED_DIR,
	OPT_FOLDED_INTERVAL,
	OPT_RINGBUF,
	OPT_PROBE_COST,
	OPT_CHECK,
	OPT_OFF_CPU,
	OPT_ALLOW_NOP5,
	OPT_OFF_CPU_MIN,
	OPT_SAMPLE,
	OPT_BUDGET,
	OPT_METRICS_MAX_RINGS,
};

static const struct argp_option daemon_options[] = {
	{"config", OPT_CONFIG, "FILE", 0, "INI config (deploy/kaos-trace.conf); reread on SIGHUP",
	 0},
	{"watch", OPT_WATCH, "PATH", 0,
	 "PATH a program: trace its processes (now and later, children included), wherever "
	 "its probes live; PATH a library (libkaos.so): every process mapping it (repeatable)",
	 0},
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
	{"timeline-max-events", OPT_TIMELINE_MAX, "N", 0, "Timeline cap (default 250000)", 0},
	{"folded-dir", OPT_FOLDED_DIR, "DIR", 0,
	 "Write folded stacks per interval into DIR (enables stack capture)", 0},
	{"folded-interval", OPT_FOLDED_INTERVAL, "DURATION", 0, "Folded file rotation (default 1m)",
	 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0, "BPF ring buffer size (power of two)", 0},
	{"probe-cost", OPT_PROBE_COST, "NS", 0, "Use NS as the probe cost instead of measuring it",
	 0},
	{"allow-nop5-sites", OPT_ALLOW_NOP5, NULL, 0,
	 "Attach to programs built with old plain 5-byte-nop probe sites (a child they fork "
	 "while traced can crash: only for programs that never fork)",
	 0},
	{"off-cpu", OPT_OFF_CPU, NULL, 0,
	 "Also measure the time the traced processes' threads spend blocked (/metrics, folded)", 0},
	{"off-cpu-min-block", OPT_OFF_CPU_MIN, "DURATION", 0,
	 "Blocks shorter than this are not counted (default 1us)", 0},
	{"sample", OPT_SAMPLE, "N", 0,
	 "Fire probes on every N-th operation (power of two; counts stay exact); 1: every "
	 "operation",
	 0},
	{"budget", OPT_BUDGET, "PCT", 0,
	 "Sampling period per process so tracing costs it at most PCT % of its CPU time "
	 "(default 1 unless --sample)",
	 0},
	{"metrics-max-rings", OPT_METRICS_MAX_RINGS, "N", 0,
	 "Rings with their own /metrics series (default 32); more are folded into "
	 "ring=\"_overflow\"",
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
	{OPT_WATCH, "watch", "path"},
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
	{OPT_FOLDED_DIR, "folded", "dir"},
	{OPT_FOLDED_INTERVAL, "folded", "interval"},
	{OPT_RINGBUF, "daemon", "ringbuf_size"},
	{OPT_PROBE_COST, "daemon", "probe_cost"},
	{OPT_OFF_CPU_MIN, "daemon", "off_cpu_min_block"},
	{OPT_SAMPLE, "daemon", "sample"},
	{OPT_BUDGET, "daemon", "budget"},
	{OPT_METRICS_MAX_RINGS, "daemon", "metrics_max_rings"},
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
		return 0;
	}
	if (key == 'v') {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "verbose", "yes", "-v"};
		return 0;
	}
	if (key == OPT_ALLOW_NOP5) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "allow_nop5_sites", "yes",
							 "allow-nop5-sites"};
		return 0;
	}
	if (key == OPT_OFF_CPU) {
		d->cli[d->ncli++] = (struct cli_setting){"daemon", "off_cpu", "yes", "off-cpu"};
		return 0;
	}
	if (key == ARGP_KEY_ARG) {
		fprintf(stderr, "kaos-trace daemon: unexpected argument '%s' (see --help)\n", arg);
		exit(2);
	}
	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++) {
		if (flag_map[i].key != key)
			continue;
		if (d->ncli == MAX_CLI) {
			fprintf(stderr, "kaos-trace daemon: too many flags\n");
			exit(2);
		}
		for (size_t j = 0; j < sizeof(daemon_options) / sizeof(daemon_options[0]); j++)
			if (daemon_options[j].key == key)
				d->cli[d->ncli].flag = daemon_options[j].name;
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

	kt_agg_forget_ring(&d->s.agg, pid, exec_gen, ring_id);
	kt_windows_forget_ring(d->win, pid, exec_gen, ring_id);
}

/*
 * New rings get their /metrics series or the overflow's (kt_prom.h); a
 * ring closed `retain` ago is forgotten, as an exited process is.
 */
static void retire_rings(struct daemon *d, uint64_t now)
{
	int n = kt_prom_rings_update(d->prom_rings, &d->s.agg, now, retain_ns(d), forget_ring, d);

	if (n > 0)
		kt_log(KT_LOG_DEBUG, "ring", "%d closed ring%s retired", n, n == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- /metrics */

static int http_handler(void *ctx, const char *method, const char *path, const char *accept,
			struct kt_http_response *r)
{
	struct daemon *d = ctx;

	(void)method;
	if (!strcmp(path, "/metrics")) {
		struct kt_report_totals tot;
		bool om = strstr(accept, "application/openmetrics-text") != NULL;
		size_t len = 0;
		FILE *f = open_memstream(&r->body, &len);

		if (!f)
			return -1;
		kt_session_consume(&d->s); /* what is waiting counts too */
		kt_session_totals(&d->s, &tot);
		struct kt_offcpu_stats ost;
		const struct kt_offcpu_thread *othr = NULL;
		int nothr = 0;

		if (d->offcpu) {
			/* processes seen since the last tick */
			kt_offcpu_tick(d->offcpu, &d->s.agg);
			nothr = kt_offcpu_threads(d->offcpu, &othr);
			if (nothr < 0) {
				fclose(f);
				free(r->body);
				r->body = NULL;
				return -1;
			}
			kt_offcpu_get_stats(d->offcpu, &ost);
		}
		retire_rings(d, kt_now_ns(CLOCK_MONOTONIC)); /* rings seen since the tick */
		struct kt_prom_src src = {.agg = &d->s.agg,
					  .rings = d->prom_rings,
					  .tot = &tot,
					  .win = d->win,
					  .now = kt_now_ns(CLOCK_MONOTONIC),
					  .alerts = d->alerts,
					  .links = kt_session_nlinks(&d->s),
					  .reloads = d->reloads,
					  .reload_failures = d->reload_failures,
					  .cost_warnings = d->s.cost_warnings,
					  .offcpu_threads = othr,
					  .noffcpu_threads = (size_t)nothr,
					  .offcpu_stats = d->offcpu ? &ost : NULL,
					  .offcpu_min_block_ns = d->cfg.off_cpu_min_ns};
		int e = kt_prom_write(f, &src, om);

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
	if (!strcmp(path, "/healthz")) {
		r->status = 200;
		r->body = strdup("ok\n");
		r->len = r->body ? 3 : 0;
		return r->body ? 0 : -1;
	}
	static const char index_page[] =
		"kaos-trace daemon\n  /metrics  Prometheus/OpenMetrics text\n  /healthz  ok\n";

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

/* The paths c's watches resolve to (each program's libkaos.so or itself). */
static int resolve_watches(const struct kt_config *c, struct kt_targets *tg, char *err,
			   size_t errlen)
{
	memset(tg, 0, sizeof(*tg));
	for (int i = 0; i < c->nwatch; i++) {
		char e[768];

		if (kt_targets_add_path(tg, c->watch[i], e, sizeof(e))) {
			snprintf(err, errlen, "watch %s: %s", c->watch[i], e);
			kt_targets_free(tg);
			return -1;
		}
	}
	return 0;
}

static bool target_wanted(const struct kt_targets *tg, const char *path)
{
	for (int i = 0; i < tg->n; i++)
		if (!strcmp(tg->v[i].path, path))
			return true;
	return false;
}

/* A watched file replaced on disk (an upgrade) needs a fresh attach. */
static bool target_replaced(const struct kt_attachment *a)
{
	struct stat st;

	return stat(a->path, &st) == 0 && (st.st_ino != a->ino || st.st_dev != a->dev);
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
			if (!d->s.scope && first)
				kt_log(KT_LOG_INFO, "scope", "every process mapping %s", t->path);
			else if (d->s.scope)
				kt_log(KT_LOG_WARN, "scope",
				       "%s: only processes of the watched programs until a restart "
				       "(the process scope is chosen at start)",
				       t->path);
			continue;
		}
		if (!d->s.scope && !first && !t->scoped)
			continue;
		if (!d->s.scope) {
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
		if (scope_has(&d->s, t->program))
			continue;
		n = kt_session_scope_program(&d->s, t->program, err, sizeof(err));
		if (n < 0)
			kt_log(KT_LOG_ERROR, "scope", "%s: not traced: %s", t->program, err);
		else
			kt_log(KT_LOG_INFO, "scope",
			       "processes of %s, now and later, children included (%d running)",
			       t->program, n);
	}
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
	if (!same_cstr(old->timeline, c->timeline))
		kt_log(KT_LOG_WARN, "reload", "the timeline file changes on restart only");
	if (old->probe_cost_ns != c->probe_cost_ns)
		kt_log(KT_LOG_WARN, "reload", "probe_cost changes on restart only");
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

	d->s.note = sampling_note;
	if (!first && m.mode == d->s.sampling.mode && m.period == d->s.sampling.period &&
	    m.budget_pct == d->s.sampling.budget_pct)
		return;
	d->s.sampling = m;
	kt_log(KT_LOG_INFO, "sampling", "%s", kt_sampling_describe(&m, b, sizeof(b)));
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
	char *new_paths[KT_SESSION_MAX_ATTACH];
	int nnew = 0;

	if (resolve_watches(c, &tg, err, errlen))
		return -1;
	if (!c->listen[0])
		http = NULL;
	else if (first || !d->http || strcmp(c->listen, d->cfg.listen))
		if (!(http = kt_http_listen(c->listen, http_handler, d, err, errlen)))
			goto fail_targets;
	if (first || strcmp(c->alert_log, d->cfg.alert_log)) {
		if (c->alert_log[0] && strcmp(c->alert_log, "-")) {
			alert_out = fopen(c->alert_log, "ae");
			if (!alert_out) {
				snprintf(err, errlen, "alert log %.512s: %s", c->alert_log,
					 strerror(errno));
				goto fail_http;
			}
			setvbuf(alert_out, NULL, _IOLBF, 0);
		} else {
			alert_out = stderr;
		}
	}
	/* attach what is new (or replaced on disk) */
	for (int i = 0; i < tg.n; i++) {
		struct kt_attachment *a = kt_session_find(&d->s, -1, tg.v[i].path);

		if (a && !target_replaced(a))
			continue;
		if (a)
			kt_session_detach(&d->s, -1, tg.v[i].path);
		/* the fork hazard on kernels that optimise nop5 (docs/probes.md) */
		if (!c->allow_nop5_sites &&
		    kt_site_of(tg.v[i].path, "kaos", NULL) == KT_SITE_NOP5) {
			snprintf(
				err, errlen,
				"%.512s: its probe sites are plain 5-byte nops, which kernels with "
				"the uprobe nop5 optimisation turn into CALLs (a child it forks "
				"while traced dies with SIGSEGV); rebuild it with current libkaos, "
				"or set allow_nop5_sites (--allow-nop5-sites)",
				tg.v[i].path);
			goto fail_attach;
		}
		if (kt_session_attach(&d->s, -1, tg.v[i].path, err, errlen))
			goto fail_attach;
		new_paths[nnew++] = tg.v[i].path;
	}
	nw = kt_config_windows(c, lens, KT_WIN_MAX);

	/* nothing fails from here on */
	for (int i = 0; i < d->s.natt;) {
		if (!target_wanted(&tg, d->s.att[i]->path)) {
			kt_log(KT_LOG_INFO, "attach", "detached from %s (no longer watched)",
			       d->s.att[i]->path);
			kt_session_detach(&d->s, -1, d->s.att[i]->path);
			continue;
		}
		i++;
	}
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
		if (d->alert_out && d->alert_out != stderr)
			fclose(d->alert_out);
		d->alert_out = alert_out;
	}
	kt_windows_set(d->win, lens, nw);
	kt_prom_rings_set_max(d->prom_rings, (int)c->metrics_max_rings);
	/* rules without "over": the shortest configured window */
	uint64_t shortest = 0;

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
		/* keep what only a restart changes */
		c->ringbuf_bytes = d->cfg.ringbuf_bytes;
		c->probe_cost_ns = d->cfg.probe_cost_ns;
		c->off_cpu = d->cfg.off_cpu;
		c->off_cpu_min_ns = d->cfg.off_cpu_min_ns;
		if (!d->stacks)
			c->folded_dir[0] = 0;
		snprintf(c->timeline, sizeof(c->timeline), "%s", d->cfg.timeline);
	}
	kt_config_free(&d->cfg);
	d->cfg = *c;
	memset(c, 0, sizeof(*c));
	set_sampling(d, first);
	kt_targets_free(&tg);
	return 0;

fail_attach:
	for (int i = 0; i < nnew; i++)
		kt_session_detach(&d->s, -1, new_paths[i]);
	if (alert_out != d->alert_out && alert_out != stderr)
		fclose(alert_out);
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
	return 0;
}

/* ---------------------------------------------------------------- housekeeping */

static bool pid_in(const uint32_t *v, int n, uint32_t pid)
{
	for (int i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

static void push_u32(uint32_t **v, int *n, int *cap, uint32_t x)
{
	if (*n == *cap) {
		int nc = *cap ? *cap * 2 : 64;
		uint32_t *nv = realloc(*v, sizeof(*nv) * (size_t)nc);

		if (!nv)
			return;
		*v = nv;
		*cap = nc;
	}
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

	kt_session_scope_stats(&d->s, sc);
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

/* New processes are logged; exited ones are logged, then forgotten after retain. */
static void track_processes(struct daemon *d, uint64_t now)
{
	kt_session_check_exited(&d->s);
	kt_session_scope_sweep(&d->s);
	log_scope_losses(d);
	for (struct kt_proc *p = d->s.agg.procs; p; p = p->next) {
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
		if (d->nexited == d->capexited) {
			int nc = d->capexited ? d->capexited * 2 : 64;
			struct exited_proc *nv = realloc(d->exited, sizeof(*nv) * (size_t)nc);

			if (!nv)
				continue;
			d->exited = nv;
			d->capexited = nc;
		}
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
			kt_prom_rings_forget_image(d->prom_rings, &d->s.agg, pid,
						   d->exited[i].exec_gen);
			kt_agg_forget_image(&d->s.agg, pid, d->exited[i].exec_gen);
			kt_windows_forget_image(d->win, pid, d->exited[i].exec_gen);
			d->exited[i] = d->exited[--d->nexited];
			continue;
		}
		kt_log(KT_LOG_DEBUG, "process", "pid %u forgotten (exited %.0f s ago)", pid,
		       (double)(now - d->exited[i].at) / 1e9);
		kt_prom_rings_forget_pid(d->prom_rings, &d->s.agg, pid);
		kt_agg_forget_proc(&d->s.agg, pid);
		kt_windows_forget_pid(d->win, pid);
		if (d->offcpu && d->s.folded && d->cfg.folded_dir[0])
			kt_offcpu_fold_since(d->offcpu, d->s.folded); /* its last blocks */
		kt_offcpu_forget_pid(d->offcpu, pid);
		if (d->s.sym)
			kt_sym_forget_pid(d->s.sym, (pid_t)pid);
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

	kt_session_totals(&d->s, &t);
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

	if (!d->s.folded || !d->cfg.folded_dir[0])
		return;
	if (d->offcpu && kt_offcpu_fold_since(d->offcpu, d->s.folded) < 0)
		kt_log(KT_LOG_WARN, "folded", "off-cpu stacks: out of memory, some left out");
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, sizeof(path), "%s/kaos-trace-%s.folded", d->cfg.folded_dir, stamp);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		kt_log(KT_LOG_ERROR, "folded", "cannot write %s: %s", tmp, strerror(errno));
		kt_folded_clear(d->s.folded);
		return;
	}
	n = kt_folded_write(d->s.folded, f, KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, kt_folded_sym_kt,
			    d->s.sym);
	if (fclose(f) || n < 0 || rename(tmp, path)) {
		kt_log(KT_LOG_ERROR, "folded", "writing %s failed: %s", path, strerror(errno));
		unlink(tmp);
	} else {
		kt_log(KT_LOG_INFO, "folded", "wrote %d stacks to %s", n, path);
	}
	kt_folded_clear(d->s.folded);

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

/* ---------------------------------------------------------------- main */

static int daemon_run(struct daemon *d)
{
	uint64_t next_tick, next_eval, next_folded, next_sampling;
	char err[1024];

	d->start = kt_now_ns(CLOCK_MONOTONIC);
	next_tick = d->start;
	next_eval = d->start + d->cfg.eval_ns;
	next_folded = d->start + d->cfg.folded_interval_ns;
	next_sampling = d->start + TICK_NS;
	while (!stop_sig) {
		struct pollfd p[1 + KT_HTTP_MAX_CONNS + 1];
		int nh = 0, e;

		p[0] = (struct pollfd){.fd = kt_session_fd(&d->s), .events = POLLIN};
		if (d->http)
			nh = kt_http_pollfds(d->http, p + 1, KT_HTTP_MAX_CONNS + 1);
		e = poll(p, (nfds_t)(1 + nh), 100);
		if (e < 0 && errno != EINTR) {
			kt_log(KT_LOG_ERROR, "poll", "%s", strerror(errno));
			return 1;
		}
		e = kt_session_consume(&d->s);
		if (e < 0) {
			kt_log(KT_LOG_ERROR, "poll", "ring buffer: %s", strerror(-e));
			return 1;
		}
		uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

		if (d->http)
			kt_http_service(d->http, p + 1, nh, now);
		if (now >= next_tick) {
			uint64_t g[KT_WIN_G_NR];

			global_counters(&d->s, g);
			kt_windows_tick(d->win, &d->s.agg, g, now);
			track_processes(d, now);
			retire_rings(d, now);
			log_loss(d, now);
			kt_offcpu_tick(d->offcpu, &d->s.agg);
			next_tick = now + TICK_NS;
		}
		if (now >= next_sampling) {
			kt_session_update_sampling(&d->s, false);
			kt_session_check_cost(&d->s);
			next_sampling = now + TICK_NS;
		} else {
			/* a new process runs every operation traced until it is set up */
			kt_session_update_sampling(&d->s, true);
		}
		if (now >= next_eval) {
			uint64_t g[KT_WIN_G_NR];
			struct kt_alert_src src = {.agg = &d->s.agg,
						   .win = d->win,
						   .global = g,
						   .now = now,
						   .default_win = d->default_win};

			global_counters(&d->s, g);
			kt_alerts_eval(d->alerts, &src);
			kt_alerts_note_unmatched(d->alerts, &d->s.agg, now);
			next_eval = now + d->cfg.eval_ns;
		}
		kt_alerts_reap(d->alerts, now);
		if (d->cfg.folded_dir[0] && now >= next_folded) {
			rotate_folded(d);
			next_folded = now + d->cfg.folded_interval_ns;
		}
		if (reload_req) {
			reload_req = 0;
			reload(d);
		}
	}
	kt_log(KT_LOG_INFO, "stop", "%s: detaching %d probe links", strsignal(stop_sig),
	       kt_session_nlinks(&d->s));
	kt_session_detach_all(&d->s);
	kt_session_consume(&d->s);
	if (d->offcpu && d->s.folded && d->cfg.folded_dir[0])
		kt_offcpu_fold_since(d->offcpu, d->s.folded); /* the last blocks, if any */
	if (d->cfg.folded_dir[0] && d->s.folded && kt_folded_size(d->s.folded))
		rotate_folded(d);
	if (d->tl.t) {
		uint64_t written = kt_timeline_written(d->tl.t);

		if (kt_timeline_close(d->tl.t, err, sizeof(err)))
			kt_log(KT_LOG_ERROR, "timeline", "%s", err);
		else
			kt_log(KT_LOG_INFO, "timeline", "wrote %llu events to %s",
			       (unsigned long long)written, d->cfg.timeline);
		d->tl.t = NULL;
	}
	return 0;
}

/* verbose: libbpf's debug lines as debug log records. */
static void log_libbpf(const char *line)
{
	int n = (int)strcspn(line, "\n");

	kt_log(KT_LOG_DEBUG, "libbpf", "%.*s", n, line);
}

int kt_daemon_main(int argc, char **argv)
{
	static const char doc[] =
		"Run kaos-trace as a service: follow binaries/libraries by path, keep rolling "
		"windows, evaluate alert rules, serve Prometheus metrics.\v"
		"Signals: SIGHUP rereads the config (a bad one is rejected, the old one kept); "
		"SIGTERM/SIGINT detach and exit 0.\n"
		"Example:\n"
		"  kaos-trace daemon --watch /usr/lib/x86_64-linux-gnu/libkaos.so.0 \\\n"
		"      --alert 'send.p99 > 1us for 10s' --listen 127.0.0.1:9464\n";
	static const struct argp argp = {
		daemon_options, daemon_parse_opt, NULL, doc, NULL, NULL, NULL};
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
	if (d.check_only) {
		struct kt_targets tg;

		rc = resolve_watches(&c, &tg, err, sizeof(err));
		if (!rc)
			rc = check_startable(&c, err, sizeof(err));
		if (rc)
			fprintf(stderr, "kaos-trace: %s\n", err);
		else
			printf("config OK: %d watch%s (%d object%s with probes), %d rule%s, listen "
			       "%s\n",
			       c.nwatch, c.nwatch == 1 ? "" : "es", tg.n, tg.n == 1 ? "" : "s",
			       c.nrules, c.nrules == 1 ? "" : "s", c.listen[0] ? c.listen : "off");
		kt_targets_free(&tg);
		kt_config_free(&c);
		return rc ? 2 : 0;
	}
	kt_log_setup(stderr, c.log_json, c.verbose ? KT_LOG_DEBUG : KT_LOG_INFO);
	if (kt_check_privileges(err, sizeof(err))) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_config_free(&c);
		return 1;
	}
	/* /metrics holds many connections at once (kt_http.h): room for them */
	long nofile = kt_http_raise_nofile();

	if (nofile < 0)
		kt_log(KT_LOG_WARN, "start", "cannot raise the open-file limit: %s",
		       strerror((int)-nofile));
	struct kt_session_opts so = {.stacks = c.folded_dir[0] != 0,
				     .want_ts = c.timeline[0] != 0,
				     .weight_latency = c.folded_latency,
				     .ringbuf_bytes = c.ringbuf_bytes,
				     .bpf_log = c.verbose ? log_libbpf : NULL};
	struct kt_targets watched;

	/* the process scope is set at load: decided by the watches at start */
	if (resolve_watches(&c, &watched, err, sizeof(err))) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_config_free(&c);
		return 1;
	}
	so.scope = kt_targets_need_scope(&watched);
	kt_targets_free(&watched);

	if (c.folded_dir[0] && access(c.folded_dir, W_OK)) {
		kt_log(KT_LOG_ERROR, "start", "folded dir %s: %s", c.folded_dir, strerror(errno));
		kt_config_free(&c);
		return 1;
	}
	if (c.timeline[0] && !path_writable(c.timeline)) {
		/* before any BPF is loaded: the file itself is opened once the session runs */
		kt_log(KT_LOG_ERROR, "start", "timeline %s: %s", c.timeline, strerror(errno));
		kt_config_free(&c);
		return 1;
	}
	struct kt_features feat;

	/* where to attach on combined probe sites: a self-test in a child, while BPF loads */
	kt_features_probe_now(&feat);
	kt_features_probe_start(&feat, c.probe_cost_ns > 0 ? 0 : KT_PROBE_SITES);
	if (kt_session_open(&d.s, &so, err, sizeof(err))) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_session_print_bpf_log(stderr);
		kt_features_probe_finish(&feat);
		kt_config_free(&c);
		return 1;
	}
	kt_features_probe_finish(&feat);
	kt_features_site_line(&feat, err, sizeof(err));
	kt_log(KT_LOG_INFO, "start", "probe sites: attaching at %s", err);
	d.stacks = so.stacks;
	if (c.off_cpu && kt_offcpu_open(&d.offcpu, c.off_cpu_min_ns, d.s.sym, err, sizeof(err))) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_session_close(&d.s);
		kt_config_free(&c);
		return 1;
	}
	if (d.offcpu) {
		char b[32];

		kt_log(KT_LOG_INFO, "start", "off-cpu: sched_switch traced, blocks >= %s counted",
		       kt_fmt_duration(b, sizeof(b), c.off_cpu_min_ns));
	}
	if (c.probe_cost_ns > 0)
		d.s.hit_ns = c.probe_cost_ns;
	else
		kt_session_calibrate(&d.s);
	kt_session_start(&d.s);
	d.win = kt_windows_new(kt_now_ns(CLOCK_MONOTONIC));
	d.alerts = kt_alerts_new();
	d.prom_rings = kt_prom_rings_new(KT_PROM_DEFAULT_MAX_RINGS);
	if (!d.win || !d.alerts || !d.prom_rings) {
		kt_log(KT_LOG_ERROR, "start", "out of memory");
		rc = 1;
		goto out;
	}
	kt_config_init(&d.cfg);
	d.cfg.listen[0] = 0;
	d.cfg.alert_log[0] = 0;
	if (apply_config(&d, &c, true, err, sizeof(err))) {
		kt_log(KT_LOG_ERROR, "start", "%s", err);
		kt_config_free(&c);
		rc = 1;
		goto out;
	}
	if (d.cfg.timeline[0]) {
		struct kt_timeline_opts to = {.max_events = d.cfg.timeline_max};

		d.tl.t = kt_timeline_open(d.cfg.timeline, &to, &d.s.agg, err, sizeof(err));
		d.tl.path = d.cfg.timeline;
		if (!d.tl.t || kt_session_add_hook(&d.s, timeline_event, &d.tl)) {
			kt_log(KT_LOG_ERROR, "start", "timeline: %s", err);
			rc = 1;
			goto out;
		}
	}

	/*
	 * Alert actions must not inherit our capabilities: a service granted them as
	 * ambient capabilities (deploy/kaos-trace.service) would pass them on through
	 * execve. Our own permitted/effective sets stay.
	 */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

	struct sigaction stop = {.sa_handler = on_stop}, hup = {.sa_handler = on_hup},
			 ign = {.sa_handler = SIG_IGN};

	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGHUP, &hup, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	char wins[128] = "";

	for (int i = 0; i < kt_windows_count(d.win); i++) {
		char b[32];
		size_t l = strlen(wins);

		kt_fmt_duration(b, sizeof(b), kt_windows_len(d.win, i));
		snprintf(wins + l, sizeof(wins) - l, "%s%s", i ? "," : "", b);
	}
	kt_log(KT_LOG_INFO, "start",
	       "running: %d probe links on %d path%s, windows %s, %d alert rule%s, probe hit "
	       "costs %.0f ns, pid %d",
	       kt_session_nlinks(&d.s), d.s.natt, d.s.natt == 1 ? "" : "s", wins, d.cfg.nrules,
	       d.cfg.nrules == 1 ? "" : "s", d.s.hit_ns, (int)getpid());
	rc = daemon_run(&d);
	kt_log(KT_LOG_INFO, "stop", "exit %d", rc);
out:
	if (d.tl.t)
		kt_timeline_close(d.tl.t, err, sizeof(err));
	kt_http_close(d.http);
	kt_alerts_free(d.alerts);
	if (d.alert_out && d.alert_out != stderr)
		fclose(d.alert_out);
	kt_windows_free(d.win);
	kt_prom_rings_free(d.prom_rings);
	kt_offcpu_free(d.offcpu);
	kt_session_close(&d.s);
	kt_config_free(&d.cfg);
	free(d.exited);
	free(d.announced);
	return rc;
}
