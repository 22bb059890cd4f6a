// SPDX-License-Identifier: MIT
/*
 * kt_alloc's data half: per-process totals, per-site calls, bytes and leaks,
 * per-thread allocations, and their views (folded, text report, JSON). No
 * BPF here: unit-tested on its own.
 */
#include "kt_alloc.h"
#include "kt_array.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kt_hist.h"
#include "kt_json.h"

#define REPORT_FRAMES 5 /* caller-most frames of a stack shown in the report */
#define FRAME_SZ      128
#define JSON_FRAME_SZ 512

static const char *const lib_names[] = {"glibc", "jemalloc", "tcmalloc"};

int kt_alloc_lib_parse(const char *s, enum kt_alloc_lib *out)
{
	for (size_t i = 0; s && i < sizeof(lib_names) / sizeof(lib_names[0]); i++)
		if (!strcmp(s, lib_names[i])) {
			*out = (enum kt_alloc_lib)i;
			return 0;
		}
	return -EINVAL;
}

const char *kt_alloc_lib_name(enum kt_alloc_lib lib)
{
	return (unsigned)lib < sizeof(lib_names) / sizeof(lib_names[0]) ? lib_names[lib] : "?";
}

struct kt_alloc_proc_rec *kt_alloc_data_proc(struct kt_alloc_data *d, uint32_t tgid)
{
	for (size_t i = 0; i < d->nprocs; i++)
		if (d->procs[i].tgid == tgid)
			return &d->procs[i];
	if (kt_array_reserve(d->procs, d->capprocs, d->nprocs + 1))
		return NULL;
	memset(&d->procs[d->nprocs], 0, sizeof(d->procs[0]));
	d->procs[d->nprocs].tgid = tgid;
	return &d->procs[d->nprocs++];
}

struct kt_alloc_site_rec *kt_alloc_data_site(struct kt_alloc_data *d, uint32_t tgid,
					     int32_t stack_id, const uint64_t *stack,
					     size_t nframes)
{
	struct kt_alloc_site_rec *s;

	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].tgid == tgid && d->sites[i].stack_id == stack_id)
			return &d->sites[i];
	if ((nframes && !stack) || kt_array_reserve(d->sites, d->capsites, d->nsites + 1))
		return NULL;
	s = &d->sites[d->nsites];
	memset(s, 0, sizeof(*s));
	s->tgid = tgid;
	s->stack_id = stack_id;
	if (nframes) {
		s->stack = malloc(nframes * sizeof(*stack));
		if (!s->stack)
			return NULL;
		memcpy(s->stack, stack, nframes * sizeof(*stack));
		s->nframes = nframes;
	}
	d->nsites++;
	return s;
}

int kt_alloc_data_add_leak(struct kt_alloc_data *d, uint32_t tgid, int32_t stack_id,
			   const uint64_t *stack, size_t nframes, uint64_t size)
{
	struct kt_alloc_site_rec *s = kt_alloc_data_site(d, tgid, stack_id, stack, nframes);
	struct kt_alloc_proc_rec *p = kt_alloc_data_proc(d, tgid);

	if (!s || !p)
		return -ENOMEM;
	s->leaked_blocks++;
	s->leaked_bytes += size;
	p->leaked_blocks++;
	p->leaked_bytes += size;
	return 0;
}

int kt_alloc_data_add_thread(struct kt_alloc_data *d, uint32_t tgid, uint32_t tid, uint64_t allocs,
			     uint64_t bytes)
{
	for (size_t i = 0; i < d->nthreads; i++)
		if (d->threads[i].tgid == tgid && d->threads[i].tid == tid) {
			d->threads[i].allocs += allocs;
			d->threads[i].bytes += bytes;
			return 0;
		}
	if (kt_array_reserve(d->threads, d->capthreads, d->nthreads + 1))
		return -ENOMEM;
	d->threads[d->nthreads++] = (struct kt_alloc_thread_rec){
		.tgid = tgid, .tid = tid, .allocs = allocs, .bytes = bytes};
	return 0;
}

int kt_alloc_data_add_exited_thread(struct kt_alloc_data *d, uint32_t tgid, uint32_t tid,
				    uint64_t allocs, uint64_t bytes)
{
	bool on_ring = false;

	for (size_t i = 0; i < d->nring_threads && !on_ring; i++)
		on_ring = d->ring_threads[i].pid == tgid && d->ring_threads[i].tid == tid;
	return kt_alloc_data_add_thread(d, tgid, on_ring ? tid : 0, allocs, bytes);
}

