// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kaos-trace --alloc: the heap of the traced processes, summed in the
 * kernel. Uprobes on the allocator's entry points stash each call's
 * arguments per thread (alloc_calls); the uretprobes, seeing the result,
 * charge the call to its user stack (alloc_sites), record the block
 * (alloc_blocks: address -> size, stack, time) and move the process's
 * outstanding bytes and peak (alloc_procs). free() looks its block up and
 * releases it; a block never seen allocated was allocated before tracing:
 * counted apart, never subtracted. Every map is bounded and every drop is
 * counted (alloc_stats): with drops, the figures are lower bounds.
 *
 * The stack is taken at the return: the caller of malloc is then the leaf
 * (at the entry, frame-pointer unwinding would skip it: malloc has not
 * pushed a frame yet and the return address sits at [sp]).
 *
 * glibc's realloc(NULL, n) calls malloc, reallocarray calls realloc, and
 * realloc(p, 0) calls free, at the public symbols' addresses: a call made
 * inside another allocator call is counted once, by the outer one (depth).
 * Large blocks that glibc serves with mmap (above M_MMAP_THRESHOLD) are
 * still malloc calls: they are seen here.
 *
 * An exec replaces the address space: the blocks of the image before are
 * released with it (counted as such, not leaks), and the probes, filtered by
 * pid, follow the new image if it maps the same allocator.
 *
 * An exit: each exiting thread's stashed call is dropped (a thread killed
 * inside malloc would hold its alloc_calls slot for good), its sums leave
 * alloc_threads for a queue userspace drains (alloc_thread_exits: a process
 * whose threads come and go keeps the map bounded; its totals, in
 * alloc_procs, are untouched), and when the last thread goes, the process is stamped exited
 * (exit_ns) and group_exits moves: userspace then moves its sums out of the maps (kt_alloc.c,
 * harvest), so that a daemon seeing processes come and go keeps room for
 * new ones. The sweep is left to userspace: the exiting process pays one
 * map lookup here, not a walk of every outstanding block.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kt_alloc_abi.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * A stashed call older than this never returned as seen (its return probe
 * was missed: a longjmp out of a signal handler, a detach in between): it
 * is dropped and counted, else the thread's later calls would all look
 * nested and go uncounted.
 */
#define STALE_NS 1000000000ull

/* Set by userspace before load: blocks freed sooner than this are short-lived. */
const volatile __u64 short_ns = 1000000;

/* Traced processes whose last thread exited (read by userspace from the mmapped .bss). */
__u64 group_exits;
/* Execs of traced processes: userspace checks whether the new image maps another allocator. */
__u64 execs_total;
/* Exited threads queued in alloc_thread_exits: userspace drains the queue when this moves. */
__u64 thread_exits;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, KT_ALLOC_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KT_ALLOC_STACK_DEPTH * sizeof(__u64));
} alloc_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_ALLOC_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct kt_alloc_call);
} alloc_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_ALLOC_MAX_BLOCKS);
	__type(key, struct kt_alloc_block_key);
	__type(value, struct kt_alloc_block);
} alloc_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_ALLOC_MAX_SITES);
	__type(key, struct kt_alloc_site_key);
	__type(value, struct kt_alloc_site);
} alloc_sites SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_ALLOC_MAX_TIDS);
	__type(key, struct kt_alloc_thread_key);
	__type(value, struct kt_alloc_thread);
} alloc_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, KT_ALLOC_MAX_EXITS);
	__uint(key_size, 0);
	__uint(value_size, sizeof(struct kt_alloc_thread_exit));
} alloc_thread_exits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_ALLOC_MAX_PIDS);
	__type(key, __u32);
	__type(value, struct kt_alloc_proc);
} alloc_procs SEC(".maps");

/* Per-CPU counters, indexed by enum kt_alloc_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_ALLOC_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} alloc_stats SEC(".maps");

static __always_inline void stat_add(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&alloc_stats, &stat);

	if (v)
		*v += 1;
}

/* The process's totals: only processes userspace added have an entry. */
static __always_inline struct kt_alloc_proc *proc_of(__u32 tgid)
{
	return bpf_map_lookup_elem(&alloc_procs, &tgid);
}

/* Entry: stash the arguments, or note a call nested in another. */
static __always_inline int enter(__u32 kind, __u64 size, __u64 old, __u64 outp)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct kt_alloc_call c = {.size = size, .old = old, .outp = outp, .kind = kind};
	struct kt_alloc_call *cur;

	if (!proc_of(id >> 32))
		return 0;
	c.ts_ns = bpf_ktime_get_ns();
	cur = bpf_map_lookup_elem(&alloc_calls, &tid);
	if (cur && c.ts_ns - cur->ts_ns > STALE_NS) {
		stat_add(KT_ALLOC_STAT_STALE);
		cur = NULL; /* replaced below */
	}
	if (cur) {
		cur->depth++;
		stat_add(KT_ALLOC_STAT_NESTED);
		return 0;
	}
	if (bpf_map_update_elem(&alloc_calls, &tid, &c, BPF_ANY))
		stat_add(KT_ALLOC_STAT_CALL_LOST);
	return 0;
}

