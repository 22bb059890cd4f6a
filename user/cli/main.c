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
#include "kt_args.h"
#include "kt_diff_cmd.h"
#include "kt_daemon.h"
#include "kt_elf.h"
#include "kt_event.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_func.h"
#include "kt_gate.h"
#include "kt_offcpu.h"
#include "kt_outfile.h"
#include "kt_pmu.h"
#include "kt_profile.h"
#include "kt_report.h"
#include "kt_rule.h"
#include "kt_session.h"
#include "kt_target.h"
#include "kt_timeline.h"
#include "kt_units.h"
#include "kt_usdt.h"
#include "kt_version.h"

#define MAX_TARGETS	64
#define MAX_RING_FILTER KT_RING_FILTER_MAX
/* -b PROGRAM without kaos probes: how often /proc is searched for its new processes */
#define WATCH_PROGRAMS_NS 200000000ull

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
	/*
	 * The ring buffer pages are mapped twice and count in RSS (the budget is
	 * 8 MB): 1 MiB = ~12,000 events. --sample 1 on bench_trace's workloads,
	 * with and without --stacks, lost none at 512 KiB here (~70,000 events/s).
	 */
	.ringbuf_bytes = 1u << 20,
};

static volatile sig_atomic_t stop_signal;

/* The session whose sampling requests die() withdraws on its way out. */
static struct kt_session *sampling_session;