int kt_alloc_data_ring_thread(struct kt_alloc_data *d, uint32_t pid, uint32_t tid, uint32_t ring_id)
{
	/* newest first: a thread's events come in runs */
	for (size_t i = d->nring_threads; i-- > 0;) {
		const struct kt_alloc_ring_thread *t = &d->ring_threads[i];

		if (t->tid == tid && t->pid == pid && t->ring_id == ring_id)
			return 0;
	}
	if (kt_array_reserve(d->ring_threads, d->capring_threads, d->nring_threads + 1))
		return -ENOMEM;
	d->ring_threads[d->nring_threads++] =
		(struct kt_alloc_ring_thread){.pid = pid, .tid = tid, .ring_id = ring_id};
	return 0;
}

int kt_alloc_data_add_ring(struct kt_alloc_data *d, uint32_t pid, uint32_t ring_id,
			   const char *name, uint64_t msgs)
{
	struct kt_alloc_ring_rec *r;

	if (kt_array_reserve(d->rings, d->caprings, d->nrings + 1))
		return -ENOMEM;
	r = &d->rings[d->nrings++];
	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->ring_id = ring_id;
	r->msgs = msgs;
	snprintf(r->name, sizeof(r->name), "%s", name && name[0] ? name : "?");
	for (size_t i = 0; i < d->nring_threads; i++) {
		const struct kt_alloc_ring_thread *t = &d->ring_threads[i];

		if (t->pid != pid || t->ring_id != ring_id)
			continue;
		r->nthreads++;
		for (size_t k = 0; k < d->nthreads; k++)
			if (d->threads[k].tgid == pid && d->threads[k].tid == t->tid) {
				r->allocs += d->threads[k].allocs;
				r->bytes += d->threads[k].bytes;
			}
	}
	return 0;
}

void kt_alloc_data_free(struct kt_alloc_data *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nsites; i++)
		free(d->sites[i].stack);
	free(d->sites);
	free(d->procs);
	free(d->threads);
	free(d->ring_threads);
	free(d->rings);
	memset(d, 0, sizeof(*d));
}

int kt_alloc_data_fold(const struct kt_alloc_data *d, struct kt_folded *f)
{
	int e = 0, n = 0;

	for (size_t i = 0; !e && i < d->nsites; i++) {
		const struct kt_alloc_site_rec *s = &d->sites[i];

		/* weighted by bytes, counted by blocks (pprof's objects columns) */
		if (s->bytes)
			e = kt_folded_add_counted(f, s->tgid, NULL, "alloc", s->stack, s->nframes,
						  s->bytes, s->allocs);
		if (!e && s->leaked_bytes)
			e = kt_folded_add_counted(f, s->tgid, NULL, "leak", s->stack, s->nframes,
						  s->leaked_bytes, s->leaked_blocks);
		n++;
	}
	return e ? e : n;
}

bool kt_alloc_stats_dropped(const struct kt_alloc_stats *st)
{
	return st->call_lost || st->block_lost || st->site_lost || st->proc_lost ||
	       st->thread_lost || st->stale || st->procs_untracked;
}

/* Removes from v (n elements of size sz) those whose u32 at offset off is pid. */
static size_t drop_pid(void *v, size_t n, size_t sz, size_t off, uint32_t pid)
{
	char *base = v;
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t x;

		memcpy(&x, base + i * sz + off, sizeof(x));
		if (x == pid)
			continue;
		if (kept != i)
			memcpy(base + kept * sz, base + i * sz, sz);
		kept++;
	}
	return kept;
}

void kt_alloc_data_forget_pid(struct kt_alloc_data *d, uint32_t pid)
{
	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].tgid == pid) {
			free(d->sites[i].stack);
			d->sites[i].stack = NULL;
		}
	d->nsites = drop_pid(d->sites, d->nsites, sizeof(d->sites[0]),
			     offsetof(struct kt_alloc_site_rec, tgid), pid);
	d->nprocs = drop_pid(d->procs, d->nprocs, sizeof(d->procs[0]),
			     offsetof(struct kt_alloc_proc_rec, tgid), pid);
	d->nthreads = drop_pid(d->threads, d->nthreads, sizeof(d->threads[0]),
			       offsetof(struct kt_alloc_thread_rec, tgid), pid);
	d->nring_threads = drop_pid(d->ring_threads, d->nring_threads, sizeof(d->ring_threads[0]),
				    offsetof(struct kt_alloc_ring_thread, pid), pid);
	d->nrings = drop_pid(d->rings, d->nrings, sizeof(d->rings[0]),
			     offsetof(struct kt_alloc_ring_rec, pid), pid);
}

