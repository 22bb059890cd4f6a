// SPDX-License-Identifier: MIT
#include "kt_prom.h"
#include "kt_array.h"
#include "kt_version.h"

#include <errno.h>
#include <stddef.h>
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

/* ---------------------------------------------------------------- ring registry */

struct reg_entry {
	uint32_t pid, exec_gen, ring_id; /* a ring of one process image */
	bool folded;
	bool seen;	    /* in the aggregation at the last update */
	uint64_t closed_at; /* 0: open */
};

struct kt_prom_rings {
	struct reg_entry *v; /* sorted by (pid, exec_gen, ring_id) */
	size_t n, cap;
	int max_rings, admitted;
	uint64_t folded, retired;
	/* totals of the folded rings no longer in the aggregation */
	uint64_t gone_counts[KT_WIN_C_NR];
	struct kt_hist *gone_hist[KT_WIN_H_NR];
};

struct kt_prom_rings *kt_prom_rings_new(int max_rings)
{
	struct kt_prom_rings *pr = calloc(1, sizeof(*pr));

	if (pr)
		kt_prom_rings_set_max(pr, max_rings);
	return pr;
}

void kt_prom_rings_free(struct kt_prom_rings *pr)
{
	if (!pr)
		return;
	for (int k = 0; k < KT_WIN_H_NR; k++)
		free(pr->gone_hist[k]);
	free(pr->v);
	free(pr);
}

void kt_prom_rings_set_max(struct kt_prom_rings *pr, int max_rings)
{
	pr->max_rings = max_rings < 1 ? 1 : max_rings;
}

int kt_prom_rings_max(const struct kt_prom_rings *pr)
{
	return pr->max_rings;
}

uint64_t kt_prom_rings_folded(const struct kt_prom_rings *pr)
{
	return pr->folded;
}

uint64_t kt_prom_rings_retired(const struct kt_prom_rings *pr)
{
	return pr->retired;
}

int kt_prom_rings_admitted(const struct kt_prom_rings *pr)
{
	return pr->admitted;
}

static int entry_cmp(uint32_t pid, uint32_t gen, uint32_t ring_id, const struct reg_entry *e)
{
	if (pid != e->pid)
		return pid < e->pid ? -1 : 1;
	if (gen != e->exec_gen)
		return gen < e->exec_gen ? -1 : 1;
	return ring_id < e->ring_id ? -1 : ring_id > e->ring_id;
}

/* Index of (pid, gen, ring_id), or of where it would go (*found false). */
static size_t entry_find(const struct kt_prom_rings *pr, uint32_t pid, uint32_t gen,
			 uint32_t ring_id, bool *found)
{
	size_t lo = 0, hi = pr->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(pid, gen, ring_id, &pr->v[mid]);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*found = false;
	return lo;
}

static const struct reg_entry *entry_of(const struct kt_prom_rings *pr, const struct kt_ring_agg *r)
{
	bool found;
	size_t i = entry_find(pr, r->pid, r->exec_gen, r->ring_id, &found);

	return found ? &pr->v[i] : NULL;
}

/* New rings are admitted while there is room under the cap, else folded. */
static int entry_add(struct kt_prom_rings *pr, size_t at, const struct kt_ring_agg *r)
{
	if (kt_array_reserve(pr->v, pr->cap, pr->n + 1))
		return -ENOMEM;
	memmove(&pr->v[at + 1], &pr->v[at], (pr->n - at) * sizeof(pr->v[0]));
	pr->v[at] =
		(struct reg_entry){.pid = r->pid, .exec_gen = r->exec_gen, .ring_id = r->ring_id};
	pr->n++;
	if (pr->admitted < pr->max_rings) {
		pr->admitted++;
	} else {
		pr->v[at].folded = true;
		pr->folded++;
	}
	return 0;
}

