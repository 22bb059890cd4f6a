/* SPDX-License-Identifier: MIT */
/*
 * kt_report over intervals: each line says which figures it holds (an
 * interval's or the totals), carries the totals beside an interval's, and
 * leaves retired rings and gone processes out of the intervals after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_report.h"
#include "kt_test_events.h"

static char *report(const struct kt_agg *a, const struct kt_report_totals *t, bool json,
		    bool interval)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		kt_report_json(f, a, t, interval);
	else
		kt_report_text(f, a, t, false, interval);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void has(const char *s, const char *needle)
{
	if (!strstr(s, needle))
		fail_msg("missing %s in:\n%s", needle, s);
}

static void lacks(const char *s, const char *needle)
{
	if (strstr(s, needle))
		fail_msg("unexpected %s in:\n%s", needle, s);
}

/* Two intervals of counters: the second line's figures are its own, the totals beside them. */
static void test_interval_and_total_figures(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 10, .delivered = 10, .elapsed_s = 1, .interval_s = 1};
	char *s;

	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 10, 100, 0); /* started after attach: counts from 0 */
	kt_test_event(&a, KT_EV_SEND, 0, 40, 100, 0); /* 40 in the first interval */
	kt_agg_interval_reset(&a);
	kt_test_event(&a, KT_EV_SEND, 0, 45, 100, 0); /* 5 in the second */
	t.fired_iv0 = 10;
	t.delivered_iv0 = 10;
	t.fired = 13;
	t.delivered = 13;
	t.elapsed_s = 2;

	s = report(&a, &t, true, true);
	has(s, "{\"type\":\"interval\",\"schema\":2,\"span\":\"interval\",");
	has(s, "\"total\":{\"fired\":13,\"delivered\":13,\"lost\":0},"
	       "\"interval\":{\"fired\":3,\"delivered\":3,\"lost\":0}");
	has(s, "\"probe_hits\":1,\"probe_hits_total\":3,");
	has(s, "\"send\":{\"ops\":5,\"ops_rate\":5,\"ops_total\":45,");
	free(s);

	s = report(&a, &t, true, false);
	has(s, "{\"type\":\"final\",\"schema\":2,\"span\":\"total\",");
	has(s, "\"total\":{\"fired\":13,\"delivered\":13,\"lost\":0}");
	lacks(s, "\"interval\":{");
	lacks(s, "_total\"");
	has(s, "\"probe_hits\":3,");
	has(s, "\"send\":{\"ops\":45,");
	free(s);

	s = report(&a, &t, false, true);
	has(s, "-- interval 1.00 s, to 2.00 s after attach (figures: this interval): events 3 "
	       "delivered, 0 lost (fired 3); since attach 13 delivered, 0 lost (fired 13); probe "
	       "hit not measured\n");
	has(s, ": 1 probe hits,");
	free(s);
	s = report(&a, &t, false, false);
	has(s, "== kaos-trace summary, 2.00 s (figures: totals since attach): events 13 "
	       "delivered, 0 lost (fired 13); probe hit not measured\n");
	has(s, ": 3 probe hits,");
	free(s);
	kt_agg_free(&a);
}

/*
 * A ring closed in an interval is reported in it, and then no more: it is
 * retired. An open ring with nothing in an interval stays, with 0. The
 * final report has both.
 */
static void test_retired_ring_leaves_intervals(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 4, .delivered = 4, .elapsed_s = 1, .interval_s = 1};
	char *s;

	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 1, 100, 0);	 /* work.0: stays open */
	kt_test_event(&a, KT_EV_SEND, 2, 1, 100, 0);	 /* compress.in: */
	kt_test_event(&a, KT_EV_SEND, 2, 2, 100, 0);	 /* two sends, */
	kt_test_event(&a, KT_EV_RING_CLOSE, 2, 2, 0, 0); /* then closed */
	s = report(&a, &t, true, true);
	has(s, "\"name\":\"compress.in\"");
	free(s);
	s = report(&a, &t, false, true);
	has(s, "compress.in");
	free(s);

	kt_agg_interval_reset(&a);
	t.elapsed_s = 2;
	s = report(&a, &t, true, true);
	lacks(s, "compress.in");
	has(s, "\"name\":\"work.0\",\"send\":{\"ops\":0,");
	free(s);
	s = report(&a, &t, false, true);
	lacks(s, "compress.in");
	has(s, "work.0");
	free(s);

	/* the totals keep it */
	s = report(&a, &t, true, false);
	has(s, "\"name\":\"compress.in\",\"send\":{\"ops\":2,");
	free(s);
	s = report(&a, &t, false, false);
	has(s, "compress.in");
	free(s);
	kt_agg_free(&a);
}

