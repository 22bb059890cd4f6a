// SPDX-License-Identifier: MIT
#include "kt_prom.h"
#include "kt_version.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const uint64_t KT_PROM_BUCKETS_NS[KT_PROM_NBUCKETS] = {
	25,	   50,	      100,	  250,	      500,	  1000,	       2500,
	5000,	   10000,     25000,	  50000,      100000,	  250000,      500000,
	1000000,   2500000,   5000000,	  10000000,   25000000,	  50000000,    100000000,
	250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

void kt_prom_buckets(const struct kt_hist *h, uint64_t out[KT_PROM_NBUCKETS + 1])
{
	uint64_t acc = 0;
	int b = 0;

	memset(out, 0, sizeof(uint64_t) * (KT_PROM_NBUCKETS + 1));
	for (size_t i = 0; i < KT_HIST_OVERFLOW; i++) {
		uint64_t lo = kt_hist_bucket_lo(i), hi = kt_hist_bucket_hi(i);
		uint64_t mid = lo + (hi - lo) / 2;

		while (b < KT_PROM_NBUCKETS && mid > KT_PROM_BUCKETS_NS[b])
			out[b++] = acc;
		acc += h->counts[i];
	}
	while (b < KT_PROM_NBUCKETS)
		out[b++] = acc;
	out[KT_PROM_NBUCKETS] = h->count;
}

/* ---------------------------------------------------------------- helpers */

struct pw {
	FILE *f;
	bool om; /* OpenMetrics */
};

static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* "# HELP/# TYPE" for a family; counters are named without _total in OpenMetrics. */
static void family(struct pw *w, const char *name, const char *type, const char *help)
{
	size_t n = strlen(name);
	bool counter = !strcmp(type, "counter");
	int len = (int)(w->om && counter && n > 6 && !strcmp(name + n - 6, "_total") ? n - 6 : n);

	fprintf(w->f, "# HELP %.*s %s\n# TYPE %.*s %s\n", len, name, help, len, name, type);
}

static void ring_labels(FILE *f, const struct kt_agg *a, const struct kt_ring_agg *r)
{
	const char *comm = "?";

	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == r->pid)
			comm = p->comm;
	fprintf(f, "pid=\"%u\",process=\"", r->pid);
	label_value(f, comm);
	fputs("\",ring=\"", f);
	label_value(f, r->name);
	fprintf(f, "\",ring_id=\"%u\"", r->ring_id);
}

static void fmt_seconds(char *buf, size_t n, double s)
{
	if (isnan(s))
		snprintf(buf, n, "NaN");
	else
		snprintf(buf, n, "%.9g", s);
}

static void write_hist(struct pw *w, const char *name, const struct kt_agg *a,
		       const struct kt_ring_agg *r, const char *op, const struct kt_hist *h)
{
	uint64_t b[KT_PROM_NBUCKETS + 1];
	char le[32], sum[40];

	kt_prom_buckets(h, b);
	for (int i = 0; i <= KT_PROM_NBUCKETS; i++) {
		if (i < KT_PROM_NBUCKETS)
			snprintf(le, sizeof(le), "%g", (double)KT_PROM_BUCKETS_NS[i] / 1e9);
		else
			snprintf(le, sizeof(le), "+Inf");
		fprintf(w->f, "%s_bucket{", name);
		ring_labels(w->f, a, r);
		if (op)
			fprintf(w->f, ",op=\"%s\"", op);
		fprintf(w->f, ",le=\"%s\"} %" PRIu64 "\n", le, b[i]);
	}
	fmt_seconds(sum, sizeof(sum), (double)h->sum / 1e9);
	fprintf(w->f, "%s_sum{", name);
	ring_labels(w->f, a, r);
	if (op)
		fprintf(w->f, ",op=\"%s\"", op);
	fprintf(w->f, "} %s\n%s_count{", sum, name);
	ring_labels(w->f, a, r);
	if (op)
		fprintf(w->f, ",op=\"%s\"", op);
	fprintf(w->f, "} %" PRIu64 "\n", h->count);
}

