/* SPDX-License-Identifier: MIT */
/*
 * kt_control: registers this tracer's sampling request in libkaos'
 * per-process sampling control (kaos_probe_control, include/kaos/probes.h)
 * beside other tracers' requests, and computes the sampling period that
 * keeps the tracing cost under a budget. Returns errors; never prints.
 */
#ifndef KT_CONTROL_H
#define KT_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kaos/probes.h"
#include "kt_proc.h" /* kt_proc_start_time, kt_proc_cpu_ns go with the control */

/*
 * A traced process's sampling control (kaos_probe_control, version 2 in
 * include/kaos/probes.h) as one tracer uses it. Several tracers may trace
 * one process: each registers its request in a slot, and whoever changes a
 * slot writes the finest live request into sample_every, the one word the
 * hot path reads. A slot whose tracer is gone (SIGKILL) is reclaimed by
 * the next tracer that looks.
 *
 * Tracers cannot compare-and-swap across processes with
 * process_vm_writev, so each read-modify-write of the slots is done under
 * an flock on a lock file named after the traced process (pid and start
 * time), in KT_CONTROL_LOCK_DIR. The file is removed, under the lock, by
 * the last tracer to leave; a tracer that locked a file that was removed
 * meanwhile (st_nlink 0, or the path now names another inode) drops it
 * and locks the new one, so two tracers never both believe they hold the
 * lock. The kernel releases the flock of a killed tracer.
 *
 * A process with a version-1 control (no slots) gets one-writer
 * semantics: the request is written as is and released to 1.
 */
#define KT_CONTROL_LOCK_DIR "/run/kaos-trace"

struct kt_control {
	pid_t pid;	     /* the traced process */
	uint64_t addr;	     /* kaos_probe_control's address in it (0: not found) */
	uint32_t version;    /* of its control; 1: no slots (one writer) */
	uint32_t nslots;     /* slots it has and its object holds (0: one writer) */
	uint64_t proc_start; /* its start time: names the lock file */
	int32_t self_pid;    /* this tracer, as written into its slot */
	uint64_t self_start;
	const char *lock_dir; /* KT_CONTROL_LOCK_DIR (tests use their own) */
	uint32_t requested;   /* this tracer's registered request (0: none) */
};

/* What a request, a release or a read found in the process. */
struct kt_control_state {
	uint32_t effective; /* sample_every read back from the process */
	int32_t finest_pid; /* the tracer whose request is in effect (0: none) */
	int nlive;	    /* live requests, this tracer's included */
	int nstale;	    /* requests of tracers that are gone (reclaimed if changed) */
	int nreclaimed;	    /* stale requests this call removed */
	int32_t reclaimed_pid[KAOS_PROBE_CONTROL_SLOTS];
	uint32_t reclaimed_every[KAOS_PROBE_CONTROL_SLOTS];
	uint32_t orphan_every; /* sample_every > 1 found with no live request (reset), or 0 */
	bool inherited;	       /* the reclaimed requests came from the parent, by fork */
};

/*
 * Finds kaos_probe_control in process pid (in whichever mapped object
 * defines it) and returns its runtime address and its size (st_size), or 0
 * with msg set. hints (nhints inodes, may be NULL): the objects likely to
 * define it (those with the probes), looked in first, after the program.
 */
uint64_t kt_control_find(pid_t pid, const uint64_t *hints, int nhints, uint64_t *objsize, char *msg,
			 size_t msglen);

/*
 * Prepares c for process pid: finds its control (kt_control_open) or takes
 * the given address and object size (kt_control_open_at), reads its
 * version (only the slots that fit in the object are used), and this
 * tracer's identity. 0, or -1 with msg set (kt_control_open: -ENOENT when
 * no object of the process defines the control). Nothing is written.
 */
int kt_control_open(struct kt_control *c, pid_t pid, const uint64_t *hints, int nhints, char *msg,
		    size_t msglen);
int kt_control_open_at(struct kt_control *c, pid_t pid, uint64_t addr, uint64_t objsize, char *msg,
		       size_t msglen);

/*
 * Registers (or changes) this tracer's request for 1 in every operations
 * (rounded down to a power of two; 0: withdraw it, as kt_control_release),
 * reclaims stale requests, writes the finest live request into the
 * process and reads it back into st. 0, or -errno with msg set
 * (-ENOSPC: every slot holds a live request; -ESRCH: the process is gone).
 */
int kt_control_request(struct kt_control *c, uint32_t every, struct kt_control_state *st, char *msg,
		       size_t msglen);

/* Withdraws this tracer's request (restoring 1 when it was the last one). */
int kt_control_release(struct kt_control *c, struct kt_control_state *st, char *msg, size_t msglen);

/* Reads the control without changing it (no lock): 0 or -errno. */
int kt_control_read(const struct kt_control *c, struct kt_control_state *st);

/*
 * How each traced process's sampling period is chosen. Without --sample or
 * --budget a tracer runs under KT_DEFAULT_BUDGET_PCT: 1 % of the process's
 * CPU time is within the run-to-run noise of most services (so tracing
 * beside production changes nothing anyone can measure), and it still
 * leaves thousands of sampled operations a second on a busy process
 * (1 % of a CPU at ~1.5 us a hit is ~6,600 hits/s); counts stay exact
 * whatever the period. Every operation is an explicit --sample 1.
 */
