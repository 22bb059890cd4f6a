/* SPDX-License-Identifier: MIT */
/*
 * kt_offcpu: kaos-trace --off-cpu. The time the threads of the traced
 * processes spend blocked (switched out while not runnable: futex, poll,
 * nanosleep, I/O...), by user stack, measured from the switch-out to the
 * next switch-in (so it includes the wait for a CPU after the wakeup).
 * A BPF program on sched_switch (bpf/kaos_offcpu.bpf.c) sums it in the
 * kernel per (tgid, tid, user stack id); nothing goes to userspace per
 * switch. Preemption and sched_yield() are not blocking and not counted;
 * blocks shorter than min_block_ns are counted as short and skipped.
 *
 * Only processes added with kt_offcpu_add_pid() are traced (all their
 * threads), like kt_profile: kaos-trace adds the -p pids and the
 * -- COMMAND at start, and -b processes when they produce their first event;
 * kaos-trace daemon --off-cpu adds each process it follows the same way,
 * reads the sums live (kt_offcpu_threads, kt_offcpu_fold_since) and drops
 * an exited process's sums when it forgets it (kt_offcpu_forget_pid).
 *
 * The result goes into a kt_folded under the event "off-cpu" with the
 * thread's name as comm (so KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM gives
 * "[off-cpu];thread;root;...;leaf NS"), weighted by blocked nanoseconds,
 * and into a per-thread summary.
 *
 * The data half (struct kt_offcpu_data: records, folding, the summary) has
 * no BPF in it, so it is unit-tested on its own.
 */
#ifndef KT_OFFCPU_H
#define KT_OFFCPU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_folded.h"

struct kt_sym;
struct kt_agg;
struct kt_json;
struct kt_offcpu;

#define KT_OFFCPU_COMM_LEN 16

/* Blocked time of one thread in one user stack. */
struct kt_offcpu_rec {
	uint32_t tgid, tid;
	int32_t stack_id;	       /* -1: no user stack */
	uint64_t ns;		       /* blocked time */
	uint64_t blocks;	       /* number of blocks */
	char comm[KT_OFFCPU_COMM_LEN];	/* the thread's name */
	char pcomm[KT_OFFCPU_COMM_LEN]; /* its process's name ("": unknown) */
	uint64_t *stack;	       /* nframes user addresses, leaf first (owned) */
	size_t nframes;
};

struct kt_offcpu_data {
	struct kt_offcpu_rec *v;
	size_t n, cap;
};

/*
 * Adds ns and blocks to the record of (r->tgid, r->tid, r->stack_id),
 * creating it (with a copy of r's comm and stack) if new. 0, -EINVAL or
 * -ENOMEM.
 */
int kt_offcpu_data_add(struct kt_offcpu_data *d, const struct kt_offcpu_rec *r);
void kt_offcpu_data_free(struct kt_offcpu_data *d);

/* Adds every record to f (event "off-cpu", weight ns). Records added or -errno. */
int kt_offcpu_data_fold(const struct kt_offcpu_data *d, struct kt_folded *f);

/*
 * The summary: per process and thread the blocked time, blocks and mean
 * block, then the top records by blocked time with their stacks (root
 * first, the leaf-most frames), symbolized by sym (may be NULL: raw
 * addresses). min_block_ns is only printed. 0 or -EIO.
 */
int kt_offcpu_data_print(const struct kt_offcpu_data *d, FILE *out, size_t top,
			 uint64_t min_block_ns, kt_folded_sym_fn sym, void *ctx);

struct kt_offcpu_stats {
	uint64_t sleeps;       /* switch-outs of traced threads into a blocked state */
	uint64_t blocks;       /* blocks charged (>= the minimum), in progress ones too */
	uint64_t short_blocks; /* blocks under the minimum, skipped */
	uint64_t in_progress;  /* threads still blocked at the end, charged up to then */
	uint64_t stack_err;    /* blocks without a user stack */
	uint64_t start_lost;   /* switch-outs not timed (too many threads asleep at once) */
	uint64_t lost;	       /* blocks dropped: the count map was full */
	uint64_t lost_ns;      /* their blocked time */
};

