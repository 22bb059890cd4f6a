/* SPDX-License-Identifier: MIT */
/*
 * kt_hist: percentiles against exact nearest-rank values of sorted data,
 * merge/subtract algebra, edge cases, the log2 table and kt_fmt_ns.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_hist.h"

#define NVAL 20000

/* splitmix64: fixed seeds make every run see the same data */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(void) /* [0, 1) */
{
	return (double)(rng_next() >> 11) * 0x1.0p-53;
}

static double rng_normal(void)
{
	double u1 = 1.0 - rng_unit(), u2 = rng_unit();
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static uint64_t to_ns(double v)
{
	if (v < 0)
		return 0;
	if (v > 1e19)
		return UINT64_MAX;
	return (uint64_t)(v + 0.5);
}

enum dist { UNIFORM, EXPONENTIAL, LOGNORMAL, BIMODAL, CONSTANT, SPAN, SMALL, PARETO };

static uint64_t draw(enum dist d)
{
	switch (d) {
	case UNIFORM: /* 1 ns .. 1 ms */
		return 1 + rng_next() % 1000000;
	case EXPONENTIAL: /* mean 2 us; includes a few 0 ns */
		return to_ns(-2000.0 * log(1.0 - rng_unit()));
	case LOGNORMAL: /* median 5 us, sigma 1.2 */
		return to_ns(exp(log(5000.0) + 1.2 * rng_normal()));
	case BIMODAL: /* 90 % fast path 60-120 ns, 10 % slow path 40-60 us */
		if (rng_next() % 10)
			return 60 + rng_next() % 61;
		return 40000 + rng_next() % 20001;
	case CONSTANT:
		return 1234;
	case SPAN: /* log-uniform over the whole range 1 ns .. 100 s */
		return to_ns(exp(rng_unit() * log((double)KT_HIST_MAX_VALUE)));
	case SMALL: /* the exact region */
		return rng_next() % 64;
	case PARETO: /* heavy tail from 200 ns, alpha 1.1 */
		return to_ns(200.0 / pow(1.0 - rng_unit(), 1.0 / 1.1));
	}
	return 0;
}

static const char *const dist_name[] = {"uniform",  "exponential", "lognormal", "bimodal",
					"constant", "span",	   "small",	"pareto"};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Percentiles to check, in units of 1e-7 % so that the test's own rank
 * arithmetic is exact integer maths: ceil(p * n / 100), at least 1.
 */
static uint64_t exact_rank(uint64_t p_e7, uint64_t n)
{
	uint64_t r = (p_e7 * n + 999999999ull) / 1000000000ull;
	return r < 1 ? 1 : r;
}

static void check_close(uint64_t exact, uint64_t got, const char *what, double p)
{
	if (exact == 0) {
		if (got != 0) {
			print_error("%s p%.5f: exact 0, got %llu\n", what, p,
				    (unsigned long long)got);
			fail();
		}
		return;
	}
	double err = fabs((double)got - (double)exact) / (double)exact;
	if (err > KT_HIST_REL_ERROR || err > 0.02) {
		print_error("%s p%.5f: exact %llu, got %llu, error %.4f %%\n", what, p,
			    (unsigned long long)exact, (unsigned long long)got, err * 100);
		fail();
	}
}

static void check_dist(enum dist d, uint64_t seed)
{
	uint64_t *v = malloc(NVAL * sizeof(*v));
	struct kt_hist *h = malloc(sizeof(*h));
	assert_non_null(v);
	assert_non_null(h);

	rng_state = seed;
	kt_hist_init(h);
	unsigned __int128 sum = 0;
	for (size_t i = 0; i < NVAL; i++) {
		v[i] = draw(d);
		sum += v[i];
		kt_hist_record(h, v[i]);
	}
	qsort(v, NVAL, sizeof(*v), cmp_u64);

	assert_int_equal(kt_hist_count(h), NVAL);
	assert_int_equal(kt_hist_min(h), v[0]);
	assert_int_equal(kt_hist_max(h), v[NVAL - 1]);
	double mean = (double)sum / NVAL;
	assert_true(fabs(kt_hist_mean(h) - mean) <= 1e-9 * mean);

	/* every integer percentile plus the tails people actually read */
	uint64_t ps[128];
	size_t np = 0;
	for (uint64_t p = 0; p <= 100; p++)
		ps[np++] = p * 10000000ull;
	const uint64_t extra[] = {1000000,   5000000,	333000000, 995000000,
				  999000000, 999900000, 999990000, 999999900};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		ps[np++] = extra[i];

	for (size_t i = 0; i < np; i++) {
		double p = (double)ps[i] / 1e7;
		uint64_t rank = exact_rank(ps[i], NVAL);
		assert_int_equal(kt_hist_rank(p, NVAL), rank);
		uint64_t exact = v[rank - 1];
		uint64_t got = kt_hist_percentile(h, p);
		check_close(exact, got, dist_name[d], p);
		if (d == SMALL || d == CONSTANT)
			assert_int_equal(got, exact); /* exact region / single value */
	}

	/* the ends are exact by definition */
	assert_int_equal(kt_hist_percentile(h, 0), v[0]);
	assert_int_equal(kt_hist_percentile(h, 100), v[NVAL - 1]);

	struct kt_hist_summary s;
	kt_hist_summary(h, &s);
	assert_int_equal(s.count, NVAL);
	assert_int_equal(s.min, v[0]);
	assert_int_equal(s.max, v[NVAL - 1]);
	assert_int_equal(s.p50, kt_hist_percentile(h, 50));
	assert_int_equal(s.p90, kt_hist_percentile(h, 90));
	assert_int_equal(s.p99, kt_hist_percentile(h, 99));
	assert_int_equal(s.p999, kt_hist_percentile(h, 99.9));
	check_close(v[exact_rank(999000000, NVAL) - 1], s.p999, "summary p999", 99.9);
	assert_true(s.mean == kt_hist_mean(h));

	free(v);
	free(h);
}

static void test_uniform(void **state)
{
	(void)state;
	check_dist(UNIFORM, 1);
}

static void test_exponential(void **state)
{
	(void)state;
	check_dist(EXPONENTIAL, 2);
}

static void test_lognormal(void **state)
{
	(void)state;
	check_dist(LOGNORMAL, 3);
}

static void test_bimodal(void **state)
{
	(void)state;
	check_dist(BIMODAL, 4);
}

static void test_constant(void **state)
{
	(void)state;
	check_dist(CONSTANT, 5);
}

static void test_span(void **state)
{
	(void)state;
	check_dist(SPAN, 6);
}

static void test_small_exact(void **state)
{
	(void)state;
	check_dist(SMALL, 7);
}

static void test_pareto(void **state)
{
	(void)state;
	check_dist(PARETO, 8);
}

/* Every bucket is contiguous with the next, maps back to itself, and is narrow enough. */
static void test_bucket_geometry(void **state)
{
	(void)state;
	assert_int_equal(kt_hist_index(0), 0);
	assert_int_equal(kt_hist_bucket_lo(0), 0);
	for (size_t i = 0; i < KT_HIST_NBUCKETS; i++) {
		uint64_t lo = kt_hist_bucket_lo(i), hi = kt_hist_bucket_hi(i);
		assert_true(lo <= hi);
		assert_int_equal(kt_hist_index(lo), i);
		assert_int_equal(kt_hist_index(hi), i);
		assert_int_equal(kt_hist_bucket_lo(i + 1), hi + 1);
		if (lo < 64)
			assert_int_equal(hi, lo); /* exact region */
		else
			assert_true((hi - lo + 1) * KT_HIST_SUB_COUNT <= lo);
	}
	assert_int_equal(kt_hist_index(KT_HIST_MAX_VALUE), KT_HIST_NBUCKETS - 1);
	assert_int_equal(kt_hist_bucket_hi(KT_HIST_NBUCKETS - 1), KT_HIST_MAX_VALUE);
	assert_int_equal(kt_hist_index(KT_HIST_MAX_VALUE + 1), KT_HIST_OVERFLOW);
	assert_int_equal(kt_hist_index(UINT64_MAX), KT_HIST_OVERFLOW);
	assert_true(kt_hist_bucket_hi(KT_HIST_OVERFLOW) == UINT64_MAX);
	assert_true(sizeof(struct kt_hist) < 9000);
}

static void test_rank(void **state)
{
	(void)state;
	assert_int_equal(kt_hist_rank(50, 0), 0);
	assert_int_equal(kt_hist_rank(0, 10), 1);
	assert_int_equal(kt_hist_rank(50, 1), 1);
	assert_int_equal(kt_hist_rank(50, 10), 5);
	assert_int_equal(kt_hist_rank(50, 11), 6);
	assert_int_equal(kt_hist_rank(99, 1000), 990);
	assert_int_equal(kt_hist_rank(99.9, 1000), 999); /* 99.9 % is not exact in binary */
	assert_int_equal(kt_hist_rank(99.9, 1001), 1000);
	/* 0.57 * 1e7 and 0.043 * 1e7 fall just below the integer in binary */
	assert_int_equal(kt_hist_rank(0.57, 100000000), 570000);
	assert_int_equal(kt_hist_rank(0.043, 1000000000), 430000);
	assert_int_equal(kt_hist_rank(100, 1000), 1000);
	assert_int_equal(kt_hist_rank(150, 7), 7);
	assert_int_equal(kt_hist_rank(-3, 7), 1);
	assert_int_equal(kt_hist_rank(NAN, 7), 1);
	assert_int_equal(kt_hist_rank(50, UINT64_MAX), UINT64_MAX / 2 + 1);
}

static void fill(struct kt_hist *h, uint64_t seed, size_t n)
{
	rng_state = seed;
	for (size_t i = 0; i < n; i++)
		kt_hist_record(h, draw((enum dist)(i % 8)));
}

static void test_merge_halves(void **state)
{
	(void)state;
	static struct kt_hist a, b, whole;
	uint64_t *v = malloc(NVAL * sizeof(*v));
	assert_non_null(v);
	rng_state = 42;
	for (size_t i = 0; i < NVAL; i++)
		v[i] = draw((enum dist)(i % 8));
	kt_hist_init(&a);
	kt_hist_init(&b);
	kt_hist_init(&whole);
	for (size_t i = 0; i < NVAL; i++) {
		kt_hist_record(i < NVAL / 2 ? &a : &b, v[i]);
		kt_hist_record(&whole, v[i]);
	}
	assert_true(memcmp(&a, &whole, sizeof(a)) != 0);
	kt_hist_merge(&a, &b);
	assert_memory_equal(&a, &whole, sizeof(a));
	assert_int_equal(kt_hist_percentile(&a, 99), kt_hist_percentile(&whole, 99));

	/* merging an empty histogram changes nothing, also min/max */
	struct kt_hist *e = malloc(sizeof(*e));
	assert_non_null(e);
	kt_hist_init(e);
	kt_hist_merge(&a, e);
	assert_memory_equal(&a, &whole, sizeof(a));
	kt_hist_merge(e, &whole);
	assert_memory_equal(e, &whole, sizeof(*e));
	free(e);
	free(v);
}

static void test_subtract(void **state)
{
	(void)state;
	static struct kt_hist a, b, m, before;
	kt_hist_init(&a);
	kt_hist_init(&b);
	fill(&a, 100, NVAL / 2);
	fill(&b, 200, NVAL / 2);

	kt_hist_copy(&m, &a);
	kt_hist_merge(&m, &b);
	assert_int_equal(kt_hist_subtract(&m, &b), 0);
	assert_int_equal(m.count, a.count);
	assert_true(m.sum == a.sum);
	assert_memory_equal(m.counts, a.counts, sizeof(a.counts));
	assert_true(kt_hist_mean(&m) == kt_hist_mean(&a));
	/* min/max after a subtract: estimates within the percentile bound */
	assert_int_equal(kt_hist_index(kt_hist_min(&m)), kt_hist_index(kt_hist_min(&a)));
	assert_int_equal(kt_hist_index(kt_hist_max(&m)), kt_hist_index(kt_hist_max(&a)));
	check_close(kt_hist_min(&a), kt_hist_min(&m), "subtract min", 0);
	check_close(kt_hist_max(&a), kt_hist_max(&m), "subtract max", 100);

	/*
	 * Window arithmetic: a cumulative histogram minus an earlier snapshot
	 * of it. The window's min sits at the top of its bucket: the hardest
	 * case for the min estimate.
	 */
	static struct kt_hist cum, snap, win;
	kt_hist_init(&cum);
	kt_hist_init(&win);
	for (uint64_t i = 0; i < 1000; i++)
		kt_hist_record(&cum, 10 + i % 50);
	kt_hist_copy(&snap, &cum);
	uint64_t base = kt_hist_bucket_hi(kt_hist_index(5000000));
	for (uint64_t i = 0; i < 1000; i++) {
		kt_hist_record(&cum, base + i * 1000);
		kt_hist_record(&win, base + i * 1000);
	}
	assert_int_equal(kt_hist_subtract(&cum, &snap), 0);
	assert_memory_equal(cum.counts, win.counts, sizeof(win.counts));
	assert_int_equal(kt_hist_count(&cum), 1000);
	assert_true(kt_hist_mean(&cum) == kt_hist_mean(&win));
	check_close(kt_hist_min(&win), kt_hist_min(&cum), "window min", 0);
	check_close(kt_hist_max(&win), kt_hist_max(&cum), "window max", 100);
	assert_true(kt_hist_min(&cum) <= kt_hist_max(&cum));
	for (double p = 1; p <= 100; p += 1)
		check_close(kt_hist_percentile(&win, p), kt_hist_percentile(&cum, p), "window", p);

	/*
	 * The old min/max narrow the estimate: here the window holds the
	 * overall min at the top of its bucket and the overall max at the
	 * bottom of its bucket, so both come out exact.
	 */
	kt_hist_init(&cum);
	kt_hist_record_n(&cum, 20000000, 50);
	kt_hist_copy(&snap, &cum);
	uint64_t wmin = kt_hist_bucket_hi(kt_hist_index(5000000));
	uint64_t wmax = kt_hist_bucket_lo(kt_hist_index(90000000));
	kt_hist_record(&cum, wmin);
	kt_hist_record(&cum, wmax);
	kt_hist_record(&cum, 30000000);
	assert_int_equal(kt_hist_subtract(&cum, &snap), 0);
	assert_int_equal(kt_hist_min(&cum), wmin);
	assert_int_equal(kt_hist_max(&cum), wmax);

	/* the old max left with the snapshot: the estimate must stay within the bound */
	kt_hist_init(&cum);
	kt_hist_record_n(&cum, 2000000000, 5);
	kt_hist_copy(&snap, &cum);
	kt_hist_record(&cum, wmax);
	kt_hist_record(&cum, wmin);
	assert_int_equal(kt_hist_subtract(&cum, &snap), 0);
	check_close(wmax, kt_hist_max(&cum), "window max below old max", 100);
	assert_int_equal(kt_hist_min(&cum), wmin);

	/* one value left, the old max gone: min and max must not cross */
	kt_hist_init(&cum);
	kt_hist_record_n(&cum, 2000000000, 5);
	kt_hist_copy(&snap, &cum);
	kt_hist_record(&cum, wmin);
	assert_int_equal(kt_hist_subtract(&cum, &snap), 0);
	assert_int_equal(kt_hist_min(&cum), wmin);
	assert_int_equal(kt_hist_max(&cum), wmin);

	/* src not contained in dst: refused, dst untouched */
	kt_hist_copy(&before, &a);
	assert_int_equal(kt_hist_subtract(&a, &b), -EINVAL);
	assert_memory_equal(&a, &before, sizeof(a));
	kt_hist_copy(&m, &a);
	kt_hist_record(&m, 7);
	assert_int_equal(kt_hist_subtract(&a, &m), -EINVAL);
	assert_memory_equal(&a, &before, sizeof(a));

	/* subtracting everything leaves an empty histogram */
	assert_int_equal(kt_hist_subtract(&a, &before), 0);
	assert_int_equal(kt_hist_count(&a), 0);
	assert_int_equal(kt_hist_min(&a), 0);
	assert_int_equal(kt_hist_max(&a), 0);
	assert_int_equal(kt_hist_percentile(&a, 50), 0);
	kt_hist_init(&b);
	assert_memory_equal(&a, &b, sizeof(a));
}

static void test_record_n(void **state)
{
	(void)state;
	static struct kt_hist h, loop, fresh;
	kt_hist_init(&h);
	kt_hist_init(&loop);
	kt_hist_init(&fresh);

	kt_hist_record_n(&h, 777, 0);
	assert_memory_equal(&h, &fresh, sizeof(h));

	kt_hist_record_n(&h, 500, 1000);
	kt_hist_record_n(&h, 5000000, 10);
	for (int i = 0; i < 1000; i++)
		kt_hist_record(&loop, 500);
	for (int i = 0; i < 10; i++)
		kt_hist_record(&loop, 5000000);
	assert_memory_equal(&h, &loop, sizeof(h));

	assert_int_equal(kt_hist_count(&h), 1010);
	assert_int_equal(kt_hist_min(&h), 500);
	assert_int_equal(kt_hist_max(&h), 5000000);
	assert_int_equal(kt_hist_percentile(&h, 50), 500);
	assert_int_equal(kt_hist_percentile(&h, 99), 500); /* rank 1000 of 1010 */
	check_close(5000000, kt_hist_percentile(&h, 99.9), "record_n", 99.9); /* rank 1009 */
	double mean = (500.0 * 1000 + 5000000.0 * 10) / 1010;
	assert_true(fabs(kt_hist_mean(&h) - mean) < 1e-9 * mean);

	/* large counts do not wrap the sum */
	kt_hist_init(&h);
	kt_hist_record_n(&h, KT_HIST_MAX_VALUE, 1ull << 40);
	assert_true(fabs(kt_hist_mean(&h) - (double)KT_HIST_MAX_VALUE) < 1.0);
}

static void test_empty(void **state)
{
	(void)state;
	static struct kt_hist h;
	struct kt_hist_summary s;
	kt_hist_init(&h);
	assert_int_equal(kt_hist_count(&h), 0);
	assert_int_equal(kt_hist_min(&h), 0);
	assert_int_equal(kt_hist_max(&h), 0);
	assert_true(kt_hist_mean(&h) == 0.0);
	assert_int_equal(kt_hist_percentile(&h, 0), 0);
	assert_int_equal(kt_hist_percentile(&h, 50), 0);
	assert_int_equal(kt_hist_percentile(&h, 100), 0);
	memset(&s, 0xff, sizeof(s));
	kt_hist_summary(&h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.min, 0);
	assert_int_equal(s.p50, 0);
	assert_int_equal(s.p999, 0);
	assert_int_equal(s.max, 0);
	assert_true(s.mean == 0.0);

	/* reset returns to exactly this state */
	static struct kt_hist r;
	kt_hist_init(&r);
	fill(&r, 9, 100);
	kt_hist_reset(&r);
	assert_memory_equal(&r, &h, sizeof(h));
}

static void test_zero_and_overflow(void **state)
{
	(void)state;
	static struct kt_hist h;
	kt_hist_init(&h);
	kt_hist_record(&h, 0);
	assert_int_equal(kt_hist_count(&h), 1);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(kt_hist_min(&h), 0);
	assert_int_equal(kt_hist_max(&h), 0);
	assert_int_equal(kt_hist_percentile(&h, 50), 0);

	/* 98 small values and two above 100 s */
	kt_hist_init(&h);
	for (int i = 0; i < 98; i++)
		kt_hist_record(&h, 1000);
	kt_hist_record(&h, 150000000000ull);
	kt_hist_record(&h, 300000000000ull);
	assert_int_equal(kt_hist_count(&h), 100);
	assert_int_equal(h.counts[KT_HIST_OVERFLOW], 2);
	assert_int_equal(kt_hist_max(&h), 300000000000ull);
	assert_int_equal(kt_hist_percentile(&h, 98), 1000);
	assert_int_equal(kt_hist_percentile(&h, 99), 300000000000ull); /* overflow reports max */
	assert_int_equal(kt_hist_percentile(&h, 100), 300000000000ull);
	double mean = (98.0 * 1000 + 450e9) / 100;
	assert_true(fabs(kt_hist_mean(&h) - mean) < 1e-6 * mean);

	/* exactly 100 s is still a regular value */
	kt_hist_init(&h);
	kt_hist_record(&h, KT_HIST_MAX_VALUE);
	assert_int_equal(h.counts[KT_HIST_OVERFLOW], 0);
	assert_int_equal(h.counts[KT_HIST_NBUCKETS - 1], 1);
	kt_hist_record(&h, UINT64_MAX);
	assert_int_equal(h.counts[KT_HIST_OVERFLOW], 1);
	assert_true(kt_hist_max(&h) == UINT64_MAX);
	assert_true(fabs(kt_hist_mean(&h) - ((double)UINT64_MAX + 1e11) / 2) < 1e4);

	/* out-of-range p is clamped */
	kt_hist_init(&h);
	for (uint64_t i = 1; i <= 100; i++)
		kt_hist_record(&h, i * 1000);
	assert_int_equal(kt_hist_percentile(&h, -1), 1000);
	assert_int_equal(kt_hist_percentile(&h, NAN), 1000);
	assert_int_equal(kt_hist_percentile(&h, 1000), 100000);
}

/* ------------------------------------------------------------ log2 printing */

static char *print_to_string(const struct kt_hist *h, const char *label, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);
	assert_non_null(fp);
	assert_int_equal(kt_hist_print_log2(fp, h, label), 0);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void expect_row(const char *out, const char *label, uint64_t count, size_t ats)
{
	char line[128], bar[41];
	memset(bar, ' ', 40);
	memset(bar, '@', ats);
	bar[40] = '\0';
	snprintf(line, sizeof(line), "\n%-16s %10llu |%s|\n", label, (unsigned long long)count,
		 bar);
	if (!strstr(out, line)) {
		print_error("row not found:%s--- in ---\n%s", line, out);
		fail();
	}
}

static void test_print_log2(void **state)
{
	(void)state;
	static struct kt_hist h;
	size_t len;
	kt_hist_init(&h);

	char *out = print_to_string(&h, "latency", &len);
	assert_int_equal(len, 0); /* empty: nothing */
	free(out);

	kt_hist_record_n(&h, 50, 10);	 /* [32ns, 64ns) */
	kt_hist_record_n(&h, 1500, 100); /* [1us, 2us) */
	kt_hist_record_n(&h, 3000, 50);	 /* [2us, 4us) */
	kt_hist_record_n(&h, 700, 1);	 /* [512ns, 1us) */
	out = print_to_string(&h, "send", &len);
	assert_int_equal(strncmp(out, "send ", 5), 0);
	assert_non_null(strstr(out, "count"));
	/* header + rows [32ns,64ns) .. [2us,4us): 7 rows, leading/trailing empties skipped */
	assert_int_equal(count_lines(out), 8);
	expect_row(out, "[32ns, 64ns)", 10, 4);
	expect_row(out, "[64ns, 128ns)", 0, 0);
	expect_row(out, "[256ns, 512ns)", 0, 0);
	expect_row(out, "[512ns, 1us)", 1, 1); /* non-empty row keeps one '@' */
	expect_row(out, "[1us, 2us)", 100, 40);
	expect_row(out, "[2us, 4us)", 50, 20);
	assert_null(strstr(out, "[16ns, 32ns)"));
	assert_null(strstr(out, "[4us, 8us)"));
	free(out);

	/* zero, the unit ladder up to seconds, and the overflow row */
	kt_hist_init(&h);
	kt_hist_record(&h, 0);
	kt_hist_record_n(&h, 3000000, 4);	  /* [2ms, 4ms) */
	kt_hist_record_n(&h, 700000000ull, 2);	  /* [512ms, 1s) */
	kt_hist_record(&h, 80000000000ull);	  /* [64s, 100s] */
	kt_hist_record_n(&h, 400000000000ull, 8); /* (100s, ...) */
	out = print_to_string(&h, NULL, &len);
	assert_int_equal(strncmp(out, "latency ", 8), 0);
	expect_row(out, "[0ns, 1ns)", 1, 5);
	expect_row(out, "[1ns, 2ns)", 0, 0);
	expect_row(out, "[2ms, 4ms)", 4, 20);
	expect_row(out, "[512ms, 1s)", 2, 10);
	expect_row(out, "[1s, 2s)", 0, 0);
	expect_row(out, "[64s, 100s]", 1, 5);
	expect_row(out, "(100s, ...)", 8, 40);
	/* 1 zero row + 10 ns + 10 us + 10 ms + 7 s rows + overflow */
	assert_int_equal(count_lines(out), 1 + 39);
	free(out);
}

static void expect_fmt(uint64_t ns, const char *want)
{
	char buf[32];
	assert_ptr_equal(kt_fmt_ns(buf, sizeof(buf), ns), buf);
	assert_string_equal(buf, want);
}

static void test_fmt_ns(void **state)
{
	(void)state;
	expect_fmt(0, "0ns");
	expect_fmt(850, "850ns");
	expect_fmt(999, "999ns");
	expect_fmt(1000, "1.00us");
	expect_fmt(1250, "1.25us");
	expect_fmt(1254, "1.25us");
	expect_fmt(1255, "1.26us"); /* half up */
	expect_fmt(999994, "999.99us");
	expect_fmt(999995, "1.00ms"); /* rounds into the next unit */
	expect_fmt(3400000, "3.40ms");
	expect_fmt(2000000000ull, "2.00s");
	expect_fmt(999999999ull, "1.00s");
	expect_fmt(3600000000000ull, "3600.00s");
	expect_fmt(UINT64_MAX, "18446744073.71s");

	char small[4];
	kt_fmt_ns(small, sizeof(small), 1250);
	assert_string_equal(small, "1.2"); /* truncated, still terminated */
	assert_null(kt_fmt_ns(NULL, 0, 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_geometry),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_exponential),
		cmocka_unit_test(test_lognormal),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_pareto),
		cmocka_unit_test(test_merge_halves),
		cmocka_unit_test(test_subtract),
		cmocka_unit_test(test_record_n),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_zero_and_overflow),
		cmocka_unit_test(test_print_log2),
		cmocka_unit_test(test_fmt_ns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
