// SPDX-License-Identifier: MIT
/*
 * kaos-trace: traces libkaos' USDT probes (send, recv, backpressure,
 * retransmit, ring_close) with BPF and prints latency summaries.
 *
 *   kaos-trace -p PID [-p PID...] [-b PATH...] [-d SEC] [-i SEC] ...
 *   kaos-trace [OPTIONS] -- COMMAND [ARG...]
 *   kaos-trace -p PID|-b PATH --func '[LIB:]GLOB' ...   (plain uprobes, user/collectors/kt_func*.c)
 *   kaos-trace list PID|PATH
 *   kaos-trace list --func PATTERN PID|PATH
 *   kaos-trace pmu list
 *   kaos-trace daemon ...                               (user/daemon/kt_daemon.c)
 *   kaos-trace top ...                                  (user/top/kt_top.c)
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
#include "kt_phase.h"
#include "kt_addons.h"
#include "kt_agg.h"
#include "kt_args.h"
#include "kt_compare.h"
#include "kt_diff_cmd.h"
#include "kt_daemon.h"
#include "kt_elf.h"
#include "kt_engine.h"
#include "kt_event.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_pprof.h"
#include "kt_func.h"
#include "kt_gate.h"
#include "kt_offcpu.h"
#include "kt_alloc.h"
#include "kt_alloc_abi.h"
#include "kt_outfile.h"
#include "kt_pmu.h"
#include "kt_profile.h"
#include "kt_report.h"
#include "kt_rule.h"
#include "kt_session.h"
#include "kt_target.h"
#include "kt_timeline.h"
#include "kt_top.h"
#include "kt_units.h"
#include "kt_usdt.h"
#include "kt_version.h"

#define MAX_TARGETS	64
#define MAX_RING_FILTER KT_RING_FILTER_MAX

struct options {
	pid_t pids[MAX_TARGETS];
	int npids;
	const char *paths[MAX_TARGETS];
	int npaths;
	uint32_t rings[MAX_RING_FILTER]; /* -r ID */
	int nrings;
	const char *ring_names[MAX_RING_FILTER]; /* -r NAME */
	int nring_names;
	double duration_s;
	double interval_s;
	uint32_t sample;
	double budget_pct;
	bool stacks;
	const char *folded_path;
	const char *pprof_path; /* --pprof FILE (kt_pprof.h) */
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
	long long off_cpu_min_ns; /* --off-cpu-min-us; -1: not given (1 us) */
	bool alloc;		  /* --alloc: heap profiling (kt_alloc) */
	const char *alloc_lib;	  /* --alloc-lib */
	uint64_t alloc_short_ns;  /* --alloc-short (0: not given) */
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
	const char *timeline_mode; /* "first" (default) or "last" */
	uint64_t timeline_last_ns; /* --timeline-last: implies mode last */
};

