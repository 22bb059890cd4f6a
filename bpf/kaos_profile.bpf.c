// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kaos-trace --profile: a cpu-clock perf_event program that counts the user
 * stacks of the traced processes in the kernel: one stack-trace map entry per
 * distinct stack and one counter per (pid, stack id). Nothing goes through a
 * ring buffer per sample; userspace reads the maps once, at the end.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kt_profile_abi.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by userspace before load: sample only the pids in prof_pids. */
const volatile bool filter_pids = true;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, KT_PROF_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, KT_PROF_STACK_DEPTH * sizeof(__u64));
} prof_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_PROF_MAX_STACKS);
	__type(key, struct kt_prof_key);
	__type(value, __u64);
} prof_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_PROF_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} prof_pids SEC(".maps");

/* Per-CPU counters, indexed by enum kt_prof_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_PROF_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} prof_stats SEC(".maps");

static __always_inline void stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&prof_stats, &stat);

	if (v)
		*v += 1;
}

SEC("perf_event")
int kaos_profile(struct bpf_perf_event_data *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct kt_prof_key key = {};
	__u64 one = 1, *cnt;
	long id;

	if (!tgid || (filter_pids && !bpf_map_lookup_elem(&prof_pids, &tgid)))
		return 0;
	stat_inc(KT_PROF_STAT_SAMPLES);
	id = bpf_get_stackid(ctx, &prof_stacks, BPF_F_USER_STACK);
	key.pid = tgid;
	key.stack_id = id < 0 ? -1 : (__s32)id;
	if (id < 0)
		stat_inc(KT_PROF_STAT_STACK_ERR);
	cnt = bpf_map_lookup_elem(&prof_counts, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, 1);
	} else if (bpf_map_update_elem(&prof_counts, &key, &one, BPF_NOEXIST)) {
		/* another CPU inserted it meanwhile, or the map is full */
		cnt = bpf_map_lookup_elem(&prof_counts, &key);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
		else
			stat_inc(KT_PROF_STAT_LOST);
	}
	return 0;
}
