// SPDX-License-Identifier: MIT
#include "kt_offcpu.h"
#include "kt_array.h"
#include "kt_clock.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_offcpu.skel.h"
#include "kt_agg.h"
#include "kt_hist.h"
#include "kt_json.h"
#include "kt_offcpu_abi.h"
#include "kt_percpu.h"
#include "kt_proc.h"
#include "kt_sym.h"

#define REFRESH_NS	 200000000ull /* kt_offcpu_tick: symbols at most every 200 ms */
#define SUMMARY_FRAMES	 6	      /* leaf-most frames of a stack in the summary */
#define SUMMARY_FRAME_SZ 96
#define JSON_FRAME_SZ	 512
#define JSON_TOP_STACKS	 10 /* heaviest stacks per process in the JSON */

_Static_assert(KT_OFFCPU_COMM_LEN == KT_OFF_COMM_LEN, "comm lengths differ");

/* ---------------------------------------------------------------- data */

int kt_offcpu_data_add(struct kt_offcpu_data *d, const struct kt_offcpu_rec *r)
{
	struct kt_offcpu_rec *e;

	if (!d || !r || (r->nframes && !r->stack))
		return -EINVAL;
	for (size_t i = 0; i < d->n; i++) {
		e = &d->v[i];
		if (e->tgid == r->tgid && e->tid == r->tid && e->stack_id == r->stack_id) {
			e->ns = e->ns + r->ns < e->ns ? UINT64_MAX : e->ns + r->ns;
			e->blocks += r->blocks;
			return 0;
		}
	}
	if (kt_array_reserve(d->v, d->cap, d->n + 1))
		return -ENOMEM;
	e = &d->v[d->n];
	*e = *r;
	e->comm[KT_OFFCPU_COMM_LEN - 1] = 0;
	e->pcomm[KT_OFFCPU_COMM_LEN - 1] = 0;
	e->stack = NULL;
	if (r->nframes) {
		e->stack = malloc(r->nframes * sizeof(*e->stack));
		if (!e->stack)
			return -ENOMEM;
		memcpy(e->stack, r->stack, r->nframes * sizeof(*e->stack));
	}
	d->n++;
	return 0;
}

void kt_offcpu_data_free(struct kt_offcpu_data *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].stack);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

int kt_offcpu_data_fold(const struct kt_offcpu_data *d, struct kt_folded *f)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct kt_offcpu_rec *r = &d->v[i];
		int e = kt_folded_add(f, r->tgid, r->comm[0] ? r->comm : NULL, "off-cpu", r->stack,
				      r->nframes, r->ns);

		if (e)
			return e;
	}
	return (int)d->n;
}

/* One row per thread (and per process: tid 0), summed over its stacks. */
struct thread_row {
	uint32_t tgid, tid;
	uint64_t ns, blocks;
	uint64_t best_ns; /* the comm is that of the thread's heaviest record */
	const char *comm;
};

