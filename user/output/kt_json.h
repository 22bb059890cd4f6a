/* SPDX-License-Identifier: MIT */
/*
 * kt_json: a small streaming JSON writer for JSON-lines output.
 *
 * The writer tracks nesting and commas itself; the caller only says what
 * comes next:
 *
 *	struct kt_json w;
 *	kt_json_init_file(&w, stdout);
 *	kt_json_object_begin(&w);
 *	kt_json_kv_string(&w, "ring", name);
 *	kt_json_hist(&w, "send", &hist, elapsed_s);
 *	kt_json_object_end(&w);
 *	kt_json_eol(&w);		// one record per line
 *	if (kt_json_error(&w)) ...	// one check at the end is enough
 *
 * Output goes to a FILE * or to a growable heap buffer (kt_json_buf(),
 * NUL-terminated; kt_json_reset() empties it for the next record, keeping
 * the memory). Writing a whole record to the buffer first and then
 * fwrite()ing it keeps lines intact when several writers share a file.
 *
 * Errors are sticky: the first misuse (a value in an object without a key,
 * a key outside an object, a mismatched or missing end, a second top-level
 * value without kt_json_eol, nesting deeper than KT_JSON_MAX_DEPTH, a NULL
 * key), allocation failure or write failure sets the error; every later
 * call does nothing and returns it. In FILE mode what was written before
 * the error stays written.
 *
 * Strings: '"', '\\' and control characters are escaped (\n \t ... or
 * \u00XX); valid UTF-8 is copied; each maximal invalid UTF-8 subpart
 * (overlong forms, surrogates, > U+10FFFF, truncated sequences, stray
 * continuation bytes) becomes \ufffd, so the output is always valid JSON.
 * Doubles: shortest of %.15g/%.17g that reads back exactly; NaN and
 * infinities are written as null. Not thread-safe.
 */
#ifndef KT_JSON_H
#define KT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kt_hist;

#define KT_JSON_MAX_DEPTH 32

struct kt_json {
	FILE *fp;	    /* FILE mode: the output */
	bool file_mode;	    /* else buffer mode */
	char *buf;	    /* buffer mode: the output so far, NUL-terminated */
	size_t len, cap;    /* bytes in buf (without the NUL), allocated */
	int err;	    /* 0, or the first error: -EINVAL, -ENOMEM, -EIO */
	const char *errmsg; /* what went wrong (static string), NULL if nothing */
	unsigned int depth; /* open containers */
	unsigned char state[KT_JSON_MAX_DEPTH + 1]; /* per level, see kt_json.c */
};

void kt_json_init_file(struct kt_json *w, FILE *fp);
void kt_json_init_buf(struct kt_json *w);
/* Frees the buffer (buffer mode); never closes the FILE. */
void kt_json_free(struct kt_json *w);
/* Empties the output buffer and forgets nesting and errors. */
void kt_json_reset(struct kt_json *w);
/* Buffer mode: the output ("" if none); len may be NULL. FILE mode: "". */
const char *kt_json_buf(const struct kt_json *w, size_t *len);

/* 0 or the first error (negative errno); the message is a one-line reason. */
int kt_json_error(const struct kt_json *w);
const char *kt_json_strerror(const struct kt_json *w);
/* True if one complete top-level value was written and nothing failed. */
bool kt_json_complete(const struct kt_json *w);

/* All of these return 0 or the (sticky) error. */
int kt_json_object_begin(struct kt_json *w);
int kt_json_object_end(struct kt_json *w);
int kt_json_array_begin(struct kt_json *w);
int kt_json_array_end(struct kt_json *w);
int kt_json_key(struct kt_json *w, const char *key);
int kt_json_string(struct kt_json *w, const char *s);		  /* NULL writes null */
int kt_json_string_n(struct kt_json *w, const char *s, size_t n); /* may hold NULs */
int kt_json_u64(struct kt_json *w, uint64_t v);
int kt_json_i64(struct kt_json *w, int64_t v);
int kt_json_double(struct kt_json *w, double v); /* NaN/inf: null */
int kt_json_bool(struct kt_json *w, bool v);
int kt_json_null(struct kt_json *w);
/* Ends a JSON-lines record: needs one complete top-level value; writes '\n'. */
int kt_json_eol(struct kt_json *w);

/* key + value in one call */
int kt_json_kv_string(struct kt_json *w, const char *key, const char *s);
int kt_json_kv_u64(struct kt_json *w, const char *key, uint64_t v);
int kt_json_kv_i64(struct kt_json *w, const char *key, int64_t v);
int kt_json_kv_double(struct kt_json *w, const char *key, double v);
int kt_json_kv_bool(struct kt_json *w, const char *key, bool v);

/*
 * A histogram as {"count":N,"rate":R,"min":..,"p50":..,"p90":..,"p99":..,
 * "p999":..,"max":..}: values in ns, rate = count / elapsed_s per second
 * (null if elapsed_s is not > 0). key may be NULL inside an array or at
 * the top level.
 */
int kt_json_hist(struct kt_json *w, const char *key, const struct kt_hist *h, double elapsed_s);

/*
 * The non-empty buckets of a histogram, lowest first, as [[lo_ns, count], ...]:
 * lo_ns is the lowest value of the bucket (kt_hist_bucket_lo; the overflow
 * bucket's is KT_HIST_MAX_VALUE + 1), so kt_hist_record_n(h, lo_ns, count)
 * rebuilds the counts exactly (kaos-trace diff reads them back).
 */
int kt_json_hist_buckets(struct kt_json *w, const char *key, const struct kt_hist *h);

#endif /* KT_JSON_H */
