/* SPDX-License-Identifier: MIT */
#include "kt_hist.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct kt_hist) == 48 + 8 * (KT_HIST_NBUCKETS + 1),
	       "struct kt_hist must have no holes (merge/compare rely on it)");

void kt_hist_init(struct kt_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void kt_hist_reset(struct kt_hist *h)
{
	kt_hist_init(h);
}

void kt_hist_copy(struct kt_hist *dst, const struct kt_hist *src)
{
	memcpy(dst, src, sizeof(*dst));
}

size_t kt_hist_index(uint64_t v)
{
	if (v < KT_HIST_SUB_COUNT)
		return (size_t)v;
	if (v > KT_HIST_MAX_VALUE)
		return KT_HIST_OVERFLOW;
	/*
	 * v in [2^e, 2^(e+1)), e >= 5: sub-bucket width 2^shift with
	 * shift = e - 5, and v >> shift in [32, 64) picks the sub-bucket.
	 * Each power of two adds 32 indexes, hence (shift << 5).
	 */
	unsigned int e = 63 - (unsigned int)__builtin_clzll(v);
	unsigned int shift = e - KT_HIST_SUB_BITS;
	return ((size_t)shift << KT_HIST_SUB_BITS) + (size_t)(v >> shift);
}

uint64_t kt_hist_bucket_lo(size_t idx)
{
	if (idx < KT_HIST_SUB_COUNT)
		return idx;
	if (idx >= KT_HIST_OVERFLOW)
		return KT_HIST_MAX_VALUE + 1;
	unsigned int shift = (unsigned int)(idx >> KT_HIST_SUB_BITS) - 1;
	uint64_t mantissa = KT_HIST_SUB_COUNT + (idx & (KT_HIST_SUB_COUNT - 1));
	return mantissa << shift;
}

uint64_t kt_hist_bucket_hi(size_t idx)
{
	if (idx >= KT_HIST_OVERFLOW)
		return UINT64_MAX;
	if (idx == KT_HIST_OVERFLOW - 1)
		return KT_HIST_MAX_VALUE; /* the top bucket is cut at the max */
	return kt_hist_bucket_lo(idx + 1) - 1;
}

void kt_hist_record_n(struct kt_hist *h, uint64_t value, uint64_t n)
{
	if (n == 0)
		return;
	h->counts[kt_hist_index(value)] += n;
	h->count += n;
	h->sum += (unsigned __int128)value * n;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void kt_hist_record(struct kt_hist *h, uint64_t value)
{
	kt_hist_record_n(h, value, 1);
}

void kt_hist_merge(struct kt_hist *dst, const struct kt_hist *src)
{
	if (src->count == 0)
		return;
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

int kt_hist_subtract(struct kt_hist *dst, const struct kt_hist *src)
{
	if (src->count > dst->count || src->sum > dst->sum)
		return -EINVAL;
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++)
		if (src->counts[i] > dst->counts[i])
			return -EINVAL;
	if (src->count == 0)
		return 0;

	size_t first = SIZE_MAX, last = 0;
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++) {
		dst->counts[i] -= src->counts[i];
		if (dst->counts[i]) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	}
	dst->count -= src->count;
	dst->sum -= src->sum;
	if (first == SIZE_MAX) {
		kt_hist_init(dst);
		return 0;
	}
	/*
	 * The true min lies in the first non-empty bucket and not below the
	 * old min: report the middle of that interval, which keeps the error
	 * within KT_HIST_REL_ERROR. Same for the max. Above KT_HIST_MAX_VALUE
	 * only the old max is known.
	 */
	uint64_t lo = kt_hist_bucket_lo(first), hi = kt_hist_bucket_hi(first);
	lo = clamp_u64(dst->min, lo, hi);
	dst->min = lo + (hi - lo) / 2;
	if (last != KT_HIST_OVERFLOW) {
		lo = kt_hist_bucket_lo(last);
		hi = clamp_u64(dst->max, lo, kt_hist_bucket_hi(last));
		dst->max = lo + (hi - lo) / 2;
	}
	if (dst->max < dst->min)
		dst->max = dst->min; /* one bucket left: both estimates of one interval */
	return 0;
}

uint64_t kt_hist_count(const struct kt_hist *h)
{
	return h->count;
}

uint64_t kt_hist_min(const struct kt_hist *h)
{
	return h->count ? h->min : 0;
}

uint64_t kt_hist_max(const struct kt_hist *h)
{
	return h->count ? h->max : 0;
}

double kt_hist_mean(const struct kt_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

uint64_t kt_hist_rank(double p, uint64_t count)
{
	if (count == 0)
		return 0;
	/* p in units of 1e-7 %, integer from here on: 99.9 must give exactly rank 999 of 1000 */
	if (!(p > 0.0))
		p = 0.0; /* also NaN */
	if (p > 100.0)
		p = 100.0;
	const uint64_t scale = 1000000000ull; /* 100 % */
	uint64_t ppb = (uint64_t)(p * 1e7 + 0.5);
	unsigned __int128 r = ((unsigned __int128)ppb * count + scale - 1) / scale;
	if (r < 1)
		r = 1;
	if (r > count)
		r = count;
	return (uint64_t)r;
}

/* Value reported for the nearest-rank `rank` (1..count); see kt_hist.h. */
static uint64_t value_at_rank(const struct kt_hist *h, size_t idx, uint64_t rank)
{
	if (rank <= 1)
		return h->min;
	if (rank >= h->count || idx == KT_HIST_OVERFLOW)
		return h->max;
	uint64_t lo = kt_hist_bucket_lo(idx);
	uint64_t mid = lo + (kt_hist_bucket_hi(idx) - lo) / 2;
	return clamp_u64(mid, h->min, h->max);
}

/* Fills out[i] for ranks[i] (non-decreasing, each in 1..count) in one walk. */
static void values_at_ranks(const struct kt_hist *h, const uint64_t *ranks, uint64_t *out, size_t n)
{
	uint64_t cum = 0;
	size_t idx = 0, k = 0;

	while (k < n) {
		while (idx < KT_HIST_OVERFLOW && cum + h->counts[idx] < ranks[k])
			cum += h->counts[idx++];
		/* ranks[k] <= count, so the walk stops at the latest in the overflow bucket */
		out[k] = value_at_rank(h, idx, ranks[k]);
		k++;
	}
}

uint64_t kt_hist_percentile(const struct kt_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = kt_hist_rank(p, h->count), v;
	values_at_ranks(h, &rank, &v, 1);
	return v;
}

void kt_hist_summary(const struct kt_hist *h, struct kt_hist_summary *s)
{
	memset(s, 0, sizeof(*s));
	if (h->count == 0)
		return;
	const double ps[4] = {50.0, 90.0, 99.0, 99.9};
	uint64_t ranks[4], v[4];
	for (size_t i = 0; i < 4; i++)
		ranks[i] = kt_hist_rank(ps[i], h->count);
	values_at_ranks(h, ranks, v, 4);
	s->count = h->count;
	s->min = h->min;
	s->p50 = v[0];
	s->p90 = v[1];
	s->p99 = v[2];
	s->p999 = v[3];
	s->max = h->max;
	s->mean = kt_hist_mean(h);
}

/* ------------------------------------------------------------------ printing */

const char *kt_fmt_ns(char *buf, size_t n, uint64_t ns)
{
	static const struct {
		uint64_t div;
		const char *name;
	} units[] = {{1000ull, "us"}, {1000000ull, "ms"}, {1000000000ull, "s"}};

	if (!buf || n == 0)
		return buf;
	if (ns < 1000) {
		snprintf(buf, n, "%lluns", (unsigned long long)ns);
		return buf;
	}
	for (size_t u = 0; u < 3; u++) {
		/* hundredths of the unit, rounded half up */
		uint64_t step = units[u].div / 100;
		uint64_t c = ns / step + ((ns % step) * 2 >= step ? 1 : 0);
		if (c >= 100000 && u < 2)
			continue; /* "1000.00us" reads better as "1.00ms" */
		snprintf(buf, n, "%llu.%02llu%s", (unsigned long long)(c / 100),
			 (unsigned long long)(c % 100), units[u].name);
		break;
	}
	return buf;
}

/*
 * Row i covers [row_lo[i], row_lo[i + 1]); rows double within a unit and
 * restart at 1us/1ms/1s so that every label is a round number.
 */
#define NROWS (1 + 10 + 10 + 10 + 7 + 1)

static void row_bounds(uint64_t lo[NROWS])
{
	static const uint64_t units[3] = {1ull, 1000ull, 1000000ull};
	size_t r = 0;

	lo[r++] = 0;
	for (size_t u = 0; u < 3; u++)
		for (unsigned int j = 0; j < 10; j++)
			lo[r++] = units[u] << j;
	for (unsigned int j = 0; j < 7; j++)
		lo[r++] = 1000000000ull << j; /* 1s .. 64s; then the cut at 100 s */
	lo[r++] = KT_HIST_MAX_VALUE + 1;      /* overflow row */
}

static void fmt_bound(char *buf, size_t n, uint64_t v)
{
	if (v < 1000 || v % 1000)
		snprintf(buf, n, "%lluns", (unsigned long long)v);
	else if (v < 1000000ull || v % 1000000ull)
		snprintf(buf, n, "%lluus", (unsigned long long)(v / 1000));
	else if (v < 1000000000ull || v % 1000000000ull)
		snprintf(buf, n, "%llums", (unsigned long long)(v / 1000000ull));
	else
		snprintf(buf, n, "%llus", (unsigned long long)(v / 1000000000ull));
}

static void row_label(char *buf, size_t n, const uint64_t lo[NROWS], size_t r)
{
	char a[24], b[24];

	if (r == NROWS - 1) {
		fmt_bound(a, sizeof(a), KT_HIST_MAX_VALUE);
		snprintf(buf, n, "(%s, ...)", a);
		return;
	}
	fmt_bound(a, sizeof(a), lo[r]);
	if (r == NROWS - 2) {
		fmt_bound(b, sizeof(b), KT_HIST_MAX_VALUE);
		snprintf(buf, n, "[%s, %s]", a, b);
		return;
	}
	fmt_bound(b, sizeof(b), lo[r + 1]);
	snprintf(buf, n, "[%s, %s)", a, b);
}

int kt_hist_print_log2(FILE *fp, const struct kt_hist *h, const char *unit_label)
{
	enum { BAR = 40 };
	uint64_t lo[NROWS], rows[NROWS] = {0};

	if (h->count == 0)
		return 0;
	row_bounds(lo);
	size_t r = 0;
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++) {
		if (!h->counts[i])
			continue;
		if (i == KT_HIST_OVERFLOW) {
			rows[NROWS - 1] += h->counts[i];
			continue;
		}
		uint64_t b = kt_hist_bucket_lo(i);
		uint64_t mid = b + (kt_hist_bucket_hi(i) - b) / 2;
		while (r + 2 < NROWS && mid >= lo[r + 1])
			r++; /* buckets come in increasing order: rows only advance */
		rows[r] += h->counts[i];
	}

	size_t first = NROWS, last = 0;
	uint64_t peak = 0;
	for (size_t i = 0; i < NROWS; i++) {
		if (!rows[i])
			continue;
		if (first == NROWS)
			first = i;
		last = i;
		if (rows[i] > peak)
			peak = rows[i];
	}

	const char *head = unit_label ? unit_label : "latency";
	int width = 16;
	if ((int)strlen(head) > width)
		width = (int)strlen(head);
	fprintf(fp, "%-*s %10s  distribution\n", width, head, "count");
	for (size_t i = first; i <= last; i++) {
		char label[64], bar[BAR + 1];
		size_t at = (size_t)((unsigned __int128)rows[i] * BAR / peak);
		if (rows[i] && at == 0)
			at = 1;
		memset(bar, '@', at);
		memset(bar + at, ' ', BAR - at);
		bar[BAR] = '\0';
		row_label(label, sizeof(label), lo, i);
		fprintf(fp, "%-*s %10llu |%s|\n", width, label, (unsigned long long)rows[i], bar);
	}
	return ferror(fp) ? -EIO : 0;
}