static int cmp_row(const void *a, const void *b)
{
	const struct thread_row *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if ((x->tid == 0) != (y->tid == 0))
		return x->tid == 0 ? -1 : 1; /* the process first */
	if (x->ns != y->ns)
		return x->ns > y->ns ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_rec_ns(const void *a, const void *b)
{
	const struct kt_offcpu_rec *x = *(const struct kt_offcpu_rec *const *)a;
	const struct kt_offcpu_rec *y = *(const struct kt_offcpu_rec *const *)b;

	if (x->ns != y->ns)
		return x->ns > y->ns ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static struct thread_row *row_get(struct thread_row *rows, size_t *n, uint32_t tgid, uint32_t tid)
{
	for (size_t i = 0; i < *n; i++)
		if (rows[i].tgid == tgid && rows[i].tid == tid)
			return &rows[i];
	memset(&rows[*n], 0, sizeof(rows[*n]));
	rows[*n].tgid = tgid;
	rows[*n].tid = tid;
	return &rows[(*n)++];
}

static void row_charge(struct thread_row *row, const struct kt_offcpu_rec *r)
{
	/* a process row is named after the process, else its heaviest thread */
	const char *name = !row->tid && r->pcomm[0] ? r->pcomm : r->comm;

	row->ns = sat_add(row->ns, r->ns);
	row->blocks = sat_add(row->blocks, r->blocks);
	if (!row->comm || r->ns > row->best_ns) {
		row->comm = name;
		row->best_ns = r->ns;
	}
}

/* The name of frame i of r (return addresses, all but the leaf, point after the call). */
static void frame_name(const struct kt_offcpu_rec *r, size_t i, kt_folded_sym_fn sym, void *ctx,
		       char *name, size_t n)
{
	uint64_t addr = i ? r->stack[i] - 1 : r->stack[i];

	name[0] = 0;
	if (!sym || sym(ctx, r->tgid, addr, name, n) < 0 || !name[0])
		snprintf(name, n, "0x%llx", (unsigned long long)addr);
}

/* r's frames up to the first zero one. */
static size_t rec_nframes(const struct kt_offcpu_rec *r)
{
	size_t nf = 0;

	while (nf < r->nframes && r->stack[nf])
		nf++;
	return nf;
}

/* "root;...;leaf" of the leaf-most SUMMARY_FRAMES frames ("..;" when cut). */
static void format_stack(const struct kt_offcpu_rec *r, kt_folded_sym_fn sym, void *ctx, char *buf,
			 size_t n)
{
	size_t nf = rec_nframes(r), len = 0;

	buf[0] = 0;
	if (!nf) {
		snprintf(buf, n, "[no-stack]");
		return;
	}
	if (nf > SUMMARY_FRAMES) {
		len += (size_t)snprintf(buf, n, "..;");
		nf = SUMMARY_FRAMES;
	}
	for (size_t i = nf; i-- > 0 && len < n;) {
		char name[SUMMARY_FRAME_SZ];

		frame_name(r, i, sym, ctx, name, sizeof(name));
		len += (size_t)snprintf(buf + len, n - len, "%s%s", name, i ? ";" : "");
	}
}

/*
 * What the text summary and the JSON show: a row per process (tid 0) then
 * per thread, ordered, and the records by blocked time.
 */
struct summary {
	struct thread_row *rows;
	size_t nrows;
	const struct kt_offcpu_rec **order;
	uint64_t total_ns, total_blocks;
};

static void summary_free(struct summary *s)
{
	free(s->rows);
	free(s->order);
}

static int summary_build(const struct kt_offcpu_data *d, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!d->n)
		return 0;
	/* at most a thread row and a process row per record */
	s->rows = calloc(2 * d->n, sizeof(*s->rows));
	s->order = calloc(d->n, sizeof(*s->order));
	if (!s->rows || !s->order) {
		summary_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct kt_offcpu_rec *r = &d->v[i];

		row_charge(row_get(s->rows, &s->nrows, r->tgid, 0), r);
		row_charge(row_get(s->rows, &s->nrows, r->tgid, r->tid), r);
		s->total_ns = sat_add(s->total_ns, r->ns);
		s->total_blocks = sat_add(s->total_blocks, r->blocks);
		s->order[i] = r;
	}
	qsort(s->rows, s->nrows, sizeof(*s->rows), cmp_row);
	qsort(s->order, d->n, sizeof(*s->order), cmp_rec_ns);
	return 0;
}

int kt_offcpu_data_print(const struct kt_offcpu_data *d, FILE *out, size_t top,
			 uint64_t min_block_ns, kt_folded_sym_fn sym, void *ctx)
{
	struct summary s;
	char b1[32], b2[32];

	if (summary_build(d, &s))
		return -ENOMEM;
	fprintf(out, "\noff-cpu: time blocked, switch-out to switch-in (blocks >= %s)\n",
		kt_fmt_ns(b1, sizeof(b1), min_block_ns));
	if (!d->n)
		fprintf(out, "  (no traced thread blocked)\n");
	else
		fprintf(out, "  %-8s %-8s %-16s %10s %10s %10s\n", "PID", "TID", "THREAD",
			"BLOCKED", "BLOCKS", "MEAN");
	for (size_t i = 0; i < s.nrows; i++) {
		const struct thread_row *w = &s.rows[i];
		char tid[16];

		if (w->tid)
			snprintf(tid, sizeof(tid), "%u", w->tid);
		else
			snprintf(tid, sizeof(tid), "all");
		fprintf(out, "  %-8u %-8s %-16s %10s %10llu %10s\n", w->tgid, tid,
			w->comm && w->comm[0] ? w->comm : "?", kt_fmt_ns(b1, sizeof(b1), w->ns),
			(unsigned long long)w->blocks,
			kt_fmt_ns(b2, sizeof(b2), w->blocks ? w->ns / w->blocks : 0));
	}
	if (top > d->n)
		top = d->n;
	if (top) {
		fprintf(out, "  top stacks (root first, leaf last):\n");
		fprintf(out, "  %10s %7s %-8s %-16s %s\n", "BLOCKED", "SHARE", "TID", "THREAD",
			"STACK");
	}
	for (size_t i = 0; i < top; i++) {
		const struct kt_offcpu_rec *r = s.order[i];
		char st[SUMMARY_FRAMES * SUMMARY_FRAME_SZ + 8];

		format_stack(r, sym, ctx, st, sizeof(st));
		fprintf(out, "  %10s %6.1f%% %-8u %-16s %s\n", kt_fmt_ns(b1, sizeof(b1), r->ns),
			s.total_ns ? 100.0 * (double)r->ns / (double)s.total_ns : 0.0, r->tid,
			r->comm[0] ? r->comm : "?", st);
	}
	summary_free(&s);
	return ferror(out) ? -EIO : 0;
}

static void json_row(struct kt_json *w, const struct thread_row *row)
{
	kt_json_kv_string(w, "comm", row->comm ? row->comm : "");
	kt_json_kv_u64(w, "blocked_ns", row->ns);
	kt_json_kv_u64(w, "blocks", row->blocks);
}

/* One record: thread, time, and every frame, root first. */
static void json_stack(struct kt_json *w, const struct kt_offcpu_rec *r, kt_folded_sym_fn sym,
		       void *ctx)
{
	size_t nf = rec_nframes(r);

	kt_json_object_begin(w);
	kt_json_kv_u64(w, "tid", r->tid);
	kt_json_kv_string(w, "comm", r->comm);
	kt_json_kv_u64(w, "blocked_ns", r->ns);
	kt_json_kv_u64(w, "blocks", r->blocks);
	kt_json_key(w, "frames");
	kt_json_array_begin(w);
	for (size_t i = nf; i-- > 0;) {
		char name[JSON_FRAME_SZ];

		frame_name(r, i, sym, ctx, name, sizeof(name));
		kt_json_string(w, name);
	}
	kt_json_array_end(w);
	kt_json_object_end(w);
}

int kt_offcpu_data_json(const struct kt_offcpu_data *d, struct kt_json *w,
			const struct kt_offcpu_stats *st, uint64_t min_block_ns, size_t top,
			kt_folded_sym_fn sym, void *ctx)
{
	struct summary s;
	size_t i = 0;

	if (summary_build(d, &s))
		return -ENOMEM;
	kt_json_key(w, "off_cpu");
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "min_block_ns", min_block_ns);
	kt_json_kv_u64(w, "blocked_ns", s.total_ns);
	kt_json_kv_u64(w, "blocks", s.total_blocks);
	if (st) {
		kt_json_kv_u64(w, "sleeps", st->sleeps);
		kt_json_kv_u64(w, "in_progress", st->in_progress);
		kt_json_kv_u64(w, "short_skipped", st->short_blocks);
		kt_json_kv_u64(w, "stack_errors", st->stack_err);
		kt_json_kv_u64(w, "not_timed", st->start_lost);
		kt_json_kv_u64(w, "lost_blocks", st->lost);
		kt_json_kv_u64(w, "lost_ns", st->lost_ns);
	}
	kt_json_key(w, "processes");
	kt_json_array_begin(w);
	/* rows: each process row is followed by its threads' rows */
	while (i < s.nrows) {
		const struct thread_row *p = &s.rows[i++];
		size_t nstacks = 0, shown = 0;

		kt_json_object_begin(w);
		kt_json_kv_u64(w, "pid", p->tgid);
		json_row(w, p);
		kt_json_key(w, "threads");
		kt_json_array_begin(w);
		for (; i < s.nrows && s.rows[i].tgid == p->tgid; i++) {
			kt_json_object_begin(w);
			kt_json_kv_u64(w, "tid", s.rows[i].tid);
			json_row(w, &s.rows[i]);
			kt_json_object_end(w);
		}
		kt_json_array_end(w);
		for (size_t k = 0; k < d->n; k++)
			nstacks += s.order[k]->tgid == p->tgid;
		kt_json_kv_u64(w, "stack_count", nstacks);
		kt_json_key(w, "top_stacks");
		kt_json_array_begin(w);
		for (size_t k = 0; k < d->n && shown < top; k++) {
			if (s.order[k]->tgid != p->tgid)
				continue;
			json_stack(w, s.order[k], sym, ctx);
			shown++;
		}
		kt_json_array_end(w);
		kt_json_object_end(w);
	}
	kt_json_array_end(w);
	kt_json_object_end(w);
	summary_free(&s);
	return kt_json_error(w);
}

