/* SPDX-License-Identifier: MIT */
/*
 * kt_link_closer: links are destroyed on its threads, each batch's in its
 * order, a batch's ticket turns done only once it and the batches before
 * it are gone, drain and
 * close leave nothing queued, a full queue makes the caller wait, and
 * without a closer (NULL) the caller's
 * links are destroyed at once. The links here are fake pointers; the
 * destroy hook records them and, while "blocked", waits like a slow
 * uprobe detach, so the caller's thread is seen not waiting.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "kt_link_closer.h"

#define MAX_SEEN 4096

static uintptr_t seen[MAX_SEEN];
static atomic_size_t nseen;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool blocked;   /* the fake destroy waits while set */
static atomic_uintptr_t held; /* ... and while it is this link */
static pthread_t caller;      /* the test's thread */
static atomic_bool on_caller; /* a link was destroyed on it */

static void nap_us(long us)
{
	struct timespec ts = {0, us * 1000};

	nanosleep(&ts, NULL);
}

static void fake_destroy(struct bpf_link *l)
{
	while (atomic_load(&blocked) || atomic_load(&held) == (uintptr_t)l)
		nap_us(100);
	if (pthread_equal(pthread_self(), caller))
		atomic_store(&on_caller, true);
	pthread_mutex_lock(&seen_lock); /* nseen counts only slots written */
	seen[atomic_load(&nseen)] = (uintptr_t)l;
	atomic_fetch_add(&nseen, 1);
	pthread_mutex_unlock(&seen_lock);
}

static struct bpf_link *fake(uintptr_t i)
{
	return (struct bpf_link *)(i << 4);
}

/* Links fake(batch * 100 + k) of each batch were destroyed in k's order. */
static void assert_batch_order(size_t batches)
{
	for (size_t b = 0; b < batches; b++) {
		uintptr_t last = 0;

		for (size_t i = 0; i < atomic_load(&nseen); i++) {
			uintptr_t v = seen[i] >> 4;

			if (v / 100 != b)
				continue;
			assert_true(v > last);
			last = v;
		}
	}
}

static int reset(void **state)
{
	(void)state;
	atomic_store(&nseen, 0);
	atomic_store(&blocked, false);
	atomic_store(&held, 0);
	atomic_store(&on_caller, false);
	caller = pthread_self();
	return 0;
}

static void test_order_and_tickets(void **state)
{
	(void)state;
	struct kt_link_closer *c;
	struct bpf_link *a[3] = {fake(1), fake(2), fake(3)}, *b[2] = {fake(101), NULL};
	uint64_t ta, tb;

	assert_int_equal(kt_link_closer_open_with(&c, fake_destroy), 0);
	atomic_store(&blocked, true);
	ta = kt_link_closer_put(c, a, 3);
	tb = kt_link_closer_put(c, b, 2); /* NULL is skipped */
	/* the caller's array is cleared: the links are the closer's now */
	assert_null(a[0]);
	assert_null(a[2]);
	assert_null(b[0]);
	assert_true(tb > ta);
	assert_false(kt_link_closer_done(c, ta));
	assert_false(kt_link_closer_done(c, tb));
	atomic_store(&blocked, false);
	while (!kt_link_closer_done(c, tb))
		nap_us(100);
	assert_true(kt_link_closer_done(c, ta)); /* tb done: all before it too */
	assert_int_equal(atomic_load(&nseen), 4);
	assert_batch_order(2);
	assert_false(atomic_load(&on_caller));
	kt_link_closer_drain(c);
	kt_link_closer_close(c);
}

/* a batch's ticket is not done while an earlier batch is being destroyed */
static void test_ticket_waits_for_earlier_batches(void **state)
{
	(void)state;
	struct kt_link_closer *c;
	struct bpf_link *a[1] = {fake(1)}, *b[1] = {fake(101)};
	uint64_t ta, tb;

	assert_int_equal(kt_link_closer_open_with(&c, fake_destroy), 0);
	atomic_store(&held, (uintptr_t)fake(1));
	ta = kt_link_closer_put(c, a, 1);
	tb = kt_link_closer_put(c, b, 1);
	while (atomic_load(&nseen) < 1) /* b, on another thread, while a is held */
		nap_us(100);
	pthread_mutex_lock(&seen_lock);
	assert_int_equal(seen[0], (uintptr_t)fake(101));
	pthread_mutex_unlock(&seen_lock);
	assert_false(kt_link_closer_done(c, ta));
	assert_false(kt_link_closer_done(c, tb));
	atomic_store(&held, 0);
	kt_link_closer_drain(c);
	assert_true(kt_link_closer_done(c, tb));
	assert_int_equal(atomic_load(&nseen), 2);
	kt_link_closer_close(c);
}

