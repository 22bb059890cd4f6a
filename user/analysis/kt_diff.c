// SPDX-License-Identifier: MIT
/* kt_diff: the comparison of runs and its verdicts (kt_diff.h). */
#include "kt_diff.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt_array.h"

const double kt_diff_quantiles[KT_DIFF_NQ] = {50, 90, 99, 99.9};
static const char *const quantile_names[KT_DIFF_NQ] = {"p50", "p90", "p99", "p99.9"};
/* two-sided normal quantile for KT_DIFF_CONFIDENCE (0.99) */
#define Z_SCORE 2.5758

static void copy_name(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

void kt_diff_run_init(struct kt_diff_run *r)
{
	memset(r, 0, sizeof(*r));
}

void kt_diff_run_free(struct kt_diff_run *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].h);
	free(r->v);
	for (size_t i = 0; i < r->nalloc; i++)
		free(r->alloc[i].stack);
	free(r->alloc);
	kt_diff_run_init(r);
}

static bool same_key(const char *c1, const char *r1, const char *o1, const char *c2, const char *r2,
		     const char *o2)
{
	return !strcmp(c1, c2) && !strcmp(r1, r2) && !strcmp(o1, o2);
}

int kt_diff_run_add(struct kt_diff_run *r, const char *comm, const char *ring, const char *op,
		    const struct kt_hist *h, uint64_t ops)
{
	struct kt_diff_hist *e;

	for (size_t i = 0; i < r->n; i++) {
		e = &r->v[i];
		if (same_key(e->comm, e->ring, e->op, comm, ring, op)) {
			kt_hist_merge(e->h, h);
			e->ops += ops;
			return 0;
		}
	}
	if (kt_array_reserve(r->v, r->cap, r->n + 1))
		return -ENOMEM;
	e = &r->v[r->n];
	memset(e, 0, sizeof(*e));
	e->h = malloc(sizeof(*e->h));
	if (!e->h)
		return -ENOMEM;
	kt_hist_copy(e->h, h);
	copy_name(e->comm, sizeof(e->comm), comm);
	copy_name(e->ring, sizeof(e->ring), ring);
	copy_name(e->op, sizeof(e->op), op);
	e->ops = ops;
	r->n++;
	return 0;
}

void kt_diff_init(struct kt_diff *d)
{
	memset(d, 0, sizeof(*d));
}

void kt_diff_free(struct kt_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].merged[0]);
		free(d->v[i].merged[1]);
	}
	free(d->v);
	kt_diff_alloc_free(d);
	kt_diff_init(d);
}

/* Lowest (high: highest) value of the bucket holding the value of rank `rank` (1-based). */
static double value_at_rank(const struct kt_hist *h, uint64_t rank, bool high)
{
	uint64_t seen = 0;

	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = high ? kt_hist_bucket_hi(i) : kt_hist_bucket_lo(i);

			/* min/max are exact (the overflow bucket's hi is UINT64_MAX) */
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return (double)v;
		}
	}
	return (double)h->max;
}

/* Order-statistic bounds of quantile p (percent) of one run's histogram. */
static void quantile_bounds(const struct kt_hist *h, double p, double *lo, double *hi)
{
	double n = (double)h->count, q = p / 100, half = Z_SCORE * sqrt(n * q * (1 - q));
	double rlo = floor(n * q - half), rhi = ceil(n * q + half) + 1;

	/* a rank beyond the samples: too few of them to bound the quantile on that side */
	*lo = rlo < 1 ? 0 : value_at_rank(h, (uint64_t)rlo, false);
	*hi = rhi > n ? INFINITY : value_at_rank(h, (uint64_t)rhi, true);
}

static struct kt_diff_series *find_series(struct kt_diff *d, const struct kt_diff_hist *e)
{
	struct kt_diff_series *s;

	for (size_t i = 0; i < d->n; i++) {
		s = &d->v[i];
		if (same_key(s->comm, s->ring, s->op, e->comm, e->ring, e->op))
			return s;
	}
	if (kt_array_reserve(d->v, d->cap, d->n + 1))
		return NULL;
	s = &d->v[d->n++];
	memset(s, 0, sizeof(*s));
	copy_name(s->comm, sizeof(s->comm), e->comm);
	copy_name(s->ring, sizeof(s->ring), e->ring);
	copy_name(s->op, sizeof(s->op), e->op);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < KT_DIFF_NQ; i++) {
			s->lo[k][i] = INFINITY;
			s->hi[k][i] = -INFINITY;
		}
	return s;
}

int kt_diff_add_run(struct kt_diff *d, enum kt_diff_side side, const struct kt_diff_run *r)
{
	for (size_t j = 0; j < r->n; j++) {
		const struct kt_diff_hist *e = &r->v[j];
		struct kt_diff_series *s;

		if (!kt_hist_count(e->h))
			continue; /* a series with no latency sample says nothing */
		s = find_series(d, e);
		if (!s)
			return -ENOMEM;
		if (!s->merged[side]) {
			s->merged[side] = malloc(sizeof(struct kt_hist));
			if (!s->merged[side])
				return -ENOMEM;
			kt_hist_init(s->merged[side]);
		}
		kt_hist_merge(s->merged[side], e->h);
		s->ops[side] += e->ops;
		s->runs[side]++;
		for (int i = 0; i < KT_DIFF_NQ; i++) {
			double lo, hi;

			quantile_bounds(e->h, kt_diff_quantiles[i], &lo, &hi);
			s->lo[side][i] = fmin(s->lo[side][i], lo);
			s->hi[side][i] = fmax(s->hi[side][i], hi);
		}
	}
	d->nruns[side]++;
	return kt_diff_add_alloc(d, side, r);
}

