/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace --profile: the map layouts shared by bpf/kaos_profile.bpf.c and
 * user/collectors/kt_profile.c. Fixed-width types only.
 */
#ifndef KT_PROFILE_ABI_H
#define KT_PROFILE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KT_PROF_STACK_DEPTH 127 /* PERF_MAX_STACK_DEPTH: frames per stack */
#define KT_PROF_MAX_STACKS  16384
#define KT_PROF_MAX_PIDS    1024

/* prof_counts key: samples of one user stack of one process. */
struct kt_prof_key {
	__u32 pid;	/* tgid */
	__s32 stack_id; /* prof_stacks id; -1: the stack could not be taken */
};

enum kt_prof_stat {
	KT_PROF_STAT_SAMPLES = 0,   /* samples of traced processes */
	KT_PROF_STAT_STACK_ERR = 1, /* bpf_get_stackid failed (counted as [no-stack]) */
	KT_PROF_STAT_LOST = 2,	    /* prof_counts full: sample dropped */
	KT_PROF_STAT_NR = 3,
};

#endif /* KT_PROFILE_ABI_H */
