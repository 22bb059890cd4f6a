// SPDX-License-Identifier: MIT
#include "kt_report.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "kt_classify.h"
#include "kt_hist.h"
#include "kt_json.h"

/* Operations of a series: the interval's or since start. */
static uint64_t series_ops(const struct kt_series *s, bool interval)
{
	return interval ? kt_series_count_iv(s) : kt_series_count(s);
}

static const char *fmt_rate(char *buf, size_t n, double per_s)
{
	if (per_s >= 1e9)
		snprintf(buf, n, "%.2fG", per_s / 1e9);
	else if (per_s >= 1e6)
		snprintf(buf, n, "%.2fM", per_s / 1e6);
	else if (per_s >= 1e3)
		snprintf(buf, n, "%.2fk", per_s / 1e3);
	else
		snprintf(buf, n, "%.1f", per_s);
	return buf;
}

static const struct kt_hist *series_hist(const struct kt_series *s, bool soj, bool interval)
{
	if (soj)
		return interval ? s->soj_iv : s->soj;
	return interval ? s->dur_iv : s->dur;
}

/*
 * Calls of a process's probed functions and what their probes cost it (ns).
 * --func counts per pid, not per image: they go with the current image.
 */
static uint64_t proc_func_calls(const struct kt_agg *a, const struct kt_proc *p, bool interval,
				double *cost_ns)
{
	uint64_t calls = 0;

	*cost_ns = 0;
	for (const struct kt_func_agg *f = a->funcs; f && !p->execed; f = f->next) {
		if (f->pid != p->pid || f->idx >= a->nfuncs)
			continue;
		uint64_t n = series_ops(&f->s, interval);

		calls += n;
		*cost_ns += (double)n * a->func_desc[f->idx].pair_ns;
	}
	return calls;
}

/* What tracing cost p (ns; *pct of the time): per-op hits, batched records and traps, --func. */
static double proc_cost(const struct kt_agg *a, const struct kt_proc *p,
			const struct kt_report_totals *t, bool interval, double *pct)
{
	double secs = interval ? t->interval_s : t->elapsed_s;
	struct kt_price pr = {t->hit_ns, t->batch_trap_ns, t->batch_record_ns};
	double fcost, cost;

	proc_func_calls(a, p, interval, &fcost);
	cost = kt_price_cost_ns(&pr, interval ? p->hits_iv : p->hits,
				interval ? p->batched_iv : p->batched,
				interval ? p->traps_iv : p->traps) +
	       fcost;
	*pct = secs > 0 ? cost / (secs * 1e9) * 100.0 : 0;
	return cost;
}

static const struct kt_hist *func_hist(const struct kt_func_agg *f, bool corrected, bool interval)
{
	if (corrected)
		return interval ? f->corr_iv : f->corr;
	return interval ? f->s.dur_iv : f->s.dur;
}

/* The MIN P50 P90 P99 P99.9 MAX columns of a summary ("-" when it is empty). */
static void latency_cols(FILE *f, const struct kt_hist_summary *s)
{
	char b[6][16];

	if (s->count)
		fprintf(f, " %8s %8s %8s %8s %8s %8s", kt_fmt_ns(b[0], 16, s->min),
			kt_fmt_ns(b[1], 16, s->p50), kt_fmt_ns(b[2], 16, s->p90),
			kt_fmt_ns(b[3], 16, s->p99), kt_fmt_ns(b[4], 16, s->p999),
			kt_fmt_ns(b[5], 16, s->max));
	else
		fprintf(f, " %8s %8s %8s %8s %8s %8s", "-", "-", "-", "-", "-", "-");
}

static void func_lat(FILE *f, const char *label, const struct kt_hist *h)
{
	struct kt_hist_summary s = {0};

	if (h)
		kt_hist_summary(h, &s);
	fprintf(f, " %-9s", label);
	latency_cols(f, &s);
	fputc('\n', f);
}

