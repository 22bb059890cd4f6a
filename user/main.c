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
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kaos/probes.h"
#include "kaos/ring.h"
#include "bpf/kaos_trace.skel.h"
#include "kt_agg.h"
#include "kt_control.h"
#include "kt_elf.h"
#include "kt_event.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_pmu.h"
#include "kt_profile.h"
#include "kt_report.h"
#include "kt_sym.h"
#include "kt_target.h"
#include "kt_usdt.h"

#define MAX_TARGETS 64
#define MAX_RING_FILTER 64

static const char *const probe_names[] = {"send", "recv", "backpressure", "retransmit",
					  "ring_close"};
#define NPROBES (sizeof(probe_names) / sizeof(probe_names[0]))

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
	char **cmd;	      /* -- CMD ARGS: start it and trace it */
	unsigned int profile_hz; /* --profile: sample user stacks at this rate per CPU */
	const char *pmu;	  /* --pmu EVENT[,EVENT] */
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

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	OPT_PROFILE,
	OPT_PMU,
};

static const char args_doc[] = "[-- COMMAND [ARG...]]";

static const char doc[] =
	"Trace libkaos rings: send/recv latency, sojourn, backpressure, retransmits.\v"
	"Examples:\n"
	"  kaos-trace -p 1234 -d 10            trace one process for 10 s\n"
	"  kaos-trace -b build/libkaos.so -i 1 every process using the library\n"
	"  kaos-trace -p 1234 --stacks --folded out.folded --weight latency\n"
	"  kaos-trace -H -- ./app --flag       start ./app, trace it until it exits\n"
	"  kaos-trace list 1234                list the probes of a process\n";

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
	{"profile", OPT_PROFILE, "HZ", 0,
	 "Sample the traced processes' user stacks at HZ per CPU; adds a [cpu] tower to the folded "
	 "output", 0},
	{"pmu", OPT_PMU, "EVENT[,EVENT]", 0,
	 "Per-operation counter values (libpfm4 names, e.g. cpu-clock, cycles; see `pmu list`)",
	 0},
	{"verbose", 'v', NULL, 0, "libbpf debug output", 0},
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
	case OPT_PROFILE:
		opt.profile_hz = (unsigned int)parse_ull(arg, "profile frequency", 1, 100000);
		break;
	case OPT_PMU:
		opt.pmu = arg;
		break;
	case 'v':
		opt.verbose = true;
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

/* ---------------------------------------------------------------- libbpf log */

/* Keeps libbpf's last lines so a load failure can show the verifier's verdict. */
static char bpf_log_tail[8][512];
static int bpf_log_n;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG && !opt.verbose)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (opt.verbose)
		fputs(line, stderr);
	snprintf(bpf_log_tail[bpf_log_n++ % 8], sizeof(bpf_log_tail[0]), "%s", line);
	return 0;
}

static void print_bpf_log_tail(void)
{
	int first = bpf_log_n > 8 ? bpf_log_n - 8 : 0;

	for (int i = first; i < bpf_log_n; i++)
		fprintf(stderr, "  | %s", bpf_log_tail[i % 8]);
}

/* ---------------------------------------------------------------- state */

struct tracer {
	struct kaos_trace_bpf *skel;
	struct bpf_link *links[MAX_TARGETS * 2 * NPROBES];
	int nlinks;
	struct ring_buffer *rb;
	struct kt_agg agg;
	struct kt_targets targets;
	struct kt_sym *sym;
	struct kt_folded *folded;
	struct kt_profile *prof; /* --profile */
	FILE *json;
	pid_t self;
	double hit_ns; /* measured cost of one probe hit */
	pid_t child;	  /* -- COMMAND: its pid */
	int child_go;	  /* write end of the pipe the child waits on before exec */
	int child_status; /* its exit status, once reaped */
	uint64_t stats_base[KT_STAT_NR][KT_EV_TYPES]; /* calibration's share */
	uint64_t t_start;			     /* CLOCK_MONOTONIC at attach */
	uint64_t t_iv;				     /* start of current interval */
};

