/* SPDX-License-Identifier: MIT */
/*
 * Concurrent stress of every ring kind (built with TSan by `make test`).
 * Producers put {producer, sequence, check word} in each message; consumers
 * verify: no loss, no duplicate (one bitmap per consumer, summed after the
 * run), per-producer FIFO order (single consumer: exactly seq+1 each time;
 * several consumers: increasing per consumer), no torn message. A monitor
 * thread reads the stats concurrently. Small rings force backpressure.
 *
 * KAOS_STRESS_MSGS=N sets the messages per producer (default: 250000, or
 * 30000 under TSan). tests/unit/test_ring_mt.c runs the same scenarios in
 * the plain, ASan and valgrind builds.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kaos/probes.h"
#include "kaos/ring.h"
#include "kaos/ring_inline.h"

#ifndef DEFAULT_MSGS /* tests/unit/test_ring_mt.c sets its own */
#if defined(__SANITIZE_THREAD__)
#define DEFAULT_MSGS 30000u
#else
#define DEFAULT_MSGS 250000u
#endif
#endif

#define MAX_THREADS 4
#define MAX_BATCH   16

enum mode {
	M_SINGLE, /* send/recv one at a time */
	M_BATCH,  /* send_batch/recv_batch of random sizes */
	M_MIXED,  /* both, chosen at random per operation */
	M_ZCOPY,  /* SPSC only: claim/publish, peek/release */
	M_INLINE, /* one at a time, kaos_ring_send/recv_inline or the calls, at random */
};

struct scenario {
	const char *name;
	enum kaos_ring_kind kind;
	int nprod, ncons;
	uint32_t slots, slot_size;
	enum kaos_wait_policy wait;
	enum mode mode;
	int traced; /* pretend a tracer is attached (semaphores on, sample every 4th) */
};

struct run;

struct consumer {
	struct run *run;
	int idx;
	uint8_t *seen[MAX_THREADS]; /* bitmap per producer */
	uint64_t last[MAX_THREADS]; /* last seq + 1 per producer (0: none yet) */
	uint64_t got;
};

struct run {
	const struct scenario *sc;
	struct kaos_ring *r;
	uint64_t msgs; /* per producer */
	_Atomic uint64_t received;
	_Atomic int errors;
	_Atomic int done;
	char first_error[160];
	_Atomic int error_claimed;
	struct consumer cons[MAX_THREADS];
	struct producer {
		struct run *run;
		int idx;
	} prod[MAX_THREADS];
};

static uint64_t env_msgs(void)
{
	const char *s = getenv("KAOS_STRESS_MSGS");
	if (!s || !*s)
		return DEFAULT_MSGS;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end || v == 0 || v > (1ull << 32)) {
		fprintf(stderr, "stress_rings: bad KAOS_STRESS_MSGS '%s'\n", s);
		exit(2);
	}
	return v;
}

static void note_error(struct run *run, const char *what, uint64_t a, uint64_t b)
{
	atomic_fetch_add(&run->errors, 1);
	if (atomic_exchange(&run->error_claimed, 1) == 0)
		snprintf(run->first_error, sizeof(run->first_error), "%s: %s (%llu, %llu)",
			 run->sc->name, what, (unsigned long long)a, (unsigned long long)b);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static uint64_t check_word(uint64_t p, uint64_t seq, uint32_t w)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (p << 56) ^ w;
}

static void make_msg(uint64_t *m, uint32_t size, uint64_t p, uint64_t seq)
{
	m[0] = (p << 56) | seq;
	for (uint32_t w = 1; w < size / 8; w++)
		m[w] = check_word(p, seq, w);
}

static void take_msg(struct consumer *c, const uint64_t *m)
{
	struct run *run = c->run;
	uint64_t p = m[0] >> 56, seq = m[0] & ((1ull << 56) - 1);

	if (p >= (uint64_t)run->sc->nprod || seq >= run->msgs) {
		note_error(run, "foreign message", p, seq);
		return;
	}
	for (uint32_t w = 1; w < run->sc->slot_size / 8; w++)
		if (m[w] != check_word(p, seq, w)) {
			note_error(run, "torn message", p, seq);
			return;
		}
	if (c->seen[p][seq >> 3] & (1u << (seq & 7)))
		note_error(run, "duplicate", p, seq);
	c->seen[p][seq >> 3] |= (uint8_t)(1u << (seq & 7));
	if (run->sc->ncons == 1) {
		if (seq != c->last[p])
			note_error(run, "out of order (single consumer)", c->last[p], seq);
	} else if (c->last[p] && seq < c->last[p]) {
		note_error(run, "out of order (per consumer)", c->last[p], seq);
	}
	c->last[p] = seq + 1;
	c->got++;
}