/* The --func table of one process: two latency lines per function, raw and corrected. */
static bool func_rows(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t,
		      uint32_t pid, double secs, bool hist, bool interval)
{
	bool any = false;

	for (const struct kt_func_agg *fa = a->funcs; fa; fa = fa->next) {
		if (fa->pid != pid || fa->idx >= a->nfuncs)
			continue;
		const struct kt_func_desc *d = &a->func_desc[fa->idx];
		uint64_t n = series_ops(&fa->s, interval);
		const struct kt_hist *raw = func_hist(fa, false, interval);
		char rate[32], name[64], samples[32];

		if (!any) {
			fprintf(f,
				"  functions: raw = entry to return as probed; "
				"corrected = raw less the probe time inside it%s\n",
				t->func_calibrated ? " (calibrated at start)"
						   : " (not calibrated: corrected = raw)");
			fprintf(f, "  %-32s %10s %9s %9s %-9s %8s %8s %8s %8s %8s %8s\n",
				"FUNCTION", "CALLS", "RATE/s", "SAMPLES", "LATENCY", "MIN", "P50",
				"P90", "P99", "P99.9", "MAX");
			any = true;
		}
		snprintf(name, sizeof(name), "%s:%s", d->module, d->name);
		if (d->sample_every > 1)
			snprintf(samples, sizeof(samples), "%" PRIu64 "/%u",
				 raw ? kt_hist_count(raw) : 0, d->sample_every);
		else
			snprintf(samples, sizeof(samples), "%" PRIu64,
				 raw ? kt_hist_count(raw) : 0);
		fprintf(f, "  %-32.32s %10" PRIu64 " %9s %9s", name, n,
			fmt_rate(rate, sizeof(rate), secs > 0 ? (double)n / secs : 0), samples);
		func_lat(f, "raw", raw);
		fprintf(f, "  %-32s %10s %9s %9s", "", "", "", "");
		func_lat(f, "corrected", func_hist(fa, true, interval));
	}
	if (!any || !hist)
		return any;
	for (const struct kt_func_agg *fa = a->funcs; fa; fa = fa->next) {
		const struct kt_hist *h = func_hist(fa, true, interval);

		if (fa->pid != pid || fa->idx >= a->nfuncs || !h || !kt_hist_count(h))
			continue;
		fprintf(f, "\n  function %s:%s: corrected latency\n", a->func_desc[fa->idx].module,
			a->func_desc[fa->idx].name);
		kt_hist_print_log2(f, h, "corrected");
		fputc('\n', f);
	}
	return any;
}

/* One table row: a latency series with count, rate and percentiles. */
static void row(FILE *f, const struct kt_ring_agg *r, const char *op, uint64_t count, double secs,
		const struct kt_hist *h, const char *cls)
{
	struct kt_hist_summary s = {0};
	char rate[32];

	if (h)
		kt_hist_summary(h, &s);
	fprintf(f, "  %5u %-20.20s %-12s %10" PRIu64 " %9s %9" PRIu64, r->ring_id,
		r->name[0] ? r->name : "-", op, count,
		fmt_rate(rate, sizeof(rate), secs > 0 ? (double)count / secs : 0), s.count);
	latency_cols(f, &s);
	fprintf(f, "  %s\n", cls ? cls : "");
}

/* --pmu rows: per-operation counter values (the counter's unit: ns for *-clock). */
static void pmu_rows(FILE *f, const struct kt_agg *a, const struct kt_ring_agg *r, bool interval)
{
	static const uint32_t types[] = {KT_EV_SEND, KT_EV_RECV, KT_EV_BACKPRESSURE,
					 KT_EV_RETRANSMIT};

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (int i = 0; i < a->npmu && i < KT_PMU_MAX; i++) {
			const struct kt_series *s = &r->s[types[t]];
			const struct kt_hist *h = interval ? s->pmu_iv[i] : s->pmu[i];
			struct kt_hist_summary sm;
			char op[96];

			if (!h || !kt_hist_count(h))
				continue;
			kt_hist_summary(h, &sm);
			snprintf(op, sizeof(op), "%s %s/op", kt_event_type_name(types[t]),
				 a->pmu_names[i]);
			fprintf(f,
				"  %5u %-20.20s %-28s %9" PRIu64 " %10" PRIu64 " %10" PRIu64
				" %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10.0f\n",
				r->ring_id, r->name[0] ? r->name : "-", op, sm.count, sm.min,
				sm.p50, sm.p90, sm.p99, sm.max, sm.mean);
		}
	}
}

/* A send/recv row, classified by its p99 (no class without samples). */
static void latency_row(FILE *f, const struct kt_ring_agg *r, const char *op, uint64_t count,
			double secs, const struct kt_hist *h)
{
	struct kt_hist_summary s = {0};
	char cls[64];

	if (h)
		kt_hist_summary(h, &s);
	snprintf(cls, sizeof(cls), "%s (p99)", kt_lat_class_label(kt_classify_latency(s.p99)));
	row(f, r, op, count, secs, h, s.count ? cls : NULL);
}

