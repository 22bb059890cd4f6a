/* SPDX-License-Identifier: MIT */
/* kt_units: durations, sizes and percentages parse as documented; bad input is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kt_units.h"

static uint64_t dur_in(const char *s, uint64_t bare)
{
	uint64_t ns = 0;
	int rc = kt_parse_duration_in(s, bare, &ns);

	if (rc)
		fail_msg("'%s' should parse, got %d", s, rc);
	return ns;
}

static void test_duration_units(void **state)
{
	(void)state;
	assert_int_equal(dur_in("500ms", 0), 500000000ull);
	assert_int_equal(dur_in("2s", 0), 2000000000ull);
	assert_int_equal(dur_in("1m", 0), 60000000000ull);
	assert_int_equal(dur_in("1min", 0), 60000000000ull);
	assert_int_equal(dur_in("1h", 0), 3600000000000ull);
	assert_int_equal(dur_in("250us", 0), 250000ull);
	assert_int_equal(dur_in("250\xc2\xb5s", 0), 250000ull);
	assert_int_equal(dur_in("7ns", 0), 7ull);
	assert_int_equal(dur_in("1.5m", 0), 90000000000ull);
	assert_int_equal(dur_in("0", 0), 0);
}

/* Options documented in seconds (-d, -i) keep taking bare seconds. */
static void test_duration_bare(void **state)
{
	(void)state;
	assert_int_equal(dur_in("10", KT_NS_PER_S), 10000000000ull);
	assert_int_equal(dur_in("0.5", KT_NS_PER_S), 500000000ull);
	assert_int_equal(dur_in("5", KT_NS_PER_US), 5000ull);
	assert_int_equal(dur_in("5ms", KT_NS_PER_US), 5000000ull);
}

static void test_duration_bad(void **state)
{
	(void)state;
	uint64_t ns = 42;
	static const char *const bad[] = {
		"",	"s",	"-1s", "-1",  "+1s", "1x",    "1s ",   " 1s", "1 s", "inf",  "nan",
		"infs", "1e3s", "1e3", ".5s", "1.s", "0x10s", "10sec", "1ss", "10",  "1,5s",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kt_parse_duration(bad[i], &ns) != -EINVAL)
			fail_msg("'%s' should be refused", bad[i]);
	assert_int_equal(kt_parse_duration(NULL, &ns), -EINVAL);
	/* only where a unit is required */
	assert_int_equal(kt_parse_duration_in("10", KT_NS_PER_S, &ns), 0);
	assert_int_equal(kt_parse_duration_in("-1", KT_NS_PER_S, &ns), -EINVAL);
	assert_int_equal(kt_parse_duration_in("inf", KT_NS_PER_S, &ns), -EINVAL);
	assert_int_equal(kt_parse_duration_in("nan", KT_NS_PER_S, &ns), -EINVAL);
	assert_int_equal(kt_parse_duration_in("", KT_NS_PER_S, &ns), -EINVAL);
}

static void test_duration_overflow(void **state)
{
	(void)state;
	uint64_t ns = 42;

	assert_int_equal(kt_parse_duration("99999999999999h", &ns), -ERANGE);
	assert_int_equal(kt_parse_duration_in("18446744073709551616", 1, &ns), -ERANGE);
	assert_int_equal(kt_parse_duration_in("99999999999", KT_NS_PER_S, &ns), -ERANGE);
	assert_int_equal(ns, 42); /* untouched on error */
	/* near the limit: 4000000h is 1.44e19 ns, 5000000h (1.8e19) is not accepted */
	assert_int_equal(kt_parse_duration("4000000h", &ns), 0);
	assert_int_equal(ns, 4000000ull * 3600000000000ull);
	assert_int_equal(kt_parse_duration("5000000h", &ns), -ERANGE);
}

static void test_fmt_duration(void **state)
{
	(void)state;
	char buf[32];

	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 10000000000ull), "10s");
	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 60000000000ull), "1m");
	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 600000000000ull), "10m");
	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 1500000000ull), "1500ms");
	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 1001ull), "1001ns");
	assert_string_equal(kt_fmt_duration(buf, sizeof(buf), 0), "0ns");
}

static void test_sizes(void **state)
{
	(void)state;
	uint64_t b = 0;
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"4096", 4096},	    {"0x1000", 4096}, {"4K", 4096},	  {"4k", 4096},
		{"4KiB", 4096},	    {"2M", 2u << 20}, {"2MiB", 2u << 20}, {"1G", 1u << 30},
		{"1GiB", 1u << 30}, {"0", 0},
	};
	static const char *const bad[] = {"",	"-1",  "4X",  "4KB", "4 K", "1.5M",
					  "0x", "0xg", "inf", "nan", "K",   "4Ki"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (kt_parse_size(good[i].s, &b))
			fail_msg("'%s' should parse", good[i].s);
		assert_int_equal(b, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (kt_parse_size(bad[i], &b) != -EINVAL)
			fail_msg("'%s' should be refused", bad[i]);
	assert_int_equal(kt_parse_size("18446744073709551616", &b), -ERANGE);
	assert_int_equal(kt_parse_size("17179869184G", &b), -ERANGE);
}

static void test_percent(void **state)
{
	(void)state;
	double p = -1;

	assert_int_equal(kt_parse_percent("1", &p), 0);
	assert_true(p == 1.0);
	assert_int_equal(kt_parse_percent("0.5%", &p), 0);
	assert_true(p == 0.5);
	assert_int_equal(kt_parse_percent("100%", &p), 0);
	assert_true(p == 100.0);
	assert_int_equal(kt_parse_percent("", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("-1", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("1%%", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("1x", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("inf", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("nan", &p), -EINVAL);
	assert_int_equal(kt_parse_percent("%", &p), -EINVAL);
}

/* The rule's time units are the parser's: one table. */
static void test_time_unit_table(void **state)
{
	(void)state;
	double ns = 0;

	assert_true(kt_units_time("us", &ns) && ns == 1e3);
	assert_true(kt_units_time("h", &ns) && ns == 3600e9);
	assert_false(kt_units_time("d", &ns));
	assert_false(kt_units_time("", &ns));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_units), cmocka_unit_test(test_duration_bare),
		cmocka_unit_test(test_duration_bad),   cmocka_unit_test(test_duration_overflow),
		cmocka_unit_test(test_fmt_duration),   cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_percent),	       cmocka_unit_test(test_time_unit_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
