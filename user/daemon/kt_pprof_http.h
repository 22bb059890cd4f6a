/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof_http: the daemon's /debug/pprof endpoints (Go's convention, what
 * `pprof`, Grafana Alloy's pyroscope.scrape and Parca pull):
 *
 *   /debug/pprof/profile?seconds=N   CPU (the profile collector)
 *   /debug/pprof/off-cpu?seconds=N   off-CPU time (off_cpu = yes)
 *   /debug/pprof/latency?seconds=N   send, recv, backpressure stacks: counts
 *                                    and nanoseconds (event stacks, captured
 *                                    with a folded dir)
 *   /debug/pprof/alloc?seconds=N     heap (alloc = yes): allocations of the
 *                                    window (alloc_objects, alloc_space) and
 *                                    blocks outstanding at its end
 *                                    (inuse_objects, inuse_space), Go's names;
 *                                    the collector's per-stack sums are read
 *                                    at the request and at the answer
 *
 * The answer is the profile of the NEXT N seconds (1..KT_PPROF_HTTP_MAX_SECONDS,
 * default 30), from the request on: the request is deferred (kt_http) and
 * answered from the daemon's loop when due, so /metrics is served
 * meanwhile. Each pending request keeps its own stacks: the collectors'
 * counts are moved out (fold_since) at the request and then each tick, and
 * handed to every pending request of their kind and to the daemon's folded
 * file (nothing it would have written is lost); event stacks come through
 * a session hook. At most KT_PPROF_HTTP_MAX_PENDING requests at once (more:
 * 429), at most KT_PPROF_HTTP_MAX_STACKS distinct stacks each (more are
 * left out and logged). During shutdown: 503.
 */
#ifndef KT_PPROF_HTTP_H
#define KT_PPROF_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "kt_http.h"

#define KT_PPROF_HTTP_MAX_SECONDS     300
#define KT_PPROF_HTTP_DEFAULT_SECONDS 30
#define KT_PPROF_HTTP_MAX_PENDING     4
#define KT_PPROF_HTTP_MAX_STACKS      65536

struct kt_engine;
struct kt_folded;
struct kt_pprof_http;

/*
 * For the daemon's engine e (outlives it); registers the event hook.
 * to_folded: the daemon writes folded files (e's folded stacks), which get
 * the collectors' counts drained for requests too; without, CPU samples
 * nobody asked for are dropped now and then (the kernel's map kept free).
 * NULL: out of memory.
 */
struct kt_pprof_http *kt_pprof_http_new(struct kt_engine *e, bool to_folded);
void kt_pprof_http_free(struct kt_pprof_http *p);

/*
 * Handles a request under /debug/pprof (true), else false (another path).
 * now: CLOCK_MONOTONIC ns.
 */
bool kt_pprof_http_handle(struct kt_pprof_http *p, const char *path, uint64_t now,
			  struct kt_http_response *r);

/* Moves new stacks to the pending requests and answers those due on h. */
void kt_pprof_http_tick(struct kt_pprof_http *p, struct kt_http *h, uint64_t now);

/*
 * [pprof] push_url: drained stacks also go to sink[kind] (cpu, off-cpu,
 * latency; NULL: none), each DRAIN_NS. All NULL: push off.
 */
void kt_pprof_http_set_push(struct kt_pprof_http *p, struct kt_folded *sink[3]);

/* The daemon stops: pending requests get a 503, later ones too. */
/*
 * The --alloc sums now less those of then (NULL: none) into f, as kt_pprof's
 * [alloc] towers (the calls and bytes in between) and, with_leak, [leak]
 * ones (outstanding in now). At most KT_PPROF_HTTP_MAX_STACKS stacks in f,
 * the sites beyond added to *left_out. Shared by /debug/pprof/alloc and
 * the alloc push. 0 or -errno.
 */
struct kt_alloc_data;
int kt_pprof_alloc_diff(struct kt_engine *e, const struct kt_alloc_data *now,
			const struct kt_alloc_data *then, bool with_leak, struct kt_folded *f,
			uint64_t *left_out);

void kt_pprof_http_shutdown(struct kt_pprof_http *p, struct kt_http *h);

#endif /* KT_PPROF_HTTP_H */
