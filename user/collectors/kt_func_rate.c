// SPDX-License-Identifier: MIT
/* kt_func: exact counts, --max-rate sampling and the cost warning. */
#include "kt_func_internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_func.skel.h"
#include "kt_clock.h"
#include "kt_hist.h"
#include "kt_percpu.h"

/* ---------------------------------------------------------------- counts, sampling, cost */

void kt_func_bind(struct kt_func *f, struct kt_agg *agg)
{
	for (uint32_t i = 0; i < f->nfn; i++) {
		f->desc[i].bias_ns = kt_func_bias_ns(f, f->fn[i].kind);
		f->desc[i].pair_ns = kt_func_pair_ns(f, f->fn[i].kind);
		f->desc[i].tail_ns = kt_func_tail_ns(f, f->fn[i].kind);
	}
	kt_agg_set_funcs(agg, f->desc, f->nfn);
}

/* Calls cb for every (pid, function) count the kernel holds (not our own). */
static void for_each_count(struct kt_func *f,
			   void (*cb)(struct kt_func *, uint32_t, uint32_t, uint64_t, void *),
			   void *ctx)
{
	struct {
		uint32_t pid, idx;
	} key, next;
	int fd = bpf_map__fd(f->skel->maps.func_counts);
	uint32_t self = (uint32_t)getpid();
	void *prev = NULL;
	uint64_t v;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.pid == self || key.idx >= f->nfn)
			continue;
		if (bpf_map_lookup_elem(fd, &key, &v) == 0)
			cb(f, key.pid, key.idx, v, ctx);
	}
}

static void sync_one(struct kt_func *f, uint32_t pid, uint32_t idx, uint64_t v, void *ctx)
{
	(void)f;
	kt_agg_func_count(ctx, pid, idx, v);
}

void kt_func_sync(struct kt_func *f, struct kt_agg *agg)
{
	if (f && f->skel)
		for_each_count(f, sync_one, agg);
}

void kt_func_stats(struct kt_func *f, uint64_t out[KT_FSTAT_NR])
{
	memset(out, 0, sizeof(uint64_t) * KT_FSTAT_NR);
	if (!f || !f->skel)
		return;
	kt_percpu_sum_u64(bpf_map__fd(f->skel->maps.func_stats), KT_FSTAT_NR, out);
}

struct tick_ctx {
	double *fn_calls; /* per function: calls this window (all processes) */
	struct {
		uint32_t pid;
		double cost_ns; /* probe cost this window */
		double calls;
	} * proc;
	uint32_t nproc, capproc;
	bool oom;
};

static void tick_one(struct kt_func *f, uint32_t pid, uint32_t idx, uint64_t v, void *arg)
{
	struct tick_ctx *c = arg;
	struct tick_ent *t = NULL;
	uint64_t d;
	uint32_t i;

	for (i = 0; i < f->ntk; i++)
		if (f->tk[i].pid == pid && f->tk[i].idx == idx) {
			t = &f->tk[i];
			break;
		}
	if (!t) {
		if (kt_func_grow((void **)&f->tk, &f->captk, f->ntk, sizeof(*f->tk))) {
			c->oom = true;
			return;
		}
		t = &f->tk[f->ntk++];
		*t = (struct tick_ent){pid, idx, 0};
	}
	d = v > t->base ? v - t->base : 0;
	t->base = v;
	c->fn_calls[idx] += (double)d;
	for (i = 0; i < c->nproc && c->proc[i].pid != pid; i++)
		;
	if (i == c->nproc) {
		if (kt_func_grow((void **)&c->proc, &c->capproc, c->nproc, sizeof(*c->proc))) {
			c->oom = true;
			return;
		}
		c->proc[c->nproc++] = (typeof(c->proc[0])){pid, 0, 0};
	}
	c->proc[i].cost_ns += (double)d * f->desc[idx].pair_ns;
	c->proc[i].calls += (double)d;
}

static bool warned(struct kt_func *f, uint32_t pid)
{
	for (uint32_t i = 0; i < f->nwarned; i++)
		if (f->warned[i] == pid)
			return true;
	if (!kt_func_grow((void **)&f->warned, &f->capwarned, f->nwarned, sizeof(*f->warned)))
		f->warned[f->nwarned++] = pid;
	return false;
}

static uint32_t pow2_ceil(double x)
{
	uint32_t p = 1;

	while (p < x && p < (1u << 30))
		p <<= 1;
	return p;
}

#define TICK_WINDOW_NS 250000000ull /* rates over a quarter of a second */

void kt_func_tick(struct kt_func *f, struct kt_agg *agg, uint64_t now_ns)
{
	struct tick_ctx c = {0};
	double secs;

	if (!f || !f->skel || (f->win_start && now_ns - f->win_start < TICK_WINDOW_NS))
		return;
	c.fn_calls = calloc(f->nfn ? f->nfn : 1, sizeof(double));
	if (!c.fn_calls)
		return;
	for_each_count(f, tick_one, &c);
	if (!f->win_start || c.oom) {
		/* first window: baselines only */
		f->win_start = now_ns;
		free(c.fn_calls);
		free(c.proc);
		return;
	}
	secs = (double)(now_ns - f->win_start) / 1e9;
	f->win_start = now_ns;
	if (f->o.max_rate) {
		for (uint32_t i = 0; i < f->nfn; i++) {
			uint32_t want = pow2_ceil(c.fn_calls[i] / secs / (double)f->o.max_rate);

			/* come back down only when well under the cap: no flapping */
			if (want < f->desc[i].sample_every &&
			    c.fn_calls[i] / secs > (double)f->o.max_rate * want / 2)
				want = f->desc[i].sample_every;
			if (want != f->desc[i].sample_every) {
				f->desc[i].sample_every = want;
				f->skel->bss->sample_every[i] = want;
			}
		}
	}
	double budget = f->o.warn_pct > 0 ? f->o.warn_pct : KT_FUNC_WARN_PCT_DEFAULT;

	for (uint32_t i = 0; i < c.nproc; i++) {
		double pct = c.proc[i].cost_ns / (secs * 1e9) * 100.0;
		char b[16];

		if (pct <= budget || warned(f, c.proc[i].pid))
			continue;
		struct kt_proc *p = kt_agg_proc(agg, c.proc[i].pid);

		kt_func_note(
			f, true,
			"warning: pid %u (%s): probed functions run %.0f calls/s; at %s per probed "
			"call (measured) tracing takes %.0f%% of its time, over the %.1f%% budget; "
			"every call traps to count it exactly (--max-rate thins the timed samples, "
			"not the traps): narrow --func to lower the cost",
			c.proc[i].pid, p ? p->comm : "?", c.proc[i].calls / secs,
			kt_fmt_ns(b, sizeof(b), (uint64_t)(c.proc[i].cost_ns / c.proc[i].calls)),
			pct, budget);
	}
	free(c.fn_calls);
	free(c.proc);
}
