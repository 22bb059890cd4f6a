// SPDX-License-Identifier: MIT
/*
 * A traced process with a known hot function, for kaos-trace --profile:
 *   kt_hotspin [--ms TOTAL] [--spin-us S] [--ops N]
 * Its thread alternates S µs spinning in hot_spin() with N send+recv pairs
 * on a libkaos ring (so it is a traced process), for TOTAL ms. Prints the
 * share of wall time it measured inside hot_spin() at the end:
 *   hot_spin PCT ops N
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaos/ring.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile uint64_t sink;

/* Spins until `until`; reads the clock rarely so the samples land here, not in the vDSO. */
__attribute__((noinline)) static void hot_spin(uint64_t until)
{
	do {
		for (int i = 0; i < 20000; i++)
			sink = sink + 1;
	} while (now_ns() < until);
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

struct args {
	uint64_t total_ns, spin_ns, ops, spun_ns, done;
};

static void *worker(void *arg)
{
	struct args *a = arg;
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 1024, .slot_size = 8, .name = "hotspin"};
	struct kaos_ring *r;
	uint64_t seq = 0, t0 = now_ns();

	if (kaos_ring_create(&cfg, &r)) {
		fprintf(stderr, "kt_hotspin: cannot create ring\n");
		exit(1);
	}
	while (now_ns() - t0 < a->total_ns) {
		uint64_t s = now_ns();

		hot_spin(s + a->spin_ns);
		a->spun_ns += now_ns() - s;
		ring_traffic(r, a->ops, &seq);
		a->done += a->ops;
	}
	a->total_ns = now_ns() - t0;
	kaos_ring_destroy(r);
	return NULL;
}

int main(int argc, char **argv)
{
	struct args a = {.total_ns = 1500000000ull, .spin_ns = 10000000ull, .ops = 50};
	pthread_t th;

	for (int i = 1; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 0);

		if (!strcmp(argv[i], "--ms"))
			a.total_ns = v * 1000000ull;
		else if (!strcmp(argv[i], "--spin-us"))
			a.spin_ns = v * 1000ull;
		else if (!strcmp(argv[i], "--ops"))
			a.ops = v;
		else {
			fprintf(stderr, "usage: kt_hotspin [--ms TOTAL] [--spin-us S] [--ops N]\n");
			return 2;
		}
	}
	/* a thread of its own: the profile must follow every thread of the process */
	if (pthread_create(&th, NULL, worker, &a) || pthread_join(th, NULL))
		return 1;
	printf("hot_spin %.1f ops %llu\n", 100.0 * (double)a.spun_ns / (double)a.total_ns,
	       (unsigned long long)a.done);
	return 0;
}