/* A folded ring leaves the aggregation: its totals stay in the overflow series. */
static int keep_gone_totals(struct kt_prom_rings *pr, const struct kt_ring_agg *r)
{
	for (int c = 0; c < KT_WIN_C_NR; c++)
		pr->gone_counts[c] += kt_win_ring_cum_count(r, (enum kt_win_count)c);
	for (int k = 0; k < KT_WIN_H_NR; k++) {
		const struct kt_hist *h = kt_win_ring_cum_hist(r, (enum kt_win_hist)k);

		if (!h)
			continue;
		if (!pr->gone_hist[k]) {
			pr->gone_hist[k] = malloc(sizeof(struct kt_hist));
			if (!pr->gone_hist[k])
				return -ENOMEM;
			kt_hist_init(pr->gone_hist[k]);
		}
		kt_hist_merge(pr->gone_hist[k], h);
	}
	return 0;
}

static void entry_remove(struct kt_prom_rings *pr, size_t i)
{
	if (!pr->v[i].folded)
		pr->admitted--;
	memmove(&pr->v[i], &pr->v[i + 1], (pr->n - i - 1) * sizeof(pr->v[0]));
	pr->n--;
}

/* Registers a's rings; returns how many are due for retirement (marked in ids). */
static int register_rings(struct kt_prom_rings *pr, const struct kt_agg *a, uint64_t now,
			  uint64_t grace_ns, uint32_t (*due)[3], int max_due)
{
	int ndue = 0;

	for (size_t i = 0; i < pr->n; i++)
		pr->v[i].seen = false;
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		bool found;
		size_t i = entry_find(pr, r->pid, r->exec_gen, r->ring_id, &found);

		if (!found && entry_add(pr, i, r))
			return -ENOMEM;
		struct reg_entry *e = &pr->v[i];

		e->seen = true;
		if (r->closed && !e->closed_at)
			e->closed_at = now ? now : 1;
		if (e->closed_at && now - e->closed_at >= grace_ns && ndue < max_due) {
			if (e->folded && keep_gone_totals(pr, r))
				continue; /* out of memory: stays, tried again later */
			due[ndue][0] = r->pid;
			due[ndue][1] = r->exec_gen;
			due[ndue][2] = r->ring_id;
			ndue++;
		}
	}
	/* rings that went without the caller telling us (never expected) */
	for (size_t i = pr->n; i-- > 0;)
		if (!pr->v[i].seen)
			entry_remove(pr, i);
	return ndue;
}

int kt_prom_rings_update(struct kt_prom_rings *pr, const struct kt_agg *a, uint64_t now,
			 uint64_t grace_ns, kt_prom_retire_fn fn, void *ctx)
{
	uint32_t due[256][3];
	int ndue = register_rings(pr, a, now, grace_ns, due, 256);

	if (ndue < 0)
		return ndue;
	for (int k = 0; k < ndue; k++) {
		bool found;
		size_t i = entry_find(pr, due[k][0], due[k][1], due[k][2], &found);

		if (found)
			entry_remove(pr, i);
		pr->retired++;
		if (fn)
			fn(ctx, due[k][0], due[k][1], due[k][2]);
	}
	return ndue;
}

/* Forgets pid's rings: of every image (all) or of image gen only. */
static void forget_rings(struct kt_prom_rings *pr, const struct kt_agg *a, uint32_t pid, bool all,
			 uint32_t gen)
{
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		bool found;
		size_t i;

		if (r->pid != pid || (!all && r->exec_gen != gen))
			continue;
		i = entry_find(pr, r->pid, r->exec_gen, r->ring_id, &found);
		if (!found)
			continue;
		if (pr->v[i].folded)
			keep_gone_totals(pr, r); /* out of memory: the overflow loses them */
		entry_remove(pr, i);
	}
}

void kt_prom_rings_forget_pid(struct kt_prom_rings *pr, const struct kt_agg *a, uint32_t pid)
{
	forget_rings(pr, a, pid, true, 0);
}

