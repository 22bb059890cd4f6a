/* SPDX-License-Identifier: MIT */
/*
 * kt_timeline: individual events as Chrome/Perfetto trace-event JSON
 * ({"traceEvents":[...]}: open it in ui.perfetto.dev or chrome://tracing)
 * for a timeline view: one track per thread, send/recv/backpressure as
 * slices ("ph":"X", start = probe time - duration) with ring, bytes and
 * messages (recv: sojourn) in args, retransmits and ring closes as
 * instants; process and thread names as metadata.
 *
 * Events are held in memory, a fixed array of max_events compact records
 * (KT_TIMELINE_REC_BYTES each, touched as it fills), and the file is
 * written only by kt_timeline_write()/kt_timeline_close(): formatting and
 * disk writes never sit on the event path, so a slow or full disk cannot
 * hold up the consumer of the ring buffer (and with it the sampling control
 * that runs between polls). Two ways to keep:
 *   - first (default): the first max_events; later ones are counted and
 *     one "timeline cap reached" instant marks where they began;
 *   - last (flight recorder): the newest max_events, and with last_ns only
 *     those that started within last_ns of the newest event's end.
 * Each write replaces the file atomically (a temporary file beside it,
 * fsync, rename): a reader never sees half a file, and a full disk is an
 * error, not a truncated JSON.
 *
 * Slices nest: a backpressure wait lies inside the send that waited. The
 * two durations are measured by libkaos but the end times are taken by the
 * BPF program at each probe hit, after trap latencies that differ by tens
 * of ns, so a wait can appear to start a few ns before its send. When a
 * thread's wait and its next send on the same ring overlap, the wait is
 * clamped to start no earlier than the send (its measured wait stays in
 * args.wait_ns).
 */
#ifndef KT_TIMELINE_H
#define KT_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_agg.h"
#include "kt_event.h"

#define KT_TIMELINE_DEFAULT_MAX 250000
#define KT_TIMELINE_REC_BYTES	64 /* memory per event held */

struct kt_timeline_opts {
	uint64_t max_events; /* events held in memory (0: KT_TIMELINE_DEFAULT_MAX) */
	bool keep_last;	     /* flight recorder: the newest events, not the first */
	uint64_t last_ns;    /* keep_last: only the last last_ns of them (0: all held) */
};

struct kt_timeline;

/*
 * Checks that path's directory takes a file (created and removed again);
 * nothing is written until kt_timeline_write(). "-" is stdout. agg (may be NULL) gives
 * ring and process names at write time. NULL with err set.
 */
struct kt_timeline *kt_timeline_open(const char *path, const struct kt_timeline_opts *o,
				     const struct kt_agg *agg, char *err, size_t errlen);

/*
 * Holds one event; returns true exactly once: at the first event not held
 * (first: the cap was reached; last: the oldest starts being replaced).
 */
bool kt_timeline_add(struct kt_timeline *t, const struct kt_event *e, size_t size);

/*
 * A counter sample (a "ph": "C" track per process in the document), e.g. the
 * heap bytes of --alloc: name must outlive t, ts_ns is CLOCK_MONOTONIC as the
 * events' stamps. At most KT_TIMELINE_MAX_COUNTERS are held (keep_last: the
 * newest), the others counted in otherData.counters_dropped.
 */
#define KT_TIMELINE_MAX_COUNTERS 65536
void kt_timeline_add_counter(struct kt_timeline *t, const char *name, uint32_t pid, uint64_t ts_ns,
			     uint64_t value);

/* Writes what is held now to the path (replacing it atomically). 0, or -1 with err set. */
int kt_timeline_write(struct kt_timeline *t, char *err, size_t errlen);

/*
 * The same in a child process, on a copy-on-write snapshot of what is held
 * now, so the caller's loop keeps consuming events while tens of MB are
 * formatted and fsync'd (about 1 s for 100,000 events here). The child
 * runs no atexit handlers and touches nothing but the new file. 0 started,
 * 1 not started (a write is already under way), -1 with err set (fork),
 * -2 with err set: not for stdout (path "-"), which gets one document, at
 * the end.
 */
int kt_timeline_write_bg(struct kt_timeline *t, char *err, size_t errlen);
/*
 * The background write's outcome: 0 none under way, 1 still running (only
 * without wait), 2 done (kt_timeline_last_written() events), -1 failed
 * with err set. wait: block until it is done.
 */
int kt_timeline_reap(struct kt_timeline *t, bool wait, char *err, size_t errlen);

/*
 * Where the next write goes (a flight recorder's file per write). Not for a
 * stdout timeline. 0, or -1 (stdout, "-", or too long).
 */
int kt_timeline_set_path(struct kt_timeline *t, const char *path);
const char *kt_timeline_path(const struct kt_timeline *t);
bool kt_timeline_keeps_last(const struct kt_timeline *t);
bool kt_timeline_to_stdout(const struct kt_timeline *t);
/* Events held now (first: at most max_events; what the next write holds before last_ns). */
uint64_t kt_timeline_written(const struct kt_timeline *t);
/* Events seen but not held (over the cap, or replaced by newer ones). */
uint64_t kt_timeline_dropped(const struct kt_timeline *t);
/* Events in the file the last kt_timeline_write() produced. */
uint64_t kt_timeline_last_written(const struct kt_timeline *t);
/* The memory bound for these options, in bytes. */
uint64_t kt_timeline_mem_bytes(const struct kt_timeline_opts *o);

/* Writes (kt_timeline_write) and frees t. 0, or -1 with err set (write error). */
int kt_timeline_close(struct kt_timeline *t, char *err, size_t errlen);
/* Frees t without writing (waits for a background write). NULL is fine. */
void kt_timeline_free(struct kt_timeline *t);

#endif /* KT_TIMELINE_H */
