/* SPDX-License-Identifier: MIT */
/*
 * kt_alloc: kaos-trace --alloc, heap profiling of running processes.
 * Uprobes on the allocator's entry points (bpf/kaos_alloc.bpf.c) sum in the
 * kernel, per process: allocation calls, bytes, frees, the bytes
 * outstanding and their peak (and when); per user stack: calls and bytes;
 * every block still allocated (the leak candidates at the end). Nothing
 * is streamed per call.
 *
 * Attaching is per process (uprobes filtered by pid, on the allocator's
 * file): -p pids and the -- COMMAND (held before exec: traced from its
 * first allocation, so exact), and -b processes as they are found (from
 * then on). Frees of blocks allocated before tracing are counted apart
 * ("freed, allocated before tracing"), never as negative outstanding
 * bytes. Bounded maps: drops are counted, and make the figures lower
 * bounds.
 *
 * Cost: each traced call traps into the kernel (an entry uprobe, and a
 * return uprobe for allocations): tens of microseconds on this VM; the
 * report prints the measured figure.
 *
 * The data half (struct kt_alloc_data: sites, leaks, folding, the report)
 * has no BPF in it, so it is unit-tested on its own. Library code: errors
 * are returned, lines go to the FILEs given.
 */
#ifndef KT_ALLOC_H
#define KT_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_folded.h"

struct kt_sym;
struct kt_agg;
struct kt_json;
struct kt_event;
struct kt_alloc;

/* --alloc-lib: the allocator whose entry points are probed. */
enum kt_alloc_lib {
	KT_ALLOC_LIB_GLIBC = 0,
	KT_ALLOC_LIB_JEMALLOC = 1,
	KT_ALLOC_LIB_TCMALLOC = 2,
};

/* "glibc", "jemalloc", "tcmalloc": 0, or -EINVAL. */
int kt_alloc_lib_parse(const char *s, enum kt_alloc_lib *out);
const char *kt_alloc_lib_name(enum kt_alloc_lib lib);

/* --alloc-short's default: blocks freed within 1 ms are short-lived. */
#define KT_ALLOC_SHORT_NS_DEFAULT 1000000ull

/* One process's totals (the kernel's struct kt_alloc_proc, plus its pid). */
struct kt_alloc_proc_rec {
	uint32_t tgid;
	uint64_t allocs, frees, bytes_allocated, bytes_freed, cur_bytes;
	uint64_t peak_bytes, peak_ns; /* peak_ns: CLOCK_MONOTONIC */
	uint64_t freed_before, short_lived, failed;
	uint64_t free_calls; /* free() calls (frees: blocks released, by realloc too) */
	uint64_t exec_blocks, exec_bytes;     /* outstanding at an exec: released with the image */
	uint64_t leaked_blocks, leaked_bytes; /* outstanding at the end (tracked blocks) */
	char comm[16];			      /* "" if unknown */
};

/* One allocating user stack of one process. */
struct kt_alloc_site_rec {
	uint32_t tgid;
	int32_t stack_id; /* -1: no stack */
	uint64_t allocs, bytes;
	uint64_t leaked_blocks, leaked_bytes;
	/*
	 * nframes user addresses, leaf first: the call in the allocator's caller
	 * (a lookup address), then return addresses, as kt_folded_add takes them. Owned.
	 */
	uint64_t *stack;
	size_t nframes;
};

/* One allocating thread (the hot-path question). */
struct kt_alloc_thread_rec {
	uint32_t tgid, tid;
	uint64_t allocs, bytes;
};

/* A thread seen sending or receiving on a ring (from the USDT events). */
struct kt_alloc_ring_thread {
	uint32_t pid, tid, ring_id;
};

/*
 * The hot-path question for one ring: the allocations made by the threads
 * that send or receive on it, per message sent. A thread on several rings
 * counts for each.
 */
struct kt_alloc_ring_rec {
	uint32_t pid, ring_id;
	char name[64];
	uint64_t msgs;		/* messages sent (exact: the ring's counters) */
	uint64_t allocs, bytes; /* by its threads */
	uint32_t nthreads;
};

