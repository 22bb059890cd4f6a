// SPDX-License-Identifier: MIT
/*
 * kt_diff_alloc: allocation sites and per-process heap totals of kaos-trace
 * --alloc runs compared (kt_diff.h).
 *
 * Counts from --alloc are exact (not sampled), so the interval of a side is
 * the envelope [min, max] of its runs' values: with one run a side it has no
 * width and any difference is a change; with several, a change is one only
 * when every run of one side lies beyond every run of the other (the rule of
 * the latency series, without a sampling error).
 */
#include "kt_diff.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt_array.h"

static bool same_row(const char *c1, const char *s1, const char *c2, const char *s2)
{
	if (strcmp(c1, c2) || !s1 != !s2)
		return false;
	return !s1 || !strcmp(s1, s2);
}

int kt_diff_run_add_alloc(struct kt_diff_run *r, const char *comm, const char *stack,
			  const double v[KT_DIFF_NMETRICS])
{
	struct kt_diff_alloc_rec *e;

	r->has_alloc = true;
	for (size_t i = 0; i < r->nalloc; i++) {
		e = &r->alloc[i];
		if (same_row(e->comm, e->stack, comm, stack)) {
			for (int m = 0; m < KT_DIFF_NMETRICS; m++)
				e->v[m] += v[m]; /* two processes of one comm */
			return 0;
		}
	}
	if (kt_array_reserve(r->alloc, r->capalloc, r->nalloc + 1))
		return -ENOMEM;
	e = &r->alloc[r->nalloc];
	memset(e, 0, sizeof(*e));
	if (stack && !(e->stack = strdup(stack)))
		return -ENOMEM;
	snprintf(e->comm, sizeof(e->comm), "%s", comm);
	memcpy(e->v, v, sizeof(e->v));
	r->nalloc++;
	return 0;
}

static struct kt_diff_alloc_row *find_row(struct kt_diff *d, const struct kt_diff_alloc_rec *e)
{
	struct kt_diff_alloc_row *w;

	for (size_t i = 0; i < d->nalloc; i++)
		if (same_row(d->alloc[i].comm, d->alloc[i].stack, e->comm, e->stack))
			return &d->alloc[i];
	if (kt_array_reserve(d->alloc, d->capalloc, d->nalloc + 1))
		return NULL;
	w = &d->alloc[d->nalloc];
	memset(w, 0, sizeof(*w));
	if (e->stack && !(w->stack = strdup(e->stack)))
		return NULL;
	snprintf(w->comm, sizeof(w->comm), "%s", e->comm);
	for (int k = 0; k < 2; k++)
		for (int m = 0; m < KT_DIFF_NMETRICS; m++) {
			w->lo[k][m] = INFINITY;
			w->hi[k][m] = -INFINITY;
		}
	d->nalloc++;
	return w;
}

int kt_diff_add_alloc(struct kt_diff *d, enum kt_diff_side side, const struct kt_diff_run *r)
{
	if (!r->has_alloc)
		return 0;
	for (size_t i = 0; i < r->nalloc; i++) {
		const struct kt_diff_alloc_rec *e = &r->alloc[i];
		struct kt_diff_alloc_row *w = find_row(d, e);

		if (!w)
			return -ENOMEM;
		w->runs[side]++;
		for (int m = 0; m < KT_DIFF_NMETRICS; m++) {
			w->sum[side][m] += e->v[m];
			w->lo[side][m] = fmin(w->lo[side][m], e->v[m]);
			w->hi[side][m] = fmax(w->hi[side][m], e->v[m]);
		}
	}
	d->alloc_runs[side]++;
	return 0;
}

void kt_diff_alloc_free(struct kt_diff *d)
{
	for (size_t i = 0; i < d->nalloc; i++)
		free(d->alloc[i].stack);
	free(d->alloc);
	d->alloc = NULL;
	d->nalloc = d->capalloc = 0;
}

/* x / base as a fraction; from 0 to more is +infinity (no percentage). */
static double ratio(double x, double base)
{
	if (base > 0)
		return x / base;
	return x > 0 ? INFINITY : x < 0 ? -1 : 0;
}

static void compare_count(struct kt_diff_alloc_row *w, int m)
{
	struct kt_diff_count *c = &w->c[m];

	c->before = w->sum[0][m] / w->runs[0];
	c->after = w->sum[1][m] / w->runs[1];
	c->b_lo = w->lo[0][m];
	c->b_hi = w->hi[0][m];
	c->a_lo = w->lo[1][m];
	c->a_hi = w->hi[1][m];
	c->change = ratio(c->after - c->before, c->before);
	c->change_lo = ratio(c->a_lo - c->b_hi, c->b_hi);
	c->change_hi = ratio(c->a_hi - c->b_lo, c->b_lo);
	c->verdict = c->a_lo > c->b_hi	 ? KT_DIFF_MORE
		     : c->a_hi < c->b_lo ? KT_DIFF_FEWER
					 : KT_DIFF_NO_CHANGE;
}

static void compare_row(struct kt_diff_alloc_row *w)
{
	int nm = w->stack ? KT_DIFF_SITE_METRICS : KT_DIFF_NMETRICS;

	w->impact = 0;
	if (!w->runs[0] || !w->runs[1]) {
		w->presence = w->runs[0] ? KT_DIFF_REMOVED : KT_DIFF_ADDED;
		return;
	}
	w->presence = KT_DIFF_BOTH;
	for (int m = 0; m < nm; m++) {
		compare_count(w, m);
		/* the allocations' change sorts first, the bytes' breaks ties */
		if (w->c[m].verdict != KT_DIFF_NO_CHANGE)
			w->impact += fabs(w->c[m].after - w->c[m].before) *
				     (m == KT_DIFF_ALLOCS ? 1e12 : 1);
	}
}

/* Totals first, then sites; within each, on both sides first, by impact. */
static int by_impact(const void *pa, const void *pb)
{
	const struct kt_diff_alloc_row *a = pa, *b = pb;
	int c;

	if (!a->stack != !b->stack)
		return a->stack ? 1 : -1;
	if (a->presence != b->presence)
		return (int)a->presence - (int)b->presence;
	if (a->impact != b->impact)
		return a->impact < b->impact ? 1 : -1;
	c = strcmp(a->comm, b->comm);
	return c || !a->stack ? c : strcmp(a->stack, b->stack);
}

void kt_diff_alloc_compute(struct kt_diff *d)
{
	for (size_t i = 0; i < d->nalloc; i++)
		compare_row(&d->alloc[i]);
	if (d->nalloc)
		qsort(d->alloc, d->nalloc, sizeof(d->alloc[0]), by_impact);
}

const char *kt_diff_count_verdict_name(enum kt_diff_count_verdict v)
{
	static const char *const names[] = {"no change", "more", "fewer"};

	return v >= 0 && v <= KT_DIFF_FEWER ? names[v] : "?";
}

const char *kt_diff_metric_name(enum kt_diff_alloc_metric m)
{
	static const char *const names[] = {"allocs", "bytes", "peak_bytes", "leaked_bytes"};

	return m >= 0 && m < KT_DIFF_NMETRICS ? names[m] : "?";
}

bool kt_diff_alloc_gate(const struct kt_diff *d, double pct)
{
	for (size_t i = 0; i < d->nalloc; i++) {
		const struct kt_diff_count *c = &d->alloc[i].c[KT_DIFF_ALLOCS];

		if (d->alloc[i].presence == KT_DIFF_BOTH && c->verdict == KT_DIFF_MORE &&
		    c->change_lo * 100 > pct)
			return true;
	}
	return false;
}