/* close destroys what is still queued (many, queued while blocked) */
static void test_close_destroys_the_queue(void **state)
{
	(void)state;
	struct kt_link_closer *c;
	struct bpf_link *v[17];

	assert_int_equal(kt_link_closer_open_with(&c, fake_destroy), 0);
	atomic_store(&blocked, true);
	for (uintptr_t round = 0; round < 30; round++) { /* 510: under the bound */
		for (uintptr_t i = 0; i < 17; i++)
			v[i] = fake(round * 100 + i + 1);
		kt_link_closer_put(c, v, 17);
	}
	atomic_store(&blocked, false);
	kt_link_closer_close(c);
	assert_int_equal(atomic_load(&nseen), 510);
	assert_batch_order(30);
}

struct put_args {
	struct kt_link_closer *c;
	atomic_bool returned;
};

static void *put_100(void *arg)
{
	struct put_args *p = arg;
	struct bpf_link *v[100];

	for (uintptr_t i = 0; i < 100; i++)
		v[i] = fake(1000 + i);
	kt_link_closer_put(p->c, v, 100);
	atomic_store(&p->returned, true);
	return NULL;
}

/* a full queue (512 links) makes the caller wait: fds stay bounded */
static void test_full_queue_waits(void **state)
{
	(void)state;
	struct put_args p = {0};
	struct bpf_link *v[500];
	pthread_t t;

	assert_int_equal(kt_link_closer_open_with(&p.c, fake_destroy), 0);
	atomic_store(&blocked, true);
	for (uintptr_t i = 0; i < 500; i++)
		v[i] = fake(i + 1);
	kt_link_closer_put(p.c, v, 500);
	assert_int_equal(pthread_create(&t, NULL, put_100, &p), 0);
	nap_us(50000);
	assert_false(atomic_load(&p.returned)); /* 500 + 100 > 512 */
	atomic_store(&blocked, false);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&p.returned));
	kt_link_closer_close(p.c);
	assert_int_equal(atomic_load(&nseen), 600);
}

/* no closer: destroyed by the caller, at once (bpf_link__destroy(NULL) is a no-op) */
static void test_without_a_closer(void **state)
{
	(void)state;
	struct bpf_link *v[2] = {NULL, NULL};
	uint64_t t = kt_link_closer_put(NULL, v, 2);

	assert_true(kt_link_closer_done(NULL, t));
	kt_link_closer_drain(NULL);
	kt_link_closer_close(NULL);
}

static atomic_int int_on;    /* SIGINT's handler ran ... */
static pthread_t int_thread; /* ... on this thread */

static void on_int(int sig)
{
	(void)sig;
	int_thread = pthread_self();
	atomic_store(&int_on, 1);
}

/*
 * The closer's threads block every signal: with the caller's thread
 * blocking SIGINT too, a SIGINT sent to the process waits for it (else a
 * closer thread would run the handler, and the event loop not wake).
 */
static void test_threads_block_signals(void **state)
{
	(void)state;
	struct kt_link_closer *c;
	struct sigaction sa = {.sa_handler = on_int}, old;
	struct bpf_link *v[1] = {fake(1)};
	sigset_t intr;

	assert_int_equal(kt_link_closer_open_with(&c, fake_destroy), 0);
	assert_int_equal(sigaction(SIGINT, &sa, &old), 0);
	atomic_store(&blocked, true);
	kt_link_closer_put(c, v, 1); /* one closer thread busy, the others idle */
	sigemptyset(&intr);
	sigaddset(&intr, SIGINT);
	pthread_sigmask(SIG_BLOCK, &intr, NULL);
	atomic_store(&int_on, 0);
	kill(getpid(), SIGINT);
	nap_us(50000);
	assert_int_equal(atomic_load(&int_on), 0); /* no closer thread took it */
	pthread_sigmask(SIG_UNBLOCK, &intr, NULL); /* delivered here, now */
	assert_int_equal(atomic_load(&int_on), 1);
	assert_true(pthread_equal(int_thread, pthread_self()));
	atomic_store(&blocked, false);
	kt_link_closer_close(c);
	sigaction(SIGINT, &old, NULL);
}

/* an empty closer drains and closes at once; a real one opens and closes */
static void test_idle(void **state)
{
	(void)state;
	struct kt_link_closer *c;

	assert_int_equal(kt_link_closer_open(&c), 0);
	assert_true(kt_link_closer_done(c, 0));
	kt_link_closer_drain(c);
	kt_link_closer_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_order_and_tickets, reset),
		cmocka_unit_test_setup(test_ticket_waits_for_earlier_batches, reset),
		cmocka_unit_test_setup(test_close_destroys_the_queue, reset),
		cmocka_unit_test_setup(test_full_queue_waits, reset),
		cmocka_unit_test_setup(test_threads_block_signals, reset),
		cmocka_unit_test_setup(test_without_a_closer, reset),
		cmocka_unit_test_setup(test_idle, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