/*
 * Writes "off_cpu": {...} into w's open object: min_block_ns, the blocked
 * time and blocks of all records, the counters of st (left out if st is
 * NULL), then per process (by pid) its totals, its threads (heaviest
 * first), its number of distinct (thread, stack) records and its top
 * records by blocked time with every frame, root first, symbolized by sym
 * (may be NULL: "0x..." addresses). The shape is in docs/kaos-trace.md
 * ("JSON"). 0, -ENOMEM or w's error.
 */
int kt_offcpu_data_json(const struct kt_offcpu_data *d, struct kt_json *w,
			const struct kt_offcpu_stats *st, uint64_t min_block_ns, size_t top,
			kt_folded_sym_fn sym, void *ctx);

/*
 * Loads and attaches the sched_switch program. sym (may be NULL) gets each
 * traced pid's maps while it lives. 0, or -errno with a one-line reason in err.
 */
int kt_offcpu_open(struct kt_offcpu **out, uint64_t min_block_ns, struct kt_sym *sym, char *err,
		   size_t n);

/* Traces this process's threads (idempotent). 0 or -errno. */
int kt_offcpu_add_pid(struct kt_offcpu *o, uint32_t pid);

/*
 * Traces the processes of agg (those seen so far) and captures the symbols
 * of pids that have blocked; cheap (rate-limited): call it from the poll
 * loop. NULL o: nothing.
 */
void kt_offcpu_tick(struct kt_offcpu *o, const struct kt_agg *agg);

/*
 * Stops tracing and reads the maps: every charged block, plus the blocks
 * still in progress (of living threads) up to now. Records or -errno.
 */
int kt_offcpu_collect(struct kt_offcpu *o);

/* The collected records (after kt_offcpu_collect). */
const struct kt_offcpu_data *kt_offcpu_data(const struct kt_offcpu *o);

void kt_offcpu_get_stats(const struct kt_offcpu *o, struct kt_offcpu_stats *st);

/* One thread's cumulative blocked time, for the daemon's /metrics. */
struct kt_offcpu_thread {
	uint32_t tgid, tid;
	uint64_t ns, blocks;
	char comm[KT_OFFCPU_COMM_LEN];	/* the thread's name */
	char pcomm[KT_OFFCPU_COMM_LEN]; /* its process's name */
};

/*
 * The daemon's live view, tracing on: per thread, the blocked time and
 * blocks charged so far (all stacks summed) plus a block in progress up to
 * now. Each value is the maximum ever returned for that thread, so it never
 * goes down between calls (a Prometheus counter). *out points into o, valid
 * until the next call or kt_offcpu_forget_pid. Threads or -errno.
 */
int kt_offcpu_threads(struct kt_offcpu *o, const struct kt_offcpu_thread **out);

/*
 * Stops tracing pid and drops its sums (kernel maps and live view): the
 * daemon forgets exited processes, so the maps do not fill up with them.
 */
void kt_offcpu_forget_pid(struct kt_offcpu *o, uint32_t pid);

/*
 * Adds to f the blocked time charged since the previous call (the first
 * call: since the start), per thread and stack, like kt_offcpu_data_fold:
 * the daemon's folded file of each interval. Records added or -errno.
 */
int kt_offcpu_fold_since(struct kt_offcpu *o, struct kt_folded *f);

uint64_t kt_offcpu_min_block_ns(const struct kt_offcpu *o);

/*
 * kaos-trace's final JSON object: collects (once, like kt_offcpu_finish
 * after it) and writes "off_cpu" with kt_offcpu_data_json, the ten heaviest
 * stacks per process. offcpu is a struct kt_offcpu: the signature is that of
 * kt_report_totals.json_extra. 0 or -errno.
 */
int kt_offcpu_json(struct kt_json *w, void *offcpu);

/*
 * kaos-trace's end of run: collect, add the stacks to f (may be NULL) and
 * fill *st (drops included), for the driver to print (kt_offcpu_data_print
 * on kt_offcpu_data(o), the counters). Records collected or -errno (*st is
 * filled either way).
 */
int kt_offcpu_finish(struct kt_offcpu *o, struct kt_folded *f, struct kt_offcpu_stats *st);

void kt_offcpu_free(struct kt_offcpu *o);

#endif /* KT_OFFCPU_H */