void kt_prom_rings_forget_image(struct kt_prom_rings *pr, const struct kt_agg *a, uint32_t pid,
				uint32_t exec_gen)
{
	forget_rings(pr, a, pid, false, exec_gen);
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

/*
 * exec="N" on the series of a process image after its Nth exec (ring ids
 * and counters restart in a new image): absent for the image found first,
 * so a process that never execs keeps its series, and only the execs seen
 * add series.
 */
static void exec_label(FILE *f, uint32_t exec_gen)
{
	if (exec_gen)
		fprintf(f, ",exec=\"%u\"", exec_gen);
}

/*
 * One ring series set as exported: a ring, or (r NULL) the overflow set
 * that the rings beyond the cap are folded into. The labels of a ring are
 * decided here and nowhere else.
 */
struct ring_view {
	const struct kt_ring_agg *r;
	const char *comm;
	bool with_id; /* another exported ring of the process has the same name */
};

static void ring_labels(FILE *f, const struct ring_view *v)
{
	if (!v->r) {
		fputs("ring=\"" KT_PROM_OVERFLOW_RING "\"", f);
		return;
	}
	fprintf(f, "pid=\"%u\",process=\"", v->r->pid);
	label_value(f, v->comm);
	fputc('"', f);
	exec_label(f, v->r->exec_gen);
	fputs(",ring=\"", f);
	label_value(f, v->r->name);
	fputc('"', f);
	if (v->with_id)
		fprintf(f, ",ring_id=\"%u\"", v->r->ring_id);
}

/* "{labels[,op="op"]" without the closing brace. */
static void open_labels(FILE *f, const char *name, const char *suffix, const struct ring_view *v,
			const char *op)
{
	fprintf(f, "%s%s{", name, suffix);
	ring_labels(f, v);
	if (op)
		fprintf(f, ",op=\"%s\"", op);
}

static void fmt_seconds(char *buf, size_t n, double s)
{
	if (isnan(s))
		snprintf(buf, n, "NaN");
	else
		snprintf(buf, n, "%.9g", s);
}

static void write_hist(struct pw *w, const char *name, const struct ring_view *v, const char *op,
		       const struct kt_hist *h)
{
	uint64_t b[KT_PROM_NBUCKETS + 1];
	char le[32], sum[40];

	kt_prom_buckets(h, b);
	for (int i = 0; i <= KT_PROM_NBUCKETS; i++) {
		if (i < KT_PROM_NBUCKETS)
			snprintf(le, sizeof(le), "%g", (double)KT_PROM_BUCKETS_NS[i] / 1e9);
		else
			snprintf(le, sizeof(le), "+Inf");
		open_labels(w->f, name, "_bucket", v, op);
		fprintf(w->f, ",le=\"%s\"} %" PRIu64 "\n", le, b[i]);
	}
	fmt_seconds(sum, sizeof(sum), (double)h->sum / 1e9);
	open_labels(w->f, name, "_sum", v, op);
	fprintf(w->f, "} %s\n", sum);
	open_labels(w->f, name, "_count", v, op);
	fprintf(w->f, "} %" PRIu64 "\n", h->count);
}

static void write_summary(struct pw *w, const char *name, const struct ring_view *v, const char *op,
			  const char *window, const struct kt_hist *h)
{
	static const double qs[] = {0.5, 0.9, 0.99, 0.999};
	char val[40];

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		fmt_seconds(val, sizeof(val),
			    h->count ? (double)kt_hist_percentile(h, qs[i] * 100) / 1e9 : NAN);
		open_labels(w->f, name, "", v, op);
		fprintf(w->f, ",window=\"%s\",quantile=\"%g\"} %s\n", window, qs[i], val);
	}
	fmt_seconds(val, sizeof(val), (double)h->sum / 1e9);
	open_labels(w->f, name, "_sum", v, op);
	fprintf(w->f, ",window=\"%s\"} %s\n", window, val);
	open_labels(w->f, name, "_count", v, op);
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

/* ---------------------------------------------------------------- the heap (--alloc) */

static void alloc_labels(FILE *f, const struct kt_agg *a, uint32_t pid)
{
	const struct kt_proc *p = a ? a->procs : NULL;

	while (p && (p->pid != pid || p->execed))
		p = p->next;
	fprintf(f, "{pid=\"%u\",process=\"", pid);
	label_value(f, p ? p->comm : "");
	fputs("\"}", f);
}

/* The per-process families, one series per traced process (at most KT_ALLOC_MAX_PIDS). */
static void write_alloc(struct pw *w, const struct kt_prom_src *src)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} fams[] = {
		{"kaos_alloc_heap_bytes", "gauge",
		 "Bytes outstanding in blocks allocated since tracing began (not freed yet).",
		 offsetof(struct kt_alloc_live, cur_bytes)},
		{"kaos_alloc_peak_bytes", "gauge", "The most kaos_alloc_heap_bytes ever was.",
		 offsetof(struct kt_alloc_live, peak_bytes)},
		{"kaos_alloc_allocs_total", "counter",
		 "Successful allocation calls (realloc included).",
		 offsetof(struct kt_alloc_live, allocs)},
		{"kaos_alloc_frees_total", "counter",
		 "Blocks released (free, realloc's old block).",
		 offsetof(struct kt_alloc_live, frees)},
		{"kaos_alloc_allocated_bytes_total", "counter", "Bytes of every allocation.",
		 offsetof(struct kt_alloc_live, bytes_allocated)},
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(w, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < src->nalloc_procs; i++) {
			const char *rec = (const char *)&src->alloc_procs[i];

			fputs(fams[f].name, w->f);
			alloc_labels(w->f, src->agg, src->alloc_procs[i].pid);
			fprintf(w->f, " %" PRIu64 "\n", *(const uint64_t *)(rec + fams[f].off));
		}
	}
	if (!src->alloc_stats)
		return;
	counter(w, "kaos_trace_alloc_processes_untracked_total",
		"Processes --alloc could not trace: the map of traced processes was full "
		"(KAOS_TRACE_ALLOC_MAX_PROCS). From the first one on, "
		"kaos_trace_alloc_counts_exact "
		"is 0.",
		src->alloc_stats->procs_untracked);
	family(w, "kaos_trace_alloc_counts_exact", "gauge",
	       "1 while --alloc dropped nothing (no call, block, site or process untracked): the "
	       "kaos_alloc_* figures are exact since attach; 0: lower bounds.");
	fprintf(w->f, "kaos_trace_alloc_counts_exact %d\n",
		!kt_alloc_stats_dropped(src->alloc_stats));
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

