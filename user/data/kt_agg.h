/* SPDX-License-Identifier: MIT */
/*
 * kt_agg: folds kt_events into per-(process, ring, event type) series:
 * exact counts from the cumulative counters the probes carry, latency
 * histograms from the sampled events, per-process probe-hit accounting.
 * KT_EV_FUNC events (kaos-trace --func) go to per-(process, function)
 * series: raw and probe-cost-corrected latency.
 *
 * A process is keyed by its image: pid and exec generation. An exec
 * (KT_EV_EXEC, ordered after the old image's events) ends the current
 * image and starts a new one whose rings count from zero: ring ids and
 * counters restart in a new image, so merging them would mix two programs.
 */
#ifndef KT_AGG_H
#define KT_AGG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "kt_control.h"
#include "kt_event.h"
#include "kt_hist.h"

#define KT_RTX_WHY_N 3 /* libkaos' enum kaos_retransmit_why: unspecified, timeout, fast */

struct kt_series {
	bool seen;
	uint64_t base;	  /* cumulative count before the first operation counted */
	uint64_t last;	  /* highest cumulative count seen */
	uint64_t last_iv; /* `last` at the start of the current interval */
	uint64_t events;  /* sampled events received (histogram samples) */
	uint64_t events_iv;
	uint64_t bytes;		/* bytes carried by the counted operations (from events) */
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
	uint32_t exec_gen; /* the image of pid it belongs to (kt_proc.exec_gen) */
	uint32_t ring_id;
	char name[KT_NAME_LEN];
	uint64_t name_ptr; /* where the name lives in the traced process */
	bool closed;
	bool closed_before_iv; /* closed before the current interval began */
	bool filter_kept;      /* passed the ring filter (kt_ring_filter) */
	struct kt_series s[KT_EV_TYPES];
	/* retransmit events by the probe's reason (arg4: 0 unspecified, 1 timeout, 2 fast) */
	uint64_t rtx_why[KT_RTX_WHY_N], rtx_why_iv[KT_RTX_WHY_N];
	struct kt_ring_agg *next;
};

/*
 * -r NAME (kaos-trace): which rings to keep when one is named. A name is
 * known only once a ring's events arrive, so the choice is made here, at a
 * ring's first event, not in the kernel; a ring is kept if its id is in
 * ids or its name in names. Events of the other rings are counted, not
 * folded: nothing is dropped silently.
 */
#define KT_RING_FILTER_MAX 64
struct kt_ring_filter {
	const uint32_t *ids;
	int nids;
	const char *const *names;
	int nnames;	  /* <= KT_RING_FILTER_MAX */
	uint64_t matched; /* bit i: names[i] matched a ring */
	uint64_t dropped; /* events of the rings left out */
	uint32_t rings_dropped;
};

/* A ring the filter left out: its later events are dropped without a lookup of its name. */
struct kt_ring_skip {
	uint32_t pid, exec_gen, ring_id;
	struct kt_ring_skip *next;
};

struct kt_proc {
	uint32_t pid;
	uint32_t exec_gen; /* execs of pid seen since attach: 0 for the image found first */
	char comm[16];
	bool started_after_attach; /* counts start at 0: nothing was missed */
	bool exited;
	bool execed; /* this image was replaced by an exec (the pid lives on as exec_gen + 1) */
	bool gone_before_iv; /* exited or exec'd before the current interval began */
	bool sym_added;	     /* its maps are cached by the symbolizer */
	uint64_t hits;	     /* probe hits delivered (each cost the process one probe) */
	uint64_t hits_iv;
	uint64_t batched; /* of the hits, kaos:batch records (KT_EVF_BATCHED): no trap each */
	uint64_t batched_iv;
	uint64_t traps; /* kaos:batch fires that carried them (KT_EVF_TRAP) */
	uint64_t traps_iv;
	uint32_t sample_every;	 /* in effect, read back from the process (0: unknown) */
	uint32_t sample_asked;	 /* this tracer's request (0: none yet) */
	int32_t sample_by;	 /* pid of the tracer whose request is in effect (0: unknown) */
	bool ctl_tried;		 /* its sampling control was looked for */
	bool ctl_retry;		 /* ... not found before its first probe hit: again after it */
	bool ctl_failed;	 /* ... and a failure was said (once) */
	bool cost_warned;	 /* the last cost check warned (again only after it fell) */
	struct kt_control ctl;	 /* its kaos_probe_control (ctl.addr 0: none) */
	struct kt_budget budget; /* the budget's rate estimate behind sample_asked */
	uint64_t cost_hits0;	 /* cost check: hits, CPU and wall time at its start */
	uint64_t cost_cpu0, cost_wall0;
	double cost_ns0; /* ... and the tracing cost then (kt_price_cost_ns) */
	struct kt_proc *next;
};

/* A function probed with --func (kt_func), indexed by KT_EV_FUNC's ring_id. */
struct kt_func_desc {
	const char *name;   /* symbol */
	const char *module; /* basename of its file */
	double bias_ns;	    /* probe time inside each measured latency (calibrated; 0: unknown) */
	double pair_ns;	    /* what one probed call costs the process (calibrated; 0: unknown) */
	double tail_ns;	    /* the same for a tail call of it (its entry probe: 0: unknown) */
	uint32_t sample_every; /* 1 in N calls timed (--max-rate); counts are exact regardless */
};

