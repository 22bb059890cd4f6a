/* SPDX-License-Identifier: MIT */
/* kt_top_model: rows from interval deltas, sort, filter, sparkline, columns, plain text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_alert.h"
#include "kt_rule.h"
#include "kt_test_events.h"
#include "kt_window.h"
#include "kt_top_model.h"

/* n sends on ring (counter from..from+n-1), each taking dur ns; recvs with sojourn too. */
static void traffic(struct kt_agg *a, uint32_t ring, uint64_t from, uint64_t n, uint64_t dur)
{
	for (uint64_t i = 0; i < n; i++) {
		kt_test_event(a, KT_EV_SEND, ring, from + i, dur, 0);
		kt_test_event(a, KT_EV_RECV, ring, from + i, dur / 2, dur * 3);
	}
}

static const struct kt_top_row *row_named(const struct kt_top_model *m, const char *name)
{
	for (int i = 0; i < m->nrows; i++)
		if (!strcmp(m->rows[i].name, name))
			return &m->rows[i];
	return NULL;
}

static const char *vis_name(const struct kt_top_model *m, int i)
{
	return m->rows[m->vis[i]].name;
}

struct fixture {
	struct kt_agg a;
	struct kt_top_model m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	kt_agg_init(&f->a, 0);
	kt_top_model_init(&f->m);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kt_top_model_free(&f->m);
	kt_agg_free(&f->a);
	free(f);
	return 0;
}

/* An interval's rate is its delta of the exact counters over the interval, not the total. */
static void test_rates_from_interval_deltas(void **state)
{
	struct fixture *f = *state;
	const struct kt_top_row *r;

	traffic(&f->a, 0, 1, 101, 50); /* counters 1..101: 100 sends after the first */
	assert_int_equal(kt_top_model_update(&f->m, &f->a, 2.0, 7, 3), 0);
	r = row_named(&f->m, "work.0");
	assert_non_null(r);
	assert_true(r->rate > 49.9 && r->rate < 50.6);
	assert_int_equal(f->m.lost_iv, 4);
	assert_int_equal(f->m.lost, 7);
	kt_agg_interval_reset(&f->a);
	traffic(&f->a, 0, 102, 10, 2000); /* 10 more, slow: bad */
	assert_int_equal(kt_top_model_update(&f->m, &f->a, 1.0, 7, 7), 0);
	r = row_named(&f->m, "work.0");
	assert_true(r->rate > 9.9 && r->rate < 10.1);
	assert_int_equal(f->m.lost_iv, 0);
	assert_true(r->send[KT_TOP_P99] >= 1950 && r->send[KT_TOP_P99] <= 2050);
	assert_true(r->soj[KT_TOP_P50] >= 5900 && r->soj[KT_TOP_P50] <= 6100);
	assert_int_equal(r->sev, KT_SEV_BAD);
	/* the history kept both intervals, newest last */
	assert_int_equal(r->nspark, 2);
	assert_true(r->spark[0] < 100 && r->spark[1] >= 1950);
}

static void test_sort_cycles_and_reverses(void **state)
{
	struct fixture *f = *state;

	traffic(&f->a, 0, 1, 11, 500);	/* work.0: few, slow */
	traffic(&f->a, 1, 1, 101, 20);	/* work.1: busy, fast */
	traffic(&f->a, 2, 1, 51, 5000); /* compress.in: middling, slowest */
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_int_equal(f->m.nvis, 3);
	assert_string_equal(vis_name(&f->m, 0), "work.1");
	assert_string_equal(vis_name(&f->m, 1), "compress.in");
	assert_string_equal(vis_name(&f->m, 2), "work.0");
	kt_top_model_next_sort(&f->m);
	assert_int_equal(f->m.sort, KT_TOP_SORT_SEND_P99);
	assert_string_equal(vis_name(&f->m, 0), "compress.in");
	assert_string_equal(vis_name(&f->m, 2), "work.1");
	kt_top_model_set_sort(&f->m, f->m.sort, true);
	assert_string_equal(vis_name(&f->m, 0), "work.1");
	kt_top_model_set_sort(&f->m, KT_TOP_SORT_NAME, false);
	assert_string_equal(vis_name(&f->m, 0), "compress.in");
	assert_string_equal(vis_name(&f->m, 2), "work.1");
	for (int i = 0; i < KT_TOP_SORT_NR; i++)
		kt_top_model_next_sort(&f->m);
	assert_int_equal(f->m.sort, KT_TOP_SORT_NAME); /* wrapped around */
}

