/* SPDX-License-Identifier: MIT */
/*
 * bench_ipc: libkaos IPC channels and the kaos-pipeline program.
 *
 *  1. 8-byte messages through an SPSC ring, producer and consumer pinned to
 *     two CPUs: two threads of one process (a plain ring) beside two
 *     processes (fork) sharing an IPC channel (memfd), one message per call
 *     and batches of 256 through the channel calls, one message per call
 *     through the ring calls on the shared ring (channel call only when the
 *     ring is full/empty); plus a round trip through two channels.
 *  2. kaos-pipeline compress vs `gzip -c` on the same generated text file
 *     at the same level, both to /dev/null.
 *
 * Every figure is the median of RUNS runs (default 5). Targets: IPC >= 147 M
 * msgs/s cross-process; pipeline >= 1.8x gzip. Always exits 0 unless set-up
 * fails; MET/MISSED is printed, not enforced.
 *
 * Environment: RUNS, IPC_MSGS (single-message count per run, default 10 M; batches move 5x that),
 * CPUS="A,B" (default: the first two allowed CPUs), PIPE_MB (default 64),
 * PIPE_LEVEL (6), PIPE_WORKERS (default: online CPUs).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaos/ipc.h"
#include "kaos/ring.h"

#define BATCH	     256u
#define SLOTS	     4096u
#define MSG_SIZE     8u
#define TARGET_IPC   147e6
#define TARGET_RATIO 1.8

static int runs = 5;
static uint64_t n_single = 10000000, n_batch = 50000000;
static int cpu_a = -1, cpu_b = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ipc: %s: %s\n", what, rc ? kaos_ipc_strerror(rc) : strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort: a restricted cpuset may refuse */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* ------------------------------------------------------------------ same process */

struct thr_arg {
	struct kaos_ring *r;
	uint64_t n;
	bool batch;
	uint64_t end_ns;
	uint64_t sum;
};

static void *consumer_thread(void *p)
{
	struct thr_arg *a = p;
	uint64_t got = 0, sum = 0, buf[BATCH];

	pin(cpu_b);
	while (got < a->n) {
		if (a->batch) {
			int k = kaos_ring_recv_batch(a->r, buf, BATCH);
			for (int i = 0; i < k; i++)
				sum += buf[i];
			got += (uint64_t)k;
			if (!k)
				cpu_relax();
		} else if (kaos_ring_recv(a->r, buf) == 0) {
			sum += buf[0];
			got++;
		} else {
			cpu_relax(); /* as the channel calls do: polling flat out steals the line */
		}
	}
	a->end_ns = now_ns();
	a->sum = sum;
	return NULL;
}

/* msgs/s of one run through a ring between two threads of this process */
static double run_threads(bool batch)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = SLOTS,
				       .slot_size = MSG_SIZE,
				       .name = "bench.thread",
				       .wait = KAOS_WAIT_SPIN};
	struct thr_arg a = {.n = batch ? n_batch : n_single, .batch = batch};
	uint64_t buf[BATCH];
	pthread_t t;
	int rc;

	if ((rc = kaos_ring_create(&cfg, &a.r)))
		die("ring create", rc);
	pthread_create(&t, NULL, consumer_thread, &a);
	pin(cpu_a);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < a.n;) {
		if (batch) {
			uint32_t k = a.n - i < BATCH ? (uint32_t)(a.n - i) : BATCH;
			for (uint32_t j = 0; j < k; j++)
				buf[j] = i + j;
			kaos_ring_send_batch(a.r, buf, k);
			i += k;
		} else {
			buf[0] = i++;
			kaos_ring_send(a.r, buf);
		}
	}
	pthread_join(t, NULL);
	if (a.sum != a.n * (a.n - 1) / 2)
		die("same-process run lost messages", 0);
	kaos_ring_destroy(a.r);
	return (double)a.n / ((double)(a.end_ns - t0) / 1e9);
}

static struct kaos_ipc *channel(const char *name, enum kaos_ipc_role role);

/* ------------------------------------------------------------------ one thread */

