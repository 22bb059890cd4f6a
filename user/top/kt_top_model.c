// SPDX-License-Identifier: MIT
/* kt_top_model: rows, sort, filter and columns of `kaos-trace top` (kt_top_model.h). */
#include "kt_top_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void kt_top_model_init(struct kt_top_model *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < KT_TOP_NH; i++) {
		kt_hist_init(&m->detail_iv[i]);
		kt_hist_init(&m->detail_all[i]);
	}
}

void kt_top_model_free(struct kt_top_model *m)
{
	free(m->rows);
	free(m->vis);
	m->rows = NULL;
	m->vis = NULL;
	m->nrows = m->cap = m->nvis = 0;
}

static struct kt_top_row *find_row(struct kt_top_model *m, enum kt_top_kind kind, uint32_t pid,
				   uint32_t gen, uint32_t id)
{
	for (int i = 0; i < m->nrows; i++) {
		struct kt_top_row *r = &m->rows[i];

		if (r->kind == kind && r->pid == pid && r->exec_gen == gen && r->id == id)
			return r;
	}
	return NULL;
}

static int grow(struct kt_top_model *m)
{
	int cap = m->cap ? m->cap * 2 : 16;
	struct kt_top_row *rows;
	int *vis;

	if (m->cap >= KT_TOP_MAX_ROWS)
		return -ENOMEM;
	if (!(rows = realloc(m->rows, (size_t)cap * sizeof(*rows))))
		return -ENOMEM;
	m->rows = rows;
	if (!(vis = realloc(m->vis, (size_t)cap * sizeof(*vis))))
		return -ENOMEM;
	m->vis = vis;
	m->cap = cap;
	return 0;
}

/* The row of (kind, pid, gen, id), added (history empty) if new; NULL when full. */
static struct kt_top_row *get_row(struct kt_top_model *m, enum kt_top_kind kind, uint32_t pid,
				  uint32_t gen, uint32_t id)
{
	struct kt_top_row *r = find_row(m, kind, pid, gen, id);

	if (r)
		return r;
	if (m->nrows == m->cap && grow(m))
		return NULL;
	r = &m->rows[m->nrows++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->pid = pid;
	r->exec_gen = gen;
	r->id = id;
	return r;
}

static void percentiles(const struct kt_hist *h, uint64_t *p)
{
	bool any = h && kt_hist_count(h);

	p[KT_TOP_P50] = any ? kt_hist_percentile(h, 50) : 0;
	p[KT_TOP_P99] = any ? kt_hist_percentile(h, 99) : 0;
	p[KT_TOP_P999] = any ? kt_hist_percentile(h, 99.9) : 0;
}

static void push_spark(struct kt_top_row *r, uint64_t v)
{
	if (r->nspark == KT_TOP_SPARK) {
		memmove(r->spark, r->spark + 1, (KT_TOP_SPARK - 1) * sizeof(r->spark[0]));
		r->nspark--;
	}
	r->spark[r->nspark++] = v;
}

static enum kt_severity worst(enum kt_severity a, enum kt_severity b)
{
	return a > b ? a : b;
}

static const char *comm_of(const struct kt_agg *a, uint32_t pid, uint32_t gen)
{
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == pid && p->exec_gen == gen)
			return p->comm;
	return "?";
}

static void copy_hist(struct kt_hist *dst, const struct kt_hist *src)
{
	if (src)
		kt_hist_copy(dst, src);
	else
		kt_hist_reset(dst);
}

static void copy_detail(struct kt_top_model *m, int i, const struct kt_hist *iv,
			const struct kt_hist *all)
{
	copy_hist(&m->detail_iv[i], iv);
	copy_hist(&m->detail_all[i], all);
}

/* The interval's figures of one ring into its row. */
static void fill_ring(struct kt_top_row *row, const struct kt_ring_agg *r, double secs)
{
	const struct kt_series *snd = &r->s[KT_EV_SEND], *rcv = &r->s[KT_EV_RECV];
	const struct kt_series *bp = &r->s[KT_EV_BACKPRESSURE];
	uint64_t nsend = kt_series_count_iv(snd);
	enum kt_severity sev = KT_SEV_OK;

	if (r->name[0])
		snprintf(row->name, sizeof(row->name), "%s", r->name);
	else
		snprintf(row->name, sizeof(row->name), "#%u", r->ring_id);
	row->rate = (double)nsend / secs;
	row->recv_rate = (double)kt_series_count_iv(rcv) / secs;
	percentiles(snd->dur_iv, row->send);
	percentiles(rcv->dur_iv, row->recv);
	percentiles(rcv->soj_iv, row->soj);
	row->bp = kt_series_count_iv(bp);
	row->bp_wait_ns = bp->dur_iv ? (uint64_t)bp->dur_iv->sum : 0;
	if (row->send[KT_TOP_P99])
		sev = kt_lat_severity(kt_classify_latency(row->send[KT_TOP_P99]));
	if (row->recv[KT_TOP_P99])
		sev = worst(sev, kt_lat_severity(kt_classify_latency(row->recv[KT_TOP_P99])));
	row->sev = worst(sev, kt_bp_severity(kt_classify_backpressure(row->bp, nsend)));
	row->closed = r->closed;
	push_spark(row, row->send[KT_TOP_P99] > row->recv[KT_TOP_P99] ? row->send[KT_TOP_P99]
								      : row->recv[KT_TOP_P99]);
}

