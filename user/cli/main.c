// SPDX-License-Identifier: MIT
/*
 * kaos-trace: traces libkaos' USDT probes (send, recv, backpressure,
 * retransmit, ring_close) with BPF and prints latency summaries.
 *
 *   kaos-trace -p PID [-p PID...] [-b PATH...] [-d SEC] [-i SEC] ...
 *   kaos-trace [OPTIONS] -- COMMAND [ARG...]
 *   kaos-trace -p PID|-b PATH --func '[LIB:]GLOB' ...   (plain uprobes, user/collectors/kt_func.c)
 *   kaos-trace list PID|PATH
 *   kaos-trace list --func PATTERN PID|PATH
 *   kaos-trace pmu list
 *   kaos-trace daemon ...                               (user/daemon/kt_daemon.c)
 */
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/kaos_trace.skel.h"
#include "kt_agg.h"
#include "kt_addons.h"
#include "kt_daemon.h"
#include "kt_elf.h"
#include "kt_engine.h"
#include "kt_event.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_func.h"
#include "kt_gate.h"
#include "kt_offcpu.h"
#include "kt_pmu.h"
#include "kt_profile.h"
#include "kt_report.h"
#include "kt_rule.h"
#include "kt_session.h"
#include "kt_target.h"
#include "kt_usdt.h"
#include "kt_version.h"

#define MAX_TARGETS	64
#define MAX_RING_FILTER 64

struct options {
	pid_t pids[MAX_TARGETS];
	int npids;
	const char *paths[MAX_TARGETS];
	int npaths;
	uint32_t rings[MAX_RING_FILTER];
	int nrings;
	double duration_s;
	double interval_s;
	uint32_t sample;
	double budget_pct;
	bool stacks;
	const char *folded_path;
	bool weight_latency;
	bool weight_given;
	const char *json_path;
	bool hist;
	uint64_t ringbuf_bytes;
	bool verbose;
	bool no_calibrate;
	bool allow_nop5;	  /* --allow-nop5-sites: the user says the target never forks */
	double probe_cost_ns;	  /* --probe-cost: skip calibration, use this */
	char **cmd;		  /* -- CMD ARGS: start it and trace it */
	unsigned int profile_hz;  /* --profile: sample user stacks at this rate per CPU */
	const char *pmu;	  /* --pmu EVENT[,EVENT] */
	bool off_cpu;		  /* --off-cpu: blocked time by stack (kt_offcpu) */
	long long off_cpu_min_us; /* --off-cpu-min-us; -1: not given (1 us) */
	const char *funcs[MAX_TARGETS]; /* --func patterns */
	int nfuncs;
	uint32_t max_funcs;
	uint64_t max_rate;
	bool no_usdt;
	/* alerts and timeline (kt_daemon.h) */
	const char *alerts[MAX_TARGETS];
	int nalerts;
	const char *alert_log;
	bool fail_on_alert;
	const char *timeline;
	uint64_t timeline_max;
};

static struct options opt = {
	.off_cpu_min_us = -1,
	.ringbuf_bytes = KT_ENGINE_RINGBUF_DEFAULT,
};

static volatile sig_atomic_t stop_signal;

/* The one engine of a run; die() withdraws its sampling requests on the way out. */
static struct kt_engine engine;

