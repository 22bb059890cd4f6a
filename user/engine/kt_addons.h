/* SPDX-License-Identifier: MIT */
/*
 * kt_addons: what a tracing run may add beside its aggregation, shared by
 * the drivers (one-shot CLI, daemon):
 *
 *   - a timeline sink: a kt_timeline fed by a session event hook, its cap
 *     said once through a note, written on request in the background (a
 *     SIGUSR1, an alert) and at the end, to one file or (the daemon's
 *     flight recorder) to a new timestamped file per write, the newest kept;
 *   - the alert log: a file (or stderr) of alert transitions;
 *   - kt_oneshot: the one-shot's alert rules (evaluated on the whole run
 *     unless a rule says "over") and timeline.
 *
 * Nothing here prints: lines go through the driver's kt_note_fn. One
 * thread owns each object (the driver's poll loop).
 */
#ifndef KT_ADDONS_H
#define KT_ADDONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_session.h"
#include "kt_timeline.h"
#include "kt_window.h"

/* A macro's value as a string literal (a default in an option's help). */
#define KT_STR_(x) #x
#define KT_STR(x)  KT_STR_(x)
/* Alert rules of a one-shot run are evaluated this often. */
#define KT_ONESHOT_EVAL_NS 1000000000ull

/* The session's fired/delivered/lost counters, as kt_windows and kt_alerts read them. */
void kt_addons_global_counters(struct kt_session *s, uint64_t g[KT_WIN_G_NR]);

struct kt_timeline_sink {
	struct kt_timeline *t;
	const char *path;
	const char *cap_hint; /* the option that raises the cap, for the cap line */
	kt_note_fn note;
	void *note_ctx;
	bool failed;	     /* a write before the last failed (exit status 1) */
	const char *pending; /* why a write was asked while one ran (NULL: none) */
	const char *running; /* why the write under way was started */
	bool finishing;	     /* the final write follows: no other starts */
	/*
	 * 0: every write replaces path. N: each write goes to a new file beside
	 * it, DIR/BASE-YYYYMMDDTHHMMSS.mmmZ.EXT for path DIR/BASE.EXT, and only
	 * the newest N of those are kept.
	 */
	unsigned int keep;
};

/*
 * Holds a timeline of path (kt_timeline.h: in memory, written at the end or
 * on request) fed by a hook on s. 0, or -1 with err set (nothing left open).
 */
int kt_timeline_sink_open(struct kt_timeline_sink *k, struct kt_session *s, const char *path,
			  const struct kt_timeline_opts *to, char *err, size_t errlen);
/*
 * Writes the file and frees the timeline (no-op if none). 0 with the line to
 * say in msg ("" if none was open), or -1 with the error in msg.
 */
int kt_timeline_sink_close(struct kt_timeline_sink *k, char *msg, size_t msglen);

/*
 * Writes the timeline now, in the background (kt_timeline_write_bg), why
 * saying what asked ("SIGUSR1", "an alert fired"); asked while one runs, it
 * follows that one. 0, or -1 (said; k->failed set). No timeline, or a
 * stdout one (said: written at the end only): 0.
 */
int kt_timeline_sink_write(struct kt_timeline_sink *k, const char *why);
/* From the poll loop: says how a background write ended and starts the one asked meanwhile. */
void kt_timeline_sink_reap(struct kt_timeline_sink *k, bool wait);
/* The stamped file name for a write now (keep > 0): see kt_timeline_sink.keep. */
void kt_timeline_stamped_path(const char *path, char *out, size_t len);

/*
 * Opens the alert log: NULL, "" or "-" is stderr; a file is appended to
 * (append) or truncated, line-buffered. NULL with err set.
 */
FILE *kt_alert_log_open(const char *path, bool append, char *err, size_t errlen);
/* Closes what kt_alert_log_open() opened (stderr stays). 0 or -errno. */
int kt_alert_log_close(FILE *f);

/* One-shot add-ons: alert rules and a timeline. */
struct kt_oneshot_opts {
	const char *const *rules;
	int nrules;
	const char *alert_log;	   /* NULL or "-": stderr */
	const char *timeline;	   /* NULL: none */
	uint64_t timeline_max;	   /* 0: KT_TIMELINE_DEFAULT_MAX */
	bool timeline_keep_last;   /* flight recorder: the newest events (kt_timeline.h) */
	uint64_t timeline_last_ns; /* and only those of the last ns (0: all held) */
	kt_note_fn note;	   /* the summary and error lines (required) */
	void *note_ctx;
};

struct kt_oneshot;

/* After kt_session_start(). NULL with err set. */
struct kt_oneshot *kt_oneshot_start(struct kt_session *s, const struct kt_oneshot_opts *o,
				    char *err, size_t errlen);
/* The rules and their states (a live view shows them; NULL: o is NULL). */
const struct kt_alerts *kt_oneshot_alerts(const struct kt_oneshot *o);
/* Call from the poll loop: windows, and a rule evaluation every KT_ONESHOT_EVAL_NS. */
void kt_oneshot_tick(struct kt_oneshot *o, uint64_t now_ns);
/*
 * After the final drain: one last evaluation, outputs closed, o freed.
 * Returns the number of alerts that fired during the run, or -1 if an
 * output could not be written (said through the note). *unmatched: rules
 * whose selectors fit no traced ring during the whole run (one note each).
 */
int kt_oneshot_finish(struct kt_oneshot *o, int *unmatched);
/*
 * Writes the timeline now (SIGUSR1; also done when an alert fires), in the
 * background (kt_timeline_write_bg): kt_oneshot_tick() says when it is
 * done; asked while one runs, it follows that one. 0, or -1 (said; a
 * failed write makes the run's exit status 1). No timeline: 0.
 */
int kt_oneshot_write_timeline(struct kt_oneshot *o, const char *why);
/* The --timeline being held (for counter samples), or NULL. */
struct kt_timeline *kt_oneshot_timeline(struct kt_oneshot *o);

#endif /* KT_ADDONS_H */