/* ---------------------------------------------------------------- views */

/* The name of frame i of s (see kt_alloc_site_rec.stack). */
static void frame_name(const struct kt_alloc_site_rec *s, size_t i, kt_folded_sym_fn sym, void *ctx,
		       char *name, size_t n)
{
	uint64_t addr = i ? s->stack[i] - 1 : s->stack[i]; /* a lookup address, then returns */

	name[0] = 0;
	if (!sym || sym(ctx, s->tgid, addr, name, n) < 0 || !name[0])
		snprintf(name, n, "0x%llx", (unsigned long long)addr);
}

/* "caller < its caller < ..." (the REPORT_FRAMES leaf-most frames). */
static void format_site(const struct kt_alloc_site_rec *s, kt_folded_sym_fn sym, void *ctx,
			char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	if (!s->nframes) {
		snprintf(buf, n, "[no-stack]");
		return;
	}
	for (size_t i = 0; i < s->nframes && i < REPORT_FRAMES && len < n; i++) {
		char name[FRAME_SZ];

		frame_name(s, i, sym, ctx, name, sizeof(name));
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? " < " : "", name);
	}
	if (s->nframes > REPORT_FRAMES && len < n)
		snprintf(buf + len, n - len, " < ...");
}

enum site_order { BY_CALLS, BY_BYTES, BY_LEAK };

static enum site_order sort_order;

static uint64_t site_key(const struct kt_alloc_site_rec *s)
{
	return sort_order == BY_CALLS	? s->allocs
	       : sort_order == BY_BYTES ? s->bytes
					: s->leaked_bytes;
}

static int cmp_site(const void *a, const void *b)
{
	const struct kt_alloc_site_rec *x = *(const struct kt_alloc_site_rec *const *)a;
	const struct kt_alloc_site_rec *y = *(const struct kt_alloc_site_rec *const *)b;
	uint64_t kx = site_key(x), ky = site_key(y);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->stack_id < y->stack_id ? -1 : x->stack_id > y->stack_id;
}

/* The sites of tgid (0: all) ordered by `by`, the zero ones left out: count or -ENOMEM. */
static int sorted_sites(const struct kt_alloc_data *d, uint32_t tgid, enum site_order by,
			const struct kt_alloc_site_rec ***out)
{
	const struct kt_alloc_site_rec **v = calloc(d->nsites + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	sort_order = by;
	for (size_t i = 0; i < d->nsites; i++)
		if ((!tgid || d->sites[i].tgid == tgid) && site_key(&d->sites[i]))
			v[n++] = &d->sites[i];
	qsort(v, n, sizeof(*v), cmp_site);
	*out = v;
	return (int)n;
}

/* Does a frame of s name a libkaos ring or IPC call (kaos_ring_*, kaos_ipc_*)? */
static bool site_in_ring_call(const struct kt_alloc_site_rec *s, kt_folded_sym_fn sym, void *ctx)
{
	char name[FRAME_SZ];

	for (size_t i = 0; sym && i < s->nframes; i++) {
		frame_name(s, i, sym, ctx, name, sizeof(name));
		if (!strncmp(name, "kaos_ring_", 10) || !strncmp(name, "kaos_ipc_", 9))
			return true;
	}
	return false;
}

/* The allocations of tgid made inside libkaos ring/IPC calls (by their stacks). */
static uint64_t allocs_in_ring_calls(const struct kt_alloc_data *d, uint32_t tgid,
				     kt_folded_sym_fn sym, void *ctx)
{
	uint64_t n = 0;

	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].tgid == tgid && d->sites[i].allocs &&
		    site_in_ring_call(&d->sites[i], sym, ctx))
			n += d->sites[i].allocs;
	return n;
}

