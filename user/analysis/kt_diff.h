/* SPDX-License-Identifier: MIT */
/*
 * kt_diff: before/after comparison of kaos-trace runs (kaos-trace diff).
 *
 * A run is a set of latency histograms, one per series: (process comm,
 * ring name, operation). Each side (before, after) holds one or more runs;
 * a series' histograms are merged per side for the point estimates.
 *
 * The interval of a quantile on one side is the envelope, over that side's
 * runs, of each run's order-statistic bounds: the ranks n q +- z sqrt(n q
 * (1 - q)) (binomial, z for KT_DIFF_CONFIDENCE) mapped to the lowest value
 * of the bucket of the low rank and the highest of the high rank's bucket;
 * a rank below 1 or above the count leaves that end open (0, infinity): few
 * samples never make a change significant.
 * With several runs the envelope holds the run-to-run spread, so a change
 * is significant only if every run of one side lies beyond every run of
 * the other (and beyond the sampling error of each). A change's interval
 * in percent is [(after.lo - before.hi) / before.hi, (after.hi - before.lo)
 * / before.lo]: slower when its low end is above 0, faster when its high
 * end is below 0, else no significant change.
 */
#ifndef KT_DIFF_H
#define KT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_hist.h"

#define KT_DIFF_NQ	   4	/* p50, p90, p99, p99.9 */
#define KT_DIFF_CONFIDENCE 0.99 /* per quantile: 4 quantiles x many series are compared */
#define KT_DIFF_NAME_LEN   64
#define KT_DIFF_COMM_LEN   32

enum kt_diff_side { KT_DIFF_BEFORE, KT_DIFF_AFTER };
enum kt_diff_verdict { KT_DIFF_SAME, KT_DIFF_SLOWER, KT_DIFF_FASTER, KT_DIFF_MIXED };
enum kt_diff_presence { KT_DIFF_BOTH, KT_DIFF_ADDED, KT_DIFF_REMOVED };

extern const double kt_diff_quantiles[KT_DIFF_NQ]; /* 50, 90, 99, 99.9 (percent) */

/* One series of one run. */
struct kt_diff_hist {
	char comm[KT_DIFF_COMM_LEN];
	char ring[KT_DIFF_NAME_LEN];
	char op[16];
	uint64_t ops;
	struct kt_hist *h;
};

/*
 * Heap profiling (--alloc): a row is an allocation site, comm + its
 * symbolized stack (root first, ";"-joined; the JSON keeps each process's ten
 * top sites by bytes), or a process total (stack NULL), keyed by comm.
 */
enum kt_diff_alloc_metric {
	KT_DIFF_ALLOCS,	      /* allocations */
	KT_DIFF_BYTES,	      /* bytes allocated */
	KT_DIFF_PEAK_BYTES,   /* totals only */
	KT_DIFF_LEAKED_BYTES, /* totals only */
	KT_DIFF_NMETRICS,
};
#define KT_DIFF_SITE_METRICS 2 /* a site has allocs and bytes */

struct kt_diff_alloc_rec {
	char comm[KT_DIFF_COMM_LEN];
	char *stack; /* NULL: the process total */
	double v[KT_DIFF_NMETRICS];
};

/* One run: its series (a key seen twice, two processes of one comm, is merged). */
struct kt_diff_run {
	struct kt_diff_hist *v;
	size_t n, cap;
	bool has_alloc; /* the file has an "alloc" object (--alloc) */
	struct kt_diff_alloc_rec *alloc;
	size_t nalloc, capalloc;
};

/*
 * A count compared: mean per run on each side, the envelope of the runs'
 * values (counts are exact, so one run a side has a zero-width interval and
 * any difference is a change), the change and its interval as fractions.
 */
enum kt_diff_count_verdict { KT_DIFF_NO_CHANGE, KT_DIFF_MORE, KT_DIFF_FEWER };
struct kt_diff_count {
	double before, after;
	double b_lo, b_hi, a_lo, a_hi;
	double change, change_lo, change_hi; /* +inf: from 0 to more */
	enum kt_diff_count_verdict verdict;
};

struct kt_diff_alloc_row {
	char comm[KT_DIFF_COMM_LEN];
	char *stack;	      /* NULL: the process total */
	unsigned int runs[2]; /* runs of each side that have the row */
	double sum[2][KT_DIFF_NMETRICS];
	double lo[2][KT_DIFF_NMETRICS], hi[2][KT_DIFF_NMETRICS];
	/* kt_diff_compute() fills these */
	enum kt_diff_presence presence; /* a site: ADDED/REMOVED = not in the top sites */
	struct kt_diff_count c[KT_DIFF_NMETRICS];
	double impact;
};

struct kt_diff_quant {
	double before, after;	     /* ns, from the merged histograms */
	double b_lo, b_hi;	     /* before's interval (ns) */
	double a_lo, a_hi;	     /* after's interval (ns) */
	double change;		     /* (after - before) / before, a fraction */
	double change_lo, change_hi; /* its interval */
	enum kt_diff_verdict verdict;
};

