/* SPDX-License-Identifier: MIT */
/*
 * kt_report: the human summary (a table per process, bcc-style ASCII
 * histograms on request) and the JSON-lines summary of a kt_agg.
 */
#ifndef KT_REPORT_H
#define KT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "kt_agg.h"

struct kt_json;

struct kt_report_totals {
	uint64_t fired;			   /* probe programs run (after filters) */
	uint64_t delivered;		   /* records committed to the ring buffer */
	uint64_t lost;			   /* reservations that failed: counted, never silent */
	uint64_t lost_iv0;		   /* `lost` when the current interval started */
	uint64_t fired_iv0, delivered_iv0; /* and `fired`, `delivered` */
	uint64_t filtered;
	uint64_t stack_errors;
	double hit_ns;		     /* measured cost of one probe hit */
	double batch_trap_ns;	     /* ... of one kaos:batch fire (0: not measured) */
	double batch_record_ns;	     /* ... of one batched operation (0: priced as a hit) */
	struct kt_sampling sampling; /* how this tracer chose the periods (if has_sampling) */
	bool has_sampling;
	bool func_calibrated;		  /* --func: probe costs were measured */
	uint64_t func_stats[KT_FSTAT_NR]; /* --func: kernel-side anomalies (enum kt_func_stat) */
	const char *scope;     /* which processes are traced, in words (NULL: not said) */
	uint64_t out_of_scope; /* probe hits in processes out of that scope, ignored */
	uint64_t scope_full;   /* processes that could not join the scope (map full) */
	uint64_t exec_lost;    /* exec records lost: a process's images may be merged */
	double elapsed_s;      /* since attach */
	double interval_s;     /* length of this interval */
	bool final;
	/* if set, kt_report_json calls it to add members (e.g. "off_cpu") at the end */
	int (*json_extra)(struct kt_json *w, void *ctx);
	void *json_extra_ctx;
	/* if set, called at the end of each process's object (its current image): e.g. "alloc" */
	int (*json_proc_extra)(struct kt_json *w, uint32_t pid, void *ctx);
	void *json_proc_extra_ctx;
};

/*
 * Whether the counts of a report are exact. They come from the probes'
 * cumulative counters, which ride on the events: when events are lost
 * (ring buffer full) a ring's newest counter values may be among them, so
 * the totals are lower bounds, and an interval's count (a difference of
 * two such values) may be short or, after an earlier loss, catch up. Hence
 * exact means no event lost since attach, for totals and intervals alike.
 */
bool kt_report_counts_exact(const struct kt_report_totals *t);

/*
 * The JSON lines' schema (KT_REPORT_SCHEMA; docs/kaos-trace.md "JSON"). 2:
 * every line says its span and carries "total" (and an interval line
 * "interval") counters; an interval line's processes and rings carry their
 * totals beside the interval's figures; retired rings leave interval lines.
 */
#define KT_REPORT_SCHEMA 2

/*
 * interval: report this interval's counts and histograms instead of the
 * totals (each labelled). An interval's report leaves out rings and
 * processes gone before it began and quiet since (kt_ring_in_interval).
 */
void kt_report_text(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t, bool hist,
		    bool interval);
void kt_report_json(FILE *f, const struct kt_agg *a, const struct kt_report_totals *t,
		    bool interval);

#endif /* KT_REPORT_H */