static void *producer(void *arg)
{
	struct producer *me = arg;
	struct run *run = me->run;
	const struct scenario *sc = run->sc;
	uint32_t words = sc->slot_size / 8;
	uint64_t p = (uint64_t)me->idx, rng = 0x1234567 + p * 7919;
	uint64_t buf[MAX_BATCH * 16];

	for (uint64_t seq = 0; seq < run->msgs && !atomic_load(&run->errors);) {
		enum mode m = sc->mode;
		bool inl = false;
		if (m == M_MIXED)
			m = (xorshift(&rng) & 1) ? M_BATCH : M_SINGLE;
		if (m == M_INLINE) {
			inl = (xorshift(&rng) & 3) != 0;
			m = M_SINGLE;
		}
		if (m == M_SINGLE) {
			make_msg(buf, sc->slot_size, p, seq);
			int rc = inl ? kaos_ring_send_inline(run->r, buf)
				     : kaos_ring_send(run->r, buf);
			if (rc)
				note_error(run, "send failed", (uint64_t)-rc, seq);
			seq++;
		} else if (m == M_BATCH) {
			uint32_t n = 1 + (uint32_t)(xorshift(&rng) % MAX_BATCH);
			if (n > run->msgs - seq)
				n = (uint32_t)(run->msgs - seq);
			for (uint32_t j = 0; j < n; j++)
				make_msg(buf + j * words, sc->slot_size, p, seq + j);
			int rc = kaos_ring_send_batch(run->r, buf, n);
			if (rc != (int)n)
				note_error(run, "send_batch short", (uint64_t)rc, n);
			seq += n;
		} else {
			void *slots;
			uint32_t want = 1 + (uint32_t)(xorshift(&rng) % MAX_BATCH);
			if (want > run->msgs - seq)
				want = (uint32_t)(run->msgs - seq);
			int k = kaos_ring_claim(run->r, want, &slots);
			if (k <= 0 || (uint32_t)k > want) {
				note_error(run, "claim", (uint64_t)k, want);
				break;
			}
			for (int j = 0; j < k; j++)
				make_msg((uint64_t *)slots + (size_t)j * words, sc->slot_size, p,
					 seq + (uint64_t)j);
			kaos_ring_publish(run->r, (uint32_t)k);
			seq += (uint64_t)k;
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct consumer *c = arg;
	struct run *run = c->run;
	const struct scenario *sc = run->sc;
	uint64_t total = run->msgs * (uint64_t)sc->nprod, rng = 0xabcdef + (uint64_t)c->idx;
	uint32_t words = sc->slot_size / 8;
	uint64_t buf[MAX_BATCH * 16];
	unsigned idle = 0;

	while (atomic_load(&run->received) < total && !atomic_load(&run->errors)) {
		enum mode m = sc->mode;
		int k;
		bool inl = false;
		if (m == M_MIXED)
			m = (xorshift(&rng) & 1) ? M_BATCH : M_SINGLE;
		if (m == M_INLINE) {
			inl = (xorshift(&rng) & 3) != 0;
			m = M_SINGLE;
		}
		if (m == M_SINGLE) {
			k = (inl ? kaos_ring_recv_inline(run->r, buf)
				 : kaos_ring_recv(run->r, buf)) == 0;
			if (k)
				take_msg(c, buf);
		} else if (m == M_BATCH) {
			uint32_t max = 1 + (uint32_t)(xorshift(&rng) % MAX_BATCH);
			k = kaos_ring_recv_batch(run->r, buf, max);
			if (k < 0 || (uint32_t)k > max)
				note_error(run, "recv_batch", (uint64_t)k, max);
			for (int j = 0; j < k; j++)
				take_msg(c, buf + (size_t)j * words);
		} else {
			const void *slots;
			uint32_t max = 1 + (uint32_t)(xorshift(&rng) % MAX_BATCH);
			k = kaos_ring_peek(run->r, max, &slots);
			for (int j = 0; j < k; j++)
				take_msg(c, (const uint64_t *)slots + (size_t)j * words);
			if (k > 0)
				kaos_ring_release(run->r, (uint32_t)k);
		}
		if (k > 0) {
			atomic_fetch_add(&run->received, (uint64_t)k);
			idle = 0;
		} else if (++idle > 64) {
			sched_yield(); /* 2 CPUs: let the producers run */
		}
	}
	return NULL;
}

/* Reads counters while the ring is busy: must be race-free and monotonic. */
static void *monitor(void *arg)
{
	struct run *run = arg;
	struct kaos_ring_stats prev = {0}, st;

	while (!atomic_load(&run->done)) {
		kaos_ring_stats(run->r, &st);
		uint32_t n = kaos_ring_count(run->r);
		if (st.sent_msgs < prev.sent_msgs || st.recv_msgs < prev.recv_msgs ||
		    st.bp_episodes < prev.bp_episodes || n > run->sc->slots)
			note_error(run, "stats went backwards", st.sent_msgs, prev.sent_msgs);
		prev = st;
		sched_yield();
	}
	return NULL;
}

static void run_scenario(const struct scenario *sc)
{
	struct run *run = calloc(1, sizeof(*run));
	struct kaos_ring_config cfg = {.kind = sc->kind,
				       .slots = sc->slots,
				       .slot_size = sc->slot_size,
				       .name = sc->name,
				       .wait = sc->wait,
				       .spin_limit = 64};
	pthread_t pt[MAX_THREADS], ct[MAX_THREADS], mt;

	assert_non_null(run);
	run->sc = sc;
	run->msgs = env_msgs();
	assert_int_equal(kaos_ring_create(&cfg, &run->r), 0);
	if (sc->traced) {
		/* what a tracer does: semaphores up, sampling on (set before any thread runs) */
		KAOS_PROBE_SEMA(kaos, send)++;
		KAOS_PROBE_SEMA(kaos, recv)++;
		kaos_probe_control.sample_every = 4;
	}
	for (int c = 0; c < sc->ncons; c++) {
		run->cons[c].run = run;
		run->cons[c].idx = c;
		for (int p = 0; p < sc->nprod; p++) {
			run->cons[c].seen[p] = calloc(run->msgs / 8 + 1, 1);
			assert_non_null(run->cons[c].seen[p]);
		}
	}
	assert_int_equal(pthread_create(&mt, NULL, monitor, run), 0);
	for (int c = 0; c < sc->ncons; c++)
		assert_int_equal(pthread_create(&ct[c], NULL, consumer, &run->cons[c]), 0);
	for (int p = 0; p < sc->nprod; p++) {
		run->prod[p].run = run;
		run->prod[p].idx = p;
		assert_int_equal(pthread_create(&pt[p], NULL, producer, &run->prod[p]), 0);
	}
	for (int p = 0; p < sc->nprod; p++)
		pthread_join(pt[p], NULL);
	for (int c = 0; c < sc->ncons; c++)
		pthread_join(ct[c], NULL);
	atomic_store(&run->done, 1);
	pthread_join(mt, NULL);
	if (sc->traced) {
		KAOS_PROBE_SEMA(kaos, send)--;
		KAOS_PROBE_SEMA(kaos, recv)--;
		kaos_probe_control.sample_every = 1;
	}

	if (atomic_load(&run->errors))
		fail_msg("%s", run->first_error);

	/* every message exactly once across all consumers */
	uint64_t total = 0;
	for (int c = 0; c < sc->ncons; c++)
		total += run->cons[c].got;
	assert_int_equal(total, run->msgs * (uint64_t)sc->nprod);
	for (int p = 0; p < sc->nprod; p++) {
		for (uint64_t seq = 0; seq < run->msgs; seq++) {
			int seen = 0;
			for (int c = 0; c < sc->ncons; c++)
				seen += (run->cons[c].seen[p][seq >> 3] >> (seq & 7)) & 1;
			if (seen != 1)
				fail_msg("%s: producer %d seq %llu received %d times", sc->name, p,
					 (unsigned long long)seq, seen);
		}
	}
	struct kaos_ring_stats st;
	kaos_ring_stats(run->r, &st);
	assert_int_equal(st.sent_msgs, total);
	assert_int_equal(st.recv_msgs, total);
	assert_int_equal(st.sent_bytes, total * sc->slot_size);
	assert_int_equal(kaos_ring_count(run->r), 0);
	printf("  %-22s %llu msgs, %llu backpressure episodes, %.1f ms waiting\n", sc->name,
	       (unsigned long long)total, (unsigned long long)st.bp_episodes,
	       (double)st.bp_wait_ns / 1e6);

	kaos_ring_destroy(run->r);
	for (int c = 0; c < sc->ncons; c++)
		for (int p = 0; p < sc->nprod; p++)
			free(run->cons[c].seen[p]);
	free(run);
}

#define SCENARIO_TEST(fn, ...)                                   \
	static void fn(void **state)                             \
	{                                                        \
		(void)state;                                     \
		static const struct scenario sc = {__VA_ARGS__}; \
		run_scenario(&sc);                               \
	}

SCENARIO_TEST(spsc_single_spin, "spsc-1p1c-single-spin", KAOS_RING_SPSC, 1, 1, 8, 8, KAOS_WAIT_SPIN,
	      M_SINGLE, 0)
SCENARIO_TEST(spsc_mixed_yield, "spsc-1p1c-mixed-yield", KAOS_RING_SPSC, 1, 1, 16, 24,
	      KAOS_WAIT_YIELD, M_MIXED, 0)
SCENARIO_TEST(spsc_zcopy, "spsc-1p1c-zerocopy", KAOS_RING_SPSC, 1, 1, 32, 16, KAOS_WAIT_YIELD,
	      M_ZCOPY, 0)
SCENARIO_TEST(spsc_traced, "spsc-1p1c-mixed-traced", KAOS_RING_SPSC, 1, 1, 16, 8, KAOS_WAIT_YIELD,
	      M_MIXED, 1)
SCENARIO_TEST(spsc_inline, "spsc-1p1c-inline-yield", KAOS_RING_SPSC, 1, 1, 8, 8, KAOS_WAIT_YIELD,
	      M_INLINE, 0)
SCENARIO_TEST(spsc_inline_traced, "spsc-1p1c-inline-traced", KAOS_RING_SPSC, 1, 1, 16, 24,
	      KAOS_WAIT_YIELD, M_INLINE, 1)
SCENARIO_TEST(mpsc_single, "mpsc-3p1c-single-yield", KAOS_RING_MPSC, 3, 1, 8, 16, KAOS_WAIT_YIELD,
	      M_SINGLE, 0)
SCENARIO_TEST(mpsc_mixed, "mpsc-4p1c-mixed-yield", KAOS_RING_MPSC, 4, 1, 32, 8, KAOS_WAIT_YIELD,
	      M_MIXED, 0)
SCENARIO_TEST(mpsc_batch, "mpsc-2p1c-batch-yield", KAOS_RING_MPSC, 2, 1, 16, 32, KAOS_WAIT_YIELD,
	      M_BATCH, 0)
SCENARIO_TEST(spmc_single, "spmc-1p3c-single-yield", KAOS_RING_SPMC, 1, 3, 8, 8, KAOS_WAIT_YIELD,
	      M_SINGLE, 0)
SCENARIO_TEST(spmc_mixed, "spmc-1p2c-mixed-yield", KAOS_RING_SPMC, 1, 2, 16, 16, KAOS_WAIT_YIELD,
	      M_MIXED, 0)
SCENARIO_TEST(mpmc_single, "mpmc-2p2c-single-yield", KAOS_RING_MPMC, 2, 2, 8, 8, KAOS_WAIT_YIELD,
	      M_SINGLE, 0)
SCENARIO_TEST(mpmc_mixed, "mpmc-2p2c-mixed-yield", KAOS_RING_MPMC, 2, 2, 16, 128, KAOS_WAIT_YIELD,
	      M_MIXED, 0)
/* Pure spinning only with one thread per CPU: oversubscribed spinners starve the peer. */
SCENARIO_TEST(mpmc_spin, "mpmc-1p1c-batch-spin", KAOS_RING_MPMC, 1, 1, 8, 8, KAOS_WAIT_SPIN,
	      M_BATCH, 0)
/* the inline functions on a multi kind: every call goes through the library */
SCENARIO_TEST(mpmc_inline, "mpmc-2p2c-inline-yield", KAOS_RING_MPMC, 2, 2, 16, 8, KAOS_WAIT_YIELD,
	      M_INLINE, 0)
SCENARIO_TEST(mpmc_traced, "mpmc-2p2c-mixed-traced", KAOS_RING_MPMC, 2, 2, 16, 8, KAOS_WAIT_YIELD,
	      M_MIXED, 1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spsc_single_spin),   cmocka_unit_test(spsc_mixed_yield),
		cmocka_unit_test(spsc_zcopy),	      cmocka_unit_test(spsc_traced),
		cmocka_unit_test(mpsc_single),	      cmocka_unit_test(mpsc_mixed),
		cmocka_unit_test(mpsc_batch),	      cmocka_unit_test(spmc_single),
		cmocka_unit_test(spmc_mixed),	      cmocka_unit_test(mpmc_single),
		cmocka_unit_test(mpmc_mixed),	      cmocka_unit_test(mpmc_traced),
		cmocka_unit_test(mpmc_spin),	      cmocka_unit_test(spsc_inline),
		cmocka_unit_test(spsc_inline_traced), cmocka_unit_test(mpmc_inline),
	};
	printf("stress_rings: %llu messages per producer (KAOS_STRESS_MSGS)\n",
	       (unsigned long long)env_msgs());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
