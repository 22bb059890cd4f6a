/* SPDX-License-Identifier: MIT */
/*
 * kt_alert: the state machine fires once after the hold time and resolves
 * once; rules are evaluated on real aggregations and windows; transitions
 * are JSON lines; actions get the line on stdin and are killed on timeout.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_alert.h"
#include "kt_log.h"
#include "kt_test_events.h"

#define S  1000000000ull
#define T0 (1000 * S)

static void test_state_machine(void **state)
{
	(void)state;
	struct kt_alert_sm sm = {0};
	const uint64_t hold = 3 * S;

	/* true for less than the hold time, then false: nothing */
	assert_int_equal(kt_alert_step(&sm, true, hold, T0), KT_ALERT_NONE);
	assert_int_equal(sm.state, KT_ALERT_PENDING);
	assert_int_equal(kt_alert_step(&sm, true, hold, T0 + 2 * S), KT_ALERT_NONE);
	assert_int_equal(kt_alert_step(&sm, false, hold, T0 + 3 * S), KT_ALERT_NONE);
	assert_int_equal(sm.state, KT_ALERT_OK);
	/* the hold time restarts: fires once after 3 s of true */
	assert_int_equal(kt_alert_step(&sm, true, hold, T0 + 4 * S), KT_ALERT_NONE);
	assert_int_equal(kt_alert_step(&sm, true, hold, T0 + 6 * S), KT_ALERT_NONE);
	assert_int_equal(kt_alert_step(&sm, true, hold, T0 + 7 * S), KT_ALERT_FIRED);
	/* no re-firing while it stays true */
	for (uint64_t t = 8; t < 20; t++)
		assert_int_equal(kt_alert_step(&sm, true, hold, T0 + t * S), KT_ALERT_NONE);
	assert_int_equal(sm.state, KT_ALERT_FIRING);
	/* resolves once, then stays quiet */
	assert_int_equal(kt_alert_step(&sm, false, hold, T0 + 20 * S), KT_ALERT_RESOLVED);
	for (uint64_t t = 21; t < 30; t++)
		assert_int_equal(kt_alert_step(&sm, false, hold, T0 + t * S), KT_ALERT_NONE);
	assert_int_equal(sm.state, KT_ALERT_OK);

	/* without hold: fires at the first true evaluation */
	struct kt_alert_sm sm0 = {0};

	assert_int_equal(kt_alert_step(&sm0, false, 0, T0), KT_ALERT_NONE);
	assert_int_equal(kt_alert_step(&sm0, true, 0, T0 + S), KT_ALERT_FIRED);
	assert_int_equal(kt_alert_step(&sm0, true, 0, T0 + 2 * S), KT_ALERT_NONE);
	assert_int_equal(kt_alert_step(&sm0, false, 0, T0 + 3 * S), KT_ALERT_RESOLVED);
}

static struct kt_rule rule(const char *text)
{
	struct kt_rule r;
	struct kt_rule_error e;

	if (kt_rule_parse(text, &r, &e))
		fail_msg("rule '%s': %s", text, e.msg);
	return r;
}

