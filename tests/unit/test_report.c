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

/*
 * 64 batched operations in 2 kaos:batch fires and 1 per-op hit: the cost is
 * 2 traps + 64 records + 1 hit (issue 16), not 65 hits; the text says how
 * many were batched, the JSON gives the counts, the prices and cost_ns.
 */
static void test_batched_cost(void **state)
{
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 65,
				     .delivered = 65,
				     .elapsed_s = 1,
				     .hit_ns = 5000,
				     .batch_trap_ns = 6000,
				     .batch_record_ns = 250,
				     .final = true};
	struct kt_event e = {0};
	char *s;

	(void)state;
	kt_agg_init(&a, 0);
	a.lookup = &kt_test_lookup;
	e.pid = e.tid = (uint32_t)getpid();
	e.ring_id = 1;
	e.n = 1;
	e.name_ptr = (uint64_t)(uintptr_t)kt_test_names[0];
	for (uint32_t i = 0; i < 64; i++) {
		e.type = i % 2 ? KT_EV_RECV : KT_EV_SEND;
		e.count = i / 2 + 1;
		e.flags = KT_EVF_BATCHED | (i % 32 == 0 ? KT_EVF_TRAP : 0);
		kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE);
	}
	e.type = KT_EV_SEND; /* a per-op hit: an older libkaos' site */
	e.count = 33;
	e.flags = 0;
	kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE);
	assert_int_equal(a.procs->batched, 64);
	assert_int_equal(a.procs->traps, 2);

	s = report(&a, &t, false, false);
	has(s, "probe hit 5.00us, batched 250ns an op + 6.00us a trap");
	/* 2 * 6000 + 64 * 250 + 5000 = 33,000 ns of 1 s */
	has(s, ": 65 probe hits (64 batched, 2 traps), tracing cost 0.003% of 1.00 s");
	free(s);
	s = report(&a, &t, true, false);
	has(s, "\"batch_trap_ns\":6000,\"batch_record_ns\":250,");
	has(s, "\"probe_hits\":65,\"batched\":64,\"batch_traps\":2,\"cost_ns\":33000,");
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
		cmocka_unit_test(test_batched_cost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