static void test_filter_hides_rows(void **state)
{
	struct fixture *f = *state;

	traffic(&f->a, 0, 1, 5, 100);
	traffic(&f->a, 1, 1, 5, 100);
	traffic(&f->a, 2, 1, 5, 100);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	kt_top_model_set_filter(&f->m, "compress");
	assert_int_equal(f->m.nvis, 1);
	assert_string_equal(vis_name(&f->m, 0), "compress.in");
	kt_top_model_set_filter(&f->m, "WORK"); /* any case */
	assert_int_equal(f->m.nvis, 2);
	kt_top_model_set_filter(&f->m, "nothing-like-it");
	assert_int_equal(f->m.nvis, 0);
	/* the filter stays across refreshes, and matches the process name too */
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_int_equal(f->m.nvis, 0);
	kt_top_model_set_filter(&f->m, f->m.rows[0].comm);
	assert_int_equal(f->m.nvis, 3);
	kt_top_model_set_filter(&f->m, "");
	assert_int_equal(f->m.nvis, 3);
}

/* A ring closed in an earlier interval and quiet since leaves the table. */
static void test_retired_ring_leaves(void **state)
{
	struct fixture *f = *state;

	traffic(&f->a, 0, 1, 5, 100);
	traffic(&f->a, 1, 1, 5, 100);
	kt_test_event(&f->a, KT_EV_RING_CLOSE, 1, 0, 0, 0);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_int_equal(f->m.nrows, 2);
	kt_agg_interval_reset(&f->a);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_int_equal(f->m.nrows, 1);
	assert_non_null(row_named(&f->m, "work.0"));
}

static void test_detail_copies_histograms(void **state)
{
	struct fixture *f = *state;

	traffic(&f->a, 0, 1, 21, 300);
	traffic(&f->a, 1, 1, 5, 100);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	kt_top_model_set_detail(&f->m, row_named(&f->m, "work.0"));
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_true(f->m.detail_ok);
	assert_int_equal(kt_hist_count(&f->m.detail_iv[KT_TOP_H_SEND]), 21);
	assert_int_equal(kt_hist_count(&f->m.detail_iv[KT_TOP_H_SOJ]), 21);
	/* a quiet interval: nothing in it, the totals since attach kept */
	kt_agg_interval_reset(&f->a);
	kt_test_event(&f->a, KT_EV_SEND, 0, 22, 300, 0);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_int_equal(kt_hist_count(&f->m.detail_iv[KT_TOP_H_SEND]), 1);
	assert_int_equal(kt_hist_count(&f->m.detail_iv[KT_TOP_H_RECV]), 0);
	assert_int_equal(kt_hist_count(&f->m.detail_all[KT_TOP_H_SEND]), 22);
	assert_int_equal(kt_hist_count(&f->m.detail_all[KT_TOP_H_RECV]), 21);
	/* the detail follows its ring, not a position: re-sorting does not change it */
	kt_top_model_set_sort(&f->m, KT_TOP_SORT_NAME, true);
	assert_string_equal(kt_top_model_detail_row(&f->m)->name, "work.0");
	kt_top_model_set_sort(&f->m, KT_TOP_SORT_NAME, false);
	assert_string_equal(kt_top_model_detail_row(&f->m)->name, "work.0");
	kt_top_model_set_detail(&f->m, NULL);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	assert_false(f->m.detail_ok);
	assert_null(kt_top_model_detail_row(&f->m));
}

static void test_spark_scaling(void **state)
{
	struct kt_top_row r = {0};
	uint8_t lv[8];
	static const uint8_t want[6] = {0, 0, 0, 4, 8, 2};

	(void)state;
	r.spark[0] = 0;
	r.spark[1] = 50;
	r.spark[2] = 100;
	r.spark[3] = 25;
	r.nspark = 4;
	/* right-aligned: the newest interval is the last cell; the peak is full height */
	assert_int_equal(kt_top_spark_levels(&r, 6, lv), 6);
	assert_memory_equal(lv, want, 6);
	/* narrower than the history: only the newest intervals, scaled among themselves */
	kt_top_spark_levels(&r, 2, lv);
	assert_int_equal(lv[0], 8);
	assert_int_equal(lv[1], 2);
	/* a tiny value beside a huge one still shows */
	r.spark[0] = 1;
	r.spark[1] = 1000000;
	r.nspark = 2;
	kt_top_spark_levels(&r, 2, lv);
	assert_int_equal(lv[0], 1);
	assert_int_equal(lv[1], 8);
	/* absurd values do not overflow */
	r.spark[0] = UINT64_MAX / 2;
	r.spark[1] = UINT64_MAX;
	kt_top_spark_levels(&r, 2, lv);
	assert_true(lv[0] >= 3 && lv[0] <= 5);
	assert_int_equal(lv[1], 8);
}

