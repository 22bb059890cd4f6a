/* SPDX-License-Identifier: MIT */
/*
 * kt_control: writes libkaos' per-process sampling control
 * (kaos_probe_control.sample_every, include/kaos/probes.h) into a traced
 * process, and computes the sampling period that keeps the tracing cost
 * under a budget.
 */
#ifndef KT_CONTROL_H
#define KT_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Finds kaos_probe_control in process pid (in whichever mapped object
 * defines it) and returns its runtime address, or 0 with msg set.
 */
uint64_t kt_control_find(pid_t pid, char *msg, size_t msglen);

/* Writes sample_every (rounded down to a power of two) at ctl_addr; 0 or -errno. */
int kt_control_write(pid_t pid, uint64_t ctl_addr, uint32_t every);

/* Rounds n down to a power of two, at least 1. */
uint32_t kt_pow2_floor(uint64_t n);

/*
 * Sampling period for a process doing ops_per_s probed operations a second
 * when one probe hit costs hit_ns and tracing may take budget_pct percent
 * of one CPU's time: the smallest power of two N with
 * ops_per_s / N * hit_ns <= budget_pct / 100 * 1e9.
 */
uint32_t kt_budget_period(double ops_per_s, double hit_ns, double budget_pct);

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

/*
 * One --budget step for a process whose send+recv operations total
 * ops_total so far (exact, from the probes' counters) and which has used
 * cpu_ns of CPU time (kt_proc_cpu_ns; 0: unknown). cur is its current
 * period (0: none yet). Returns the period to use from now on, cur while
 * the estimate still lacks data. The rate is taken per second of wall time
 * or per second of the process's CPU time, whichever is higher: a process
 * that gets a share of a CPU pays for its probe hits out of the time it
 * runs. The period rises at once and falls at most by half per step, so
 * one slow interval does not make the next one dense.
 */
uint32_t kt_budget_step(struct kt_budget *b, uint32_t cur, uint64_t ops_total, uint64_t now_ns,
			uint64_t cpu_ns, double hit_ns, double budget_pct);

/* CPU time (user + system, all threads) that process pid has used, in ns; 0 if unreadable. */
uint64_t kt_proc_cpu_ns(pid_t pid);

#endif /* KT_CONTROL_H */