static void print_proc(const struct kt_alloc_proc_rec *p, const struct kt_alloc_stats *st,
		       FILE *out)
{
	char b[32];
	uint64_t at = p->peak_ns > st->t_start_ns ? p->peak_ns - st->t_start_ns : 0;

	fprintf(out,
		"  pid %u: %llu allocations, %llu bytes allocated, %llu frees (%llu by free(), "
		"the rest by realloc)\n",
		p->tgid, (unsigned long long)p->allocs, (unsigned long long)p->bytes_allocated,
		(unsigned long long)p->frees, (unsigned long long)p->free_calls);
	fprintf(out, "    peak heap: %llu bytes outstanding, %s after tracing started\n",
		(unsigned long long)p->peak_bytes, kt_fmt_ns(b, sizeof(b), at));
	fprintf(out, "    outstanding at the end (leak candidates): %llu blocks, %llu bytes\n",
		(unsigned long long)p->leaked_blocks, (unsigned long long)p->leaked_bytes);
	fprintf(out,
		"    short-lived (freed within %s): %llu; freed, allocated before tracing: %llu",
		kt_fmt_ns(b, sizeof(b), st->short_ns), (unsigned long long)p->short_lived,
		(unsigned long long)p->freed_before);
	if (p->failed)
		fprintf(out, "; failed allocations: %llu", (unsigned long long)p->failed);
	fputc('\n', out);
	if (p->exec_blocks)
		fprintf(out,
			"    released by an exec (outstanding then, not leaks): %llu blocks, %llu "
			"bytes\n",
			(unsigned long long)p->exec_blocks, (unsigned long long)p->exec_bytes);
}

static int print_top(const struct kt_alloc_data *d, enum site_order by, FILE *out, size_t top,
		     kt_folded_sym_fn sym, void *ctx)
{
	static const char *const titles[] = {"top allocators by calls", "top allocators by bytes",
					     "top leaks (outstanding at the end)"};
	const struct kt_alloc_site_rec **v;
	char st[REPORT_FRAMES * FRAME_SZ + 16];
	int n = sorted_sites(d, 0, by, &v);

	if (n < 0)
		return n;
	if (n)
		fprintf(out, "  %s:\n  %8s %10s %14s  %s\n", titles[by], "PID",
			by == BY_LEAK ? "BLOCKS" : "CALLS", "BYTES", "SITE (caller < ...)");
	for (size_t i = 0; i < (size_t)n && i < top; i++) {
		const struct kt_alloc_site_rec *s = v[i];

		format_site(s, sym, ctx, st, sizeof(st));
		fprintf(out, "  %8u %10llu %14llu  %s\n", s->tgid,
			(unsigned long long)(by == BY_LEAK ? s->leaked_blocks : s->allocs),
			(unsigned long long)(by == BY_LEAK ? s->leaked_bytes : s->bytes), st);
	}
	free(v);
	return 0;
}

static double per_msg(const struct kt_alloc_ring_rec *r)
{
	return r->msgs ? (double)r->allocs / (double)r->msgs : 0.0;
}

/* The hot-path question, per ring. */
static void print_rings(const struct kt_alloc_data *d, FILE *out)
{
	if (d->nrings)
		fprintf(out, "  allocations per message (by the threads that send or receive on "
			     "each ring):\n");
	for (size_t i = 0; i < d->nrings; i++) {
		const struct kt_alloc_ring_rec *r = &d->rings[i];

		fprintf(out,
			"  ring %s (pid %u): %.2f allocations per message (%llu allocations, "
			"%llu bytes, %llu messages, %u threads)\n",
			r->name, r->pid, per_msg(r), (unsigned long long)r->allocs,
			(unsigned long long)r->bytes, (unsigned long long)r->msgs, r->nthreads);
	}
}