static void release_sampling_at_exit(void)
{
	kt_engine_release_sampling(&engine);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* One-line fatal error: "kaos-trace: ..." and a non-zero exit. */
static void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("kaos-trace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Notes of the library modules: one "kaos-trace: " line each on stderr. */
static void print_note(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	(void)warning;
	fprintf(stderr, "kaos-trace: %s\n", line);
}

/* ---------------------------------------------------------------- CLI */

enum {
	OPT_STACKS = 1000,
	OPT_FOLDED,
	OPT_WEIGHT,
	OPT_JSON,
	OPT_RINGBUF,
	OPT_NO_CALIBRATE,
	OPT_ALERT,
	OPT_ALERT_LOG,
	OPT_FAIL_ON_ALERT,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX,
};

static const char args_doc[] = "[-- COMMAND [ARG...]]";

static const char doc[] =
	"Trace libkaos rings: send/recv latency, sojourn, backpressure, retransmits.\v"
	"Examples:\n"
	"  kaos-trace -p 1234 -d 10            trace one process for 10 s\n"
	"  kaos-trace -b build/libkaos.so -i 1 every process using the library\n"
	"  kaos-trace -b ./app -i 1           the processes of ./app only (and their children)\n"
	"  kaos-trace -p 1234 --stacks --folded out.folded --weight latency\n"
	"  kaos-trace -H -- ./app --flag       start ./app, trace it until it exits\n"
	"  kaos-trace list 1234                list the probes of a process\n"
	"  kaos-trace -p 1234 --func 'libkaos.so:kaos_ring_*'  time functions (uprobes)\n"
	"  kaos-trace list --func 'compress_*' ./pipeline      what --func would probe\n"
	"  kaos-trace -b build/libkaos.so -d 30 --alert 'send.p99 > 1us' \\\n"
	"      --fail-on-alert                 a CI gate: exit 3 if it fired\n"
	"  kaos-trace daemon --help            run as a service (docs/daemon.md)\n";

static const struct argp_option options[] = {
	{"pid", 'p', "PID", 0, "Trace this process (repeatable)", 0},
	{"duration", 'd', "SECONDS", 0, "Stop after SECONDS", 0},
	{"interval", 'i', "SECONDS", 0, "Print a summary every SECONDS", 0},
	{"ring", 'r', "ID", 0, "Only this ring id (repeatable; filtered in the kernel)", 0},
	{"stacks", OPT_STACKS, NULL, 0, "Capture user stacks with each event", 0},
	{"folded", OPT_FOLDED, "FILE", 0,
	 "Write folded stacks for flamegraph.pl (implies --stacks)", 0},
	{"weight", OPT_WEIGHT, "count|latency", 0, "Folded stack weight (default count)", 0},
	{"json", OPT_JSON, "FILE", 0, "Write one JSON summary line per interval to FILE", 0},
	{"hist", 'H', NULL, 0, "Print ASCII latency histograms", 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0,
	 "BPF ring buffer size (power of two, >= 4096; default 2 MiB)", 0},
	{"no-calibrate", OPT_NO_CALIBRATE, NULL, 0,
	 "Skip measuring probe costs at start (no probes on kaos-trace itself)", 0},
	{"verbose", 'v', NULL, 0, "libbpf debug output", 0},
	{"alert", OPT_ALERT, "RULE", 0,
	 "Alert rule, e.g. 'send.p99 > 1us' (repeatable; whole run unless 'over'; exit 4 if it "
	 "matches nothing; docs/daemon.md)",
	 0},
	{"alert-log", OPT_ALERT_LOG, "FILE", 0, "Alert transitions as JSON lines (default stderr)",
	 0},
	{"fail-on-alert", OPT_FAIL_ON_ALERT, NULL, 0, "Exit 3 if any alert fired", 0},
	{"timeline", OPT_TIMELINE, "FILE", 0, "Write events as Chrome/Perfetto trace JSON", 0},
	{"timeline-max-events", OPT_TIMELINE_MAX, "N", 0,
	 "Timeline cap (default " KT_STR(KT_TIMELINE_DEFAULT_MAX) ")", 0},
	{},
};

/* max keeps the conversions to nanoseconds (uint64_t) defined; it also rejects inf. */
static double parse_double(const char *s, const char *what, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min))
		die(2, "invalid %s '%s'", what, s);
	if (!(v <= max))
		die(2, "invalid %s '%s' (at most %.15g)", what, s, max);
	return v;
}

