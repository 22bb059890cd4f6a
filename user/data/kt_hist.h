/* SPDX-License-Identifier: MIT */
/*
 * kt_hist: a fixed-size log-linear latency histogram (HdrHistogram-like).
 *
 * Layout: values 0..63 each have their own bucket (exact). Above that,
 * every power-of-two range [2^e, 2^(e+1)) is split into 32 linear
 * sub-buckets of width 2^(e-5), up to KT_HIST_MAX_VALUE (100 s in ns).
 * Larger values land in one overflow bucket: they are counted, their exact
 * value goes into the sum (mean) and the max, and a percentile that falls
 * into the overflow bucket reports the exact max.
 *
 * Accuracy: a percentile reports the midpoint of the bucket that holds the
 * exact nearest-rank value, clamped to [min, max]. A bucket of width w
 * starts at >= 32 w, so the relative error is <= (w/2)/(32 w) = 1/64
 * (KT_HIST_REL_ERROR, 1.5625 %); values below 64 are exact. min and max are
 * tracked exactly (but see kt_hist_subtract).
 *
 * Size: 1040 u64 counters + 48 bytes = 8.4 KB, no allocation at all: embed
 * it per (process, ring, event type). Recording is a few instructions (one
 * clz, one shift, adds). Not thread-safe: one writer per instance (merge
 * per-thread instances for a total).
 *
 * Rolling windows (last 10 s / 1 min / 10 min) use the fact that merge and
 * subtract are plain counter additions (O(buckets), ~1 µs):
 *   - keep one cumulative histogram and a ring of snapshots of it taken
 *     every second; the window "last N s" is
 *       kt_hist_copy(&w, &now); kt_hist_subtract(&w, &snapshot[N s ago]);
 *   - or keep one histogram per second and kt_hist_merge() the last N.
 * Subtraction is exact for the counts, sum and mean; min and max of a
 * difference cannot be known exactly, so after a subtract they are
 * estimated from the lowest/highest non-empty buckets and the old min/max
 * (within KT_HIST_REL_ERROR of the truth, like a percentile; a max above
 * KT_HIST_MAX_VALUE stays the old max).
 */
#ifndef KT_HIST_H
#define KT_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define KT_HIST_SUB_BITS  5 /* 32 linear sub-buckets per 2^e */
#define KT_HIST_SUB_COUNT (1u << KT_HIST_SUB_BITS)
#define KT_HIST_MAX_VALUE 100000000000ull		  /* 100 s in ns */
#define KT_HIST_NBUCKETS  1039				  /* regular buckets: index(MAX)+1 */
#define KT_HIST_OVERFLOW  KT_HIST_NBUCKETS		  /* index of the overflow bucket */
#define KT_HIST_REL_ERROR (1.0 / (2 * KT_HIST_SUB_COUNT)) /* bound on percentile error */

struct kt_hist {
	uint64_t count;			       /* values recorded (incl. overflow) */
	uint64_t min;			       /* UINT64_MAX when empty */
	uint64_t max;			       /* 0 when empty */
	uint64_t _pad;			       /* zero; keeps the struct free of holes */
	unsigned __int128 sum;		       /* exact sum of recorded values */
	uint64_t counts[KT_HIST_NBUCKETS + 1]; /* [KT_HIST_OVERFLOW] = > MAX_VALUE */
};

struct kt_hist_summary {
	uint64_t count;
	uint64_t min, p50, p90, p99, p999, max; /* ns; all 0 when count == 0 */
	double mean;				/* ns; 0 when count == 0 */
};

void kt_hist_init(struct kt_hist *h);
void kt_hist_reset(struct kt_hist *h);
void kt_hist_copy(struct kt_hist *dst, const struct kt_hist *src);

/* Record one value / `n` occurrences of a value (n == 0 is a no-op). */
void kt_hist_record(struct kt_hist *h, uint64_t value);
void kt_hist_record_n(struct kt_hist *h, uint64_t value, uint64_t n);

/* dst += src (exact, min/max included). */
void kt_hist_merge(struct kt_hist *dst, const struct kt_hist *src);
/*
 * dst -= src, for window arithmetic (src must be an earlier snapshot of dst
 * or a part merged into it). Returns -EINVAL and leaves dst unchanged if any
 * counter of src exceeds dst's. Counts/sum are exact; min/max become
 * estimates within KT_HIST_REL_ERROR (see the top of this file).
 */
int kt_hist_subtract(struct kt_hist *dst, const struct kt_hist *src);

uint64_t kt_hist_count(const struct kt_hist *h);
uint64_t kt_hist_min(const struct kt_hist *h); /* 0 when empty */
uint64_t kt_hist_max(const struct kt_hist *h); /* 0 when empty */
double kt_hist_mean(const struct kt_hist *h);  /* 0 when empty */

/*
 * Nearest-rank percentile: the value of rank ceil(p/100 * count) (at least
 * 1) in sorted order, with p rounded to 1e-7 % and clamped to [0, 100] (NaN
 * counts as 0). p = 0 gives min, p = 100 gives max. Reports the midpoint of
 * that value's bucket clamped to [min, max] (relative error <=
 * KT_HIST_REL_ERROR). 0 when empty.
 */
uint64_t kt_hist_percentile(const struct kt_hist *h, double p);
/* Rank (1-based) used for percentile p among count values; 0 when count == 0. */
uint64_t kt_hist_rank(double p, uint64_t count);
/* count, min, p50, p90, p99, p99.9, max and mean in one pass. */
void kt_hist_summary(const struct kt_hist *h, struct kt_hist_summary *s);

/* Bucket geometry, for exporters and tests. */
size_t kt_hist_index(uint64_t value);	/* KT_HIST_OVERFLOW if > MAX_VALUE */
uint64_t kt_hist_bucket_lo(size_t idx); /* lowest value of bucket idx */
uint64_t kt_hist_bucket_hi(size_t idx); /* highest value (UINT64_MAX: overflow) */

/*
 * bcc/bpftrace-style power-of-two table. Rows double within each unit and
 * restart at 1us, 1ms, 1s so that labels are exact:
 *   [0ns, 1ns) [1ns, 2ns) ... [512ns, 1us) [1us, 2us) ... [64s, 100s] (100s, ...)
 * Empty rows before the first and after the last non-empty row are skipped;
 * the bar is scaled to the largest row (a non-empty row shows at least one
 * '@'). A bucket is placed by its midpoint, so a value within one bucket
 * (<= 1/32) of a 1us/1ms/1s/100s boundary may be shown in the row below it.
 * unit_label heads the first column (NULL: "latency"). Prints nothing for
 * an empty histogram. Returns 0, or -EIO if writing failed.
 */
int kt_hist_print_log2(FILE *fp, const struct kt_hist *h, const char *unit_label);

/*
 * Human-readable duration: "850ns", "1.25us", "3.40ms", "2.00s" (two
 * decimals, rounded half up; 999999 ns gives "1.00ms"). Returns buf.
 */
const char *kt_fmt_ns(char *buf, size_t n, uint64_t ns);

#endif /* KT_HIST_H */