static void compare_quantile(struct kt_diff_series *s, int i)
{
	struct kt_diff_quant *q = &s->q[i];
	double p = kt_diff_quantiles[i];

	q->before = (double)kt_hist_percentile(s->merged[0], p);
	q->after = (double)kt_hist_percentile(s->merged[1], p);
	q->b_lo = s->lo[0][i];
	q->b_hi = s->hi[0][i];
	q->a_lo = s->lo[1][i];
	q->a_hi = s->hi[1][i];
	/* at least 1 ns: a 0 ns latency (below the clock's resolution) divides nothing */
	q->change = (q->after - q->before) / fmax(q->before, 1);
	/* an open end (too few samples) leaves the change open: -100 % or +infinity */
	q->change_lo = isinf(q->b_hi) ? -1 : (q->a_lo - q->b_hi) / fmax(q->b_hi, 1);
	q->change_hi = (q->a_hi - q->b_lo) / fmax(q->b_lo, 1);
	if (q->change_lo > 0)
		q->verdict = KT_DIFF_SLOWER;
	else if (q->change_hi < 0)
		q->verdict = KT_DIFF_FASTER;
	else
		q->verdict = KT_DIFF_SAME;
}

static void compare_series(struct kt_diff_series *s)
{
	bool slower = false, faster = false;

	s->impact = 0;
	if (!s->merged[0] || !s->merged[1]) {
		s->presence = s->merged[0] ? KT_DIFF_REMOVED : KT_DIFF_ADDED;
		s->verdict = KT_DIFF_SAME;
		return;
	}
	s->presence = KT_DIFF_BOTH;
	for (int i = 0; i < KT_DIFF_NQ; i++) {
		compare_quantile(s, i);
		slower |= s->q[i].verdict == KT_DIFF_SLOWER;
		faster |= s->q[i].verdict == KT_DIFF_FASTER;
		if (s->q[i].verdict != KT_DIFF_SAME)
			s->impact = fmax(s->impact, fabs(s->q[i].change));
	}
	s->verdict = slower && faster ? KT_DIFF_MIXED
		     : slower	      ? KT_DIFF_SLOWER
		     : faster	      ? KT_DIFF_FASTER
				      : KT_DIFF_SAME;
}

static int by_impact(const void *pa, const void *pb)
{
	const struct kt_diff_series *a = pa, *b = pb;
	int c;

	if (a->presence != b->presence)
		return (int)a->presence - (int)b->presence;
	if (a->impact != b->impact)
		return a->impact < b->impact ? 1 : -1;
	c = strcmp(a->comm, b->comm);
	if (!c)
		c = strcmp(a->ring, b->ring);
	return c ? c : strcmp(a->op, b->op);
}

void kt_diff_compute(struct kt_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		compare_series(&d->v[i]);
	if (d->n)
		qsort(d->v, d->n, sizeof(d->v[0]), by_impact);
	kt_diff_alloc_compute(d);
}

const char *kt_diff_quantile_name(int i)
{
	return i >= 0 && i < KT_DIFF_NQ ? quantile_names[i] : "?";
}

int kt_diff_quantile_index(const char *name)
{
	if (!strcmp(name, "p999"))
		return 3;
	for (int i = 0; i < KT_DIFF_NQ; i++)
		if (!strcmp(name, quantile_names[i]))
			return i;
	return -1;
}

const char *kt_diff_verdict_name(enum kt_diff_verdict v)
{
	static const char *const names[] = {"no significant change", "slower", "faster", "mixed"};

	return v >= 0 && v <= KT_DIFF_MIXED ? names[v] : "?";
}

bool kt_diff_gate(const struct kt_diff *d, double pct, int qi)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct kt_diff_series *s = &d->v[i];

		if (s->presence == KT_DIFF_BOTH && s->q[qi].verdict == KT_DIFF_SLOWER &&
		    s->q[qi].change_lo * 100 > pct)
			return true;
	}
	return false;
}

int kt_diff_parse_gate(const char *arg, double *pct, int *qi, char *msg, size_t n)
{
	const char *at = strchr(arg, '@');
	char *end;

	errno = 0;
	*pct = strtod(arg, &end);
	if (end < arg + strlen(arg) && *end == '%')
		end++;
	if (errno || end == arg || (*end && end != at) || !(*pct >= 0) || !isfinite(*pct)) {
		snprintf(msg, n, "invalid --fail-if-slower '%s' (expected PCT[@pNN], e.g. 10@p99)",
			 arg);
		return -EINVAL;
	}
	*qi = at ? kt_diff_quantile_index(at + 1) : 0;
	if (*qi < 0) {
		snprintf(msg, n, "invalid quantile '%s' in --fail-if-slower (p50, p90, p99, p99.9)",
			 at + 1);
		return -EINVAL;
	}
	return 0;
}
