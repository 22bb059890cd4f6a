/* SPDX-License-Identifier: MIT */
#include "kt_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt_array.h"
#include "kt_hist.h"

/* What each nesting level expects next. */
enum {
	TOP_EMPTY = 0, /* depth 0: a value may start */
	TOP_DONE,      /* depth 0: a value was written, kt_json_eol next */
	OBJ_EMPTY,     /* in {}: a key or the end */
	OBJ_MORE,      /* in {} after a member: ',' key or the end */
	OBJ_KEY,       /* in {} after a key: a value */
	ARR_EMPTY,     /* in []: a value or the end */
	ARR_MORE,      /* in [] after a value: ',' value or the end */
};

static int fail(struct kt_json *w, int err, const char *msg)
{
	if (!w->err) {
		w->err = err;
		w->errmsg = msg;
	}
	return w->err;
}

void kt_json_init_file(struct kt_json *w, FILE *fp)
{
	memset(w, 0, sizeof(*w));
	w->fp = fp;
	w->file_mode = true;
	if (!fp)
		fail(w, -EINVAL, "no output FILE");
}

void kt_json_init_buf(struct kt_json *w)
{
	memset(w, 0, sizeof(*w));
}

void kt_json_free(struct kt_json *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

void kt_json_reset(struct kt_json *w)
{
	w->len = 0;
	if (w->buf)
		w->buf[0] = '\0';
	w->err = 0;
	w->errmsg = NULL;
	w->depth = 0;
	w->state[0] = TOP_EMPTY;
	if (w->file_mode && !w->fp)
		fail(w, -EINVAL, "no output FILE"); /* stays unusable: put() needs a FILE */
}

const char *kt_json_buf(const struct kt_json *w, size_t *len)
{
	if (len)
		*len = w->file_mode ? 0 : w->len;
	return (!w->file_mode && w->buf) ? w->buf : "";
}

int kt_json_error(const struct kt_json *w)
{
	return w->err;
}

const char *kt_json_strerror(const struct kt_json *w)
{
	return w->err ? w->errmsg : "no error";
}

bool kt_json_complete(const struct kt_json *w)
{
	return !w->err && w->depth == 0 && w->state[0] == TOP_DONE;
}

static void put(struct kt_json *w, const char *s, size_t n)
{
	if (w->err || n == 0)
		return;
	if (w->file_mode) {
		if (fwrite(s, 1, n, w->fp) != n)
			fail(w, -EIO, "write failed");
		return;
	}
	if (n >= SIZE_MAX / 2 - w->len) {
		fail(w, -ENOMEM, "output too large");
		return;
	}
	if (kt_array_reserve(w->buf, w->cap, w->len + n + 1)) { /* keep room for the NUL */
		fail(w, -ENOMEM, "out of memory");
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* Checks that a value may come here and writes the comma before it. */
static int before_value(struct kt_json *w)
{
	if (w->err)
		return w->err;
	switch (w->state[w->depth]) {
	case TOP_EMPTY:
	case OBJ_KEY:
	case ARR_EMPTY:
		return 0;
	case ARR_MORE:
		put(w, ",", 1);
		return w->err;
	case TOP_DONE:
		return fail(w, -EINVAL, "second top-level value without kt_json_eol");
	default:
		return fail(w, -EINVAL, "value in an object without a key");
	}
}

static void after_value(struct kt_json *w)
{
	unsigned char *st = &w->state[w->depth];
	*st = *st == TOP_EMPTY ? TOP_DONE : *st == OBJ_KEY ? OBJ_MORE : ARR_MORE;
}

static int begin(struct kt_json *w, char open, unsigned char state)
{
	if (before_value(w))
		return w->err;
	if (w->depth >= KT_JSON_MAX_DEPTH)
		return fail(w, -EINVAL, "nesting deeper than KT_JSON_MAX_DEPTH");
	put(w, &open, 1);
	w->state[++w->depth] = state;
	return w->err;
}

static int end(struct kt_json *w, char close, bool object)
{
	if (w->err)
		return w->err;
	if (w->depth == 0)
		return fail(w, -EINVAL, "end without an open object or array");
	unsigned char st = w->state[w->depth];
	if (st == OBJ_KEY)
		return fail(w, -EINVAL, "key without a value");
	if (object != (st == OBJ_EMPTY || st == OBJ_MORE))
		return fail(w, -EINVAL,
			    object ? "object end inside an array" : "array end inside an object");
	put(w, &close, 1);
	w->depth--;
	after_value(w);
	return w->err;
}

int kt_json_object_begin(struct kt_json *w)
{
	return begin(w, '{', OBJ_EMPTY);
}

int kt_json_object_end(struct kt_json *w)
{
	return end(w, '}', true);
}

int kt_json_array_begin(struct kt_json *w)
{
	return begin(w, '[', ARR_EMPTY);
}

int kt_json_array_end(struct kt_json *w)
{
	return end(w, ']', false);
}

/*
 * Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or
 * minus the length of its maximal invalid subpart (at least 1 byte).
 */
static long utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* > U+10FFFF */
	} else {
		return -1; /* stray continuation, C0/C1, F5..FF */
	}
	for (size_t j = 1; j <= need; j++) {
		if (j >= n || s[j] < lo || s[j] > hi)
			return -(long)j;
		lo = 0x80;
		hi = 0xbf;
	}
	return (long)need + 1;
}

static void put_escaped(struct kt_json *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0; /* s[run..i) is pending, copied as is */

	put(w, "\"", 1);
	while (i < n && !w->err) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			long len = utf8_seq(s + i, n - i);
			if (len > 0) {
				i += (size_t)len;
				continue;
			}
			put(w, (const char *)s + run, i - run);
			put(w, "\\ufffd", 6);
			i += (size_t)-len;
			run = i;
			continue;
		}
		put(w, (const char *)s + run, i - run);
		char esc[8];
		switch (c) {
		case '"':
			put(w, "\\\"", 2);
			break;
		case '\\':
			put(w, "\\\\", 2);
			break;
		case '\b':
			put(w, "\\b", 2);
			break;
		case '\f':
			put(w, "\\f", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		}
		run = ++i;
	}
	put(w, (const char *)s + run, i - run);
	put(w, "\"", 1);
}