static unsigned long long parse_ull(const char *s, const char *what, unsigned long long min,
				    unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		die(2, "invalid %s '%s'", what, s);
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		die(2, "invalid %s '%s' (expected %llu..%llu)", what, s, min, max);
	return v;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'p':
		if (opt.npids == MAX_TARGETS)
			die(2, "too many -p (max %d)", MAX_TARGETS);
		opt.pids[opt.npids++] = (pid_t)parse_ull(arg, "pid", 1, INT_MAX);
		break;
	case 'b':
		if (opt.npaths == MAX_TARGETS)
			die(2, "too many -b (max %d)", MAX_TARGETS);
		opt.paths[opt.npaths++] = arg;
		break;
	case 'd':
		opt.duration_s = parse_double(arg, "duration", 0.001, 1e9);
		break;
	case 'i':
		opt.interval_s = parse_double(arg, "interval", 0.01, 1e9);
		break;
	case 'r':
		if (opt.nrings == MAX_RING_FILTER)
			die(2, "too many -r (max %d)", MAX_RING_FILTER);
		opt.rings[opt.nrings++] = (uint32_t)parse_ull(arg, "ring id", 0, UINT32_MAX);
		break;
	case KT_OPT_SAMPLE:
		opt.sample = (uint32_t)parse_ull(arg, "sample period", 1, 1u << 30);
		break;
	case KT_OPT_BUDGET:
		opt.budget_pct = parse_double(arg, "budget", 0.0001, 100);
		break;
	case OPT_STACKS:
		opt.stacks = true;
		break;
	case OPT_FOLDED:
		opt.folded_path = arg;
		opt.stacks = true;
		break;
	case OPT_WEIGHT:
		opt.weight_given = true;
		if (!strcmp(arg, "latency"))
			opt.weight_latency = true;
		else if (strcmp(arg, "count"))
			die(2, "invalid weight '%s' (expected count or latency)", arg);
		break;
	case OPT_JSON:
		opt.json_path = arg;
		break;
	case 'H':
		opt.hist = true;
		break;
	case OPT_RINGBUF:
		opt.ringbuf_bytes = parse_ull(arg, "ring buffer size", 4096, 1ull << 30);
		if (opt.ringbuf_bytes & (opt.ringbuf_bytes - 1))
			die(2, "invalid ring buffer size '%s' (must be a power of two)", arg);
		break;
	case KT_OPT_ALLOW_NOP5:
		opt.allow_nop5 = true;
		break;
	case OPT_NO_CALIBRATE:
		opt.no_calibrate = true;
		break;
	case KT_OPT_PROBE_COST:
		opt.probe_cost_ns = parse_double(arg, "probe cost", 0.001, 1e9);
		break;
	case KT_OPT_PROFILE:
		opt.profile_hz = (unsigned int)parse_ull(arg, "profile frequency", 1, 100000);
		break;
	case KT_OPT_PMU:
		opt.pmu = arg;
		break;
	case KT_OPT_OFF_CPU:
		opt.off_cpu = true;
		break;
	case KT_OPT_OFF_CPU_MIN_US:
		opt.off_cpu_min_us = (long long)parse_ull(arg, "--off-cpu-min-us", 0, 60000000);
		break;
	case KT_OPT_FUNC:
		if (opt.nfuncs == MAX_TARGETS)
			die(2, "too many --func (max %d)", MAX_TARGETS);
		opt.funcs[opt.nfuncs++] = arg;
		break;
	case KT_OPT_MAX_FUNCS:
		opt.max_funcs = (uint32_t)parse_ull(arg, "--max-funcs", 1, KT_FUNC_MAX - 1);
		break;
	case KT_OPT_MAX_RATE:
		opt.max_rate = parse_ull(arg, "--max-rate", 1, 1ull << 32);
		break;
	case KT_OPT_NO_USDT:
		opt.no_usdt = true;
		break;
	case 'v':
		opt.verbose = true;
		break;
	case OPT_ALERT: {
		struct kt_rule r;
		struct kt_rule_error re;
		char eb[256];

		if (opt.nalerts == MAX_TARGETS)
			die(2, "too many --alert (max %d)", MAX_TARGETS);
		if (kt_rule_parse(arg, &r, &re))
			die(2, "--alert '%s': %s", arg, kt_rule_strerror(&re, eb, sizeof(eb)));
		opt.alerts[opt.nalerts++] = arg;
		break;
	}
	case OPT_ALERT_LOG:
		opt.alert_log = arg;
		break;
	case OPT_FAIL_ON_ALERT:
		opt.fail_on_alert = true;
		break;
	case OPT_TIMELINE:
		opt.timeline = arg;
		break;
	case OPT_TIMELINE_MAX:
		opt.timeline_max = parse_ull(arg, "timeline cap", 1, 100000000);
		break;
	case ARGP_KEY_INIT:
		/* getopt's own line names a bad option; argp's "Try --help" would be a second one
		 */
		state->err_stream = NULL;
		break;
	case ARGP_KEY_ARG:
		/* The rest of the line is a command to start and trace. */
		opt.cmd = &state->argv[state->next - 1];
		state->next = state->argc;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---------------------------------------------------------------- state */

/* The outputs of a run: views of the engine's snapshots. */
struct outputs {
	FILE *json;
	int json_errno; /* first --json write error */
	FILE *folded;	/* --folded FILE; NULL: stdout */
};

static void report(struct outputs *out, bool final)
{
	struct kt_snapshot snap;

	kt_engine_snapshot(&engine, &snap);
	snap.tot.final = final;
	if (final && out->json && engine.offcpu) {
		/* the final JSON gets "off_cpu": collected there, reused by kt_offcpu_finish */
		snap.tot.json_extra = kt_offcpu_json;
		snap.tot.json_extra_ctx = engine.offcpu;
	}
	kt_report_text(stdout, snap.agg, &snap.tot, opt.hist, !final);
	if (out->json) {
		kt_report_json(out->json, snap.agg, &snap.tot, !final);
		/* each line is flushed: keep the first write error for the exit status */
		if (ferror(out->json) && !out->json_errno)
			out->json_errno = errno ? errno : EIO;
	}
	fflush(stdout);
	if (!final)
		kt_engine_interval_reset(&engine, snap.now_ns);
}

/* The start-up line on sampling: which is in effect, and why. */
static void say_sampling(const struct kt_session *s)
{
	char b[128];

	fprintf(stderr, "kaos-trace: sampling: %s",
		kt_sampling_describe(&s->sampling, b, sizeof(b)));
	if (s->sampling.mode != KT_SAMPLING_FIXED && !(s->hit_ns > 0))
		fprintf(stderr, "; probe cost not measured: priced at %.0f us a hit",
			KT_BUDGET_ASSUMED_HIT_NS / 1000);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- list */

static int cmd_list(int argc, char **argv)
{
	struct kt_targets tg = {0};
	char err[512];

	if (argc >= 3 && !strncmp(argv[2], "--func", 6))
		return kt_func_cmd_list(argc - 2, argv + 2, stdout, stderr);
	if (argc != 3)
		die(2, "usage: kaos-trace list PID|PATH (or list --func PATTERN PID|PATH)");
	if (kt_targets_add_spec(&tg, argv[2], err, sizeof(err)))
		die(1, "%s", err);
	for (int i = 0; i < tg.n; i++) {
		struct kt_usdt_list l;
		int e = kt_usdt_read(tg.v[i].path, &l);

		if (e)
			die(1, "%s: %s", tg.v[i].path, kt_elf_strerror(e));
		if (tg.v[i].pid > 0)
			printf("%s (pid %d)\n", tg.v[i].path, tg.v[i].pid);
		else
			printf("%s\n", tg.v[i].path);
		printf("  %-24s %-18s %-18s %s\n", "PROBE", "ADDRESS", "SEMAPHORE", "ARGUMENTS");
		for (size_t j = 0; j < l.n; j++) {
			char pn[128];

			snprintf(pn, sizeof(pn), "%s:%s", l.probes[j].provider, l.probes[j].name);
			printf("  %-24s 0x%016llx 0x%016llx %s\n", pn,
			       (unsigned long long)l.probes[j].addr,
			       (unsigned long long)l.probes[j].sema_addr, l.probes[j].args);
		}
		kt_usdt_list_free(&l);
	}
	kt_targets_free(&tg);
	return 0;
}

/* ---------------------------------------------------------------- main */

/*
 * At exit, whatever the path (argp's --help exits from inside argp_parse):
 * a report, list or --help that stdout did not take (a full disk,
 * /dev/full) is a failure, never exit 0. _exit: exit() must not be called
 * again from an atexit handler.
 */
static void check_stdout_at_exit(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "kaos-trace: write stdout: %s\n",
			errno ? strerror(errno) : "error");
		_exit(1);
	}
}