static void print_hist(FILE *f, const struct kt_ring_agg *r, const char *what,
		       const struct kt_hist *h)
{
	if (!h || !kt_hist_count(h))
		return;
	fprintf(f, "\n  ring %u %s: %s\n", r->ring_id, r->name[0] ? r->name : "-", what);
	kt_hist_print_log2(f, h, what);
	fputc('\n', f);
}

/*
 * ", sampling 1 in N (why)": the period read back from the process, and
 * whose request it is when another tracer's finer one is in effect.
 */
static void sampling_text(FILE *f, const struct kt_proc *p, const struct kt_report_totals *t)
{
	const struct kt_sampling *m = &t->sampling;

	if (!p->sample_every) {
		if (t->has_sampling && p->ctl_failed)
			fputs(", sampling unknown (its control cannot be set)", f);
		return;
	}
	if (p->sample_every == 1)
		fputs(", sampling every operation", f);
	else
		fprintf(f, ", sampling 1 in %u", p->sample_every);
	if (p->sample_by && p->sample_by != (int32_t)getpid())
		fprintf(f, " (pid %d's finer request; this tracer asked 1 in %u)",
			(int)p->sample_by, p->sample_asked);
	else if (!t->has_sampling)
		return;
	else if (m->mode == KT_SAMPLING_FIXED)
		fputs(" (--sample)", f);
	else
		fprintf(f, " (%s %g%%)",
			m->mode == KT_SAMPLING_BUDGET ? "--budget" : "default budget",
			m->budget_pct);
}

bool kt_report_counts_exact(const struct kt_report_totals *t)
{
	return t->lost == 0 && t->batch_untracked == 0;
}

/* "events lost: N" and whether the counts below are exact or lower bounds. */
static void print_loss(FILE *f, const struct kt_report_totals *t, bool interval)
{
	uint64_t iv = t->lost >= t->lost_iv0 ? t->lost - t->lost_iv0 : t->lost;

	if (kt_report_counts_exact(t)) {
		fputs("events lost: 0; counts exact\n", f);
		return;
	}
	if (t->batch_untracked)
		fprintf(f,
			"warning: %" PRIu64 " batched probe fires came from threads kaos-trace "
			"could not remember (over 8192 threads at once, or kernel memory): "
			"what such a thread holds when it is killed is lost uncounted\n",
			t->batch_untracked);
	if (!t->lost) {
		fputs("events lost: 0; counts are lower bounds\n", f);
		return;
	}
	if (interval)
		fprintf(f,
			"events lost: %" PRIu64 " (%" PRIu64 " in this interval); counts not "
			"exact: totals are lower bounds, an interval may be short or catch up\n",
			t->lost, iv);
	else
		fprintf(f, "events lost: %" PRIu64 "; counts are lower bounds\n", t->lost);
	fprintf(f,
		"warning: %" PRIu64 " events lost: counts and histograms are lower bounds "
		"(raise --ringbuf-size or use --sample/--budget)\n",
		t->lost);
}

/* Whether a report shows ring r under process p (an interval's: not a retired ring). */
static bool shown(const struct kt_ring_agg *r, const struct kt_proc *p, bool interval)
{
	return kt_ring_of(r, p) && (!interval || kt_ring_in_interval(r));
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : now;
}

/*
 * The first line says which figures follow: an interval's (with the
 * totals beside its event counts) or the run's totals (the final report).
 */
static void print_header(FILE *f, const struct kt_report_totals *t, bool interval)
{
	if (!interval) {
		fprintf(f,
			"\n== kaos-trace summary, %.2f s (figures: totals since attach): events "
			"%" PRIu64 " delivered, %" PRIu64 " lost (fired %" PRIu64 ")",
			t->elapsed_s, t->delivered, t->lost, t->fired);
		return;
	}
	fprintf(f,
		"\n-- interval %.2f s, to %.2f s after attach (figures: this interval): events "
		"%" PRIu64 " delivered, %" PRIu64 " lost (fired %" PRIu64 "); since attach %" PRIu64
		" delivered, %" PRIu64 " lost (fired %" PRIu64 ")",
		t->interval_s, t->elapsed_s, since(t->delivered, t->delivered_iv0),
		since(t->lost, t->lost_iv0), since(t->fired, t->fired_iv0), t->delivered, t->lost,
		t->fired);
}