static void test_values(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_windows *w = kt_windows_new(T0);
	uint64_t g[KT_WIN_G_NR] = {100, 90, 10};
	struct kt_alert_src src = {
		.agg = &a, .win = w, .global = g, .now = T0 + 2 * S, .default_win = KT_WIN_ALL};
	double v;
	int n;

	kt_agg_init(&a, 0);
	/* ring 0 (work.0): 100 sends of 1..100 us, 5 backpressure episodes, 2 retransmits */
	for (uint64_t i = 1; i <= 100; i++)
		kt_test_event(&a, KT_EV_SEND, 0, i, i * 1000, 0);
	for (uint64_t i = 1; i <= 5; i++)
		kt_test_event(&a, KT_EV_BACKPRESSURE, 0, i, 7000, 0);
	for (uint64_t i = 1; i <= 2; i++)
		kt_test_event(&a, KT_EV_RETRANSMIT, 0, i, 0, i);
	/* ring 2 (compress.in): 10 receives with 40 us sojourn */
	for (uint64_t i = 1; i <= 10; i++)
		kt_test_event(&a, KT_EV_RECV, 2, i, 500, 40000);

	struct kt_rule r = rule("send.p99 > 1us");

	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_true(v >= 98000 && v <= 100000);
	assert_int_equal(n, 2);
	r = rule("ring=work.* send.p50 > 1us");
	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_true(v >= 49000 && v <= 51000);
	assert_int_equal(n, 1);
	r = rule("ring=compress.in send.p50 > 1us");
	assert_false(kt_alert_value(&r, &src, &v, &n)); /* no sends there: no data */
	assert_int_equal(n, 1);
	r = rule("ring=nothing send.count > 0");
	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_true(v == 0);
	assert_int_equal(n, 0);
	r = rule("sojourn.max > 1us");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 40000);
	r = rule("sojourn.count > 1");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 10);
	r = rule("retransmit.ratio > 1%");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 0.02);
	assert_true(kt_rule_holds(&r, v));
	r = rule("backpressure.ratio > 1%");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 0.05);
	r = rule("send.mean > 1us");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v > 49000 && v < 52000);
	r = rule("send.min > 1us");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 1000);
	r = rule("lost > 0");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 10);
	/* rates divide by the window's span: the whole run, 2 s here */
	r = rule("send.rate > 1/s");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 50);
	r = rule("lost.rate > 1/s");
	assert_true(kt_alert_value(&r, &src, &v, NULL));
	assert_true(v == 5);
	/* process= matches the process name (this test's), pid= its id */
	char comm[32] = "", text[96];
	FILE *cf = fopen("/proc/self/comm", "r");

	assert_non_null(cf);
	assert_non_null(fgets(comm, sizeof(comm), cf));
	fclose(cf);
	comm[strcspn(comm, "\n")] = 0;
	comm[4] = 0; /* a prefix and a glob: works under valgrind's name too */
	snprintf(text, sizeof(text), "process=%s* send.count > 0", comm);
	r = rule(text);
	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_true(v == 100);
	assert_int_equal(n, 2);
	r = rule("process=nomatch send.count > 0");
	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_int_equal(n, 0);
	snprintf(text, sizeof(text), "pid=%d recv.count > 0", (int)getpid());
	r = rule(text);
	assert_true(kt_alert_value(&r, &src, &v, &n));
	assert_true(v == 10);
	kt_windows_free(w);
	kt_agg_free(&a);
}