/* Checks of the options only this driver has (the engine checks its own). */
static void check_cli_opts(void)
{
	if (opt.fail_on_alert && !opt.nalerts)
		die(2, "--fail-on-alert needs at least one --alert RULE");
	if (opt.alert_log && !opt.nalerts)
		die(2, "--alert-log needs at least one --alert RULE");
	if (opt.timeline_max && !opt.timeline)
		die(2, "--timeline-max-events needs --timeline FILE");
	if (opt.weight_given && !opt.stacks)
		die(2, "--weight needs --stacks or --folded FILE");
	if (opt.off_cpu_min_us >= 0 && !opt.off_cpu)
		die(2, "--off-cpu-min-us needs --off-cpu");
}

static struct kt_engine_opts engine_opts(void)
{
	return (struct kt_engine_opts){
		.pids = opt.pids,
		.npids = opt.npids,
		.paths = opt.paths,
		.npaths = opt.npaths,
		.cmd = opt.cmd,
		.rings = opt.rings,
		.nrings = opt.nrings,
		.sample = opt.sample,
		.budget_pct = opt.budget_pct,
		.stacks = opt.stacks,
		.weight_latency = opt.weight_latency,
		.want_ts = opt.timeline != NULL,
		.ringbuf_bytes = opt.ringbuf_bytes,
		.verbose = opt.verbose,
		.no_calibrate = opt.no_calibrate,
		.probe_cost_ns = opt.probe_cost_ns,
		.allow_nop5 = opt.allow_nop5,
		.profile_hz = opt.profile_hz,
		.pmu = opt.pmu,
		.off_cpu = opt.off_cpu,
		.off_cpu_min_ns = opt.off_cpu_min_us >= 0 ? (uint64_t)opt.off_cpu_min_us * 1000 : 0,
		.funcs = opt.funcs,
		.nfuncs = opt.nfuncs,
		.max_funcs = opt.max_funcs,
		.max_rate = opt.max_rate,
		.no_usdt = opt.no_usdt,
		.note = print_note,
	};
}