/* What the report leaves out or cannot vouch for: scope, ring filter, full maps. */
static void print_coverage(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t)
{
	if (t->scope) {
		fprintf(f, "scope: %s", t->scope);
		if (t->out_of_scope)
			fprintf(f, "; %" PRIu64 " probe hits in other processes ignored",
				t->out_of_scope);
		fputc('\n', f);
	}
	if (a->ring_filter)
		fprintf(f, "ring filter (-r): %" PRIu64 " events of %u other rings dropped\n",
			a->ring_filter->dropped, a->ring_filter->rings_dropped);
	if (t->scope_full)
		fprintf(f,
			"warning: %" PRIu64 " processes or tasks could not join the scope (its map "
			"was full): their operations were not traced\n",
			t->scope_full);
	if (t->exec_lost)
		fprintf(f,
			"warning: %" PRIu64 " exec records lost (ring buffer full): a process that "
			"exec'd may show its images merged\n",
			t->exec_lost);
}

/* A process's first line: hits, batching, probed calls, cost, sampling. */
static void print_proc_line(FILE *f, const struct kt_agg *a, const struct kt_proc *p,
			    const struct kt_report_totals *t, double secs, bool interval)
{
	double pct, fcost;
	uint64_t fcalls = proc_func_calls(a, p, interval, &fcost);

	proc_cost(a, p, t, interval, &pct);
	fprintf(f, "pid %u (%s)", p->pid, p->comm);
	if (p->exec_gen)
		fprintf(f, " after exec #%u", p->exec_gen);
	fprintf(f, "%s: %" PRIu64 " probe hits",
		p->execed   ? " [replaced by exec]"
		: p->exited ? " [exited]"
			    : "",
		interval ? p->hits_iv : p->hits);
	if (interval ? p->batched_iv : p->batched)
		fprintf(f, " (%" PRIu64 " batched, %" PRIu64 " traps)",
			interval ? p->batched_iv : p->batched, interval ? p->traps_iv : p->traps);
	if (fcalls)
		fprintf(f, ", %" PRIu64 " probed function calls", fcalls);
	fprintf(f, ", tracing cost %.3f%% of %.2f s", pct, secs);
	sampling_text(f, p, t);
	fputc('\n', f);
}

/* A retransmit row: the probe's reason, and the share of messages sent. */
static void retransmit_row(FILE *f, const struct kt_ring_agg *r, uint64_t nrt, uint64_t nsend,
			   double secs, bool interval)
{
	const uint64_t *why = interval ? r->rtx_why_iv : r->rtx_why;
	/* the probe's reason (retransmits are never sampled: exact); the ratio is
	   per message sent: a transport's retransmits count datagrams, which may
	   pack many messages or carry a fragment */
	char pct[40] = "no msgs sent", cls[112];

	if (nsend)
		snprintf(pct, sizeof(pct), "%.2f %% of msgs sent",
			 100.0 * (double)nrt / (double)nsend);
	snprintf(cls, sizeof(cls), "%s (timeout %" PRIu64 ", fast %" PRIu64 "; %s)",
		 kt_rtx_class_label(kt_classify_retransmit(nrt, nsend)), why[1], why[2], pct);
	row(f, r, "retransmit", nrt, secs, NULL, cls);
}

/* One ring's rows: send, recv, sojourn, backpressure, retransmit. */
static void ring_rows(FILE *f, const struct kt_ring_agg *r, double secs, bool interval)
{
	const struct kt_series *snd = &r->s[KT_EV_SEND], *rcv = &r->s[KT_EV_RECV];
	const struct kt_series *bp = &r->s[KT_EV_BACKPRESSURE];
	const struct kt_series *rt = &r->s[KT_EV_RETRANSMIT];
	uint64_t nsend = series_ops(snd, interval), nrecv = series_ops(rcv, interval);
	uint64_t nbp = series_ops(bp, interval), nrt = series_ops(rt, interval);
	char cls[112];

	if (snd->seen)
		latency_row(f, r, "send", nsend, secs, series_hist(snd, false, interval));
	if (rcv->seen) {
		const struct kt_hist *h;

		latency_row(f, r, "recv", nrecv, secs, series_hist(rcv, false, interval));
		h = series_hist(rcv, true, interval);
		if (h && kt_hist_count(h))
			row(f, r, "sojourn", kt_hist_count(h), secs, h, NULL);
	}
	if (bp->seen || snd->seen) {
		snprintf(cls, sizeof(cls), "%s",
			 kt_bp_class_label(kt_classify_backpressure(nbp, nsend)));
		row(f, r, "backpressure", nbp, secs, series_hist(bp, false, interval), cls);
	}
	if (rt->seen)
		retransmit_row(f, r, nrt, nsend, secs, interval);
}

