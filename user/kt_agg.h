/* SPDX-License-Identifier: MIT */
/*
 * kt_agg: folds kt_events into per-(process, ring, event type) series:
 * exact counts from the cumulative counters the probes carry, latency
 * histograms from the sampled events, per-process probe-hit accounting.
 */
#ifndef KT_AGG_H
#define KT_AGG_H

#include <stdbool.h>
#include <stdint.h>
#include "kt_event.h"
#include "kt_hist.h"

struct kt_series {
	bool seen;
	uint64_t base;	   /* cumulative count before the first operation counted */
	uint64_t last;	   /* highest cumulative count seen */
	uint64_t last_iv;  /* `last` at the start of the current interval */
	uint64_t events;   /* sampled events received (histogram samples) */
	uint64_t events_iv;
	uint64_t bytes;	   /* bytes carried by the counted operations (from events) */
	struct kt_hist *dur;	/* cumulative; duration (backpressure: wait) */
	struct kt_hist *dur_iv; /* this interval */
	struct kt_hist *soj;	/* recv only: time in ring (sojourn) */
	struct kt_hist *soj_iv;
	/* --pmu: per-operation counter values (kt_agg.pmu_names), KT_EVF_PMU events */
	struct kt_hist *pmu[KT_PMU_MAX];
	struct kt_hist *pmu_iv[KT_PMU_MAX];
};

struct kt_ring_agg {
	uint32_t pid;
	uint32_t ring_id;
	char name[KT_NAME_LEN];
	uint64_t name_ptr; /* where the name lives in the traced process */
	bool closed;
	struct kt_series s[KT_EV_TYPES];
	struct kt_ring_agg *next;
};

struct kt_proc {
	uint32_t pid;
	char comm[16];
	bool started_after_attach; /* counts start at 0: nothing was missed */
	bool exited;
	bool sym_added; /* its maps are cached by the symbolizer */
	uint64_t hits;	  /* probe hits delivered (each cost the process one probe) */
	uint64_t hits_iv;
	uint64_t ops_iv;  /* operations counted this interval (all rings, send+recv) */
	uint32_t sample_every; /* as last written to the process (0: unknown) */
	uint64_t ctl_addr;     /* address of kaos_probe_control in the process (0: unknown) */
	struct kt_proc *next;
};

struct kt_agg {
	struct kt_ring_agg *rings;
	struct kt_proc *procs;
	uint64_t attach_ns; /* CLOCK_MONOTONIC when the probes were attached */
	uint64_t events;    /* kt_events consumed */
	uint64_t events_iv;
	uint64_t bad_events; /* malformed records (never expected) */
	uint32_t nrings;
	uint32_t nprocs;
	int npmu; /* --pmu counters carried by the events (set by the caller) */
	char pmu_names[KT_PMU_MAX][64];
};

void kt_agg_init(struct kt_agg *a, uint64_t attach_ns);
void kt_agg_free(struct kt_agg *a);

/* Folds one event. Returns the ring it was added to (NULL on bad input). */
struct kt_ring_agg *kt_agg_add(struct kt_agg *a, const struct kt_event *e, size_t size);

struct kt_proc *kt_agg_proc(struct kt_agg *a, uint32_t pid);
struct kt_ring_agg *kt_agg_ring(struct kt_agg *a, uint32_t pid, uint32_t ring_id);

/* Counted operations of a series (exact, from the cumulative counters). */
uint64_t kt_series_count(const struct kt_series *s);
uint64_t kt_series_count_iv(const struct kt_series *s);

/* Starts a new interval: interval histograms and counters are reset. */
void kt_agg_interval_reset(struct kt_agg *a);

const char *kt_event_type_name(uint32_t type);

#endif /* KT_AGG_H */