/* ---------------------------------------------------------------- BPF side */

struct off_pid {
	uint32_t pid;
	bool blocked;		       /* it has off-CPU records: it ran */
	struct kt_sym_program program; /* the program its maps were read for */
};

struct kt_offcpu {
	struct kaos_offcpu_bpf *skel;
	struct bpf_link *link;
	struct kt_sym *sym;
	uint64_t min_block_ns;
	struct off_pid *pids;
	size_t npids, cap;
	uint64_t last_refresh;
	char self_exe[PATH_MAX];
	struct kt_offcpu_data data;
	uint64_t in_progress;
	bool collected;
	int collect_err; /* kt_offcpu_collect failed: -errno, returned again */
	/* the daemon's live view (kt_offcpu_threads) and folded intervals */
	struct kt_offcpu_thread *live;
	size_t nlive, caplive;
	struct kt_offcpu_data folded_last; /* per record: what was folded so far */
};

/* A record of a block in progress since st, charged up to now. */
static struct kt_offcpu_rec rec_of_start(uint32_t tid, const struct kt_off_start *st, uint64_t now)
{
	struct kt_offcpu_rec r = {0};

	r.tgid = st->tgid;
	r.tid = tid;
	r.stack_id = st->stack_id;
	r.ns = now - st->ts_ns;
	r.blocks = 1;
	memcpy(r.comm, st->comm, sizeof(r.comm));
	memcpy(r.pcomm, st->pcomm, sizeof(r.pcomm));
	return r;
}

