// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kaos-trace --func: plain uprobes on arbitrary functions. One entry and one
 * return uprobe per function, the function's index in the BPF cookie.
 *
 * Every call is counted (per process and function) at entry, whether it is
 * timed or not, so counts stay exact under --max-rate sampling. Entry times
 * live on a per-thread stack in task storage (freed with the thread; a
 * thread that migrates keeps it), matched at return by stack pointer and
 * function: recursion, tail calls and calls abandoned by longjmp stay
 * consistent. A timed call becomes one KT_EV_FUNC kt_event in the `events`
 * ringbuf shared with kaos_trace.bpf.c (userspace reuses its fd), and
 * kt_stats counts it like a USDT hit: fired and lost (userspace derives
 * delivered as fired - lost).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kt_event.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile bool want_stacks = false;
const volatile __u64 wakeup_bytes = 64 * 1024;

/* Time 1 call in sample_every[idx] (0 or 1: all); written by userspace (--max-rate). */
__u32 sample_every[KT_FUNC_MAX];
/* Calibrated cost (ns) of one probed call of function idx, charged to its callers. */
__u32 pair_cost_ns[KT_FUNC_MAX];
/*
 * The same for a tail call of idx: its entry probe and its return handler
 * only, since its caller's return trap (charged to nobody) serves both.
 */
__u32 tail_cost_ns[KT_FUNC_MAX];

/* Shared with kaos_trace.bpf.c: userspace passes its fds (bpf_map__reuse_fd). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_STAT_NR *KT_EV_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} kt_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_FSTAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} func_stats SEC(".maps");

struct func_key {
	__u32 pid; /* tgid */
	__u32 idx;
};

/* Calls per (process, function) since attach: the exact counts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct func_key);
	__type(value, __u64);
} func_counts SEC(".maps");

struct frame {
	__u64 ts;     /* entry time (only for timed calls) */
	__u64 sp;     /* stack pointer at entry: identifies the call at return */
	__u64 inner0; /* thread's entry count after this entry */
	__u64 cost0;  /* thread's probe cost after this entry */
	__u32 idx;
	__u32 timed;
};

struct thread_stack {
	__u32 depth;
	__u32 _pad;
	__u64 entries; /* probed entries of this thread so far */
	__u64 cost;    /* their calibrated probe cost, ns */
	struct frame f[KT_FUNC_MAX_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_stack);
} func_stack SEC(".maps");

/*
 * The stack pointer at a return, less this, is the one the entry saw: on
 * x86-64 `ret` popped the return address the call pushed; arm64 calls
 * leave sp alone.
 */
#if defined(__TARGET_ARCH_x86)
#define RET_SP_DELTA 8
#else
#define RET_SP_DELTA 0
#endif

/* kaos-trace's calibration of itself is not counted with the targets' events. */
static __always_inline void stat_inc(__u32 stat, __u32 idx)
{
	__u32 key = stat * KT_EV_TYPES + KT_EV_FUNC;
	__u64 *v;

	if (idx == KT_FUNC_CALIB_IDX)
		return;
	v = bpf_map_lookup_elem(&kt_stats, &key);
	if (v)
		*v += 1;
}

static __always_inline void fstat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&func_stats, &stat);

	if (v)
		*v += 1;
}

/*
 * Is this entry a tail call of a probed function (its return address is
 * already the kernel's uretprobe trampoline)? Then the frame below at the
 * same stack pointer is alive; otherwise a frame at the same or a lower
 * stack pointer belongs to a call that was left without returning
 * (longjmp, exceptions). The kernel makes the same distinction for its own
 * return instances.
 */
static __always_inline bool tail_call(struct pt_regs *ctx, __u64 sp)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct xol_area *area = BPF_CORE_READ(task, mm, uprobes_state.xol_area);
	__u64 tramp, ra = 0;

	if (!area)
		return false; /* no return probe was installed in this process yet */
	tramp = BPF_CORE_READ(area, vaddr);
#if defined(__TARGET_ARCH_x86)
	bpf_probe_read_user(&ra, sizeof(ra), (void *)sp);
#else
	(void)sp;
	ra = PT_REGS_RET(ctx); /* the link register */
#endif
	return ra == tramp;
}

/* Counts one call; returns the count so far (0 if the map is full). */
static __always_inline __u64 count_call(__u32 tgid, __u32 idx)
{
	struct func_key k = {.pid = tgid, .idx = idx};
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&func_counts, &k);
	if (!v) {
		if (bpf_map_update_elem(&func_counts, &k, &one, BPF_NOEXIST) == 0)
			return 1;
		v = bpf_map_lookup_elem(&func_counts, &k); /* another CPU created it */
		if (!v) {
			fstat_inc(KT_FSTAT_NOCOUNT);
			return 0;
		}
	}
	__sync_fetch_and_add(v, 1);
	return *v;
}