/* The ring series sets of one scrape: views[] (admitted rings, then the overflow). */
struct ring_set {
	struct ring_view *views;
	size_t n;
	const struct kt_ring_agg **folded; /* rings folded into the overflow view */
	size_t nfolded;
	const struct kt_prom_rings *pr;
	const struct kt_windows *win;
	struct kt_hist *tmp; /* scratch for the overflow's merges */
};

static int cmp_view_name(const void *x, const void *y)
{
	const struct ring_view *a = *(const struct ring_view *const *)x;
	const struct ring_view *b = *(const struct ring_view *const *)y;

	if (a->r->pid != b->r->pid)
		return a->r->pid < b->r->pid ? -1 : 1;
	if (a->r->exec_gen != b->r->exec_gen) /* images are told apart by exec="N" */
		return a->r->exec_gen < b->r->exec_gen ? -1 : 1;
	return strncmp(a->r->name, b->r->name, KT_NAME_LEN);
}

/* ring_id where two exported rings of a process image share a name. */
static int mark_collisions(struct ring_view *v, size_t n)
{
	struct ring_view **byname = malloc((n ? n : 1) * sizeof(*byname));

	if (!byname)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		byname[i] = &v[i];
	qsort(byname, n, sizeof(*byname), cmp_view_name);
	for (size_t i = 1; i < n; i++)
		if (!cmp_view_name(&byname[i - 1], &byname[i]))
			byname[i - 1]->with_id = byname[i]->with_id = true;
	free(byname);
	return 0;
}

/* The comm of the process image r belongs to (an exec may change it). */
static const char *comm_of(const struct kt_agg *a, const struct kt_ring_agg *r)
{
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (kt_ring_of(r, p))
			return p->comm;
	return "?";
}

static void ring_set_free(struct ring_set *rs)
{
	free(rs->views);
	free(rs->folded);
	free(rs->tmp);
}

