// SPDX-License-Identifier: MIT
/* kt_func: state, and the BPF side: load, attach, detach (kt_func_internal.h lists the rest). */
#include "kt_func_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_func.skel.h"

/* ---------------------------------------------------------------- state */

int kt_func_grow(void **v, uint32_t *cap, uint32_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * elem);

	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

void kt_func_note(struct kt_func *f, bool warning, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (!f->o.note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	f->o.note(f->o.note_ctx, warning, line);
}

void kt_func_fn_free(struct kt_func_fn *x)
{
	free(x->name);
	free(x->path);
	free(x->attach_path);
	free(x->ifunc);
}

void kt_func_free(struct kt_func *f)
{
	if (!f)
		return;
	kt_func_detach(f);
	if (f->skel)
		kaos_func_bpf__destroy(f->skel);
	for (uint32_t i = 0; i < f->nfn; i++)
		kt_func_fn_free(&f->fn[i]);
	for (uint32_t i = 0; i < f->nref; i++)
		kt_func_fn_free(&f->ref[i]);
	free(f->fn);
	free(f->ref);
	free(f->att);
	free(f->desc);
	free(f->links);
	free(f->tk);
	free(f->warned);
	for (uint32_t i = 0; i < f->npending; i++)
		free(f->pending[i]);
	free(f->pending);
	free(f);
}

uint32_t kt_func_count(const struct kt_func *f)
{
	return f ? f->nfn : 0;
}

const struct kt_func_fn *kt_func_get(const struct kt_func *f, uint32_t idx)
{
	return f && idx < f->nfn ? &f->fn[idx] : NULL;
}

const char *kt_func_name(const struct kt_func *f, uint32_t idx)
{
	return f && idx < f->nfn ? f->fn[idx].name : "?";
}

/* ---------------------------------------------------------------- BPF */

void kt_func_command_pid(struct kt_func *f, pid_t pid)
{
	for (uint32_t i = 0; f && i < f->natt; i++)
		if (f->att[i].pid == PID_COMMAND)
			f->att[i].pid = pid;
}

int kt_func_load(struct kt_func *f, int events_fd, int stats_fd, uint64_t wakeup_bytes, char *err,
		 size_t errlen)
{
	int e;

	f->skel = kaos_func_bpf__open();
	if (!f->skel) {
		snprintf(err, errlen, "cannot open the --func BPF object: %s", strerror(errno));
		return -1;
	}
	f->skel->rodata->want_stacks = f->o.stacks;
	f->skel->rodata->wakeup_bytes = wakeup_bytes;
	e = bpf_map__reuse_fd(f->skel->maps.events, events_fd);
	if (!e)
		e = bpf_map__reuse_fd(f->skel->maps.kt_stats, stats_fd);
	if (e) {
		snprintf(err, errlen, "cannot share the ring buffer with --func: %s", strerror(-e));
		return -1;
	}
	e = kaos_func_bpf__load(f->skel);
	if (e) {
		snprintf(err, errlen, "--func BPF load failed: %s", strerror(-e));
		return -1;
	}
	for (uint32_t i = 0; i < KT_FUNC_MAX; i++)
		f->skel->bss->sample_every[i] = 1;
	return 0;
}

struct bpf_link *kt_func_attach_pair(struct kt_func *f, bool ret, pid_t pid, const char *path,
				     uint64_t offset, uint32_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = cookie);

	return bpf_program__attach_uprobe_opts(ret ? f->skel->progs.kt_func_exit
						   : f->skel->progs.kt_func_entry,
					       pid, path, (size_t)offset, &uo);
}

/* Makes room for n more links (and file descriptors for them). */
static int reserve_links(struct kt_func *f, int n)
{
	struct rlimit rl;
	struct bpf_link **v = realloc(f->links, sizeof(*v) * (size_t)(f->nlinks + n));

	if (!v)
		return -1;
	f->links = v;
	/* One perf event fd per uprobe: raise the soft limit if it would not do. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(f->nlinks + n + 256) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return 0;
}

int kt_func_attach(struct kt_func *f, char *err, size_t errlen)
{
	if (reserve_links(f, 2 * (int)f->natt)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < f->nfn; i++) {
		f->skel->bss->pair_cost_ns[i] = (uint32_t)(kt_func_pair_ns(f, f->fn[i].kind) + 0.5);
		f->skel->bss->tail_cost_ns[i] = (uint32_t)(kt_func_tail_ns(f, f->fn[i].kind) + 0.5);
	}
	for (uint32_t i = 0; i < f->natt; i++) {
		const struct kt_func_fn *x = &f->fn[f->att[i].idx];

		for (int ret = 0; ret < 2; ret++) {
			struct bpf_link *l = kt_func_attach_pair(
				f, ret, f->att[i].pid, x->attach_path, x->offset, f->att[i].idx);

			if (!l) {
				int e = errno;
				char who[32] = "";

				if (f->att[i].pid > 0)
					snprintf(who, sizeof(who), " in pid %d",
						 (int)f->att[i].pid);
				snprintf(err, errlen, "cannot attach %s uprobe to %s:%s%s: %s",
					 ret ? "return" : "entry", x->path, x->name, who,
					 e == EMFILE ? "too many open files (lower --max-funcs)"
						     : strerror(e));
				return -1;
			}
			f->links[f->nlinks++] = l;
		}
	}
	return 0;
}

int kt_func_nlinks(const struct kt_func *f)
{
	return f ? f->nlinks : 0;
}

struct destroyer {
	struct bpf_link **v;
	int n, stride;
};

static void *destroy_links(void *arg)
{
	struct destroyer *d = arg;

	for (int i = 0; i < d->n; i += d->stride)
		bpf_link__destroy(d->v[i]);
	return NULL;
}

/*
 * Removing a uprobe waits for an RCU grace period (~50 ms here): one after
 * the other, 64 functions would take 6 s to detach. Threads removing them
 * at the same time share the grace periods.
 */
void kt_func_destroy_links(struct bpf_link **v, int n)
{
	enum { MAX_THREADS = 32 };
	pthread_t th[MAX_THREADS];
	struct destroyer d[MAX_THREADS];
	bool started[MAX_THREADS];
	int nt = n < MAX_THREADS ? n : MAX_THREADS;

	for (int i = 0; i < nt; i++) {
		d[i] = (struct destroyer){v + i, n - i, nt};
		started[i] = nt > 1 && pthread_create(&th[i], NULL, destroy_links, &d[i]) == 0;
		if (!started[i])
			destroy_links(&d[i]); /* no thread: do it here */
	}
	for (int i = 0; i < nt; i++)
		if (started[i])
			pthread_join(th[i], NULL);
}

void kt_func_detach(struct kt_func *f)
{
	if (!f)
		return;
	kt_func_destroy_links(f->links, f->nlinks);
	f->nlinks = 0;
}
