// SPDX-License-Identifier: MIT
/*
 * A traced process with a known hot function, for kaos-trace --profile:
 *   kt_hotspin [--cpu-ms TOTAL] [--spin-us S] [--ops N]
 * Its thread alternates about S µs of its own CPU time spinning in hot_spin()
 * (rounds calibrated at start) with N send+recv pairs on a libkaos ring (so
 * it is a traced process), until it has used TOTAL ms of CPU. At the end it
 * prints the share of the process's CPU time it measured inside hot_spin(),
 * leaving out STALL µs of long stops of the vCPU (rounds_ns()):
 *   hot_spin PCT cpu-us HOT of PROCESS ops N stalls-us STALL
 *
 * Budgets are CPU time, not wall time, so the split holds at any load: with
 * wall-clock spins a descheduled thread spends less CPU in hot_spin() while
 * the probe hits of the ring traffic cost the same CPU, and the profile's
 * share of hot_spin() fell from ~90 % to ~60 % on a loaded machine although
 * every sample was attributed right.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaos/ring.h"

static uint64_t cpu_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

/* Makes hot_spin() a non-leaf: GCC drops a leaf's frame pointer, and the unwinder its caller. */
__attribute__((noinline)) static void spin_begin(void)
{
	__asm__ volatile("" ::: "memory");
}

/*
 * Spins `iters` rounds, reading no clock: a clock read is a syscall, where the
 * scheduler may switch the thread out, and a sample taken right after it
 * comes back lands there, in the vDSO, whose missing frame pointer makes the
 * unwinder skip hot_spin (a few % of the samples on a loaded machine).
 */
__attribute__((noinline)) static void hot_spin(uint64_t iters)
{
	spin_begin();
	for (uint64_t i = 0; i < iters; i++)
		sink = sink + 1;
}

/* hot_spin() rounds per µs of this thread's CPU, measured on 10 ms of spinning. */
static uint64_t rounds_per_us(void)
{
	uint64_t n = 1000, t0, dt;

	do {
		n *= 2;
		t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		hot_spin(n);
		dt = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	} while (dt < 10000000ull);
	return n * 1000 / dt + 1;
}

__attribute__((noinline)) static void ring_traffic(struct kaos_ring *r, uint64_t ops, uint64_t *seq)
{
	uint64_t v;

	for (uint64_t i = 0; i < ops; i++) {
		if (kaos_ring_send(r, seq) == 0)
			(*seq)++;
		kaos_ring_recv(r, &v);
	}
}

#define MAX_ROUNDS 65536 /* rounds recorded; the loop ends there */

struct args {
	uint64_t cpu_budget_ns, spin_ns, ops, done;
	uint64_t calib_ns;	      /* in hot_spin() while calibrating */
	uint64_t hot[MAX_ROUNDS];     /* each round's CPU time in hot_spin() */
	uint64_t traffic[MAX_ROUNDS]; /* ... and in ring_traffic() */
	size_t rounds;
};

static void *worker(void *arg)
{
	struct args *a = arg;
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 1024, .slot_size = 8, .name = "hotspin"};
	struct kaos_ring *r;
	uint64_t seq = 0, t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t spin = rounds_per_us() * (a->spin_ns / 1000), t;

	a->calib_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	if (kaos_ring_create(&cfg, &r)) {
		fprintf(stderr, "kt_hotspin: cannot create ring\n");
		exit(1);
	}
	t = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	while (t - t0 < a->cpu_budget_ns && a->rounds < MAX_ROUNDS) {
		uint64_t t1, t2;

		hot_spin(spin);
		t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		ring_traffic(r, a->ops, &seq);
		t2 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
		a->hot[a->rounds] = t1 - t;
		a->traffic[a->rounds++] = t2 - t1;
		a->done += a->ops;
		t = t2;
	}
	kaos_ring_destroy(r);
	return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * The CPU time of the rounds v[0..n) (sorts v) and, in *stall, what long
 * stalls added to it. This VM reports no steal time: while its host stops
 * the vCPU the thread's CPU clock runs on, but the profiler takes one sample
 * for the whole stop. In 2 of 40 loaded runs such stops left ~100 ms of CPU
 * time unsampled and moved the measured share 13 points off the profile's.
 * Every round does the same work: a round over twice the median is counted
 * as the median.
 */
static uint64_t rounds_ns(uint64_t *v, size_t n, uint64_t *stall)
{
	uint64_t med, sum = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	med = v[n / 2];
	for (size_t i = 0; i < n; i++) {
		sum += v[i] > 2 * med ? med : v[i];
		*stall += v[i] > 2 * med ? v[i] - med : 0;
	}
	return sum;
}

int main(int argc, char **argv)
{
	static struct args a = {.cpu_budget_ns = 500000000ull, .spin_ns = 10000000ull, .ops = 50};
	pthread_t th;
	uint64_t proc_ns, hot_ns, stall_ns = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 0);

		if (!strcmp(argv[i], "--cpu-ms"))
			a.cpu_budget_ns = v * 1000000ull;
		else if (!strcmp(argv[i], "--spin-us"))
			a.spin_ns = v * 1000ull;
		else if (!strcmp(argv[i], "--ops"))
			a.ops = v;
		else {
			fprintf(stderr,
				"usage: kt_hotspin [--cpu-ms TOTAL] [--spin-us S] [--ops N]\n");
			return 2;
		}
	}
	/* a thread of its own: the profile must follow every thread of the process */
	if (pthread_create(&th, NULL, worker, &a) || pthread_join(th, NULL))
		return 1;
	/* the whole process since fork: start-up, both threads, probe hits in the kernel */
	proc_ns = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	hot_ns = a.calib_ns + rounds_ns(a.hot, a.rounds, &stall_ns);
	rounds_ns(a.traffic, a.rounds, &stall_ns);
	proc_ns -= stall_ns;
	printf("hot_spin %.1f cpu-us %llu of %llu ops %llu stalls-us %llu\n",
	       100.0 * (double)hot_ns / (double)proc_ns, (unsigned long long)(hot_ns / 1000),
	       (unsigned long long)(proc_ns / 1000), (unsigned long long)a.done,
	       (unsigned long long)(stall_ns / 1000));
	return 0;
}
