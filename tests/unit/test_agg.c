/* SPDX-License-Identifier: MIT */
/*
 * kt_agg: an exec (KT_EV_EXEC) ends a process image; the new image's rings,
 * whose ids and counters restart, are counted apart (and so are their
 * rolling windows), never merged into the old image's rows. What it knows
 * of a process (name, start, ring names in its memory) comes only through
 * the lookup its owner sets: it reads no /proc itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_report.h"
#include "kt_window.h"
#include "kt_test_events.h"

#define S 1000000000ull

static void exec_event(struct kt_agg *a, uint32_t pid, const char *comm)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_EXEC;
	e.pid = pid;
	e.tid = pid;
	snprintf(e.name, sizeof(e.name), "%s", comm);
	e.flags = KT_EVF_NAME;
	kt_agg_add(a, &e, sizeof(e));
}

/* n sends and receives on ring 0 of this process, counters from 1 (a new ring) */
static void ops(struct kt_agg *a, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++) {
		kt_test_event(a, KT_EV_SEND, 0, i, 100, 0);
		kt_test_event(a, KT_EV_RECV, 0, i, 100, 50);
	}
}

static const struct kt_proc *image(const struct kt_agg *a, uint32_t gen)
{
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == (uint32_t)getpid() && p->exec_gen == gen)
			return p;
	return NULL;
}

static const struct kt_ring_agg *ring_of(const struct kt_agg *a, const struct kt_proc *p)
{
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		if (kt_ring_of(r, p))
			return r;
	return NULL;
}

static void test_exec_splits_images(void **state)
{
	struct kt_agg a;
	const struct kt_proc *old, *cur;
	const struct kt_ring_agg *r0, *r1;

	(void)state;
	kt_agg_init(&a, 0); /* attached at boot: this process started after */
	ops(&a, 1000);
	exec_event(&a, (uint32_t)getpid(), "new-image");
	ops(&a, 1000);

	old = image(&a, 0);
	cur = image(&a, 1);
	assert_non_null(old);
	assert_non_null(cur);
	assert_int_equal(a.nprocs, 2);
	assert_true(old->execed);
	assert_false(cur->execed);
	assert_string_equal(cur->comm, "new-image");
	assert_ptr_equal(kt_agg_proc(&a, (uint32_t)getpid()), cur); /* the current image */
	assert_int_equal(a.nrings, 2);
	r0 = ring_of(&a, old);
	r1 = ring_of(&a, cur);
	assert_non_null(r0);
	assert_non_null(r1);
	assert_ptr_not_equal(r0, r1);
	assert_int_equal(r0->ring_id, r1->ring_id); /* ids restart in a new image */
	for (int t = KT_EV_SEND; t <= KT_EV_RECV; t++) {
		assert_int_equal(kt_series_count(&r0->s[t]), 1000);
		assert_int_equal(kt_series_count(&r1->s[t]), 1000);
		assert_int_equal(r0->s[t].events, 1000); /* samples never above the count */
		assert_int_equal(r1->s[t].events, 1000);
	}
	assert_int_equal(old->hits, 2000);
	assert_int_equal(cur->hits, 2000);
	kt_agg_free(&a);
}

static void test_exec_of_untraced_pid(void **state)
{
	struct kt_agg a;

	(void)state;
	kt_agg_init(&a, 0);
	exec_event(&a, 1, "init"); /* never seen: nothing to split */
	assert_null(a.procs);
	assert_int_equal(a.bad_events, 0);
	kt_agg_free(&a);
}

static void test_forget_image(void **state)
{
	struct kt_agg a;

	(void)state;
	kt_agg_init(&a, 0);
	ops(&a, 10);
	exec_event(&a, (uint32_t)getpid(), "x");
	ops(&a, 20);
	kt_agg_forget_image(&a, (uint32_t)getpid(), 0);
	assert_int_equal(a.nprocs, 1);
	assert_int_equal(a.nrings, 1);
	assert_null(image(&a, 0));
	assert_non_null(image(&a, 1));
	assert_int_equal(kt_series_count(&ring_of(&a, image(&a, 1))->s[KT_EV_SEND]), 20);
	kt_agg_forget_proc(&a, (uint32_t)getpid());
	assert_int_equal(a.nprocs, 0);
	assert_int_equal(a.nrings, 0);
	kt_agg_free(&a);
}

