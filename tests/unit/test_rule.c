/* SPDX-License-Identifier: MIT */
/* kt_rule: good rules parse into the right fields; bad ones say where and what was expected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kt_rule.h"

static struct kt_rule parse_ok(const char *text)
{
	struct kt_rule r;
	struct kt_rule_error e;
	int rc = kt_rule_parse(text, &r, &e);

	if (rc)
		fail_msg("'%s' should parse, got column %d: %s", text, e.pos + 1, e.msg);
	return r;
}

/* The rule must fail at byte offset pos with a message containing want. */
static void parse_bad(const char *text, int pos, const char *want)
{
	struct kt_rule r;
	struct kt_rule_error e;
	char buf[256];

	if (kt_rule_parse(text, &r, &e) != -EINVAL)
		fail_msg("'%s' should not parse", text);
	if (e.pos != pos || !strstr(e.msg, want))
		fail_msg("'%s': got column %d '%s', want column %d containing '%s'", text,
			 e.pos + 1, e.msg, pos + 1, want);
	kt_rule_strerror(&e, buf, sizeof(buf));
	assert_true(strncmp(buf, "column ", 7) == 0);
}

static void test_examples(void **state)
{
	(void)state;
	struct kt_rule r = parse_ok("send.p99 > 1us for 10s");

	assert_int_equal(r.series, KT_RULE_SEND);
	assert_int_equal(r.stat, KT_RULE_PCT);
	assert_true(r.pct == 99);
	assert_int_equal(r.cmp, KT_RULE_GT);
	assert_true(r.threshold == 1000);
	assert_int_equal(r.unit, KT_RULE_UNIT_NS);
	assert_int_equal(r.hold_ns, 10000000000ull);
	assert_int_equal(r.window_ns, 0);
	assert_false(r.has_ring || r.has_process || r.has_pid);
	assert_string_equal(r.metric, "send.p99");
	assert_string_equal(r.text, "send.p99 > 1us for 10s");

	r = parse_ok("recv.p999 > 5us");
	assert_int_equal(r.series, KT_RULE_RECV);
	assert_true(r.pct > 99.89 && r.pct < 99.91);
	assert_true(r.threshold == 5000);
	assert_int_equal(r.hold_ns, 0);

	r = parse_ok("backpressure.rate > 1000/s");
	assert_int_equal(r.series, KT_RULE_BACKPRESSURE);
	assert_int_equal(r.stat, KT_RULE_RATE);
	assert_int_equal(r.unit, KT_RULE_UNIT_PER_S);
	assert_true(r.threshold == 1000);

	r = parse_ok("retransmit.ratio > 1%");
	assert_int_equal(r.stat, KT_RULE_RATIO);
	assert_int_equal(r.unit, KT_RULE_UNIT_FRACTION);
	assert_true(r.threshold == 0.01);

	r = parse_ok("lost > 0");
	assert_int_equal(r.series, KT_RULE_LOST);
	assert_int_equal(r.stat, KT_RULE_COUNT);
	assert_true(r.threshold == 0);

	r = parse_ok("ring=compress.in send.p99 > 1us for 10s");
	assert_true(r.has_ring);
	assert_string_equal(r.ring, "compress.in");
	assert_true(r.hold_ns == 10000000000ull);
}

