/* SPDX-License-Identifier: MIT */
/*
 * kt_prom: the tracer's state as Prometheus text exposition (format
 * 0.0.4) or OpenMetrics text 1.0, for GET /metrics.
 *
 * Families (docs/daemon.md has the full list):
 *   kaos_build_info{version}                          1, the version of kaos-trace
 *   kaos_trace_events_{delivered,lost,filtered}_total, kaos_trace_probe_fired_total,
 *   kaos_trace_counts_exact
 *   kaos_ring_messages_total{op="send|recv"}          from the probes' counters: exact
 *       while kaos_trace_counts_exact is 1, lower bounds once events were lost
 *   kaos_ring_backpressure_episodes_total, kaos_ring_retransmits_total
 *   kaos_ring_operation_duration_seconds{op}          histogram (sampled events)
 *   kaos_ring_sojourn_seconds, kaos_ring_backpressure_wait_seconds   histograms
 *   kaos_ring_*_window_seconds{window="10s",quantile} summaries over the rolling windows
 *   kaos_trace_process_sample_every{pid,process}, kaos_trace_cost_warnings_total
 *   kaos_trace_alert_firing{rule}, kaos_trace_alert_transitions_total{transition}
 *   kaos_offcpu_{seconds,blocks}_total{pid,process,tid,thread}   with --off-cpu
 *   kaos_offcpu_dropped_total{reason}, kaos_offcpu_short_blocks_total, ...
 * Ring series carry pid, process (comm) and ring (name) labels; ring_id only
 * where two exported rings of one process share a name.
 *
 * Bounding the ring series (issue 11 item 7: a ring is ~200 series, and
 * short-lived rings used to stay until their process exited). A
 * kt_prom_rings registry, kept by the daemon, decides per ring instance:
 *   - admitted: its own series set, while fewer than max_rings are;
 *   - folded: beyond the cap, added into one overflow series set
 *     (ring="_overflow"), and counted by kaos_ring_series_folded_total;
 *   - retired: grace_ns after its ring_close event the ring is dropped
 *     (the caller's retire callback forgets it everywhere); a folded ring's
 *     totals stay in the overflow series, so its counters never go down.
 * A ring keeps its decision until it is retired: counters stay monotonic.
 * Worst case per scrape: (max_rings + 1) ring series sets; docs/daemon.md.
 *
 * Histogram buckets are fixed (KT_PROM_BUCKETS_NS, 25 ns .. 10 s in 1-2.5-5
 * steps, then +Inf); each kt_hist bucket is counted by its midpoint, so a
 * boundary is exact to KT_HIST_REL_ERROR (1/64) like the percentiles.
 */
#ifndef KT_PROM_H
#define KT_PROM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_agg.h"
#include "kt_alert.h"
#include "kt_alloc.h"
#include "kt_offcpu.h"
#include "kt_report.h"
#include "kt_window.h"

#define KT_PROM_NBUCKETS 27
extern const uint64_t KT_PROM_BUCKETS_NS[KT_PROM_NBUCKETS];

#define KT_PROM_CONTENT_TYPE	    "text/plain; version=0.0.4; charset=utf-8"
#define KT_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

#define KT_PROM_OVERFLOW_RING	  "_overflow"
#define KT_PROM_DEFAULT_MAX_RINGS 32

struct kt_prom_rings;

struct kt_prom_rings *kt_prom_rings_new(int max_rings);
void kt_prom_rings_free(struct kt_prom_rings *pr);
/* The cap for rings seen from now on (admitted ones stay admitted); at least 1. */
void kt_prom_rings_set_max(struct kt_prom_rings *pr, int max_rings);
int kt_prom_rings_max(const struct kt_prom_rings *pr);

typedef void (*kt_prom_retire_fn)(void *ctx, uint32_t pid, uint32_t exec_gen, uint32_t ring_id);

/*
 * Registers a's new rings (admitted or folded), notes the closed ones, and
 * retires those closed at least grace_ns ago: fn(ctx, pid, exec_gen, ring_id) is
 * called for each after the registry let go of it (fn may free the ring).
 * Returns how many were retired, or -ENOMEM (nothing lost: retried later).
 */
int kt_prom_rings_update(struct kt_prom_rings *pr, const struct kt_agg *a, uint64_t now,
			 uint64_t grace_ns, kt_prom_retire_fn fn, void *ctx);
/* Before a process is dropped from a: its folded rings' totals stay in the overflow. */
void kt_prom_rings_forget_pid(struct kt_prom_rings *pr, const struct kt_agg *a, uint32_t pid);
/* The same for one image of pid (replaced by exec). */
void kt_prom_rings_forget_image(struct kt_prom_rings *pr, const struct kt_agg *a, uint32_t pid,
				uint32_t exec_gen);

uint64_t kt_prom_rings_folded(const struct kt_prom_rings *pr);	/* ring instances folded */
uint64_t kt_prom_rings_retired(const struct kt_prom_rings *pr); /* ring instances retired */
int kt_prom_rings_admitted(const struct kt_prom_rings *pr);	/* with their own series now */

/* The daemon's pprof push ([pprof] push_url), per profile kind. */
#define KT_PROM_PUSH_KINDS 4
struct kt_prom_push {
	const char *kind[KT_PROM_PUSH_KINDS];
	uint64_t sent[KT_PROM_PUSH_KINDS];    /* profiles accepted (2xx) */
	uint64_t failed[KT_PROM_PUSH_KINDS];  /* attempts that failed */
	uint64_t dropped[KT_PROM_PUSH_KINDS]; /* profiles given up (retries spent, queue full) */
};

struct kt_prom_src {
	const struct kt_agg *agg;
	const struct kt_prom_rings *rings;  /* NULL: every ring its own series set */
	const struct kt_report_totals *tot; /* kernel event accounting, probe cost */
	const struct kt_windows *win;	    /* NULL: no window summaries */
	uint64_t now;			    /* CLOCK_MONOTONIC, for the windows */
	const struct kt_alerts *alerts;	    /* NULL: no alert families */
	int links;			    /* BPF links attached */
	uint64_t reloads, reload_failures;
	uint64_t cost_warnings; /* tracing cost passed the budget or 10 % (kt_session_check_cost) */
	/* off-CPU time (kaos-trace daemon --off-cpu); offcpu_stats NULL: no such families */
	const struct kt_offcpu_thread *offcpu_threads;
	size_t noffcpu_threads;
	const struct kt_offcpu_stats *offcpu_stats;
	uint64_t offcpu_min_block_ns;
	/* heap of the traced processes (kaos-trace daemon --alloc); NULL: no such families */
	const struct kt_alloc_live *alloc_procs;
	size_t nalloc_procs;
	const struct kt_alloc_stats *alloc_stats; /* its drops; NULL: no such families */
	const struct kt_prom_push *push;	  /* NULL: no push families */
};

/* Writes the whole exposition. 0 or -EIO. */
int kt_prom_write(FILE *f, const struct kt_prom_src *src, bool openmetrics);

/* Cumulative bucket counts of h at KT_PROM_BUCKETS_NS (out[KT_PROM_NBUCKETS] = +Inf). */
void kt_prom_buckets(const struct kt_hist *h, uint64_t out[KT_PROM_NBUCKETS + 1]);

#endif /* KT_PROM_H */