/* A process's ring table; whether it had any row. */
static bool proc_rings(FILE *f, const struct kt_agg *a, const struct kt_proc *p, double secs,
		       bool interval)
{
	bool any = false;

	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		if (!shown(r, p, interval))
			continue;
		if (!any) {
			fprintf(f,
				"  %5s %-20s %-12s %10s %9s %9s %8s %8s %8s %8s %8s %8s  "
				"%s\n",
				"RING", "NAME", "OP", "COUNT", "RATE/s", "SAMPLES", "MIN", "P50",
				"P90", "P99", "P99.9", "MAX", "CLASS");
			any = true;
		}
		ring_rows(f, r, secs, interval);
	}
	return any;
}

static void proc_hists(FILE *f, const struct kt_agg *a, const struct kt_proc *p, bool interval)
{
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		if (!shown(r, p, interval))
			continue;
		print_hist(f, r, "send latency", series_hist(&r->s[KT_EV_SEND], false, interval));
		print_hist(f, r, "recv latency", series_hist(&r->s[KT_EV_RECV], false, interval));
		print_hist(f, r, "sojourn", series_hist(&r->s[KT_EV_RECV], true, interval));
		print_hist(f, r, "backpressure wait",
			   series_hist(&r->s[KT_EV_BACKPRESSURE], false, interval));
	}
}

/* One process: its line, rings, functions, counters and histograms. */
static void print_proc(FILE *f, const struct kt_agg *a, const struct kt_proc *p,
		       const struct kt_report_totals *t, double secs, bool hist, bool interval)
{
	bool any;

	print_proc_line(f, a, p, t, secs, interval);
	any = proc_rings(f, a, p, secs, interval);
	if (!p->execed && func_rows(f, a, t, p->pid, secs, hist, interval))
		any = true;
	if (!any)
		fprintf(f, "  (no events yet)\n");
	if (any && a->npmu) {
		fprintf(f, "  %5s %-20s %-28s %9s %10s %10s %10s %10s %10s %10s\n", "RING", "NAME",
			"COUNTER PER OP", "SAMPLES", "MIN", "P50", "P90", "P99", "MAX", "MEAN");
		for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
			if (shown(r, p, interval))
				pmu_rows(f, a, r, interval);
	}
	if (hist)
		proc_hists(f, a, p, interval);
}

/* What --func could not time or count, and events that made no sense. */
static void print_func_stats(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t)
{
	const uint64_t *fs = t->func_stats;

	if (fs[KT_FSTAT_UNTIMED] || fs[KT_FSTAT_UNMATCHED] || fs[KT_FSTAT_ABANDONED] ||
	    fs[KT_FSTAT_NOCOUNT])
		fprintf(f,
			"functions: %" PRIu64 " calls not timed (nested deeper than %d), %" PRIu64
			" returns without entry, %" PRIu64 " calls that never returned, %" PRIu64
			" calls not counted (count map full)\n",
			fs[KT_FSTAT_UNTIMED], KT_FUNC_MAX_DEPTH, fs[KT_FSTAT_UNMATCHED],
			fs[KT_FSTAT_ABANDONED], fs[KT_FSTAT_NOCOUNT]);
	if (a->bad_events)
		fprintf(f, "malformed events: %" PRIu64 "\n", a->bad_events);
}

void kt_report_text(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t, bool hist,
		    bool interval)
{
	double secs = interval ? t->interval_s : t->elapsed_s;
	char hb[16], tb[16];

	print_header(f, t, interval);
	fprintf(f, "%s; probe hit %s", t->stack_errors ? " [some stacks unavailable]" : "",
		t->hit_ns > 0 ? kt_fmt_ns(hb, sizeof(hb), (uint64_t)t->hit_ns) : "not measured");
	if (t->batch_record_ns > 0)
		fprintf(f, ", batched %s an op + %s a trap",
			kt_fmt_ns(hb, sizeof(hb), (uint64_t)(t->batch_record_ns + 0.5)),
			kt_fmt_ns(tb, sizeof(tb), (uint64_t)t->batch_trap_ns));
	fputc('\n', f);
	print_loss(f, t, interval);
	print_coverage(f, a, t);
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (!interval || kt_proc_in_interval(a, p)) /* else gone before it: totals only */
			print_proc(f, a, p, t, secs, hist, interval);
	print_func_stats(f, a, t);
}

