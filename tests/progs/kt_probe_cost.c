// SPDX-License-Identifier: MIT
/*
 * Times libkaos operations to price one probe hit: run it untraced and
 * under kaos-trace, the difference over the hits is the cost of a hit.
 *   kt_probe_cost [--pairs N]
 * Sends and receives N messages, one at a time, through one SPSC ring
 * ("cost.0"; 2 probe hits a pair when traced) after a warm-up of 64 pairs
 * (the first hit of a 5-byte nop site is slow) and prints:
 *   pairs N warmup 64 ns T site combined|nop1|nop5|nop
 * T covers the N timed pairs only. The site names the probe site libkaos
 * was built with: on x86-64 the default combined site (1-byte + 10-byte
 * nop), nop1 (PROBE_NOP=1) or nop5 (the measuring-only variant), elsewhere
 * the architecture's one nop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaos/ring.h"

#define WARMUP 64

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pump(struct kaos_ring *r, uint64_t n)
{
	uint64_t v;

	for (uint64_t i = 0; i < n; i++) {
		int e = kaos_ring_send(r, &i);

		if (!e)
			e = kaos_ring_recv(r, &v);
		if (e || v != i) {
			fprintf(stderr, "kt_probe_cost: ring error at %llu: %s\n",
				(unsigned long long)i, e ? kaos_strerror(e) : "wrong message");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 64, .slot_size = 8, .name = "cost.0"};
	struct kaos_ring *r;
	uint64_t pairs = 10000, t0, t1;
	const char *site;
	int e;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--pairs") && i + 1 < argc) {
			pairs = strtoull(argv[++i], &end, 10);
			if (*end || !pairs) {
				fprintf(stderr, "kt_probe_cost: invalid --pairs '%s'\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: kt_probe_cost [--pairs N]\n");
			return 2;
		}
	}
#if !defined(__x86_64__)
	site = "nop";
#elif defined(KAOS_PROBE_NOP1)
	site = "nop1";
#elif defined(KAOS_PROBE_NOP5)
	site = "nop5";
#else
	site = "combined";
#endif
	e = kaos_ring_create(&cfg, &r);
	if (e) {
		fprintf(stderr, "kt_probe_cost: create: %s\n", kaos_strerror(e));
		return 1;
	}
	pump(r, WARMUP);
	t0 = now_ns();
	pump(r, pairs);
	t1 = now_ns();
	kaos_ring_destroy(r);
	printf("pairs %llu warmup %d ns %llu site %s\n", (unsigned long long)pairs, WARMUP,
	       (unsigned long long)(t1 - t0), site);
	return 0;
}