/* A record of one kernel (thread, stack) entry; its stack is read separately. */
static struct kt_offcpu_rec rec_of(const struct kt_off_key *k, const struct kt_off_val *v)
{
	struct kt_offcpu_rec r = {0};

	r.tgid = k->tgid;
	r.tid = k->tid;
	r.stack_id = k->stack_id;
	r.ns = v->ns;
	r.blocks = v->blocks;
	memcpy(r.comm, v->comm, sizeof(r.comm));
	memcpy(r.pcomm, v->pcomm, sizeof(r.pcomm));
	return r;
}

static struct off_pid *pid_find(struct kt_offcpu *o, uint32_t pid)
{
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].pid == pid)
			return &o->pids[i];
	return NULL;
}

/* The pid's maps, once it runs its own program, and again after an exec. */
static void pid_capture(struct kt_offcpu *o, struct off_pid *e)
{
	kt_sym_follow_program(o->sym, (pid_t)e->pid, o->self_exe, &e->program);
}

int kt_offcpu_open(struct kt_offcpu **out, uint64_t min_block_ns, struct kt_sym *sym, char *err,
		   size_t n)
{
	struct kt_offcpu *o;
	int e;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(err, n, "off-cpu: out of memory");
		return -ENOMEM;
	}
	o->sym = sym;
	o->min_block_ns = min_block_ns;
	kt_proc_exe(getpid(), o->self_exe, sizeof(o->self_exe));
	o->skel = kaos_offcpu_bpf__open();
	if (!o->skel) {
		e = -errno;
		snprintf(err, n, "off-cpu: cannot open BPF object: %s", strerror(-e));
		kt_offcpu_free(o);
		return e;
	}
	o->skel->rodata->min_block_ns = min_block_ns;
	/* Test hook: makes the program fail verification so the error path can be tested. */
	if (getenv("KAOS_TRACE_TEST_BREAK_OFFCPU"))
		bpf_program__set_type(o->skel->progs.kaos_offcpu_switch,
				      BPF_PROG_TYPE_SOCKET_FILTER);
	e = kaos_offcpu_bpf__load(o->skel);
	if (e) {
		snprintf(err, n,
			 "off-cpu: cannot load the sched_switch program: %s (needs kernel BTF, "
			 "5.18+)",
			 strerror(-e));
		kt_offcpu_free(o);
		return e;
	}
	o->link = bpf_program__attach(o->skel->progs.kaos_offcpu_switch);
	if (!o->link) {
		e = -errno;
		snprintf(err, n, "off-cpu: cannot attach to sched_switch: %s", strerror(-e));
		kt_offcpu_free(o);
		return e;
	}
	*out = o;
	return 0;
}