/* One --func function: exact calls, calibration figures, raw and corrected latency. */
static void json_func(struct kt_json *w, const struct kt_agg *a, const struct kt_func_agg *fa,
		      double secs, bool interval)
{
	const struct kt_func_desc *d = &a->func_desc[fa->idx];
	uint64_t n = series_ops(&fa->s, interval);
	const struct kt_hist *raw = func_hist(fa, false, interval);
	const struct kt_hist *corr = func_hist(fa, true, interval);
	struct kt_hist empty;

	kt_hist_init(&empty);
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "index", fa->idx);
	kt_json_kv_string(w, "name", d->name);
	kt_json_kv_string(w, "module", d->module);
	kt_json_kv_u64(w, "calls", n);
	kt_json_kv_double(w, "calls_rate", secs > 0 ? (double)n / secs : 0);
	if (interval)
		kt_json_kv_u64(w, "calls_total", kt_series_count(&fa->s));
	kt_json_kv_u64(w, "samples", raw ? kt_hist_count(raw) : 0);
	kt_json_kv_u64(w, "sample_every", d->sample_every ? d->sample_every : 1);
	kt_json_kv_double(w, "probe_bias_ns", d->bias_ns);
	kt_json_kv_double(w, "probe_pair_ns", d->pair_ns);
	kt_json_kv_double(w, "probe_tail_ns", d->tail_ns);
	kt_json_hist(w, "latency_raw", raw ? raw : &empty, secs);
	kt_json_hist(w, "latency_corrected", corr ? corr : &empty, secs);
	kt_json_hist_buckets(w, "latency_corrected_buckets", corr ? corr : &empty);
	kt_json_object_end(w);
}

/* retransmit: the class (kt_classify) and the events by the probe's reason */
static void json_retransmit(struct kt_json *w, const struct kt_ring_agg *r, uint64_t count,
			    bool interval)
{
	const uint64_t *why = interval ? r->rtx_why_iv : r->rtx_why;
	uint64_t sends = series_ops(&r->s[KT_EV_SEND], interval);

	kt_json_kv_string(w, "class", kt_rtx_class_label(kt_classify_retransmit(count, sends)));
	kt_json_key(w, "reasons");
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "timeout", why[1]);
	kt_json_kv_u64(w, "fast", why[2]);
	kt_json_kv_u64(w, "unspecified", why[0]);
	kt_json_object_end(w);
}

static void json_series(struct kt_json *w, const struct kt_agg *a, const char *key,
			const struct kt_series *s, const struct kt_hist *h, uint64_t count,
			double secs, bool interval, const struct kt_ring_agg *rtx)
{
	struct kt_hist empty;

	kt_json_key(w, key);
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "ops", count);
	kt_json_kv_double(w, "ops_rate", secs > 0 ? (double)count / secs : 0);
	if (interval)
		kt_json_kv_u64(w, "ops_total", kt_series_count(s));
	kt_json_kv_u64(w, "samples", h ? kt_hist_count(h) : 0);
	if (!h) {
		kt_hist_init(&empty);
		h = &empty;
	}
	kt_json_hist(w, "latency", h, secs);
	/* the histogram itself (the run's, or the interval's), for kaos-trace diff */
	kt_json_hist_buckets(w, "latency_buckets", h);
	if (rtx)
		json_retransmit(w, rtx, count, interval);
	if (a->npmu) {
		/* per-operation counter values, in the counter's unit */
		kt_json_key(w, "pmu");
		kt_json_object_begin(w);
		for (int i = 0; i < a->npmu && i < KT_PMU_MAX; i++) {
			const struct kt_hist *ph = interval ? s->pmu_iv[i] : s->pmu[i];

			if (!ph) {
				kt_hist_init(&empty);
				ph = &empty;
			}
			kt_json_hist(w, a->pmu_names[i], ph, secs);
		}
		kt_json_object_end(w);
	}
	kt_json_object_end(w);
}