static int ring_set_build(struct ring_set *rs, const struct kt_prom_src *src)
{
	const struct kt_agg *a = src->agg;
	size_t nr = 0;

	memset(rs, 0, sizeof(*rs));
	rs->pr = src->rings;
	rs->win = src->win;
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		nr++;
	rs->views = calloc(nr + 1, sizeof(*rs->views));
	rs->folded = calloc(nr + 1, sizeof(*rs->folded));
	rs->tmp = malloc(2 * sizeof(*rs->tmp));
	if (!rs->views || !rs->folded || !rs->tmp)
		return -ENOMEM;
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		const struct reg_entry *e = rs->pr ? entry_of(rs->pr, r) : NULL;

		if (e && e->folded)
			rs->folded[rs->nfolded++] = r;
		else
			rs->views[rs->n++] = (struct ring_view){.r = r, .comm = comm_of(a, r)};
	}
	if (mark_collisions(rs->views, rs->n))
		return -ENOMEM;
	if (rs->pr && rs->pr->folded)
		rs->views[rs->n++] = (struct ring_view){.r = NULL};
	return 0;
}

static uint64_t view_count(const struct ring_set *rs, const struct ring_view *v,
			   enum kt_win_count c)
{
	uint64_t sum;

	if (v->r)
		return kt_win_ring_cum_count(v->r, c);
	sum = rs->pr->gone_counts[c];
	for (size_t i = 0; i < rs->nfolded; i++)
		sum += kt_win_ring_cum_count(rs->folded[i], c);
	return sum;
}

/* The cumulative histogram of a view; NULL: the ring has none (no series). */
static const struct kt_hist *view_hist(struct ring_set *rs, const struct ring_view *v,
				       enum kt_win_hist which)
{
	if (v->r)
		return kt_win_ring_cum_hist(v->r, which);
	kt_hist_init(rs->tmp);
	if (rs->pr->gone_hist[which])
		kt_hist_merge(rs->tmp, rs->pr->gone_hist[which]);
	for (size_t i = 0; i < rs->nfolded; i++) {
		const struct kt_hist *h = kt_win_ring_cum_hist(rs->folded[i], which);

		if (h)
			kt_hist_merge(rs->tmp, h);
	}
	return rs->tmp;
}

static void view_window_hist(struct ring_set *rs, const struct ring_view *v, int wi,
			     enum kt_win_hist which, struct kt_hist *out)
{
	if (v->r) {
		kt_windows_ring_hist(rs->win, wi, v->r, which, out);
		return;
	}
	kt_hist_init(out);
	for (size_t i = 0; i < rs->nfolded; i++) {
		kt_windows_ring_hist(rs->win, wi, rs->folded[i], which, &rs->tmp[1]);
		kt_hist_merge(out, &rs->tmp[1]);
	}
}

/* A count family: ops (send, recv) or one unlabelled op per view. */
static void write_ring_counts(struct pw *w, struct ring_set *rs)
{
	static const char *const ops[] = {"send", "recv"};

	family(w, "kaos_ring_messages_total", "counter",
	       "Messages sent/received per ring, from the probes' cumulative counters: exact while "
	       "kaos_trace_counts_exact is 1, else lower bounds.");
	for (size_t i = 0; i < rs->n; i++) {
		const struct ring_view *v = &rs->views[i];

		for (int k = 0; k < 2; k++) {
			if (v->r && !v->r->s[k].seen)
				continue;
			open_labels(w->f, "kaos_ring_messages_total", "", v, ops[k]);
			fprintf(w->f, "} %" PRIu64 "\n",
				view_count(rs, v, k ? KT_WIN_C_RECV : KT_WIN_C_SEND));
		}
	}
	family(w, "kaos_ring_backpressure_episodes_total", "counter",
	       "Sends that found the ring full (exact while kaos_trace_counts_exact is 1, else "
	       "lower bounds).");
	for (size_t i = 0; i < rs->n; i++) {
		const struct ring_view *v = &rs->views[i];

		if (v->r && !v->r->s[KT_EV_SEND].seen && !v->r->s[KT_EV_BACKPRESSURE].seen)
			continue;
		open_labels(w->f, "kaos_ring_backpressure_episodes_total", "", v, NULL);
		fprintf(w->f, "} %" PRIu64 "\n", view_count(rs, v, KT_WIN_C_BACKPRESSURE));
	}
	family(w, "kaos_ring_retransmits_total", "counter",
	       "Messages sent again (kaos_ring_note_retransmit; exact while "
	       "kaos_trace_counts_exact is 1, else lower bounds).");
	for (size_t i = 0; i < rs->n; i++) {
		const struct ring_view *v = &rs->views[i];

		/* 0 for a sending ring without retransmits, as for backpressure */
		if (v->r && !v->r->s[KT_EV_SEND].seen && !v->r->s[KT_EV_RETRANSMIT].seen)
			continue;
		open_labels(w->f, "kaos_ring_retransmits_total", "", v, NULL);
		fprintf(w->f, "} %" PRIu64 "\n", view_count(rs, v, KT_WIN_C_RETRANSMIT));
	}
}

