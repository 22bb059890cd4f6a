// SPDX-License-Identifier: MIT
/* kt_diff_report: the text and JSON reports of kaos-trace diff (kt_diff.h). */
#include "kt_diff.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "kt_json.h"

static const char *const presence_names[] = {"both", "added", "removed"};

static const char *fmt_ns(char *b, size_t n, double ns)
{
	if (isinf(ns)) {
		snprintf(b, n, "inf"); /* an open end: too few samples */
		return b;
	}
	return kt_fmt_ns(b, n, ns > 0 ? (uint64_t)llround(ns) : 0);
}

static void text_quantile(FILE *f, const struct kt_diff_quant *q, int i)
{
	char b[4][24];

	fprintf(f, "  %-6s %10s -> %-10s %+7.1f%%  [%+.1f%%, %+.1f%%]  %s (before %s..%s)\n",
		kt_diff_quantile_name(i), fmt_ns(b[0], sizeof(b[0]), q->before),
		fmt_ns(b[1], sizeof(b[1]), q->after), q->change * 100, q->change_lo * 100,
		q->change_hi * 100, kt_diff_verdict_name(q->verdict),
		fmt_ns(b[2], sizeof(b[2]), q->b_lo), fmt_ns(b[3], sizeof(b[3]), q->b_hi));
}

static void text_series(FILE *f, const struct kt_diff_series *s)
{
	if (s->presence != KT_DIFF_BOTH) {
		int side = s->presence == KT_DIFF_ADDED;

		fprintf(f, "%s %s %s: %s (only %s: %" PRIu64 " ops, p50 %.0f ns)\n", s->comm,
			s->ring, s->op, presence_names[s->presence], side ? "after" : "before",
			s->ops[side], (double)kt_hist_percentile(s->merged[side], 50));
		return;
	}
	fprintf(f,
		"%s %s %s: %s (ops %" PRIu64 " -> %" PRIu64 ", samples %" PRIu64 " -> %" PRIu64
		", runs %u -> %u)\n",
		s->comm, s->ring, s->op, kt_diff_verdict_name(s->verdict), s->ops[0], s->ops[1],
		kt_hist_count(s->merged[0]), kt_hist_count(s->merged[1]), s->runs[0], s->runs[1]);
	for (int i = 0; i < KT_DIFF_NQ; i++)
		text_quantile(f, &s->q[i], i);
}

/* A count's change in percent; "new" from 0, "-" when both are 0. */
static const char *fmt_pct(char *b, size_t n, double change)
{
	if (isinf(change))
		snprintf(b, n, change > 0 ? "new" : "gone");
	else
		snprintf(b, n, "%+.1f%%", change * 100);
	return b;
}

static void text_count(FILE *f, const struct kt_diff_count *c, int m)
{
	char p[3][16];

	fprintf(f, "  %-12s %12.0f -> %-12.0f %7s  [%s, %s]  %s\n", kt_diff_metric_name(m),
		c->before, c->after, fmt_pct(p[0], sizeof(p[0]), c->change),
		fmt_pct(p[1], sizeof(p[1]), c->change_lo),
		fmt_pct(p[2], sizeof(p[2]), c->change_hi), kt_diff_count_verdict_name(c->verdict));
}

static void text_alloc_row(FILE *f, const struct kt_diff_alloc_row *w)
{
	int nm = w->stack ? KT_DIFF_SITE_METRICS : KT_DIFF_NMETRICS;
	const char *what = w->stack ? w->stack : "(process total)";

	if (w->presence != KT_DIFF_BOTH) {
		int side = w->presence == KT_DIFF_ADDED;

		/* outside a run's ten top sites is not "no allocation there" */
		fprintf(f, "%s %s: %s %s (%s: %.0f allocs, %.0f bytes per run)\n", w->comm, what,
			w->stack ? "not in the top sites" : "no such process",
			side ? "before" : "after", side ? "after" : "before",
			w->sum[side][KT_DIFF_ALLOCS] / w->runs[side],
			w->sum[side][KT_DIFF_BYTES] / w->runs[side]);
		return;
	}
	fprintf(f, "%s %s: %s (runs %u -> %u)\n", w->comm, what,
		w->c[KT_DIFF_ALLOCS].verdict == KT_DIFF_MORE	? "more allocations"
		: w->c[KT_DIFF_ALLOCS].verdict == KT_DIFF_FEWER ? "fewer allocations"
								: "no change in allocations",
		w->runs[0], w->runs[1]);
	for (int m = 0; m < nm; m++)
		text_count(f, &w->c[m], m);
}