static int handle_event(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const struct kt_event *e = data;

	if (size < KT_EVENT_BASE_SIZE || e->pid == (uint32_t)t->self)
		return 0; /* calibration events of our own */
	kt_agg_add(&t->agg, e, size);
	if (t->folded && e->stack_sz && size >= sizeof(*e)) {
		struct kt_proc *p = kt_agg_proc(&t->agg, e->pid);

		/* Cache its maps while it lives: stacks are symbolized at the end. */
		if (p && !p->sym_added) {
			kt_sym_add_pid(t->sym, (pid_t)e->pid);
			p->sym_added = true;
		}
		uint32_t nframes = e->stack_sz / sizeof(e->stack[0]);
		uint64_t w = opt.weight_latency ? e->dur_ns : 1;

		if (nframes > KT_MAX_STACK)
			nframes = KT_MAX_STACK;
		kt_folded_add(t->folded, e->pid, p ? p->comm : NULL, kt_event_type_name(e->type),
			      (const uint64_t *)e->stack, nframes, w);
	}
	return 0;
}

/* Kernel-side counters summed over CPUs, less what calibration contributed. */
static void read_stats(struct tracer *t, uint64_t out[KT_STAT_NR][KT_EV_TYPES])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	int fd = bpf_map__fd(t->skel->maps.kt_stats);

	memset(out, 0, sizeof(uint64_t) * KT_STAT_NR * KT_EV_TYPES);
	for (uint32_t k = 0; k < KT_STAT_NR * KT_EV_TYPES; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k / KT_EV_TYPES][k % KT_EV_TYPES] += vals[c];
	}
	for (int s = 0; s < KT_STAT_NR; s++)
		for (int ty = 0; ty < KT_EV_TYPES; ty++)
			out[s][ty] -= t->stats_base[s][ty];
}

static void totals(struct tracer *t, struct kt_report_totals *tot)
{
	uint64_t st[KT_STAT_NR][KT_EV_TYPES];

	read_stats(t, st);
	memset(tot, 0, sizeof(*tot));
	for (int ty = 0; ty < KT_EV_TYPES; ty++) {
		tot->fired += st[KT_STAT_FIRED][ty];
		tot->delivered += st[KT_STAT_DELIVERED][ty];
		tot->lost += st[KT_STAT_LOST][ty];
		tot->filtered += st[KT_STAT_FILTERED][ty];
		tot->stack_errors += st[KT_STAT_STACK_ERR][ty];
	}
	tot->hit_ns = t->hit_ns;
}

static int attach_one(struct tracer *t, struct bpf_program *prog, pid_t pid, const char *path,
		      const char *name)
{
	struct bpf_link *l;

	if (t->nlinks == (int)(sizeof(t->links) / sizeof(t->links[0])))
		return -E2BIG;
	l = bpf_program__attach_usdt(prog, pid, path, "kaos", name, NULL);
	if (!l)
		return -errno;
	t->links[t->nlinks++] = l;
	return 0;
}

static struct bpf_program *probe_prog(struct tracer *t, unsigned int i)
{
	struct bpf_program *progs[NPROBES] = {t->skel->progs.kaos_send, t->skel->progs.kaos_recv,
					      t->skel->progs.kaos_backpressure,
					      t->skel->progs.kaos_retransmit,
					      t->skel->progs.kaos_ring_close};

	return progs[i];
}

/* Best (least disturbed) per-operation time over rounds of n send+recv pairs. */
static double best_op_ns(struct kaos_ring *r, int rounds, int n)
{
	double best = 1e18;
	uint64_t msg = 0;

	for (int k = 0; k < rounds; k++) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);

		for (int i = 0; i < n; i++) {
			kaos_ring_send(r, &msg);
			kaos_ring_recv(r, &msg);
		}
		double per = (double)(now_ns(CLOCK_MONOTONIC) - t0) / n;

		if (per < best)
			best = per;
	}
	return best;
}