static void fill_func(struct kt_top_row *row, const struct kt_agg *a, const struct kt_func_agg *f,
		      double secs)
{
	/* the latency less the probes' own cost when it was calibrated */
	const struct kt_hist *h =
		f->corr_iv && kt_hist_count(f->corr_iv) ? f->corr_iv : f->s.dur_iv;

	snprintf(row->name, sizeof(row->name), "%s()",
		 f->idx < a->nfuncs && a->func_desc ? a->func_desc[f->idx].name : "?");
	row->rate = (double)kt_series_count_iv(&f->s) / secs;
	percentiles(h, row->send);
	row->sev = row->send[KT_TOP_P99]
			   ? kt_lat_severity(kt_classify_latency(row->send[KT_TOP_P99]))
			   : KT_SEV_OK;
	push_spark(row, row->send[KT_TOP_P99]);
}

static bool detail_is(const struct kt_top_model *m, enum kt_top_kind kind, uint32_t pid,
		      uint32_t gen, uint32_t id)
{
	return m->detail_on && m->detail_kind == kind && m->detail_pid == pid &&
	       m->detail_gen == gen && m->detail_id == id;
}

static int add_rings(struct kt_top_model *m, const struct kt_agg *a, double secs)
{
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
		struct kt_top_row *row;

		if (!kt_ring_in_interval(r))
			continue;
		if (!(row = get_row(m, KT_TOP_RING, r->pid, r->exec_gen, r->ring_id)))
			return -ENOMEM;
		snprintf(row->comm, sizeof(row->comm), "%s", comm_of(a, r->pid, r->exec_gen));
		fill_ring(row, r, secs);
		row->seen = true;
		if (detail_is(m, KT_TOP_RING, r->pid, r->exec_gen, r->ring_id)) {
			const struct kt_series *snd = &r->s[KT_EV_SEND], *rcv = &r->s[KT_EV_RECV];

			copy_detail(m, KT_TOP_H_SEND, snd->dur_iv, snd->dur);
			copy_detail(m, KT_TOP_H_RECV, rcv->dur_iv, rcv->dur);
			copy_detail(m, KT_TOP_H_SOJ, rcv->soj_iv, rcv->soj);
			m->detail_ok = true;
		}
	}
	return 0;
}

static int add_funcs(struct kt_top_model *m, const struct kt_agg *a, double secs)
{
	for (const struct kt_func_agg *f = a->funcs; f; f = f->next) {
		struct kt_top_row *row = get_row(m, KT_TOP_FUNC, f->pid, 0, f->idx);

		if (!row)
			return -ENOMEM;
		/* --func counts go with the process's current image (kt_report does the same) */
		snprintf(row->comm, sizeof(row->comm), "%s", comm_of(a, f->pid, 0));
		for (const struct kt_proc *p = a->procs; p; p = p->next)
			if (p->pid == f->pid)
				snprintf(row->comm, sizeof(row->comm), "%s", p->comm);
		fill_func(row, a, f, secs);
		row->seen = true;
		if (detail_is(m, KT_TOP_FUNC, f->pid, 0, f->idx)) {
			copy_detail(m, KT_TOP_H_SEND, f->s.dur_iv, f->s.dur);
			copy_detail(m, KT_TOP_H_RECV, NULL, NULL);
			copy_detail(m, KT_TOP_H_SOJ, NULL, NULL);
			m->detail_ok = true;
		}
	}
	return 0;
}

/* Rows whose ring or function left the aggregation go, keeping the others' order. */
static void drop_unseen(struct kt_top_model *m)
{
	int k = 0;

	for (int i = 0; i < m->nrows; i++)
		if (m->rows[i].seen)
			m->rows[k++] = m->rows[i];
	m->nrows = k;
}

int kt_top_model_update(struct kt_top_model *m, const struct kt_agg *agg, double interval_s,
			uint64_t lost, uint64_t lost_iv0)
{
	double secs = interval_s > 0 ? interval_s : 1;
	int e;

	for (int i = 0; i < m->nrows; i++)
		m->rows[i].seen = false;
	m->detail_ok = false;
	e = add_rings(m, agg, secs);
	if (!e)
		e = add_funcs(m, agg, secs);
	if (e) { /* keep what there was: nothing is dropped for a failed update */
		for (int i = 0; i < m->nrows; i++)
			m->rows[i].seen = true;
	}
	drop_unseen(m);
	m->interval_s = secs;
	m->lost = lost;
	m->lost_iv = lost - lost_iv0;
	m->events_iv = agg->events_iv;
	m->updates++;
	kt_top_model_refresh(m);
	return e;
}

