// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kaos-trace --off-cpu: the time the threads of the traced processes spend
 * blocked, by user stack, summed in the kernel. On sched_switch a traced
 * thread that goes to sleep (not preempted, not exiting) gets its switch-out
 * time and user stack recorded under its tid; when it is switched back in,
 * the delta is added to a (tgid, tid, stack id) -> (ns, blocks) hash. No
 * record per switch goes to userspace, which reads the maps at the end.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kt_offcpu_abi.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by userspace before load: blocks shorter than this are not charged. */
const volatile __u64 min_block_ns = 1000;

#define TASK_RUNNING 0
#define TASK_DEAD    0x80 /* the last switch-out of an exiting task */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, KT_OFF_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KT_OFF_STACK_DEPTH * sizeof(__u64));
} off_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_OFF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct kt_off_start);
} off_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_OFF_MAX_STACKS);
	__type(key, struct kt_off_key);
	__type(value, struct kt_off_val);
} off_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_OFF_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} off_pids SEC(".maps");

/* Per-CPU counters, indexed by enum kt_off_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_OFF_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} off_stats SEC(".maps");

static __always_inline void stat_add(__u32 stat, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&off_stats, &stat);

	if (v)
		*v += n;
}

/* prev (the current task) goes to sleep: remember when, and where in its code. */
static __always_inline void switch_out(void *ctx, struct task_struct *prev)
{
	struct kt_off_start st = {};
	__u32 tid = prev->pid;
	long id;

	st.tgid = prev->tgid;
	if (!tid || !bpf_map_lookup_elem(&off_pids, &st.tgid))
		return;
	stat_add(KT_OFF_STAT_SLEEPS, 1);
	id = bpf_get_stackid(ctx, &off_stacks, BPF_F_USER_STACK);
	st.stack_id = id < 0 ? -1 : (__s32)id;
	if (id < 0)
		stat_add(KT_OFF_STAT_STACK_ERR, 1);
	bpf_get_current_comm(st.comm, sizeof(st.comm));
	bpf_core_read_str(st.pcomm, sizeof(st.pcomm), &prev->group_leader->comm);
	st.ts_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&off_start, &tid, &st, BPF_ANY))
		stat_add(KT_OFF_STAT_START_LOST, 1);
}

/* next wakes up: charge the time since its switch-out to that stack. */
static __always_inline void switch_in(struct task_struct *next)
{
	__u32 tid = next->pid;
	struct kt_off_start *st;
	struct kt_off_key key = {};
	struct kt_off_val *v, init = {};
	__u64 delta;

	if (!tid)
		return;
	st = bpf_map_lookup_elem(&off_start, &tid);
	if (!st)
		return;
	delta = bpf_ktime_get_ns() - st->ts_ns;
	key.tgid = st->tgid;
	key.tid = tid;
	key.stack_id = st->stack_id;
	__builtin_memcpy(init.comm, st->comm, sizeof(init.comm));
	__builtin_memcpy(init.pcomm, st->pcomm, sizeof(init.pcomm));
	bpf_map_delete_elem(&off_start, &tid);
	if (delta < min_block_ns) {
		stat_add(KT_OFF_STAT_SHORT, 1);
		return;
	}
	stat_add(KT_OFF_STAT_BLOCKS, 1);
	v = bpf_map_lookup_elem(&off_counts, &key);
	if (!v) {
		init.ns = delta;
		init.blocks = 1;
		if (!bpf_map_update_elem(&off_counts, &key, &init, BPF_NOEXIST))
			return;
		/* another CPU inserted it meanwhile, or the map is full */
		v = bpf_map_lookup_elem(&off_counts, &key);
		if (!v) {
			stat_add(KT_OFF_STAT_LOST, 1);
			stat_add(KT_OFF_STAT_LOST_NS, delta);
			return;
		}
	}
	__sync_fetch_and_add(&v->ns, delta);
	__sync_fetch_and_add(&v->blocks, 1);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(kaos_offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	/* Preempted or yielding threads stay runnable: that is not blocking. */
	if (!preempt && prev_state != TASK_RUNNING && !(prev_state & TASK_DEAD))
		switch_out(ctx, prev);
	switch_in(next);
	return 0;
}