static void write_ring_hists(struct pw *w, struct ring_set *rs, const struct kt_prom_src *src,
			     struct kt_hist *h)
{
	/* histograms: one family each, all its series together */
	for (size_t k = 0; k < sizeof(hists) / sizeof(hists[0]); k++) {
		if (hists[k].help)
			family(w, hists[k].name, "histogram", hists[k].help);
		for (size_t i = 0; i < rs->n; i++) {
			const struct kt_hist *cum = view_hist(rs, &rs->views[i], hists[k].which);

			if (cum)
				write_hist(w, hists[k].name, &rs->views[i], hists[k].op, cum);
		}
	}
	/* rolling windows as summaries */
	for (size_t k = 0; src->win && k < sizeof(hists) / sizeof(hists[0]); k++) {
		char name[96], wname[32];

		snprintf(name, sizeof(name), "%.*s_window_seconds",
			 (int)(strlen(hists[k].name) - strlen("_seconds")), hists[k].name);
		if (hists[k].help)
			family(w, name, "summary",
			       "The same over the rolling windows (window label): quantiles, sum "
			       "and count of the last N seconds.");
		for (int wi = 0; wi < kt_windows_count(src->win); wi++) {
			kt_fmt_duration(wname, sizeof(wname), kt_windows_len(src->win, wi));
			for (size_t i = 0; i < rs->n; i++) {
				const struct ring_view *v = &rs->views[i];

				if (v->r && !kt_win_ring_cum_hist(v->r, hists[k].which))
					continue;
				view_window_hist(rs, v, wi, hists[k].which, h);
				write_summary(w, name, v, hists[k].op, wname, h);
			}
		}
	}
}

/* How many ring series sets there are and what the cap folded or retired. */
static void write_ring_bounds(struct pw *w, const struct kt_prom_rings *pr)
{
	family(w, "kaos_ring_series", "gauge",
	       "Rings exported with their own series (the overflow set not counted).");
	fprintf(w->f, "kaos_ring_series %d\n", pr->admitted);
	family(w, "kaos_ring_series_max", "gauge",
	       "The cap on rings with their own series (metrics_max_rings).");
	fprintf(w->f, "kaos_ring_series_max %d\n", pr->max_rings);
	counter(w, "kaos_ring_series_folded_total",
		"Rings beyond the cap, folded into the ring=\"" KT_PROM_OVERFLOW_RING
		"\" series since start.",
		pr->folded);
	counter(w, "kaos_ring_series_retired_total",
		"Closed rings whose series were dropped after the grace period.", pr->retired);
}

static int write_rings(struct pw *w, const struct kt_prom_src *src)
{
	struct ring_set rs;
	struct kt_hist *h = malloc(sizeof(*h));
	int e = h ? ring_set_build(&rs, src) : -ENOMEM;

	if (!e) {
		write_ring_counts(w, &rs);
		write_ring_hists(w, &rs, src, h);
		if (src->rings)
			write_ring_bounds(w, src->rings);
	}
	if (h)
		ring_set_free(&rs);
	free(h);
	return e;
}