SEC("uprobe")
int kt_func_entry(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 idx = (__u32)bpf_get_attach_cookie(ctx);
	struct thread_stack *st;
	struct frame *fr;
	__u32 every = 1, d;
	bool chained;
	__u64 n, sp;

	if (idx >= KT_FUNC_MAX)
		return 0;
	idx &= KT_FUNC_MAX - 1; /* the verifier keeps this bound, not the compare's */
	n = count_call(tgid, idx);
	every = sample_every[idx];
	st = bpf_task_storage_get(&func_stack, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		fstat_inc(KT_FSTAT_UNTIMED);
		return 0;
	}
	sp = PT_REGS_SP(ctx);
	chained = tail_call(ctx, sp);
	st->entries++;
	st->cost += chained ? tail_cost_ns[idx & (KT_FUNC_MAX - 1)]
			    : pair_cost_ns[idx & (KT_FUNC_MAX - 1)];
	/* Drop the frames of calls that were left without returning. */
	for (int i = 0; i < KT_FUNC_MAX_DEPTH; i++) {
		struct frame *top;

		d = st->depth;
		if (d == 0 || d > KT_FUNC_MAX_DEPTH)
			break;
		top = &st->f[(d - 1) & (KT_FUNC_MAX_DEPTH - 1)];
		if (top->sp > sp || (top->sp == sp && chained))
			break;
		st->depth = d - 1;
		/* the calibration's entry-only round leaves frames on purpose */
		if (top->idx != KT_FUNC_CALIB_IDX)
			fstat_inc(KT_FSTAT_ABANDONED);
	}
	d = st->depth;
	if (d >= KT_FUNC_MAX_DEPTH) {
		/* The kernel installs no return probe this deep either. */
		fstat_inc(KT_FSTAT_UNTIMED);
		return 0;
	}
	fr = &st->f[d & (KT_FUNC_MAX_DEPTH - 1)];
	fr->sp = sp;
	fr->idx = idx;
	fr->inner0 = st->entries;
	fr->cost0 = st->cost;
	/* every is a power of two (userspace); an unknown count is timed */
	fr->timed = every <= 1 || n == 0 || (n & (every - 1)) == 0;
	if (!fr->timed)
		fstat_inc(KT_FSTAT_SAMPLED_OUT);
	st->depth = d + 1;
	/* last: what runs after this is probe cost inside the measured time */
	fr->ts = bpf_ktime_get_ns();
	return 0;
}

/*
 * The top frame is normally this return's call. Frames deeper in the stack
 * (lower sp) than this return were left without returning (longjmp): drop
 * them. A frame above it means this call was never seen: NULL. *depth is the
 * matched frame's depth + 1.
 */
static __always_inline struct frame *pop_frame(struct thread_stack *st, __u64 sp, __u32 idx,
					       __u32 *depth)
{
	struct frame *fr = NULL;
	__u32 d = 0;

	for (int i = 0; i < KT_FUNC_MAX_DEPTH; i++) {
		struct frame *top;

		d = st->depth;
		if (d == 0 || d > KT_FUNC_MAX_DEPTH)
			break;
		top = &st->f[(d - 1) & (KT_FUNC_MAX_DEPTH - 1)];
		if (top->sp == sp && top->idx == idx) {
			fr = top;
			break;
		}
		if (top->sp > sp)
			break;
		st->depth = d - 1;
		fstat_inc(KT_FSTAT_ABANDONED);
	}
	if (!fr)
		return NULL;
	st->depth = d - 1;
	*depth = d;
	return fr;
}

/* One KT_EV_FUNC record for a timed call that returned at now. */
static __always_inline void emit_call(struct pt_regs *ctx, const struct thread_stack *st,
				      const struct frame *fr, __u32 idx, __u32 depth, __u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct kt_event *e;

	stat_inc(KT_STAT_FIRED, idx);
	if (want_stacks)
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	else
		e = bpf_ringbuf_reserve(&events, KT_EVENT_BASE_SIZE, 0);
	if (!e) {
		stat_inc(KT_STAT_LOST, idx);
		return;
	}
	struct func_key k = {.pid = pid_tgid >> 32, .idx = idx};
	__u64 *cnt = bpf_map_lookup_elem(&func_counts, &k);

	e->ts_ns = now;
	e->type = KT_EV_FUNC;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cpu = bpf_get_smp_processor_id();
	e->ring_id = idx;
	e->n = (__u32)(st->entries - fr->inner0);
	e->count = cnt ? *cnt : 0;
	e->bytes = st->cost - fr->cost0;
	e->dur_ns = now - fr->ts;
	e->extra = depth - 1;
	e->name_ptr = 0;
	e->stack_sz = 0;
	e->flags = 0;
	if (want_stacks) {
		/* At the return the unwind starts in the caller: the callers of this call. */
		long n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), BPF_F_USER_STACK);

		if (n < 0) {
			stat_inc(KT_STAT_STACK_ERR, idx);
			n = 0;
		}
		e->stack_sz = n;
	}
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	else
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

SEC("uretprobe")
int kt_func_exit(struct pt_regs *ctx)
{
	__u64 now = bpf_ktime_get_ns(); /* first, for the same reason */
	__u32 idx = (__u32)bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx) - RET_SP_DELTA;
	struct thread_stack *st;
	struct frame *fr;
	__u32 depth = 0;

	st = bpf_task_storage_get(&func_stack, bpf_get_current_task_btf(), 0, 0);
	if (!st) {
		fstat_inc(KT_FSTAT_UNMATCHED);
		return 0;
	}
	fr = pop_frame(st, sp, idx, &depth);
	if (!fr) {
		fstat_inc(KT_FSTAT_UNMATCHED);
		return 0;
	}
	if (fr->timed)
		emit_call(ctx, st, fr, idx, depth, now);
	return 0;
}