/*
 * Measures what one probe hit costs this machine: ring sends in kaos-trace's
 * own (statically linked) libkaos, untraced and traced. The minimum over
 * short rounds is kept, so preemption on a busy machine does not inflate
 * it. Done once at start; the result prices every later hit.
 */
static double calibrate(struct tracer *t)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC, .slots = 1024, .slot_size = 8,
				       .name = "kaos-trace.calibrate"};
	struct kaos_ring *r;
	struct bpf_link *l;
	double untraced, traced;
	uint8_t one = 1;

	if (kaos_ring_create(&cfg, &r))
		return 0;
	if (t->skel->rodata->filter_pids)
		bpf_map_update_elem(bpf_map__fd(t->skel->maps.pid_filter), &t->self, &one, BPF_ANY);
	untraced = best_op_ns(r, 8, 256);
	kaos_ring_destroy(r);
	l = bpf_program__attach_usdt(t->skel->progs.kaos_send, t->self, "/proc/self/exe", "kaos",
				     "send", NULL);
	/* A new ring checks the semaphore at its first operation (libkaos
	 * re-checks it lazily, every 4096 operations, on a running ring). */
	if (!l || kaos_ring_create(&cfg, &r)) {
		bpf_link__destroy(l);
		return 0;
	}
	/* the first hit of a nop5 site goes through the slow path: warm up */
	best_op_ns(r, 1, 64);
	traced = best_op_ns(r, 8, 256);
	bpf_link__destroy(l);
	kaos_ring_destroy(r);
	if (t->skel->rodata->filter_pids)
		bpf_map_delete_elem(bpf_map__fd(t->skel->maps.pid_filter), &t->self);
	ring_buffer__consume(t->rb); /* discards our own events */
	uint64_t base[KT_STAT_NR][KT_EV_TYPES];

	read_stats(t, base); /* stats_base is still zero here */
	memcpy(t->stats_base, base, sizeof(base));
	return traced > untraced ? traced - untraced : 0;
}

/* Applies --sample/--budget to every traced process whose control we can reach. */
static void update_sampling(struct tracer *t, double iv_s)
{
	for (struct kt_proc *p = t->agg.procs; p; p = p->next) {
		uint32_t want;
		char msg[256];

		if (p->exited || (!opt.sample && !opt.budget_pct))
			continue;
		if (!p->ctl_addr) {
			p->ctl_addr = kt_control_find((pid_t)p->pid, msg, sizeof(msg));
			if (!p->ctl_addr) {
				fprintf(stderr, "kaos-trace: pid %u: cannot set sampling: %s\n",
					p->pid, msg);
				p->exited = kill((pid_t)p->pid, 0) != 0;
				p->ctl_addr = 1; /* don't retry every interval */
				continue;
			}
		}
		if (p->ctl_addr == 1)
			continue;
		if (opt.sample) {
			want = kt_pow2_floor(opt.sample);
		} else {
			uint32_t cur = p->sample_every ? p->sample_every : 1;
			/* ops counted this interval estimate the process's full rate */
			double rate = iv_s > 0 ? (double)p->ops_iv / iv_s : 0;

			if (!p->sample_every)
				want = 1u << 16; /* unknown rate: start sparse, refine */
			else
				want = kt_budget_period(rate, t->hit_ns, opt.budget_pct);
			(void)cur;
		}
		if (want != p->sample_every && kt_control_write((pid_t)p->pid, p->ctl_addr, want) == 0)
			p->sample_every = want;
	}
}