/*
 * msgs/s of one thread moving n messages through both ends: 256 sent, then
 * 256 received (singly, or as one batch each way). No cross-CPU traffic, so
 * this is the per-call CPU cost, whatever the vCPU placement; it is how the
 * 147 M msgs/s "IPC" figure of the Kaos project (Apple M1 Pro) was measured.
 * ipc: a memfd channel with a producer and a consumer handle in this process;
 * otherwise a plain ring.
 */
static double run_local(bool ipc, bool batch)
{
	struct kaos_ring_config rcfg = {.kind = KAOS_RING_SPSC,
					.slots = SLOTS,
					.slot_size = MSG_SIZE,
					.name = "bench.local",
					.wait = KAOS_WAIT_FAIL};
	struct kaos_ipc *p = NULL, *c = NULL;
	struct kaos_ring *r = NULL;
	uint64_t n = batch ? n_batch : n_single, buf[BATCH], sum = 0;
	int rc;

	if (ipc) {
		p = channel("local", KAOS_IPC_PRODUCER);
		if ((rc = kaos_ipc_open_fd(kaos_ipc_fd(p), KAOS_IPC_CONSUMER, &c)))
			die("ipc open", rc);
	} else if ((rc = kaos_ring_create(&rcfg, &r))) {
		die("ring create", rc);
	}
	pin(cpu_a);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i += BATCH) {
		uint32_t k = n - i < BATCH ? (uint32_t)(n - i) : BATCH;
		if (batch) {
			for (uint32_t j = 0; j < k; j++)
				buf[j] = i + j;
			if ((ipc ? kaos_ipc_send_batch(p, buf, k, 0)
				 : kaos_ring_send_batch(r, buf, k)) != (int)k ||
			    (ipc ? kaos_ipc_recv_batch(c, buf, k, 0)
				 : kaos_ring_recv_batch(r, buf, k)) != (int)k)
				die("one-thread batch", 0);
			for (uint32_t j = 0; j < k; j++)
				sum += buf[j];
			continue;
		}
		for (uint32_t j = 0; j < k; j++) {
			buf[0] = i + j;
			if (ipc ? kaos_ipc_send(p, buf, 0) : kaos_ring_send(r, buf))
				die("one-thread send", 0);
		}
		for (uint32_t j = 0; j < k; j++) {
			if (ipc ? kaos_ipc_recv(c, buf, 0) : kaos_ring_recv(r, buf))
				die("one-thread recv", 0);
			sum += buf[0];
		}
	}
	double rate = (double)n / ((double)(now_ns() - t0) / 1e9);
	if (sum != n * (n - 1) / 2)
		die("one-thread run lost messages", 0);
	if (ipc) {
		kaos_ipc_close(c);
		kaos_ipc_close(p);
	} else {
		kaos_ring_destroy(r);
	}
	return rate;
}

/* ------------------------------------------------------------------ cross process */

struct shared_times {
	_Atomic uint64_t end_ns;
	_Atomic uint64_t sum;
	_Atomic int ready;
};

static struct kaos_ipc *channel(const char *name, enum kaos_ipc_role role)
{
	struct kaos_ipc_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = SLOTS, .slot_size = MSG_SIZE, .role = role};
	struct kaos_ipc *ch;
	int rc = kaos_ipc_create_memfd(name, &cfg, &ch);

	if (rc)
		die("ipc create", rc);
	return ch;
}

static struct kaos_ipc *reopen(struct kaos_ipc *inherited, enum kaos_ipc_role role)
{
	struct kaos_ipc *ch;
	int rc = kaos_ipc_open_fd(kaos_ipc_fd(inherited), role, &ch);

	if (rc)
		die("ipc open", rc);
	kaos_ipc_close(inherited); /* the parent's copy: unmapped here, untouched there */
	return ch;
}

/*
 * msgs/s of one run through an IPC channel from this process to a forked
 * one. direct: per-message kaos_ring_send/recv on the shared ring, falling
 * back to the channel call (which waits and watches the peer) only when the
 * ring is full or empty; otherwise every message goes through the channel call.
 */