static bool has_col(const enum kt_top_col *cs, int n, enum kt_top_col c)
{
	for (int i = 0; i < n; i++)
		if (cs[i] == c)
			return true;
	return false;
}

static int line_width(const enum kt_top_col *cs, int n, int spark_w)
{
	int w = 0;

	for (int i = 0; i < n; i++)
		w += (i ? 1 : 0) + (cs[i] == KT_TOP_COL_SPARK ? spark_w : kt_top_col_width(cs[i]));
	return w;
}

static void test_columns_for_width(void **state)
{
	enum kt_top_col cs[KT_TOP_COL_NR];
	int sw, n;

	(void)state;
	/* 80x24: names, rates, class, the p99s, pid, backpressure and a sparkline */
	n = kt_top_columns(80, cs, &sw);
	assert_true(has_col(cs, n, KT_TOP_COL_NAME) && has_col(cs, n, KT_TOP_COL_RATE));
	assert_true(has_col(cs, n, KT_TOP_COL_SEND99) && has_col(cs, n, KT_TOP_COL_RECV99));
	assert_true(has_col(cs, n, KT_TOP_COL_SOJ99) && has_col(cs, n, KT_TOP_COL_BP));
	assert_true(has_col(cs, n, KT_TOP_COL_CLASS) && has_col(cs, n, KT_TOP_COL_SPARK));
	assert_false(has_col(cs, n, KT_TOP_COL_SEND50));
	assert_true(sw >= 10);
	assert_true(line_width(cs, n, sw) <= 80);
	/* display order is fixed whatever the priority */
	for (int i = 1; i < n; i++)
		assert_true(cs[i - 1] < cs[i]);
	/* wide: everything, the sparkline capped at its history */
	n = kt_top_columns(300, cs, &sw);
	assert_int_equal(n, KT_TOP_COL_NR);
	assert_int_equal(sw, KT_TOP_SPARK);
	/* narrow: the most useful few, never wider than the screen */
	n = kt_top_columns(30, cs, &sw);
	assert_int_equal(n, 3);
	assert_true(has_col(cs, n, KT_TOP_COL_NAME) && has_col(cs, n, KT_TOP_COL_CLASS));
	assert_int_equal(sw, 0);
	assert_int_equal(kt_top_columns(3, cs, &sw), 0);
	for (int w = 0; w < 200; w++) {
		n = kt_top_columns(w, cs, &sw);
		assert_true(line_width(cs, n, sw) <= w);
	}
}

static void test_cells(void **state)
{
	struct kt_top_row r = {.kind = KT_TOP_RING, .pid = 42, .rate = 123456, .sev = KT_SEV_WARN};
	char b[64];

	(void)state;
	snprintf(r.name, sizeof(r.name), "a-very-long-ring-name-indeed");
	r.send[KT_TOP_P99] = 1250;
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_RATE, b, sizeof(b)), "123k");
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_SEND99, b, sizeof(b)), "1.25us");
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_RECV99, b, sizeof(b)), "-");
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_CLASS, b, sizeof(b)), "warn");
	assert_int_equal(strlen(kt_top_cell(&r, KT_TOP_COL_NAME, b, sizeof(b))),
			 kt_top_col_width(KT_TOP_COL_NAME));
	r.rate = 1.5e6;
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_RATE, b, sizeof(b)), "1.50M");
	r.kind = KT_TOP_FUNC;
	assert_string_equal(kt_top_cell(&r, KT_TOP_COL_BP, b, sizeof(b)), "-");
}