/* Before anything is loaded: an output that cannot be written fails first. */
static void open_outputs(struct outputs *out)
{
	if (opt.folded_path && !(out->folded = fopen(opt.folded_path, "w")))
		die(1, "cannot write %s: %s", opt.folded_path, strerror(errno));
	if (opt.json_path && !(out->json = fopen(opt.json_path, "w")))
		die(1, "cannot write %s: %s", opt.json_path, strerror(errno));
}

static void start_engine(void)
{
	char err[1024];
	int rc = kt_engine_start(&engine, err, sizeof(err));

	if (!rc)
		return;
	fprintf(stderr, "kaos-trace: %s\n", err);
	if (engine.bpf_log) {
		kt_session_print_bpf_log(stderr);
		kt_features_explain(stderr);
	}
	exit(rc);
}

static struct kt_oneshot *start_addons(void)
{
	struct kt_oneshot_opts oo = {opt.alerts,       opt.nalerts, opt.alert_log, opt.timeline,
				     opt.timeline_max, print_note,  NULL};
	struct kt_oneshot *o;
	char err[1024];

	if (!opt.nalerts && !opt.timeline)
		return NULL;
	if (!(o = kt_oneshot_start(&engine.s, &oo, err, sizeof(err))))
		die(1, "%s", err);
	return o;
}

static void say_start(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int ntg = engine.targets.n;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed terminal or pipe stops the run too: the sampling is withdrawn on the way out */
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (engine.func)
		kt_func_describe(engine.func, stderr);
	fprintf(stderr,
		"kaos-trace: attached %d probes to %d target%s%s; probe hit costs %.0f ns\n",
		kt_session_nlinks(&engine.s) + kt_func_nlinks(engine.func), ntg,
		ntg == 1 ? "" : "s", opt.duration_s > 0 ? "" : " (Ctrl-C to stop)",
		engine.s.hit_ns);
	fprintf(stderr, "kaos-trace: scope: %s\n", engine.scope);
	say_sampling(&engine.s);
}

/* Polls until the duration, a signal, or every traced process exited. 0 or 1. */
static int run(struct outputs *out, struct kt_oneshot *extras)
{
	uint64_t start = engine.s.t_start;
	uint64_t end = opt.duration_s > 0 ? start + (uint64_t)(opt.duration_s * 1e9) : 0;
	uint64_t iv_ns = opt.interval_s > 0 ? (uint64_t)(opt.interval_s * 1e9) : 0;

	while (!stop_signal) {
		int e = kt_engine_poll(&engine, 50);

		if (e < 0) {
			fprintf(stderr, "kaos-trace: ring buffer poll failed: %s\n", strerror(-e));
			return 1;
		}
		uint64_t now = kt_now_ns(CLOCK_MONOTONIC);
		int done = kt_engine_tick(&engine, now);

		if (iv_ns && now - engine.t_iv >= iv_ns)
			report(out, false);
		if (extras)
			kt_oneshot_tick(extras, now);
		if (done || (end && now >= end))
			break;
	}
	return 0;
}