int kt_offcpu_add_pid(struct kt_offcpu *o, uint32_t pid)
{
	uint8_t one = 1;

	if (!o || !pid)
		return -EINVAL;
	if (pid_find(o, pid))
		return 0;
	if (kt_array_reserve(o->pids, o->cap, o->npids + 1))
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.off_pids), &pid, &one, BPF_ANY))
		return -errno;
	o->pids[o->npids++] = (struct off_pid){.pid = pid};
	return 0;
}

/* Captures the symbols of every traced pid with a thread asleep or a charged block. */
static void refresh_syms(struct kt_offcpu *o)
{
	int cfd = bpf_map__fd(o->skel->maps.off_counts);
	int sfd = bpf_map__fd(o->skel->maps.off_start);
	struct kt_off_key key, next, *prev = NULL;
	uint32_t tid, ntid, *tprev = NULL;
	struct kt_off_start st;

	while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
		struct off_pid *e = pid_find(o, next.tgid);

		if (e)
			e->blocked = true;
		key = next;
		prev = &key;
	}
	while (bpf_map_get_next_key(sfd, tprev, &ntid) == 0) {
		tid = ntid;
		tprev = &tid;
		if (bpf_map_lookup_elem(sfd, &tid, &st) == 0) {
			struct off_pid *e = pid_find(o, st.tgid);

			if (e)
				e->blocked = true;
		}
	}
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].blocked)
			pid_capture(o, &o->pids[i]);
}

void kt_offcpu_tick(struct kt_offcpu *o, const struct kt_agg *agg)
{
	uint64_t now;

	if (!o || o->collected)
		return;
	/* -p targets are known; -b processes once they produce events */
	for (const struct kt_proc *p = agg ? agg->procs : NULL; p; p = p->next)
		kt_offcpu_add_pid(o, p->pid);
	now = kt_now_ns(CLOCK_MONOTONIC);
	if (now - o->last_refresh < REFRESH_NS)
		return;
	o->last_refresh = now;
	refresh_syms(o);
}

/* The stack of id, zero-trimmed; 0 frames if it is gone or -1. */
static size_t read_stack(struct kt_offcpu *o, int32_t id, uint64_t *stack)
{
	size_t nf = 0;

	if (id < 0 || bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.off_stacks), &id, stack))
		return 0;
	while (nf < KT_OFF_STACK_DEPTH && stack[nf])
		nf++;
	return nf;
}

int kt_offcpu_collect(struct kt_offcpu *o)
{
	int cfd = bpf_map__fd(o->skel->maps.off_counts);
	int sfd = bpf_map__fd(o->skel->maps.off_start);
	struct kt_off_key key, next, *prev = NULL;
	uint32_t tid, ntid, *tprev = NULL;
	uint64_t stack[KT_OFF_STACK_DEPTH];
	uint64_t now;
	int e;

	if (o->collected)
		return o->collect_err ? o->collect_err : (int)o->data.n;
	o->collected = true;
	bpf_link__destroy(o->link);
	o->link = NULL;
	now = kt_now_ns(CLOCK_MONOTONIC); /* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
	refresh_syms(o);
	while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
		struct kt_off_val v;
		struct kt_offcpu_rec r;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(cfd, &key, &v) || !v.ns)
			continue;
		r = rec_of(&key, &v);
		r.stack = stack;
		r.nframes = read_stack(o, key.stack_id, stack);
		if ((e = kt_offcpu_data_add(&o->data, &r)))
			return o->collect_err = e;
	}
	/* Threads asleep now: charge their block so far (a consumer waiting for good). */
	while (bpf_map_get_next_key(sfd, tprev, &ntid) == 0) {
		struct kt_off_start st;
		struct kt_offcpu_rec r;

		tid = ntid;
		tprev = &tid;
		if (bpf_map_lookup_elem(sfd, &tid, &st) || st.ts_ns > now ||
		    now - st.ts_ns < o->min_block_ns ||
		    !kt_proc_thread_alive((pid_t)st.tgid, (pid_t)tid))
			continue;
		r = rec_of_start(tid, &st, now);
		r.stack = stack;
		r.nframes = read_stack(o, st.stack_id, stack);
		if ((e = kt_offcpu_data_add(&o->data, &r)))
			return o->collect_err = e;
		o->in_progress++;
	}
	return (int)o->data.n;
}