static void test_selectors_and_clauses(void **state)
{
	(void)state;
	struct kt_rule r = parse_ok("  process=ingest*   pid=42 ring=\"a b\"\tsojourn.p50>=200us "
				    "over 1m for 1.5s ");

	assert_true(r.has_process && r.has_pid && r.has_ring);
	assert_string_equal(r.process, "ingest*");
	assert_int_equal(r.pid, 42);
	assert_string_equal(r.ring, "a b");
	assert_int_equal(r.series, KT_RULE_SOJOURN);
	assert_true(r.pct == 50);
	assert_int_equal(r.cmp, KT_RULE_GE);
	assert_true(r.threshold == 200000);
	assert_int_equal(r.window_ns, 60000000000ull);
	assert_int_equal(r.hold_ns, 1500000000ull);
	/* the identity collapses whitespace */
	assert_string_equal(
		r.text, "process=ingest* pid=42 ring=\"a b\" sojourn.p50>=200us over 1m for 1.5s");

	r = parse_ok("ring = x send.max<=2ms for 0");
	assert_string_equal(r.ring, "x");
	assert_int_equal(r.stat, KT_RULE_MAX);
	assert_int_equal(r.cmp, KT_RULE_LE);
	assert_true(r.threshold == 2e6);
	assert_int_equal(r.hold_ns, 0);

	r = parse_ok("recv.mean < 1\xc2\xb5s for 10s over 10s");
	assert_int_equal(r.stat, KT_RULE_MEAN);
	assert_int_equal(r.cmp, KT_RULE_LT);
	assert_true(r.threshold == 1000);

	r = parse_ok("send.count >= 2.5k");
	assert_int_equal(r.unit, KT_RULE_UNIT_COUNT);
	assert_true(r.threshold == 2500);
	r = parse_ok("send.rate < 1M/s");
	assert_true(r.threshold == 1e6);
	r = parse_ok("backpressure.ratio > 0.05");
	assert_true(r.threshold == 0.05);
	r = parse_ok("retransmit.count > 0");
	assert_int_equal(r.series, KT_RULE_RETRANSMIT);
	r = parse_ok("lost.rate > 10/s");
	assert_int_equal(r.stat, KT_RULE_RATE);
	r = parse_ok("send.p99.5 > 0");
	assert_true(r.pct == 99.5);
	r = parse_ok("send.p100 > 1s");
	assert_true(r.pct == 100);
	r = parse_ok("send.p9999 > 1ms");
	assert_true(r.pct > 99.989 && r.pct < 99.991);
	r = parse_ok("send.p5 > 1ns");
	assert_true(r.pct == 5);
	r = parse_ok("backpressure.p99 > 1h");
	assert_true(r.threshold == 3600e9);
	assert_true(kt_rule_holds(&r, 3600e9 + 1));
	assert_false(kt_rule_holds(&r, 3600e9));
}

static void test_errors(void **state)
{
	(void)state;
	parse_bad("", 0, "expected a metric");
	parse_bad("   ", 3, "expected a metric");
	parse_bad("send.p99", 8, "expected a comparison");
	parse_bad("send.p99 = 1us", 9, "expected a comparison (>, >=, <, <=)");
	parse_bad("send.p99 == 1us", 9, "expected a comparison");
	parse_bad("send.p99 > ", 11, "expected a number");
	parse_bad("send.p99 > fast", 11, "expected a number");
	parse_bad("send.p99 > -1us", 11, "expected a number");
	parse_bad("send.p99 > 1", 12, "expected a time unit");
	parse_bad("send.p99 > 1xs", 12, "expected a time unit");
	parse_bad("send.p99 > 1us for", 18, "expected a duration after 'for'");
	parse_bad("send.p99 > 1us for ten", 19, "expected a duration after 'for'");
	parse_bad("send.p99 > 1us for 10", 19, "expected a duration");
	parse_bad("send.p99 > 1us for 10s for 1s", 23, "'for' is given twice");
	parse_bad("send.p99 > 1us over 100ms", 20, "must be 1s..24h");
	parse_bad("send.p99 > 1us over 2d", 20, "expected a duration");
	parse_bad("send.p99 > 1us because", 15, "expected 'over', 'for' or the end");
	parse_bad("send.p99 > 1us,", 14, "unexpected ','");
	parse_bad("sned.p99 > 1us", 0, "unknown metric 'sned.p99'");
	parse_bad("send > 1us", 4, "expected '.' and a statistic after 'send'");
	parse_bad("send. > 1us", 5, "expected '.' and a statistic");
	parse_bad("send.p > 1us", 5, "bad percentile");
	parse_bad("send.p99x > 1us", 5, "bad percentile");
	parse_bad("send.p101 > 1us", 5, "bad percentile");
	parse_bad("send.p100.5 > 1us", 5, "above 100");
	parse_bad("send.median > 1us", 5, "unknown statistic 'median'");
	parse_bad("retransmit.p99 > 1us", 11, "retransmit has no latency");
	parse_bad("send.ratio > 1%", 5, "ratio is defined for backpressure and retransmit");
	parse_bad("sojourn.rate > 1/s", 8, "sojourn takes latency");
	parse_bad("send.rate > 1000", 16, "expected '/s'");
	parse_bad("send.rate > 1000/min", 16, "expected '/s'");
	parse_bad("send.count > 3us", 14, "a count takes no unit");
	parse_bad("retransmit.ratio > 2", 19, "fraction 0..1");
	parse_bad("retransmit.ratio > 200%", 19, "at most 100%");
	parse_bad("retransmit.ratio > 1x", 20, "takes '%' or no unit");
	parse_bad("ring= send.p99 > 1us", 15, "expected a metric or a selector");
	parse_bad("ring=", 5, "expected a ring name after ring=");
	parse_bad("ring=\"abc send.p99 > 1us", 5, "unterminated quote");
	parse_bad("ring=a ring=b send.p99 > 1us", 7, "ring= is given twice");
	parse_bad("pid=abc send.p99 > 1us", 4, "expected a process id");
	parse_bad("pid=0 send.p99 > 1us", 4, "expected a process id");
	parse_bad("host=x send.p99 > 1us", 0, "unknown selector 'host='");
	parse_bad("ring=x lost > 0", 0, "lost counts the events of every process");
	parse_bad("  pid=3 lost > 0", 2, "takes no ring=");
	parse_bad("lost.p99 > 0", 5, "lost takes no statistic but .rate");
	parse_bad("> 1us", 0, "expected a metric or a selector, got '>'");
	parse_bad("ring=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx "
		  "send.p99 > 1us",
		  5, "longer than 63 bytes");

	char longrule[400];

	memset(longrule, ' ', sizeof(longrule));
	memcpy(longrule + 300, "lost > 0", 9);
	parse_bad(longrule, KT_RULE_TEXT_MAX - 1, "rule longer than 255 bytes");
}