int kt_json_key(struct kt_json *w, const char *key)
{
	if (w->err)
		return w->err;
	unsigned char *st = &w->state[w->depth];
	if (*st == OBJ_KEY)
		return fail(w, -EINVAL, "two keys in a row");
	if (*st != OBJ_EMPTY && *st != OBJ_MORE)
		return fail(w, -EINVAL, "key outside an object");
	if (!key)
		return fail(w, -EINVAL, "NULL key");
	if (*st == OBJ_MORE)
		put(w, ",", 1);
	put_escaped(w, key, strlen(key));
	put(w, ":", 1);
	*st = OBJ_KEY;
	return w->err;
}

/* Writes one scalar token after the structural checks. */
static int scalar(struct kt_json *w, const char *tok, size_t n)
{
	if (before_value(w))
		return w->err;
	put(w, tok, n);
	after_value(w);
	return w->err;
}

int kt_json_string_n(struct kt_json *w, const char *s, size_t n)
{
	if (!s)
		return kt_json_null(w);
	if (before_value(w))
		return w->err;
	put_escaped(w, s, n);
	after_value(w);
	return w->err;
}

int kt_json_string(struct kt_json *w, const char *s)
{
	return kt_json_string_n(w, s, s ? strlen(s) : 0);
}

int kt_json_u64(struct kt_json *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);
	return scalar(w, b, (size_t)n);
}

int kt_json_i64(struct kt_json *w, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);
	return scalar(w, b, (size_t)n);
}

int kt_json_double(struct kt_json *w, double v)
{
	char b[40];

	if (!isfinite(v))
		return kt_json_null(w);
	/* %.15g reads nicely (0.1 stays 0.1); fall back to 17 digits when it loses bits */
	snprintf(b, sizeof(b), "%.15g", v);
	if (strtod(b, NULL) != v)
		snprintf(b, sizeof(b), "%.17g", v);
	for (char *p = b; *p; p++)
		if (*p == ',')
			*p = '.'; /* a locale with a decimal comma */
	return scalar(w, b, strlen(b));
}

int kt_json_bool(struct kt_json *w, bool v)
{
	return v ? scalar(w, "true", 4) : scalar(w, "false", 5);
}

int kt_json_null(struct kt_json *w)
{
	return scalar(w, "null", 4);
}

int kt_json_eol(struct kt_json *w)
{
	if (w->err)
		return w->err;
	if (w->depth != 0)
		return fail(w, -EINVAL, "end of line inside an object or array");
	if (w->state[0] != TOP_DONE)
		return fail(w, -EINVAL, "end of line without a value");
	put(w, "\n", 1);
	w->state[0] = TOP_EMPTY;
	return w->err;
}

int kt_json_kv_string(struct kt_json *w, const char *key, const char *s)
{
	return kt_json_key(w, key) ? w->err : kt_json_string(w, s);
}

int kt_json_kv_u64(struct kt_json *w, const char *key, uint64_t v)
{
	return kt_json_key(w, key) ? w->err : kt_json_u64(w, v);
}

int kt_json_kv_i64(struct kt_json *w, const char *key, int64_t v)
{
	return kt_json_key(w, key) ? w->err : kt_json_i64(w, v);
}

int kt_json_kv_double(struct kt_json *w, const char *key, double v)
{
	return kt_json_key(w, key) ? w->err : kt_json_double(w, v);
}

int kt_json_kv_bool(struct kt_json *w, const char *key, bool v)
{
	return kt_json_key(w, key) ? w->err : kt_json_bool(w, v);
}

int kt_json_hist(struct kt_json *w, const char *key, const struct kt_hist *h, double elapsed_s)
{
	struct kt_hist_summary s;

	if (key && kt_json_key(w, key))
		return w->err;
	kt_hist_summary(h, &s);
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "count", s.count);
	if (elapsed_s > 0 && isfinite(elapsed_s))
		kt_json_kv_double(w, "rate", (double)s.count / elapsed_s);
	else if (!kt_json_key(w, "rate"))
		kt_json_null(w);
	kt_json_kv_u64(w, "min", s.min);
	kt_json_kv_u64(w, "p50", s.p50);
	kt_json_kv_u64(w, "p90", s.p90);
	kt_json_kv_u64(w, "p99", s.p99);
	kt_json_kv_u64(w, "p999", s.p999);
	kt_json_kv_u64(w, "max", s.max);
	return kt_json_object_end(w);
}

int kt_json_hist_buckets(struct kt_json *w, const char *key, const struct kt_hist *h)
{
	if (key && kt_json_key(w, key))
		return w->err;
	kt_json_array_begin(w);
	for (size_t i = 0; i <= KT_HIST_OVERFLOW && !w->err; i++) {
		if (!h->counts[i])
			continue;
		kt_json_array_begin(w);
		kt_json_u64(w, kt_hist_bucket_lo(i));
		kt_json_u64(w, h->counts[i]);
		kt_json_array_end(w);
	}
	return kt_json_array_end(w);
}