static void release_sampling_at_exit(void)
{
	if (sampling_session)
		kt_session_release_sampling(sampling_session);
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
	OPT_SAMPLE = 1000,
	OPT_BUDGET,
	OPT_STACKS,
	OPT_FOLDED,
	OPT_WEIGHT,
	OPT_JSON,
	OPT_RINGBUF,
	OPT_NO_CALIBRATE,
	OPT_ALLOW_NOP5,
	OPT_PROBE_COST,
	OPT_ALERT,
	OPT_ALERT_LOG,
	OPT_FAIL_ON_ALERT,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX,
	OPT_TIMELINE_MODE,
	OPT_TIMELINE_LAST,
	OPT_PROFILE,
	OPT_PMU,
	OPT_FUNC,
	OPT_MAX_FUNCS,
	OPT_MAX_RATE,
	OPT_NO_USDT,
	OPT_OFF_CPU,
	OPT_OFF_CPU_MIN,
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
	{"binary", 'b', "PATH", 0,
	 "PATH a program: trace its processes (now and later, children included), wherever "
	 "its probes live; PATH a library (libkaos.so): every process mapping it (repeatable)",
	 0},
	{"duration", 'd', "DURATION", 0, "Stop after DURATION (2s, 500ms, 1m; bare: seconds)", 0},
	{"interval", 'i', "DURATION", 0, "Print a summary every DURATION (bare: seconds)", 0},
	{"ring", 'r', "ID|NAME", 0,
	 "Only this ring (repeatable): ids alone are filtered in the kernel, names (and ids "
	 "beside them) by kaos-trace as events arrive, the others' events counted as dropped",
	 0},
	{"sample", OPT_SAMPLE, "N", 0,
	 "Fire probes on every N-th operation (rounded down to a power of two; counts stay "
	 "exact); --sample 1: every operation",
	 0},
	{"budget", OPT_BUDGET, "PCT[%]", 0,
	 "Choose the sampling period per process so tracing costs it at most PCT % of its CPU "
	 "time (default: 1 % unless --sample)",
	 0},
	{"stacks", OPT_STACKS, NULL, 0, "Capture user stacks with each event", 0},
	{"folded", OPT_FOLDED, "FILE", 0,
	 "Write folded stacks for flamegraph.pl (implies --stacks; - is stdout)", 0},
	{"weight", OPT_WEIGHT, "count|latency", 0, "Folded stack weight (default count)", 0},
	{"json", OPT_JSON, "FILE", 0,
	 "Write one JSON summary line per interval to FILE (- is stdout)", 0},
	{"hist", 'H', NULL, 0, "Print ASCII latency histograms", 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0,
	 "BPF ring buffer size (power of two, >= 4096, e.g. 4M; default 2M)", 0},
	{"no-calibrate", OPT_NO_CALIBRATE, NULL, 0,
	 "Skip measuring probe costs at start (no probes on kaos-trace itself)", 0},
	{"probe-cost", OPT_PROBE_COST, "NS", 0,
	 "Use NS as the cost of one probe hit (a bare number is ns; 1.5us)", 0},
	{"allow-nop5-sites", OPT_ALLOW_NOP5, NULL, 0,
	 "Trace a program built with old plain 5-byte-nop probe sites even where a child it "
	 "forks could crash (only for programs that never fork)",
	 0},
	{"profile", OPT_PROFILE, "HZ", 0,
	 "Sample the traced processes' user stacks at HZ per CPU; adds a [cpu] tower to the folded "
	 "output",
	 0},
	{"off-cpu", OPT_OFF_CPU, NULL, 0,
	 "Time the traced threads spend blocked, by user stack (sched_switch); adds an "
	 "[off-cpu] tower (weights: ns) to the folded output and a summary",
	 0},
	{"off-cpu-min-us", OPT_OFF_CPU_MIN, "DURATION", 0,
	 "With --off-cpu: skip blocks shorter than DURATION (5us, 1ms; bare: microseconds; "
	 "default 1us)",
	 0},
	{"pmu", OPT_PMU, "EVENT[,EVENT]", 0,
	 "Per-operation counter values (libpfm4 names, e.g. cpu-clock, cycles; see `pmu list`)", 0},
	{"func", OPT_FUNC, "[LIB:]GLOB", 0,
	 "Time every function matching GLOB in LIB (default: the -p process's executable or "
	 "the -b PATH or -- COMMAND) with an entry and a return uprobe (repeatable)",
	 0},
	{"max-funcs", OPT_MAX_FUNCS, "N", 0,
	 "Refuse --func patterns matching more than N functions (default 64)", 0},
	{"max-rate", OPT_MAX_RATE, "N", 0,
	 "Time at most ~N calls/s per --func function (1 in 2^k); counts stay exact", 0},
	{"no-usdt", OPT_NO_USDT, NULL, 0, "With --func: leave libkaos' USDT probes alone", 0},
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
	 "Timeline events held in memory, 64 bytes each (default 250000)", 0},
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
	case OPT_SAMPLE:
		opt.sample = (uint32_t)parse_ull(arg, "sample period", 1, 1u << 30);
		break;
	case OPT_BUDGET:
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
	case OPT_ALLOW_NOP5:
		opt.allow_nop5 = true;
		break;
	case OPT_NO_CALIBRATE:
		opt.no_calibrate = true;
		break;
	case OPT_PROBE_COST:
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
		opt.timeline_last_ns =
			parse_duration_opt(arg, "--timeline-last", KT_NS_PER_S, 1, 86400 * KT_NS_PER_S);
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
	case OPT_PROFILE:
		opt.profile_hz = (unsigned int)parse_ull(arg, "profile frequency", 1, 100000);
		break;
	case OPT_PMU:
		opt.pmu = arg;
		break;
	case OPT_OFF_CPU:
		opt.off_cpu = true;
		break;
	case OPT_OFF_CPU_MIN:
		opt.off_cpu_min_ns = (long long)parse_duration_opt(
			arg, "--off-cpu-min-us", KT_NS_PER_US, 0, 60 * KT_NS_PER_S);
		break;
	case OPT_FUNC:
		if (opt.nfuncs == MAX_TARGETS)
			die(2, "too many --func (max %d)", MAX_TARGETS);
		opt.funcs[opt.nfuncs++] = arg;
		break;
	case OPT_MAX_FUNCS:
		opt.max_funcs = (uint32_t)parse_ull(arg, "--max-funcs", 1, KT_FUNC_MAX - 1);
		break;
	case OPT_MAX_RATE:
		opt.max_rate = parse_ull(arg, "--max-rate", 1, 1ull << 32);
		break;
	case OPT_NO_USDT:
		opt.no_usdt = true;
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

/* ---------------------------------------------------------------- state */

struct tracer {
	struct kt_session s;
	struct kt_targets targets;
	FILE *json;
	FILE *report_out;	  /* the text report: stdout, or stderr when an output takes it */
	int json_errno;		  /* first --json write error */
	uint64_t t_iv;		  /* start of current interval */
	uint64_t lost_iv0;	  /* events lost when the interval started */
	uint64_t fired_iv0;	  /* ... fired */
	uint64_t delivered_iv0;	  /* ... delivered */
	struct kt_func *func;	  /* --func, or NULL */
	struct kt_profile *prof;  /* --profile */
	struct kt_offcpu *offcpu; /* --off-cpu */
	pid_t child;		  /* -- COMMAND: its pid */
	char child_exe[PATH_MAX]; /* -- COMMAND: its executable, found as execvp would */
	int child_go;		  /* write end of the pipe the child waits on before exec */
	int child_status;	  /* its exit status, once reaped */
	char scope[1024];	  /* which processes are traced, in words */
};

