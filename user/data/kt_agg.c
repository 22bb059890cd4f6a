// SPDX-License-Identifier: MIT
#include "kt_agg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const type_names[KT_EV_TYPES] = {
	[KT_EV_SEND] = "send",
	[KT_EV_RECV] = "recv",
	[KT_EV_BACKPRESSURE] = "backpressure",
	[KT_EV_RETRANSMIT] = "retransmit",
	[KT_EV_RING_CLOSE] = "ring_close",
	[KT_EV_FUNC] = "func",
};

const char *kt_event_type_name(uint32_t type)
{
	return type < KT_EV_TYPES ? type_names[type] : "?";
}

void kt_agg_init(struct kt_agg *a, uint64_t attach_ns)
{
	memset(a, 0, sizeof(*a));
	a->attach_ns = attach_ns;
}

static void series_free(struct kt_series *s)
{
	free(s->dur);
	free(s->dur_iv);
	free(s->soj);
	free(s->soj_iv);
	for (int i = 0; i < KT_PMU_MAX; i++) {
		free(s->pmu[i]);
		free(s->pmu_iv[i]);
	}
}

/* Forgets the left-out rings of pid (every image, or exec_gen only); every pid with everything. */
static void forget_skipped(struct kt_agg *a, uint32_t pid, bool all, uint32_t exec_gen,
			   bool everything)
{
	struct kt_ring_skip **kp = &a->skipped;

	while (*kp) {
		struct kt_ring_skip *k = *kp;

		if (!everything && (k->pid != pid || (!all && k->exec_gen != exec_gen))) {
			kp = &k->next;
			continue;
		}
		*kp = k->next;
		free(k);
	}
}

void kt_agg_free(struct kt_agg *a)
{
	struct kt_ring_agg *r, *rn;
	struct kt_func_agg *f, *fn;
	struct kt_proc *p, *pn;

	for (f = a->funcs; f; f = fn) {
		fn = f->next;
		series_free(&f->s);
		free(f->corr);
		free(f->corr_iv);
		free(f);
	}

	for (r = a->rings; r; r = rn) {
		rn = r->next;
		for (int t = 0; t < KT_EV_TYPES; t++)
			series_free(&r->s[t]);
		free(r);
	}
	for (p = a->procs; p; p = pn) {
		pn = p->next;
		free(p);
	}
	forget_skipped(a, 0, true, 0, true);
	memset(a, 0, sizeof(*a));
}

/* The newest image of pid (new images go first in the list), or NULL. */
static struct kt_proc *proc_find(const struct kt_agg *a, uint32_t pid)
{
	for (struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

static struct kt_proc *proc_new(struct kt_agg *a, uint32_t pid)
{
	struct kt_proc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->pid = pid;
	p->next = a->procs;
	a->procs = p;
	a->nprocs++;
	return p;
}

/* A new process's name and start, from the lookup (unknown without one). */
static void proc_learn(const struct kt_agg *a, struct kt_proc *p)
{
	const struct kt_agg_lookup *l = a->lookup;
	uint64_t start = l && l->start_ns ? l->start_ns((pid_t)p->pid) : 0;
	/* One clock tick of slack: a process must have started clearly after attach. */
	uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);

	if (!l || !l->comm || l->comm((pid_t)p->pid, p->comm, sizeof(p->comm)))
		p->comm[0] = 0;
	if (!p->comm[0])
		snprintf(p->comm, sizeof(p->comm), "?");
	p->started_after_attach = start && start >= a->attach_ns + tick;
}

struct kt_proc *kt_agg_proc(struct kt_agg *a, uint32_t pid)
{
	struct kt_proc *p = proc_find(a, pid);

	if (p)
		return p;
	p = proc_new(a, pid);
	if (p)
		proc_learn(a, p);
	return p;
}

struct kt_proc *kt_agg_exec(struct kt_agg *a, uint32_t pid, const char *comm)
{
	struct kt_proc *old = proc_find(a, pid), *p;

	if (!old)
		return NULL;
	p = proc_new(a, pid);
	if (!p)
		return NULL;
	old->execed = true;
	p->exec_gen = old->exec_gen + 1;
	/* A new image's rings start at zero: every operation is in the counts. */
	p->started_after_attach = true;
	snprintf(p->comm, sizeof(p->comm), "%s", comm && comm[0] ? comm : old->comm);
	for (char *c = p->comm; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	return p;
}

static struct kt_ring_agg *ring_get(struct kt_agg *a, uint32_t pid, uint32_t gen, uint32_t ring_id)
{
	struct kt_ring_agg *r, **tail = &a->rings;