const struct kt_offcpu_data *kt_offcpu_data(const struct kt_offcpu *o)
{
	return &o->data;
}

void kt_offcpu_get_stats(const struct kt_offcpu *o, struct kt_offcpu_stats *st)
{
	uint64_t v[KT_OFF_STAT_NR];

	kt_percpu_sum_u64(bpf_map__fd(o->skel->maps.off_stats), KT_OFF_STAT_NR, v);
	memset(st, 0, sizeof(*st));
	st->sleeps = v[KT_OFF_STAT_SLEEPS];
	st->blocks = v[KT_OFF_STAT_BLOCKS] + o->in_progress;
	st->short_blocks = v[KT_OFF_STAT_SHORT];
	st->in_progress = o->in_progress;
	st->stack_err = v[KT_OFF_STAT_STACK_ERR];
	st->start_lost = v[KT_OFF_STAT_START_LOST];
	st->lost = v[KT_OFF_STAT_LOST];
	st->lost_ns = v[KT_OFF_STAT_LOST_NS];
}

int kt_offcpu_json(struct kt_json *w, void *offcpu)
{
	struct kt_offcpu *o = offcpu;
	struct kt_offcpu_stats st;
	int n = kt_offcpu_collect(o);

	if (n < 0)
		return n;
	kt_offcpu_get_stats(o, &st);
	return kt_offcpu_data_json(&o->data, w, &st, o->min_block_ns, JSON_TOP_STACKS,
				   o->sym ? kt_folded_sym_kt : NULL, o->sym);
}

int kt_offcpu_finish(struct kt_offcpu *o, struct kt_folded *f, struct kt_offcpu_stats *st)
{
	int n = kt_offcpu_collect(o), e = 0;

	if (n >= 0 && f)
		e = kt_offcpu_data_fold(&o->data, f);
	kt_offcpu_get_stats(o, st);
	return n < 0 ? n : e < 0 ? e : n;
}

/* ---------------------------------------------------------------- the daemon's live view */

static struct kt_offcpu_thread *live_get(struct kt_offcpu *o, uint32_t tgid, uint32_t tid)
{
	for (size_t i = 0; i < o->nlive; i++)
		if (o->live[i].tgid == tgid && o->live[i].tid == tid)
			return &o->live[i];
	if (kt_array_reserve(o->live, o->caplive, o->nlive + 1))
		return NULL;
	o->live[o->nlive] = (struct kt_offcpu_thread){.tgid = tgid, .tid = tid};
	return &o->live[o->nlive++];
}

/* A reading of this thread (ns, blocks): the view keeps the larger. */
static int live_note(struct kt_offcpu *o, uint32_t tgid, uint32_t tid, uint64_t ns, uint64_t blocks,
		     const char *comm, const char *pcomm)
{
	struct kt_offcpu_thread *t = live_get(o, tgid, tid);

	if (!t)
		return -ENOMEM;
	if (ns > t->ns)
		t->ns = ns;
	if (blocks > t->blocks)
		t->blocks = blocks;
	if (comm[0]) {
		memcpy(t->comm, comm, KT_OFFCPU_COMM_LEN);
		t->comm[KT_OFFCPU_COMM_LEN - 1] = 0;
	}
	if (pcomm[0]) {
		memcpy(t->pcomm, pcomm, KT_OFFCPU_COMM_LEN);
		t->pcomm[KT_OFFCPU_COMM_LEN - 1] = 0;
	}
	return 0;
}

int kt_offcpu_threads(struct kt_offcpu *o, const struct kt_offcpu_thread **out)
{
	int cfd = bpf_map__fd(o->skel->maps.off_counts);
	int sfd = bpf_map__fd(o->skel->maps.off_start);
	struct kt_off_key key, next, *prev = NULL;
	uint32_t tid, ntid, *tprev = NULL;
	struct kt_offcpu_data sum = {0};
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);
	int e = 0;

	*out = o->live;
	/* a thread's records summed over its stacks (all with stack_id 0) */
	while (!e && bpf_map_get_next_key(cfd, prev, &next) == 0) {
		struct kt_off_val v;
		struct kt_offcpu_rec r;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(cfd, &key, &v) || !v.ns)
			continue;
		r = rec_of(&key, &v);
		r.stack_id = 0;
		e = kt_offcpu_data_add(&sum, &r);
	}
	/* a block in progress counts up to now (a consumer waiting for good grows) */
	while (!e && bpf_map_get_next_key(sfd, tprev, &ntid) == 0) {
		struct kt_off_start st;
		struct kt_offcpu_rec r;

		tid = ntid;
		tprev = &tid;
		if (bpf_map_lookup_elem(sfd, &tid, &st) || st.ts_ns > now ||
		    now - st.ts_ns < o->min_block_ns || !pid_find(o, st.tgid))
			continue;
		r = rec_of_start(tid, &st, now);
		r.stack_id = 0; /* summed per thread */
		e = kt_offcpu_data_add(&sum, &r);
	}
	for (size_t i = 0; !e && i < sum.n; i++) {
		const struct kt_offcpu_rec *r = &sum.v[i];

		if (pid_find(o, r->tgid)) /* not one forgotten meanwhile */
			e = live_note(o, r->tgid, r->tid, r->ns, r->blocks, r->comm, r->pcomm);
	}
	kt_offcpu_data_free(&sum);
	*out = o->live;
	return e ? e : (int)o->nlive;
}

