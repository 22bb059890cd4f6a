/* SPDX-License-Identifier: MIT */
/*
 * kt_daemon: kaos-trace as a service (docs/daemon.md), and the alert and
 * timeline add-ons of one-shot runs. Both sit on kt_session: the events
 * are aggregated once, by the tracer's own kt_agg; windows, alerts,
 * /metrics and the timeline read from it.
 *
 *   kaos-trace daemon [--config FILE] [--watch PATH]... [--listen ADDR:PORT] ...
 *
 * The daemon attaches by path (every process mapping a watched object,
 * now and later), keeps rolling windows, evaluates alert rules, serves
 * /metrics, writes folded stacks per interval, and runs until SIGTERM or
 * SIGINT (detach, drain, exit 0). SIGHUP rereads the config file and
 * reapplies the flags; a config that fails any check is rejected with a
 * log line and the running one stays.
 */
#ifndef KT_DAEMON_H
#define KT_DAEMON_H

#include <stdint.h>

#include "kt_session.h"

/* argv[0] is "daemon". Returns the process exit status. */
int kt_daemon_main(int argc, char **argv);

/* One-shot add-ons: alert rules (evaluated on the whole run unless a rule says "over") and a
 * timeline. */
struct kt_oneshot_opts {
	const char *const *rules;
	int nrules;
	const char *alert_log;	   /* NULL or "-": stderr */
	const char *timeline;	   /* NULL: none */
	uint64_t timeline_max;	   /* 0: default */
	bool timeline_keep_last;   /* flight recorder: the newest events (kt_timeline.h) */
	uint64_t timeline_last_ns; /* and only those of the last ns (0: all held) */
};

struct kt_oneshot;

/* After kt_session_start(). NULL with err set. */
struct kt_oneshot *kt_oneshot_start(struct kt_session *s, const struct kt_oneshot_opts *o,
				    char *err, size_t errlen);
/* Call from the poll loop: windows and a rule evaluation once a second. */
void kt_oneshot_tick(struct kt_oneshot *o, uint64_t now_ns);
/*
 * After the final drain: one last evaluation, outputs closed, o freed.
 * Returns the number of alerts that fired during the run, or -1 if an
 * output could not be written (reported on stderr). *unmatched: rules
 * whose selectors fit no traced ring during the whole run (one line each
 * on stderr).
 */
int kt_oneshot_finish(struct kt_oneshot *o, int *unmatched);
/*
 * Writes the timeline now (SIGUSR1; also done when an alert fires), in the
 * background (kt_timeline_write_bg): kt_oneshot_tick() says when it is
 * done; asked while one runs, it follows that one. 0, or -1 (said; a
 * failed write makes the run's exit status 1). No timeline: 0.
 */
int kt_oneshot_write_timeline(struct kt_oneshot *o, const char *why);

#endif /* KT_DAEMON_H */