/* A process gone before an interval and quiet since leaves it too; the totals keep it. */
static void test_gone_process_leaves_intervals(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 1, .delivered = 1, .elapsed_s = 1, .interval_s = 1};
	char pid[32], *s;

	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 1, 100, 0);
	snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)getpid());
	a.procs->exited = true; /* in this interval: still shown */
	s = report(&a, &t, true, true);
	has(s, pid);
	free(s);
	kt_agg_interval_reset(&a);
	s = report(&a, &t, true, true);
	lacks(s, pid);
	has(s, "\"processes\":[]");
	free(s);
	s = report(&a, &t, false, true);
	lacks(s, "probe hits");
	free(s);
	s = report(&a, &t, true, false);
	has(s, pid);
	free(s);
	kt_agg_free(&a);
}

/* A --func function's calls in an interval line: the interval's, and the total beside. */
static void test_func_calls_total(void **state)
{
	(void)state;
	static const struct kt_func_desc desc[] = {{.name = "busy", .module = "prog"}};
	struct kt_agg a;
	struct kt_report_totals t = {.elapsed_s = 2, .interval_s = 1};
	uint32_t pid = (uint32_t)getpid();
	char *s;

	kt_agg_init(&a, 0);
	kt_agg_set_funcs(&a, desc, 1);
	kt_agg_func_count(&a, pid, 0, 4000);
	kt_agg_interval_reset(&a);
	kt_agg_func_count(&a, pid, 0, 4100);
	s = report(&a, &t, true, true);
	has(s, "\"calls\":100,\"calls_rate\":100,\"calls_total\":4100,");
	free(s);
	s = report(&a, &t, true, false);
	has(s, "\"calls\":4100,");
	lacks(s, "calls_total");
	free(s);
	kt_agg_free(&a);
}

/* Retransmits by the probe's reason (arg4: 1 timeout, 2 fast), in the text and the JSON, with the
 * class. */
static void test_retransmit_reasons(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 10, .delivered = 10, .elapsed_s = 1, .interval_s = 1};
	char *s;

	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 10, 100, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 110, 100, 0); /* 100 sends */
	kt_test_event(&a, KT_EV_RETRANSMIT, 0, 1, 1, 5);
	kt_test_event(&a, KT_EV_RETRANSMIT, 0, 2, 2, 6);
	kt_test_event(&a, KT_EV_RETRANSMIT, 0, 3, 2, 7);
	kt_agg_interval_reset(&a);
	kt_test_event(&a, KT_EV_RETRANSMIT, 0, 4, 2, 8);

	s = report(&a, &t, true, false);
	has(s, "\"class\":\"high\",\"reasons\":{\"timeout\":1,\"fast\":3,\"unspecified\":0}");
	free(s);
	s = report(&a, &t, true, true); /* the interval: one fast */
	has(s, "\"reasons\":{\"timeout\":0,\"fast\":1,\"unspecified\":0}");
	free(s);
	s = report(&a, &t, false, false);
	has(s, "high (timeout 1, fast 3; 3.64 % of msgs sent)"); /* 4 of 110 sends */
	free(s);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_and_total_figures),
		cmocka_unit_test(test_retired_ring_leaves_intervals),
		cmocka_unit_test(test_gone_process_leaves_intervals),
		cmocka_unit_test(test_func_calls_total),
		cmocka_unit_test(test_retransmit_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