static void report(struct tracer *t, bool final)
{
	struct kt_report_totals tot;
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	totals(t, &tot);
	tot.elapsed_s = (double)(now - t->t_start) / 1e9;
	tot.interval_s = (double)(now - t->t_iv) / 1e9;
	tot.final = final;
	kt_report_text(stdout, &t->agg, &tot, opt.hist, !final);
	if (t->json)
		kt_report_json(t->json, &t->agg, &tot, !final);
	fflush(stdout);
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
			tg->exited = true;
			t->child_status = WIFEXITED(status) ? WEXITSTATUS(status)
							    : 128 + WTERMSIG(status);
			for (int j = 0; j < t->targets.n; j++)
				if (t->targets.v[j].pid == t->child)
					t->targets.v[j].exited = true;
			for (struct kt_proc *p = t->agg.procs; p; p = p->next)
				if (p->pid == (uint32_t)t->child)
					p->exited = true;
			fprintf(stderr, "kaos-trace: command exited with status %d\n",
				t->child_status);
			continue;
		}
		if (kill(tg->pid, 0) != 0 && errno == ESRCH) {
			tg->exited = true;
			struct kt_proc *p = kt_agg_proc(&t->agg, (uint32_t)tg->pid);

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
static void start_command(struct tracer *t)
{
	char exe[PATH_MAX], err[1024];
	struct kt_targets found = {0};
	int go[2];

	if (which(opt.cmd[0], exe, sizeof(exe)))
		die(127, "%s: command not found", opt.cmd[0]);
	if (kt_targets_add_path(&found, exe, err, sizeof(err)))
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
	kt_targets_free(&found);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
	static const struct argp argp = {options, parse_opt, args_doc, doc, NULL, NULL, NULL};
	struct tracer t = {.child_go = -1, .child_status = -1};
	char err[1024];
	int e;

	if (argc >= 2 && !strcmp(argv[1], "list"))
		return cmd_list(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "features"))
		return kt_features_cmd();
	if (argc >= 2 && !strcmp(argv[1], "pmu")) {
		if (argc != 3 || strcmp(argv[2], "list"))
			die(2, "usage: kaos-trace pmu list");
		return kt_pmu_list(stdout) ? 1 : 0;
	}
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	if (!opt.npids && !opt.npaths && !opt.cmd)
		die(2, "nothing to trace: give -p PID, -b PATH or -- COMMAND (see --help)");
	if (opt.sample && opt.budget_pct)
		die(2, "--sample and --budget are exclusive");
	libbpf_set_print(libbpf_print);
	t.self = getpid();
	struct kt_pmu pmu = {0};

	if (opt.pmu && kt_pmu_parse(&pmu, opt.pmu, err, sizeof(err)))
		die(2, "%s", err);

	/* Resolve targets first: bad input fails before anything is loaded. */
	for (int i = 0; i < opt.npids; i++)
		if (kt_targets_add_pid(&t.targets, opt.pids[i], err, sizeof(err)))
			die(1, "%s", err);
	for (int i = 0; i < opt.npaths; i++)
		if (kt_targets_add_path(&t.targets, opt.paths[i], err, sizeof(err)))
			die(1, "%s", err);
	if (opt.cmd)
		start_command(&t);
	if (kt_check_privileges(err, sizeof(err)))
		die(1, "%s", err);

	FILE *folded_out = NULL;

	if (opt.folded_path && !(folded_out = fopen(opt.folded_path, "w")))
		die(1, "cannot write %s: %s", opt.folded_path, strerror(errno));
	if (opt.json_path && !(t.json = fopen(opt.json_path, "w")))
		die(1, "cannot write %s: %s", opt.json_path, strerror(errno));

	if (kt_features_check(&t.targets, err, sizeof(err)))
		die(1, "%s", err);
	t.skel = kaos_trace_bpf__open();
	if (!t.skel)
		die(1, "cannot open BPF object: %s", strerror(errno));
	t.skel->rodata->filter_pids = (opt.npids > 0 || opt.cmd) && opt.npaths == 0;
	t.skel->rodata->filter_rings = opt.nrings > 0;
	t.skel->rodata->want_stacks = opt.stacks;
	t.skel->rodata->wakeup_bytes = opt.ringbuf_bytes / 16;
	bpf_map__set_max_entries(t.skel->maps.events, (uint32_t)opt.ringbuf_bytes);
	if (opt.pmu && (e = kt_pmu_open(&pmu, stderr)))
		die(1, "--pmu: %s", strerror(-e));
	if (pmu.n) {
		t.skel->rodata->pmu_nr = (uint32_t)pmu.n;
		t.skel->rodata->pmu_ncpus = (uint32_t)pmu.ncpus;
		bpf_map__set_max_entries(t.skel->maps.pmu_events, (uint32_t)(KT_PMU_MAX * pmu.ncpus));
	}
	/* Test hook: makes one program fail verification so the error path can be tested. */
	if (getenv("KAOS_TRACE_TEST_BREAK_LOAD"))
		bpf_program__set_type(t.skel->progs.kaos_send, BPF_PROG_TYPE_SOCKET_FILTER);
	e = kaos_trace_bpf__load(t.skel);
	if (e) {
		fprintf(stderr, "kaos-trace: BPF load failed: %s; libbpf said:\n", strerror(-e));
		print_bpf_log_tail();
		kt_features_explain(stderr);
		kaos_trace_bpf__destroy(t.skel);
		return 1;
	}
	uint8_t one = 1;

	if (pmu.n && (e = kt_pmu_fill_map(&pmu, bpf_map__fd(t.skel->maps.pmu_events))))
		die(1, "--pmu: cannot give the counters to BPF: %s", strerror(-e));
	for (int i = 0; t.skel->rodata->filter_pids && i < t.targets.n; i++)
		if (t.targets.v[i].pid > 0)
			bpf_map_update_elem(bpf_map__fd(t.skel->maps.pid_filter),
					    &t.targets.v[i].pid, &one, BPF_ANY);
	for (int i = 0; i < opt.nrings; i++)
		bpf_map_update_elem(bpf_map__fd(t.skel->maps.ring_filter), &opt.rings[i], &one,
				    BPF_ANY);
	t.rb = ring_buffer__new(bpf_map__fd(t.skel->maps.events), handle_event, &t, NULL);
	if (!t.rb)
		die(1, "cannot create ring buffer consumer: %s", strerror(errno));

	if (opt.probe_cost_ns > 0)
		t.hit_ns = opt.probe_cost_ns;
	else if (!opt.no_calibrate)
		t.hit_ns = calibrate(&t);

	/* Attach every probe of every target. */
	for (int i = 0; i < t.targets.n; i++) {
		struct kt_target *tg = &t.targets.v[i];

		for (unsigned int p = 0; p < NPROBES; p++) {
			e = attach_one(&t, probe_prog(&t, p), tg->pid > 0 ? tg->pid : -1, tg->path,
				       probe_names[p]);
			if (e)
				die(1, "cannot attach kaos:%s in %s: %s", probe_names[p], tg->path,
				    strerror(-e));
		}
	}
	t.t_start = t.t_iv = now_ns(CLOCK_MONOTONIC);
	kt_agg_init(&t.agg, now_ns(CLOCK_BOOTTIME));
	t.agg.npmu = pmu.n;
	memcpy(t.agg.pmu_names, pmu.names, sizeof(t.agg.pmu_names));
	/* Report traced pids even if they never fire (the command: once it runs). */
	for (int i = 0; i < t.targets.n; i++)
		if (t.targets.v[i].pid > 0 && t.targets.v[i].pid != t.child)
			kt_agg_proc(&t.agg, (uint32_t)t.targets.v[i].pid);
	if (opt.stacks || opt.profile_hz) {
		t.sym = kt_sym_new();
		t.folded = kt_folded_new();
		if (!t.sym || !t.folded)
			die(1, "out of memory");
	}

	if (opt.profile_hz) {
		if (kt_profile_open(&t.prof, opt.profile_hz, t.sym, err, sizeof(err)))
			die(1, "%s", err);
		if (t.child)
			kt_profile_add_pid(t.prof, (uint32_t)t.child);
	}

	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "kaos-trace: attached %d probes to %d target%s%s; probe hit costs %.0f ns\n",
		t.nlinks, t.targets.n, t.targets.n == 1 ? "" : "s",
		opt.duration_s > 0 ? "" : " (Ctrl-C to stop)", t.hit_ns);
	update_sampling(&t, 0);
	if (t.child_go >= 0 && t.child) {
		/* attached: let the command exec */
		if (write(t.child_go, "g", 1) != 1)
			die(1, "cannot start the command: %s", strerror(errno));
		close(t.child_go);
		t.child_go = -1;
	}

	uint64_t end = opt.duration_s > 0 ? t.t_start + (uint64_t)(opt.duration_s * 1e9) : 0;
	uint64_t iv_ns = opt.interval_s > 0 ? (uint64_t)(opt.interval_s * 1e9) : 0;
	uint64_t next_sample_update = t.t_start + 100000000ull;
	int rc = 0;

	while (!stop_signal) {
		e = ring_buffer__poll(t.rb, 50);
		if (e < 0 && e != -EINTR) {
			fprintf(stderr, "kaos-trace: ring buffer poll failed: %s\n", strerror(-e));
			rc = 1;
			break;
		}
		ring_buffer__consume(t.rb); /* records submitted without a wakeup */
		uint64_t now = now_ns(CLOCK_MONOTONIC);

		if ((opt.budget_pct || opt.sample) && now >= next_sample_update) {
			update_sampling(&t, 0.1);
			for (struct kt_proc *p = t.agg.procs; p; p = p->next)
				p->ops_iv = 0;
			next_sample_update = now + 100000000ull;
		}
		if (iv_ns && now - t.t_iv >= iv_ns) {
			report(&t, false);
			kt_agg_interval_reset(&t.agg);
			t.t_iv = now;
		}
		if (t.prof) {
			/* -p targets are known; -b processes once they produce events */
			for (struct kt_proc *p = t.agg.procs; p; p = p->next)
				kt_profile_add_pid(t.prof, p->pid);
			kt_profile_refresh(t.prof);
		}
		check_exited(&t);
		if ((end && now >= end) || all_pids_exited(&t))
			break;
	}
	/* Detach first, then drain what is left: nothing is lost on the way out. */
	for (int i = 0; i < t.nlinks; i++)
		bpf_link__destroy(t.links[i]);
	t.nlinks = 0;
	ring_buffer__consume(t.rb);
	report(&t, true);
	if (t.prof) {
		struct kt_profile_stats ps;
		int np = kt_profile_collect(t.prof, t.folded);

		kt_profile_get_stats(t.prof, &ps);
		fprintf(stderr,
			"kaos-trace: profile: %llu samples at %u Hz on %d CPUs (%llu without a user "
			"stack, %llu lost)%s\n",
			(unsigned long long)ps.samples, opt.profile_hz, ps.ncpus,
			(unsigned long long)ps.stack_err, (unsigned long long)ps.lost,
			np < 0 ? ": collecting them failed" : "");
		kt_profile_free(t.prof);
		rc = np < 0 ? 1 : rc;
	}
	if (t.folded) {
		int nst = kt_folded_write(t.folded, folded_out ? folded_out : stdout,
					  KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, kt_folded_sym_kt, t.sym);

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
		kt_folded_free(t.folded);
		kt_sym_free(t.sym);
	}
	if (t.json && fclose(t.json) != 0) {
		fprintf(stderr, "kaos-trace: writing %s failed: %s\n", opt.json_path,
			strerror(errno));
		rc = 1;
	}
	ring_buffer__free(t.rb);
	kaos_trace_bpf__destroy(t.skel);
	kt_pmu_close(&pmu);
	kt_agg_free(&t.agg);
	kt_targets_free(&t.targets);
	if (t.child && !rc) {
		if (t.child_status < 0)
			waitpid(t.child, &t.child_status, 0); /* stopped early: let it finish */
		rc = t.child_status > 0 ? t.child_status : 0;
	}
	return rc;
}