static char *read_file(FILE *f)
{
	static char buf[8192];
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* A slow phase, then a fast one: one firing line after the hold, one resolved line. */
static void test_engine_fire_resolve(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_windows *w = kt_windows_new(T0);
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile();
	uint64_t g[KT_WIN_G_NR] = {0};
	uint64_t lens[] = {2 * S}, cnt = 0;
	struct kt_rule rules[2] = {rule("ring=work.0 sojourn.p50 > 20us over 2s for 2s"),
				   rule("lost > 0")};

	assert_non_null(out);
	kt_agg_init(&a, 0);
	assert_int_equal(kt_windows_set(w, lens, 1), 0);
	assert_int_equal(kt_alerts_set_rules(al, rules, 2), 0);
	assert_int_equal(kt_alerts_set_output(al, out, NULL, 0), 0);
	int fired_at = -1, resolved_at = -1;

	/* 100 ms steps: 0..5 s slow (50 us sojourn), 5..12 s fast (1 us) */
	for (int step = 0; step <= 120; step++) {
		uint64_t now = T0 + (uint64_t)step * S / 10;
		uint64_t soj = step < 50 ? 50000 : 1000;

		for (int i = 0; i < 10; i++)
			kt_test_event(&a, KT_EV_RECV, 0, ++cnt, 100, soj);
		kt_windows_tick(w, &a, g, now);
		if (step % 10)
			continue; /* evaluate once a second */
		struct kt_alert_src src = {
			.agg = &a, .win = w, .global = g, .now = now, .default_win = 0};
		uint64_t f0 = kt_alerts_fired(al), r0 = kt_alerts_resolved(al);

		kt_alerts_eval(al, &src);
		if (kt_alerts_fired(al) > f0)
			fired_at = step / 10;
		if (kt_alerts_resolved(al) > r0)
			resolved_at = step / 10;
	}
	/* The first evaluation sees an empty window (its first snapshot was just taken);
	 * true from 1 s on, fires 2 s later. The slow phase ends at 4.9 s; the p50 of
	 * the 2..2.2 s window is fast once more than half of it is. */
	assert_int_equal(fired_at, 3);
	assert_true(resolved_at >= 6 && resolved_at <= 7);
	assert_int_equal(kt_alerts_fired(al), 1);
	assert_int_equal(kt_alerts_resolved(al), 1);
	assert_int_equal(kt_alerts_state(al, 0), KT_ALERT_OK);
	assert_int_equal(kt_alerts_state(al, 1), KT_ALERT_OK);

	const char *txt = read_file(out);

	printf("%s", txt);
	assert_int_equal(count_lines(txt, "\n"), 2);
	assert_int_equal(count_lines(txt, "\"alert\":\"firing\""), 1);
	assert_int_equal(count_lines(txt, "\"alert\":\"resolved\""), 1);
	assert_non_null(strstr(txt, "\"rule\":\"ring=work.0 sojourn.p50 > 20us over 2s for 2s\""));
	assert_non_null(strstr(txt, "\"metric\":\"sojourn.p50\""));
	assert_non_null(strstr(txt, "\"threshold\":20000,\"unit\":\"ns\",\"window_s\":2,"
				    "\"for_s\":2,\"process\":null,\"ring\":\"work.0\","
				    "\"pid\":null,\"func\":null,\"series\":1,\"worst\":{\"ring\":"
				    "\"work.0\""));
	assert_true(strstr(txt, "\"value\":5") < strstr(txt, "resolved")); /* ~50 us */
	assert_non_null(strstr(txt, "\"time\":\"20"));

	/* a reload with the same rule keeps its state: no second firing */
	g[KT_WIN_G_LOST] = 3;
	struct kt_alert_src src = {
		.agg = &a, .win = w, .global = g, .now = T0 + 13 * S, .default_win = 0};

	assert_int_equal(kt_alerts_eval(al, &src), 1); /* lost > 0 fires */
	assert_int_equal(kt_alerts_state(al, 1), KT_ALERT_FIRING);
	struct kt_rule reload[2] = {rule("lost  >  0"), rule("send.count > 1000000")};

	assert_int_equal(kt_alerts_set_rules(al, reload, 2), 0);
	assert_int_equal(kt_alerts_state(al, 0), KT_ALERT_FIRING);
	assert_int_equal(kt_alerts_eval(al, &src), 0);
	double v;

	assert_true(kt_alerts_last_value(al, 0, &v));
	assert_true(v == 3);
	assert_string_equal(kt_alerts_rule(al, 1)->text, "send.count > 1000000");
	assert_int_equal(kt_alerts_nrules(al), 2);

	kt_alerts_free(al);
	kt_windows_free(w);
	kt_agg_free(&a);
	fclose(out);
}

/* The action gets the JSON line on stdin; one that hangs is killed after its timeout. */
static void test_actions(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile(), *logf = tmpfile();
	char path[] = "/tmp/kt-alert-action.XXXXXX";
	int fd = mkstemp(path);
	uint64_t g[KT_WIN_G_NR] = {0, 0, 1};
	struct kt_rule r = rule("lost > 0");
	char *cp[] = {"/bin/cp", "/dev/stdin", path, NULL};
	char *hang[] = {"/bin/sleep", "30", NULL};
	char *missing[] = {"/nonexistent/action", NULL};
	struct timespec ms10 = {0, 10000000};

	assert_true(fd >= 0);
	close(fd);
	kt_log_setup(logf, false, KT_LOG_INFO);
	kt_agg_init(&a, 0);
	struct kt_windows *w = kt_windows_new(T0);
	struct kt_alert_src src = {
		.agg = &a, .win = w, .global = g, .now = T0, .default_win = KT_WIN_ALL};

	assert_int_equal(kt_alerts_set_rules(al, &r, 1), 0);
	assert_int_equal(kt_alerts_set_output(al, out, cp, 5 * S), 0);
	assert_int_equal(kt_alerts_eval(al, &src), 1);
	assert_int_equal(kt_alerts_running_actions(al), 1);
	while (kt_alerts_running_actions(al)) {
		kt_alerts_reap(al, T0);
		nanosleep(&ms10, NULL);
	}
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	const char *got = read_file(f);

	fclose(f);
	assert_string_equal(got, read_file(out));
	assert_non_null(strstr(got, "\"alert\":\"firing\""));

	/* hangs: killed once past the timeout */
	assert_int_equal(kt_alerts_set_output(al, out, hang, S / 10), 0);
	g[KT_WIN_G_LOST] = 0;
	src.now = T0 + S;
	assert_int_equal(kt_alerts_eval(al, &src), 1); /* resolved */
	assert_int_equal(kt_alerts_running_actions(al), 1);
	kt_alerts_reap(al, T0 + S); /* before the deadline: still running */
	assert_int_equal(kt_alerts_running_actions(al), 1);
	while (kt_alerts_running_actions(al)) {
		kt_alerts_reap(al, T0 + 2 * S);
		nanosleep(&ms10, NULL);
	}
	assert_non_null(strstr(read_file(logf), "timed out after 0.1 s: killed"));

	/* cannot run: one log line, no child */
	assert_int_equal(kt_alerts_set_output(al, out, missing, S), 0);
	g[KT_WIN_G_LOST] = 2;
	src.now = T0 + 3 * S;
	assert_int_equal(kt_alerts_eval(al, &src), 1);
	assert_int_equal(kt_alerts_running_actions(al), 0);
	assert_non_null(strstr(read_file(logf), "/nonexistent/action: cannot run"));

	kt_log_setup(NULL, false, KT_LOG_INFO);
	kt_alerts_free(al);
	kt_windows_free(w);
	kt_agg_free(&a);
	fclose(out);
	fclose(logf);
	unlink(path);
}

/* This process's name as kt_agg read it (the rings of kt_test_event are ours). */
static const char *own_comm(const struct kt_agg *a)
{
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == (uint32_t)getpid())
			return p->comm;
	fail_msg("no kt_proc for this process");
	return NULL;
}

