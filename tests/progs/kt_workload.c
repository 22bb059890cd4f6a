// SPDX-License-Identifier: MIT
/*
 * A libkaos workload with known counts, for kaos-trace's tests:
 *   kt_workload [--msgs N] [--batch B] [--bp K] [--sojourn-us D] [--threads]
 *               [--rings R] [--wait] [--hold-ms MS] [--exit STATUS] [--block N]
 *               [--malloc-per-msg]
 * Prints its own ring counters as one line per ring at the end:
 *   ring ID NAME sent S recv R bp B
 * and with --sojourn-us, the longest sojourn a message had (see sojourn()):
 *   sojourn max_ns N
 * --wait: print "ready PID" and wait for a line on stdin before starting.
 * --exit: end with that status (a failing program under kaos-trace -- COMMAND).
 * --block N: then N sends that block: a 4-slot ring ("work.block") whose
 * consumer thread lets it fill and sleeps 1 ms each time it is full; prints
 *   block sends N send_ns T bp_wait_ns W bp B
 * T: the time spent in kaos_ring_send as this program measured it around
 * each call, W: the ring's own backpressure wait total.
 * --malloc-per-msg: with --threads, the producer allocates (and frees) one
 * block per message it sends: a hot path that allocates (kaos-trace --alloc).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaos/ring.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "kt_workload: %s: %s\n", what, kaos_strerror(err));
	exit(1);
}

static struct kaos_ring *make_ring(enum kaos_ring_kind kind, uint32_t slots, const char *name,
				   enum kaos_wait_policy wait)
{
	struct kaos_ring_config cfg = {
		.kind = kind, .slots = slots, .slot_size = 8, .name = name, .wait = wait};
	struct kaos_ring *r;
	int e = kaos_ring_create(&cfg, &r);

	if (e)
		fail("create", e);
	return r;
}

static void report(struct kaos_ring *r)
{
	struct kaos_ring_stats s;

	kaos_ring_stats(r, &s);
	printf("ring %u %s sent %llu recv %llu bp %llu\n", kaos_ring_id(r), kaos_ring_name(r),
	       (unsigned long long)s.sent_msgs, (unsigned long long)s.recv_msgs,
	       (unsigned long long)s.bp_episodes);
}

/* n messages through r in one thread, in batches of `batch` (1: per message). */
__attribute__((noinline)) static void pump(struct kaos_ring *r, uint64_t n, uint32_t batch)
{
	uint64_t buf[256], expect = 0, next = 0;

	if (batch > 256)
		batch = 256;
	while (expect < n) {
		uint32_t k = (uint32_t)((n - next) < batch ? n - next : batch);

		if (batch == 1) {
			if (next < n) {
				int e = kaos_ring_send(r, &next);

				if (e)
					fail("send", e);
				next++;
			}
			uint64_t v;

			if (kaos_ring_recv(r, &v) == 0) {
				if (v != expect)
					fail("order", KAOS_EINVAL);
				expect++;
			}
			continue;
		}
		for (uint32_t i = 0; i < k; i++)
			buf[i] = next + i;
		if (k) {
			int e = kaos_ring_send_batch(r, buf, k);

			if (e != (int)k)
				fail("send_batch", e < 0 ? e : KAOS_EFULL);
			next += k;
		}
		int got = kaos_ring_recv_batch(r, buf, batch);

		for (int i = 0; i < got; i++)
			if (buf[i] != expect++)
				fail("order", KAOS_EINVAL);
	}
}

/* k backpressure episodes on a 4-slot fail-fast ring. */
static void force_backpressure(struct kaos_ring *r, uint64_t k)
{
	uint64_t v = 0;

	while (kaos_ring_send(r, &v) == 0)
		; /* fill: the failing send is episode 1 */
	for (uint64_t i = 1; i < k; i++) {
		if (kaos_ring_recv(r, &v))
			fail("recv", KAOS_EEMPTY);
		if (kaos_ring_send(r, &v))
			fail("refill", KAOS_EFULL);
		if (kaos_ring_send(r, &v) != -KAOS_EFULL)
			fail("expected full", KAOS_EINVAL);
	}
	while (kaos_ring_recv(r, &v) == 0)
		;
}

/* Each message waits d_ns in the ring: the sojourn tracers must report. */
/*
 * Each message waits d_ns in the ring. Returns the longest time from before
 * a send to after its recv: no message's sojourn, as a tracer sees it
 * between the two probes, can be longer (a loaded machine preempts the wait).
 */
static uint64_t sojourn(struct kaos_ring *r, uint64_t n, uint64_t d_ns)
{
	uint64_t max_ns = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), v = i;
		int e = kaos_ring_send(r, &v);

		if (e)
			fail("send", e);
		while (now_ns() - t0 < d_ns)
			;
		if (kaos_ring_recv(r, &v) || v != i)
			fail("recv", KAOS_EEMPTY);
		if (now_ns() - t0 > max_ns)
			max_ns = now_ns() - t0;
	}
	return max_ns;
}

struct thr {
	struct kaos_ring *r;
	uint64_t n;
	int malloc_per_msg;
};