/* The folded stacks to --folded FILE or stdout. 0 or 1. */
static int write_folded(struct outputs *out)
{
	int rc = 0, nst;

	if (!engine.s.folded)
		return 0;
	nst = kt_folded_write(engine.s.folded, out->folded ? out->folded : stdout,
			      KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, kt_folded_sym_kt,
			      engine.s.sym);
	if (nst < 0) {
		fprintf(stderr, "kaos-trace: writing folded stacks failed: %s\n", strerror(-nst));
		rc = 1;
	}
	if (!out->folded)
		return rc;
	if (fclose(out->folded) != 0) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n", opt.folded_path,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "kaos-trace: wrote %d folded stacks to %s\n", nst, opt.folded_path);
	return rc;
}

/* After the loop: stop, final report and outputs; the exit status. */
static int finish(struct outputs *out, struct kt_oneshot *extras, int rc)
{
	if (kt_engine_stop(&engine))
		rc = 1;
	report(out, true);
	if (engine.offcpu && kt_offcpu_finish(engine.offcpu, engine.s.folded, stdout, stderr) < 0)
		rc = 1;
	struct kt_run_outcome outcome = {.command_status = -1};

	if (extras) {
		int unmatched, fired = kt_oneshot_finish(extras, &unmatched);

		rc = fired < 0 ? 1 : rc;
		outcome.alert_fired = fired > 0 && opt.fail_on_alert;
		outcome.alert_unmatched = unmatched > 0;
	}
	if (write_folded(out))
		rc = 1;
	if (out->json && (fclose(out->json) != 0 || out->json_errno)) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n", opt.json_path,
			strerror(out->json_errno ? out->json_errno : errno));
		rc = 1;
	}
	/* a command stopped early is let finish: its status comes first (kt_gate.h) */
	outcome.command_status = kt_engine_close(&engine, true);
	outcome.failed = rc != 0;
	return kt_exit_status(&outcome);
}

/* A tracing run: the engine, its outputs, the loop. */
static int trace(void)
{
	struct kt_engine_opts eo = engine_opts();
	struct outputs out = {0};
	struct kt_oneshot *extras;
	char err[1024];
	int rc;

	atexit(release_sampling_at_exit); /* die() after a request leaves nothing behind */
	if ((rc = kt_engine_open(&engine, &eo, err, sizeof(err))))
		die(rc, "%s", err);
	open_outputs(&out);
	start_engine();
	extras = start_addons();
	say_start();
	if (kt_engine_resume_command(&engine, err, sizeof(err)))
		die(1, "%s", err);
	rc = run(&out, extras);
	return finish(&out, extras, rc);
}

int main(int argc, char **argv)
{
	/* the options shared with `kaos-trace daemon`: one table (kt_engine.h) */
	static const struct argp engine_argp = {
		kt_engine_argp_options, parse_opt, NULL, NULL, NULL, NULL, NULL};
	static const struct argp_child children[] = {
		{&engine_argp, 0,
		 "Targets, collectors and sampling (as in `kaos-trace daemon`):", 0},
		{}};
	static const struct argp argp = {options, parse_opt, args_doc, doc, children, NULL, NULL};
	char version[128];

	/* argp prints it for --version, here and in `kaos-trace daemon` */
	snprintf(version, sizeof(version), "kaos-trace %s", kt_version());
	argp_program_version = version;
	atexit(check_stdout_at_exit);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return cmd_list(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "daemon")) {
		argv[1] = (char *)"kaos-trace daemon"; /* argp's name in its usage and errors */
		return kt_daemon_main(argc - 1, argv + 1);
	}
	if (argc >= 2 && !strcmp(argv[1], "features")) {
		if (argc != 2)
			die(2, "usage: kaos-trace features");
		return kt_features_cmd();
	}
	if (argc >= 2 && !strcmp(argv[1], "pmu")) {
		if (argc != 3 || strcmp(argv[2], "list"))
			die(2, "usage: kaos-trace pmu list");
		return kt_pmu_list(stdout) ? 1 : 0;
	}
	argv[0] = (char *)"kaos-trace"; /* getopt's error lines start with it */
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	check_cli_opts();
	return trace();
}