static const char *const sort_names[KT_TOP_SORT_NR] = {
	[KT_TOP_SORT_RATE] = "msgs/s",	     [KT_TOP_SORT_SEND_P99] = "send p99",
	[KT_TOP_SORT_RECV_P99] = "recv p99", [KT_TOP_SORT_SOJ_P99] = "sojourn p99",
	[KT_TOP_SORT_BP] = "backpressure",   [KT_TOP_SORT_PID] = "pid",
	[KT_TOP_SORT_NAME] = "name",
};

const char *kt_top_sort_name(enum kt_top_sort s)
{
	return s >= 0 && s < KT_TOP_SORT_NR ? sort_names[s] : "?";
}

void kt_top_model_set_sort(struct kt_top_model *m, enum kt_top_sort s, bool reverse)
{
	m->sort = s >= 0 && s < KT_TOP_SORT_NR ? s : KT_TOP_SORT_RATE;
	m->reverse = reverse;
	kt_top_model_refresh(m);
}

void kt_top_model_next_sort(struct kt_top_model *m)
{
	kt_top_model_set_sort(m, (enum kt_top_sort)((m->sort + 1) % KT_TOP_SORT_NR), m->reverse);
}

void kt_top_model_set_filter(struct kt_top_model *m, const char *text)
{
	snprintf(m->filter, sizeof(m->filter), "%s", text ? text : "");
	kt_top_model_refresh(m);
}

static bool row_matches(const struct kt_top_row *r, const char *filter)
{
	return !filter[0] || strcasestr(r->comm, filter) || strcasestr(r->name, filter);
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return a < b ? 1 : a > b ? -1 : 0;
}

/* The sort column's order (the natural direction: the worst or busiest first). */
static int cmp_key(const struct kt_top_row *a, const struct kt_top_row *b, enum kt_top_sort s)
{
	switch (s) {
	case KT_TOP_SORT_RATE:
		return a->rate < b->rate ? 1 : a->rate > b->rate ? -1 : 0;
	case KT_TOP_SORT_SEND_P99:
		return cmp_u64_desc(a->send[KT_TOP_P99], b->send[KT_TOP_P99]);
	case KT_TOP_SORT_RECV_P99:
		return cmp_u64_desc(a->recv[KT_TOP_P99], b->recv[KT_TOP_P99]);
	case KT_TOP_SORT_SOJ_P99:
		return cmp_u64_desc(a->soj[KT_TOP_P99], b->soj[KT_TOP_P99]);
	case KT_TOP_SORT_BP:
		return cmp_u64_desc(a->bp, b->bp);
	case KT_TOP_SORT_PID:
		return -cmp_u64_desc(a->pid, b->pid);
	case KT_TOP_SORT_NAME:
	default:
		return strcmp(a->name, b->name);
	}
}

/* qsort has no context argument: the model being sorted (one thread owns a model). */
static const struct kt_top_model *sorting;

static int cmp_rows(const void *pa, const void *pb)
{
	const struct kt_top_row *a = &sorting->rows[*(const int *)pa];
	const struct kt_top_row *b = &sorting->rows[*(const int *)pb];
	int c = cmp_key(a, b, sorting->sort);

	if (sorting->reverse)
		c = -c;
	/* ties in a fixed order, so that rows do not jump between refreshes */
	if (!c)
		c = -cmp_u64_desc(a->pid, b->pid);
	if (!c)
		c = a->kind != b->kind ? (int)a->kind - (int)b->kind : -cmp_u64_desc(a->id, b->id);
	return c;
}

void kt_top_model_refresh(struct kt_top_model *m)
{
	m->nvis = 0;
	for (int i = 0; i < m->nrows; i++)
		if (row_matches(&m->rows[i], m->filter))
			m->vis[m->nvis++] = i;
	sorting = m;
	qsort(m->vis, (size_t)m->nvis, sizeof(m->vis[0]), cmp_rows);
	sorting = NULL;
}

void kt_top_model_set_detail(struct kt_top_model *m, const struct kt_top_row *r)
{
	m->detail_on = r != NULL;
	m->detail_ok = false;
	if (!r)
		return;
	m->detail_kind = r->kind;
	m->detail_pid = r->pid;
	m->detail_gen = r->exec_gen;
	m->detail_id = r->id;
	for (int i = 0; i < KT_TOP_NH; i++)
		copy_detail(m, i, NULL, NULL);
}

const struct kt_top_row *kt_top_model_detail_row(const struct kt_top_model *m)
{
	for (int i = 0; m->detail_on && i < m->nrows; i++) {
		const struct kt_top_row *r = &m->rows[i];

		if (detail_is(m, r->kind, r->pid, r->exec_gen, r->id))
			return r;
	}
	return NULL;
}