/* --func events are named after their function in folded stacks. */
static const char *event_name(void *ctx, const struct kt_event *e)
{
	struct tracer *t = ctx;

	return e->type == KT_EV_FUNC ? kt_func_name(t->func, e->ring_id)
				     : kt_event_type_name(e->type);
}

static void report(struct tracer *t, bool final)
{
	struct kt_report_totals tot;
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	kt_func_sync(t->func, &t->s.agg); /* exact counts from the kernel */
	kt_session_totals(&t->s, &tot);
	tot.func_calibrated = kt_func_calibrated(t->func);
	kt_func_stats(t->func, tot.func_stats);
	tot.elapsed_s = (double)(now - t->s.t_start) / 1e9;
	tot.interval_s = (double)(now - t->t_iv) / 1e9;
	tot.lost_iv0 = t->lost_iv0;
	tot.fired_iv0 = t->fired_iv0;
	tot.delivered_iv0 = t->delivered_iv0;
	tot.final = final;
	tot.scope = t->scope;
	uint64_t sc[KT_SCOPE_STAT_NR];

	kt_session_scope_stats(&t->s, sc);
	tot.out_of_scope = sc[KT_SCOPE_OTHER];
	tot.scope_full = sc[KT_SCOPE_FULL];
	tot.exec_lost = sc[KT_SCOPE_EXEC_LOST];
	if (final && t->json && t->offcpu) {
		/* the final JSON gets "off_cpu": collected there, reused by kt_offcpu_finish */
		tot.json_extra = kt_offcpu_json;
		tot.json_extra_ctx = t->offcpu;
	}
	kt_report_text(t->report_out, &t->s.agg, &tot, opt.hist, !final);
	if (t->json) {
		kt_report_json(t->json, &t->s.agg, &tot, !final);
		/* each line is flushed: keep the first write error for the exit status */
		if (ferror(t->json) && !t->json_errno)
			t->json_errno = errno ? errno : EIO;
	}
	fflush(t->report_out);
	if (!final) {
		/* the next interval starts now */
		t->lost_iv0 = tot.lost;
		t->fired_iv0 = tot.fired;
		t->delivered_iv0 = tot.delivered;
	}
}

static void check_exited(struct tracer *t)
{
	for (int i = 0; i < t->targets.n; i++) {
		struct kt_target *tg = &t->targets.v[i];

		int status;

		if (tg->pid <= 0 || tg->exited)
			continue;
		if (tg->pid == t->child) {
			/* our own child: reap it (a zombie still answers kill(pid, 0)) */
			if (waitpid(t->child, &status, WNOHANG) != t->child)
				continue;
			t->child_status =
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			for (int j = 0; j < t->targets.n; j++)
				if (t->targets.v[j].pid == t->child)
					t->targets.v[j].exited = true;
			for (struct kt_proc *p = t->s.agg.procs; p; p = p->next)
				if (p->pid == (uint32_t)t->child)
					p->exited = true;
			fprintf(stderr, "kaos-trace: command exited with status %d\n",
				t->child_status);
			continue;
		}
		if (kill(tg->pid, 0) != 0 && errno == ESRCH) {
			tg->exited = true;
			struct kt_proc *p = kt_agg_proc(&t->s.agg, (uint32_t)tg->pid);

			if (p)
				p->exited = true;
			fprintf(stderr, "kaos-trace: pid %d exited\n", tg->pid);
		}
	}
}