/* "total": {fired, delivered, lost} since attach; an interval line adds "interval": {...}. */
static void json_event_counts(struct kt_json *w, const struct kt_report_totals *t, bool interval)
{
	kt_json_key(w, "total");
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "fired", t->fired);
	kt_json_kv_u64(w, "delivered", t->delivered);
	kt_json_kv_u64(w, "lost", t->lost);
	kt_json_object_end(w);
	if (!interval)
		return;
	kt_json_key(w, "interval");
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "fired", since(t->fired, t->fired_iv0));
	kt_json_kv_u64(w, "delivered", since(t->delivered, t->delivered_iv0));
	kt_json_kv_u64(w, "lost", since(t->lost, t->lost_iv0));
	kt_json_object_end(w);
}

/* Sampling, scope, the ring filter and --func's own counts. */
static void json_coverage(struct kt_json *w, const struct kt_agg *a,
			  const struct kt_report_totals *t)
{
	if (t->has_sampling) {
		kt_json_key(w, "sampling");
		kt_json_object_begin(w);
		kt_json_kv_string(w, "mode", kt_sampling_mode_name(t->sampling.mode));
		if (t->sampling.mode == KT_SAMPLING_FIXED) {
			kt_json_kv_u64(w, "period", t->sampling.period);
		} else {
			kt_json_kv_double(w, "budget_pct", t->sampling.budget_pct);
		}
		kt_json_object_end(w);
	}
	if (t->scope) {
		kt_json_kv_string(w, "scope", t->scope);
		kt_json_kv_u64(w, "out_of_scope_hits", t->out_of_scope);
		kt_json_kv_u64(w, "scope_full", t->scope_full);
	}
	kt_json_kv_u64(w, "exec_lost", t->exec_lost);
	if (a->ring_filter) { /* -r NAME: the events of the rings it left out */
		kt_json_kv_u64(w, "ring_filter_dropped_events", a->ring_filter->dropped);
		kt_json_kv_u64(w, "ring_filter_dropped_rings", a->ring_filter->rings_dropped);
	}
	if (a->nfuncs) {
		kt_json_key(w, "func");
		kt_json_object_begin(w);
		kt_json_kv_bool(w, "calibrated", t->func_calibrated);
		kt_json_kv_u64(w, "untimed", t->func_stats[KT_FSTAT_UNTIMED]);
		kt_json_kv_u64(w, "unmatched_returns", t->func_stats[KT_FSTAT_UNMATCHED]);
		kt_json_kv_u64(w, "abandoned", t->func_stats[KT_FSTAT_ABANDONED]);
		kt_json_kv_u64(w, "not_counted", t->func_stats[KT_FSTAT_NOCOUNT]);
		kt_json_kv_u64(w, "sampled_out", t->func_stats[KT_FSTAT_SAMPLED_OUT]);
		kt_json_object_end(w);
	}
}

/* The run's figures: span, events, loss, probe cost, sampling, scope, filters. */
static void json_run(struct kt_json *w, const struct kt_agg *a, const struct kt_report_totals *t,
		     bool interval)
{
	kt_json_kv_string(w, "type", interval ? "interval" : "final");
	kt_json_kv_u64(w, "schema", KT_REPORT_SCHEMA);
	/* what processes[] hold: this interval's figures, or the totals since attach */
	kt_json_kv_string(w, "span", interval ? "interval" : "total");
	kt_json_kv_double(w, "elapsed_s", t->elapsed_s);
	kt_json_kv_double(w, "interval_s", interval ? t->interval_s : t->elapsed_s);
	kt_json_kv_u64(w, "fired", t->fired);
	kt_json_kv_u64(w, "delivered", t->delivered);
	kt_json_kv_u64(w, "lost", t->lost);
	if (interval) {
		kt_json_kv_u64(w, "lost_interval",
			       t->lost >= t->lost_iv0 ? t->lost - t->lost_iv0 : t->lost);
	}
	if (t->batch_untracked) {
		kt_json_kv_u64(w, "batch_untracked", t->batch_untracked);
	}
	/* false: events were lost, the counts below are lower bounds (kt_report.h) */
	kt_json_kv_bool(w, "counts_exact", kt_report_counts_exact(t));
	json_event_counts(w, t, interval);
	kt_json_kv_double(w, "probe_hit_ns", t->hit_ns);
	/* kaos:batch: a fire's trap and a batched op (0: not measured, priced as a hit) */
	kt_json_kv_double(w, "batch_trap_ns", t->batch_trap_ns);
	kt_json_kv_double(w, "batch_record_ns", t->batch_record_ns);
	json_coverage(w, a, t);
}