int kt_alloc_data_print(const struct kt_alloc_data *d, const struct kt_alloc_stats *st, FILE *out,
			size_t top, kt_folded_sym_fn sym, void *ctx)
{
	fprintf(out, "\nalloc: heap of the traced processes (%s allocator)%s%s\n",
		st->lib ? st->lib : "glibc", st->exact ? ", exact: traced from the start" : "",
		kt_alloc_stats_dropped(st) ? ", LOWER BOUNDS: events were dropped" : "");
	if (st->moved)
		fprintf(out,
			"  %llu processes exec'd into another allocator: probed from then on, not "
			"exact\n",
			(unsigned long long)st->moved);
	if (st->procs_untracked)
		fprintf(out,
			"  %llu processes not traced: no room in the map of traced processes "
			"(KAOS_TRACE_ALLOC_MAX_PROCS)\n",
			(unsigned long long)st->procs_untracked);
	if (!d->nprocs)
		fprintf(out, "  (no allocation seen)\n");
	for (size_t i = 0; i < d->nprocs; i++) {
		print_proc(&d->procs[i], st, out);
		fprintf(out,
			"    inside kaos_ring_*/kaos_ipc_* calls (their stacks): %llu "
			"allocations\n",
			(unsigned long long)allocs_in_ring_calls(d, d->procs[i].tgid, sym, ctx));
	}
	if (st->cost_ns > 0)
		fprintf(out, "  cost to the process: ~%.0f us per allocation (%s)\n",
			st->cost_ns / 1000.0,
			st->cost_cached ? "measured earlier this boot, /run/kaos-trace"
					: "measured here");
	if (st->sampled)
		fprintf(out,
			"  SAMPLED (--budget): probes attached %.0f%% of the time "
			"(attached_fraction "
			"%.3f); counts are a sample, outstanding/leaks are upper bounds (blocks "
			"freed while detached still look outstanding)\n",
			st->attached_fraction * 100.0, st->attached_fraction);
	for (int by = BY_CALLS; by <= BY_LEAK; by++)
		if (print_top(d, (enum site_order)by, out, top, sym, ctx))
			return -ENOMEM;
	print_rings(d, out);
	return 0;
}

static void json_site(struct kt_json *w, const struct kt_alloc_site_rec *s, kt_folded_sym_fn sym,
		      void *ctx)
{
	char name[JSON_FRAME_SZ];

	kt_json_object_begin(w);
	kt_json_kv_u64(w, "allocs", s->allocs);
	kt_json_kv_u64(w, "bytes", s->bytes);
	kt_json_kv_u64(w, "leaked_blocks", s->leaked_blocks);
	kt_json_kv_u64(w, "leaked_bytes", s->leaked_bytes);
	kt_json_key(w, "stack"); /* root first, the caller of the allocator last */
	kt_json_array_begin(w);
	for (size_t i = s->nframes; i-- > 0;) {
		frame_name(s, i, sym, ctx, name, sizeof(name));
		kt_json_string(w, name);
	}
	kt_json_array_end(w);
	kt_json_object_end(w);
}

static void json_proc(struct kt_json *w, const struct kt_alloc_proc_rec *p,
		      const struct kt_alloc_stats *st)
{
	kt_json_kv_u64(w, "pid", p->tgid);
	if (p->comm[0]) /* kaos-trace diff matches sites by comm + stack */
		kt_json_kv_string(w, "comm", p->comm);
	kt_json_kv_u64(w, "allocs", p->allocs);
	kt_json_kv_u64(w, "frees", p->frees);
	kt_json_kv_u64(w, "bytes_allocated", p->bytes_allocated);
	kt_json_kv_u64(w, "free_calls", p->free_calls);
	kt_json_kv_u64(w, "bytes_freed", p->bytes_freed);
	kt_json_kv_u64(w, "peak_bytes", p->peak_bytes);
	kt_json_kv_u64(w, "peak_time_ns",
		       p->peak_ns > st->t_start_ns ? p->peak_ns - st->t_start_ns : 0);
	kt_json_kv_u64(w, "leaked_blocks", p->leaked_blocks);
	kt_json_kv_u64(w, "leaked_bytes", p->leaked_bytes);
	kt_json_kv_u64(w, "freed_before_tracing", p->freed_before);
	kt_json_kv_u64(w, "short_lived", p->short_lived);
	kt_json_kv_u64(w, "failed", p->failed);
	kt_json_kv_u64(w, "exec_released_blocks", p->exec_blocks);
	kt_json_kv_u64(w, "exec_released_bytes", p->exec_bytes);
}

static void json_rings(struct kt_json *w, const struct kt_alloc_data *d)
{
	kt_json_key(w, "rings");
	kt_json_array_begin(w);
	for (size_t i = 0; i < d->nrings; i++) {
		const struct kt_alloc_ring_rec *r = &d->rings[i];

		kt_json_object_begin(w);
		kt_json_kv_u64(w, "pid", r->pid);
		kt_json_kv_u64(w, "ring_id", r->ring_id);
		kt_json_kv_string(w, "name", r->name);
		kt_json_kv_u64(w, "messages", r->msgs);
		kt_json_kv_u64(w, "allocs", r->allocs);
		kt_json_kv_u64(w, "bytes", r->bytes);
		kt_json_kv_u64(w, "threads", r->nthreads);
		kt_json_kv_double(w, "allocs_per_message", per_msg(r));
		kt_json_object_end(w);
	}
	kt_json_array_end(w);
}