/* Firing lines name the ring (name, pid, process), the value and the threshold; JSON too. */
static void test_messages(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile(), *logf = tmpfile();
	uint64_t g[KT_WIN_G_NR] = {0, 0, 10};
	struct kt_rule rules[3] = {rule("ring=work.0 send.max > 2us"), rule("send.count >= 5"),
				   rule("lost > 0")};
	struct kt_alert_src src = {
		.agg = &a, .win = NULL, .global = g, .now = T0, .default_win = KT_WIN_ALL};
	char want[512];
	const char *txt;

	assert_non_null(out);
	assert_non_null(logf);
	kt_log_setup(logf, false, KT_LOG_INFO);
	kt_agg_init(&a, 0);
	/* work.0: 10 sends of 3.2 us; compress.in: 50 sends of 1 us */
	for (uint64_t i = 1; i <= 10; i++)
		kt_test_event(&a, KT_EV_SEND, 0, i, 3200, 0);
	for (uint64_t i = 1; i <= 50; i++)
		kt_test_event(&a, KT_EV_SEND, 2, i, 1000, 0);
	assert_int_equal(kt_alerts_set_rules(al, rules, 3), 0);
	assert_int_equal(kt_alerts_set_output(al, out, NULL, 0), 0);
	assert_int_equal(kt_alerts_eval(al, &src), 3);
	txt = read_file(out);
	printf("%s", txt);

	/* one ring: its name, pid and process, then the value against the threshold */
	snprintf(want, sizeof(want),
		 "\"message\":\"alert 'ring=work.0 send.max > 2us' fired: ring work.0 (pid %d, "
		 "%s) send.max = 3.2",
		 (int)getpid(), own_comm(&a));
	assert_non_null(strstr(txt, want));
	assert_non_null(strstr(txt, "us > 2us\"}"));
	snprintf(want, sizeof(want),
		 "\"worst\":{\"ring\":\"work.0\",\"pid\":%d,\"process\":\"%s\",\"value\":32",
		 (int)getpid(), own_comm(&a));
	assert_non_null(strstr(txt, want));
	/* several rings merged: the total, and the ring that is worst on its own */
	snprintf(want, sizeof(want),
		 "\"message\":\"alert 'send.count >= 5' fired: send.count = 60 >= 5 over 2 rings "
		 "(worst: ring compress.in (pid %d, %s) 50)\"",
		 (int)getpid(), own_comm(&a));
	assert_non_null(strstr(txt, want));
	/* lost: no ring to name */
	assert_non_null(strstr(txt, "\"worst\":null,\"message\":\"alert 'lost > 0' fired: "
				    "lost = 10 > 0\"}"));
	/* the text lines say the same */
	const char *log = read_file(logf);

	printf("%s", log);
	snprintf(want, sizeof(want),
		 "alert: 'ring=work.0 send.max > 2us' fired: ring work.0 (pid %d, %s) send.max = "
		 "3.2",
		 (int)getpid(), own_comm(&a));
	assert_non_null(strstr(log, want));
	assert_non_null(strstr(log, "alert: 'lost > 0' fired: lost = 10 > 0\n"));

	/* resolved: the value now */
	g[KT_WIN_G_LOST] = 0;
	src.now = T0 + S;
	assert_int_equal(kt_alerts_eval(al, &src), 1);
	assert_non_null(
		strstr(read_file(out), "\"message\":\"alert 'lost > 0' resolved: lost = 0\"}"));

	kt_log_setup(NULL, false, KT_LOG_INFO);
	kt_alerts_free(al);
	kt_agg_free(&a);
	fclose(out);
	fclose(logf);
}