static double run_processes(bool batch, bool direct, struct shared_times *sh)
{
	uint64_t n = batch ? n_batch : n_single, buf[BATCH];
	struct kaos_ipc *ch = channel("bench", KAOS_IPC_PRODUCER);

	atomic_store(&sh->ready, 0);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", 0);
	if (pid == 0) {
		struct kaos_ipc *c = reopen(ch, KAOS_IPC_CONSUMER);
		uint64_t got = 0, sum = 0;
		pin(cpu_b);
		atomic_store(&sh->ready, 1);
		while (got < n) {
			if (batch) {
				int k = kaos_ipc_recv_batch(c, buf, BATCH, KAOS_IPC_FOREVER);
				if (k < 0)
					_exit(3);
				for (int i = 0; i < k; i++)
					sum += buf[i];
				got += (uint64_t)k;
			} else {
				if ((!direct || kaos_ring_recv(kaos_ipc_ring(c), buf) != 0) &&
				    kaos_ipc_recv(c, buf, KAOS_IPC_FOREVER))
					_exit(3);
				sum += buf[0];
				got++;
			}
		}
		atomic_store(&sh->end_ns, now_ns());
		atomic_store(&sh->sum, sum);
		kaos_ipc_close(c);
		_exit(0);
	}
	pin(cpu_a);
	while (!atomic_load(&sh->ready))
		sched_yield();
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n;) {
		if (batch) {
			uint32_t k = n - i < BATCH ? (uint32_t)(n - i) : BATCH;
			for (uint32_t j = 0; j < k; j++)
				buf[j] = i + j;
			if (kaos_ipc_send_batch(ch, buf, k, KAOS_IPC_FOREVER) != (int)k)
				die("ipc send_batch", 0);
			i += k;
		} else {
			buf[0] = i++;
			if ((!direct || kaos_ring_send(kaos_ipc_ring(ch), buf) != 0) &&
			    kaos_ipc_send(ch, buf, KAOS_IPC_FOREVER))
				die("ipc send", 0);
		}
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || atomic_load(&sh->sum) != n * (n - 1) / 2)
		die("cross-process run failed or lost messages", 0);
	kaos_ipc_close(ch);
	return (double)n / ((double)(atomic_load(&sh->end_ns) - t0) / 1e9);
}

/* ns per round trip: a message out on one channel, echoed back on another */
static double run_rtt(struct shared_times *sh)
{
	const uint64_t n = 200000;
	struct kaos_ipc *out = channel("ping", KAOS_IPC_PRODUCER);
	struct kaos_ipc *back = channel("pong", KAOS_IPC_CONSUMER);
	uint64_t v = 0;

	atomic_store(&sh->ready, 0);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", 0);
	if (pid == 0) {
		struct kaos_ipc *in = reopen(out, KAOS_IPC_CONSUMER);
		struct kaos_ipc *echo = reopen(back, KAOS_IPC_PRODUCER);
		pin(cpu_b);
		atomic_store(&sh->ready, 1);
		for (uint64_t i = 0; i < n; i++) {
			if (kaos_ipc_recv(in, &v, KAOS_IPC_FOREVER) ||
			    kaos_ipc_send(echo, &v, KAOS_IPC_FOREVER))
				_exit(3);
		}
		kaos_ipc_close(in);
		kaos_ipc_close(echo);
		_exit(0);
	}
	pin(cpu_a);
	while (!atomic_load(&sh->ready))
		sched_yield();
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		if (kaos_ipc_send(out, &i, KAOS_IPC_FOREVER) ||
		    kaos_ipc_recv(back, &v, KAOS_IPC_FOREVER) || v != i)
			die("round trip", 0);
	}
	double ns = (double)(now_ns() - t0) / (double)n;
	int st;
	waitpid(pid, &st, 0);
	kaos_ipc_close(out);
	kaos_ipc_close(back);
	return ns;
}

/* ------------------------------------------------------------------ pipeline vs gzip */