struct kt_func_agg {
	uint32_t pid;
	uint32_t idx;
	struct kt_series s;   /* exact call count; s.dur = raw latency */
	struct kt_hist *corr; /* latency less the calibrated probe cost inside it */
	struct kt_hist *corr_iv;
	struct kt_func_agg *next;
};

/*
 * What the aggregation learns from the traced processes themselves: the
 * owner of the kt_agg (the session) asks the OS layer (kt_proc's readers
 * fit), so that the aggregation never reads /proc or another process's
 * memory. A NULL lookup or member means unknown: comm "?", start unknown,
 * ring names only from events that carry them.
 */
struct kt_agg_lookup {
	int (*comm)(pid_t pid, char *buf, size_t len);			  /* 0 or -errno */
	uint64_t (*start_ns)(pid_t pid);				  /* boot ns; 0: unknown */
	int (*read_mem)(pid_t pid, uint64_t addr, void *buf, size_t len); /* 0 or -errno */
};

struct kt_agg {
	const struct kt_agg_lookup *lookup; /* borrowed; set after kt_agg_init (NULL: none) */
	struct kt_ring_agg *rings;
	struct kt_func_agg *funcs;
	const struct kt_func_desc *func_desc; /* borrowed; kt_agg_set_funcs() */
	uint32_t nfuncs;
	struct kt_proc *procs;
	uint64_t attach_ns; /* CLOCK_MONOTONIC when the probes were attached */
	uint64_t events;    /* kt_events consumed */
	uint64_t events_iv;
	uint64_t bad_events; /* malformed records (never expected) */
	uint32_t nrings;
	uint32_t nprocs;
	int npmu; /* --pmu counters carried by the events (set by the caller) */
	char pmu_names[KT_PMU_MAX][64];
	struct kt_ring_filter *ring_filter; /* borrowed; NULL: every ring is kept */
	struct kt_ring_skip *skipped;	    /* the rings it left out */
};

void kt_agg_init(struct kt_agg *a, uint64_t attach_ns);
void kt_agg_free(struct kt_agg *a);

/*
 * Folds one event. Returns the ring it was added to (NULL on bad input, and
 * for KT_EV_FUNC events, which go to kt_agg_func()).
 */
struct kt_ring_agg *kt_agg_add(struct kt_agg *a, const struct kt_event *e, size_t size);

/* The current (newest) image of pid, created if new. */
struct kt_proc *kt_agg_proc(struct kt_agg *a, uint32_t pid);
/* The ring of the current image of pid, created if new. */
struct kt_ring_agg *kt_agg_ring(struct kt_agg *a, uint32_t pid, uint32_t ring_id);
/* Does r belong to image p? */
static inline bool kt_ring_of(const struct kt_ring_agg *r, const struct kt_proc *p)
{
	return r->pid == p->pid && r->exec_gen == p->exec_gen;
}
/*
 * pid exec'd (comm: its new name, may be NULL): its current image ends and
 * a new one starts. Returns the new image, or NULL if pid was not traced.
 */
struct kt_proc *kt_agg_exec(struct kt_agg *a, uint32_t pid, const char *comm);

/* The functions KT_EV_FUNC events refer to (borrowed: must outlive a). */
void kt_agg_set_funcs(struct kt_agg *a, const struct kt_func_desc *d, uint32_t n);
struct kt_func_agg *kt_agg_func(struct kt_agg *a, uint32_t pid, uint32_t idx);
/* Exact calls of a function in a process since attach (from the kernel's counters). */
void kt_agg_func_count(struct kt_agg *a, uint32_t pid, uint32_t idx, uint64_t calls);
/*
 * Corrected latency: raw less the probe time inside it (bias) and the probe
 * cost of the probed calls made inside it, floored at 0.
 */
uint64_t kt_func_corrected_ns(uint64_t raw_ns, double bias_ns, uint64_t inner_cost_ns);

/* Counted operations of a series (exact, from the cumulative counters). */
uint64_t kt_series_count(const struct kt_series *s);
uint64_t kt_series_count_iv(const struct kt_series *s);

/* Drops a process (every image) and its rings (a long-running tracer forgets exited processes). */
void kt_agg_forget_proc(struct kt_agg *a, uint32_t pid);
/* Drops one image of a process (one replaced by exec) and its rings. */
void kt_agg_forget_image(struct kt_agg *a, uint32_t pid, uint32_t exec_gen);
/* Drops one ring of a process image (the daemon retires closed rings). */
void kt_agg_forget_ring(struct kt_agg *a, uint32_t pid, uint32_t exec_gen, uint32_t ring_id);

/* Starts a new interval: interval histograms and counters are reset. */
void kt_agg_interval_reset(struct kt_agg *a);
/*
 * Whether an interval's report shows r: a ring still open when the
 * interval began (idle or not: an open ring with nothing to say is news),
 * or one with operations in it. A ring closed in an earlier interval and
 * quiet since is retired: it is left to the totals.
 */
bool kt_ring_in_interval(const struct kt_ring_agg *r);
/* The same for a process image: gone (exited, exec'd) before the interval and quiet since. */
bool kt_proc_in_interval(const struct kt_agg *a, const struct kt_proc *p);

const char *kt_event_type_name(uint32_t type);

#endif /* KT_AGG_H */
