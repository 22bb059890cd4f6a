// SPDX-License-Identifier: MIT
/*
 * kaos-trace: traces libkaos' USDT probes (send, recv, backpressure,
 * retransmit, ring_close) with BPF and prints latency summaries.
 *
 *   kaos-trace -p PID [-p PID...] [-b PATH...] [-d SEC] [-i SEC] ...
 *   kaos-trace list PID|PATH
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kt_agg.h"
#include "kt_daemon.h"
#include "kt_elf.h"
#include "kt_event.h"
#include "kt_folded.h"
#include "kt_report.h"
#include "kt_rule.h"
#include "kt_session.h"
#include "kt_target.h"
#include "kt_usdt.h"

#define MAX_TARGETS 64
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
	const char *json_path;
	bool hist;
	uint64_t ringbuf_bytes;
	bool verbose;
	bool no_calibrate;
	double probe_cost_ns; /* --probe-cost: skip calibration, use this */
	/* alerts and timeline (kt_daemon.h) */
	const char *alerts[MAX_TARGETS];
	int nalerts;
	const char *alert_log;
	bool fail_on_alert;
	const char *timeline;
	uint64_t timeline_max;
};

static struct options opt = {
	.ringbuf_bytes = 8u << 20,
};

static volatile sig_atomic_t stop_signal;

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
	OPT_PROBE_COST,
	OPT_ALERT,
	OPT_ALERT_LOG,
	OPT_FAIL_ON_ALERT,
	OPT_TIMELINE,
	OPT_TIMELINE_MAX,
};

static const char doc[] =
	"Trace libkaos rings: send/recv latency, sojourn, backpressure, retransmits.\v"
	"Examples:\n"
	"  kaos-trace -p 1234 -d 10            trace one process for 10 s\n"
	"  kaos-trace -b build/libkaos.so -i 1 every process using the library\n"
	"  kaos-trace -p 1234 --stacks --folded out.folded --weight latency\n"
	"  kaos-trace list 1234                list the probes of a process\n"
	"  kaos-trace -b build/libkaos.so -d 30 --alert 'send.p99 > 1us' --fail-on-alert\n"
	"  kaos-trace daemon --help            run as a service (docs/daemon.md)\n";

static const struct argp_option options[] = {
	{"pid", 'p', "PID", 0, "Trace this process (repeatable)", 0},
	{"binary", 'b', "PATH", 0,
	 "Trace every process mapping PATH (program or libkaos.so), now and later (repeatable)", 0},
	{"duration", 'd', "SECONDS", 0, "Stop after SECONDS", 0},
	{"interval", 'i', "SECONDS", 0, "Print a summary every SECONDS", 0},
	{"ring", 'r', "ID", 0, "Only this ring id (repeatable; filtered in the kernel)", 0},
	{"sample", OPT_SAMPLE, "N", 0,
	 "Fire probes on every N-th operation (power of two; counts stay exact)", 0},
	{"budget", OPT_BUDGET, "PCT", 0,
	 "Choose the sampling period per process so tracing costs it at most PCT % of time", 0},
	{"stacks", OPT_STACKS, NULL, 0, "Capture user stacks with each event", 0},
	{"folded", OPT_FOLDED, "FILE", 0, "Write folded stacks for flamegraph.pl (implies --stacks)",
	 0},
	{"weight", OPT_WEIGHT, "count|latency", 0, "Folded stack weight (default count)", 0},
	{"json", OPT_JSON, "FILE", 0, "Write one JSON summary line per interval to FILE", 0},
	{"hist", 'H', NULL, 0, "Print ASCII latency histograms", 0},
	{"ringbuf-size", OPT_RINGBUF, "BYTES", 0, "BPF ring buffer size (power of two, >= 4096)",
	 0},
	{"no-calibrate", OPT_NO_CALIBRATE, NULL, 0, "Skip measuring the probe cost at start", 0},
	{"probe-cost", OPT_PROBE_COST, "NS", 0, "Use NS as the cost of one probe hit", 0},
	{"verbose", 'v', NULL, 0, "libbpf debug output", 0},
	{"alert", OPT_ALERT, "RULE", 0,
	 "Alert rule, e.g. 'send.p99 > 1us' (repeatable; whole run unless 'over'; docs/daemon.md)",
	 0},
	{"alert-log", OPT_ALERT_LOG, "FILE", 0, "Alert transitions as JSON lines (default stderr)",
	 0},
	{"fail-on-alert", OPT_FAIL_ON_ALERT, NULL, 0, "Exit 3 if any alert fired", 0},
	{"timeline", OPT_TIMELINE, "FILE", 0, "Write events as Chrome/Perfetto trace JSON", 0},
	{"timeline-max-events", OPT_TIMELINE_MAX, "N", 0, "Timeline cap (default 250000)", 0},
	{},
};

