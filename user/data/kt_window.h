/* SPDX-License-Identifier: MIT */
/*
 * kt_window: rolling windows ("the last 10 s / 1 min / 10 min") over the
 * cumulative series of a kt_agg, for the daemon's alerts and summaries.
 *
 * Nothing is recorded twice: every window of a series is the series'
 * cumulative histogram (or count) now, minus a snapshot of it taken one
 * window ago (kt_hist_subtract). Each window of length L keeps
 * KT_WIN_SLOTS + 1 snapshots taken every L / KT_WIN_SLOTS, so a window
 * covers the last L to L + L/KT_WIN_SLOTS (the exact span is returned for
 * rates). Snapshots are sparse (only non-empty buckets), so a series costs
 * about (non-empty buckets x 12 bytes) per snapshot, not 8 KB.
 *
 * Series are keyed by (pid, exec generation, ring id), a ring of one
 * process image, and follow the kt_agg they are fed from: call
 * kt_windows_tick() regularly (at least every shortest slot) and
 * kt_windows_forget_pid() / _image() / _ring() when the aggregation drops
 * a process, an image or a ring.
 * A series that appeared within a window counts from zero.
 * KT_WIN_ALL as a window index means "everything since kt_windows_new".
 */
#ifndef KT_WINDOW_H
#define KT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "kt_agg.h"
#include "kt_hist.h"

#define KT_WIN_MAX   8	/* distinct window lengths */
#define KT_WIN_SLOTS 10 /* snapshots per window length */
#define KT_WIN_ALL   (-1)

/* The histograms of a ring series. */
enum kt_win_hist {
	KT_WIN_H_SEND,	       /* send duration */
	KT_WIN_H_RECV,	       /* recv duration */
	KT_WIN_H_SOJOURN,      /* recv sojourn */
	KT_WIN_H_BACKPRESSURE, /* backpressure wait */
	KT_WIN_H_NR,
};

/* The exact counts of a ring series. */
enum kt_win_count {
	KT_WIN_C_SEND,
	KT_WIN_C_RECV,
	KT_WIN_C_BACKPRESSURE,
	KT_WIN_C_RETRANSMIT,
	KT_WIN_C_NR,
};

/* Counters that are not per ring (the kernel's event accounting). */
enum kt_win_global {
	KT_WIN_G_FIRED,
	KT_WIN_G_DELIVERED,
	KT_WIN_G_LOST,
	KT_WIN_G_NR,
};

struct kt_windows;

struct kt_windows *kt_windows_new(uint64_t now_ns);
void kt_windows_free(struct kt_windows *w);

/*
 * Sets the window lengths (each >= 1 ms x KT_WIN_SLOTS, at most
 * KT_WIN_MAX, duplicates ignored). Windows whose length stays keep their
 * history; new ones start empty. 0 or -EINVAL.
 */
int kt_windows_set(struct kt_windows *w, const uint64_t *len_ns, int n);
int kt_windows_count(const struct kt_windows *w);
uint64_t kt_windows_len(const struct kt_windows *w, int idx);
/* Index of the window of this length, or -1. */
int kt_windows_find(const struct kt_windows *w, uint64_t len_ns);

/* Takes the snapshots that are due at now (global: the current counters). */
void kt_windows_tick(struct kt_windows *w, const struct kt_agg *a,
		     const uint64_t global[KT_WIN_G_NR], uint64_t now_ns);
void kt_windows_forget_pid(struct kt_windows *w, uint32_t pid); /* every image */
void kt_windows_forget_image(struct kt_windows *w, uint32_t pid, uint32_t exec_gen);
void kt_windows_forget_ring(struct kt_windows *w, uint32_t pid, uint32_t exec_gen,
			    uint32_t ring_id);

/*
 * Seconds the window covers at now (KT_WIN_ALL: since kt_windows_new;
 * a window younger than its length: since its start).
 */
double kt_windows_span_s(const struct kt_windows *w, int win, uint64_t now_ns);

/* out = the window's histogram of r (empty if r has none). */
void kt_windows_ring_hist(const struct kt_windows *w, int win, const struct kt_ring_agg *r,
			  enum kt_win_hist which, struct kt_hist *out);
uint64_t kt_windows_ring_count(const struct kt_windows *w, int win, const struct kt_ring_agg *r,
			       enum kt_win_count which);
uint64_t kt_windows_global(const struct kt_windows *w, int win, const uint64_t now[KT_WIN_G_NR],
			   enum kt_win_global which);

/* The cumulative sources the windows are computed from. */
const struct kt_hist *kt_win_ring_cum_hist(const struct kt_ring_agg *r, enum kt_win_hist which);
uint64_t kt_win_ring_cum_count(const struct kt_ring_agg *r, enum kt_win_count which);

/* Bytes held by snapshots (for the daemon's own metrics). */
uint64_t kt_windows_memory(const struct kt_windows *w);

#endif /* KT_WINDOW_H */