/* Text-like data: words of a fixed vocabulary, frequent ones far more often (Zipf-like). */
static int make_text(const char *path, size_t bytes)
{
	enum { VOCAB = 4000 };
	static char words[VOCAB][12];
	uint64_t x = 0x2545F4914F6CDD1Dull;
	FILE *f = fopen(path, "w");
	size_t done = 0, col = 0;

	if (!f)
		return -1;
	for (int i = 0; i < VOCAB; i++) {
		int len = 2 + (int)(i % 9);
		for (int k = 0; k < len; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			/* squaring skews toward the first (frequent) letters */
			uint64_t l = (x >> 20) % 26;
			words[i][k] = "etaoinshrdlucmfwypvbgkjqxz"[l * l / 26];
		}
		words[i][len] = 0;
	}
	while (done < bytes) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* rank ~ 1/u distribution: u uniform in (0,1] */
		double u = (double)((x >> 11) + 1) / 9007199254740992.0;
		int w = (int)(1.0 / u) % VOCAB;
		int n = fprintf(f, "%s", words[w]);
		done += (size_t)n;
		col += (size_t)n;
		if (col > 70) {
			fputc('\n', f);
			col = 0;
		} else {
			fputc(' ', f);
		}
		done++;
	}
	return fclose(f);
}

static double cpu_s(const struct rusage *u)
{
	return (double)u->ru_utime.tv_sec + (double)u->ru_utime.tv_usec / 1e6 +
	       (double)u->ru_stime.tv_sec + (double)u->ru_stime.tv_usec / 1e6;
}

/* Wall seconds of one command; *cpu: the CPU seconds (user + sys) it and its children used. */
static double run_cmd(const char *cmd, double *cpu)
{
	struct rusage u0, u1;
	uint64_t t0 = now_ns();

	getrusage(RUSAGE_CHILDREN, &u0);
	int rc = system(cmd);
	getrusage(RUSAGE_CHILDREN, &u1);
	if (rc != 0) {
		fprintf(stderr, "bench_ipc: '%s' failed (%d)\n", cmd, rc);
		return -1;
	}
	if (cpu)
		*cpu = cpu_s(&u1) - cpu_s(&u0);
	return (double)(now_ns() - t0) / 1e9;
}