static struct options opt = {
	.off_cpu_min_ns = -1,
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

static volatile sig_atomic_t timeline_asked; /* SIGUSR1: write the timeline now */

static void on_timeline_signal(int sig)
{
	(void)sig;
	timeline_asked = 1;
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

/* ---------------------------------------------------------------- CLI */

enum {
	OPT_STACKS = 1000,
	OPT_FOLDED,
	OPT_PPROF,
	OPT_WEIGHT,
	OPT_JSON,
	OPT_RINGBUF,
	OPT_NO_CALIBRATE,
	OPT_ALERT,
	OPT_ALERT_LOG,
	OPT_FAIL_ON_ALERT,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX,
	OPT_TIMELINE_MODE,
	OPT_TIMELINE_LAST,
};

static const char args_doc[] = "[-- COMMAND [ARG...]]";

static const char doc[] =
	"Trace libkaos rings: send/recv latency, sojourn, backpressure, retransmits.\v"
	"Examples:\n"
	"  kaos-trace -p 1234 -d 10            trace one process for 10 s (also -d 500ms, 2m)\n"
	"  kaos-trace -b build/libkaos.so -i 1 every process using the library\n"
	"  kaos-trace -b ./app -i 1           the processes of ./app only (and their children)\n"
	"  kaos-trace -p 1234 --stacks --folded out.folded --weight latency\n"
	"  kaos-trace -H -- ./app --flag       start ./app, trace it until it exits\n"
	"  kaos-trace -p 1234 -r orders -r 3   only the ring named orders and ring id 3\n"
	"  kaos-trace -p 1234 -d 5 --json - | jq .   JSON lines on stdout (the report: stderr)\n"
	"  kaos-trace list 1234                list the probes of a process\n"
	"  kaos-trace -p 1234 --func 'libkaos.so:kaos_ring_*'  time functions (uprobes)\n"
	"  kaos-trace list --func 'compress_*' ./pipeline      what --func would probe\n"
	"  kaos-trace -b build/libkaos.so -d 30 --alert 'send.p99 > 1us' \\\n"
	"      --fail-on-alert                 a CI gate: exit 3 if it fired\n"
	"  kaos-trace daemon --help            run as a service (docs/daemon.md)\n"
	"\nDurations take a unit (250us, 500ms, 2s, 1m, 1h); a bare number is seconds for -d "
	"and -i, microseconds for --off-cpu-min-us, ns for --probe-cost. FILE \"-\" is "
	"stdout (then the text report goes to stderr). Commands: list, features, pmu, "
	"daemon (each takes --help).\n";

static const struct argp_option options[] = {
	{"pid", 'p', "PID", 0, "Trace this process (repeatable)", 0},
	{"duration", 'd', "DURATION", 0, "Stop after DURATION (2s, 500ms, 1m; bare: seconds)", 0},
	{"interval", 'i', "DURATION", 0, "Print a summary every DURATION (bare: seconds)", 0},
	{"ring", 'r', "ID|NAME", 0,
	 "Only this ring (repeatable): ids alone are filtered in the kernel, names (and ids "
	 "beside them) by kaos-trace as events arrive, the others' events counted as dropped",
	 0},
	{"stacks", OPT_STACKS, NULL, 0, "Capture user stacks with each event", 0},
	{"folded", OPT_FOLDED, "FILE", 0,
	 "Write folded stacks for flamegraph.pl (implies --stacks; - is stdout)", 0},
	{"pprof", OPT_PPROF, "FILE", 0,
	 "Write the stacks as a pprof profile (gzip'd profile.proto; implies --stacks; - is "
	 "stdout)",
	 0},
	{"weight", OPT_WEIGHT, "count|latency", 0, "Folded stack weight (default count)", 0},
	{"json", OPT_JSON, "FILE", 0,
	 "Write one JSON summary line per interval to FILE (- is stdout)", 0},
	{"hist", 'H', NULL, 0, "Print ASCII latency histograms", 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0,
	 "BPF ring buffer size (power of two, >= 4096, e.g. 4M; default 2M)", 0},
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
	{"timeline", OPT_TIMELINE, "FILE", 0,
	 "Write events as Chrome/Perfetto trace JSON (- is stdout)", 0},
	{"timeline-max-events", OPT_TIMELINE_MAX, "N", 0,
	 "Timeline events held in memory, 64 bytes each (default " KT_STR(
		 KT_TIMELINE_DEFAULT_MAX) ")",
	 0},
	{"timeline-mode", OPT_TIMELINE_MODE, "first|last", 0,
	 "Keep the first events (default) or the newest (flight recorder)", 0},
	{"timeline-last", OPT_TIMELINE_LAST, "DURATION", 0,
	 "Flight recorder: keep the last DURATION of events (10s; bare: seconds)", 0},
	{NULL, 'h', NULL, 0, "Give this help list (as -?, --help)", -1},
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

/* A duration option: with a unit (kt_units.h), or a bare number in bare_unit. */
static uint64_t parse_duration_opt(const char *s, const char *what, uint64_t bare_unit,
				   uint64_t min_ns, uint64_t max_ns)
{
	const char *bare = bare_unit == KT_NS_PER_S    ? "a number of seconds, or "
			   : bare_unit == KT_NS_PER_US ? "a number of microseconds, or "
						       : "";
	char b[32];
	uint64_t ns;
	int e = kt_parse_duration_in(s, bare_unit, &ns);

	if (e == -EINVAL)
		die(2, "invalid %s '%s' (%sa number with a unit: 250us, 500ms, 2s, 1m, 1h)", what,
		    s, bare);
	if (e || ns > max_ns)
		die(2, "invalid %s '%s' (at most %s)", what, s,
		    kt_fmt_duration(b, sizeof(b), max_ns));
	if (ns < min_ns)
		die(2, "invalid %s '%s' (at least %s)", what, s,
		    kt_fmt_duration(b, sizeof(b), min_ns));
	return ns;
}

/* --probe-cost: a bare number is fractional ns (as before), a duration is rounded to 1 ns. */
static double parse_probe_cost(const char *s)
{
	size_t len = strlen(s);
	uint64_t ns;

	if (!len || (s[len - 1] >= '0' && s[len - 1] <= '9'))
		return parse_double(s, "probe cost", 0.001, 1e9);
	ns = parse_duration_opt(s, "probe cost", 0, 1, KT_NS_PER_S);
	return (double)ns;
}

static void add_ring_filter(const char *arg)
{
	char msg[256];
	uint32_t id;
	bool is_id;

	if (opt.nrings + opt.nring_names == MAX_RING_FILTER)
		die(2, "too many -r (max %d)", MAX_RING_FILTER);
	if (kt_args_ring(arg, &is_id, &id, msg, sizeof(msg)))
		die(2, "%s", msg);
	if (is_id)
		opt.rings[opt.nrings++] = id;
	else
		opt.ring_names[opt.nring_names++] = arg;
}

/* Set by main before parsing: the word after the first "--", the command to run. */
static const char *command_word;

/* What to trace, for how long, which rings: -p -b -d -i -r, the command. */
static error_t parse_target_opt(int key, char *arg, struct argp_state *state)
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
		opt.duration_s =
			(double)parse_duration_opt(arg, "duration", KT_NS_PER_S, KT_NS_PER_MS,
						   1000000000 * KT_NS_PER_S) /
			1e9;
		break;
	case 'i':
		opt.interval_s =
			(double)parse_duration_opt(arg, "interval", KT_NS_PER_S, 10 * KT_NS_PER_MS,
						   1000000000 * KT_NS_PER_S) /
			1e9;
		break;
	case 'r':
		add_ring_filter(arg);
		break;
	case ARGP_KEY_ARG:
		/* Only the words after "--" are a command: a bare word is a typo or a missing -- */
		if (arg != command_word)
			die(2,
			    "unexpected argument '%s': to trace a command, put -- before it "
			    "(kaos-trace [OPTIONS] -- %s ...)",
			    arg, arg);
		opt.cmd = &state->argv[state->next - 1];
		state->next = state->argc;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Sampling and probe cost: --sample --budget --ringbuf-size --probe-cost --no-calibrate. */
static error_t parse_cost_opt(int key, char *arg)
{
	switch (key) {
	case KT_OPT_SAMPLE:
		opt.sample = (uint32_t)parse_ull(arg, "sample period", 1, 1u << 30);
		break;
	case KT_OPT_BUDGET:
		if (kt_parse_percent(arg, &opt.budget_pct) || opt.budget_pct < 0.0001 ||
		    opt.budget_pct > 100)
			die(2, "invalid budget '%s' (a percentage 0.0001..100, e.g. 1 or 0.5%%)",
			    arg);
		break;
	case OPT_RINGBUF:
		if (kt_parse_size(arg, &opt.ringbuf_bytes) || opt.ringbuf_bytes < 4096 ||
		    opt.ringbuf_bytes > (1ull << 30) ||
		    (opt.ringbuf_bytes & (opt.ringbuf_bytes - 1)))
			die(2, "invalid ring buffer size '%s' (a power of two, 4K..1G)", arg);
		break;
	case KT_OPT_ALLOW_NOP5:
		opt.allow_nop5 = true;
		break;
	case OPT_NO_CALIBRATE:
		opt.no_calibrate = true;
		break;
	case KT_OPT_PROBE_COST:
		opt.probe_cost_ns = parse_probe_cost(arg);
		break;
	case 'v':
		opt.verbose = true;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Outputs: --stacks --folded --weight --json -H --timeline and the alerts. */
static error_t parse_output_opt(int key, char *arg)
{
	switch (key) {
	case OPT_STACKS:
		opt.stacks = true;
		break;
	case OPT_FOLDED:
		opt.folded_path = arg;
		opt.stacks = true;
		break;
	case OPT_PPROF:
		opt.pprof_path = arg;
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
	case OPT_TIMELINE:
		opt.timeline = arg;
		break;
	case OPT_TIMELINE_MAX:
		opt.timeline_max = parse_ull(arg, "timeline cap", 1, 100000000);
		break;
	case OPT_TIMELINE_MODE:
		if (strcmp(arg, "first") && strcmp(arg, "last"))
			die(2, "--timeline-mode: expected first or last, got '%s'", arg);
		opt.timeline_mode = arg;
		break;
	case OPT_TIMELINE_LAST:
		opt.timeline_last_ns = parse_duration_opt(arg, "--timeline-last", KT_NS_PER_S, 1,
							  86400 * KT_NS_PER_S);
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
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* Collectors: --profile --pmu --off-cpu --func and theirs. */
static error_t parse_collector_opt(int key, char *arg)
{
	switch (key) {
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
		opt.off_cpu_min_ns = (long long)parse_duration_opt(
			arg, "--off-cpu-min-us", KT_NS_PER_US, 0, 60 * KT_NS_PER_S);
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
	case KT_OPT_ALLOC:
		opt.alloc = true;
		break;
	case KT_OPT_ALLOC_LIB:
		opt.alloc_lib = arg;
		break;
	case KT_OPT_ALLOC_SHORT:
		opt.alloc_short_ns = parse_duration_opt(arg, "--alloc-short", KT_NS_PER_US, 1,
							3600 * KT_NS_PER_S);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	error_t e;

	if (key == ARGP_KEY_INIT) {
		/* getopt's own line names a bad option; argp's "Try --help" would be a second */
		state->err_stream = NULL;
		return 0;
	}
	if (key == 'h')
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP); /* exits 0, as -? does */
	if ((e = parse_target_opt(key, arg, state)) != ARGP_ERR_UNKNOWN ||
	    (e = parse_cost_opt(key, arg)) != ARGP_ERR_UNKNOWN ||
	    (e = parse_output_opt(key, arg)) != ARGP_ERR_UNKNOWN)
		return e;
	return parse_collector_opt(key, arg);
}

/* --timeline-mode last, or --timeline-last: a flight recorder. */
static bool timeline_keeps_last(void)
{
	return opt.timeline_last_ns || (opt.timeline_mode && !strcmp(opt.timeline_mode, "last"));
}

/* What --timeline keeps and what that may cost, said once at start. */
static void say_timeline(void)
{
	struct kt_timeline_opts to = {.max_events = opt.timeline_max};
	bool last = timeline_keeps_last();
	char span[64] = "";

	if (opt.timeline_last_ns)
		snprintf(span, sizeof(span), " of the last %.3g s", opt.timeline_last_ns / 1e9);
	fprintf(stderr,
		"kaos-trace: timeline %s: holding the %s %llu events%s in memory (at most %.1f "
		"MiB); written at exit%s%s\n",
		kt_outfile_name(opt.timeline), last ? "newest" : "first",
		(unsigned long long)(opt.timeline_max ? opt.timeline_max : KT_TIMELINE_DEFAULT_MAX),
		span, (double)kt_timeline_mem_bytes(&to) / (1 << 20),
		strcmp(opt.timeline, "-") ? " and on SIGUSR1" : "",
		opt.nalerts && strcmp(opt.timeline, "-") ? " and when an alert fires" : "");
}

/* ---------------------------------------------------------------- state */

/* The outputs of a run: views of the engine's snapshots. */
struct outputs {
	FILE *json;
	int json_errno;		    /* first --json write error */
	FILE *folded;		    /* --folded FILE; NULL: stdout */
	struct kt_pprof_file pprof; /* --pprof FILE */
	FILE *report_out;	    /* the text report: stdout, or stderr when an output takes it */
};

/* The final JSON's collector objects: "off_cpu" and "alloc" (collected there, reused after). */
static int json_collectors(struct kt_json *w, void *ctx)
{
	int e = 0;

	(void)ctx;
	if (engine.offcpu)
		e = kt_offcpu_json(w, engine.offcpu);
	if (!e && engine.alloc)
		e = kt_alloc_json(w, engine.alloc);
	return e;
}

/* errno of the first failed write of a report to stdout (0: none) */
static int stdout_errno;

static void report(struct outputs *out, bool final)
{
	struct kt_snapshot snap;

	kt_engine_snapshot(&engine, &snap);
	snap.tot.final = final;
	if (final && out->json && (engine.offcpu || engine.alloc))
		snap.tot.json_extra = json_collectors;
	if (final && out->json && engine.alloc) {
		snap.tot.json_proc_extra = kt_alloc_json_proc;
		snap.tot.json_proc_extra_ctx = engine.alloc;
	}
	if (!final && out->json && engine.alloc) {
		/* each interval: the heap now (the kernel's live sums) */
		snap.tot.json_extra = kt_alloc_json_interval;
		snap.tot.json_extra_ctx = engine.alloc;
	}
	kt_report_text(out->report_out, snap.agg, &snap.tot, opt.hist, !final);
	if (out->json) {
		kt_report_json(out->json, snap.agg, &snap.tot, !final);
		/* each line is flushed: keep the first write error for the exit status */
		if (ferror(out->json) && !out->json_errno)
			out->json_errno = errno ? errno : EIO;
	}
	/* the first failed write's errno, before later calls overwrite it (exit says it) */
	if (fflush(out->report_out) && out->report_out == stdout && !stdout_errno)
		stdout_errno = errno ? errno : EIO;
	if (!final)
		kt_engine_interval_reset(&engine, snap.now_ns);
}

/* -r NAME that matched no ring by the end of the run: one line naming them. */
static void warn_unmatched_rings(const struct kt_ring_filter *f)
{
	char names[512] = "";
	int n = 0;

	for (int i = 0; i < f->nnames; i++)
		if (!(f->matched & (1ull << i))) {
			size_t len = strlen(names);

			snprintf(names + len, sizeof(names) - len, "%s'%s'", n ? ", " : "",
				 f->names[i]);
			n++;
		}
	if (n)
		fprintf(stderr,
			"kaos-trace: warning: -r %s matched no ring of the traced processes\n",
			names);
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

/* The word after the first "--": the command to run (NULL: none). */
static const char *first_after_dashdash(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			return i + 1 < argc ? argv[i + 1] : NULL;
	return NULL;
}

/*
 * kaos-trace WORD ...: a subcommand (each takes -h/--help and --version),
 * or an error: a word before any option is never a program to run.
 */
static int run_subcommand(int argc, char **argv)
{
	enum kt_subcmd c = kt_args_subcmd(argv[1]);
	char msg[512], exe[PATH_MAX], err[512];

	if (c == KT_SUBCMD_NONE) {
		bool program = strchr(argv[1], '/') || !kt_engine_which(argv[1], exe, sizeof(exe));

		kt_args_unknown_cmd(argv[1], program, msg, sizeof(msg));
		die(2, "%s", msg);
	}
	if (c == KT_SUBCMD_DAEMON) {
		argv[1] = (char *)"kaos-trace daemon"; /* argp's name in its usage and errors */
		return kt_daemon_main(argc - 1, argv + 1);
	}
	if (c == KT_SUBCMD_TOP) {
		argv[1] = (char *)"kaos-trace top";
		return kt_top_main(argc - 1, argv + 1);
	}
	switch (kt_args_asks(argc - 1, argv + 1)) {
	case KT_ARGS_HELP:
		fputs(kt_args_usage(c), stdout);
		return 0;
	case KT_ARGS_VERSION:
		printf("%s\n", argp_program_version);
		return 0;
	case KT_ARGS_RUN:
		break;
	}
	if (c == KT_SUBCMD_DIFF) {
		int status = kt_diff_cmd(argc, argv, stdout, msg, sizeof(msg));

		if (msg[0])
			fprintf(stderr, "kaos-trace: %s\n", msg);
		return status;
	}
	if (c == KT_SUBCMD_COMPARE) {
		int status = kt_compare_cmd(argc, argv, stdout, msg, sizeof(msg));

		if (msg[0])
			fprintf(stderr, "kaos-trace: %s\n", msg);
		return status;
	}
	if (c == KT_SUBCMD_LIST)
		return cmd_list(argc, argv);
	if (c == KT_SUBCMD_FEATURES) {
		if (argc != 2)
			die(2, "usage: kaos-trace features");
		return kt_features_cmd(stdout);
	}
	if (argc != 3 || strcmp(argv[2], "list"))
		die(2, "usage: kaos-trace pmu list");
	if (kt_pmu_list(stdout, err, sizeof(err)))
		die(1, "%s", err);
	return 0;
}

/*
 * At exit, whatever the path (argp's --help exits from inside argp_parse):
 * a report, list or --help that stdout did not take (a full disk,
 * /dev/full) is a failure, never exit 0. _exit: exit() must not be called
 * again from an atexit handler.
 */
/* The library's notes and warnings: one line each on stderr. */
static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "kaos-trace: %s\n", line);
}

/* -v: libbpf's lines as they come (each ends in its newline). */
static void print_raw(const char *line)
{
	fputs(line, stderr);
}

static void print_note(void *ctx, bool warning, const char *line)
{
	(void)warning;
	print_line(ctx, line);
}

static void check_stdout_at_exit(void)
{
	int failed = fflush(stdout) != 0 || ferror(stdout);

	if (failed && stdout_errno)
		errno = stdout_errno; /* the write that failed, not what ran since */
	if (failed) {
		fprintf(stderr, "kaos-trace: write stdout: %s\n",
			errno ? strerror(errno) : "error");
		_exit(1);
	}
}

/* Checks of the options only this driver has (the engine checks its own first). */
static void check_cli_opts(void)
{
	if (opt.fail_on_alert && !opt.nalerts)
		die(2, "--fail-on-alert needs at least one --alert RULE");
	if (opt.alert_log && !opt.nalerts)
		die(2, "--alert-log needs at least one --alert RULE");
	if ((opt.timeline_max || opt.timeline_mode || opt.timeline_last_ns) && !opt.timeline)
		die(2, "%s needs --timeline FILE",
		    opt.timeline_max	? "--timeline-max-events"
		    : opt.timeline_mode ? "--timeline-mode"
					: "--timeline-last");
	if (opt.timeline_last_ns && opt.timeline_mode && !strcmp(opt.timeline_mode, "first"))
		die(2, "--timeline-last keeps the newest events: not with --timeline-mode first");
	if (opt.weight_given && !opt.stacks)
		die(2, "--weight needs --stacks or --folded FILE");
	if (opt.off_cpu_min_ns >= 0 && !opt.off_cpu)
		die(2, "--off-cpu-min-us needs --off-cpu");
}

static struct kt_engine_opts engine_opts(bool out_stdout)
{
	return (struct kt_engine_opts){
		.pids = opt.pids,
		.npids = opt.npids,
		.paths = opt.paths,
		.npaths = opt.npaths,
		.cmd = opt.cmd,
		.rings = opt.rings,
		.nrings = opt.nrings,
		.ring_names = opt.ring_names,
		.nring_names = opt.nring_names,
		.sample = opt.sample,
		.budget_pct = opt.budget_pct,
		.stacks = opt.stacks,
		/* --pprof has counts and latencies: the folded stacks count adds (events) */
		.weight_latency = opt.weight_latency || opt.pprof_path,
		.want_ts = opt.timeline != NULL,
		.ringbuf_bytes = opt.ringbuf_bytes,
		.bpf_log = opt.verbose ? print_raw : NULL,
		.no_calibrate = opt.no_calibrate,
		.probe_cost_ns = opt.probe_cost_ns,
		.allow_nop5 = opt.allow_nop5,
		.profile_hz = opt.profile_hz,
		.pmu = opt.pmu,
		.off_cpu = opt.off_cpu,
		.off_cpu_min_ns = opt.off_cpu_min_ns >= 0 ? (uint64_t)opt.off_cpu_min_ns : 0,
		.funcs = opt.funcs,
		.nfuncs = opt.nfuncs,
		.max_funcs = opt.max_funcs,
		.max_rate = opt.max_rate,
		.no_usdt = opt.no_usdt,
		.alloc = opt.alloc,
		.alloc_lib = opt.alloc_lib,
		.alloc_short_ns = opt.alloc_short_ns,
		.command_stdout_to_stderr = out_stdout,
		.note = print_note,
	};
}

/* Before anything is loaded: an output that cannot be written fails first. */
static void open_outputs(struct outputs *out)
{
	if (opt.folded_path && !(out->folded = kt_outfile_open(opt.folded_path)))
		die(1, "cannot write %s: %s", kt_outfile_name(opt.folded_path), strerror(errno));
	if (opt.json_path && !(out->json = kt_outfile_open(opt.json_path)))
		die(1, "cannot write %s: %s", kt_outfile_name(opt.json_path), strerror(errno));
	int e = opt.pprof_path ? kt_pprof_file_open(&out->pprof, opt.pprof_path) : 0;

	if (e)
		die(1, "cannot write %s: %s", kt_outfile_name(opt.pprof_path), strerror(-e));
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
	struct kt_oneshot_opts oo = {.rules = opt.alerts,
				     .nrules = opt.nalerts,
				     .alert_log = opt.alert_log,
				     .timeline = opt.timeline,
				     .timeline_max = opt.timeline_max,
				     .timeline_keep_last = timeline_keeps_last(),
				     .timeline_last_ns = opt.timeline_last_ns,
				     .note = print_note};
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
	if (opt.timeline) {
		struct sigaction su = {.sa_handler = on_timeline_signal};

		sigaction(SIGUSR1, &su, NULL);
	}
	if (engine.func)
		kt_func_describe(engine.func, print_note, NULL);
	fprintf(stderr,
		"kaos-trace: attached %d probes to %d target%s%s; probe hit costs %.0f ns%s\n",
		kt_session_nlinks(&engine.s) + kt_func_nlinks(engine.func), ntg,
		ntg == 1 ? "" : "s", opt.duration_s > 0 ? "" : " (Ctrl-C to stop)", engine.s.hit_ns,
		engine.s.hit_cached ? " (measured earlier this boot, /run/kaos-trace)" : "");
	kt_phase("attached line");
	kt_phase_print(stderr);
	fprintf(stderr, "kaos-trace: scope: %s\n", engine.scope);
	say_sampling(&engine.s);
	if (opt.timeline)
		say_timeline();
}

/* --alloc with --timeline: the heap bytes of each process, sampled this often as a counter track.
 */
#define HEAP_SAMPLE_NS (100 * KT_NS_PER_MS)

static void sample_heap(struct kt_oneshot *extras, uint64_t now, bool at_end)
{
	struct kt_timeline *tl = kt_oneshot_timeline(extras);
	struct kt_alloc_live *heap;
	int n;

	if (!tl || !engine.alloc)
		return;
	/* at the end, the exited processes too: their heap at exit (the leaks) */
	n = kt_alloc_live_procs(engine.alloc, at_end, &heap); /* -ENOMEM: this sample is skipped */
	for (int i = 0; i < n; i++)
		kt_timeline_add_counter(tl, "heap_bytes", heap[i].pid, now, heap[i].cur_bytes);
	free(heap);
}

/* Polls until the duration, a signal, or every traced process exited. 0 or 1. */
static int run(struct outputs *out, struct kt_oneshot *extras)
{
	uint64_t start = engine.s.t_start;
	uint64_t end = opt.duration_s > 0 ? start + (uint64_t)(opt.duration_s * 1e9) : 0;
	uint64_t iv_ns = opt.interval_s > 0 ? (uint64_t)(opt.interval_s * 1e9) : 0;
	uint64_t next_heap = 0;

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
		if (now >= next_heap) {
			sample_heap(extras, now, false);
			next_heap = now + HEAP_SAMPLE_NS;
		}
		if (timeline_asked) {
			timeline_asked = 0;
			kt_oneshot_write_timeline(extras, "SIGUSR1");
		}
		if (done || (end && now >= end))
			break;
	}
	return 0;
}

/* --pprof: the stacks gathered (kt_folded) as a profile. 0 or 1, said on stderr. */
static int write_pprof(struct kt_pprof_file *pf)
{
	uint64_t span = kt_now_ns(CLOCK_MONOTONIC) - engine.s.t_start;
	struct kt_pprof_opts po = {
		.cpu_period_ns = opt.profile_hz ? 1000000000ull / opt.profile_hz : 0,
		.weight_latency = true, /* with --pprof the session weighs by latency */
		.time_ns = (int64_t)(kt_now_ns(CLOCK_REALTIME) - span),
		.duration_ns = (int64_t)span,
	};
	void *buf = NULL;
	size_t len = 0;
	int e = -ENODATA;

	if (engine.s.folded)
		e = kt_pprof_build(engine.s.folded, &po, kt_pprof_sym_kt, engine.s.sym, &buf, &len);
	if (e) {
		kt_pprof_file_abort(pf);
		fprintf(stderr, "kaos-trace: writing the pprof profile failed: %s\n", strerror(-e));
		return 1;
	}
	e = kt_pprof_file_commit(pf, buf, len);
	free(buf);
	if (e)
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n",
			kt_outfile_name(opt.pprof_path), strerror(-e));
	else
		fprintf(stderr, "kaos-trace: wrote a pprof profile (%zu bytes) to %s\n", len,
			kt_outfile_name(opt.pprof_path));
	return e ? 1 : 0;
}

/* The folded stacks to --folded FILE or stdout. 0 or 1. */
static int write_folded(struct outputs *out)
{
	unsigned int flags = KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM;
	const char *name;
	int rc = 0, nst;

	if (!engine.s.folded || (opt.pprof_path && !out->folded))
		return 0; /* with --pprof, folded stacks only to a --folded FILE */
	name = opt.folded_path ? kt_outfile_name(opt.folded_path) : "stdout";
	/* --pprof made the weights latencies: count events, as --weight said */
	if (opt.pprof_path && !opt.weight_latency)
		flags |= KT_FOLDED_WEIGHT_ADDS;
	nst = kt_folded_write(engine.s.folded, out->folded ? out->folded : stdout, flags,
			      kt_folded_sym_kt, engine.s.sym);
	if (nst < 0) {
		fprintf(stderr, "kaos-trace: writing folded stacks failed: %s\n", strerror(-nst));
		rc = 1;
	}
	if (!out->folded)
		return rc;
	if (fclose(out->folded) != 0) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n", name, strerror(errno));
		return 1;
	}
	fprintf(stderr, "kaos-trace: wrote %d folded stacks to %s\n", nst, name);
	return rc;
}

/* After the loop: stop, final report and outputs; the exit status (kt_gate.h). */
/* --off-cpu's end of run: its stacks into the report, its counters on stderr. 0 or -errno. */
static int offcpu_finish(FILE *report_out)
{
	struct kt_offcpu *o = engine.offcpu;
	uint64_t min_ns = kt_offcpu_min_block_ns(o);
	struct kt_offcpu_stats st;
	char b1[32], b2[32];
	int n = kt_offcpu_finish(o, engine.s.folded, &st), e = 0;

	if (n >= 0)
		e = kt_offcpu_data_print(kt_offcpu_data(o), report_out, 10, min_ns,
					 engine.s.sym ? kt_folded_sym_kt : NULL, engine.s.sym);
	fprintf(stderr,
		"kaos-trace: off-cpu: %llu blocks >= %s (%llu still blocked at the end), %llu "
		"shorter skipped, %llu without a user stack, %llu lost (%s), %llu not timed%s\n",
		(unsigned long long)st.blocks, kt_fmt_ns(b1, sizeof(b1), min_ns),
		(unsigned long long)st.in_progress, (unsigned long long)st.short_blocks,
		(unsigned long long)st.stack_err, (unsigned long long)st.lost,
		kt_fmt_ns(b2, sizeof(b2), st.lost_ns), (unsigned long long)st.start_lost,
		n < 0 ? ": collecting them failed" : "");
	return n < 0 ? n : e;
}

/* --alloc's end of run: its report, its drop counters on stderr. 0 or -errno. */
static int alloc_finish(FILE *report_out)
{
	struct kt_alloc_stats st;
	int n = kt_alloc_finish(engine.alloc, engine.s.folded, &st), e = 0;

	if (n >= 0)
		e = kt_alloc_data_print(kt_alloc_data(engine.alloc), &st, report_out, 10,
					engine.s.sym ? kt_folded_sym_kt : NULL, engine.s.sym);
	fprintf(stderr,
		"kaos-trace: alloc: %llu calls lost, %llu blocks untracked, %llu calls not "
		"charged to a stack, %llu without a user stack, %llu never seen returning, %llu "
		"processes untracked%s%s\n",
		(unsigned long long)st.call_lost, (unsigned long long)st.block_lost,
		(unsigned long long)st.site_lost, (unsigned long long)st.stack_err,
		(unsigned long long)st.stale, (unsigned long long)st.procs_untracked,
		kt_alloc_stats_dropped(&st) ? ": the figures are lower bounds" : "",
		n < 0 ? ": collecting them failed" : "");
	return n < 0 ? n : e;
}

static int finish(struct outputs *out, struct kt_oneshot *extras, int rc)
{
	struct kt_run_outcome outcome = {.command_status = -1};

	if (kt_engine_stop(&engine))
		rc = 1;
	report(out, true);
	if (opt.nring_names)
		warn_unmatched_rings(&engine.ring_filter);
	if (engine.offcpu && offcpu_finish(out->report_out) < 0)
		rc = 1;
	sample_heap(extras, kt_now_ns(CLOCK_MONOTONIC), true); /* the heap at the end (the leaks) */
	if (engine.alloc && alloc_finish(out->report_out) < 0)
		rc = 1;
	if (extras) {
		int unmatched, fired = kt_oneshot_finish(extras, &unmatched);

		rc = fired < 0 ? 1 : rc;
		outcome.alert_fired = fired > 0 && opt.fail_on_alert;
		outcome.alert_unmatched = unmatched > 0;
	}
	if (opt.pprof_path && write_pprof(&out->pprof))
		rc = 1;
	if (write_folded(out))
		rc = 1;
	if (out->json && (fclose(out->json) != 0 || out->json_errno)) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n",
			kt_outfile_name(opt.json_path),
			strerror(out->json_errno ? out->json_errno : errno));
		rc = 1;
	}
	/* a command stopped early is let finish: its status comes first */
	outcome.command_status = kt_engine_close(&engine, true);
	outcome.failed = rc != 0;
	return kt_exit_status(&outcome);
}

/* A tracing run: the engine, its outputs, the loop. */
static int trace(void)
{
	struct outputs out = {.pprof.fd = -1};
	struct kt_engine_opts eo;
	struct kt_oneshot *extras;
	bool out_stdout;
	char err[1024];
	int rc;

	check_cli_opts();
	/* one stream per output on stdout; the text report then goes to stderr */
	/* with --pprof, folded stacks are written only to an explicit --folded FILE */
	if (kt_args_stdout_outputs(opt.json_path, opt.folded_path, opt.timeline,
				   (opt.stacks || opt.profile_hz || opt.off_cpu || opt.alloc) &&
					   !opt.pprof_path,
				   &out_stdout, err, sizeof(err)))
		die(2, "%s", err);
	if (kt_args_is_stdout(opt.pprof_path) && out_stdout)
		die(2, "--pprof - and another output would both write to stdout: give one of them "
		       "a FILE");
	out_stdout = out_stdout || kt_args_is_stdout(opt.pprof_path);
	out.report_out = out_stdout ? stderr : stdout;
	eo = engine_opts(out_stdout);
	atexit(release_sampling_at_exit); /* die() after a request leaves nothing behind */
	if ((rc = kt_engine_open(&engine, &eo, err, sizeof(err))))
		die(rc, "%s", err);
	open_outputs(&out);
	kt_phase("outputs");
	start_engine();
	extras = start_addons();
	kt_phase("addons");
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

	kt_phase("main");
	/* argp prints it for --version, here and in `kaos-trace daemon` */
	snprintf(version, sizeof(version), "kaos-trace %s", kt_version());
	argp_program_version = version;
	atexit(check_stdout_at_exit);
	if (argc >= 2 && argv[1][0] != '-')
		return run_subcommand(argc, argv);
	command_word = first_after_dashdash(argc, argv);
	argv[0] = (char *)"kaos-trace"; /* getopt's error lines start with it */
	/* in order: a bare word is refused where it stands, before the options after it */
	if (argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, NULL))
		return 2;
	kt_phase("options");
	return trace();
}