static void write_summary(struct pw *w, const char *name, const struct kt_agg *a,
			  const struct kt_ring_agg *r, const char *op, const char *window,
			  const struct kt_hist *h)
{
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	char v[40];

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		fmt_seconds(v, sizeof(v),
			    h->count ? (double)kt_hist_percentile(h, qs[i] * 100) / 1e9 : NAN);
		fprintf(w->f, "%s{", name);
		ring_labels(w->f, a, r);
		if (op)
			fprintf(w->f, ",op=\"%s\"", op);
		fprintf(w->f, ",window=\"%s\",quantile=\"%g\"} %s\n", window, qs[i], v);
	}
	fmt_seconds(v, sizeof(v), (double)h->sum / 1e9);
	fprintf(w->f, "%s_sum{", name);
	ring_labels(w->f, a, r);
	if (op)
		fprintf(w->f, ",op=\"%s\"", op);
	fprintf(w->f, ",window=\"%s\"} %s\n%s_count{", window, v, name);
	ring_labels(w->f, a, r);
	if (op)
		fprintf(w->f, ",op=\"%s\"", op);
	fprintf(w->f, ",window=\"%s\"} %" PRIu64 "\n", window, h->count);
}

static void counter(struct pw *w, const char *name, const char *help, uint64_t v)
{
	family(w, name, "counter", help);
	fprintf(w->f, "%s %" PRIu64 "\n", name, v);
}

/* ---------------------------------------------------------------- off-CPU time */

static void offcpu_labels(FILE *f, const struct kt_offcpu_thread *t)
{
	fprintf(f, "{pid=\"%u\",process=\"", t->tgid);
	label_value(f, t->pcomm);
	fprintf(f, "\",tid=\"%u\",thread=\"", t->tid);
	label_value(f, t->comm);
	fputs("\"}", f);
}

static void write_offcpu(struct pw *w, const struct kt_prom_src *src)
{
	const struct kt_offcpu_stats *st = src->offcpu_stats;
	char buf[64];

	family(w, "kaos_offcpu_seconds_total", "counter",
	       "Time the traced threads spent blocked (switched out, not runnable), blocks "
	       "in progress included.");
	for (size_t i = 0; i < src->noffcpu_threads; i++) {
		fputs("kaos_offcpu_seconds_total", w->f);
		offcpu_labels(w->f, &src->offcpu_threads[i]);
		/* exact: whole seconds and nanoseconds */
		fprintf(w->f, " %" PRIu64 ".%09" PRIu64 "\n",
			src->offcpu_threads[i].ns / 1000000000u,
			src->offcpu_threads[i].ns % 1000000000u);
	}
	family(w, "kaos_offcpu_blocks_total", "counter",
	       "Blocks of the traced threads at least the minimum block long.");
	for (size_t i = 0; i < src->noffcpu_threads; i++) {
		fputs("kaos_offcpu_blocks_total", w->f);
		offcpu_labels(w->f, &src->offcpu_threads[i]);
		fprintf(w->f, " %" PRIu64 "\n", src->offcpu_threads[i].blocks);
	}
	family(w, "kaos_offcpu_dropped_total", "counter",
	       "Blocks not counted: count map full (count_map_full) or too many threads asleep "
	       "at once to time them (start_map_full).");
	fprintf(w->f, "kaos_offcpu_dropped_total{reason=\"count_map_full\"} %" PRIu64 "\n",
		st->lost);
	fprintf(w->f, "kaos_offcpu_dropped_total{reason=\"start_map_full\"} %" PRIu64 "\n",
		st->start_lost);
	family(w, "kaos_offcpu_dropped_seconds_total", "counter",
	       "Blocked time of the blocks dropped because the count map was full.");
	fprintf(w->f, "kaos_offcpu_dropped_seconds_total %" PRIu64 ".%09" PRIu64 "\n",
		st->lost_ns / 1000000000u, st->lost_ns % 1000000000u);
	counter(w, "kaos_offcpu_short_blocks_total",
		"Blocks shorter than the minimum block: not counted.", st->short_blocks);
	counter(w, "kaos_offcpu_no_stack_blocks_total",
		"Blocks whose user stack could not be taken (counted, stack unknown).",
		st->stack_err);
	family(w, "kaos_offcpu_min_block_seconds", "gauge",
	       "Blocks shorter than this are not counted.");
	fmt_seconds(buf, sizeof(buf), src->offcpu_min_block_ns / 1e9);
	fprintf(w->f, "kaos_offcpu_min_block_seconds %s\n", buf);
}