static void test_fmt_value(void **state)
{
	(void)state;
	char b[32];

	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 850), "850ns");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 3200), "3.2us");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 1000), "1us");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 12.5e6), "12.5ms");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 2e9), "2s");
	/* rounding never gives 1e+03 of the smaller unit */
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 999.7), "1us");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 999700), "1ms");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 999.4e6), "999ms");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_NS, 90e9), "90s");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_PER_S, 123456),
			    "123456/s");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_COUNT, 1500), "1500");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_PER_S, 120), "120/s");
	assert_string_equal(kt_alert_fmt_value(b, sizeof(b), KT_RULE_UNIT_FRACTION, 0.025), "2.5%");
}

/*
 * A rule whose selectors fit no traced ring matches nothing (a typo must not
 * pass a gate); so does a rule without selectors when no ring was traced.
 * lost always matches. Remembered over the run and over a reload.
 */
static void test_unmatched(void **state)
{
	(void)state;
	struct kt_agg a, empty;
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile();
	uint64_t g[KT_WIN_G_NR] = {0};
	struct kt_rule rules[4] = {rule("ring=wrok.0 send.p99 > 1us"),
				   rule("ring=work.* send.p99 > 1us"), rule("send.p99 > 1us"),
				   rule("lost > 0")};
	struct kt_alert_src src = {
		.agg = &a, .win = NULL, .global = g, .now = T0, .default_win = KT_WIN_ALL};
	char why[512], want[256];

	kt_agg_init(&a, 0);
	kt_agg_init(&empty, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 1, 100, 0);
	assert_int_equal(kt_alerts_set_rules(al, rules, 4), 0);
	assert_int_equal(kt_alerts_set_output(al, out, NULL, 0), 0);
	/* before any evaluation nothing is known */
	for (int i = 0; i < 4; i++) {
		assert_false(kt_alerts_unmatched(al, i));
		assert_false(kt_alerts_matched(al, i, true));
	}
	kt_alerts_eval(al, &src);
	assert_true(kt_alerts_unmatched(al, 0));
	assert_false(kt_alerts_matched(al, 0, true));
	for (int i = 1; i < 4; i++) {
		assert_false(kt_alerts_unmatched(al, i));
		assert_true(kt_alerts_matched(al, i, true));
	}
	/* the why shows the rings that were there: the typo is next to the right name */
	kt_alert_unmatched_why(&rules[0], &a, why, sizeof(why));
	snprintf(want, sizeof(want),
		 "no traced ring fits ring=wrok.0; rings seen: work.0 (pid %d, ", (int)getpid());
	assert_non_null(strstr(why, want));
	kt_alert_unmatched_why(&rules[2], &empty, why, sizeof(why));
	assert_string_equal(why, "no ring was traced during the run");
	struct kt_rule p = rule("process=nosuch pid=1 send.count > 0");

	kt_alert_unmatched_why(&p, &empty, why, sizeof(why));
	assert_string_equal(why, "no traced ring fits process=nosuch pid=1; no ring was traced");

	/* a run without rings: only lost matches */
	src.agg = &empty;
	src.now = T0 + S;
	kt_alerts_eval(al, &src);
	assert_true(kt_alerts_unmatched(al, 1));
	assert_true(kt_alerts_unmatched(al, 2));
	assert_false(kt_alerts_unmatched(al, 3));
	/* ... but over the whole run rules 1 and 2 did match */
	assert_true(kt_alerts_matched(al, 1, true));
	assert_true(kt_alerts_matched(al, 2, true));
	/* a reload keeps what an unchanged rule saw */
	struct kt_rule reload[2] = {rule("ring=work.*  send.p99 > 1us"), rule("recv.p99 > 1us")};

	assert_int_equal(kt_alerts_set_rules(al, reload, 2), 0);
	assert_true(kt_alerts_matched(al, 0, true));
	assert_false(kt_alerts_matched(al, 1, true));

	kt_alerts_free(al);
	kt_agg_free(&a);
	kt_agg_free(&empty);
	fclose(out);
}