static void test_plain_block(void **state)
{
	struct fixture *f = *state;
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	traffic(&f->a, 0, 1, 5, 100);
	traffic(&f->a, 2, 1, 5, 100);
	kt_top_model_update(&f->m, &f->a, 1.0, 0, 0);
	kt_top_model_set_filter(&f->m, "compress");
	assert_int_equal(kt_top_plain(fp, &f->m, 80, "12:00:00"), 0);
	fclose(fp);
	assert_non_null(strstr(text, "kaos-trace top 12:00:00 interval 1.00s rows 1"));
	assert_non_null(strstr(text, "RING/FUNC"));
	assert_non_null(strstr(text, "compress.in"));
	assert_null(strstr(text, "work.0"));
	free(text);
}

/* --func: a row per (process, function), its calls per second from the exact counts. */
static void test_func_rows(void **state)
{
	struct fixture *f = *state;
	static const struct kt_func_desc desc[] = {{.name = "busy", .module = "prog"}};
	uint32_t pid = (uint32_t)getpid();
	const struct kt_top_row *r;
	char b[64];

	kt_agg_set_funcs(&f->a, desc, 1);
	traffic(&f->a, 0, 1, 5, 100);
	kt_agg_func_count(&f->a, pid, 0, 4000);
	kt_agg_interval_reset(&f->a);
	kt_agg_func_count(&f->a, pid, 0, 4100);
	assert_int_equal(kt_top_model_update(&f->m, &f->a, 2.0, 0, 0), 0);
	assert_non_null(r = row_named(&f->m, "busy()"));
	assert_int_equal(r->kind, KT_TOP_FUNC);
	assert_int_equal(r->pid, pid);
	assert_true(r->rate > 49.9 && r->rate < 50.1);
	assert_string_equal(kt_top_cell(r, KT_TOP_COL_BP, b, sizeof(b)), "-");
	assert_string_equal(r->comm, f->m.rows[0].comm); /* the process's name, as its rings' */
	kt_top_model_set_filter(&f->m, "BUS");
	assert_int_equal(f->m.nvis, 1);
	assert_string_equal(vis_name(&f->m, 0), "busy()");
}

static void test_alert_line(void **state)
{
	struct fixture *f = *state;
	static const char *const texts[] = {"send.p99 > 1us", "recv.p99 > 1ms"};
	struct kt_rule rules[2];
	struct kt_rule_error re;
	struct kt_alerts *al = kt_alerts_new();
	uint64_t g[KT_WIN_G_NR] = {0};
	struct kt_alert_src src = {
		.agg = &f->a, .global = g, .now = 1000000000ull, .default_win = KT_WIN_ALL};
	FILE *devnull = fopen("/dev/null", "w");
	char line[512];

	for (int i = 0; i < 2; i++)
		assert_int_equal(kt_rule_parse(texts[i], &rules[i], &re), 0);
	assert_int_equal(kt_alerts_set_rules(al, rules, 2), 0);
	kt_alerts_set_output(al, devnull, NULL, 0);
	/* no rules: no line */
	assert_int_equal(kt_top_alert_line(&f->m, line, sizeof(line)), KT_ALERT_OK);
	assert_string_equal(line, "");
	traffic(&f->a, 0, 1, 50, 2000);
	kt_alerts_eval(al, &src);
	kt_top_model_set_alerts(&f->m, al);
	assert_int_equal(f->m.nalerts, 2);
	assert_int_equal(kt_top_alert_line(&f->m, line, sizeof(line)), KT_ALERT_FIRING);
	assert_non_null(strstr(line, "alerts: 1 firing, 0 pending, 1 ok; send.p99 > 1us FIRING ("));
	assert_null(strstr(line, "recv.p99")); /* ok rules are only counted */
	/* a short buffer is cut, never overrun */
	assert_int_equal(kt_top_alert_line(&f->m, line, 12), KT_ALERT_FIRING);
	assert_int_equal(strlen(line), 11);
	kt_top_model_set_alerts(&f->m, NULL);
	assert_int_equal(f->m.nalerts, 0);
	kt_alerts_free(al);
	fclose(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rates_from_interval_deltas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sort_cycles_and_reverses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter_hides_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retired_ring_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detail_copies_histograms, setup, teardown),
		cmocka_unit_test(test_spark_scaling),
		cmocka_unit_test(test_columns_for_width),
		cmocka_unit_test(test_cells),
		cmocka_unit_test_setup_teardown(test_plain_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_func_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alert_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