/* ---------------------------------------------------------------- the exposition */

/* The latency families: which histogram, its name, op label. */
static const struct {
	enum kt_win_hist which;
	const char *name, *op, *help;
} hists[] = {
	{KT_WIN_H_SEND, "kaos_ring_operation_duration_seconds", "send",
	 "Duration of ring operations (sampled probe events)."},
	{KT_WIN_H_RECV, "kaos_ring_operation_duration_seconds", "recv", NULL},
	{KT_WIN_H_SOJOURN, "kaos_ring_sojourn_seconds", NULL,
	 "Time messages spent in the ring, stamp to receive (sampled)."},
	{KT_WIN_H_BACKPRESSURE, "kaos_ring_backpressure_wait_seconds", NULL,
	 "Time senders waited for a free slot, per backpressure episode (sampled)."},
};

/* kaos_build_info{version} 1: which build serves these series (the info-metric idiom). */
static void write_build_info(struct pw *w)
{
	family(w, "kaos_build_info", "gauge", "Always 1; the version label names this build.");
	fputs("kaos_build_info{version=\"", w->f);
	label_value(w->f, kt_version());
	fputs("\"} 1\n", w->f);
}

int kt_prom_write(FILE *f, const struct kt_prom_src *src, bool om)
{
	struct pw w = {.f = f, .om = om};
	const struct kt_agg *a = src->agg;
	const struct kt_report_totals *t = src->tot;
	struct kt_hist *h = malloc(sizeof(*h));
	char buf[64];

	if (!h)
		return -ENOMEM;
	write_build_info(&w);
	counter(&w, "kaos_trace_probe_fired_total", "Probe programs run past the filters.",
		t->fired);
	counter(&w, "kaos_trace_events_delivered_total", "Events delivered to kaos-trace.",
		t->delivered);
	counter(&w, "kaos_trace_events_lost_total",
		"Events lost (ring buffer full): counts stay exact, histograms miss them.",
		t->lost);
	counter(&w, "kaos_trace_events_filtered_total", "Probe hits dropped by the kernel filters.",
		t->filtered);
	family(&w, "kaos_trace_probe_hit_seconds", "gauge", "Measured cost of one probe hit.");
	fmt_seconds(buf, sizeof(buf), t->hit_ns / 1e9);
	fprintf(f, "kaos_trace_probe_hit_seconds %s\n", buf);
	family(&w, "kaos_trace_links", "gauge", "BPF links attached (probe sites x targets).");
	fprintf(f, "kaos_trace_links %d\n", src->links);
	counter(&w, "kaos_trace_config_reloads_total", "Configuration reloads applied.",
		src->reloads);
	counter(&w, "kaos_trace_config_reload_failures_total",
		"Configuration reloads rejected (the previous configuration stays).",
		src->reload_failures);

	family(&w, "kaos_trace_process_probe_hits_total", "counter",
	       "Probe events delivered per traced process.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fprintf(f, "kaos_trace_process_probe_hits_total{pid=\"%u\",process=\"", p->pid);
		label_value(f, p->comm);
		fprintf(f, "\"} %" PRIu64 "\n", p->hits);
	}
	family(&w, "kaos_trace_process_running", "gauge",
	       "1 while a traced process runs, 0 after it exited.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fprintf(f, "kaos_trace_process_running{pid=\"%u\",process=\"", p->pid);
		label_value(f, p->comm);
		fprintf(f, "\"} %d\n", !p->exited);
	}

	family(&w, "kaos_ring_messages_total", "counter",
	       "Messages sent/received per ring (exact, from the probes' cumulative counters).");
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		static const char *const ops[] = {"send", "recv"};

		for (int k = 0; k < 2; k++) {
			if (!r->s[k].seen)
				continue;
			fputs("kaos_ring_messages_total{", f);
			ring_labels(f, a, r);
			fprintf(f, ",op=\"%s\"} %" PRIu64 "\n", ops[k], kt_series_count(&r->s[k]));
		}
	}
	family(&w, "kaos_ring_backpressure_episodes_total", "counter",
	       "Sends that found the ring full (exact).");
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		if (!r->s[KT_EV_SEND].seen && !r->s[KT_EV_BACKPRESSURE].seen)
			continue;
		fputs("kaos_ring_backpressure_episodes_total{", f);
		ring_labels(f, a, r);
		fprintf(f, "} %" PRIu64 "\n", kt_series_count(&r->s[KT_EV_BACKPRESSURE]));
	}
	family(&w, "kaos_ring_retransmits_total", "counter",
	       "Messages sent again (kaos_ring_note_retransmit, exact).");
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		/* 0 for a sending ring without retransmits, as for backpressure */
		if (!r->s[KT_EV_SEND].seen && !r->s[KT_EV_RETRANSMIT].seen)
			continue;
		fputs("kaos_ring_retransmits_total{", f);
		ring_labels(f, a, r);
		fprintf(f, "} %" PRIu64 "\n", kt_series_count(&r->s[KT_EV_RETRANSMIT]));
	}

	/* histograms: one family each, all its series together */
	for (size_t k = 0; k < sizeof(hists) / sizeof(hists[0]); k++) {
		if (hists[k].help)
			family(&w, hists[k].name, "histogram", hists[k].help);
		for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
			const struct kt_hist *cum = kt_win_ring_cum_hist(r, hists[k].which);

			if (cum)
				write_hist(&w, hists[k].name, a, r, hists[k].op, cum);
		}
	}
	/* rolling windows as summaries */
	for (size_t k = 0; src->win && k < sizeof(hists) / sizeof(hists[0]); k++) {
		char name[96], wname[32];

		snprintf(name, sizeof(name), "%.*s_window_seconds",
			 (int)(strlen(hists[k].name) - strlen("_seconds")), hists[k].name);
		if (hists[k].help)
			family(&w, name, "summary",
			       "The same over the rolling windows (window label): quantiles, sum "
			       "and count of the last N seconds.");
		for (int wi = 0; wi < kt_windows_count(src->win); wi++) {
			kt_fmt_duration(wname, sizeof(wname), kt_windows_len(src->win, wi));
			for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
				if (!kt_win_ring_cum_hist(r, hists[k].which))
					continue;
				kt_windows_ring_hist(src->win, wi, r, hists[k].which, h);
				write_summary(&w, name, a, r, hists[k].op, wname, h);
			}
		}
	}
	if (src->alerts) {
		family(&w, "kaos_trace_alert_firing", "gauge",
		       "1 while an alert rule is firing, else 0.");
		for (int i = 0; i < kt_alerts_nrules(src->alerts); i++) {
			fputs("kaos_trace_alert_firing{rule=\"", f);
			label_value(f, kt_alerts_rule(src->alerts, i)->text);
			fprintf(f, "\"} %d\n", kt_alerts_state(src->alerts, i) == KT_ALERT_FIRING);
		}
		family(&w, "kaos_trace_alert_value", "gauge",
		       "A rule's value at its last evaluation (its unit: ns, count, per second or "
		       "fraction); NaN without data.");
		for (int i = 0; i < kt_alerts_nrules(src->alerts); i++) {
			double v;

			fputs("kaos_trace_alert_value{rule=\"", f);
			label_value(f, kt_alerts_rule(src->alerts, i)->text);
			if (kt_alerts_last_value(src->alerts, i, &v))
				fprintf(f, "\"} %.17g\n", v);
			else
				fputs("\"} NaN\n", f);
		}
		family(&w, "kaos_trace_alert_transitions_total", "counter",
		       "Alert transitions written (fired, resolved).");
		fprintf(f, "kaos_trace_alert_transitions_total{transition=\"fired\"} %" PRIu64 "\n",
			kt_alerts_fired(src->alerts));
		fprintf(f,
			"kaos_trace_alert_transitions_total{transition=\"resolved\"} %" PRIu64 "\n",
			kt_alerts_resolved(src->alerts));
	}
	if (src->offcpu_stats)
		write_offcpu(&w, src);
	if (om)
		fputs("# EOF\n", f);
	free(h);
	return ferror(f) ? -EIO : 0;
}