/* Each image's ring has its own window series: counts never mix. */
static void test_windows_per_image(void **state)
{
	static const uint64_t g[KT_WIN_G_NR];
	const uint64_t len = 10 * S, t0 = 1000 * S;
	struct kt_windows *w = kt_windows_new(t0);
	struct kt_agg a;

	(void)state;
	kt_agg_init(&a, 0);
	assert_int_equal(kt_windows_set(w, &len, 1), 0);
	kt_windows_tick(w, &a, g, t0);
	ops(&a, 300);
	kt_windows_tick(w, &a, g, t0 + len / 10);
	exec_event(&a, (uint32_t)getpid(), "x");
	ops(&a, 50);
	kt_windows_tick(w, &a, g, t0 + len / 2);
	assert_int_equal(kt_windows_ring_count(w, 0, ring_of(&a, image(&a, 0)), KT_WIN_C_SEND),
			 300);
	assert_int_equal(kt_windows_ring_count(w, 0, ring_of(&a, image(&a, 1)), KT_WIN_C_SEND), 50);
	kt_windows_forget_image(w, (uint32_t)getpid(), 0);
	kt_agg_forget_image(&a, (uint32_t)getpid(), 0);
	assert_int_equal(kt_windows_ring_count(w, 0, ring_of(&a, image(&a, 1)), KT_WIN_C_SEND), 50);
	kt_windows_free(w);
	kt_agg_free(&a);
}

/* The report says the scope, the hits it ignored and what it could not track. */
static void test_report_scope_and_losses(void **state)
{
	struct kt_report_totals t = {.scope = "processes of ./app",
				     .out_of_scope = 1234,
				     .scope_full = 2,
				     .exec_lost = 3,
				     .elapsed_s = 1};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct kt_agg a;

	(void)state;
	kt_agg_init(&a, 0);
	kt_report_text(f, &a, &t, false, false);
	kt_report_json(f, &a, &t, false);
	fclose(f);
	assert_non_null(strstr(buf, "\nscope: processes of ./app; 1234 probe hits in other "
				    "processes ignored\n"));
	assert_non_null(strstr(buf, "warning: 2 processes or tasks could not join the scope"));
	assert_non_null(strstr(buf, "warning: 3 exec records lost"));
	assert_non_null(strstr(buf, "\"scope\":\"processes of ./app\",\"out_of_scope_hits\":1234,"
				    "\"scope_full\":2,\"exec_lost\":3"));
	free(buf);
	kt_agg_free(&a);
}

/*
 * -r NAME: rings are kept by name (or id) at their first event, the others'
 * events are counted as dropped, and the names that matched are noted.
 */
static void test_ring_filter_by_name(void **state)
{
	static const char *const names[] = {"compress.in", "no-such-ring"};
	static const uint32_t ids[] = {2}; /* ring 1: "work.1" */
	struct kt_ring_filter f = {.ids = ids, .nids = 1, .names = names, .nnames = 2};
	struct kt_agg a;
	int nr = 0;

	(void)state;
	kt_agg_init(&a, 0);
	a.ring_filter = &f;
	for (uint64_t i = 1; i <= 10; i++)
		for (uint32_t ring = 0; ring < 4; ring++)
			kt_test_event(&a, KT_EV_SEND, ring, i, 100, 0);
	for (const struct kt_ring_agg *r = a.rings; r; r = r->next) {
		assert_true(!strcmp(r->name, "compress.in") || !strcmp(r->name, "work.1"));
		assert_int_equal(kt_series_count(&r->s[KT_EV_SEND]), 10);
		nr++;
	}
	assert_int_equal(nr, 2);
	assert_int_equal(a.nrings, 2);
	assert_int_equal(f.dropped, 20); /* rings 0 and 3, 10 events each */
	assert_int_equal(f.rings_dropped, 2);
	assert_int_equal(f.matched, 1);	     /* names[0] only */
	assert_int_equal(a.procs->hits, 40); /* every probe hit is accounted */
	kt_agg_free(&a);
}