static bool all_pids_exited(struct tracer *t)
{
	int live = 0;

	for (int i = 0; i < t->targets.n; i++) {
		if (t->targets.v[i].pid <= 0)
			return false; /* a path target follows future processes */
		live += !t->targets.v[i].exited;
	}
	return live == 0;
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

/* ---------------------------------------------------------------- -- COMMAND */

/* Finds cmd on PATH the way execvp would (for resolving its probes). */
static int which(const char *cmd, char *out, size_t n)
{
	const char *path = getenv("PATH");

	if (strchr(cmd, '/')) {
		snprintf(out, n, "%s", cmd);
		return access(out, X_OK);
	}
	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(out, n, "%.*s/%s", (int)len, path, cmd);
		if (access(out, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	return -1;
}

/*
 * Forks the command, stopped before exec until the probes are attached,
 * and targets its pid in the objects that carry probes (the program or
 * the libkaos.so it needs): tracing covers it from its first operation.
 */
static void find_command(struct tracer *t)
{
	if (which(opt.cmd[0], t->child_exe, sizeof(t->child_exe))) {
		if (strchr(opt.cmd[0], '/')) /* a path: say why access() refused it */
			die(127, "%s: %s", opt.cmd[0], strerror(errno));
		die(127, "%s: command not found", opt.cmd[0]);
	}
}

/* Collectors that need no kaos probes: a target without them is watched for them. */
static bool usdt_optional(void)
{
	return opt.nfuncs || opt.profile_hz || opt.off_cpu;
}

/*
 * -p, -b: their kaos probes, or (none there, a collector that needs none)
 * watched only; the start-up line's scope says which.
 */
static void add_targets(struct tracer *t)
{
	char err[1024];
	int r;

	for (int i = 0; i < opt.npids; i++) {
		r = opt.no_usdt ? KT_TARGET_NO_PROBES
				: kt_targets_add_pid(&t->targets, opt.pids[i], err, sizeof(err));
		if (r < 0 || (r > 0 && !usdt_optional()))
			die(1, "%s", err);
		if (r > 0 && kt_targets_watch_pid(&t->targets, opt.pids[i]))
			die(1, "out of memory");
	}
	for (int i = 0; i < opt.npaths; i++) {
		r = opt.no_usdt ? KT_TARGET_NO_PROBES
				: kt_targets_add_path(&t->targets, opt.paths[i], err, sizeof(err));
		if (r < 0 || (r > 0 && !usdt_optional()))
			die(1, "%s", err);
		if (r > 0 && kt_targets_watch_path(&t->targets, opt.paths[i]))
			die(1, "out of memory");
		if (r > 0 && !opt.nfuncs && !t->targets.v[t->targets.n - 1].program[0])
			die(2,
			    "-b %s: a library without kaos probes: --profile and --off-cpu follow "
			    "processes (give its program or -p PID)",
			    opt.paths[i]);
	}
}

static void start_command(struct tracer *t)
{
	char err[1024];
	struct kt_targets found = {0};
	int go[2], r;

	r = opt.no_usdt ? KT_TARGET_NO_PROBES
			: kt_targets_add_path(&found, t->child_exe, err, sizeof(err));
	if (r < 0 || (r > 0 && !usdt_optional()))
		die(1, "%s", err);
	if (pipe2(go, O_CLOEXEC))
		die(1, "pipe: %s", strerror(errno));
	t->child = fork();
	if (t->child < 0)
		die(1, "fork: %s", strerror(errno));
	if (t->child == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(127); /* the tracer gave up before attaching */
		/* an output on stdout (FILE "-") keeps it to itself: the command's goes to stderr
		 */
		if (t->report_out == stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		/*
		 * The file resolved above: execvp's own search would run libc
		 * functions in the child after --func attached (counted as the
		 * command's). A script without #! still goes to execvp's /bin/sh.
		 */
		execv(t->child_exe, opt.cmd);
		if (errno == ENOEXEC)
			execvp(opt.cmd[0], opt.cmd);
		fprintf(stderr, "kaos-trace: cannot run %s: %s\n", opt.cmd[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	t->child_go = go[1];
	t->child_status = -1;
	for (int i = 0; i < found.n; i++)
		if (kt_targets_add_pid_path(&t->targets, t->child, found.v[i].path, err,
					    sizeof(err)))
			die(1, "%s", err);
	if (r > 0 && kt_targets_watch_pid(&t->targets, t->child))
		die(1, "out of memory");
	kt_func_command_pid(t->func, t->child);
	kt_targets_free(&found);
}

/* ---------------------------------------------------------------- scope */

/* Appends one "; "-separated part to buf (truncated if it does not fit). */
__attribute__((format(printf, 3, 4))) static void scope_append(char *buf, size_t n, const char *fmt,
							       ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 3 >= n)
		return;
	if (len)
		len += (size_t)snprintf(buf + len, n - len, "; ");
	va_start(ap, fmt);
	vsnprintf(buf + len, n - len, fmt, ap);
	va_end(ap);
}

/* " (no kaos probes there: --func, --profile)": what traces a watch-only target. */
static void probe_free_note(char *buf, size_t n)
{
	snprintf(buf, n, " (no kaos probes there: %s%s%s%s%s)", opt.nfuncs ? "--func" : "",
		 opt.nfuncs && (opt.profile_hz || opt.off_cpu) ? ", " : "",
		 opt.profile_hz ? "--profile" : "", opt.profile_hz && opt.off_cpu ? ", " : "",
		 opt.off_cpu ? "--off-cpu" : "");
}

/*
 * Says which processes are traced (the start-up line and the report), and
 * with a scope (-b PROGRAM whose probes are in libkaos.so) adds the -p
 * pids, the command and each program's processes to it.
 */
static void setup_scope(struct tracer *t)
{
	char err[1024], none[96];

	probe_free_note(none, sizeof(none));
	for (int i = 0; i < t->targets.n; i++) {
		const struct kt_target *tg = &t->targets.v[i];
		bool watch = kt_target_watch_only(tg);
		int n;

		if (tg->pid > 0) {
			if (t->s.scope && kt_session_scope_pid(&t->s, tg->pid))
				die(1, "pid %d: cannot add it to the process scope", (int)tg->pid);
			if (i && tg->pid == t->targets.v[i - 1].pid)
				continue; /* one pid, several objects */
			if (tg->pid == t->child)
				scope_append(t->scope, sizeof(t->scope), "the command (pid %d)%s",
					     (int)tg->pid, watch ? none : "");
			else
				scope_append(t->scope, sizeof(t->scope), "pid %d%s", (int)tg->pid,
					     watch ? none : "");
			continue;
		}
		if (watch && tg->program[0])
			scope_append(t->scope, sizeof(t->scope), "processes of %s, now and later%s",
				     tg->program, none);
		if (watch)
			continue;
		if (!tg->program[0]) {
			scope_append(t->scope, sizeof(t->scope), "every process mapping %s",
				     tg->path);
			continue;
		}
		n = 0;
		if (t->s.scope &&
		    (n = kt_session_scope_program(&t->s, tg->program, err, sizeof(err))) < 0)
			die(1, "%s", err);
		scope_append(t->scope, sizeof(t->scope),
			     "processes of %s, now and later, children included (%d running)",
			     tg->program, n);
	}
}

static void add_program_proc(void *agg, pid_t pid)
{
	kt_agg_proc(agg, (uint32_t)pid);
}

/*
 * --profile and --off-cpu follow the processes in agg: a -b PROGRAM without
 * kaos probes sends no event that would add its processes, so they are
 * looked up in /proc (now, and by each later call).
 */
static void watch_programs(struct tracer *t)
{
	struct stat st;

	if (!t->prof && !t->offcpu)
		return;
	for (int i = 0; i < t->targets.n; i++) {
		const struct kt_target *tg = &t->targets.v[i];

		if (!tg->pid && kt_target_watch_only(tg) && tg->program[0] &&
		    !stat(tg->program, &st))
			kt_program_pids(&st, add_program_proc, &t->s.agg);
	}
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
		bool program = strchr(argv[1], '/') || !which(argv[1], exe, sizeof(exe));

		kt_args_unknown_cmd(argv[1], program, msg, sizeof(msg));
		die(2, "%s", msg);
	}
	if (c == KT_SUBCMD_DAEMON) {
		argv[1] = (char *)"kaos-trace daemon"; /* argp's name in its usage and errors */
		return kt_daemon_main(argc - 1, argv + 1);
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
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "kaos-trace: write stdout: %s\n",
			errno ? strerror(errno) : "error");
		_exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct argp argp = {options, parse_opt, args_doc, doc, NULL, NULL, NULL};
	struct tracer t = {.child_go = -1, .child_status = -1};
	char err[1024];
	int e;

	char version[128];

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
	if (!opt.npids && !opt.npaths && !opt.cmd)
		die(2, "nothing to trace: give -p PID, -b PATH or -- COMMAND (see --help)");
	if (opt.sample && opt.budget_pct)
		die(2, "--sample and --budget are exclusive");
	if (opt.budget_pct && opt.no_calibrate && !opt.probe_cost_ns)
		die(2, "--budget needs the probe cost: drop --no-calibrate or give --probe-cost");
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
	bool out_stdout;

	/* One stream per output on stdout; the text report then goes to stderr. */
	if (kt_args_stdout_outputs(opt.json_path, opt.folded_path, opt.timeline,
				   opt.stacks || opt.profile_hz || opt.off_cpu, &out_stdout, err,
				   sizeof(err)))
		die(2, "%s", err);
	t.report_out = out_stdout ? stderr : stdout;
	struct kt_pmu pmu = {0};

	if (opt.pmu && (e = kt_pmu_parse(&pmu, opt.pmu, err, sizeof(err))))
		die(e == -ELIBACC || e == -ELIBBAD || e == -ENOSYS ? 1 : 2, "%s", err);

	/* Resolve targets first: bad input fails before anything is loaded. */
	if (opt.cmd)
		find_command(&t);
	if (opt.nfuncs) {
		struct kt_func_opts fo = {.patterns = opt.funcs,
					  .npatterns = opt.nfuncs,
					  .pids = opt.pids,
					  .npids = opt.npids,
					  .paths = opt.paths,
					  .npaths = opt.npaths,
					  .command = opt.cmd ? t.child_exe : NULL,
					  .max_funcs = opt.max_funcs,
					  .max_rate = opt.max_rate,
					  .warn_pct = opt.budget_pct,
					  .stacks = opt.stacks};

		if (kt_func_resolve(&fo, &t.func, err, sizeof(err)))
			die(1, "%s", err);
	} else if (opt.max_funcs || opt.max_rate || opt.no_usdt) {
		die(2, "--max-funcs, --max-rate and --no-usdt need --func");
	}
	/* With --func, libkaos' USDT probes are traced where they exist (unless --no-usdt). */
	add_targets(&t);
	if (opt.cmd)
		start_command(&t);
	if (kt_check_privileges(err, sizeof(err)))
		die(1, "%s", err);

	FILE *folded_out = NULL;

	if (opt.folded_path && !(folded_out = kt_outfile_open(opt.folded_path)))
		die(1, "cannot write %s: %s", kt_outfile_name(opt.folded_path), strerror(errno));
	if (opt.json_path && !(t.json = kt_outfile_open(opt.json_path)))
		die(1, "cannot write %s: %s", kt_outfile_name(opt.json_path), strerror(errno));
	if (opt.pmu && (e = kt_pmu_open(&pmu, stderr)))
		die(1, "--pmu: %s", strerror(-e));

	/* --no-calibrate and --probe-cost skip every self-probe at start */
	if (kt_features_check(&t.targets, !opt.no_calibrate && !(opt.probe_cost_ns > 0),
			      print_line, NULL, err, sizeof(err)))
		die(1, "%s", err);
	struct kt_session_opts so = {
		/* ids alone filter in the kernel; with a name every ring's events come up */
		.rings = opt.nring_names ? NULL : opt.rings,
		.nrings = opt.nring_names ? 0 : opt.nrings,
		.stacks = opt.stacks,
		.want_ts = opt.timeline != NULL,
		.weight_latency = opt.weight_latency,
		.ringbuf_bytes = opt.ringbuf_bytes,
		.bpf_log = opt.verbose ? print_raw : NULL,
		.folded = opt.profile_hz > 0 || opt.off_cpu,
		.pmu_nr = (uint32_t)pmu.n,
		.pmu_ncpus = (uint32_t)pmu.ncpus,
		.scope = kt_targets_need_scope(&t.targets),
	};

	if (kt_session_open(&t.s, &so, err, sizeof(err))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		kt_session_print_bpf_log(stderr);
		kt_features_explain(stderr);
		return 1;
	}
	t.s.event_name = event_name;
	t.s.note = print_note;
	t.s.event_name_ctx = &t;
	t.s.sampling = kt_sampling_from_flags(opt.sample, opt.budget_pct);
	sampling_session = &t.s;
	atexit(release_sampling_at_exit); /* die() after a request leaves nothing behind */
	if (pmu.n && (e = kt_pmu_fill_map(&pmu, bpf_map__fd(t.s.skel->maps.pmu_events))))
		die(1, "--pmu: cannot give the counters to BPF: %s", strerror(-e));
	if (opt.probe_cost_ns > 0)
		t.s.hit_ns = opt.probe_cost_ns;
	else if (!opt.no_calibrate)
		kt_session_calibrate(&t.s);
	if (t.func) {
		if (kt_func_load(t.func, bpf_map__fd(t.s.skel->maps.events),
				 bpf_map__fd(t.s.skel->maps.kt_stats), opt.ringbuf_bytes / 16, err,
				 sizeof(err))) {
			fprintf(stderr, "kaos-trace: %s; libbpf said:\n", err);
			kt_session_print_bpf_log(stderr);
			return 1;
		}
		if ((!opt.no_calibrate && kt_func_calibrate(t.func, err, sizeof(err))) ||
		    kt_func_attach(t.func, err, sizeof(err)))
			die(1, "%s", err);
	}

	/* Where to attach on combined probe sites: the self-test ran meanwhile (kt_features.h). */
	if (kt_features_site_finish(opt.allow_nop5, print_line, NULL, err, sizeof(err)) < 0)
		die(1, "%s", err);
	/* Attach every probe of every target (watch-only targets have no path). */
	for (int i = 0; i < t.targets.n; i++) {
		struct kt_target *tg = &t.targets.v[i];

		if (!tg->path[0])
			continue;
		if (kt_session_attach(&t.s, tg->pid > 0 ? tg->pid : -1, tg->path, err, sizeof(err)))
			die(1, "%s", err);
	}
	setup_scope(&t);
	kt_session_start(&t.s);
	t.t_iv = t.s.t_start;
	t.s.agg.npmu = pmu.n;
	struct kt_ring_filter ring_filter = {.ids = opt.rings,
					     .nids = opt.nrings,
					     .names = opt.ring_names,
					     .nnames = opt.nring_names};

	if (opt.nring_names)
		t.s.agg.ring_filter = &ring_filter;
	memcpy(t.s.agg.pmu_names, pmu.names, sizeof(t.s.agg.pmu_names));
	if (t.func)
		kt_func_bind(t.func, &t.s.agg);
	/* Report traced pids even if they never fire (the command: once it runs). */
	for (int i = 0; i < t.targets.n; i++)
		if (t.targets.v[i].pid > 0 && t.targets.v[i].pid != t.child)
			kt_agg_proc(&t.s.agg, (uint32_t)t.targets.v[i].pid);
	if (opt.profile_hz) {
		if (kt_profile_open(&t.prof, opt.profile_hz, t.s.sym, err, sizeof(err)))
			die(1, "%s", err);
		if (t.child)
			kt_profile_add_pid(t.prof, (uint32_t)t.child);
	}
	if (opt.off_cpu) {
		uint64_t min_ns = opt.off_cpu_min_ns >= 0 ? (uint64_t)opt.off_cpu_min_ns : 1000;

		if (kt_offcpu_open(&t.offcpu, min_ns, t.s.sym, err, sizeof(err)))
			die(1, "%s", err);
		if (t.child)
			kt_offcpu_add_pid(t.offcpu, (uint32_t)t.child);
	}
	struct kt_oneshot *extras = NULL;

	if (opt.nalerts || opt.timeline) {
		struct kt_oneshot_opts oo = {.rules = opt.alerts,
					     .nrules = opt.nalerts,
					     .alert_log = opt.alert_log,
					     .timeline = opt.timeline,
					     .timeline_max = opt.timeline_max,
					     .timeline_keep_last = timeline_keeps_last(),
					     .timeline_last_ns = opt.timeline_last_ns};

		if (!(extras = kt_oneshot_start(&t.s, &oo, err, sizeof(err))))
			die(1, "%s", err);
	}

	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed terminal or pipe stops the run too: the sampling is withdrawn on the way out */
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (opt.timeline) {
		struct sigaction su = {.sa_handler = on_timeline_signal};

		sigaction(SIGUSR1, &su, NULL);
	}
	if (t.func)
		kt_func_describe(t.func, stderr);
	fprintf(stderr,
		"kaos-trace: attached %d probes to %d target%s%s; probe hit costs %.0f ns%s\n",
		kt_session_nlinks(&t.s) + kt_func_nlinks(t.func), t.targets.n,
		t.targets.n == 1 ? "" : "s", opt.duration_s > 0 ? "" : " (Ctrl-C to stop)",
		t.s.hit_ns, t.s.hit_cached ? " (measured earlier this boot, /run/kaos-trace)" : "");
	fprintf(stderr, "kaos-trace: scope: %s\n", t.scope);
	say_sampling(&t.s);
	if (opt.timeline)
		say_timeline();
	kt_session_update_sampling(&t.s, false);
	if (t.child_go >= 0 && t.child) {
		/* attached: let the command exec */
		if (write(t.child_go, "g", 1) != 1)
			die(1, "cannot start the command: %s", strerror(errno));
		close(t.child_go);
		t.child_go = -1;
	}

	uint64_t end = opt.duration_s > 0 ? t.s.t_start + (uint64_t)(opt.duration_s * 1e9) : 0;
	uint64_t iv_ns = opt.interval_s > 0 ? (uint64_t)(opt.interval_s * 1e9) : 0;
	uint64_t next_sample_update = t.s.t_start + 100000000ull;
	uint64_t next_sweep = t.s.t_start + 1000000000ull;
	uint64_t next_watch = 0; /* watch_programs: now, then every WATCH_PROGRAMS_NS */
	int rc = 0;

	while (!stop_signal) {
		e = kt_session_poll(&t.s, 50);
		if (e < 0) {
			fprintf(stderr, "kaos-trace: ring buffer poll failed: %s\n", strerror(-e));
			rc = 1;
			break;
		}
		uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

		if (now >= next_sample_update) {
			kt_session_update_sampling(&t.s, false);
			kt_session_check_cost(&t.s);
			next_sample_update = now + 100000000ull;
		} else {
			kt_session_update_sampling(&t.s, true);
		}
		kt_func_tick(t.func, &t.s.agg, now);
		if (now >= next_watch) {
			watch_programs(&t);
			next_watch = now + WATCH_PROGRAMS_NS;
		}
		if (t.prof) {
			/* -p targets are known; -b processes once they produce events */
			for (struct kt_proc *p = t.s.agg.procs; p; p = p->next)
				kt_profile_add_pid(t.prof, p->pid);
			kt_profile_refresh(t.prof);
		}
		kt_offcpu_tick(t.offcpu, &t.s.agg);
		if (iv_ns && now - t.t_iv >= iv_ns) {
			report(&t, false);
			kt_agg_interval_reset(&t.s.agg);
			t.t_iv = now;
		}
		if (extras)
			kt_oneshot_tick(extras, now);
		if (timeline_asked) {
			timeline_asked = 0;
			kt_oneshot_write_timeline(extras, "SIGUSR1");
		}
		check_exited(&t);
		if (t.s.scope && now >= next_sweep) {
			kt_session_scope_sweep(&t.s);
			next_sweep = now + 1000000000ull;
		}
		if ((end && now >= end) || all_pids_exited(&t))
			break;
	}
	/* Detach first, then drain what is left: nothing is lost on the way out. */
	kt_session_detach_all(&t.s);
	kt_func_detach(t.func);
	kt_session_consume(&t.s);
	if (t.prof) {
		struct kt_profile_stats ps;
		int np = kt_profile_collect(t.prof, t.s.folded);

		kt_profile_get_stats(t.prof, &ps);
		fprintf(stderr,
			"kaos-trace: profile: %llu samples at %u Hz on %d CPUs (%llu without a "
			"user "
			"stack, %llu lost)%s\n",
			(unsigned long long)ps.samples, opt.profile_hz, ps.ncpus,
			(unsigned long long)ps.stack_err, (unsigned long long)ps.lost,
			np < 0 ? ": collecting them failed" : "");
		kt_profile_free(t.prof);
		rc = np < 0 ? 1 : rc;
	}
	report(&t, true);
	if (opt.nring_names)
		warn_unmatched_rings(&ring_filter);
	if (t.offcpu) {
		if (kt_offcpu_finish(t.offcpu, t.s.folded, t.report_out, stderr) < 0)
			rc = 1;
		kt_offcpu_free(t.offcpu);
	}
	struct kt_run_outcome outcome = {.command_status = -1};

	if (extras) {
		int unmatched, fired = kt_oneshot_finish(extras, &unmatched);

		rc = fired < 0 ? 1 : rc;
		outcome.alert_fired = fired > 0 && opt.fail_on_alert;
		outcome.alert_unmatched = unmatched > 0;
	}
	if (t.s.folded) {
		int nst = kt_folded_write(t.s.folded, folded_out ? folded_out : stdout,
					  KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, kt_folded_sym_kt,
					  t.s.sym);

		if (nst < 0) {
			fprintf(stderr, "kaos-trace: writing folded stacks failed: %s\n",
				strerror(-nst));
			rc = 1;
		}
		if (folded_out) {
			if (fclose(folded_out) != 0) {
				fprintf(stderr, "kaos-trace: writing %s failed: %s\n",
					kt_outfile_name(opt.folded_path), strerror(errno));
				rc = 1;
			} else {
				fprintf(stderr, "kaos-trace: wrote %d folded stacks to %s\n", nst,
					kt_outfile_name(opt.folded_path));
			}
		}
	}
	if (t.json && (fclose(t.json) != 0 || t.json_errno)) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n",
			kt_outfile_name(opt.json_path),
			strerror(t.json_errno ? t.json_errno : errno));
		rc = 1;
	}
	kt_session_close(&t.s);
	sampling_session = NULL;
	kt_func_free(t.func);
	kt_pmu_close(&pmu);
	kt_targets_free(&t.targets);
	if (t.child) {
		int ws;

		/* stopped early: let it finish, its status comes first (kt_gate.h) */
		if (t.child_status < 0 && waitpid(t.child, &ws, 0) == t.child)
			t.child_status = kt_wait_status(ws);
		outcome.command_status = t.child_status;
	}
	outcome.failed = rc != 0;
	return kt_exit_status(&outcome);
}