void kt_offcpu_forget_pid(struct kt_offcpu *o, uint32_t pid)
{
	int cfd;
	struct kt_off_key key, next, *prev = NULL;
	size_t k = 0;

	if (!o)
		return;
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i].pid == pid)
			o->pids[i--] = o->pids[--o->npids];
	cfd = bpf_map__fd(o->skel->maps.off_counts);
	bpf_map_delete_elem(bpf_map__fd(o->skel->maps.off_pids), &pid);
	/* deleting while walking can restart the walk: collect the keys first */
	struct kt_off_key *dead = NULL;
	size_t ndead = 0, capdead = 0;

	while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.tgid != pid)
			continue;
		if (kt_array_reserve(dead, capdead, ndead + 1))
			break;
		dead[ndead++] = key;
	}
	for (size_t i = 0; i < ndead; i++)
		bpf_map_delete_elem(cfd, &dead[i]);
	free(dead);
	/* off_start: a dead process's threads left it when they last ran */
	for (size_t i = 0; i < o->nlive; i++)
		if (o->live[i].tgid != pid)
			o->live[k++] = o->live[i];
	o->nlive = k;
	k = 0;
	for (size_t i = 0; i < o->folded_last.n; i++) {
		if (o->folded_last.v[i].tgid == pid)
			free(o->folded_last.v[i].stack);
		else
			o->folded_last.v[k++] = o->folded_last.v[i];
	}
	o->folded_last.n = k;
}

int kt_offcpu_fold_since(struct kt_offcpu *o, struct kt_folded *f)
{
	int cfd = bpf_map__fd(o->skel->maps.off_counts);
	struct kt_off_key key, next, *prev = NULL;
	uint64_t stack[KT_OFF_STACK_DEPTH];
	int e = 0, n = 0;

	while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
		struct kt_off_val v;
		struct kt_offcpu_rec r = {0};
		uint64_t done = 0, done_blocks = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(cfd, &key, &v) || !v.ns || !pid_find(o, key.tgid))
			continue;
		for (size_t i = 0; i < o->folded_last.n; i++) {
			const struct kt_offcpu_rec *l = &o->folded_last.v[i];

			if (l->tgid == key.tgid && l->tid == key.tid &&
			    l->stack_id == key.stack_id) {
				done = l->ns;
				done_blocks = l->blocks;
				break;
			}
		}
		if (v.ns <= done)
			continue;
		r = rec_of(&key, &v);
		r.ns = v.ns - done;
		r.blocks = v.blocks > done_blocks ? v.blocks - done_blocks : 0;
		r.stack = stack;
		r.nframes = read_stack(o, key.stack_id, stack);
		e = kt_folded_add(f, r.tgid, r.comm[0] ? r.comm : NULL, "off-cpu", r.stack,
				  r.nframes, r.ns);
		if (e || (e = kt_offcpu_data_add(&o->folded_last, &r)))
			return e;
		n++;
	}
	return n;
}

uint64_t kt_offcpu_min_block_ns(const struct kt_offcpu *o)
{
	return o->min_block_ns;
}

void kt_offcpu_free(struct kt_offcpu *o)
{
	if (!o)
		return;
	bpf_link__destroy(o->link);
	kaos_offcpu_bpf__destroy(o->skel);
	kt_offcpu_data_free(&o->data);
	kt_offcpu_data_free(&o->folded_last);
	free(o->live);
	free(o->pids);
	free(o);
}
