/* SPDX-License-Identifier: MIT */
/*
 * kaos-demo: a small real workload on libkaos rings, one ring at a time:
 *   spsc    1 producer, 1 consumer    (per-message send, batch receive)
 *   mpsc    2 producers, 1 consumer   (per-message)
 *   mpmc    2 producers, 2 consumers  (per-message)
 *   tiny    SPSC with 4 slots and KAOS_WAIT_YIELD: backpressure on purpose
 * Every message is 8 bytes, {producer:8, sequence:56}; consumers verify
 * per-producer order and that each message arrives exactly once. Prints a
 * table of the rings' counters. Traceable: the probes of libkaos.so fire.
 *
 *   kaos-demo [--msgs N]     N messages per ring (default 10000000)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaos/ring.h"

#define MAX_SIDE 2

struct demo_ring {
	const char *name;
	enum kaos_ring_kind kind;
	uint32_t slots;
	enum kaos_wait_policy wait;
	int nprod, ncons;
	uint32_t recv_batch; /* 0: per-message recv */
	struct kaos_ring *r;
	uint64_t per_prod; /* messages per producer */
	_Atomic uint64_t received;
	_Atomic uint64_t errors;
	double secs;
};

struct side {
	struct demo_ring *d;
	int idx;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *producer(void *arg)
{
	struct side *s = arg;
	struct demo_ring *d = s->d;
	uint64_t tag = (uint64_t)s->idx << 56;

	for (uint64_t seq = 0; seq < d->per_prod; seq++) {
		uint64_t m = tag | seq;
		int rc = kaos_ring_send(d->r, &m);
		if (rc) { /* only KAOS_WAIT_FAIL returns an error; the demo rings wait */
			fprintf(stderr, "kaos-demo: %s: send: %s\n", d->name, kaos_strerror(rc));
			atomic_fetch_add(&d->errors, 1);
			return NULL;
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct side *s = arg;
	struct demo_ring *d = s->d;
	uint64_t total = d->per_prod * (uint64_t)d->nprod;
	uint64_t next[MAX_SIDE] = {0}; /* expected (single consumer) or minimum next seq */
	uint64_t buf[256];
	unsigned idle = 0;

	while (atomic_load_explicit(&d->received, memory_order_relaxed) < total) {
		int n;
		if (d->recv_batch) {
			n = kaos_ring_recv_batch(d->r, buf, d->recv_batch);
		} else {
			n = kaos_ring_recv(d->r, buf) == 0;
		}
		if (n <= 0) {
			if (atomic_load_explicit(&d->errors, memory_order_relaxed))
				break;
			if (++idle > 256)
				sched_yield();
			continue;
		}
		idle = 0;
		for (int i = 0; i < n; i++) {
			uint64_t p = buf[i] >> 56, seq = buf[i] & ((1ull << 56) - 1);
			/* one consumer sees each producer's exact sequence; several see it increase
			 */
			if (p >= (uint64_t)d->nprod || (d->ncons == 1 && seq != next[p]) ||
			    seq < next[p]) {
				atomic_fetch_add(&d->errors, 1);
				continue;
			}
			next[p] = seq + 1;
		}
		atomic_fetch_add_explicit(&d->received, (uint64_t)n, memory_order_relaxed);
	}
	return NULL;
}

static int run_ring(struct demo_ring *d, uint64_t msgs)
{
	struct kaos_ring_config cfg = {.kind = d->kind,
				       .slots = d->slots,
				       .slot_size = 8,
				       .name = d->name,
				       .wait = d->wait};
	pthread_t pt[MAX_SIDE], ct[MAX_SIDE];
	struct side ps[MAX_SIDE], cs[MAX_SIDE];
	int rc = kaos_ring_create(&cfg, &d->r);

	if (rc) {
		fprintf(stderr, "kaos-demo: %s: %s\n", d->name, kaos_strerror(rc));
		return -1;
	}
	d->per_prod = msgs / (uint64_t)d->nprod;
	double t0 = now_s();
	for (int i = 0; i < d->ncons; i++) {
		cs[i] = (struct side){d, i};
		if (pthread_create(&ct[i], NULL, consumer, &cs[i])) {
			fprintf(stderr, "kaos-demo: pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < d->nprod; i++) {
		ps[i] = (struct side){d, i};
		if (pthread_create(&pt[i], NULL, producer, &ps[i])) {
			fprintf(stderr, "kaos-demo: pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < d->nprod; i++)
		pthread_join(pt[i], NULL);
	for (int i = 0; i < d->ncons; i++)
		pthread_join(ct[i], NULL);
	d->secs = now_s() - t0;
	return 0;
}

static const char *kind_name(enum kaos_ring_kind k)
{
	static const char *const names[] = {"SPSC", "MPSC", "SPMC", "MPMC"};
	return (unsigned)k < 4 ? names[k] : "?";
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kaos-demo [--msgs N]   (N messages per ring, default 10000000)\n");
}

int main(int argc, char **argv)
{
	uint64_t msgs = 10000000;
	struct demo_ring rings[] = {
		{.name = "demo.spsc",
		 .kind = KAOS_RING_SPSC,
		 .slots = 4096,
		 .nprod = 1,
		 .ncons = 1,
		 .recv_batch = 256,
		 .wait = KAOS_WAIT_YIELD},
		{.name = "demo.mpsc",
		 .kind = KAOS_RING_MPSC,
		 .slots = 4096,
		 .nprod = 2,
		 .ncons = 1,
		 .wait = KAOS_WAIT_YIELD},
		{.name = "demo.mpmc",
		 .kind = KAOS_RING_MPMC,
		 .slots = 4096,
		 .nprod = 2,
		 .ncons = 2,
		 .wait = KAOS_WAIT_YIELD},
		{.name = "demo.tiny-backpressure",
		 .kind = KAOS_RING_SPSC,
		 .slots = 4,
		 .nprod = 1,
		 .ncons = 1,
		 .wait = KAOS_WAIT_YIELD},
	};
	const size_t nrings = sizeof(rings) / sizeof(rings[0]);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--msgs") && i + 1 < argc) {
			const char *v = argv[++i];
			char *end;
			errno = 0;
			unsigned long long n = strtoull(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-' || n < 2 || n > (1ull << 40)) {
				fprintf(stderr,
					"kaos-demo: --msgs: expected a count from 2 to 2^40, "
					"got '%s'\n",
					v);
				return 2;
			}
			msgs = n;
			continue;
		}
		fprintf(stderr, "kaos-demo: unknown or incomplete option '%s' (try --help)\n",
			argv[i]);
		return 2;
	}

	int bad = 0;
	for (size_t i = 0; i < nrings; i++) {
		/* the tiny ring only needs enough traffic to stall often */
		uint64_t n = rings[i].slots < 64 ? (msgs < 200000 ? msgs : 200000) : msgs;
		if (run_ring(&rings[i], n))
			return 1;
	}

	printf("%4s  %-24s %-5s %12s %12s %13s %10s %12s %9s\n", "id", "name", "kind", "sent",
	       "recv", "bytes", "bp-epis", "bp-wait-ms", "Mmsg/s");
	for (size_t i = 0; i < nrings; i++) {
		struct demo_ring *d = &rings[i];
		struct kaos_ring_stats st;
		kaos_ring_stats(d->r, &st);
		uint64_t want = d->per_prod * (uint64_t)d->nprod;
		int ok = !atomic_load(&d->errors) && st.sent_msgs == want && st.recv_msgs == want;
		printf("%4u  %-24s %-5s %12llu %12llu %13llu %10llu %12.2f %9.1f%s\n",
		       kaos_ring_id(d->r), kaos_ring_name(d->r), kind_name(kaos_ring_kind(d->r)),
		       (unsigned long long)st.sent_msgs, (unsigned long long)st.recv_msgs,
		       (unsigned long long)st.sent_bytes, (unsigned long long)st.bp_episodes,
		       (double)st.bp_wait_ns / 1e6, (double)st.recv_msgs / d->secs / 1e6,
		       ok ? "" : "  VERIFY FAILED");
		bad |= !ok;
		kaos_ring_destroy(d->r);
	}
	if (bad) {
		fprintf(stderr, "kaos-demo: verification failed (lost, duplicated or reordered "
				"messages)\n");
		return 1;
	}
	printf("all messages verified: per-producer order, each received exactly once\n");
	return 0;
}