/* The members of one process: totals, then its top sites by bytes and top leaks. */
static int json_proc_members(struct kt_json *w, const struct kt_alloc_data *d,
			     const struct kt_alloc_proc_rec *p, const struct kt_alloc_stats *st,
			     size_t top, kt_folded_sym_fn sym, void *ctx)
{
	const struct kt_alloc_site_rec **v;
	int n;

	json_proc(w, p, st);
	kt_json_kv_u64(w, "allocs_in_ring_calls", allocs_in_ring_calls(d, p->tgid, sym, ctx));
	for (int by = BY_BYTES; by <= BY_LEAK; by++) {
		if ((n = sorted_sites(d, p->tgid, (enum site_order)by, &v)) < 0)
			return n;
		kt_json_key(w, by == BY_BYTES ? "top_sites" : "top_leaks");
		kt_json_array_begin(w);
		for (size_t k = 0; k < (size_t)n && k < top; k++)
			json_site(w, v[k], sym, ctx);
		kt_json_array_end(w);
		free(v);
	}
	return 0;
}

static void json_flags(struct kt_json *w, const struct kt_alloc_stats *st)
{
	kt_json_kv_string(w, "allocator", st->lib ? st->lib : "glibc");
	kt_json_kv_bool(w, "exact", st->exact && !kt_alloc_stats_dropped(st));
	kt_json_kv_bool(w, "dropped", kt_alloc_stats_dropped(st));
	kt_json_kv_bool(w, "sampled", st->sampled);
	kt_json_kv_double(w, "attached_fraction", st->sampled ? st->attached_fraction : 1.0);
}

int kt_alloc_data_json(const struct kt_alloc_data *d, const struct kt_alloc_stats *st,
		       struct kt_json *w, size_t top, kt_folded_sym_fn sym, void *ctx)
{
	int e;

	kt_json_key(w, "alloc");
	kt_json_object_begin(w);
	json_flags(w, st);
	kt_json_kv_u64(w, "short_ns", st->short_ns);
	kt_json_kv_double(w, "cost_ns_per_alloc", st->cost_ns > 0 ? st->cost_ns : 0.0 / 0.0);
	kt_json_kv_u64(w, "calls_lost", st->call_lost);
	kt_json_kv_u64(w, "blocks_untracked", st->block_lost);
	kt_json_kv_u64(w, "sites_lost", st->site_lost);
	kt_json_kv_u64(w, "stack_errors", st->stack_err);
	kt_json_kv_u64(w, "calls_unreturned", st->stale);
	kt_json_kv_u64(w, "calls_nested", st->nested); /* inside another: counted once */
	kt_json_kv_u64(w, "calls_not_charged_to_thread", st->thread_lost);
	/* exited threads whose entries wait for their process's end: not a loss */
	kt_json_kv_u64(w, "exited_threads_kept", st->thread_kept);
	kt_json_kv_u64(w, "processes_untracked", st->procs_untracked);
	kt_json_kv_u64(w, "processes_moved_at_exec", st->moved);
	json_rings(w, d);
	kt_json_key(w, "processes");
	kt_json_array_begin(w);
	for (size_t i = 0; i < d->nprocs; i++) {
		kt_json_object_begin(w);
		if ((e = json_proc_members(w, d, &d->procs[i], st, top, sym, ctx)))
			return e;
		kt_json_object_end(w);
	}
	kt_json_array_end(w);
	kt_json_object_end(w);
	return kt_json_error(w);
}

int kt_alloc_data_json_proc(const struct kt_alloc_data *d, const struct kt_alloc_stats *st,
			    struct kt_json *w, uint32_t pid, size_t top, kt_folded_sym_fn sym,
			    void *ctx)
{
	int e;

	for (size_t i = 0; i < d->nprocs; i++) {
		if (d->procs[i].tgid != pid)
			continue;
		kt_json_key(w, "alloc");
		kt_json_object_begin(w);
		json_flags(w, st);
		if ((e = json_proc_members(w, d, &d->procs[i], st, top, sym, ctx)))
			return e;
		kt_json_object_end(w);
	}
	return kt_json_error(w);
}