struct kt_alloc_data {
	struct kt_alloc_proc_rec *procs;
	size_t nprocs, capprocs;
	struct kt_alloc_site_rec *sites;
	size_t nsites, capsites;
	struct kt_alloc_thread_rec *threads;
	size_t nthreads, capthreads;
	struct kt_alloc_ring_thread *ring_threads;
	size_t nring_threads, capring_threads;
	struct kt_alloc_ring_rec *rings;
	size_t nrings, caprings;
};

/* The record of tgid (created zeroed if new), or NULL without memory. */
struct kt_alloc_proc_rec *kt_alloc_data_proc(struct kt_alloc_data *d, uint32_t tgid);
/*
 * The site (tgid, stack_id), created with a copy of stack if new (stack
 * may be NULL when nframes is 0). NULL without memory.
 */
struct kt_alloc_site_rec *kt_alloc_data_site(struct kt_alloc_data *d, uint32_t tgid,
					     int32_t stack_id, const uint64_t *stack,
					     size_t nframes);
/* An outstanding block of size bytes: a leak candidate of its site and process. 0 or -ENOMEM. */
int kt_alloc_data_add_leak(struct kt_alloc_data *d, uint32_t tgid, int32_t stack_id,
			   const uint64_t *stack, size_t nframes, uint64_t size);
int kt_alloc_data_add_thread(struct kt_alloc_data *d, uint32_t tgid, uint32_t tid, uint64_t allocs,
			     uint64_t bytes);
/*
 * A thread that exited while its process lives on: charged as itself if it
 * was seen on a ring (kt_alloc_data_ring_thread before), else folded into
 * the process's tid 0 record (only ring threads are ever asked for, and a
 * process that runs thousands of threads keeps one record). 0 or -ENOMEM.
 */
int kt_alloc_data_add_exited_thread(struct kt_alloc_data *d, uint32_t tgid, uint32_t tid,
				    uint64_t allocs, uint64_t bytes);
/* Thread tid of pid sends or receives on ring_id (idempotent). 0 or -ENOMEM. */
int kt_alloc_data_ring_thread(struct kt_alloc_data *d, uint32_t pid, uint32_t tid,
			      uint32_t ring_id);
/*
 * Adds the ring (pid, ring_id) that carried msgs messages, charged with the
 * allocations of its threads (kt_alloc_data_add_thread before). 0 or -ENOMEM.
 */
int kt_alloc_data_add_ring(struct kt_alloc_data *d, uint32_t pid, uint32_t ring_id,
			   const char *name, uint64_t msgs);
void kt_alloc_data_free(struct kt_alloc_data *d);
/* Removes everything of pid (its totals, sites, threads, rings). */
void kt_alloc_data_forget_pid(struct kt_alloc_data *d, uint32_t pid);

/* Adds [alloc] (weight: bytes allocated) and [leak] (outstanding bytes) stacks to f. */
int kt_alloc_data_fold(const struct kt_alloc_data *d, struct kt_folded *f);

/* What the report and the JSON say besides the data. */
struct kt_alloc_stats {
	uint64_t call_lost, block_lost, site_lost, stack_err, proc_lost, nested, thread_lost;
	uint64_t stale;		  /* stashed calls never seen returning */
	uint64_t thread_kept;	  /* exited threads left in alloc_threads (not a loss) */
	uint64_t procs_untracked; /* processes not traced: alloc_procs was full */
	uint64_t moved;		  /* processes whose exec mapped another allocator: probes moved */
	uint64_t t_start_ns;	  /* tracing started (CLOCK_MONOTONIC): peaks are relative */
	uint64_t short_ns;	  /* --alloc-short */
	double cost_ns;		  /* measured cost of one traced allocation (0: unknown) */
	bool cost_cached;	  /* ... measured by an earlier run on this boot */
	bool exact;		  /* traced from the start (-- COMMAND) and nothing dropped */
	bool sampled;		  /* --budget duty-cycled the probes: the counts are a sample */
	double attached_fraction; /* of the tracing time the probes were attached (1: always) */
	const char *lib;	  /* the allocator probed */
};

/* Any drop: the figures are lower bounds. */
bool kt_alloc_stats_dropped(const struct kt_alloc_stats *st);

/*
 * The report: per process the totals, peak and leaks, then the top sites
 * by calls, by bytes, and the top leaks, symbolized by sym (may be NULL).
 * 0 or -ENOMEM.
 */