static void *producer(void *arg)
{
	struct thr *t = arg;

	for (uint64_t i = 0; i < t->n; i++) {
		uint64_t *m = t->malloc_per_msg ? malloc(sizeof(*m)) : &i;
		int e;

		if (!m)
			fail("malloc", -KAOS_ENOMEM);
		*m = i;
		e = kaos_ring_send(t->r, m);
		if (m != &i)
			free(m);
		if (e)
			fail("send", e);
	}
	return NULL;
}

struct blocker {
	struct kaos_ring *r;
	uint64_t n;
	atomic_bool done;
};

/* Waits for the ring to fill, sleeps so that the producer waits, drains. */
static void *block_consumer(void *arg)
{
	struct blocker *b = arg;
	uint64_t got = 0, v;

	while (got < b->n) {
		while (kaos_ring_count(b->r) < kaos_ring_capacity(b->r) && !atomic_load(&b->done))
			sched_yield();
		if (kaos_ring_count(b->r) == kaos_ring_capacity(b->r))
			usleep(1000);
		while (kaos_ring_recv(b->r, &v) == 0) {
			if (v != got)
				fail("order", KAOS_EINVAL);
			got++;
		}
	}
	return NULL;
}

__attribute__((noinline)) static void block_sends(uint64_t n)
{
	struct blocker b = {make_ring(KAOS_RING_SPSC, 4, "work.block", KAOS_WAIT_YIELD), n, false};
	struct kaos_ring_stats st;
	uint64_t send_ns = 0;
	pthread_t th;

	pthread_create(&th, NULL, block_consumer, &b);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int e = kaos_ring_send(b.r, &i);

		send_ns += now_ns() - t0;
		if (e)
			fail("send", e);
	}
	atomic_store(&b.done, true);
	pthread_join(th, NULL);
	kaos_ring_stats(b.r, &st);
	printf("block sends %llu send_ns %llu bp_wait_ns %llu bp %llu\n", (unsigned long long)n,
	       (unsigned long long)send_ns, (unsigned long long)st.bp_wait_ns,
	       (unsigned long long)st.bp_episodes);
	kaos_ring_destroy(b.r);
}

static uint64_t parse(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "kt_workload: invalid number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t msgs = 100000, bp = 0, soj_us = 0, soj_max_ns = 0, rings = 1, hold_ms = 0,
		 status = 0, block = 0;
	uint32_t batch = 1;
	int threads = 0, wait = 0, malloc_per_msg = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--threads")) {
			threads = 1;
		} else if (!strcmp(a, "--malloc-per-msg")) {
			malloc_per_msg = 1;
		} else if (!strcmp(a, "--wait")) {
			wait = 1;
		} else if (i + 1 < argc && !strcmp(a, "--msgs")) {
			msgs = parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--batch")) {
			batch = (uint32_t)parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--bp")) {
			bp = parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--sojourn-us")) {
			soj_us = parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--rings")) {
			rings = parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--hold-ms")) {
			hold_ms = parse(argv[++i]);
		} else if (i + 1 < argc && !strcmp(a, "--exit")) {
			status = parse(argv[++i]) & 0xff;
		} else if (i + 1 < argc && !strcmp(a, "--block")) {
			block = parse(argv[++i]);
		} else {
			fprintf(stderr, "kt_workload: unknown argument '%s'\n", a);
			return 2;
		}
	}
	if (batch == 0 || rings == 0 || rings > 64) {
		fprintf(stderr, "kt_workload: --batch must be >= 1 and --rings 1..64\n");
		return 2;
	}
	if (wait) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	struct kaos_ring *rv[64];
	char name[32];

	for (uint64_t i = 0; i < rings; i++) {
		snprintf(name, sizeof(name), "work.%llu", (unsigned long long)i);
		rv[i] = make_ring(KAOS_RING_SPSC, 1024, name, KAOS_WAIT_SPIN);
		if (soj_us) {
			uint64_t m = sojourn(rv[i], msgs, soj_us * 1000);

			soj_max_ns = m > soj_max_ns ? m : soj_max_ns;
		} else if (threads) {
			struct thr t = {rv[i], msgs, malloc_per_msg};
			pthread_t th;
			uint64_t v, got = 0;

			pthread_create(&th, NULL, producer, &t);
			while (got < msgs)
				if (kaos_ring_recv(rv[i], &v) == 0) {
					if (v != got)
						fail("order", KAOS_EINVAL);
					got++;
				}
			pthread_join(th, NULL);
		} else {
			pump(rv[i], msgs, batch);
		}
	}
	struct kaos_ring *bpr = NULL;

	if (bp) {
		bpr = make_ring(KAOS_RING_SPSC, 4, "work.bp", KAOS_WAIT_FAIL);
		force_backpressure(bpr, bp);
	}
	if (block)
		block_sends(block);
	if (hold_ms)
		usleep((useconds_t)(hold_ms * 1000));
	for (uint64_t i = 0; i < rings; i++)
		report(rv[i]);
	if (bpr)
		report(bpr);
	if (soj_us)
		printf("sojourn max_ns %llu\n", (unsigned long long)soj_max_ns);
	fflush(stdout);
	for (uint64_t i = 0; i < rings; i++)
		kaos_ring_destroy(rv[i]);
	if (bpr)
		kaos_ring_destroy(bpr);
	return (int)status;
}