static void text_alloc(FILE *f, const struct kt_diff *d)
{
	if (!d->alloc_runs[0] && !d->alloc_runs[1])
		return;
	fprintf(f,
		"allocations (--alloc): %u run%s before, %u after; mean per run, interval = the "
		"runs' min..max (exact counts: with one run a side any difference is a change); "
		"sites are comm + stack, from each process's top sites by bytes\n",
		d->alloc_runs[0], d->alloc_runs[0] == 1 ? "" : "s", d->alloc_runs[1]);
	if (!d->alloc_runs[0] || !d->alloc_runs[1])
		fprintf(f, "(only the %s runs traced allocations: nothing to compare)\n",
			d->alloc_runs[0] ? "before" : "after");
	else
		for (size_t i = 0; i < d->nalloc; i++)
			text_alloc_row(f, &d->alloc[i]);
}

int kt_diff_print_text(FILE *f, const struct kt_diff *d)
{
	if (d->n)
		fprintf(f, "kaos-trace diff: %u run%s before, %u after; %.0f %% intervals%s\n",
			d->nruns[0], d->nruns[0] == 1 ? "" : "s", d->nruns[1],
			KT_DIFF_CONFIDENCE * 100,
			d->nruns[0] < 2 || d->nruns[1] < 2
				? " (one run on a side: run-to-run noise is not measured; give "
				  "several)"
				: "");
	if (d->quiet[0] || d->quiet[1])
		fprintf(f,
			"(interval files without samples, not counted as runs: %u before, %u "
			"after)\n",
			d->quiet[0], d->quiet[1]);
	for (size_t i = 0; i < d->n; i++)
		text_series(f, &d->v[i]);
	text_alloc(f, d);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

static void json_quantile(struct kt_json *w, const struct kt_diff_quant *q, int i)
{
	kt_json_key(w, kt_diff_quantile_name(i));
	kt_json_object_begin(w);
	kt_json_kv_double(w, "before", q->before);
	kt_json_kv_double(w, "after", q->after);
	kt_json_kv_double(w, "before_lo", q->b_lo);
	kt_json_kv_double(w, "before_hi", q->b_hi);
	kt_json_kv_double(w, "after_lo", q->a_lo);
	kt_json_kv_double(w, "after_hi", q->a_hi);
	kt_json_kv_double(w, "change_pct", q->change * 100);
	kt_json_kv_double(w, "change_pct_lo", q->change_lo * 100);
	kt_json_kv_double(w, "change_pct_hi", q->change_hi * 100);
	kt_json_kv_string(w, "verdict", kt_diff_verdict_name(q->verdict));
	kt_json_object_end(w);
}

static void json_series(struct kt_json *w, const struct kt_diff_series *s)
{
	kt_json_object_begin(w);
	kt_json_kv_string(w, "comm", s->comm);
	/* a --func function's series: its name in "ring", op "call" */
	kt_json_kv_string(w, "kind", strcmp(s->op, "call") ? "ring" : "function");
	kt_json_kv_string(w, "ring", s->ring);
	kt_json_kv_string(w, "op", s->op);
	kt_json_kv_string(w, "presence", presence_names[s->presence]);
	kt_json_kv_string(w, "verdict", kt_diff_verdict_name(s->verdict));
	kt_json_kv_u64(w, "ops_before", s->ops[0]);
	kt_json_kv_u64(w, "ops_after", s->ops[1]);
	kt_json_kv_u64(w, "samples_before", s->merged[0] ? kt_hist_count(s->merged[0]) : 0);
	kt_json_kv_u64(w, "samples_after", s->merged[1] ? kt_hist_count(s->merged[1]) : 0);
	kt_json_kv_u64(w, "runs_before", s->runs[0]);
	kt_json_kv_u64(w, "runs_after", s->runs[1]);
	if (s->presence == KT_DIFF_BOTH) {
		kt_json_key(w, "quantiles");
		kt_json_object_begin(w);
		for (int i = 0; i < KT_DIFF_NQ; i++)
			json_quantile(w, &s->q[i], i);
		kt_json_object_end(w);
	}
	kt_json_object_end(w);
}

static void json_count(struct kt_json *w, const struct kt_diff_count *c, int m)
{
	kt_json_key(w, kt_diff_metric_name(m));
	kt_json_object_begin(w);
	kt_json_kv_double(w, "before", c->before);
	kt_json_kv_double(w, "after", c->after);
	kt_json_kv_double(w, "before_lo", c->b_lo);
	kt_json_kv_double(w, "before_hi", c->b_hi);
	kt_json_kv_double(w, "after_lo", c->a_lo);
	kt_json_kv_double(w, "after_hi", c->a_hi);
	/* null when the before side is 0 (no percentage) */
	kt_json_kv_double(w, "change_pct", c->change * 100);
	kt_json_kv_double(w, "change_pct_lo", c->change_lo * 100);
	kt_json_kv_double(w, "change_pct_hi", c->change_hi * 100);
	kt_json_kv_string(w, "verdict", kt_diff_count_verdict_name(c->verdict));
	kt_json_object_end(w);
}

static void json_alloc_row(struct kt_json *w, const struct kt_diff_alloc_row *r)
{
	int nm = r->stack ? KT_DIFF_SITE_METRICS : KT_DIFF_NMETRICS;
	static const char *const presence[] = {"both", "not_in_top_sites_before",
					       "not_in_top_sites_after"};

	kt_json_object_begin(w);
	kt_json_kv_string(w, "comm", r->comm);
	kt_json_kv_string(w, "kind", r->stack ? "alloc_site" : "alloc_total");
	if (r->stack)
		kt_json_kv_string(w, "stack", r->stack);
	/* a process on one side only is added/removed; a site may be below the top 10 */
	kt_json_kv_string(w, "presence",
			  r->stack ? presence[r->presence] : presence_names[r->presence]);
	kt_json_kv_string(w, "verdict",
			  r->presence == KT_DIFF_BOTH
				  ? kt_diff_count_verdict_name(r->c[KT_DIFF_ALLOCS].verdict)
				  : "not compared");
	kt_json_kv_u64(w, "runs_before", r->runs[0]);
	kt_json_kv_u64(w, "runs_after", r->runs[1]);
	kt_json_key(w, "counts");
	kt_json_object_begin(w);
	for (int m = 0; m < nm && r->presence == KT_DIFF_BOTH; m++)
		json_count(w, &r->c[m], m);
	for (int m = 0; m < nm && r->presence != KT_DIFF_BOTH; m++) {
		int side = r->presence == KT_DIFF_ADDED;

		kt_json_key(w, kt_diff_metric_name(m));
		kt_json_object_begin(w);
		kt_json_kv_double(w, side ? "after" : "before", r->sum[side][m] / r->runs[side]);
		kt_json_object_end(w);
	}
	kt_json_object_end(w);
	kt_json_object_end(w);
}

int kt_diff_print_json(FILE *f, const struct kt_diff *d)
{
	struct kt_json w;

	kt_json_init_file(&w, f);
	kt_json_object_begin(&w);
	kt_json_kv_string(&w, "type", "diff");
	kt_json_kv_u64(&w, "runs_before", d->nruns[0]);
	kt_json_kv_u64(&w, "runs_after", d->nruns[1]);
	kt_json_kv_u64(&w, "quiet_intervals_before", d->quiet[0]);
	kt_json_kv_u64(&w, "quiet_intervals_after", d->quiet[1]);
	kt_json_kv_double(&w, "confidence", KT_DIFF_CONFIDENCE);
	kt_json_kv_u64(&w, "alloc_runs_before", d->alloc_runs[0]);
	kt_json_kv_u64(&w, "alloc_runs_after", d->alloc_runs[1]);
	kt_json_key(&w, "series");
	kt_json_array_begin(&w);
	for (size_t i = 0; i < d->n; i++)
		json_series(&w, &d->v[i]);
	/* allocation rows only when both sides traced allocations */
	for (size_t i = 0; d->alloc_runs[0] && d->alloc_runs[1] && i < d->nalloc; i++)
		json_alloc_row(&w, &d->alloc[i]);
	kt_json_array_end(&w);
	kt_json_object_end(&w);
	kt_json_eol(&w);
	fflush(f);
	return kt_json_error(&w) ? kt_json_error(&w) : ferror(f) ? -EIO : 0;
}
