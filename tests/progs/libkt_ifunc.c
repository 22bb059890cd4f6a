// SPDX-License-Identifier: MIT
/*
 * An exported IFUNC for kaos-trace --func (tests/integration/test_func_symbols.sh):
 * kt_ifunc_sum's resolver picks sum_unrolled, never sum_plain, and the
 * library never calls it itself (no IRELATIVE slot): the choice is only in
 * the GOT slots of its callers (kt_symbols --ifunc).
 */
#include <stddef.h>

typedef long (*sum_fn)(const long *v, int n);

static __attribute__((noinline, used)) long sum_plain(const long *v, int n)
{
	long s = 0;

	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

static __attribute__((noinline, used)) long sum_unrolled(const long *v, int n)
{
	long a = 0, b = 0;
	int i = 0;

	for (; i + 1 < n; i += 2) {
		a += v[i];
		b += v[i + 1];
	}
	return a + b + (i < n ? v[i] : 0);
}

static sum_fn resolve_sum(void)
{
	return sum_unrolled;
}

long kt_ifunc_sum(const long *v, int n) __attribute__((ifunc("resolve_sum")));