/* Raises the peak to cur if it is higher (another CPU may race: retried). */
static __always_inline void raise_peak(struct kt_alloc_proc *p, __u64 cur)
{
	for (int i = 0; i < 4; i++) {
		__u64 old = p->peak_bytes;

		if (cur <= old)
			return;
		if (__sync_val_compare_and_swap(&p->peak_bytes, old, cur) == old) {
			p->peak_ns = bpf_ktime_get_ns();
			return;
		}
	}
}

static __always_inline void charge_site(__u32 tgid, __s32 stack_id, __u64 size)
{
	struct kt_alloc_site_key k = {.tgid = tgid, .stack_id = stack_id};
	struct kt_alloc_site *s, init = {.allocs = 1, .bytes = size};

	s = bpf_map_lookup_elem(&alloc_sites, &k);
	if (!s) {
		if (!bpf_map_update_elem(&alloc_sites, &k, &init, BPF_NOEXIST))
			return;
		s = bpf_map_lookup_elem(&alloc_sites, &k); /* another CPU inserted it */
		if (!s) {
			stat_add(KT_ALLOC_STAT_SITE_LOST);
			return;
		}
	}
	__sync_fetch_and_add(&s->allocs, 1);
	__sync_fetch_and_add(&s->bytes, size);
}

static __always_inline void charge_thread(__u32 tgid, __u32 tid, __u64 size)
{
	struct kt_alloc_thread_key k = {.tgid = tgid, .tid = tid};
	struct kt_alloc_thread *t, init = {.allocs = 1, .bytes = size};

	t = bpf_map_lookup_elem(&alloc_threads, &k);
	if (!t) {
		if (!bpf_map_update_elem(&alloc_threads, &k, &init, BPF_NOEXIST))
			return;
		t = bpf_map_lookup_elem(&alloc_threads, &k);
		if (!t) {
			stat_add(KT_ALLOC_STAT_THREAD_LOST);
			return;
		}
	}
	__sync_fetch_and_add(&t->allocs, 1);
	__sync_fetch_and_add(&t->bytes, size);
}

static __always_inline void on_alloc(void *ctx, struct kt_alloc_proc *p, __u32 tgid, __u64 addr,
				     __u64 size)
{
	struct kt_alloc_block_key k = {.tgid = tgid, .addr = addr};
	struct kt_alloc_block b = {.size = size};
	long id = bpf_get_stackid(ctx, &alloc_stacks, BPF_F_USER_STACK);
	__u64 cur;

	if (id < 0)
		stat_add(KT_ALLOC_STAT_STACK_ERR);
	b.stack_id = id < 0 ? -1 : (__s32)id;
	b.ts_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&p->allocs, 1);
	__sync_fetch_and_add(&p->bytes_allocated, size);
	charge_site(tgid, b.stack_id, size);
	charge_thread(tgid, (__u32)bpf_get_current_pid_tgid(), size);
	if (bpf_map_update_elem(&alloc_blocks, &k, &b, BPF_ANY)) {
		stat_add(KT_ALLOC_STAT_BLOCK_LOST);
		return;
	}
	cur = __sync_fetch_and_add(&p->cur_bytes, size) + size;
	raise_peak(p, cur);
}

static __always_inline void on_free(struct kt_alloc_proc *p, __u32 tgid, __u64 addr)
{
	struct kt_alloc_block_key k = {.tgid = tgid, .addr = addr};
	struct kt_alloc_block *b;
	__u64 size, ts;

	__sync_fetch_and_add(&p->frees, 1);
	b = bpf_map_lookup_elem(&alloc_blocks, &k);
	if (!b) {
		__sync_fetch_and_add(&p->freed_before, 1);
		return;
	}
	size = b->size;
	ts = b->ts_ns;
	if (bpf_map_delete_elem(&alloc_blocks, &k))
		return; /* another thread freed it meanwhile (a double free): once */
	__sync_fetch_and_add(&p->bytes_freed, size);
	__sync_fetch_and_add(&p->cur_bytes, -size);
	if (bpf_ktime_get_ns() - ts < short_ns)
		__sync_fetch_and_add(&p->short_lived, 1);
}