/* One ring of a process: its series and the sojourn. */
static void json_ring(struct kt_json *w, const struct kt_agg *a, const struct kt_ring_agg *r,
		      double secs, bool interval)
{
	static const uint32_t types[] = {KT_EV_SEND, KT_EV_RECV, KT_EV_BACKPRESSURE,
					 KT_EV_RETRANSMIT};
	const struct kt_hist *soj = series_hist(&r->s[KT_EV_RECV], true, interval);

	kt_json_object_begin(w);
	kt_json_kv_u64(w, "id", r->ring_id);
	kt_json_kv_string(w, "name", r->name);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct kt_series *s = &r->s[types[i]];

		if (!s->seen)
			continue;
		json_series(w, a, kt_event_type_name(types[i]), s, series_hist(s, false, interval),
			    series_ops(s, interval), secs, interval,
			    types[i] == KT_EV_RETRANSMIT ? r : NULL);
	}
	if (soj) {
		kt_json_hist(w, "sojourn", soj, secs);
		kt_json_hist_buckets(w, "sojourn_buckets", soj);
	}
	kt_json_object_end(w);
}

/* A process's own figures: hits, batching, cost, sampling. */
static void json_proc_head(struct kt_json *w, const struct kt_agg *a, const struct kt_proc *p,
			   const struct kt_report_totals *t, bool interval)
{
	double pct, cost = proc_cost(a, p, t, interval, &pct);

	kt_json_kv_u64(w, "pid", p->pid);
	kt_json_kv_string(w, "comm", p->comm);
	kt_json_kv_u64(w, "exec", p->exec_gen);
	kt_json_kv_bool(w, "exited", p->exited);
	kt_json_kv_bool(w, "replaced_by_exec", p->execed);
	kt_json_kv_u64(w, "probe_hits", interval ? p->hits_iv : p->hits);
	if (interval)
		kt_json_kv_u64(w, "probe_hits_total", p->hits);
	kt_json_kv_u64(w, "batched", interval ? p->batched_iv : p->batched);
	kt_json_kv_u64(w, "batch_traps", interval ? p->traps_iv : p->traps);
	kt_json_kv_double(w, "cost_ns", cost); /* what tracing cost it, as cost_pct prices it */
	kt_json_kv_double(w, "cost_pct", pct);
	kt_json_kv_u64(w, "sample_every", p->sample_every ? p->sample_every : 1);
	/* this tracer's request, and whose request is in effect (0: unknown) */
	kt_json_kv_u64(w, "sample_asked", p->sample_asked);
	kt_json_kv_u64(w, "sample_by_pid", p->sample_by > 0 ? (uint64_t)p->sample_by : 0);
}

static void json_proc(struct kt_json *w, const struct kt_agg *a, const struct kt_proc *p,
		      const struct kt_report_totals *t, double secs, bool interval)
{
	kt_json_object_begin(w);
	json_proc_head(w, a, p, t, interval);
	kt_json_key(w, "rings");
	kt_json_array_begin(w);
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		if (shown(r, p, interval))
			json_ring(w, a, r, secs, interval);
	kt_json_array_end(w);
	kt_json_key(w, "functions");
	kt_json_array_begin(w);
	for (const struct kt_func_agg *fa = a->funcs; fa; fa = fa->next)
		if (fa->pid == p->pid && fa->idx < a->nfuncs && !p->execed)
			json_func(w, a, fa, secs, interval);
	kt_json_array_end(w);
	if (t->json_proc_extra && !p->execed)
		t->json_proc_extra(w, p->pid, t->json_proc_extra_ctx);
	kt_json_object_end(w);
}

void kt_report_json(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t,
		    bool interval)
{
	struct kt_json w;
	double secs = interval ? t->interval_s : t->elapsed_s;

	kt_json_init_file(&w, f);
	kt_json_object_begin(&w);
	json_run(&w, a, t, interval);
	kt_json_key(&w, "processes");
	kt_json_array_begin(&w);
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (!interval || kt_proc_in_interval(a, p))
			json_proc(&w, a, p, t, secs, interval);
	kt_json_array_end(&w);
	if (t->json_extra)
		t->json_extra(&w, t->json_extra_ctx);
	kt_json_object_end(&w);
	fputc('\n', f);
	fflush(f);
}