int kt_alloc_data_print(const struct kt_alloc_data *d, const struct kt_alloc_stats *st, FILE *out,
			size_t top, kt_folded_sym_fn sym, void *ctx);

/*
 * Writes "alloc": {...} into w's open object: the flags, the drop counters,
 * then per process its totals and its top sites (with every frame, leaf
 * last). The shape is in docs/kaos-trace.md ("JSON"). 0 or -errno.
 */
int kt_alloc_data_json(const struct kt_alloc_data *d, const struct kt_alloc_stats *st,
		       struct kt_json *w, size_t top, kt_folded_sym_fn sym, void *ctx);

/*
 * Writes "alloc": {allocator, exact, dropped, the process's totals, its top
 * sites and leaks} for pid into w's open object (nothing if pid was not
 * traced): the member of each process of the final JSON. 0 or -errno.
 */
int kt_alloc_data_json_proc(const struct kt_alloc_data *d, const struct kt_alloc_stats *st,
			    struct kt_json *w, uint32_t pid, size_t top, kt_folded_sym_fn sym,
			    void *ctx);

/* ---------------------------------------------------------------- the BPF side */

/* Where a process's allocator lives: its file and its entry points' file offsets. */
#define KT_ALLOC_NFUNCS 10
struct kt_alloc_target {
	char path[4096]; /* the allocator's file (as the process sees it: /proc/PID/root/...) */
	uint64_t off[KT_ALLOC_NFUNCS]; /* 0: not in this allocator */
};

/*
 * The allocator of pid (pid > 0: from its maps) or of the program exe (its
 * DT_NEEDED entries): 0, or -errno with one line in err ("static binary: no
 * allocator to probe", "--alloc-lib jemalloc: ... not found").
 */
int kt_alloc_resolve(enum kt_alloc_lib lib, pid_t pid, const char *exe, struct kt_alloc_target *t,
		     char *err, size_t n);

struct kt_alloc_opts {
	enum kt_alloc_lib lib;
	uint64_t short_ns; /* 0: KT_ALLOC_SHORT_NS_DEFAULT */
	bool exact;	   /* every process traced from its start (-- COMMAND alone) */
	bool no_cost;	   /* do not measure the cost per allocation (kt_alloc_cost) */
	double budget_pct; /* --budget: above it, duty-cycle the probes (0: always attached) */
};

/* --budget duty cycle: attached a fraction of each cycle, never less than the floor. */
#define KT_ALLOC_DUTY_CYCLE_NS 1000000000ull
#define KT_ALLOC_DUTY_FLOOR    0.01
/* Under the budget, the rate is checked this often: a burst is cut short. */
#define KT_ALLOC_DUTY_CHECK_NS 100000000ull

/*
 * The fraction of time to stay attached so that allocs (counted over
 * attached_ns, while attached) at cost_ns each cost at most budget_pct of the
 * process's wall time: 1 under the budget, never below KT_ALLOC_DUTY_FLOOR.
 */
double kt_alloc_duty(uint64_t allocs, uint64_t attached_ns, double cost_ns, double budget_pct);

/*
 * The session's event hook (kt_session_add_hook, ctx: the kt_alloc): notes
 * which threads send and receive on which ring, for the hot-path question.
 */
void kt_alloc_on_event(void *ctx, const struct kt_event *ev, size_t size);
/* The aggregation whose rings are charged at the end (borrowed; NULL: none). */
void kt_alloc_bind(struct kt_alloc *a, const struct kt_agg *agg);

/* Loads the BPF object (nothing attached yet). 0, or -errno with one line in err. */
int kt_alloc_open(struct kt_alloc **out, const struct kt_alloc_opts *o, struct kt_sym *sym,
		  char *err, size_t n);

/*
 * Traces pid's allocator calls at t's entry points (idempotent per pid).
 * Return probes are attached first, so that a call whose entry is seen is
 * always seen returning. 0, or -errno with one line in err.
 */
int kt_alloc_attach(struct kt_alloc *a, pid_t pid, const struct kt_alloc_target *t, char *err,
		    size_t n);

