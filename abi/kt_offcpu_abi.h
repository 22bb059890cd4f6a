/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace --off-cpu: the map layouts shared by bpf/kaos_offcpu.bpf.c and
 * user/collectors/kt_offcpu.c. Fixed-width types only.
 */
#ifndef KT_OFFCPU_ABI_H
#define KT_OFFCPU_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KT_OFF_STACK_DEPTH 127	 /* PERF_MAX_STACK_DEPTH: frames per stack */
#define KT_OFF_MAX_STACKS  16384 /* distinct (thread, stack) pairs */
#define KT_OFF_MAX_THREADS 16384 /* threads blocked at the same time */
#define KT_OFF_MAX_PIDS	   1024
#define KT_OFF_COMM_LEN	   16 /* TASK_COMM_LEN */

/* off_start value: a traced thread that went to sleep (key: its tid). */
struct kt_off_start {
	__u64 ts_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at switch-out */
	__u32 tgid;
	__s32 stack_id;		    /* off_stacks id; -1: the stack could not be taken */
	char comm[KT_OFF_COMM_LEN]; /* the thread's name */
	char pcomm[KT_OFF_COMM_LEN]; /* its process's (main thread's) name */
};

/* off_counts key: blocked time of one thread in one user stack. */
struct kt_off_key {
	__u32 tgid;
	__u32 tid;
	__s32 stack_id;
	__u32 pad; /* 0 */
};

struct kt_off_val {
	__u64 ns;		    /* blocked time, switch-out to switch-in */
	__u64 blocks;		    /* how many blocks */
	char comm[KT_OFF_COMM_LEN]; /* the thread's name at its first block here */
	char pcomm[KT_OFF_COMM_LEN]; /* the process's name then */
};

enum kt_off_stat {
	KT_OFF_STAT_SLEEPS = 0,	    /* switch-outs of traced threads that block */
	KT_OFF_STAT_BLOCKS = 1,	    /* blocks charged (>= the minimum) */
	KT_OFF_STAT_SHORT = 2,	    /* blocks shorter than the minimum: skipped */
	KT_OFF_STAT_STACK_ERR = 3,  /* bpf_get_stackid failed (counted as [no-stack]) */
	KT_OFF_STAT_START_LOST = 4, /* off_start full: a block not timed */
	KT_OFF_STAT_LOST = 5,	    /* off_counts full: a block dropped */
	KT_OFF_STAT_LOST_NS = 6,    /* ... and its blocked ns */
	KT_OFF_STAT_NR = 7,
};

#endif /* KT_OFFCPU_ABI_H */