static double parse_double(const char *s, const char *what, double min)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min))
		die(2, "invalid %s '%s'", what, s);
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
	(void)state;
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
		opt.duration_s = parse_double(arg, "duration", 0.001);
		break;
	case 'i':
		opt.interval_s = parse_double(arg, "interval", 0.01);
		break;
	case 'r':
		if (opt.nrings == MAX_RING_FILTER)
			die(2, "too many -r (max %d)", MAX_RING_FILTER);
		opt.rings[opt.nrings++] = (uint32_t)parse_ull(arg, "ring id", 0, UINT32_MAX);
		break;
	case OPT_SAMPLE:
		opt.sample = (uint32_t)parse_ull(arg, "sample period", 1, 1u << 30);
		break;
	case OPT_BUDGET:
		opt.budget_pct = parse_double(arg, "budget", 0.0001);
		if (opt.budget_pct > 100)
			die(2, "invalid budget '%s' (expected 0..100 %%)", arg);
		break;
	case OPT_STACKS:
		opt.stacks = true;
		break;
	case OPT_FOLDED:
		opt.folded_path = arg;
		opt.stacks = true;
		break;
	case OPT_WEIGHT:
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
	case OPT_NO_CALIBRATE:
		opt.no_calibrate = true;
		break;
	case OPT_PROBE_COST:
		opt.probe_cost_ns = parse_double(arg, "probe cost", 0.001);
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
	case ARGP_KEY_ARG:
		die(2, "unexpected argument '%s' (see --help)", arg);
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---------------------------------------------------------------- state */

struct tracer {
	struct kt_session s;
	struct kt_targets targets;
	FILE *json;
	uint64_t t_iv; /* start of current interval */
};

static void report(struct tracer *t, bool final)
{
	struct kt_report_totals tot;
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	kt_session_totals(&t->s, &tot);
	tot.elapsed_s = (double)(now - t->s.t_start) / 1e9;
	tot.interval_s = (double)(now - t->t_iv) / 1e9;
	tot.final = final;
	kt_report_text(stdout, &t->s.agg, &tot, opt.hist, !final);
	if (t->json)
		kt_report_json(t->json, &t->s.agg, &tot, !final);
	fflush(stdout);
}

