/* SPDX-License-Identifier: MIT */
/*
 * kt_waits: with --weight latency a send carries its own time, the waits
 * inside it only in their backpressure events; matched per thread, ring
 * and position, so sampling, other threads, other rings, multi-producer
 * rings (wait outside the send's clock) and exec never take a wait twice
 * or from the wrong send.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kt_waits.h"

static struct kt_event ev(uint32_t type, uint32_t tid, uint32_t ring, uint64_t count, uint32_t n,
			  uint64_t dur_ns, uint64_t extra)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.pid = 100;
	e.tid = tid;
	e.ring_id = ring;
	e.n = n;
	e.count = count;
	e.dur_ns = dur_ns;
	e.extra = extra;
	return e;
}

/* A wait of ns at producer position pos (thread tid, ring 1 unless ring). */
static uint64_t bp(struct kt_waits *w, uint32_t tid, uint32_t ring, uint64_t pos, uint64_t ns)
{
	struct kt_event e = ev(KT_EV_BACKPRESSURE, tid, ring, 1, 1, ns, pos);

	return kt_waits_weight(w, &e);
}

/* A send of n messages ending at producer position end, lasting ns. */
static uint64_t send(struct kt_waits *w, uint32_t tid, uint32_t ring, uint64_t end, uint32_t n,
		     uint64_t ns)
{
	struct kt_event e = ev(KT_EV_SEND, tid, ring, end, n, ns, 0);

	return kt_waits_weight(w, &e);
}

static void test_send_loses_its_wait(void **state)
{
	struct kt_waits *w = kt_waits_new();

	(void)state;
	assert_non_null(w);
	assert_int_equal(bp(w, 7, 1, 4, 1000), 1000); /* the wait keeps its weight */
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 200);
	/* taken once: the next send of the thread keeps its whole time */
	assert_int_equal(send(w, 7, 1, 6, 1, 50), 50);
	/* a batch owns every wait inside its positions */
	bp(w, 7, 1, 10, 100);
	bp(w, 7, 1, 12, 200);
	assert_int_equal(send(w, 7, 1, 16, 8, 1000), 700);
	kt_waits_free(w);
}

/* --sample: the send that waited was not sampled; the next sampled one keeps its time. */
static void test_unsampled_send_keeps_nothing(void **state)
{
	struct kt_waits *w = kt_waits_new();

	(void)state;
	bp(w, 7, 1, 4, 1000); /* its send (position 4) not sampled */
	assert_int_equal(send(w, 7, 1, 9, 1, 60), 60);
	bp(w, 7, 1, 12, 1000); /* unsampled again, then a sampled send that waited */
	bp(w, 7, 1, 16, 500);
	assert_int_equal(send(w, 7, 1, 17, 1, 600), 100);
	kt_waits_free(w);
}

static void test_other_thread_ring_or_process(void **state)
{
	struct kt_waits *w = kt_waits_new();
	struct kt_event ex = ev(KT_EV_EXEC, 100, 0, 0, 0, 0, 0);
	struct kt_event fn = ev(KT_EV_FUNC, 7, 3, 1, 0, 70, 0);
	struct kt_event rv = ev(KT_EV_RECV, 7, 1, 1, 1, 80, 0);

	(void)state;
	bp(w, 7, 1, 4, 1000);
	assert_int_equal(send(w, 8, 1, 5, 1, 1200), 1200); /* another thread */
	assert_int_equal(send(w, 7, 2, 5, 1, 1200), 1200); /* another ring: dropped */
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 1200);
	bp(w, 7, 2, 4, 1000);
	bp(w, 7, 1, 4, 300); /* a wait on another ring replaces the list */
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 900);
	/* an exec restarts ring ids and positions: pending waits are forgotten */
	bp(w, 7, 1, 4, 1000);
	assert_int_equal(kt_waits_weight(w, &ex), 0);
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 1200);
	/* a --func return between a wait and its send leaves the wait pending */
	bp(w, 7, 1, 4, 1000);
	assert_int_equal(kt_waits_weight(w, &fn), 70);
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 200);
	/* any other event of the thread ends its pending waits */
	bp(w, 7, 1, 4, 1000);
	assert_int_equal(kt_waits_weight(w, &rv), 80);
	assert_int_equal(send(w, 7, 1, 5, 1, 1200), 1200);
	kt_waits_free(w);
}

/* Multi-producer rings time a send from its claim: a longer wait is not inside it. */
static void test_wait_outside_the_send(void **state)
{
	struct kt_waits *w = kt_waits_new();

	(void)state;
	bp(w, 7, 1, 4, 5000);
	assert_int_equal(send(w, 7, 1, 5, 1, 100), 100);
	kt_waits_free(w);
}

/* Many threads (the table grows) each match their own wait; a full list drops its oldest. */
static void test_many_threads_and_waits(void **state)
{
	struct kt_waits *w = kt_waits_new();

	(void)state;
	for (uint32_t t = 1; t <= 1000; t++)
		bp(w, t, 1, t, t);
	for (uint32_t t = 1000; t >= 1; t--)
		assert_int_equal(send(w, t, 1, t + 1, 1, 10 * t), 9 * t);
	for (uint64_t pos = 0; pos < 40; pos++)
		bp(w, 7, 1, pos, 10);
	/* one batch over all 40 positions: the 16 waits kept */
	assert_int_equal(send(w, 7, 1, 40, 40, 1000), 1000 - 160);
	kt_waits_free(w);
}

static uint64_t send_of(struct kt_waits *w, uint32_t pid, uint32_t tid, uint64_t end, uint64_t ns)
{
	struct kt_event e = ev(KT_EV_SEND, tid, 1, end, 1, ns, 0);

	e.pid = pid;
	return kt_waits_weight(w, &e);
}

static void bp_of(struct kt_waits *w, uint32_t pid, uint32_t tid, uint64_t pos, uint64_t ns)
{
	struct kt_event e = ev(KT_EV_BACKPRESSURE, tid, 1, 1, 1, ns, pos);

	e.pid = pid;
	kt_waits_weight(w, &e);
}

/*
 * Entries leave the table: an exec of one process forgets its threads and
 * keeps the others' (interleaved in the table); threads that never send
 * again do not grow it without bound (it starts afresh at 4096).
 */
static void test_entries_leave(void **state)
{
	struct kt_waits *w = kt_waits_new();
	struct kt_event ex = ev(KT_EV_EXEC, 1, 0, 0, 0, 0, 0);

	(void)state;
	for (uint32_t t = 1; t <= 500; t++) {
		bp_of(w, 1, t, t, 5);
		bp_of(w, 2, t, t, 5);
	}
	ex.pid = 1;
	kt_waits_weight(w, &ex);
	for (uint32_t t = 1; t <= 500; t++) {
		assert_int_equal(send_of(w, 1, t, t + 1, 50), 50);
		assert_int_equal(send_of(w, 2, t, t + 1, 50), 45);
	}
	/* 5000 unsampled waits of threads that exit: the last ones still match */
	for (uint32_t t = 1; t <= 5000; t++)
		bp_of(w, 3, t, t, 5);
	assert_int_equal(send_of(w, 3, 5000, 5001, 50), 45);
	assert_int_equal(send_of(w, 3, 1, 2, 50), 50); /* dropped at the fresh start */
	kt_waits_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_loses_its_wait),
		cmocka_unit_test(test_unsampled_send_keeps_nothing),
		cmocka_unit_test(test_other_thread_ring_or_process),
		cmocka_unit_test(test_wait_outside_the_send),
		cmocka_unit_test(test_many_threads_and_waits),
		cmocka_unit_test(test_entries_leave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
