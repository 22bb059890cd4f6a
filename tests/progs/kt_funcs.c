// SPDX-License-Identifier: MIT
/*
 * Functions of known duration and known call counts, for kaos-trace --func:
 *   kt_funcs [--n20 N] [--n100 N] [--rec CALLS --depth D] [--threads CALLS]
 *            [--hot N] [--dlopen LIB --dl-calls N] [--wait] [--sleep-ms MS]
 *            [--nest N] [--tail N] [--migrate N] [--jumps N] [--hold-ms MS]
 *            [--slower PCT]
 * busy_20us / busy_100us spin on the clock for 20 / 100 us from their own
 * entry; rec_busy(d) spins 50 us and recurses d times (level k lasts
 * (k + 1) * 50 us); nest_busy spins 50 us and calls busy_20us twice (90 us);
 * tail_busy is only a jump to busy_20us (a tail call); thread_busy_50us runs
 * in two threads at once; hot_empty does nothing; migrate_busy spins 20 us on one CPU, moves itself
 * to another and spins 20 us more (its own median duration is printed as "self_p50_ns
 * migrate_busy=NS", "migrated N" counts calls that did change CPU; busy_20us's
 * likewise as "self_p50_ns busy_20us=NS").
 * jump_out_a/jump_out_b spin 20 us and longjmp() back to main, never
 * returning (--jumps N: N calls, alternating).
 * --dlopen loads LIB after start and calls its dl_busy_20us.
 * Prints the calls it made, one "calls NAME=N" line per function.
 * Also has symbols kaos-trace must refuse: frag_busy.cold (a .cold
 * fragment) and nosize_busy (no size).
 * --wait: print "ready PID", wait for a line on stdin, then start.
 * --sleep-ms: sleep before the calls; --hold-ms: stay alive after them.
 * --slower PCT: every spin lasts PCT percent longer (busy_20us spins 22 us
 * with --slower 10): the known regression kaos-trace diff must detect.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Exported (visible in .dynsym when linked with -rdynamic: kt_funcs_rdynamic). */
#define KT_FUNC_EXPORT __attribute__((noinline, visibility("default")))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 100 + --slower PCT: the spins' length in percent of their nominal one */
static uint64_t spin_pct = 100;

static void spin_ns(uint64_t t0, uint64_t ns)
{
	ns = ns * spin_pct / 100;
	while (now_ns() - t0 < ns)
		;
}

/* busy_20us's own durations (probes excluded): the first BUSY20_SELF_MAX calls. */
#define BUSY20_SELF_MAX 4096
static uint64_t busy20_self_ns[BUSY20_SELF_MAX];
static long busy20_n;

KT_FUNC_EXPORT void busy_20us(void)
{
	uint64_t t0 = now_ns();

	spin_ns(t0, 20000);
	if (busy20_n < BUSY20_SELF_MAX)
		busy20_self_ns[busy20_n++] = now_ns() - t0;
}

KT_FUNC_EXPORT void busy_100us(void)
{
	spin_ns(now_ns(), 100000);
}

static volatile uint64_t sink;

/* Real recursion (work after the call): no tail call the compiler could turn into a loop. */
KT_FUNC_EXPORT uint64_t rec_busy(int depth)
{
	uint64_t r;

	spin_ns(now_ns(), 50000);
	r = depth > 0 ? rec_busy(depth - 1) + 1 : 0;
	sink += r;
	return r;
}

KT_FUNC_EXPORT void nest_busy(void)
{
	spin_ns(now_ns(), 50000);
	busy_20us();
	busy_20us();
}

/* Only a tail call (a jmp to busy_20us): its return is busy_20us's. */
KT_FUNC_EXPORT void tail_busy(void)
{
	busy_20us();
}

KT_FUNC_EXPORT void thread_busy_50us(void)
{
	spin_ns(now_ns(), 50000);
}

KT_FUNC_EXPORT void hot_empty(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Moves the calling thread to CPU cpu; 0 or -1. */
static int run_on(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s);
}

/* Its own duration, timed inside it (probes excluded), per call. */
static uint64_t *migrate_self_ns;
static long migrate_i;

/* Returns 1 if the second half ran on another CPU than the first. */
KT_FUNC_EXPORT int migrate_busy(int a, int b)
{
	uint64_t t0 = now_ns();
	int c0, c1;

	run_on(a);
	c0 = sched_getcpu();
	spin_ns(now_ns(), 20000);
	run_on(b);
	c1 = sched_getcpu();
	spin_ns(now_ns(), 20000);
	migrate_self_ns[migrate_i++] = now_ns() - t0;
	return c0 != c1;
}

/* Not functions one can probe: kaos-trace refuses them by name and by size. */
__asm__(".pushsection .text\n"
	".globl frag_busy.cold\n.type frag_busy.cold,%function\n"
	"frag_busy.cold:\n\tret\n.size frag_busy.cold,.-frag_busy.cold\n"
	".globl nosize_busy\n.type nosize_busy,%function\n"
	"nosize_busy:\n\tret\n"
	".popsection\n");

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static jmp_buf jump_env;

KT_FUNC_EXPORT void jump_out_a(void)
{
	spin_ns(now_ns(), 20000);
	longjmp(jump_env, 1);
}

KT_FUNC_EXPORT void jump_out_b(void)
{
	spin_ns(now_ns(), 20000);
	longjmp(jump_env, 2);
}

/* n calls that leave by longjmp(), alternating between the two functions. */
static __attribute__((noinline)) void run_jumps(long n)
{
	volatile long done = 0;

	while (done < n) {
		if (setjmp(jump_env) == 0) {
			if (done & 1)
				jump_out_b();
			else
				jump_out_a();
		}
		done++;
	}
}

