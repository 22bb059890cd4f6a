/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace --alloc: the map layouts shared by bpf/kaos_alloc.bpf.c and
 * user/collectors/kt_alloc.c. Fixed-width types only.
 *
 * Everything is summed in the kernel, nothing is streamed: per process the
 * totals and the peak (alloc_procs), per (process, user stack) the calls
 * and bytes (alloc_sites), and every block still allocated (alloc_blocks:
 * address -> size, stack, time), which at the end are the leak candidates.
 */
#ifndef KT_ALLOC_ABI_H
#define KT_ALLOC_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KT_ALLOC_STACK_DEPTH 127    /* PERF_MAX_STACK_DEPTH */
#define KT_ALLOC_MAX_STACKS  16384  /* distinct allocating stacks */
#define KT_ALLOC_MAX_SITES   16384  /* distinct (process, stack) pairs */
#define KT_ALLOC_MAX_THREADS 16384  /* threads inside an allocator call at once */
#define KT_ALLOC_MAX_BLOCKS  262144 /* blocks outstanding at once (~100 B of kernel memory each) */
#define KT_ALLOC_MAX_PIDS    1024   /* alloc_procs' default size (KAOS_TRACE_ALLOC_MAX_PROCS) */
#define KT_ALLOC_MAX_TIDS    16384  /* allocating threads (alloc_threads) */
#define KT_ALLOC_MAX_EXITS   4096   /* exited threads not read yet (alloc_thread_exits) */

/* Which entry point a thread is in (kt_alloc_call.kind). */
enum kt_alloc_kind {
	KT_ALLOC_MALLOC = 0,	     /* malloc, valloc, pvalloc: (size) */
	KT_ALLOC_CALLOC = 1,	     /* (n, size) */
	KT_ALLOC_REALLOC = 2,	     /* (ptr, size); reallocarray: (ptr, n, size) */
	KT_ALLOC_MEMALIGN = 3,	     /* memalign, aligned_alloc: (align, size) */
	KT_ALLOC_POSIX_MEMALIGN = 4, /* (void **out, align, size) -> 0 */
};

/* alloc_calls value: a thread between an allocator's entry and its return (key: tid). */
struct kt_alloc_call {
	__u64 size;  /* bytes asked for */
	__u64 old;   /* realloc: the block it replaces */
	__u64 outp;  /* posix_memalign: where the result is written */
	__u64 ts_ns; /* bpf_ktime_get_ns() at the entry */
	__u32 kind;  /* enum kt_alloc_kind */
	__u32 depth; /* nested allocator calls inside this one (realloc(NULL) -> malloc) */
};

/* alloc_blocks key: one outstanding block. */
struct kt_alloc_block_key {
	__u32 tgid;
	__u32 pad; /* 0 */
	__u64 addr;
};

struct kt_alloc_block {
	__u64 size;
	__u64 ts_ns; /* bpf_ktime_get_ns() when it was allocated */
	__s32 stack_id;
	__u32 pad;
};

/* alloc_sites key: one allocating stack of one process. */
struct kt_alloc_site_key {
	__u32 tgid;
	__s32 stack_id; /* -1: the stack could not be taken */
};

struct kt_alloc_site {
	__u64 allocs;
	__u64 bytes;
};

/* alloc_threads key/value: one thread's allocations (the hot-path question). */
struct kt_alloc_thread_key {
	__u32 tgid;
	__u32 tid;
};

struct kt_alloc_thread {
	__u64 allocs;
	__u64 bytes;
};

/*
 * alloc_thread_exits value: an exited thread's sums, moved out of
 * alloc_threads by the exit hook for userspace to read (a queue).
 */
struct kt_alloc_thread_exit {
	__u32 tgid;
	__u32 tid;
	__u64 allocs;
	__u64 bytes;
};

/* alloc_procs value: one process's totals. */
struct kt_alloc_proc {
	__u64 allocs;	       /* successful allocation calls (realloc included) */
	__u64 frees;	       /* blocks released (free, realloc's old block) */
	__u64 bytes_allocated; /* bytes of every allocation */
	__u64 bytes_freed;     /* bytes of the tracked blocks released */
	__u64 cur_bytes;       /* bytes outstanding in tracked blocks */
	__u64 peak_bytes;      /* the most cur_bytes ever was */
	__u64 peak_ns;	       /* bpf_ktime_get_ns() when it got there */
	__u64 freed_before;    /* frees of blocks not seen allocated (before tracing) */
	__u64 short_lived;     /* blocks freed within short_ns of their allocation */
	__u64 failed;	       /* allocation calls that returned NULL/an error */
	__u64 free_calls;      /* free() of a non-NULL pointer (frees: realloc's releases too) */
	__u64 execs;	       /* execs of the process since it was traced */
	__u64 exec_blocks;     /* blocks still outstanding at an exec: released with its image */
	__u64 exec_bytes;
	__u64 exit_ns; /* bpf_ktime_get_ns() when its last thread exited (0: alive) */
};

enum kt_alloc_stat {
	KT_ALLOC_STAT_CALL_LOST = 0,   /* alloc_calls full: a call not seen whole */
	KT_ALLOC_STAT_BLOCK_LOST = 1,  /* alloc_blocks full: a block not tracked */
	KT_ALLOC_STAT_SITE_LOST = 2,   /* alloc_sites full: a call not charged to a stack */
	KT_ALLOC_STAT_STACK_ERR = 3,   /* bpf_get_stackid failed ([no-stack]) */
	KT_ALLOC_STAT_PROC_LOST = 4,   /* alloc_procs full: a call not counted */
	KT_ALLOC_STAT_NESTED = 5,      /* allocator calls made inside another (not counted twice) */
	KT_ALLOC_STAT_THREAD_LOST = 6, /* alloc_threads full: a call not charged to its thread */
	KT_ALLOC_STAT_STALE = 7,       /* a stashed call never seen returning: dropped */
	KT_ALLOC_STAT_THREAD_KEPT = 8, /* alloc_thread_exits full: an exited thread left in
					  alloc_threads (read with its process: not a loss) */
	KT_ALLOC_STAT_NR = 9,
};

#endif /* KT_ALLOC_ABI_H */