static void bench_pipeline(void)
{
	char self[PATH_MAX], prog[PATH_MAX + 32], cmd[2 * PATH_MAX];
	char file[] = "/tmp/bench_ipc.XXXXXX";
	size_t mb = getenv("PIPE_MB") ? (size_t)atol(getenv("PIPE_MB")) : 64;
	int level = getenv("PIPE_LEVEL") ? atoi(getenv("PIPE_LEVEL")) : 6;
	long workers = getenv("PIPE_WORKERS") ? atol(getenv("PIPE_WORKERS"))
					      : sysconf(_SC_NPROCESSORS_ONLN);
	double tp[64], tg[64], cp[64], cg[64];

	printf("\n== kaos-pipeline compress vs gzip -c (level %d, %zu MiB of generated text, "
	       "%ld workers, output to /dev/null)\n",
	       level, mb, workers);
#ifdef KAOS_BENCH_NOPROBES
	printf("   skipped in the -noprobes build (kaos-pipeline links the probed libkaos.so)\n");
	return;
#endif
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		printf("   SKIPPED: cannot find this program's path\n");
		return;
	}
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(prog, sizeof(prog), "%s/../kaos-pipeline", self);
	if (access(prog, X_OK) != 0 || system("gzip --version >/dev/null 2>&1") != 0) {
		printf("   SKIPPED: %s or gzip missing\n", prog);
		return;
	}
	int fd = mkstemp(file);
	if (fd < 0 || make_text(file, mb << 20) != 0) {
		printf("   SKIPPED: cannot write %s\n", file);
		return;
	}
	close(fd);
	/* warm the page cache and both programs once */
	snprintf(cmd, sizeof(cmd), "cat %s > /dev/null", file);
	run_cmd(cmd, NULL);
	int r;
	for (r = 0; r < runs && r < 64; r++) {
		snprintf(cmd, sizeof(cmd), "%s compress %s /dev/null --level %d --workers %ld",
			 prog, file, level, workers);
		tp[r] = run_cmd(cmd, &cp[r]);
		snprintf(cmd, sizeof(cmd), "gzip -%d -c %s > /dev/null", level, file);
		tg[r] = run_cmd(cmd, &cg[r]);
		if (tp[r] < 0 || tg[r] < 0)
			break;
	}
	/* compressed sizes, for the record */
	char sizes[PATH_MAX + 200];
	snprintf(sizes, sizeof(sizes),
		 "printf '   output sizes: kaos-pipeline %%s bytes, gzip %%s bytes (input %%s)\\n' "
		 "$(%s compress %s - --level %d | wc -c) $(gzip -%d -c %s | wc -c) $(wc -c < %s)",
		 prog, file, level, level, file, file);
	fflush(stdout);
	if (system(sizes) != 0)
		printf("   (sizes unavailable)\n");
	unlink(file);
	if (r < runs) {
		printf("   FAILED: a run failed\n");
		return;
	}
	double mbytes = (double)(mb << 20) / 1e6;
	double sp[64], sg[64], pr[64], ep[64], eg[64], up[64], ug[64];
	for (int i = 0; i < runs; i++) {
		sp[i] = mbytes / tp[i];
		sg[i] = mbytes / tg[i];
		pr[i] = tg[i] / tp[i]; /* the pair ran back to back: its ratio shares their load */
		ep[i] = mbytes / cp[i];
		eg[i] = mbytes / cg[i];
		up[i] = cp[i] / tp[i];
		ug[i] = cg[i] / tg[i];
	}
	double mp = median(sp, runs), mg = median(sg, runs);
	printf("   %-34s %10.1f MB/s  (median of %d; min %.1f max %.1f)\n",
	       "kaos-pipeline compress", mp, runs, sp[0], sp[runs - 1]);
	printf("   %-34s %10.1f MB/s  (median of %d; min %.1f max %.1f)\n", "gzip -c", mg, runs,
	       sg[0], sg[runs - 1]);
	double mpr = median(pr, runs), mep = median(ep, runs), meg = median(eg, runs);
	double mup = median(up, runs), mug = median(ug, runs);
	printf("   ratio %.2fx (median of the per-pair ratios %.2fx, min %.2f max %.2f)  target >= "
	       "%.1fx on 2 cores: %s\n",
	       mp / mg, mpr, pr[0], pr[runs - 1], TARGET_RATIO,
	       mp / mg >= TARGET_RATIO ? "MET" : "MISSED");
	/*
	 * The wall ratio is (MB per CPU-second ratio) x (cores each got): the
	 * first is the code, the second what the machine gave the run.
	 */
	printf("   per CPU-second: kaos-pipeline %.1f MB/s, gzip %.1f MB/s (%.2fx); cores used: "
	       "kaos-pipeline %.2f, gzip %.2f\n",
	       mep, meg, mep / meg, mup, mug);
	if (mup < 1.8)
		printf("   NOTE: kaos-pipeline got %.2f of its %ld cores' time: other load on the "
		       "machine caps the ratio at about %.2fx this run\n",
		       mup, workers, mep / meg * mup / (mug > 0 ? mug : 1));
}

/* ------------------------------------------------------------------ main */

static void pick_cpus(void)
{
	const char *env = getenv("CPUS");
	cpu_set_t set;

	if (env && sscanf(env, "%d,%d", &cpu_a, &cpu_b) == 2)
		return;
	cpu_a = cpu_b = -1;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (cpu_a < 0)
			cpu_a = c;
		else if (cpu_b < 0)
			cpu_b = c;
	}
}

