/* SPDX-License-Identifier: MIT */
/*
 * kt_timeline: individual events as Chrome/Perfetto trace-event JSON
 * ({"traceEvents":[...]}: open it in ui.perfetto.dev or chrome://tracing)
 * for a timeline view: one track per thread, send/recv/backpressure as
 * slices ("ph":"X", start = probe time - duration) with ring, bytes and
 * messages (recv: sojourn) in args, retransmits and ring closes as
 * instants; process and thread names as metadata.
 *
 * Bounded: after max_events events nothing more is written but one
 * "timeline cap reached" instant; the count of events left out goes into
 * "otherData" when the file is closed, and kt_timeline_add() reports the
 * moment the cap is reached (so the caller can log it once).
 */
#ifndef KT_TIMELINE_H
#define KT_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_agg.h"
#include "kt_event.h"

struct kt_timeline;

/* The default cap (--timeline-max-events, [timeline] max_events): about 1 s of a busy process. */
#define KT_TIMELINE_DEFAULT_MAX 250000

/* Creates path. agg (may be NULL) gives ring and process names. NULL with err set. */
struct kt_timeline *kt_timeline_open(const char *path, uint64_t max_events,
				     const struct kt_agg *agg, char *err, size_t errlen);

/* Adds one event; returns true exactly once: when this event hit the cap. */
bool kt_timeline_add(struct kt_timeline *t, const struct kt_event *e, size_t size);

uint64_t kt_timeline_written(const struct kt_timeline *t);
uint64_t kt_timeline_dropped(const struct kt_timeline *t);

/* Completes the JSON and closes the file; frees t. 0, or -1 with err set (write error). */
int kt_timeline_close(struct kt_timeline *t, char *err, size_t errlen);

#endif /* KT_TIMELINE_H */
