/* SPDX-License-Identifier: MIT */
/* kt_prom: exact exposition lines for counters, cumulative buckets, summaries, alerts. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_prom.h"
#include "kt_test_events.h"

#define S  1000000000ull
#define T0 (1000 * S)

static char *expose(const struct kt_prom_src *src, bool om)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(kt_prom_write(f, src, om), 0);
	fclose(f);
	return buf;
}

/* The line starting with prefix must be exactly want. */
static void expect_line(const char *text, const char *prefix, const char *want)
{
	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);

		if (!strncmp(l, prefix, strlen(prefix))) {
			if (strlen(want) != n || strncmp(l, want, n))
				fail_msg("line '%.*s', want '%s'", (int)n, l, want);
			return;
		}
		l += n + (e ? 1 : 0);
	}
	fail_msg("no line starting with '%s'", prefix);
}

static void test_buckets(void **state)
{
	(void)state;
	struct kt_hist h;
	uint64_t b[KT_PROM_NBUCKETS + 1];

	kt_hist_init(&h);
	kt_hist_record_n(&h, 20, 3);	  /* exact: <= 25 ns */
	kt_hist_record_n(&h, 25, 1);	  /* exact boundary: le is inclusive */
	kt_hist_record_n(&h, 1000, 2);	  /* 1 us (bucket midpoint 999) */
	kt_hist_record_n(&h, 3000000, 1); /* 3 ms */
	kt_hist_record_n(&h, 200 * S, 1); /* above the histogram: +Inf only */
	kt_prom_buckets(&h, b);
	assert_int_equal(b[0], 4);  /* 25 ns */
	assert_int_equal(b[4], 4);  /* 500 ns */
	assert_int_equal(b[5], 6);  /* 1 us */
	assert_int_equal(b[15], 6); /* 2.5 ms */
	assert_int_equal(b[16], 7); /* 5 ms */
	assert_int_equal(b[KT_PROM_NBUCKETS - 1], 7);
	assert_int_equal(b[KT_PROM_NBUCKETS], 8);
	for (int i = 1; i <= KT_PROM_NBUCKETS; i++)
		assert_true(b[i] >= b[i - 1]); /* cumulative */
}

