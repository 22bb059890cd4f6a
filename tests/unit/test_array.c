/* SPDX-License-Identifier: MIT */
/*
 * kt_array, the one growable array: appends keep every element (ASan sees
 * any write past the capacity), the capacity doubles, a reservation within
 * the capacity moves nothing, and sizes that overflow fail with -ENOMEM
 * leaving the array as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_array.h"

struct item {
	uint64_t a, b;
};

static void test_appends_keep_elements(void **state)
{
	(void)state;
	struct item *v = NULL;
	size_t n = 0, cap = 0, reallocs = 0;

	for (uint64_t i = 0; i < 5000; i++) {
		size_t old = cap;

		assert_int_equal(kt_array_reserve(v, cap, n + 1), 0);
		reallocs += cap != old;
		assert_true(cap >= n + 1);
		v[n++] = (struct item){i, ~i};
	}
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(v[i].a, i);
		assert_int_equal(v[i].b, ~i);
	}
	assert_int_equal(cap, 8192); /* 16, 32, ... doubled */
	assert_int_equal(reallocs, 10);
	free(v);
}

static void test_first_and_large_reservations(void **state)
{
	(void)state;
	char *s = NULL;
	size_t cap = 0;
	char *before;

	assert_int_equal(kt_array_reserve(s, cap, 1), 0);
	assert_int_equal(cap, KT_ARRAY_MIN);
	/* more than double at once: exactly what is needed */
	assert_int_equal(kt_array_reserve(s, cap, 1000), 0);
	assert_int_equal(cap, 1000);
	for (size_t i = 0; i < cap; i++) /* ASan: all of it is there */
		s[i] = 'x';
	before = s;
	assert_int_equal(kt_array_reserve(s, cap, 1000), 0);
	assert_int_equal(kt_array_reserve(s, cap, 0), 0);
	assert_ptr_equal(s, before);
	assert_int_equal(cap, 1000);
	free(s);
}

static void test_overflow_fails_unchanged(void **state)
{
	(void)state;
	struct item *v = NULL;
	size_t cap = 0;
	struct item *before;

	assert_int_equal(kt_array_reserve(v, cap, 3), 0);
	v[0].a = 7;
	before = v;
	assert_int_equal(kt_array_reserve(v, cap, SIZE_MAX / sizeof(*v) + 1), -ENOMEM);
	assert_int_equal(kt_array_reserve(v, cap, SIZE_MAX), -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, KT_ARRAY_MIN);
	assert_int_equal(v[0].a, 7);
	free(v);
}

static void test_next_cap_bounds(void **state)
{
	(void)state;
	assert_int_equal(kt_array_next_cap(0, 1, 1000), KT_ARRAY_MIN);
	assert_int_equal(kt_array_next_cap(16, 17, 1000), 32);
	/* doubling would pass the largest count: the largest count */
	assert_int_equal(kt_array_next_cap(600, 601, 1000), 1000);
	assert_int_equal(kt_array_next_cap(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2, SIZE_MAX), SIZE_MAX);
	assert_int_equal(kt_array_next_cap(600, 1001, 1000), 0);
	assert_int_equal(kt_array_next_cap(0, 1, 4), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_keep_elements),
		cmocka_unit_test(test_first_and_large_reservations),
		cmocka_unit_test(test_overflow_fails_unchanged),
		cmocka_unit_test(test_next_cap_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
