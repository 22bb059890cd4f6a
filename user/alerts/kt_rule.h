/* SPDX-License-Identifier: MIT */
/*
 * kt_rule: the alert rule language of kaos-trace (docs/daemon.md).
 *
 *   rule     = { selector } metric cmp value [ "over" duration ] [ "for" duration ]
 *   selector = ( "ring" | "process" | "pid" | "func" ) "=" ( word | '"' text '"' )
 *   metric   = "lost" [ ".rate" ] | series "." stat
 *   series   = "send" | "recv" | "sojourn" | "backpressure" | "retransmit" | "func"
 *   stat     = "p" digits | "p" digits "." digits | "min" | "max" | "mean"
 *            | "count" | "rate" | "ratio"
 *   cmp      = ">" | ">=" | "<" | "<="
 *   value    = number [ unit ]
 *
 * Examples:
 *   send.p99 > 1us for 10s
 *   ring=compress.in recv.p999 > 5us over 1m
 *   backpressure.rate > 1000/s
 *   retransmit.ratio > 1%
 *   process=ingest* sojourn.p50 >= 200us for 30s
 *   lost > 0
 *   func=compress_* func.p99 > 50us
 *
 * Percentiles: p50 = 50, p99 = 99, p999 = 99.9, p9999 = 99.99 (the first
 * two digits are the integer part; p100 = max), or explicit p99.5.
 * Units: latencies (pNN, min, max, mean) take a time unit (ns, us, µs, ms,
 * s); count takes none (k, M, G multiply); rate takes "/s" (after an
 * optional k, M, G); ratio takes "%" or a fraction 0..1. "over" (the
 * window the value is computed on) and "for" (how long the condition must
 * hold before the alert fires) take ms, s, m, h. ring= and process= match
 * the ring name and the process name (comm) with shell globs (fnmatch);
 * pid= a process id. Without selectors a rule looks at every traced ring
 * of every process at once (histograms merged, counts summed).
 *
 * func: the functions timed with kaos-trace --func (latency with the probe
 * time taken out where it was calibrated; count and rate of calls, exact).
 * func= is a glob on the symbol name, or on "module:name" when it holds a
 * ':'; it goes with the func series only, and func rules take no ring= and
 * no "over" (windows keep ring series only: they are computed on the whole
 * run).
 *
 * kt_rule_parse() never reads past the NUL and never allocates; on error
 * it says where (0-based byte offset; printed 1-based as "column N") and
 * what it expected.
 */
#ifndef KT_RULE_H
#define KT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_units.h" /* durations: kt_parse_duration, kt_fmt_duration */

#define KT_RULE_TEXT_MAX 256 /* longest rule accepted, bytes */
#define KT_RULE_NAME_MAX 64  /* longest selector value */

enum kt_rule_series {
	KT_RULE_SEND,
	KT_RULE_RECV,
	KT_RULE_SOJOURN,
	KT_RULE_BACKPRESSURE,
	KT_RULE_RETRANSMIT,
	KT_RULE_LOST,
	KT_RULE_FUNC,
	KT_RULE_SERIES_NR,
};

enum kt_rule_stat {
	KT_RULE_PCT, /* a percentile: kt_rule.pct */
	KT_RULE_MIN,
	KT_RULE_MAX,
	KT_RULE_MEAN,
	KT_RULE_COUNT,
	KT_RULE_RATE,
	KT_RULE_RATIO,
};

enum kt_rule_cmp { KT_RULE_GT, KT_RULE_GE, KT_RULE_LT, KT_RULE_LE };

/* What the value (and threshold) measures. */
enum kt_rule_unit {
	KT_RULE_UNIT_NS,       /* latencies */
	KT_RULE_UNIT_COUNT,    /* counts in the window */
	KT_RULE_UNIT_PER_S,    /* rates */
	KT_RULE_UNIT_FRACTION, /* ratios, 0..1 */
};

struct kt_rule {
	char text[KT_RULE_TEXT_MAX]; /* the rule, whitespace runs collapsed: its identity */
	char metric[32];	     /* e.g. "send.p99" */
	bool has_ring, has_process, has_pid, has_func;
	char ring[KT_RULE_NAME_MAX];	/* glob on the ring name */
	char func[KT_RULE_NAME_MAX];	/* glob on the function (name, or module:name) */
	char process[KT_RULE_NAME_MAX]; /* glob on the process name (comm) */
	uint32_t pid;
	enum kt_rule_series series;
	enum kt_rule_stat stat;
	double pct; /* KT_RULE_PCT: 0..100 */
	enum kt_rule_cmp cmp;
	double threshold; /* in unit's base (ns, count, per s, fraction) */
	enum kt_rule_unit unit;
	uint64_t window_ns; /* "over"; 0: the default window */
	uint64_t hold_ns;   /* "for"; 0: fire at the first true evaluation */
};

struct kt_rule_error {
	int pos; /* 0-based byte offset of the problem in the rule text */
	char msg[192];
};

/* 0, or -EINVAL with err filled (err may be NULL). */
int kt_rule_parse(const char *text, struct kt_rule *r, struct kt_rule_error *err);

/* "column N: message" into buf; returns buf. */
const char *kt_rule_strerror(const struct kt_rule_error *err, char *buf, size_t n);

/* Does value satisfy the rule's comparison? */
bool kt_rule_holds(const struct kt_rule *r, double value);

const char *kt_rule_cmp_str(enum kt_rule_cmp c);
const char *kt_rule_unit_str(enum kt_rule_unit u); /* "ns", "count", "per_s", "fraction" */

#endif /* KT_RULE_H */