/* The daemon's warning: once per spell of matching nothing, and at most every 10 min. */
static void test_unmatched_log(void **state)
{
	(void)state;
	struct kt_agg a, empty;
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile(), *logf = tmpfile();
	uint64_t g[KT_WIN_G_NR] = {0};
	struct kt_rule r = rule("ring=work.0 send.count > 0");
	struct kt_alert_src src = {
		.agg = &empty, .win = NULL, .global = g, .now = T0, .default_win = KT_WIN_ALL};
	const char *line = "warn: alert: rule 'ring=work.0 send.count > 0' matches nothing: "
			   "no traced ring fits ring=work.0; no ring was traced\n";

	kt_log_setup(logf, false, KT_LOG_INFO);
	kt_agg_init(&a, 0);
	kt_agg_init(&empty, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 1, 100, 0);
	assert_int_equal(kt_alerts_set_rules(al, &r, 1), 0);
	assert_int_equal(kt_alerts_set_output(al, out, NULL, 0), 0);
	assert_int_equal(kt_alerts_note_unmatched(al, &empty, T0), 0); /* not evaluated yet */
	for (int t = 0; t < 5; t++) {
		src.now = T0 + (uint64_t)t * S;
		kt_alerts_eval(al, &src);
		assert_int_equal(kt_alerts_note_unmatched(al, &empty, src.now), 1);
	}
	assert_int_equal(count_lines(read_file(logf), line), 1);
	/* it matches, then not again a minute later: still quiet (rate limit) */
	src.agg = &a;
	src.now = T0 + 10 * S;
	kt_alerts_eval(al, &src);
	assert_int_equal(kt_alerts_note_unmatched(al, &a, src.now), 0);
	src.agg = &empty;
	src.now = T0 + 60 * S;
	kt_alerts_eval(al, &src);
	assert_int_equal(kt_alerts_note_unmatched(al, &empty, src.now), 1);
	assert_int_equal(count_lines(read_file(logf), line), 1);
	/* 10 min after the last line: said again, once */
	src.now = T0 + KT_ALERT_UNMATCHED_LOG_NS;
	kt_alerts_eval(al, &src);
	kt_alerts_note_unmatched(al, &empty, src.now);
	src.now += S;
	kt_alerts_eval(al, &src);
	kt_alerts_note_unmatched(al, &empty, src.now);
	assert_int_equal(count_lines(read_file(logf), line), 2);

	kt_log_setup(NULL, false, KT_LOG_INFO);
	kt_alerts_free(al);
	kt_agg_free(&a);
	kt_agg_free(&empty);
	fclose(out);
	fclose(logf);
}

/* One timed call of --func function idx in this process (count: its cumulative calls). */
static void func_event(struct kt_agg *a, uint32_t idx, uint64_t count, uint64_t dur_ns)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_FUNC;
	e.pid = (uint32_t)getpid();
	e.tid = e.pid;
	e.ring_id = idx;
	e.count = count;
	e.dur_ns = dur_ns;
	kt_agg_add(a, &e, KT_EVENT_BASE_SIZE);
}

