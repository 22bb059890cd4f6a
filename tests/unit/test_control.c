/* SPDX-License-Identifier: MIT */
/*
 * kt_control: the --budget arithmetic (kt_pow2_floor, kt_budget_period,
 * kt_budget_step) and the process CPU clock it reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../user/kt_control.h"

#define MS 1000000ull

static void test_pow2_floor(void **state)
{
	(void)state;
	assert_int_equal(kt_pow2_floor(0), 1);
	assert_int_equal(kt_pow2_floor(1), 1);
	assert_int_equal(kt_pow2_floor(3), 2);
	assert_int_equal(kt_pow2_floor(4), 4);
	assert_int_equal(kt_pow2_floor(1023), 512);
	assert_int_equal(kt_pow2_floor(UINT64_MAX), 1u << 30);
}

/* The smallest power of two whose cost fits: N fits, N / 2 does not. */
static void test_budget_period_is_smallest_fit(void **state)
{
	static const double rates[] = {1e3, 7.5e5, 1e8, 4e8};
	static const double hits[] = {150, 2000, 9000};
	static const double pcts[] = {0.5, 3, 50};

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		for (size_t j = 0; j < sizeof(hits) / sizeof(hits[0]); j++)
			for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
				uint32_t n = kt_budget_period(rates[i], hits[j], pcts[k]);
				double allowed = pcts[k] / 100 * 1e9;

				assert_true(n >= 1 && !(n & (n - 1)));
				assert_true(rates[i] / n * hits[j] <= allowed);
				if (n > 1)
					assert_true(rates[i] / (n / 2) * hits[j] > allowed);
			}
	/* 1e8 ops/s at 2 us a hit under 3 %: 6,667 would do, so 8,192 */
	assert_int_equal(kt_budget_period(1e8, 2000, 3), 8192);
	/* nothing known: every operation */
	assert_int_equal(kt_budget_period(0, 2000, 3), 1);
	assert_int_equal(kt_budget_period(1e8, 0, 3), 1);
}

/* The first step only starts the estimate: a new process runs sparse. */
static void test_step_starts_sparse(void **state)
{
	struct kt_budget b = {0};

	(void)state;
	assert_int_equal(kt_budget_step(&b, 0, 0, 1000 * MS, 0, 2000, 3), KT_BUDGET_START_PERIOD);
	assert_int_equal(kt_budget_step(&b, KT_BUDGET_START_PERIOD, 5000000, 1050 * MS, 0, 2000, 3),
			 KT_BUDGET_START_PERIOD); /* 50 ms: too early to decide */
}

/* 1e8 ops/s of wall time, the process on a CPU all along: as kt_budget_period says. */
static void test_step_rate_per_wall_second(void **state)
{
	struct kt_budget b = {0};
	uint32_t cur = kt_budget_step(&b, 0, 0, 1000 * MS, 5000 * MS, 2000, 3);

	(void)state;
	/* 100 ms later: 1e7 more operations, 100 ms more CPU */
	cur = kt_budget_step(&b, cur, 10000000, 1100 * MS, 5100 * MS, 2000, 3);
	assert_int_equal(cur, 32768); /* falls by half at most from 65536 */
	cur = kt_budget_step(&b, cur, 20000000, 1200 * MS, 5200 * MS, 2000, 3);
	assert_int_equal(cur, 16384);
	cur = kt_budget_step(&b, cur, 30000000, 1300 * MS, 5300 * MS, 2000, 3);
	assert_int_equal(cur, 8192); /* kt_budget_period(1e8, 2000, 3) */
	cur = kt_budget_step(&b, cur, 40000000, 1400 * MS, 5400 * MS, 2000, 3);
	assert_int_equal(cur, 8192); /* steady */
	/* the rate quadruples: the period follows at once */
	cur = kt_budget_step(&b, cur, 80000000, 1500 * MS, 5500 * MS, 2000, 3);
	assert_int_equal(cur, 32768);
}

/* A process that ran 25 of the last 100 ms pays its hits out of those 25 ms. */
static void test_step_rate_per_cpu_second(void **state)
{
	struct kt_budget b = {0}, w = {0};
	uint32_t cur = 8192, wall_only;

	(void)state;
	kt_budget_step(&b, cur, 0, 1000 * MS, 5000 * MS, 2000, 3);
	cur = kt_budget_step(&b, cur, 2500000, 1100 * MS, 5025 * MS, 2000, 3);
	assert_int_equal(cur, kt_budget_period(1e8, 2000, 3)); /* 2.5e6 ops in 25 ms */
	/* the same counts without a CPU clock: priced per wall second */
	kt_budget_step(&w, 8192, 0, 1000 * MS, 0, 2000, 3);
	wall_only = kt_budget_step(&w, 8192, 2500000, 1100 * MS, 0, 2000, 3);
	assert_int_equal(wall_only, 4096); /* 2.5e7 ops/s: 2,048 would do; halving limit */
	/* several threads (CPU time > wall time): per wall second, the higher rate */
	struct kt_budget m = {0};

	kt_budget_step(&m, 8192, 0, 1000 * MS, 5000 * MS, 2000, 3);
	assert_int_equal(kt_budget_step(&m, 8192, 10000000, 1100 * MS, 5200 * MS, 2000, 3),
			 kt_budget_period(1e8, 2000, 3));
}

/* Counts arrive with sampled events: wait for about two periods of them, at most 1 s. */
static void test_step_waits_for_enough_operations(void **state)
{
	struct kt_budget b = {0};
	uint32_t cur = 65536;

	(void)state;
	kt_budget_step(&b, cur, 0, 1000 * MS, 0, 2000, 3);
	assert_int_equal(kt_budget_step(&b, cur, 65536, 1100 * MS, 0, 2000, 3), cur);
	assert_int_equal(kt_budget_step(&b, cur, 65536, 1200 * MS, 0, 2000, 3), cur);
	/* 131072 ops over 300 ms (4.4e5/s): cheap enough for every op, but one halving a step */
	assert_int_equal(kt_budget_step(&b, cur, 131072, 1300 * MS, 0, 2000, 3), 32768);
	/* idle for a second: the period is kept, nothing to price */
	assert_int_equal(kt_budget_step(&b, 32768, 131072, 2400 * MS, 0, 2000, 3), 32768);
}

static void test_proc_cpu_clock(void **state)
{
	uint64_t a, b;
	volatile uint64_t x = 0;

	(void)state;
	a = kt_proc_cpu_ns(getpid());
	assert_true(a > 0);
	/* CPU time only moves forward, and work moves it */
	do {
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
		b = kt_proc_cpu_ns(getpid());
	} while (b == a);
	assert_true(b > a);
	assert_int_equal(kt_proc_cpu_ns(0x7ffffff0), 0); /* no such process */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pow2_floor),
		cmocka_unit_test(test_budget_period_is_smallest_fit),
		cmocka_unit_test(test_step_starts_sparse),
		cmocka_unit_test(test_step_rate_per_wall_second),
		cmocka_unit_test(test_step_rate_per_cpu_second),
		cmocka_unit_test(test_step_waits_for_enough_operations),
		cmocka_unit_test(test_proc_cpu_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