int main(void)
{
	cpu_set_t all;

	/*
	 * The IPC runs pin this thread to one CPU; the pipeline comparison runs
	 * child processes, which would inherit that pin (and kaos-pipeline would
	 * run its workers on one core): it gets the original mask back first.
	 */
	if (sched_getaffinity(0, sizeof(all), &all) != 0)
		die("sched_getaffinity", 0);
	if (getenv("RUNS"))
		runs = atoi(getenv("RUNS"));
	if (runs < 1 || runs > 64)
		runs = 5;
	if (getenv("IPC_MSGS")) {
		n_single = strtoull(getenv("IPC_MSGS"), NULL, 10);
		n_batch = n_single * 5;
	}
	if (n_single < 1000)
		n_single = 1000, n_batch = 5000;
	pick_cpus();

	struct shared_times *sh =
		mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap", 0);

#ifdef KAOS_BENCH_NOPROBES
	const char *variant = "probe sites compiled out";
#else
	const char *variant = "probe sites in, untraced";
#endif
	printf("== bench_ipc (%s): 8-byte messages, SPSC ring of %u slots, CPUs %d,%d, "
	       "median of %d runs\n",
	       variant, SLOTS, cpu_a, cpu_b, runs);
	char load[64] = "?";
	FILE *lf = fopen("/proc/loadavg", "r");
	if (lf) {
		if (!fgets(load, sizeof(load), lf))
			snprintf(load, sizeof(load), "?");
		load[strcspn(load, "\n")] = 0;
		fclose(lf);
	}
	printf("   load average at start: %s\n", load);
	printf("   single: %llu msgs per run; batch: %llu msgs per run in batches of %u\n",
	       (unsigned long long)n_single, (unsigned long long)n_batch, BATCH);

	static const char *labels[9] = {
		"same process, 2 threads, single",   "same process, 2 threads, batch",
		"cross-process (IPC), single",	     "cross-process (IPC), batch",
		"cross-process, single, ring calls", "one thread, ring, single",
		"one thread, ring, batch",	     "one thread, IPC channel, single",
		"one thread, IPC channel, batch"};
	double med[9];
	for (int c = 0; c < 9; c++) {
		double v[64];
		if (c == 5)
			printf("   one thread, both ends (256 sent, then 256 received: per-call "
			       "cost, no "
			       "cross-CPU traffic)\n");
		for (int r = 0; r < runs; r++)
			v[r] = c < 2   ? run_threads(c == 1)
			       : c < 5 ? run_processes(c == 3, c == 4, sh)
				       : run_local(c >= 7, c == 6 || c == 8);
		med[c] = median(v, runs);
		printf("   %-36s %9.1f M msgs/s  (min %.1f max %.1f)\n", labels[c], med[c] / 1e6,
		       v[0] / 1e6, v[runs - 1] / 1e6);
		fflush(stdout);
	}
	double rtt[64];
	for (int r = 0; r < runs; r++)
		rtt[r] = run_rtt(sh);
	double mrtt = median(rtt, runs);
	printf("   %-36s %9.0f ns       (min %.0f max %.0f)\n", "cross-process round trip", mrtt,
	       rtt[0], rtt[runs - 1]);
	if (mrtt > 1000)
		printf("   NOTE: a round trip over 1 us means the two CPUs were time-sliced or far "
		       "apart;"
		       " throughput figures from this run understate the rings\n");
	printf("   cross/same ratio: single %.2f (ring calls %.2f), batch %.2f\n", med[2] / med[0],
	       med[4] / med[0], med[3] / med[1]);
	printf("   IPC/ring ratio, one thread: single %.2f, batch %.2f\n", med[7] / med[5],
	       med[8] / med[6]);
	printf("   target IPC >= %.0f M msgs/s, cross-process: single %s, single ring calls %s, "
	       "batch %s\n",
	       TARGET_IPC / 1e6, med[2] >= TARGET_IPC ? "MET" : "MISSED",
	       med[4] >= TARGET_IPC ? "MET" : "MISSED", med[3] >= TARGET_IPC ? "MET" : "MISSED");
	printf("   target IPC >= %.0f M msgs/s, one thread (as Kaos measured it): single %s, batch "
	       "%s\n",
	       TARGET_IPC / 1e6, med[7] >= TARGET_IPC ? "MET" : "MISSED",
	       med[8] >= TARGET_IPC ? "MET" : "MISSED");
	fflush(stdout);

	if (sched_setaffinity(0, sizeof(all), &all) != 0)
		die("sched_setaffinity", 0);
	bench_pipeline();
	munmap(sh, 4096);
	return 0;
}
