/* SPDX-License-Identifier: MIT */
/*
 * kt_alert: evaluates alert rules (kt_rule) on the tracer's aggregation
 * and its rolling windows, and acts on their transitions.
 *
 * State machine, per rule (kt_alert_step): OK -> PENDING when the
 * condition becomes true; PENDING -> FIRING once it has been true for the
 * rule's hold time ("for"), emitting one "firing" transition; FIRING ->
 * OK when it is false, emitting one "resolved" transition; PENDING -> OK
 * silently. A rule without hold fires at the first true evaluation. No
 * data (an empty window for a latency, no sends for a ratio) counts as
 * false.
 *
 * Each transition is one JSON line on the alert output:
 *   {"time":"2026-01-02T03:04:05.678Z","alert":"firing","rule":"send.p99 > 1us for 10s",
 *    "metric":"send.p99","value":1520,"threshold":1000,"unit":"ns","window_s":10,
 *    "for_s":10,"process":null,"ring":null,"pid":null,"func":null,"series":3,
 *    "worst":{"ring":"orders","pid":123,"process":"app","value":2210},
 *    (func rules: "worst":{"func":"app:compress","pid":...})
 *    "message":"alert 'send.p99 > 1us for 10s' fired: send.p99 = 1.52us > 1us over 3 rings
 *               (worst: ring orders (pid 123, app) 2.21us)"}
 * ("worst": the matching ring with the worst value of its own, null when
 * resolving and for lost), the message also as a text line on kt_log, and,
 * when an action is set, the same line on the stdin of a program
 * started with posix_spawn (an argv, no shell) in its own process group,
 * killed if it outlives the timeout.
 *
 * A rule "matches nothing" when no traced ring (func rules: function) fits
 * its selectors (a rule without selectors: when no ring was traced at all;
 * a func rule whose func= fits a probed function matches, called or not);
 * lost rules always match. A typo in a ring name must not keep a CI gate green: the one-shot
 * run fails when a rule matched nothing during the whole run
 * (kt_alerts_matched(..., true)); the daemon logs it and exports it.
 */
#ifndef KT_ALERT_H
#define KT_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_agg.h"
#include "kt_rule.h"
#include "kt_window.h"

enum kt_alert_state { KT_ALERT_OK, KT_ALERT_PENDING, KT_ALERT_FIRING };
enum kt_alert_transition { KT_ALERT_NONE, KT_ALERT_FIRED, KT_ALERT_RESOLVED };

struct kt_alert_sm {
	enum kt_alert_state state;
	uint64_t since; /* PENDING: when the condition became true */
};

/* One evaluation of a condition at now. */
enum kt_alert_transition kt_alert_step(struct kt_alert_sm *sm, bool cond, uint64_t hold_ns,
				       uint64_t now_ns);

/* What rule values are computed from. */
struct kt_alert_src {
	const struct kt_agg *agg;
	const struct kt_windows *win; /* NULL: cumulative values only */
	const uint64_t *global;	      /* KT_WIN_G_NR current kernel counters */
	uint64_t now;		      /* CLOCK_MONOTONIC ns, as given to kt_windows_tick */
	int default_win;	      /* window of rules without "over"; KT_WIN_ALL: whole run */
};

/*
 * The rule's value (in its unit's base) on src; false when there is no
 * data. *nseries: ring series that matched the selectors (may be NULL).
 */
bool kt_alert_value(const struct kt_rule *r, const struct kt_alert_src *src, double *value,
		    int *nseries);

/* A matching ring or function, and its own value. */
struct kt_alert_culprit {
	const struct kt_ring_agg *ring; /* or */
	const struct kt_func_agg *func;
	double value;
};

/*
 * The matching ring (func rules: function) whose own value is the worst
 * (the highest for > and >=, the lowest for < and <=): false when none has
 * data, and for lost rules.
 */
bool kt_alert_culprit(const struct kt_rule *r, const struct kt_alert_src *src,
		      struct kt_alert_culprit *c);

/* "3.2us", "1500", "120/s", "2.5%": v (in u's base) for people; returns buf. */
const char *kt_alert_fmt_value(char *buf, size_t n, enum kt_rule_unit u, double v);

/*
 * Why r matches nothing in agg, in words: "no traced ring fits ring=ordres;
 * rings seen: orders (pid 12, app)" or "no ring was traced"; returns buf.
 */
const char *kt_alert_unmatched_why(const struct kt_rule *r, const struct kt_agg *agg, char *buf,
				   size_t n);

struct kt_alerts;

/* The daemon says a rule matches nothing once per spell, and at most this often. */
#define KT_ALERT_UNMATCHED_LOG_NS (600 * 1000000000ull)

#define KT_ALERT_MAX_CHILDREN 8

struct kt_alerts *kt_alerts_new(void);
/* Waits for running actions (up to their timeouts, then kills them) and frees. */
void kt_alerts_free(struct kt_alerts *a);

/*
 * Replaces the rules; a rule whose text is unchanged keeps its state (a
 * reload neither re-fires nor forgets a firing alert). 0 or -ENOMEM.
 */
int kt_alerts_set_rules(struct kt_alerts *a, const struct kt_rule *rules, int n);

/*
 * Alert output (not closed by kt_alerts; NULL: stderr) and action: argv
 * (argv[0] an absolute path; copied; NULL: none) run with timeout_ns.
 */
int kt_alerts_set_output(struct kt_alerts *a, FILE *out, char *const *argv, uint64_t timeout_ns);

/* Evaluates every rule; returns the number of transitions. */
int kt_alerts_eval(struct kt_alerts *a, const struct kt_alert_src *src);
/* Reaps finished actions and kills those past their timeout. */
void kt_alerts_reap(struct kt_alerts *a, uint64_t now_ns);

int kt_alerts_nrules(const struct kt_alerts *a);
const struct kt_rule *kt_alerts_rule(const struct kt_alerts *a, int i);
enum kt_alert_state kt_alerts_state(const struct kt_alerts *a, int i);
/* The last value computed (false: no data). */
bool kt_alerts_last_value(const struct kt_alerts *a, int i, double *v);
uint64_t kt_alerts_fired(const struct kt_alerts *a);
uint64_t kt_alerts_resolved(const struct kt_alerts *a);
/* Alert lines the output did not take (write or flush failed), and the last errno. */
uint64_t kt_alerts_write_errors(const struct kt_alerts *a, int *last_errno);
int kt_alerts_running_actions(const struct kt_alerts *a);

/*
 * Did rule i's selectors fit a traced ring at the last evaluation (ever:
 * at any evaluation since the rule was set; kept across a reload)? False
 * before its first evaluation.
 */
bool kt_alerts_matched(const struct kt_alerts *a, int i, bool ever);
/* Did rule i match nothing at its last evaluation? (False before the first.) */
bool kt_alerts_unmatched(const struct kt_alerts *a, int i);
/*
 * For the daemon, after kt_alerts_eval: logs a warning for each rule that
 * matched nothing at that evaluation, once per spell (again after it
 * matched something) and at most every KT_ALERT_UNMATCHED_LOG_NS. Returns
 * how many rules match nothing.
 */
int kt_alerts_note_unmatched(struct kt_alerts *a, const struct kt_agg *agg, uint64_t now_ns);

#endif /* KT_ALERT_H */