enum kt_sampling_mode {
	KT_SAMPLING_DEFAULT_BUDGET, /* neither --sample nor --budget */
	KT_SAMPLING_BUDGET,	    /* --budget PCT */
	KT_SAMPLING_FIXED,	    /* --sample N */
};

struct kt_sampling {
	enum kt_sampling_mode mode;
	uint32_t period;   /* KT_SAMPLING_FIXED: 1 in period (a power of two) */
	double budget_pct; /* the budgets: percent of the process's CPU time */
};

#define KT_DEFAULT_BUDGET_PCT 1.0
/* Tracing cost above which a warning is given whatever the sampling (percent). */
#define KT_COST_WARN_PCT 10.0
/*
 * Price of a hit when the probe cost was not measured (--no-calibrate under
 * the default budget): the emulated 1-byte nop here, the slowest USDT site.
 */
#define KT_BUDGET_ASSUMED_HIT_NS 5000.0

/* The sampling from the flags (sample 0: not given; budget_pct 0: not given). */
struct kt_sampling kt_sampling_from_flags(uint32_t sample, double budget_pct);
/* The cost in percent above which a tracer warns: the budget, or KT_COST_WARN_PCT. */
double kt_sampling_warn_pct(const struct kt_sampling *m);
/* "default budget 1%", "budget 3% (--budget)", "fixed 1 in 64 (--sample)". */
const char *kt_sampling_describe(const struct kt_sampling *m, char *buf, size_t len);
/* "default-budget", "budget" or "fixed" (JSON, logs). */
const char *kt_sampling_mode_name(enum kt_sampling_mode mode);

/* Rounds n down to a power of two, at least 1. */
uint32_t kt_pow2_floor(uint64_t n);

/*
 * What probing costs a traced process, measured at start
 * (kt_session_calibrate). A per-op probe hit is one trap (~5 us here: the
 * emulated 1-byte nop) and its program. With kaos:batch an operation costs
 * its record (libkaos writing it, the program sending it on) and a share of
 * one trap: a fire carries up to KAOS_PROBE_BATCH_RECORDS records, fewer
 * when a thread's records age out first (KAOS_PROBE_BATCH_AGE_NS).
 */
struct kt_price {
	double hit_ns;	  /* one per-op probe hit (0: not measured) */
	double trap_ns;	  /* one kaos:batch fire: its trap and the program's fixed part */
	double record_ns; /* one batched operation (0: not measured: priced as a hit) */
};

/*
 * ns that hits probe hits cost the process, when batched of them were
 * kaos:batch records carried by traps fires (the rest: per-op hits).
 */
double kt_price_cost_ns(const struct kt_price *pr, uint64_t hits, uint64_t batched, uint64_t traps);

/*
 * The price of one sampled operation for a process doing ops_per_s of them
 * a second (the budget's model): hit_ns per op, or batched, record_ns plus
 * trap_ns shared by the records of a fire: all of them at high rates, the
 * ones a thread makes within KAOS_PROBE_BATCH_AGE_NS at low ones.
 */
double kt_price_op_ns(const struct kt_price *pr, bool batched, double ops_per_s);

/* How a --budget prices a process's sampled operations. */
struct kt_budget_price {
	const struct kt_price *price;
	bool batched; /* its operations come through kaos:batch */
};

/*
 * Sampling period for a process doing ops_per_s probed operations a second
 * when tracing may take budget_pct percent of one CPU's time: the smallest
 * power of two N with ops_per_s / N * kt_price_op_ns(ops_per_s / N) <=
 * budget_pct / 100 * 1e9 (that cost rises with the sampled rate).
 */
uint32_t kt_budget_period(double ops_per_s, const struct kt_budget_price *bp, double budget_pct);

/* --budget state of one traced process (all zero: nothing measured yet). */
struct kt_budget {
	uint64_t ops0;	  /* the process's operation count when the estimate started */
	uint64_t wall_ns; /* CLOCK_MONOTONIC then (0: not started) */
	uint64_t cpu_ns;  /* the process's CPU time then (0: unknown) */
};

/* Period of a process nothing is known about yet: sparse, refined by kt_budget_step(). */
#define KT_BUDGET_START_PERIOD (1u << 16)
#define KT_BUDGET_MIN_NS       100000000ull  /* shortest estimate: 100 ms */
#define KT_BUDGET_MAX_NS       1000000000ull /* longest wait for counts: 1 s */
#define KT_BUDGET_IDLE_FALL    16u /* a step without any operation divides the period by <= 16 */

/*
 * One --budget step for a process whose send+recv operations total
 * ops_total so far (exact, from the probes' counters) and which has used
 * cpu_ns of CPU time (kt_proc_cpu_ns; 0: unknown). cur is its current
 * period (0: none yet). Returns the period to use from now on, cur while
 * the estimate still lacks data (a step that saw no operation for 1 s
 * prices the bound that silence gives: fewer than cur operations a second
 * per ring). The rate is taken per second of wall time
 * or per second of the process's CPU time, whichever is higher: a process
 * that gets a share of a CPU pays for its probe hits out of the time it
 * runs. The period rises at once and falls at most by half per step, so
 * one slow interval does not make the next one dense.
 */
uint32_t kt_budget_step(struct kt_budget *b, uint32_t cur, uint64_t ops_total, uint64_t now_ns,
			uint64_t cpu_ns, const struct kt_budget_price *bp, double budget_pct);

#endif /* KT_CONTROL_H */
