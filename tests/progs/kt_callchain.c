/* SPDX-License-Identifier: MIT */
/*
 * A workload with a known user call chain for stack-tracing tests:
 *
 *   main -> kt_chain_outer -> kt_chain_middle -> kt_chain_inner -> kaos_ring_send
 *                                                                 (kaos:send probe)
 *
 * and a probe of its own, kt_test:tick (KAOS_PROBE1, argument = iteration),
 * fired in kt_chain_inner, so tests can read USDT notes of an executable
 * (a PIE, Debian's default) as well as of libkaos.so.
 *
 *   kt_callchain [ITERATIONS [DELAY_MS]]
 *
 * Prints "kt_callchain: ready pid=PID" (flushed: a tracer or test can wait
 * for it), sleeps DELAY_MS (default 0) so a tracer can attach, then sends
 * and receives ITERATIONS (default 1000) messages through the chain, prints
 * "kt_callchain: N sends" and exits 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kaos/probes.h"
#include "kaos/ring.h"

KAOS_PROBE_SEMA_DEFINE(kt_test, tick);

/*
 * noinline keeps each function's frame; the empty asm after each call keeps
 * the call from becoming a tail jump, which would drop the caller's frame.
 */
__attribute__((noinline)) int kt_chain_inner(struct kaos_ring *r, uint64_t i)
{
	int ret;

	if (KAOS_PROBE_ENABLED(kt_test, tick))
		KAOS_PROBE1(kt_test, tick, i);
	ret = kaos_ring_send(r, &i);
	__asm__ volatile("" ::: "memory");
	return ret;
}

__attribute__((noinline)) int kt_chain_middle(struct kaos_ring *r, uint64_t i)
{
	int ret = kt_chain_inner(r, i);

	__asm__ volatile("" ::: "memory");
	return ret;
}

__attribute__((noinline)) int kt_chain_outer(struct kaos_ring *r, uint64_t i)
{
	int ret = kt_chain_middle(r, i);

	__asm__ volatile("" ::: "memory");
	return ret;
}

int main(int argc, char **argv)
{
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC,
		.slots = 64,
		.slot_size = 8,
		.name = "callchain",
		.wait = KAOS_WAIT_FAIL,
	};
	struct kaos_ring *r;
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long delay_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	long sent = 0;
	int ret;

	if (iters < 0 || delay_ms < 0) {
		fprintf(stderr, "usage: %s [ITERATIONS [DELAY_MS]]\n", argv[0]);
		return 2;
	}
	printf("kt_callchain: ready pid=%d\n", (int)getpid());
	fflush(stdout);
	if (delay_ms > 0) {
		struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
	ret = kaos_ring_create(&cfg, &r);
	if (ret < 0) {
		fprintf(stderr, "kt_callchain: kaos_ring_create: %s\n", kaos_strerror(ret));
		return 1;
	}
	for (long i = 0; i < iters; i++) {
		uint64_t msg;

		if (kt_chain_outer(r, (uint64_t)i) == 0)
			sent++;
		while (kaos_ring_recv(r, &msg) == 0)
			;
	}
	kaos_ring_destroy(r);
	printf("kt_callchain: %ld sends\n", sent);
	return sent == iters ? 0 : 1;
}
