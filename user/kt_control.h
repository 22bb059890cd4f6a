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

#endif /* KT_CONTROL_H */
