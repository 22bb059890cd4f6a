/* SPDX-License-Identifier: MIT */
/* kt_classify: the profiling guide's thresholds, at and around every boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kt_classify.h"

static void test_latency(void **state)
{
	(void)state;
	assert_int_equal(kt_classify_latency(0), KT_LAT_GOOD);
	assert_int_equal(kt_classify_latency(99), KT_LAT_GOOD);
	assert_int_equal(kt_classify_latency(100), KT_LAT_WARNING);
	assert_int_equal(kt_classify_latency(500), KT_LAT_WARNING);
	assert_int_equal(kt_classify_latency(1000), KT_LAT_WARNING);
	assert_int_equal(kt_classify_latency(1001), KT_LAT_BAD);
	assert_int_equal(kt_classify_latency(UINT64_MAX), KT_LAT_BAD);
	assert_string_equal(kt_lat_class_label(kt_classify_latency(42)), "good");
	assert_string_equal(kt_lat_class_label(kt_classify_latency(420)), "warning");
	assert_string_equal(kt_lat_class_label(kt_classify_latency(4200)), "bad");
}

static void test_backpressure(void **state)
{
	(void)state;
	assert_int_equal(kt_classify_backpressure(0, 0), KT_BP_NONE);
	assert_int_equal(kt_classify_backpressure(0, 1000000), KT_BP_NONE);
	assert_int_equal(kt_classify_backpressure(1, 1001), KT_BP_RARE);       /* 0.0999 % */
	assert_int_equal(kt_classify_backpressure(1, 1000), KT_BP_OCCASIONAL); /* 0.1 % */
	assert_int_equal(kt_classify_backpressure(49, 1000), KT_BP_OCCASIONAL);
	assert_int_equal(kt_classify_backpressure(50, 1000), KT_BP_FREQUENT); /* 5 % */
	assert_int_equal(kt_classify_backpressure(1000, 1000), KT_BP_FREQUENT);
	assert_int_equal(kt_classify_backpressure(3000, 1000), KT_BP_FREQUENT); /* retries */
	assert_int_equal(kt_classify_backpressure(5, 0), KT_BP_FREQUENT);
	/* huge counters: 2^54 / 2^64 = 0.098 % and 2^60 / 2^64 = 6.25 % (no wrap) */
	assert_int_equal(kt_classify_backpressure(1ull << 54, UINT64_MAX), KT_BP_RARE);
	assert_int_equal(kt_classify_backpressure(1ull << 60, UINT64_MAX), KT_BP_FREQUENT);
	assert_int_equal(kt_classify_backpressure(UINT64_MAX, UINT64_MAX), KT_BP_FREQUENT);
	assert_string_equal(kt_bp_class_label(KT_BP_NONE), "none");
	assert_string_equal(kt_bp_class_label(kt_classify_backpressure(1, 100000)), "rare");
	assert_string_equal(kt_bp_class_label(kt_classify_backpressure(1, 100)), "occasional");
	assert_string_equal(kt_bp_class_label(kt_classify_backpressure(1, 10)), "frequent");
}

static void test_retransmit(void **state)
{
	(void)state;
	assert_int_equal(kt_classify_retransmit(0, 0), KT_RTX_NONE);
	assert_int_equal(kt_classify_retransmit(0, 12345), KT_RTX_NONE);
	assert_int_equal(kt_classify_retransmit(1, 101), KT_RTX_LOW);  /* 0.99 % */
	assert_int_equal(kt_classify_retransmit(1, 100), KT_RTX_HIGH); /* exactly 1 % */
	assert_int_equal(kt_classify_retransmit(30, 100), KT_RTX_HIGH);
	assert_int_equal(kt_classify_retransmit(1, 0), KT_RTX_HIGH);
	/* 2^57 / 2^64 = 0.78 %: r * 100 would wrap in 64 bits */
	assert_int_equal(kt_classify_retransmit(1ull << 57, UINT64_MAX), KT_RTX_LOW);
	assert_string_equal(kt_rtx_class_label(KT_RTX_NONE), "none");
	assert_string_equal(kt_rtx_class_label(kt_classify_retransmit(1, 1000)), "low");
	assert_string_equal(kt_rtx_class_label(kt_classify_retransmit(2, 10)), "high");
}

static void test_severity_and_bad_values(void **state)
{
	(void)state;
	assert_int_equal(kt_lat_severity(KT_LAT_GOOD), KT_SEV_OK);
	assert_int_equal(kt_lat_severity(KT_LAT_WARNING), KT_SEV_WARN);
	assert_int_equal(kt_lat_severity(KT_LAT_BAD), KT_SEV_BAD);
	assert_int_equal(kt_bp_severity(KT_BP_NONE), KT_SEV_OK);
	assert_int_equal(kt_bp_severity(KT_BP_RARE), KT_SEV_OK);
	assert_int_equal(kt_bp_severity(KT_BP_OCCASIONAL), KT_SEV_WARN);
	assert_int_equal(kt_bp_severity(KT_BP_FREQUENT), KT_SEV_BAD);
	assert_int_equal(kt_rtx_severity(KT_RTX_NONE), KT_SEV_OK);
	assert_int_equal(kt_rtx_severity(KT_RTX_LOW), KT_SEV_OK);
	assert_int_equal(kt_rtx_severity(KT_RTX_HIGH), KT_SEV_BAD);
	assert_string_equal(kt_severity_label(KT_SEV_OK), "ok");
	assert_string_equal(kt_severity_label(KT_SEV_WARN), "warn");
	assert_string_equal(kt_severity_label(KT_SEV_BAD), "bad");

	/* out-of-range enum values get a visible placeholder, not UB */
	assert_string_equal(kt_lat_class_label((enum kt_lat_class)7), "?");
	assert_string_equal(kt_bp_class_label((enum kt_bp_class)7), "?");
	assert_string_equal(kt_rtx_class_label((enum kt_rtx_class)7), "?");
	assert_string_equal(kt_severity_label((enum kt_severity)7), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_retransmit),
		cmocka_unit_test(test_severity_and_bad_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
