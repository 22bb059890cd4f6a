// SPDX-License-Identifier: MIT
/*
 * kt_ring_churn: many short-lived rings in one long-lived process, the
 * shape that used to grow /metrics without bound (issue 11 item 7).
 *
 *   kt_ring_churn [--rings N] [--msgs M] [--names K] [--every-ms T] [--hold-ms H]
 *
 * Creates N rings one after another (a new one every T ms), each named
 * "conn.<i mod K>", sends and receives M messages through it and destroys
 * it; then sleeps H ms and exits. Prints "sent TOTAL recv TOTAL" at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaos/ring.h"

static uint64_t parse(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	if (*end || end == s) {
		fprintf(stderr, "kt_ring_churn: invalid number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* One ring's life: create, m messages through it, destroy. 0 or a kaos error. */
static int one_ring(const char *name, uint64_t m)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = 64,
				       .slot_size = 8,
				       .name = name,
				       .wait = KAOS_WAIT_SPIN};
	struct kaos_ring *r;
	uint64_t v;
	int e = kaos_ring_create(&cfg, &r);

	for (uint64_t i = 0; !e && i < m; i++) {
		e = kaos_ring_send(r, &i);
		if (!e)
			e = kaos_ring_recv(r, &v);
	}
	if (!e)
		kaos_ring_destroy(r);
	return e;
}

int main(int argc, char **argv)
{
	uint64_t rings = 32, msgs = 100, names = 1, every_ms = 0, hold_ms = 0;
	char name[32];

	for (int i = 1; i + 1 < argc; i += 2) {
		uint64_t v = parse(argv[i + 1]);

		if (!strcmp(argv[i], "--rings"))
			rings = v;
		else if (!strcmp(argv[i], "--msgs"))
			msgs = v;
		else if (!strcmp(argv[i], "--names"))
			names = v ? v : 1;
		else if (!strcmp(argv[i], "--every-ms"))
			every_ms = v;
		else if (!strcmp(argv[i], "--hold-ms"))
			hold_ms = v;
		else
			goto usage;
	}
	if (argc % 2 == 0)
		goto usage;
	for (uint64_t i = 0; i < rings; i++) {
		snprintf(name, sizeof(name), "conn.%llu", (unsigned long long)(i % names));
		int e = one_ring(name, msgs);

		if (e) {
			fprintf(stderr, "kt_ring_churn: ring %s: %s\n", name, kaos_strerror(e));
			return 1;
		}
		if (every_ms)
			usleep((useconds_t)(every_ms * 1000));
	}
	printf("sent %llu recv %llu\n", (unsigned long long)(rings * msgs),
	       (unsigned long long)(rings * msgs));
	fflush(stdout);
	if (hold_ms)
		usleep((useconds_t)(hold_ms * 1000));
	return 0;

usage:
	fprintf(stderr, "usage: kt_ring_churn [--rings N] [--msgs M] [--names K] [--every-ms T] "
			"[--hold-ms H]\n");
	return 2;
}