/* The tracer's own families: event accounting, probe cost, links, reloads. */
static void write_globals(struct pw *w, const struct kt_prom_src *src)
{
	const struct kt_report_totals *t = src->tot;
	FILE *f = w->f;
	char buf[64];

	counter(w, "kaos_trace_probe_fired_total", "Probe programs run past the filters.",
		t->fired);
	counter(w, "kaos_trace_events_delivered_total", "Events delivered to kaos-trace.",
		t->delivered);
	counter(w, "kaos_trace_events_lost_total",
		"Events lost (ring buffer full): from the first one on, the ring counts are "
		"lower bounds (kaos_trace_counts_exact 0) and histograms miss them.",
		t->lost);
	family(w, "kaos_trace_counts_exact", "gauge",
	       "1 while no event was lost since the daemon attached: the ring counts are exact; "
	       "0: they are lower bounds.");
	fprintf(f, "kaos_trace_counts_exact %d\n", kt_report_counts_exact(t));
	counter(w, "kaos_trace_events_filtered_total", "Probe hits dropped by the kernel filters.",
		t->filtered);
	family(w, "kaos_trace_probe_hit_seconds", "gauge", "Measured cost of one probe hit.");
	fmt_seconds(buf, sizeof(buf), t->hit_ns / 1e9);
	fprintf(f, "kaos_trace_probe_hit_seconds %s\n", buf);
	family(w, "kaos_trace_links", "gauge", "BPF links attached (probe sites x targets).");
	fprintf(f, "kaos_trace_links %d\n", src->links);
	counter(w, "kaos_trace_config_reloads_total", "Configuration reloads applied.",
		src->reloads);
	counter(w, "kaos_trace_config_reload_failures_total",
		"Configuration reloads rejected (the previous configuration stays).",
		src->reload_failures);
	counter(w, "kaos_trace_cost_warnings_total",
		"Times a traced process's tracing cost passed the budget or 10 % (each logged).",
		src->cost_warnings);
}

/* What tracing has cost each process, as kaos-trace prices it (per-op hits, batches). */
static void write_process_cost(struct pw *w, const struct kt_agg *a,
			       const struct kt_report_totals *t)
{
	struct kt_price pr = {t->hit_ns, t->batch_trap_ns, t->batch_record_ns};
	char buf[64];

	family(w, "kaos_trace_process_tracing_cost_seconds_total", "counter",
	       "What probing has cost a traced process: per-op hits, batched operations and "
	       "kaos:batch traps at their measured prices.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fmt_seconds(buf, sizeof(buf),
			    kt_price_cost_ns(&pr, p->hits, p->batched, p->traps) / 1e9);
		fprintf(w->f, "kaos_trace_process_tracing_cost_seconds_total{pid=\"%u\",process=\"",
			p->pid);
		label_value(w->f, p->comm);
		fputc('"', w->f);
		exec_label(w->f, p->exec_gen);
		fprintf(w->f, "} %s\n", buf);
	}
}

static void write_processes(struct pw *w, const struct kt_agg *a)
{
	FILE *f = w->f;

	family(w, "kaos_trace_process_probe_hits_total", "counter",
	       "Probe events delivered per traced process.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fprintf(f, "kaos_trace_process_probe_hits_total{pid=\"%u\",process=\"", p->pid);
		label_value(f, p->comm);
		fputc('"', f);
		exec_label(f, p->exec_gen);
		fprintf(f, "} %" PRIu64 "\n", p->hits);
	}
	family(w, "kaos_trace_process_running", "gauge",
	       "1 while a traced process image runs, 0 after it exited or exec'd.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fprintf(f, "kaos_trace_process_running{pid=\"%u\",process=\"", p->pid);
		label_value(f, p->comm);
		fputc('"', f);
		exec_label(f, p->exec_gen);
		fprintf(f, "} %d\n", !p->exited && !p->execed);
	}
	family(w, "kaos_trace_process_sample_every", "gauge",
	       "Sampling period in effect in a traced process (1 in N operations fire), read back "
	       "from it.");
	for (const struct kt_proc *p = a->procs; p; p = p->next) {
		fprintf(f, "kaos_trace_process_sample_every{pid=\"%u\",process=\"", p->pid);
		label_value(f, p->comm);
		fprintf(f, "\"} %u\n", p->sample_every ? p->sample_every : 1);
	}
}