/* func rules: values on --func functions, the function named when one fires, typos. */
static void test_func_rules(void **state)
{
	(void)state;
	static const struct kt_func_desc funcs[3] = {
		{.name = "compress_block", .module = "app"},
		{.name = "deflate", .module = "libz.so.1"},
		{.name = "never_called", .module = "app"},
	};
	struct kt_agg a;
	struct kt_alerts *al = kt_alerts_new();
	FILE *out = tmpfile();
	uint64_t g[KT_WIN_G_NR] = {0};
	struct kt_alert_src src = {
		.agg = &a, .win = NULL, .global = g, .now = T0, .default_win = KT_WIN_ALL};
	struct kt_rule rules[5] = {
		rule("func=compress_* func.p50 > 10us"), rule("func=libz.so.1:* func.count > 2"),
		rule("func=compres_* func.count > 0"), rule("func=never_called func.count > 0"),
		rule("send.count > 0")};
	char want[512], why[512];
	const char *txt;
	double v;
	int n;

	kt_agg_init(&a, 0);
	a.lookup = &kt_test_lookup; /* no ring event comes first to set it */
	kt_agg_set_funcs(&a, funcs, 3);
	for (uint64_t i = 1; i <= 10; i++)
		func_event(&a, 0, i, 40000); /* compress_block: 40 us */
	for (uint64_t i = 1; i <= 5; i++)
		func_event(&a, 1, i, 2000); /* deflate: 2 us */
	assert_true(kt_alert_value(&rules[0], &src, &v, &n));
	assert_true(v >= 39000 && v <= 41000);
	assert_int_equal(n, 1);
	assert_true(kt_alert_value(&rules[1], &src, &v, &n)); /* module:name glob */
	assert_true(v == 5);
	assert_int_equal(n, 1);
	struct kt_rule all = rule("func.count > 0");

	assert_true(kt_alert_value(&all, &src, &v, &n));
	assert_true(v == 15);
	assert_int_equal(n, 2);

	assert_int_equal(kt_alerts_set_rules(al, rules, 5), 0);
	assert_int_equal(kt_alerts_set_output(al, out, NULL, 0), 0);
	assert_int_equal(kt_alerts_eval(al, &src), 2);
	txt = read_file(out);

	printf("%s", txt);
	snprintf(want, sizeof(want),
		 "\"message\":\"alert 'func=compress_* func.p50 > 10us' fired: function "
		 "app:compress_block (pid %d, %s) func.p50 = ",
		 (int)getpid(), own_comm(&a));
	assert_non_null(strstr(txt, want));
	/* the func= selector is carried like ring=, process= and pid= */
	assert_non_null(strstr(txt, "\"pid\":null,\"func\":\"libz.so.1:*\",\"series\":1,"));
	snprintf(want, sizeof(want), "\"worst\":{\"func\":\"libz.so.1:deflate\",\"pid\":%d,",
		 (int)getpid());
	assert_non_null(strstr(txt, want));
	/* a typo matches nothing; a probed function never called is no typo */
	assert_true(kt_alerts_unmatched(al, 2));
	assert_false(kt_alerts_unmatched(al, 3));
	assert_true(kt_alerts_unmatched(al, 4)); /* no ring at all */
	kt_alert_unmatched_why(&rules[2], &a, why, sizeof(why));
	assert_string_equal(why, "no traced function fits func=compres_*; functions probed: "
				 "app:compress_block, libz.so.1:deflate, app:never_called");
	struct kt_agg none;

	kt_agg_init(&none, 0);
	assert_string_equal(kt_alert_unmatched_why(&all, &none, why, sizeof(why)),
			    "no function was probed (--func)");
	kt_agg_free(&none);

	/* a process gone before its events were read: its name is unknown, not "?" */
	int ws;
	pid_t gone = fork();

	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, &ws, 0), gone);
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_FUNC;
	e.pid = e.tid = (uint32_t)gone;
	e.ring_id = 2;
	e.count = 1;
	e.dur_ns = 5000;
	kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE);
	struct kt_rule late = rule("func=never_called func.max > 1us");

	assert_int_equal(kt_alerts_set_rules(al, &late, 1), 0);
	assert_int_equal(kt_alerts_eval(al, &src), 1);
	txt = read_file(out);
	snprintf(want, sizeof(want),
		 "\"worst\":{\"func\":\"app:never_called\",\"pid\":%d,\"process\":null,",
		 (int)gone);
	assert_non_null(strstr(txt, want));
	snprintf(want, sizeof(want),
		 "fired: function app:never_called (pid %d) func.max = 5us > 1us\"}", (int)gone);
	assert_non_null(strstr(txt, want));

	kt_alerts_free(al);
	kt_agg_free(&a);
	fclose(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_engine_fire_resolve),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_fmt_value),
		cmocka_unit_test(test_unmatched),
		cmocka_unit_test(test_unmatched_log),
		cmocka_unit_test(test_func_rules),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
