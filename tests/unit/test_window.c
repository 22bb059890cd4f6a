/* SPDX-License-Identifier: MIT */
/* kt_window: rolling windows are the cumulative series minus a snapshot one window ago. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kt_window.h"
#include "kt_test_events.h"

#define S  1000000000ull
#define T0 (1000 * S) /* an arbitrary monotonic origin */

static const uint64_t no_global[KT_WIN_G_NR];

static const struct kt_ring_agg *ring(const struct kt_agg *a, uint32_t ring_id)
{
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		if (r->ring_id == ring_id)
			return r;
	return NULL;
}

/* ticks every 100 ms from *t up to t_end */
static void tick_until(struct kt_windows *w, const struct kt_agg *a, uint64_t *t, uint64_t t_end,
		       const uint64_t g[KT_WIN_G_NR])
{
	for (; *t <= t_end; *t += S / 10)
		kt_windows_tick(w, a, g, *t);
	*t -= S / 10;
}

static void test_window_slides(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_windows *w = kt_windows_new(T0);
	struct kt_hist h;
	uint64_t lens[] = {10 * S, 60 * S};
	uint64_t t = T0, cnt = 0;

	assert_non_null(w);
	kt_agg_init(&a, 0);
	assert_int_equal(kt_windows_set(w, lens, 2), 0);
	assert_int_equal(kt_windows_count(w), 2);
	kt_windows_tick(w, &a, no_global, t);

	/* second 0..1: 100 fast sends (1 us) */
	for (int i = 0; i < 100; i++)
		kt_test_event(&a, KT_EV_SEND, 0, ++cnt, 1000, 0);
	tick_until(w, &a, &t, T0 + 5 * S, no_global);
	/* second 5: 100 slow sends (50 us) */
	for (int i = 0; i < 100; i++)
		kt_test_event(&a, KT_EV_SEND, 0, ++cnt, 50000, 0);
	const struct kt_ring_agg *r = ring(&a, 1);

	assert_non_null(r);
	assert_string_equal(r->name, "work.0");
	kt_windows_ring_hist(w, 0, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 200);
	assert_int_equal(kt_windows_ring_count(w, 0, r, KT_WIN_C_SEND), 200);

	/* at 11 s the 10 s window has dropped the first second */
	tick_until(w, &a, &t, T0 + 11 * S + S / 2, no_global);
	kt_windows_ring_hist(w, 0, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 100);
	assert_true(kt_hist_min(&h) > 45000);
	assert_int_equal(kt_windows_ring_count(w, 0, r, KT_WIN_C_SEND), 100);
	double span = kt_windows_span_s(w, 0, t);
	assert_true(span >= 10.0 && span <= 11.0 + 1e-9);
	/* the 1 min window and the whole run still hold everything */
	kt_windows_ring_hist(w, 1, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 200);
	kt_windows_ring_hist(w, KT_WIN_ALL, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 200);
	assert_int_equal(kt_windows_ring_count(w, KT_WIN_ALL, r, KT_WIN_C_SEND), 200);

	/* at 17 s nothing happened for more than 10 s */
	tick_until(w, &a, &t, T0 + 17 * S, no_global);
	kt_windows_ring_hist(w, 0, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 0);
	assert_int_equal(kt_windows_ring_count(w, 0, r, KT_WIN_C_SEND), 0);
	kt_windows_ring_hist(w, 1, r, KT_WIN_H_SEND, &h);
	assert_int_equal(kt_hist_count(&h), 200);
	assert_true(kt_windows_memory(w) > 0);

	/* a series that appears late counts from zero in every window */
	kt_test_event(&a, KT_EV_RECV, 1, 7, 300, 2000);
	const struct kt_ring_agg *r2 = ring(&a, 2);

	assert_non_null(r2);
	assert_int_equal(kt_windows_ring_count(w, 0, r2, KT_WIN_C_RECV), 7);
	kt_windows_ring_hist(w, 0, r2, KT_WIN_H_SOJOURN, &h);
	assert_int_equal(kt_hist_count(&h), 1);
	assert_int_equal(kt_hist_max(&h), 2000);
	tick_until(w, &a, &t, T0 + 18 * S, no_global);
	assert_int_equal(kt_windows_ring_count(w, 0, r2, KT_WIN_C_RECV), 7);

	kt_windows_free(w);
	kt_agg_free(&a);
}

static void test_global_and_reconfigure(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_windows *w = kt_windows_new(T0);
	uint64_t g[KT_WIN_G_NR] = {0};
	uint64_t lens[] = {2 * S}, lens2[] = {5 * S, 2 * S}, t = T0;

	kt_agg_init(&a, 0);
	assert_int_equal(kt_windows_set(w, lens, 1), 0);
	tick_until(w, &a, &t, T0 + S, g);
	g[KT_WIN_G_LOST] = 5;
	tick_until(w, &a, &t, T0 + 2 * S, g);
	assert_int_equal(kt_windows_global(w, 0, g, KT_WIN_G_LOST), 5);
	assert_int_equal(kt_windows_global(w, KT_WIN_ALL, g, KT_WIN_G_LOST), 5);
	tick_until(w, &a, &t, T0 + 3 * S + S / 2, g);
	assert_int_equal(kt_windows_global(w, 0, g, KT_WIN_G_LOST), 0);

	/* the 2 s window keeps its history when a 5 s window is added before it */
	assert_int_equal(kt_windows_set(w, lens2, 2), 0);
	assert_int_equal(kt_windows_find(w, 2 * S), 1);
	assert_int_equal(kt_windows_find(w, 5 * S), 0);
	assert_int_equal(kt_windows_find(w, 7 * S), -1);
	assert_int_equal(kt_windows_global(w, 1, g, KT_WIN_G_LOST), 0);
	/* the new one starts empty: everything counts until its first snapshot */
	assert_int_equal(kt_windows_global(w, 0, g, KT_WIN_G_LOST), 5);
	kt_windows_tick(w, &a, g, t + S / 10);
	assert_int_equal(kt_windows_global(w, 0, g, KT_WIN_G_LOST), 0);

	/* bad sets change nothing */
	uint64_t tiny[] = {1000}, many[KT_WIN_MAX + 1];

	for (int i = 0; i <= KT_WIN_MAX; i++)
		many[i] = (uint64_t)(i + 1) * S;
	assert_int_equal(kt_windows_set(w, tiny, 1), -EINVAL);
	assert_int_equal(kt_windows_set(w, many, KT_WIN_MAX + 1), -EINVAL);
	assert_int_equal(kt_windows_count(w), 2);
	assert_int_equal(kt_windows_len(w, 0), 5 * S);

	/* forgetting a process drops its series' snapshots */
	kt_test_event(&a, KT_EV_SEND, 0, 10, 100, 0);
	tick_until(w, &a, &t, t + 3 * S, g);
	kt_test_event(&a, KT_EV_SEND, 0, 15, 100, 0);
	assert_int_equal(kt_windows_ring_count(w, 1, ring(&a, 1), KT_WIN_C_SEND), 5);
	kt_windows_forget_pid(w, (uint32_t)getpid());
	assert_int_equal(kt_windows_ring_count(w, 1, ring(&a, 1), KT_WIN_C_SEND), 15);
	kt_windows_free(w);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_slides),
		cmocka_unit_test(test_global_and_reconfigure),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