static void write_alerts(struct pw *w, const struct kt_alerts *al)
{
	FILE *f = w->f;

	family(w, "kaos_trace_alert_firing", "gauge", "1 while an alert rule is firing, else 0.");
	for (int i = 0; i < kt_alerts_nrules(al); i++) {
		fputs("kaos_trace_alert_firing{rule=\"", f);
		label_value(f, kt_alerts_rule(al, i)->text);
		fprintf(f, "\"} %d\n", kt_alerts_state(al, i) == KT_ALERT_FIRING);
	}
	family(w, "kaos_trace_alert_value", "gauge",
	       "A rule's value at its last evaluation (its unit: ns, count, per second or "
	       "fraction); NaN without data.");
	for (int i = 0; i < kt_alerts_nrules(al); i++) {
		double v;

		fputs("kaos_trace_alert_value{rule=\"", f);
		label_value(f, kt_alerts_rule(al, i)->text);
		if (kt_alerts_last_value(al, i, &v))
			fprintf(f, "\"} %.17g\n", v);
		else
			fputs("\"} NaN\n", f);
	}
	family(w, "kaos_trace_alert_unmatched", "gauge",
	       "1 while a rule's selectors fit no traced ring (a typo in a ring name?), else 0.");
	for (int i = 0; i < kt_alerts_nrules(al); i++) {
		fputs("kaos_trace_alert_unmatched{rule=\"", f);
		label_value(f, kt_alerts_rule(al, i)->text);
		fprintf(f, "\"} %d\n", kt_alerts_unmatched(al, i));
	}
	family(w, "kaos_trace_alert_transitions_total", "counter",
	       "Alert transitions written (fired, resolved).");
	fprintf(f, "kaos_trace_alert_transitions_total{transition=\"fired\"} %" PRIu64 "\n",
		kt_alerts_fired(al));
	fprintf(f, "kaos_trace_alert_transitions_total{transition=\"resolved\"} %" PRIu64 "\n",
		kt_alerts_resolved(al));
}

/* kaos_build_info{version} 1: which build serves these series (the info-metric idiom). */
static void write_build_info(struct pw *w)
{
	family(w, "kaos_build_info", "gauge", "Always 1; the version label names this build.");
	fputs("kaos_build_info{version=\"", w->f);
	label_value(w->f, kt_version());
	fputs("\"} 1\n", w->f);
}

static void push_family(struct pw *w, const char *name, const char *help,
			const struct kt_prom_push *p, const uint64_t *v)
{
	family(w, name, "counter", help);
	for (int i = 0; i < KT_PROM_PUSH_KINDS; i++)
		fprintf(w->f, "%s{kind=\"%s\"} %" PRIu64 "\n", name, p->kind[i], v[i]);
}

static void write_push(struct pw *w, const struct kt_prom_push *p)
{
	push_family(w, "kaos_trace_pprof_push_sent_total",
		    "Profiles pushed to [pprof] push_url and accepted.", p, p->sent);
	push_family(w, "kaos_trace_pprof_push_failed_total",
		    "Push attempts that failed (connect, timeout, non-2xx).", p, p->failed);
	push_family(w, "kaos_trace_pprof_push_dropped_total",
		    "Profiles given up: retries spent or pushed out of the full queue.", p,
		    p->dropped);
}

int kt_prom_write(FILE *f, const struct kt_prom_src *src, bool om)
{
	struct pw w = {.f = f, .om = om};

	write_build_info(&w);
	write_globals(&w, src);
	write_processes(&w, src->agg);
	write_process_cost(&w, src->agg, src->tot);
	if (write_rings(&w, src))
		return -ENOMEM;
	if (src->alerts)
		write_alerts(&w, src->alerts);
	if (src->offcpu_stats)
		write_offcpu(&w, src);
	if (src->alloc_procs || src->alloc_stats)
		write_alloc(&w, src);
	if (src->push)
		write_push(&w, src->push);
	if (om)
		fputs("# EOF\n", f);
	return ferror(f) ? -EIO : 0;
}