static void check_exited(struct tracer *t)
{
	for (int i = 0; i < t->targets.n; i++) {
		struct kt_target *tg = &t->targets.v[i];

		if (tg->pid <= 0 || tg->exited)
			continue;
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

/* ---------------------------------------------------------------- list */

static int cmd_list(int argc, char **argv)
{
	struct kt_targets tg = {0};
	char err[512];

	if (argc != 3)
		die(2, "usage: kaos-trace list PID|PATH");
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

int main(int argc, char **argv)
{
	static const struct argp argp = {options, parse_opt, NULL, doc, NULL, NULL, NULL};
	struct tracer t = {0};
	char err[1024];
	int e;

	if (argc >= 2 && !strcmp(argv[1], "list"))
		return cmd_list(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "daemon"))
		return kt_daemon_main(argc - 1, argv + 1);
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	if (!opt.npids && !opt.npaths)
		die(2, "nothing to trace: give -p PID or -b PATH (see --help)");
	if (opt.sample && opt.budget_pct)
		die(2, "--sample and --budget are exclusive");
	if (opt.fail_on_alert && !opt.nalerts)
		die(2, "--fail-on-alert needs at least one --alert RULE");

	/* Resolve targets first: bad input fails before anything is loaded. */
	for (int i = 0; i < opt.npids; i++)
		if (kt_targets_add_pid(&t.targets, opt.pids[i], err, sizeof(err)))
			die(1, "%s", err);
	for (int i = 0; i < opt.npaths; i++)
		if (kt_targets_add_path(&t.targets, opt.paths[i], err, sizeof(err)))
			die(1, "%s", err);
	if (kt_check_privileges(err, sizeof(err)))
		die(1, "%s", err);

	FILE *folded_out = NULL;

	if (opt.folded_path && !(folded_out = fopen(opt.folded_path, "w")))
		die(1, "cannot write %s: %s", opt.folded_path, strerror(errno));
	if (opt.json_path && !(t.json = fopen(opt.json_path, "w")))
		die(1, "cannot write %s: %s", opt.json_path, strerror(errno));

	struct kt_session_opts so = {
		.pids = opt.pids,
		.npids = opt.npids,
		.filter_pids = opt.npids > 0 && opt.npaths == 0,
		.rings = opt.rings,
		.nrings = opt.nrings,
		.stacks = opt.stacks,
		.weight_latency = opt.weight_latency,
		.ringbuf_bytes = opt.ringbuf_bytes,
		.verbose = opt.verbose,
	};

	if (kt_session_open(&t.s, &so, err, sizeof(err))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		kt_session_print_bpf_log(stderr);
		return 1;
	}
	if (opt.probe_cost_ns > 0)
		t.s.hit_ns = opt.probe_cost_ns;
	else if (!opt.no_calibrate)
		kt_session_calibrate(&t.s);

	/* Attach every probe of every target. */
	for (int i = 0; i < t.targets.n; i++) {
		struct kt_target *tg = &t.targets.v[i];

		if (kt_session_attach(&t.s, tg->pid > 0 ? tg->pid : -1, tg->path, err, sizeof(err)))
			die(1, "%s", err);
	}
	kt_session_start(&t.s);
	t.t_iv = t.s.t_start;
	for (int i = 0; i < t.targets.n; i++)
		if (t.targets.v[i].pid > 0)
			kt_agg_proc(&t.s.agg, (uint32_t)t.targets.v[i].pid);
	struct kt_oneshot *extras = NULL;

	if (opt.nalerts || opt.timeline) {
		struct kt_oneshot_opts oo = {opt.alerts, opt.nalerts, opt.alert_log, opt.timeline,
					     opt.timeline_max};

		if (!(extras = kt_oneshot_start(&t.s, &oo, err, sizeof(err))))
			die(1, "%s", err);
	}

	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "kaos-trace: attached %d probes to %d target%s%s; probe hit costs %.0f ns\n",
		kt_session_nlinks(&t.s), t.targets.n, t.targets.n == 1 ? "" : "s",
		opt.duration_s > 0 ? "" : " (Ctrl-C to stop)", t.s.hit_ns);
	kt_session_update_sampling(&t.s, opt.sample, opt.budget_pct, 0);

	uint64_t end = opt.duration_s > 0 ? t.s.t_start + (uint64_t)(opt.duration_s * 1e9) : 0;
	uint64_t iv_ns = opt.interval_s > 0 ? (uint64_t)(opt.interval_s * 1e9) : 0;
	uint64_t next_sample_update = t.s.t_start + 100000000ull;
	int rc = 0;

	while (!stop_signal) {
		e = kt_session_poll(&t.s, 50);
		if (e < 0) {
			fprintf(stderr, "kaos-trace: ring buffer poll failed: %s\n", strerror(-e));
			rc = 1;
			break;
		}
		uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

		if ((opt.budget_pct || opt.sample) && now >= next_sample_update) {
			kt_session_update_sampling(&t.s, opt.sample, opt.budget_pct, 0.1);
			for (struct kt_proc *p = t.s.agg.procs; p; p = p->next)
				p->ops_iv = 0;
			next_sample_update = now + 100000000ull;
		}
		if (iv_ns && now - t.t_iv >= iv_ns) {
			report(&t, false);
			kt_agg_interval_reset(&t.s.agg);
			t.t_iv = now;
		}
		if (extras)
			kt_oneshot_tick(extras, now);
		check_exited(&t);
		if ((end && now >= end) || all_pids_exited(&t))
			break;
	}
	/* Detach first, then drain what is left: nothing is lost on the way out. */
	kt_session_detach_all(&t.s);
	kt_session_consume(&t.s);
	report(&t, true);
	if (extras) {
		int fired = kt_oneshot_finish(extras);

		if (fired < 0)
			rc = 1;
		else if (fired > 0 && opt.fail_on_alert && !rc)
			rc = 3;
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
				fprintf(stderr, "kaos-trace: writing %s failed: %s\n", opt.folded_path,
					strerror(errno));
				rc = 1;
			} else {
				fprintf(stderr, "kaos-trace: wrote %d folded stacks to %s\n", nst,
					opt.folded_path);
			}
		}
	}
	if (t.json && fclose(t.json) != 0) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n", opt.json_path,
			strerror(errno));
		rc = 1;
	}
	kt_session_close(&t.s);
	kt_targets_free(&t.targets);
	return rc;
}