static void test_holds(void **state)
{
	(void)state;
	struct kt_rule r = parse_ok("lost > 0");

	assert_false(kt_rule_holds(&r, 0));
	assert_true(kt_rule_holds(&r, 1));
	r = parse_ok("lost >= 2");
	assert_true(kt_rule_holds(&r, 2));
	assert_false(kt_rule_holds(&r, 1));
	r = parse_ok("send.rate < 10/s");
	assert_true(kt_rule_holds(&r, 9.9));
	assert_false(kt_rule_holds(&r, 10));
	r = parse_ok("send.rate <= 10/s");
	assert_true(kt_rule_holds(&r, 10));
	assert_string_equal(kt_rule_cmp_str(KT_RULE_LE), "<=");
	assert_string_equal(kt_rule_unit_str(KT_RULE_UNIT_PER_S), "per_s");
}

/* func: the --func functions, by name or module:name; whole run only, no ring=. */
static void test_func_rules(void **state)
{
	(void)state;
	struct kt_rule r = parse_ok("func=compress_* func.p99 > 50us for 5s");

	assert_int_equal(r.series, KT_RULE_FUNC);
	assert_int_equal(r.stat, KT_RULE_PCT);
	assert_true(r.has_func);
	assert_string_equal(r.func, "compress_*");
	assert_true(r.threshold == 50000);
	assert_int_equal(r.unit, KT_RULE_UNIT_NS);
	assert_int_equal(r.hold_ns, 5000000000ull);
	r = parse_ok("func=\"libz.so.1:deflate*\" process=app func.count >= 1k");
	assert_string_equal(r.func, "libz.so.1:deflate*");
	assert_true(r.has_process && r.threshold == 1000);
	assert_int_equal(r.unit, KT_RULE_UNIT_COUNT);
	r = parse_ok("func.rate > 10k/s");
	assert_false(r.has_func);
	assert_int_equal(r.unit, KT_RULE_UNIT_PER_S);

	parse_bad("func=x func.p99 > 1us over 10s", 22, "no 'over'");
	parse_bad("ring=work.0 func.p99 > 1us", 0, "takes no ring=: use func=");
	parse_bad("func=compress send.p99 > 1us", 14, "use the func series");
	parse_bad("func.ratio > 1%", 5, "func takes latency statistics, count or rate");
	parse_bad("func=\"\" func.p99 > 1us", 6, "expected a function name after func=");
	parse_bad("fnuc=x func.p99 > 1us", 0, "expected ring=, process=, pid= or func=");
	parse_bad("fnuc.p99 > 1us", 0, "retransmit, lost or func");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples), cmocka_unit_test(test_selectors_and_clauses),
		cmocka_unit_test(test_errors),	 cmocka_unit_test(test_func_rules),
		cmocka_unit_test(test_holds),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