/* Without a filter every ring is kept, as before. */
static void test_ring_filter_off(void **state)
{
	struct kt_agg a;

	(void)state;
	kt_agg_init(&a, 0);
	for (uint32_t ring = 0; ring < 4; ring++)
		kt_test_event(&a, KT_EV_SEND, ring, 1, 100, 0);
	assert_int_equal(a.nrings, 4);
	kt_agg_free(&a);
}

/* A lookup that answers for pid 4242 only, and counts what it was asked. */
static int asked_comm, asked_start, asked_mem;

static int fake_comm(pid_t pid, char *buf, size_t len)
{
	asked_comm++;
	snprintf(buf, len, "%s", pid == 4242 ? "fake-comm" : "");
	return pid == 4242 ? 0 : -ENOENT;
}

static uint64_t fake_start_ns(pid_t pid)
{
	asked_start++;
	return pid == 4242 ? 5 * S : 0;
}

static int fake_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	asked_mem++;
	if (pid != 4242 || addr != 0x1000)
		return -EFAULT;
	memset(buf, 0, len);
	memcpy(buf, "fake.ring", 9);
	return 0;
}

static const struct kt_agg_lookup fake_lookup = {fake_comm, fake_start_ns, fake_read_mem};

static struct kt_ring_agg *named_op(struct kt_agg *a, uint32_t pid, uint64_t name_ptr)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_SEND;
	e.pid = pid;
	e.tid = pid;
	e.ring_id = 1;
	e.n = 1;
	e.count = 1;
	e.name_ptr = name_ptr;
	return kt_agg_add(a, &e, KT_EVENT_BASE_SIZE);
}

static void test_lookup_answers_for_processes(void **state)
{
	struct kt_agg a;
	struct kt_ring_agg *r;

	(void)state;
	kt_agg_init(&a, 1 * S);
	a.lookup = &fake_lookup;
	r = named_op(&a, 4242, 0x1000);
	assert_non_null(r);
	assert_string_equal(r->name, "fake.ring");
	assert_string_equal(a.procs->comm, "fake-comm");
	assert_true(a.procs->started_after_attach); /* 5 s > 1 s + a tick */
	assert_int_equal(asked_comm, 1);
	assert_int_equal(asked_start, 1);
	assert_int_equal(asked_mem, 1);
	/* a process the lookup does not know: "?", start unknown, no name */
	r = named_op(&a, (uint32_t)getpid(), (uint64_t)(uintptr_t)kt_test_names[0]);
	assert_non_null(r);
	assert_string_equal(r->name, "");
	assert_string_equal(a.procs->comm, "?");
	assert_false(a.procs->started_after_attach);
	kt_agg_free(&a);

	/* no lookup at all: nothing is read, not even this process's own memory */
	kt_agg_init(&a, 0);
	r = named_op(&a, (uint32_t)getpid(), (uint64_t)(uintptr_t)kt_test_names[0]);
	assert_non_null(r);
	assert_string_equal(r->name, "");
	assert_string_equal(a.procs->comm, "?");
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_answers_for_processes),
		cmocka_unit_test(test_exec_splits_images),
		cmocka_unit_test(test_exec_of_untraced_pid),
		cmocka_unit_test(test_forget_image),
		cmocka_unit_test(test_windows_per_image),
		cmocka_unit_test(test_report_scope_and_losses),
		cmocka_unit_test(test_ring_filter_by_name),
		cmocka_unit_test(test_ring_filter_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