/* Return: charge the stashed call with its result. */
static __always_inline int leave(void *ctx, __u64 ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct kt_alloc_call *c = bpf_map_lookup_elem(&alloc_calls, &tid), call;
	struct kt_alloc_proc *p;
	__u64 addr = ret;

	if (!c)
		return 0; /* its entry came before tracing, or was lost (counted) */
	if (c->depth) {
		c->depth--;
		return 0;
	}
	call = *c;
	bpf_map_delete_elem(&alloc_calls, &tid);
	p = proc_of(tgid);
	if (!p) {
		stat_add(KT_ALLOC_STAT_PROC_LOST);
		return 0;
	}
	if (call.kind == KT_ALLOC_POSIX_MEMALIGN) {
		addr = 0;
		if ((int)ret == 0 && bpf_probe_read_user(&addr, sizeof(addr), (void *)call.outp))
			addr = 0;
	}
	/* realloc releases the old block when it succeeds, and when the size is 0 */
	if (call.kind == KT_ALLOC_REALLOC && call.old && (addr || !call.size))
		on_free(p, tgid, call.old);
	if (addr)
		on_alloc(ctx, p, tgid, addr, call.size);
	else if (call.kind != KT_ALLOC_REALLOC || call.size)
		__sync_fetch_and_add(&p->failed, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_malloc, __u64 size)
{
	return enter(KT_ALLOC_MALLOC, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_calloc, __u64 n, __u64 size)
{
	return enter(KT_ALLOC_CALLOC, n * size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_realloc, __u64 old, __u64 size)
{
	return enter(KT_ALLOC_REALLOC, size, old, 0);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_reallocarray, __u64 old, __u64 n, __u64 size)
{
	return enter(KT_ALLOC_REALLOC, n * size, old, 0);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_memalign, __u64 align, __u64 size)
{
	return enter(KT_ALLOC_MEMALIGN, size, 0, 0);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_posix_memalign, __u64 outp, __u64 align, __u64 size)
{
	return enter(KT_ALLOC_POSIX_MEMALIGN, size, 0, outp);
}

SEC("uretprobe")
int BPF_KRETPROBE(kaos_alloc_return, __u64 ret)
{
	return leave(ctx, ret);
}

SEC("uprobe")
int BPF_KPROBE(kaos_alloc_free, __u64 addr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct kt_alloc_proc *p;

	if (!addr || !(p = proc_of(tgid)))
		return 0;
	if (bpf_map_lookup_elem(&alloc_calls, &tid)) {
		stat_add(KT_ALLOC_STAT_NESTED); /* realloc(p, 0): realloc counts it */
		return 0;
	}
	__sync_fetch_and_add(&p->free_calls, 1);
	on_free(p, tgid, addr);
	return 0;
}

struct exec_sweep {
	__u32 tgid;
	__u64 blocks, bytes;
};

static long sweep_block(struct bpf_map *map, struct kt_alloc_block_key *k, struct kt_alloc_block *b,
			struct exec_sweep *sw)
{
	if (k->tgid != sw->tgid)
		return 0;
	sw->blocks++;
	sw->bytes += b->size;
	bpf_map_delete_elem(map, k);
	return 0;
}

/*
 * An exiting thread's sums move to the queue (only the thread itself
 * charges its entry, and it allocates no more). Queue full: the entry
 * stays, read with its process or at the end; counted.
 */
static __always_inline void sweep_thread(__u32 tgid, __u32 tid)
{
	struct kt_alloc_thread_key k = {.tgid = tgid, .tid = tid};
	struct kt_alloc_thread *t = bpf_map_lookup_elem(&alloc_threads, &k);
	struct kt_alloc_thread_exit x = {.tgid = tgid, .tid = tid};

	if (!t)
		return;
	x.allocs = t->allocs;
	x.bytes = t->bytes;
	if (bpf_map_push_elem(&alloc_thread_exits, &x, 0)) {
		stat_add(KT_ALLOC_STAT_THREAD_KEPT);
		return;
	}
	bpf_map_delete_elem(&alloc_threads, &k);
	__sync_fetch_and_add(&thread_exits, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(kaos_alloc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct exec_sweep sw = {.tgid = id >> 32};
	struct kt_alloc_proc *pr = proc_of(sw.tgid);
	__u32 tid = (__u32)id;

	if (!pr)
		return 0;
	bpf_map_delete_elem(&alloc_calls, &tid);
	/*
	 * A thread other than the leader exec'd: it now has the leader's pid,
	 * and no exit will name its old one; its sums leave under that one.
	 */
	if ((__u32)old_pid != tid) {
		__u32 old_tid = (__u32)old_pid;

		bpf_map_delete_elem(&alloc_calls, &old_tid);
		sweep_thread(sw.tgid, old_tid);
	}
	bpf_for_each_map_elem(&alloc_blocks, sweep_block, &sw, 0);
	__sync_fetch_and_add(&pr->execs, 1);
	__sync_fetch_and_add(&execs_total, 1);
	__sync_fetch_and_add(&pr->exec_blocks, sw.blocks);
	__sync_fetch_and_add(&pr->exec_bytes, sw.bytes);
	__sync_fetch_and_add(&pr->cur_bytes, -sw.bytes);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(kaos_alloc_exit, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct kt_alloc_proc *pr = proc_of(id >> 32);
	__u32 tid = (__u32)id;

	if (!pr)
		return 0;
	bpf_map_delete_elem(&alloc_calls, &tid);
	sweep_thread(id >> 32, tid);
	/* do_exit() drops signal->live before this tracepoint: 0 once the last thread is here */
	if (BPF_CORE_READ(task, signal, live.counter) || pr->exit_ns)
		return 0;
	pr->exit_ns = bpf_ktime_get_ns();
	__sync_fetch_and_add(&group_exits, 1);
	return 0;
}