static long thread_calls;

static void *thread_main(void *arg)
{
	(void)arg;
	for (long i = 0; i < thread_calls; i++)
		thread_busy_50us();
	return NULL;
}

static long arg_long(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "kt_funcs: %s needs a value\n", argv[*i]);
		exit(2);
	}
	return atol(argv[++*i]);
}

int main(int argc, char **argv)
{
	long n20 = 0, n100 = 0, rec = 0, depth = 0, hot = 0, dl_calls = 0, sleep_ms = 0,
	     hold_ms = 0;
	long migrate = 0, migrated = 0, nest = 0, jumps = 0, tail = 0;
	const char *dl = NULL;
	long slower = 0;
	int wait = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n20"))
			n20 = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--n100"))
			n100 = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--rec"))
			rec = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--depth"))
			depth = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--threads"))
			thread_calls = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--hot"))
			hot = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--dl-calls"))
			dl_calls = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--sleep-ms"))
			sleep_ms = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--tail"))
			tail = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--jumps"))
			jumps = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--nest"))
			nest = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--migrate"))
			migrate = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--hold-ms"))
			hold_ms = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--slower"))
			slower = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--dlopen") && i + 1 < argc)
			dl = argv[++i];
		else if (!strcmp(argv[i], "--wait"))
			wait = 1;
		else {
			fprintf(stderr, "kt_funcs: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (slower <= -100) {
		fprintf(stderr, "kt_funcs: --slower PCT must be above -100\n");
		return 2;
	}
	spin_pct = (uint64_t)(100 + slower);
	if (wait) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	if (sleep_ms)
		usleep((useconds_t)sleep_ms * 1000);
	for (long i = 0; i < n20; i++)
		busy_20us();
	for (long i = 0; i < n100; i++)
		busy_100us();
	for (long i = 0; i < rec; i++)
		rec_busy((int)depth);
	for (long i = 0; i < nest; i++)
		nest_busy();
	for (long i = 0; i < tail; i++)
		tail_busy();
	run_jumps(jumps);
	if (thread_calls) {
		pthread_t th[2];

		for (int i = 0; i < 2; i++)
			if (pthread_create(&th[i], NULL, thread_main, NULL)) {
				fprintf(stderr, "kt_funcs: pthread_create failed\n");
				return 1;
			}
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
	}
	for (long i = 0; i < hot; i++)
		hot_empty();
	if (migrate > 0) {
		uint64_t *d = migrate_self_ns = calloc((size_t)migrate, sizeof(*d));
		cpu_set_t all;
		int cpus[2], n = 0;

		if (!d || sched_getaffinity(0, sizeof(all), &all)) {
			fprintf(stderr, "kt_funcs: cannot read the CPU set\n");
			return 1;
		}
		for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
			if (CPU_ISSET(c, &all))
				cpus[n++] = c;
		if (n < 2) {
			fprintf(stderr, "kt_funcs: --migrate needs two CPUs\n");
			return 1;
		}
		for (long i = 0; i < migrate; i++)
			migrated += migrate_busy(cpus[i & 1], cpus[!(i & 1)]);
		sched_setaffinity(0, sizeof(all), &all);
		qsort(d, (size_t)migrate, sizeof(*d), cmp_u64);
		/* nearest rank, as kaos-trace's p50: rank ceil(n/2), not n/2 + 1. Under load the
		 * durations split into fast and slow migrations, and neighbouring ranks in
		 * that gap differed by 12 % (240 vs 273 us) and failed test_func_counts */
		printf("self_p50_ns migrate_busy=%llu\n",
		       (unsigned long long)d[(migrate + 1) / 2 - 1]);
		free(d);
	}
	if (dl) {
		void *h = dlopen(dl, RTLD_NOW);
		void (*f)(void);

		if (!h) {
			fprintf(stderr, "kt_funcs: dlopen %s: %s\n", dl, dlerror());
			return 1;
		}
		*(void **)&f = dlsym(h, "dl_busy_20us");
		if (!f) {
			fprintf(stderr, "kt_funcs: dlsym dl_busy_20us: %s\n", dlerror());
			return 1;
		}
		for (long i = 0; i < dl_calls; i++)
			f();
		dlclose(h);
	}
	if (busy20_n) {
		/* what a call really lasted, at any load: the figure corrected latency must match
		 */
		qsort(busy20_self_ns, (size_t)busy20_n, sizeof(uint64_t), cmp_u64);
		printf("self_p50_ns busy_20us=%llu\n",
		       (unsigned long long)busy20_self_ns[(busy20_n + 1) / 2 - 1]);
	}
	printf("calls busy_20us=%ld\n", n20 + 2 * nest + tail);
	printf("calls tail_busy=%ld\n", tail);
	printf("calls nest_busy=%ld\n", nest);
	printf("calls jump_out_a=%ld\n", (jumps + 1) / 2);
	printf("calls jump_out_b=%ld\n", jumps / 2);
	printf("calls busy_100us=%ld\n", n100);
	printf("calls rec_busy=%ld\n", rec * (depth + 1));
	printf("calls thread_busy_50us=%ld\n", 2 * thread_calls);
	printf("calls hot_empty=%ld\n", hot);
	printf("calls migrate_busy=%ld\n", migrate);
	printf("migrated %ld\n", migrated);
	printf("calls dl_busy_20us=%ld\n", dl ? dl_calls : 0);
	fflush(stdout);
	if (hold_ms)
		usleep((useconds_t)hold_ms * 1000);
	return 0;
}