	for (r = a->rings; r; r = r->next) {
		if (r->pid == pid && r->exec_gen == gen && r->ring_id == ring_id)
			return r;
		tail = &r->next;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->pid = pid;
	r->exec_gen = gen;
	r->ring_id = ring_id;
	*tail = r; /* keep first-seen order for stable output */
	a->nrings++;
	return r;
}

struct kt_ring_agg *kt_agg_ring(struct kt_agg *a, uint32_t pid, uint32_t ring_id)
{
	const struct kt_proc *p = proc_find(a, pid);

	return ring_get(a, pid, p ? p->exec_gen : 0, ring_id);
}

/* Names come from the traced process: keep them printable. */
static void ring_set_name(struct kt_ring_agg *r, const char *name)
{
	memcpy(r->name, name, sizeof(r->name));
	r->name[sizeof(r->name) - 1] = 0;
	for (char *c = r->name; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

static void ring_read_name(const struct kt_agg *a, struct kt_ring_agg *r, uint64_t name_ptr)
{
	const struct kt_agg_lookup *l = a->lookup;
	char buf[KT_NAME_LEN];

	r->name_ptr = name_ptr;
	if (!name_ptr || !l || !l->read_mem ||
	    l->read_mem((pid_t)r->pid, name_ptr, buf, sizeof(buf)))
		return;
	ring_set_name(r, buf);
}

static struct kt_hist *hist_get(struct kt_hist **h)
{
	if (!*h) {
		*h = malloc(sizeof(**h));
		if (*h)
			kt_hist_init(*h);
	}
	return *h;
}

/* Raises a series' cumulative count; the first sighting sets its baseline. */
static void series_count(struct kt_series *s, const struct kt_proc *p, uint64_t count, uint64_t n)
{
	if (!s->seen) {
		s->seen = true;
		s->base = p->started_after_attach || count < n ? 0 : count - n;
		s->last = s->last_iv = s->base;
	}
	if (count > s->last)
		s->last = count;
}

uint64_t kt_series_count(const struct kt_series *s)
{
	return s->seen ? s->last - s->base : 0;
}

uint64_t kt_series_count_iv(const struct kt_series *s)
{
	return s->seen ? s->last - s->last_iv : 0;
}

void kt_agg_set_funcs(struct kt_agg *a, const struct kt_func_desc *d, uint32_t n)
{
	a->func_desc = d;
	a->nfuncs = d ? n : 0;
}

struct kt_func_agg *kt_agg_func(struct kt_agg *a, uint32_t pid, uint32_t idx)
{
	struct kt_func_agg *f, **tail = &a->funcs;

	for (f = a->funcs; f; f = f->next) {
		if (f->pid == pid && f->idx == idx)
			return f;
		tail = &f->next;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->pid = pid;
	f->idx = idx;
	/* The kernel counts from attach: every call is in the count. */
	f->s.seen = true;
	*tail = f;
	return f;
}

void kt_agg_func_count(struct kt_agg *a, uint32_t pid, uint32_t idx, uint64_t calls)
{
	struct kt_func_agg *f;

	if (idx >= a->nfuncs || !kt_agg_proc(a, pid) || !(f = kt_agg_func(a, pid, idx)))
		return;
	if (calls > f->s.last)
		f->s.last = calls;
}

uint64_t kt_func_corrected_ns(uint64_t raw_ns, double bias_ns, uint64_t inner_cost_ns)
{
	double v = (double)raw_ns - (bias_ns > 0 ? bias_ns : 0) - (double)inner_cost_ns;

	return v > 0 ? (uint64_t)(v + 0.5) : 0;
}

static void agg_add_func(struct kt_agg *a, const struct kt_event *e)
{
	const struct kt_func_desc *d = &a->func_desc[e->ring_id];
	struct kt_func_agg *f;
	uint64_t corr;

	a->events++;
	a->events_iv++;
	if (!kt_agg_proc(a, e->pid) || !(f = kt_agg_func(a, e->pid, e->ring_id)))
		return;
	if (e->count > f->s.last)
		f->s.last = e->count;
	f->s.events++;
	f->s.events_iv++;
	corr = kt_func_corrected_ns(e->dur_ns, d->bias_ns, e->bytes);
	if (hist_get(&f->s.dur) && hist_get(&f->s.dur_iv)) {
		kt_hist_record(f->s.dur, e->dur_ns);
		kt_hist_record(f->s.dur_iv, e->dur_ns);
	}
	if (hist_get(&f->corr) && hist_get(&f->corr_iv)) {
		kt_hist_record(f->corr, corr);
		kt_hist_record(f->corr_iv, corr);
	}
}

/* One probe hit the process paid for: a per-op hit, or a batched record (and its trap). */
static void proc_count_hit(struct kt_proc *p, const struct kt_event *e)
{
	p->hits++;
	p->hits_iv++;
	if (e->flags & KT_EVF_BATCHED) {
		p->batched++;
		p->batched_iv++;
	}
	if (e->flags & KT_EVF_TRAP) {
		p->traps++;
		p->traps_iv++;
	}
}

/* An event of a ring the filter left out: counted as dropped (and as a probe hit). */
static bool ring_skipped(struct kt_agg *a, struct kt_proc *p, const struct kt_event *e)
{
	for (const struct kt_ring_skip *k = a->skipped; k; k = k->next)
		if (k->pid == p->pid && k->exec_gen == p->exec_gen && k->ring_id == e->ring_id) {
			proc_count_hit(p, e); /* the process paid for the probe all the same */
			a->ring_filter->dropped++;
			return true;
		}
	return false;
}

/* Does the filter keep r (its name known by now, if it has one)? Notes which names matched. */
static bool ring_filter_keeps(struct kt_ring_filter *f, const struct kt_ring_agg *r)
{
	bool keep = false;

	for (int i = 0; i < f->nids; i++)
		keep |= f->ids[i] == r->ring_id;
	for (int i = 0; r->name[0] && i < f->nnames && i < KT_RING_FILTER_MAX; i++)
		if (!strcmp(f->names[i], r->name)) {
			f->matched |= 1ull << i;
			keep = true;
		}
	return keep;
}

/* Moves a ring the filter left out from a->rings to a->skipped (r is freed). */
static void ring_skip(struct kt_agg *a, struct kt_ring_agg *r)
{
	struct kt_ring_skip *k = malloc(sizeof(*k));

	if (k) { /* without it the ring is looked at again at its next event */
		*k = (struct kt_ring_skip){r->pid, r->exec_gen, r->ring_id, a->skipped};
		a->skipped = k;
	}
	a->ring_filter->rings_dropped++;
	kt_agg_forget_ring(a, r->pid, r->exec_gen, r->ring_id);
}

/*
 * Names a ring from its event (the pointer into the traced process, or the
 * name a close event carries) and, at its first event, lets the filter
 * decide. False: the ring was left out (r is gone).
 */
static bool ring_admit(struct kt_agg *a, struct kt_ring_agg *r, const struct kt_event *e,
		       size_t size)
{
	if (!r->name_ptr && e->name_ptr)
		ring_read_name(a, r, e->name_ptr);
	/* a close, or a batched record (the process may be gone: the name came with it) */
	if (!r->name[0] && (e->flags & KT_EVF_NAME) && size >= sizeof(*e))
		ring_set_name(r, e->name);
	if (!a->ring_filter || r->filter_kept)
		return true;
	if (!ring_filter_keeps(a->ring_filter, r)) {
		a->ring_filter->dropped++;
		ring_skip(a, r);
		return false;
	}
	r->filter_kept = true;
	return true;
}

struct kt_ring_agg *kt_agg_add(struct kt_agg *a, const struct kt_event *e, size_t size)
{
	struct kt_ring_agg *r;
	struct kt_series *s;
	struct kt_proc *p;

	if (size >= KT_EVENT_BASE_SIZE && e->type == KT_EV_EXEC) {
		bool named = (e->flags & KT_EVF_NAME) && size >= sizeof(*e);
		char comm[sizeof(e->name)] = "";

		if (named)
			memcpy(comm, e->name, sizeof(comm) - 1);
		kt_agg_exec(a, e->pid, comm);
		return NULL;
	}
	if (size < KT_EVENT_BASE_SIZE || e->type >= KT_EV_TYPES ||
	    (e->type == KT_EV_FUNC && e->ring_id >= a->nfuncs)) {
		a->bad_events++;
		return NULL;
	}
	if (e->type == KT_EV_FUNC) {
		agg_add_func(a, e);
		return NULL;
	}
	a->events++;
	a->events_iv++;
	p = kt_agg_proc(a, e->pid);
	if (p && a->ring_filter && ring_skipped(a, p, e))
		return NULL;
	r = p ? ring_get(a, e->pid, p->exec_gen, e->ring_id) : NULL;
	if (!p || !r)
		return NULL;
	proc_count_hit(p, e);
	if (!ring_admit(a, r, e, size))
		return NULL;

	if (e->type == KT_EV_RING_CLOSE) {
		/* Final counters: exact counts even when sampling skipped the tail. */
		r->closed = true;
		series_count(&r->s[KT_EV_SEND], p, e->count, 0);
		series_count(&r->s[KT_EV_RECV], p, e->extra, 0);
		return r;
	}
	s = &r->s[e->type];
	if (e->type == KT_EV_RETRANSMIT) { /* dur_ns carries the reason, not a duration */
		uint64_t why = e->dur_ns < KT_RTX_WHY_N ? e->dur_ns : 0;

		r->rtx_why[why]++;
		r->rtx_why_iv[why]++;
	}
	series_count(s, p, e->count, e->n);
	s->events++;
	s->events_iv++;
	s->bytes += e->bytes;
	if (hist_get(&s->dur) && hist_get(&s->dur_iv)) {
		kt_hist_record(s->dur, e->dur_ns);
		kt_hist_record(s->dur_iv, e->dur_ns);
	}
	for (int i = 0; (e->flags & KT_EVF_PMU) && i < a->npmu && i < KT_PMU_MAX; i++) {
		if (hist_get(&s->pmu[i]) && hist_get(&s->pmu_iv[i])) {
			kt_hist_record(s->pmu[i], e->pmu[i]);
			kt_hist_record(s->pmu_iv[i], e->pmu[i]);
		}
	}
	if (e->type == KT_EV_RECV && e->extra && hist_get(&s->soj) && hist_get(&s->soj_iv)) {
		kt_hist_record(s->soj, e->extra);
		kt_hist_record(s->soj_iv, e->extra);
	}
	return r;
}

/* Drops pid's images: every one (all) or exec_gen only. */
static void forget(struct kt_agg *a, uint32_t pid, bool all, uint32_t exec_gen)
{
	struct kt_ring_agg **rp = &a->rings;
	struct kt_proc **pp = &a->procs;

	forget_skipped(a, pid, all, exec_gen, false);
	while (*rp) {
		struct kt_ring_agg *r = *rp;

		if (r->pid != pid || (!all && r->exec_gen != exec_gen)) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		for (int t = 0; t < KT_EV_TYPES; t++)
			series_free(&r->s[t]);
		free(r);
		a->nrings--;
	}
	while (*pp) {
		struct kt_proc *p = *pp;

		if (p->pid != pid || (!all && p->exec_gen != exec_gen)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		free(p);
		a->nprocs--;
	}
}

void kt_agg_forget_proc(struct kt_agg *a, uint32_t pid)
{
	forget(a, pid, true, 0);
}

void kt_agg_forget_image(struct kt_agg *a, uint32_t pid, uint32_t exec_gen)
{
	forget(a, pid, false, exec_gen);
}

void kt_agg_forget_ring(struct kt_agg *a, uint32_t pid, uint32_t exec_gen, uint32_t ring_id)
{
	for (struct kt_ring_agg **rp = &a->rings; *rp; rp = &(*rp)->next) {
		struct kt_ring_agg *r = *rp;

		if (r->pid != pid || r->exec_gen != exec_gen || r->ring_id != ring_id)
			continue;
		*rp = r->next;
		for (int t = 0; t < KT_EV_TYPES; t++)
			series_free(&r->s[t]);
		free(r);
		a->nrings--;
		return;
	}
}

void kt_agg_interval_reset(struct kt_agg *a)
{
	for (struct kt_ring_agg *r = a->rings; r; r = r->next) {
		r->closed_before_iv = r->closed;
		memset(r->rtx_why_iv, 0, sizeof(r->rtx_why_iv));
		for (int t = 0; t < KT_EV_TYPES; t++) {
			struct kt_series *s = &r->s[t];

			s->last_iv = s->last;
			s->events_iv = 0;
			if (s->dur_iv)
				kt_hist_reset(s->dur_iv);
			if (s->soj_iv)
				kt_hist_reset(s->soj_iv);
			for (int i = 0; i < KT_PMU_MAX; i++)
				if (s->pmu_iv[i])
					kt_hist_reset(s->pmu_iv[i]);
		}
	}
	for (struct kt_func_agg *f = a->funcs; f; f = f->next) {
		f->s.last_iv = f->s.last;
		f->s.events_iv = 0;
		if (f->s.dur_iv)
			kt_hist_reset(f->s.dur_iv);
		if (f->corr_iv)
			kt_hist_reset(f->corr_iv);
	}
	for (struct kt_proc *p = a->procs; p; p = p->next) {
		p->hits_iv = p->batched_iv = p->traps_iv = 0;
		p->gone_before_iv = p->exited || p->execed;
	}
	a->events_iv = 0;
}

static bool ring_active_iv(const struct kt_ring_agg *r)
{
	for (int t = 0; t < KT_EV_TYPES; t++)
		if (r->s[t].events_iv || kt_series_count_iv(&r->s[t]))
			return true;
	return false;
}

bool kt_ring_in_interval(const struct kt_ring_agg *r)
{
	return !r->closed_before_iv || ring_active_iv(r);
}

bool kt_proc_in_interval(const struct kt_agg *a, const struct kt_proc *p)
{
	if (!p->gone_before_iv || p->hits_iv)
		return true;
	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		if (kt_ring_of(r, p) && ring_active_iv(r))
			return true;
	return false;
}
