/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace event ABI: the one definition shared by the BPF programs
 * (the bpf/ programs) and the userspace aggregator (user/). Fixed-width types
 * only, explicit padding, no pointers: the layout is identical on x86_64
 * and arm64 and in the BPF target.
 */
#ifndef KT_EVENT_H
#define KT_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KT_MAX_STACK 32 /* user frames captured per event with --stacks */
#define KT_NAME_LEN  32 /* ring names, as libkaos stores them */
#define KT_PMU_MAX   2	/* counters read per event with --pmu */

enum kt_event_type {
	KT_EV_SEND = 0,
	KT_EV_RECV = 1,
	KT_EV_BACKPRESSURE = 2,
	KT_EV_RETRANSMIT = 3,
	KT_EV_RING_CLOSE = 4,
	KT_EV_FUNC = 5, /* plain uprobe entry->return (kaos-trace --func) */
	KT_EV_TYPES = 6,
	/*
	 * Not a probe (outside the per-type arrays): a process replaced its
	 * image (execve, same pid), from the sched_process_exec tracepoint.
	 * Only pid, tid, cpu, ts_ns and name (the new comm, KT_EVF_NAME) are
	 * set. In the ring buffer it follows every event of the old image, so
	 * the consumer starts a new image of the pid exactly there: the new
	 * image's rings restart their ids and counters.
	 */
	KT_EV_EXEC = 16,
};

/*
 * One traced operation. The USDT handlers copy the probe's seven
 * arguments (docs/probes.md) into ring_id..name_ptr unchanged.
 */
struct kt_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() at the probe; USDT events: 0 unless want_ts */
	__u32 type;  /* enum kt_event_type */
	__u32 pid;   /* tgid */
	__u32 tid;
	__u32 cpu;
	__u32 ring_id;	/* KT_EV_FUNC: function index */
	__u32 n;	/* messages in the operation */
	__u64 count;	/* cumulative counter of this probe's kind in the ring */
	__u64 bytes;	/* bytes in the operation */
	__u64 dur_ns;	/* library-measured duration (backpressure: wait) */
	__u64 extra;	/* recv: sojourn ns; send: cumulative bp episodes; ... */
	__u64 name_ptr; /* address of the ring's name in the traced process */
	__u32 stack_sz; /* bytes of stack[] filled; 0 without --stacks */
	__u32 flags;	/* KT_EVF_* */
	/*
	 * --pmu: per counter, its change on this CPU since this thread's
	 * previous probe hit, divided by the operations in between (scaled
	 * for multiplexing). Valid with KT_EVF_PMU (not on a thread's first
	 * hit, nor after it changed CPU).
	 */
	__u64 pmu[KT_PMU_MAX];
	union {
		__u64 stack[KT_MAX_STACK];
		/* KT_EV_RING_CLOSE: the ring's name, copied while the process lives */
		char name[KT_NAME_LEN];
	};
};

#define KT_EVF_NAME 1u /* name[] holds the ring's name */
#define KT_EVF_PMU  2u /* pmu[] holds per-operation counter values */
/*
 * A record of a kaos:batch buffer, not a per-op probe hit: the process paid
 * for writing and sending it, and for a share of one trap. KT_EVF_TRAP marks
 * the first record a kaos:batch fire sent (one trap; drains at exit and
 * exec are not traps): the tracer prices traps and records apart.
 */
#define KT_EVF_BATCHED 4u
#define KT_EVF_TRAP    8u

#define KT_EVENT_BASE_SIZE ((unsigned long)&((struct kt_event *)0)->stack)

/* Per-CPU counters indexed like this (map "kt_stats"). */
enum kt_stat {
	KT_STAT_FIRED = 0,     /* probe programs that ran and passed the filters */
	KT_STAT_DELIVERED = 1, /* records committed: FIRED - LOST (not counted in the map) */
	KT_STAT_LOST = 2,      /* ringbuf reservation failures */
	KT_STAT_FILTERED = 3,  /* dropped by the ring filter in the kernel */
	KT_STAT_STACK_ERR = 4, /* bpf_get_stack failed (record sent without stack) */
	KT_STAT_NR = 5,
};

/*
 * Per-CPU counters of the process scope (map "scope_stats"): -b PROGRAM
 * traces only that program's processes, filtered in the kernel.
 */
enum kt_scope_stat {
	KT_SCOPE_OTHER = 0,	/* probe hits in processes out of scope (ignored) */
	KT_SCOPE_FULL = 1,	/* a process could not be added: the scope map was full */
	KT_SCOPE_EXEC_LOST = 2, /* exec records the ring buffer had no room for */
	KT_SCOPE_STAT_NR = 3,
};

#define KT_SCOPE_MAX_PROCS 16384 /* processes (and new tasks) in scope at once */
/* scope_tgids values: how a process entered the scope */
#define KT_SCOPE_BY_PROGRAM 1 /* runs PROGRAM (or was forked by it): leaves at exec */
#define KT_SCOPE_PINNED	    2 /* named by pid (-p, the -- command, kaos-trace): stays */
/*
 * Set by BPF at the image's first probe hit, which wakes the consumer: a
 * short-lived process's maps and sampling control are read while it lives.
 */
#define KT_SCOPE_WOKEN 0x80

/*
 * KT_EV_FUNC (kaos-trace --func, bpf/kaos_func.bpf.c): one record per timed
 * call, sent at the function's return. ring_id = function index (the BPF
 * cookie of its uprobes), count = calls of that function in that process so
 * far (every call, timed or not), n = probed calls made inside this one,
 * bytes = their calibrated probe cost in ns (it is inside dur_ns), dur_ns =
 * entry-to-return as probed (raw), extra = probed frames of this thread
 * below this call (recursion depth), name_ptr = 0.
 */
#define KT_FUNC_MAX	  1024		    /* function indexes 0..KT_FUNC_MAX-1 */
#define KT_FUNC_CALIB_IDX (KT_FUNC_MAX - 1) /* kaos-trace's own calibration target */
#define KT_FUNC_MAX_DEPTH 64		    /* probed calls in flight per thread (kernel's limit) */

/* Per-CPU counters of bpf/kaos_func.bpf.c (map "func_stats"). */
enum kt_func_stat {
	KT_FSTAT_UNTIMED = 0,	  /* calls counted but not timed: too deep, or no thread storage */
	KT_FSTAT_UNMATCHED = 1,	  /* returns without a matching entry (attached mid-call) */
	KT_FSTAT_ABANDONED = 2,	  /* entries that never returned (longjmp, exceptions) */
	KT_FSTAT_NOCOUNT = 3,	  /* calls not counted: the count map was full */
	KT_FSTAT_SAMPLED_OUT = 4, /* calls counted but not timed because of --max-rate */
	KT_FSTAT_NR = 5,
};

#endif /* KT_EVENT_H */