static void test_exposition(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_windows *w = kt_windows_new(T0);
	struct kt_alerts *al = kt_alerts_new();
	struct kt_report_totals tot = {
		.fired = 10, .delivered = 9, .lost = 1, .filtered = 2, .hit_ns = 1500};
	uint64_t lens[] = {10 * S}, g[KT_WIN_G_NR] = {0};
	struct kt_rule r[2];
	struct kt_rule_error re;
	char want[512];
	int pid = getpid();

	kt_agg_init(&a, 0);
	snprintf(kt_test_names[3], KT_NAME_LEN, "we\"ird\\ring");
	assert_int_equal(kt_windows_set(w, lens, 1), 0);
	kt_windows_tick(w, &a, g, T0);
	kt_test_event(&a, KT_EV_SEND, 3, 5, 100, 0);
	kt_test_event(&a, KT_EV_SEND, 3, 6, 3000, 0);
	kt_test_event(&a, KT_EV_RECV, 3, 6, 50, 2000000);
	kt_test_event(&a, KT_EV_BACKPRESSURE, 3, 1, 0, 6);
	assert_int_equal(kt_rule_parse("ring=we* send.count > 1", &r[0], &re), 0);
	assert_int_equal(kt_rule_parse("ring=wierd* send.count > 1", &r[1], &re), 0); /* a typo */
	assert_int_equal(kt_alerts_set_rules(al, r, 2), 0);
	FILE *devnull = fopen("/dev/null", "w");

	kt_alerts_set_output(al, devnull, NULL, 0);
	struct kt_alert_src as = {
		.agg = &a, .win = w, .global = g, .now = T0 + S, .default_win = 0};

	assert_int_equal(kt_alerts_eval(al, &as), 1);

	struct kt_prom_src src = {.agg = &a,
				  .tot = &tot,
				  .win = w,
				  .now = T0 + S,
				  .alerts = al,
				  .links = 5,
				  .reloads = 2,
				  .reload_failures = 1};
	char *t = expose(&src, false);
	char labels[256];

	snprintf(labels, sizeof(labels), "pid=\"%d\",process=\"%s\",ring=\"we\\\"ird\\\\ring\"",
		 pid, a.procs->comm);
	expect_line(t, "# TYPE kaos_trace_events_lost_total",
		    "# TYPE kaos_trace_events_lost_total counter");
	expect_line(t, "kaos_trace_events_lost_total ", "kaos_trace_events_lost_total 1");
	expect_line(t, "kaos_trace_probe_fired_total ", "kaos_trace_probe_fired_total 10");
	/* an event was lost: the counts are lower bounds, and nothing says "exact" alone */
	expect_line(t, "kaos_trace_counts_exact ", "kaos_trace_counts_exact 0");
	expect_line(t, "# TYPE kaos_trace_counts_exact", "# TYPE kaos_trace_counts_exact gauge");
	expect_line(t, "# HELP kaos_ring_messages_total",
		    "# HELP kaos_ring_messages_total Messages sent/received per ring, from the "
		    "probes' cumulative counters: exact while kaos_trace_counts_exact is 1, else "
		    "lower bounds.");
	assert_null(strstr(t, "counts stay exact"));
	assert_null(strstr(t, "(exact)"));
	expect_line(t, "kaos_trace_probe_hit_seconds ", "kaos_trace_probe_hit_seconds 1.5e-06");
	/* 4 per-op hits at 1.5 us (batched operations: kt_price_cost_ns, test_control) */
	snprintf(want, sizeof(want),
		 "kaos_trace_process_tracing_cost_seconds_total{pid=\"%d\",process=\"%s\"} 6e-06",
		 pid, a.procs->comm);
	expect_line(t, "kaos_trace_process_tracing_cost_seconds_total{", want);
	expect_line(t, "kaos_trace_links ", "kaos_trace_links 5");
	expect_line(t, "kaos_trace_config_reload_failures_total ",
		    "kaos_trace_config_reload_failures_total 1");
	/* counts: 6 sends and 6 receives although only 2 and 1 events came (counters are exact) */
	snprintf(want, sizeof(want), "kaos_ring_messages_total{%s,op=\"send\"} 6", labels);
	expect_line(t, "kaos_ring_messages_total{pid", want);
	snprintf(want, sizeof(want), "kaos_ring_backpressure_episodes_total{%s} 1", labels);
	expect_line(t, "kaos_ring_backpressure_episodes_total{", want);
	snprintf(want, sizeof(want),
		 "kaos_ring_operation_duration_seconds_bucket{%s,op=\"send\",le=\"1e-07\"} 1",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_operation_duration_seconds_bucket{%s,op=\"send\",le=\"2.5e-06\"} 1",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_operation_duration_seconds_bucket{%s,op=\"send\",le=\"5e-06\"} 2",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_operation_duration_seconds_bucket{%s,op=\"send\",le=\"+Inf\"} 2",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_operation_duration_seconds_sum{%s,op=\"send\"} 3.1e-06", labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "kaos_ring_operation_duration_seconds_count{%s,op=\"recv\"} 1",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "kaos_ring_sojourn_seconds_count{%s} 1", labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_sojourn_window_seconds{%s,window=\"10s\",quantile=\"0.99\"} 0.002",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_backpressure_wait_window_seconds{%s,window=\"10s\",quantile=\"0.5\"} 0",
		 labels);
	assert_non_null(strstr(t, want));
	expect_line(t, "# TYPE kaos_ring_sojourn_window_seconds",
		    "# TYPE kaos_ring_sojourn_window_seconds summary");
	expect_line(t, "kaos_trace_alert_firing{",
		    "kaos_trace_alert_firing{rule=\"ring=we* send.count > 1\"} 1");
	expect_line(t, "kaos_trace_alert_value{",
		    "kaos_trace_alert_value{rule=\"ring=we* send.count > 1\"} 6");
	expect_line(t, "kaos_trace_alert_unmatched{rule=\"ring=we*",
		    "kaos_trace_alert_unmatched{rule=\"ring=we* send.count > 1\"} 0");
	expect_line(t, "kaos_trace_alert_unmatched{rule=\"ring=wierd*",
		    "kaos_trace_alert_unmatched{rule=\"ring=wierd* send.count > 1\"} 1");
	expect_line(t, "kaos_trace_alert_transitions_total{transition=\"fired\"}",
		    "kaos_trace_alert_transitions_total{transition=\"fired\"} 1");
	assert_null(strstr(t, "# EOF"));
	/* every family is announced once, before its samples */
	assert_int_equal(strstr(t, "# TYPE kaos_ring_operation_duration_seconds histogram") <
				 strstr(t, "kaos_ring_operation_duration_seconds_bucket"),
			 1);
	const char *second = strstr(t, "# TYPE kaos_ring_operation_duration_seconds histogram") + 1;
	assert_null(strstr(second, "# TYPE kaos_ring_operation_duration_seconds histogram"));
	free(t);

	/* OpenMetrics: counters named without _total in TYPE, # EOF at the end */
	t = expose(&src, true);
	expect_line(t, "# TYPE kaos_trace_events_lost", "# TYPE kaos_trace_events_lost counter");
	expect_line(t, "kaos_trace_events_lost_total ", "kaos_trace_events_lost_total 1");
	size_t len = strlen(t);
	assert_string_equal(t + len - 6, "# EOF\n");
	free(t);

	/* nothing lost: exact */
	tot.lost = 0;
	t = expose(&src, false);
	expect_line(t, "kaos_trace_counts_exact ", "kaos_trace_counts_exact 1");
	free(t);
	tot.lost = 1;

	/* empty window: NaN quantiles; no alerts: no alert families */
	src.alerts = NULL;
	src.now = T0 + 30 * S;
	for (uint64_t k = 2; k <= 30; k++)
		kt_windows_tick(w, &a, g, T0 + k * S);
	t = expose(&src, false);
	snprintf(want, sizeof(want),
		 "kaos_ring_sojourn_window_seconds{%s,window=\"10s\",quantile=\"0.5\"} NaN",
		 labels);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "kaos_ring_sojourn_window_seconds_count{%s,window=\"10s\"} 0",
		 labels);
	assert_non_null(strstr(t, want));
	assert_null(strstr(t, "kaos_trace_alert"));
	free(t);

	kt_alerts_free(al);
	fclose(devnull);
	kt_windows_free(w);
	kt_agg_free(&a);
}

/* Off-CPU families: exact seconds, escaped labels, drop reasons; absent without stats. */
static void test_offcpu(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals tot = {0};
	struct kt_offcpu_thread th[2] = {
		{.tgid = 42, .tid = 43, .ns = 3000000001ull, .blocks = 7},
		{.tgid = 42, .tid = 42, .ns = 999, .blocks = 1},
	};
	struct kt_offcpu_stats st = {.short_blocks = 5,
				     .stack_err = 2,
				     .start_lost = 3,
				     .lost = 4,
				     .lost_ns = 1500000000};
	struct kt_prom_src src = {.agg = &a, .tot = &tot};
	char *t;

	kt_agg_init(&a, 0);
	snprintf(th[0].comm, sizeof(th[0].comm), "con\"sumer");
	snprintf(th[0].pcomm, sizeof(th[0].pcomm), "prog");
	snprintf(th[1].comm, sizeof(th[1].comm), "prog");
	snprintf(th[1].pcomm, sizeof(th[1].pcomm), "prog");
	t = expose(&src, false);
	assert_null(strstr(t, "kaos_offcpu"));
	free(t);

	src.offcpu_threads = th;
	src.noffcpu_threads = 2;
	src.offcpu_stats = &st;
	src.offcpu_min_block_ns = 2000;
	t = expose(&src, false);
	expect_line(t, "# TYPE kaos_offcpu_seconds_total",
		    "# TYPE kaos_offcpu_seconds_total counter");
	expect_line(t, "kaos_offcpu_seconds_total{pid=\"42\",process=\"prog\",tid=\"43\"",
		    "kaos_offcpu_seconds_total{pid=\"42\",process=\"prog\",tid=\"43\","
		    "thread=\"con\\\"sumer\"} 3.000000001");
	expect_line(t, "kaos_offcpu_seconds_total{pid=\"42\",process=\"prog\",tid=\"42\"",
		    "kaos_offcpu_seconds_total{pid=\"42\",process=\"prog\",tid=\"42\","
		    "thread=\"prog\"} 0.000000999");
	expect_line(t, "kaos_offcpu_blocks_total{pid=\"42\",process=\"prog\",tid=\"43\"",
		    "kaos_offcpu_blocks_total{pid=\"42\",process=\"prog\",tid=\"43\","
		    "thread=\"con\\\"sumer\"} 7");
	expect_line(t, "kaos_offcpu_dropped_total{reason=\"count_map_full\"}",
		    "kaos_offcpu_dropped_total{reason=\"count_map_full\"} 4");
	expect_line(t, "kaos_offcpu_dropped_total{reason=\"start_map_full\"}",
		    "kaos_offcpu_dropped_total{reason=\"start_map_full\"} 3");
	expect_line(t, "kaos_offcpu_dropped_seconds_total ",
		    "kaos_offcpu_dropped_seconds_total 1.500000000");
	expect_line(t, "kaos_offcpu_short_blocks_total ", "kaos_offcpu_short_blocks_total 5");
	expect_line(t, "kaos_offcpu_no_stack_blocks_total ", "kaos_offcpu_no_stack_blocks_total 2");
	expect_line(t, "kaos_offcpu_min_block_seconds ", "kaos_offcpu_min_block_seconds 2e-06");
	free(t);
	t = expose(&src, true);
	expect_line(t, "# TYPE kaos_offcpu_blocks", "# TYPE kaos_offcpu_blocks counter");
	free(t);
	kt_agg_free(&a);
}

/* --alloc: the untracked-process counter and the exactness gauge, present with the stats only. */
static void test_alloc_untracked(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals tot = {0};
	struct kt_alloc_stats st = {0};
	struct kt_prom_src src = {.agg = &a, .tot = &tot};
	char *t;

	kt_agg_init(&a, 0);
	t = expose(&src, false);
	assert_null(strstr(t, "kaos_trace_alloc"));
	free(t);
	src.alloc_stats = &st;
	t = expose(&src, false);
	expect_line(t, "kaos_trace_alloc_processes_untracked_total ",
		    "kaos_trace_alloc_processes_untracked_total 0");
	expect_line(t, "kaos_trace_alloc_counts_exact ", "kaos_trace_alloc_counts_exact 1");
	free(t);
	st.procs_untracked = 3;
	t = expose(&src, true);
	expect_line(t, "# TYPE kaos_trace_alloc_processes_untracked ",
		    "# TYPE kaos_trace_alloc_processes_untracked counter");
	expect_line(t, "kaos_trace_alloc_processes_untracked_total ",
		    "kaos_trace_alloc_processes_untracked_total 3");
	expect_line(t, "kaos_trace_alloc_counts_exact ", "kaos_trace_alloc_counts_exact 0");
	free(t);
	kt_agg_free(&a);
}

struct retired {
	struct kt_agg *a;
	uint32_t ids[8];
	int n;
};

static void retire_ring(void *ctx, uint32_t pid, uint32_t exec_gen, uint32_t ring_id)
{
	struct retired *rt = ctx;

	rt->ids[rt->n++] = ring_id;
	kt_agg_forget_ring(rt->a, pid, exec_gen, ring_id);
}

/* Lines of t that start with prefix. */
static int count_lines(const char *t, const char *prefix)
{
	int n = 0;

	for (const char *l = t; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

/*
 * The ring series are bounded: labels by name (ring_id only where two rings
 * of a process share one), at most max_rings rings with their own series,
 * the rest folded into one overflow set and counted, closed rings retired
 * after the grace period with the overflow's counters still monotonic.
 */
static void test_ring_bounds(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals tot = {0};
	struct kt_prom_rings *pr = kt_prom_rings_new(2);
	struct retired rt = {.a = &a};
	char saved[KT_NAME_LEN], want[256];
	int pid = getpid();

	assert_non_null(pr);
	kt_agg_init(&a, 0);
	memcpy(saved, kt_test_names[1], KT_NAME_LEN);
	snprintf(kt_test_names[1], KT_NAME_LEN, "work.0"); /* rings 1 and 2 share a name */
	kt_test_event(&a, KT_EV_SEND, 0, 10, 100, 0);	   /* ring_id 1: admitted */
	kt_test_event(&a, KT_EV_SEND, 1, 20, 100, 0);	   /* ring_id 2: admitted */
	kt_test_event(&a, KT_EV_SEND, 2, 30, 100, 0);	   /* ring_id 3: folded */
	kt_test_event(&a, KT_EV_SEND, 3, 40, 100, 0);	   /* ring_id 4: folded */
	memcpy(kt_test_names[1], saved, KT_NAME_LEN);
	assert_int_equal(kt_prom_rings_update(pr, &a, T0, 60 * S, retire_ring, &rt), 0);
	assert_int_equal(kt_prom_rings_admitted(pr), 2);
	assert_int_equal(kt_prom_rings_folded(pr), 2);

	struct kt_prom_src src = {.agg = &a, .tot = &tot, .rings = pr};
	char *t = expose(&src, false);

	snprintf(want, sizeof(want),
		 "kaos_ring_messages_total{pid=\"%d\",process=\"%s\",ring=\"work.0\",ring_id=\"1\","
		 "op=\"send\"} 10",
		 pid, a.procs->comm);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want),
		 "kaos_ring_messages_total{pid=\"%d\",process=\"%s\",ring=\"work.0\",ring_id=\"2\","
		 "op=\"send\"} 20",
		 pid, a.procs->comm);
	assert_non_null(strstr(t, want));
	expect_line(t, "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"}",
		    "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"} 70");
	expect_line(t, "kaos_ring_series ", "kaos_ring_series 2");
	expect_line(t, "kaos_ring_series_max ", "kaos_ring_series_max 2");
	expect_line(t, "kaos_ring_series_folded_total ", "kaos_ring_series_folded_total 2");
	/* the two rings' send durations, the overflow's send and recv (it has every series) */
	assert_int_equal(count_lines(t, "kaos_ring_operation_duration_seconds_count{"), 4);
	assert_null(strstr(t, "ring=\"compress.in\""));
	free(t);

	/* ring 3 (folded) and ring 1 (admitted) close: retired one grace period later */
	kt_test_event(&a, KT_EV_RING_CLOSE, 2, 31, 0, 0);
	kt_test_event(&a, KT_EV_RING_CLOSE, 0, 10, 0, 0);
	assert_int_equal(kt_prom_rings_update(pr, &a, T0 + S, 60 * S, retire_ring, &rt), 0);
	assert_int_equal(kt_prom_rings_update(pr, &a, T0 + 60 * S, 60 * S, retire_ring, &rt), 0);
	assert_int_equal(kt_prom_rings_update(pr, &a, T0 + 61 * S, 60 * S, retire_ring, &rt), 2);
	assert_int_equal(rt.n, 2);
	assert_int_equal(kt_prom_rings_retired(pr), 2);
	assert_int_equal(kt_prom_rings_admitted(pr), 1);
	/* a new ring takes the free place; the overflow keeps the retired ring's 31 */
	kt_test_event(&a, KT_EV_SEND, 0, 5, 100, 0); /* ring_id 1 again: a new instance */
	assert_int_equal(kt_prom_rings_update(pr, &a, T0 + 62 * S, 60 * S, retire_ring, &rt), 0);
	assert_int_equal(kt_prom_rings_admitted(pr), 2);
	t = expose(&src, false);
	expect_line(t, "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"}",
		    "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"} 71");
	expect_line(t, "kaos_ring_series_retired_total ", "kaos_ring_series_retired_total 2");
	/* the new ring 1 and ring 2 still share "work.0": told apart by ring_id */
	snprintf(want, sizeof(want),
		 "kaos_ring_messages_total{pid=\"%d\",process=\"%s\",ring=\"work.0\",ring_id=\"1\","
		 "op=\"send\"} 5",
		 pid, a.procs->comm);
	assert_non_null(strstr(t, want));
	/* a name of its own: no ring_id */
	kt_agg_forget_ring(&a, (uint32_t)pid, 0, 2);
	kt_prom_rings_update(pr, &a, T0 + 62 * S, 60 * S, retire_ring, &rt);
	free(t);
	t = expose(&src, false);
	snprintf(
		want, sizeof(want),
		"kaos_ring_messages_total{pid=\"%d\",process=\"%s\",ring=\"work.0\",op=\"send\"} 5",
		pid, a.procs->comm);
	assert_non_null(strstr(t, want));
	free(t);

	/* the process goes: the overflow still has what its folded ring counted */
	kt_prom_rings_forget_pid(pr, &a, (uint32_t)pid);
	kt_agg_forget_proc(&a, (uint32_t)pid);
	t = expose(&src, false);
	expect_line(t, "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"}",
		    "kaos_ring_messages_total{ring=\"_overflow\",op=\"send\"} 71");
	expect_line(t, "kaos_ring_series ", "kaos_ring_series 0");
	free(t);
	kt_prom_rings_free(pr);
	kt_agg_free(&a);
}

/*
 * A process that exec'd: its new image's rings, with the same ids and names,
 * are series of their own with exec="1", each with its exact count; the
 * first image's series keep their labels, and it no longer runs.
 */
static void test_exec_images(void **state)
{
	struct kt_report_totals tot = {.hit_ns = 1500};
	struct kt_prom_src src = {.tot = &tot};
	struct kt_event e = {.type = KT_EV_EXEC, .pid = (uint32_t)getpid(), .flags = KT_EVF_NAME};
	struct kt_agg a;
	char want[256];
	int pid = getpid();

	(void)state;
	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 70, 100, 0);
	snprintf(e.name, sizeof(e.name), "img2");
	kt_agg_add(&a, &e, sizeof(e));
	kt_test_event(&a, KT_EV_SEND, 0, 3, 100, 0);
	src.agg = &a;
	char *t = expose(&src, false);

	snprintf(want, sizeof(want),
		 "kaos_ring_messages_total{pid=\"%d\",process=\"%s\",ring=\"work.0\",op=\"send\"} "
		 "70",
		 pid, kt_agg_proc(&a, (uint32_t)pid)->next->comm);
	expect_line(t, want, want);
	snprintf(want, sizeof(want),
		 "kaos_ring_messages_total{pid=\"%d\",process=\"img2\",exec=\"1\",ring=\"work.0\","
		 "op=\"send\"} 3",
		 pid);
	expect_line(t, want, want);
	snprintf(want, sizeof(want),
		 "kaos_trace_process_running{pid=\"%d\",process=\"img2\",exec=\"1\"} 1", pid);
	expect_line(t, want, want);
	snprintf(want, sizeof(want), "kaos_trace_process_running{pid=\"%d\",process=\"%s\"} 0", pid,
		 kt_agg_proc(&a, (uint32_t)pid)->next->comm);
	expect_line(t, want, want);
	free(t);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),	    cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_offcpu),	    cmocka_unit_test(test_alloc_untracked),
		cmocka_unit_test(test_ring_bounds), cmocka_unit_test(test_exec_images),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