/*
 * Follows the processes of agg (-b processes as they appear: resolved and
 * attached), captures the symbols of traced pids, and moves the processes
 * that exited out of the kernel's maps (their figures are kept: reports and
 * the readers below still see them); cheap (rate-limited). NULL a: nothing.
 */
void kt_alloc_tick(struct kt_alloc *a, const struct kt_agg *agg);

/*
 * A traced process exec'd into an image whose allocator is another (an
 * LD_PRELOAD the command set for the program it runs, say): its probes
 * moved there (kt_alloc_tick), counted from then on. True once per move
 * (the latest: pid and the allocator's file), for the driver to say.
 */
bool kt_alloc_next_move(struct kt_alloc *a, pid_t *pid, char *path, size_t n);

/* pid is traced and has allocated (its maps were read then). */
bool kt_alloc_pid_allocated(struct kt_alloc *a, pid_t pid);

/* Detaches and reads the maps (once). Sites or -errno. */
int kt_alloc_collect(struct kt_alloc *a);
const struct kt_alloc_data *kt_alloc_data(const struct kt_alloc *a);
void kt_alloc_get_stats(const struct kt_alloc *a, struct kt_alloc_stats *st);

/* The tracing start (peaks are printed relative to it) and the measured cost per call. */
void kt_alloc_set_start(struct kt_alloc *a, uint64_t t_start_ns);

/* kaos-trace's final JSON: collects, writes "alloc". Signature of kt_report_totals.json_extra. */
int kt_alloc_json(struct kt_json *w, void *alloc);

/* kaos-trace's final JSON, per process: collects, writes its "alloc" (json_proc_extra). */
int kt_alloc_json_proc(struct kt_json *w, uint32_t pid, void *alloc);

/*
 * An interval's heap, read live (tracing on): writes "alloc_heap": [{pid,
 * bytes (outstanding now), peak_bytes, allocs, frees}] into w's open object.
 * Signature of kt_report_totals.json_extra. 0 or -errno.
 */
int kt_alloc_json_interval(struct kt_json *w, void *alloc);

/*
 * The daemon's folded files: adds to f the [alloc] bytes per stack allocated
 * since the last call (the first: since attach) and the [leak] bytes per
 * stack outstanding now, read live from the kernel's maps. 0 or -errno.
 */
int kt_alloc_fold_since(struct kt_alloc *a, struct kt_folded *f);

/* One traced process's totals, read live (the daemon's /metrics). */
struct kt_alloc_live {
	uint32_t pid;
	uint64_t cur_bytes, peak_bytes, allocs, frees, bytes_allocated;
};

/*
 * The traced processes' totals now, into *out (malloc'd, the caller frees):
 * with_gone, also those that exited and are not forgotten yet (their figures
 * at exit; the daemon's /metrics retires them with the process). The count,
 * or -ENOMEM.
 */
int kt_alloc_live_procs(struct kt_alloc *a, bool with_gone, struct kt_alloc_live **out);

/*
 * Forgets pid for good (the daemon, when it retires an exited process): its
 * figures kept since its exit and its probes, if any are left.
 */
void kt_alloc_forget_pid(struct kt_alloc *a, uint32_t pid);

/*
 * kaos-trace's end of run: collect, add the [alloc] and [leak] stacks to f
 * (may be NULL) and fill *st (drops included), for the driver to print
 * (kt_alloc_data_print on kt_alloc_data(a), the counters). Sites folded or
 * -errno (*st is filled either way).
 */
int kt_alloc_finish(struct kt_alloc *a, struct kt_folded *f, struct kt_alloc_stats *st);

/*
 * What one traced allocation (with its free) costs a process: ns, or 0 if
 * it could not be measured (kt_alloc_cost.c). Measured (forks, ~330 ms)
 * unless an earlier run on this boot settled it: then *cached.
 */
double kt_alloc_cost(bool *cached);

/*
 * Reads the per-stack sums live (tracing on) into d (zeroed by the caller,
 * kt_alloc_data_free after): each site's calls and bytes so far and its
 * blocks outstanding now (leaked_*). Sites or -errno (-ESRCH: collected).
 */
int kt_alloc_read_sites(struct kt_alloc *a, struct kt_alloc_data *d);

void kt_alloc_free(struct kt_alloc *a);

#endif /* KT_ALLOC_H */