struct kt_diff_series {
	char comm[KT_DIFF_COMM_LEN];
	char ring[KT_DIFF_NAME_LEN];
	char op[16];
	uint64_t ops[2];
	unsigned int runs[2];	   /* runs of each side that have the series */
	struct kt_hist *merged[2]; /* NULL on a side without it */
	double lo[2][KT_DIFF_NQ];  /* envelope of the per-run bounds */
	double hi[2][KT_DIFF_NQ];
	/* kt_diff_compute() fills these */
	enum kt_diff_presence presence;
	struct kt_diff_quant q[KT_DIFF_NQ];
	enum kt_diff_verdict verdict;
	double impact; /* largest |change| among significant quantiles; sorts the rows */
};

struct kt_diff {
	struct kt_diff_series *v;
	size_t n, cap;
	unsigned int nruns[2];
	unsigned int quiet[2];	    /* interval files without samples, not counted as runs */
	unsigned int alloc_runs[2]; /* runs with an "alloc" object */
	struct kt_diff_alloc_row *alloc;
	size_t nalloc, capalloc;
};

void kt_diff_run_init(struct kt_diff_run *r);
void kt_diff_run_free(struct kt_diff_run *r);
/* Adds (merges) one histogram of ops operations under (comm, ring, op). */
int kt_diff_run_add(struct kt_diff_run *r, const char *comm, const char *ring, const char *op,
		    const struct kt_hist *h, uint64_t ops);
/* Adds (sums) a site (stack: ";"-joined, root first) or a total (stack NULL). */
int kt_diff_run_add_alloc(struct kt_diff_run *r, const char *comm, const char *stack,
			  const double v[KT_DIFF_NMETRICS]);

/*
 * Reads a kaos-trace --json FILE into r: its last "type":"final" line, or in
 * a file without one (the daemon's --json-dir) every "type":"interval" line,
 * merged. Returns 0, -ENODATA (interval lines without a single sample: a
 * quiet interval, no error), or -EINVAL (another kind of file, an empty run,
 * no histograms) / -errno with one line in msg.
 */
int kt_diff_load(const char *path, struct kt_diff_run *r, char *msg, size_t n);
/* The same from an open file; path names it in msg. */
int kt_diff_load_file(FILE *fp, const char *path, struct kt_diff_run *r, char *msg, size_t n);

void kt_diff_init(struct kt_diff *d);
void kt_diff_free(struct kt_diff *d);
int kt_diff_add_run(struct kt_diff *d, enum kt_diff_side side, const struct kt_diff_run *r);
/* Verdicts, then sorts the series: added/removed last, by impact otherwise. */
void kt_diff_compute(struct kt_diff *d);

/* kt_diff_alloc.c: the allocation rows of a run into d, and their verdicts. */
int kt_diff_add_alloc(struct kt_diff *d, enum kt_diff_side side, const struct kt_diff_run *r);
void kt_diff_alloc_compute(struct kt_diff *d);
void kt_diff_alloc_free(struct kt_diff *d);
const char *kt_diff_count_verdict_name(enum kt_diff_count_verdict v);
const char *kt_diff_metric_name(enum kt_diff_alloc_metric m);
/*
 * --fail-if-more-allocs PCT: true when a site or process total present on
 * both sides has significantly more allocations, by more than pct percent.
 */
bool kt_diff_alloc_gate(const struct kt_diff *d, double pct);

/* "p50" etc. for quantile index i; kt_diff_quantile_index("p99.9") or "p999": 3; -1 if none. */
const char *kt_diff_quantile_name(int i);
int kt_diff_quantile_index(const char *name);
const char *kt_diff_verdict_name(enum kt_diff_verdict v);

/*
 * --fail-if-slower PCT[@pNN]: true when a series present on both sides is
 * significantly slower at quantile qi by more than pct percent (the low end
 * of the change's interval above pct).
 */
bool kt_diff_gate(const struct kt_diff *d, double pct, int qi);
/* Parses "PCT[@pNN]" (default p50). Returns 0 or -EINVAL with msg. */
int kt_diff_parse_gate(const char *arg, double *pct, int *qi, char *msg, size_t n);

/*
 * --folded: the folded stacks files of each side (kaos-trace --folded),
 * summed per side, written to out as "STACK BEFORE AFTER" lines sorted by
 * stack, AFTER scaled to the before total (flamegraph.pl's differential
 * input). Returns 0, -EINVAL (a line that is not "STACK COUNT", an empty
 * file) or -errno with one line in msg, or -EIO (out failed; msg empty).
 */
int kt_diff_folded(FILE *out, const char *const *before, int nb, const char *const *after, int na,
		   char *msg, size_t n);

/* The report. Returns 0 or -EIO. */
int kt_diff_print_text(FILE *f, const struct kt_diff *d);
int kt_diff_print_json(FILE *f, const struct kt_diff *d);

#endif /* KT_DIFF_H */
