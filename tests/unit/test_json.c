/* SPDX-License-Identifier: MIT */
/* kt_json: exact output for nesting, escaping, UTF-8 repair, numbers, misuse and I/O errors. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_hist.h"
#include "kt_json.h"
#include "kt_report.h"
#include "kt_test_events.h"

static void check_buf(struct kt_json *w, const char *want)
{
	size_t len;
	const char *got = kt_json_buf(w, &len);
	assert_int_equal(kt_json_error(w), 0);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
}

/* One string value written alone must come out as `want`. */
static void check_string(const char *in, size_t n, const char *want)
{
	struct kt_json w;
	kt_json_init_buf(&w);
	assert_int_equal(kt_json_string_n(&w, in, n), 0);
	check_buf(&w, want);
	kt_json_free(&w);
}

static void test_nesting(void **state)
{
	(void)state;
	struct kt_json w;
	kt_json_init_buf(&w);
	assert_string_equal(kt_json_buf(&w, NULL), "");
	assert_false(kt_json_complete(&w));

	kt_json_object_begin(&w);
	kt_json_kv_u64(&w, "a", 1);
	kt_json_key(&w, "b");
	kt_json_array_begin(&w);
	kt_json_bool(&w, true);
	kt_json_bool(&w, false);
	kt_json_null(&w);
	kt_json_array_begin(&w);
	kt_json_array_end(&w);
	kt_json_object_begin(&w);
	kt_json_object_end(&w);
	kt_json_array_end(&w);
	kt_json_key(&w, "c");
	kt_json_object_begin(&w);
	kt_json_kv_string(&w, "d", "x");
	kt_json_key(&w, "e");
	kt_json_array_begin(&w);
	kt_json_i64(&w, 1);
	kt_json_array_begin(&w);
	kt_json_i64(&w, 2);
	kt_json_array_begin(&w);
	kt_json_i64(&w, 3);
	kt_json_array_end(&w);
	kt_json_array_end(&w);
	kt_json_array_end(&w);
	kt_json_object_end(&w);
	kt_json_kv_bool(&w, "f", true);
	kt_json_kv_string(&w, "g", NULL);
	assert_false(kt_json_complete(&w));
	assert_int_equal(kt_json_object_end(&w), 0);
	assert_true(kt_json_complete(&w));
	check_buf(&w, "{\"a\":1,\"b\":[true,false,null,[],{}],"
		      "\"c\":{\"d\":\"x\",\"e\":[1,[2,[3]]]},\"f\":true,\"g\":null}");
	assert_int_equal(kt_json_eol(&w), 0);
	assert_false(kt_json_complete(&w));

	/* JSON lines: the next record starts right after the newline */
	kt_json_array_begin(&w);
	kt_json_string(&w, "second");
	kt_json_array_end(&w);
	kt_json_eol(&w);
	kt_json_u64(&w, 3); /* a scalar is a valid top-level value too */
	kt_json_eol(&w);
	check_buf(&w, "{\"a\":1,\"b\":[true,false,null,[],{}],"
		      "\"c\":{\"d\":\"x\",\"e\":[1,[2,[3]]]},\"f\":true,\"g\":null}\n"
		      "[\"second\"]\n3\n");
	kt_json_free(&w);
	kt_json_free(&w); /* idempotent */
}

static void test_escaping(void **state)
{
	(void)state;
	check_string("", 0, "\"\"");
	check_string("plain text 123", 14, "\"plain text 123\"");
	check_string("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
	check_string("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	check_string("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\""); /* DEL is legal JSON */
	check_string("a\0b", 3, "\"a\\u0000b\"");		   /* embedded NUL */

	/* keys are escaped the same way */
	struct kt_json w;
	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	kt_json_kv_u64(&w, "k\"\n", 1);
	kt_json_object_end(&w);
	check_buf(&w, "{\"k\\\"\\n\":1}");
	kt_json_free(&w);
}

static void test_utf8(void **state)
{
	(void)state;
	/* well-formed: é (2 bytes), € (3), U+10FFFF and 😀 (4) pass unchanged */
	check_string("\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf\xf0\x9f\x98\x80", 13,
		     "\"\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf\xf0\x9f\x98\x80\"");
	/* stray continuation byte, C0/C1 leads, F5..FF */
	check_string("a\x80"
		     "b",
		     3, "\"a\\ufffdb\"");
	check_string("\xc0\xaf", 2, "\"\\ufffd\\ufffd\""); /* overlong '/' */
	check_string("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"");
	check_string("\xf5\xff", 2, "\"\\ufffd\\ufffd\"");
	/* truncated sequences: one replacement per maximal subpart */
	check_string("\xe2\x82"
		     "A",
		     3, "\"\\ufffdA\"");
	check_string("x\xf0\x9f\x98", 4, "\"x\\ufffd\"");
	check_string("\xc3", 1, "\"\\ufffd\"");
	/* surrogate U+D800 and U+110000 are not UTF-8 */
	check_string("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");
	check_string("\xed\x9f\xbf", 3, "\"\xed\x9f\xbf\""); /* U+D7FF is fine */
	check_string("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_string("\xf0\x8f\xbf\xbf", 4,
		     "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* overlong U+FFFF */
	/* a control character right after a multi-byte character */
	check_string("\xc3\xa9\n\xc3\xa9", 5, "\"\xc3\xa9\\n\xc3\xa9\"");
}

static void test_numbers(void **state)
{
	(void)state;
	struct kt_json w;
	kt_json_init_buf(&w);
	kt_json_array_begin(&w);
	kt_json_u64(&w, 0);
	kt_json_u64(&w, UINT64_MAX);
	kt_json_i64(&w, -1);
	kt_json_i64(&w, INT64_MIN);
	kt_json_i64(&w, INT64_MAX);
	kt_json_double(&w, 0.1);
	kt_json_double(&w, 1.0 / 3);
	kt_json_double(&w, 1234.5);
	kt_json_double(&w, 30.0);
	kt_json_double(&w, -0.0);
	kt_json_double(&w, 1e300);
	kt_json_double(&w, 5e-324);
	kt_json_double(&w, NAN);
	kt_json_double(&w, INFINITY);
	kt_json_double(&w, -INFINITY);
	kt_json_array_end(&w);
	check_buf(&w, "[0,18446744073709551615,-1,-9223372036854775808,9223372036854775807,"
		      "0.1,0.33333333333333331,1234.5,30,-0,1e+300,4.94065645841247e-324,"
		      "null,null,null]");
	kt_json_free(&w);
}

typedef void (*misuse_fn)(struct kt_json *w);

static void mis_value_without_key(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_u64(w, 1);
}

static void mis_key_in_array(struct kt_json *w)
{
	kt_json_array_begin(w);
	kt_json_key(w, "k");
}

static void mis_key_at_top(struct kt_json *w)
{
	kt_json_key(w, "k");
}

static void mis_two_keys(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_key(w, "a");
	kt_json_key(w, "b");
}

static void mis_key_then_end(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_key(w, "a");
	kt_json_object_end(w);
}

static void mis_wrong_end(struct kt_json *w)
{
	kt_json_array_begin(w);
	kt_json_object_end(w);
}

static void mis_wrong_end2(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_array_end(w);
}

static void mis_end_at_top(struct kt_json *w)
{
	kt_json_array_end(w);
}

static void mis_two_top_values(struct kt_json *w)
{
	kt_json_u64(w, 1);
	kt_json_u64(w, 2);
}

static void mis_eol_open(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_eol(w);
}

static void mis_eol_empty(struct kt_json *w)
{
	kt_json_eol(w);
}

static void mis_null_key(struct kt_json *w)
{
	kt_json_object_begin(w);
	kt_json_key(w, NULL);
}

static void mis_hist_without_key(struct kt_json *w)
{
	static struct kt_hist h;
	kt_hist_init(&h);
	kt_json_object_begin(w);
	kt_json_hist(w, NULL, &h, 1.0);
}

static void mis_too_deep(struct kt_json *w)
{
	for (int i = 0; i < KT_JSON_MAX_DEPTH + 1; i++)
		kt_json_array_begin(w);
}

static void test_misuse(void **state)
{
	(void)state;
	static const struct {
		misuse_fn fn;
		const char *out; /* what was written before the error */
	} cases[] = {
		{mis_value_without_key, "{"},
		{mis_key_in_array, "["},
		{mis_key_at_top, ""},
		{mis_two_keys, "{\"a\":"},
		{mis_key_then_end, "{\"a\":"},
		{mis_wrong_end, "["},
		{mis_wrong_end2, "{"},
		{mis_end_at_top, ""},
		{mis_two_top_values, "1"},
		{mis_eol_open, "{"},
		{mis_eol_empty, ""},
		{mis_null_key, "{"},
		{mis_hist_without_key, "{"},
		{mis_too_deep, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}, /* KT_JSON_MAX_DEPTH */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_json w;
		kt_json_init_buf(&w);
		cases[i].fn(&w);
		assert_int_equal(kt_json_error(&w), -EINVAL);
		assert_non_null(kt_json_strerror(&w));
		assert_true(strlen(kt_json_strerror(&w)) > 0);
		assert_string_equal(kt_json_buf(&w, NULL), cases[i].out);
		assert_false(kt_json_complete(&w));

		/* sticky: nothing more is written, every call reports the error */
		assert_int_equal(kt_json_u64(&w, 5), -EINVAL);
		assert_int_equal(kt_json_object_end(&w), -EINVAL);
		assert_int_equal(kt_json_eol(&w), -EINVAL);
		assert_string_equal(kt_json_buf(&w, NULL), cases[i].out);

		/* reset: usable again */
		kt_json_reset(&w);
		assert_int_equal(kt_json_error(&w), 0);
		assert_string_equal(kt_json_strerror(&w), "no error");
		kt_json_u64(&w, 7);
		check_buf(&w, "7");
		kt_json_free(&w);
	}

	/* exactly KT_JSON_MAX_DEPTH levels are fine */
	struct kt_json w;
	kt_json_init_buf(&w);
	for (int i = 0; i < KT_JSON_MAX_DEPTH; i++)
		kt_json_array_begin(&w);
	for (int i = 0; i < KT_JSON_MAX_DEPTH; i++)
		kt_json_array_end(&w);
	assert_true(kt_json_complete(&w));
	assert_int_equal(kt_json_buf(&w, NULL)[KT_JSON_MAX_DEPTH - 1], '[');
	assert_int_equal(kt_json_buf(&w, NULL)[KT_JSON_MAX_DEPTH], ']');
	kt_json_free(&w);

	kt_json_init_file(&w, NULL);
	assert_int_equal(kt_json_error(&w), -EINVAL);
	kt_json_reset(&w); /* still no FILE: stays an error, never falls back to the heap */
	assert_int_equal(kt_json_u64(&w, 1), -EINVAL);
	assert_null(w.buf);
}

static void test_file_output(void **state)
{
	(void)state;
	char *mem = NULL;
	size_t memlen = 0;
	FILE *fp = open_memstream(&mem, &memlen);
	assert_non_null(fp);

	struct kt_json w;
	kt_json_init_file(&w, fp);
	for (int rec = 0; rec < 2; rec++) {
		kt_json_object_begin(&w);
		kt_json_kv_i64(&w, "rec", rec);
		kt_json_kv_double(&w, "x", 0.5 * rec);
		kt_json_object_end(&w);
		kt_json_eol(&w);
	}
	assert_int_equal(kt_json_error(&w), 0);
	size_t len = 99;
	assert_string_equal(kt_json_buf(&w, &len), "");
	assert_int_equal(len, 0);
	kt_json_free(&w);
	assert_int_equal(fclose(fp), 0);
	assert_string_equal(mem, "{\"rec\":0,\"x\":0}\n{\"rec\":1,\"x\":0.5}\n");
	free(mem);
}

static void test_write_error(void **state)
{
	(void)state;
	char mem[8];
	FILE *fp = fmemopen(mem, sizeof(mem), "w");
	assert_non_null(fp);
	setvbuf(fp, NULL, _IONBF, 0); /* fail at the write, not at a later flush */

	struct kt_json w;
	kt_json_init_file(&w, fp);
	kt_json_array_begin(&w);
	for (int i = 0; i < 10; i++)
		kt_json_u64(&w, 1000000);
	assert_int_equal(kt_json_error(&w), -EIO);
	assert_int_equal(kt_json_array_end(&w), -EIO);
	fclose(fp);
}

static void test_growth_and_reset(void **state)
{
	(void)state;
	enum { N = 5000 };
	char *want = malloc(N * 24 + 8);
	assert_non_null(want);
	size_t off = 0;
	want[off++] = '[';
	for (uint64_t i = 0; i < N; i++)
		off += (size_t)sprintf(want + off, "%s%llu", i ? "," : "",
				       (unsigned long long)(i * 1000003));
	want[off++] = ']';
	want[off] = '\0';

	struct kt_json w;
	kt_json_init_buf(&w);
	kt_json_array_begin(&w);
	for (uint64_t i = 0; i < N; i++)
		kt_json_u64(&w, i * 1000003);
	kt_json_array_end(&w);
	check_buf(&w, want);
	assert_true(w.cap > off);

	kt_json_free(&w);

	/* every output length around the growth steps, incl. exactly full (sanitizers watch) */
	char text[600];
	memset(text, 'x', sizeof(text));
	for (size_t n = 0; n + 2 <= sizeof(text); n++) {
		kt_json_init_buf(&w);
		kt_json_string_n(&w, text, n);
		size_t len;
		const char *got = kt_json_buf(&w, &len);
		assert_int_equal(len, n + 2);
		assert_int_equal(got[0], '"');
		assert_int_equal(got[n + 1], '"');
		assert_int_equal(got[n + 2], '\0');
		assert_int_equal(strspn(got + 1, "x"), n);
		kt_json_free(&w);
	}

	kt_json_init_buf(&w);
	kt_json_array_begin(&w);
	kt_json_array_end(&w);
	kt_json_reset(&w);
	assert_string_equal(kt_json_buf(&w, NULL), "");
	kt_json_string(&w, "again");
	check_buf(&w, "\"again\"");
	kt_json_free(&w);
	free(want);
}

static void test_hist_json(void **state)
{
	(void)state;
	static struct kt_hist h, empty;
	kt_hist_init(&h);
	kt_hist_init(&empty);
	for (uint64_t v = 1; v <= 60; v++)
		kt_hist_record(&h, v); /* the exact region: every percentile is a known integer */

	struct kt_json w;
	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	kt_json_hist(&w, "lat", &h, 2.0);
	kt_json_hist(&w, "idle", &empty, 0.0);
	kt_json_key(&w, "list");
	kt_json_array_begin(&w);
	kt_json_hist(&w, NULL, &h, 0.5);
	kt_json_array_end(&w);
	kt_json_object_end(&w);
	check_buf(&w, "{\"lat\":{\"count\":60,\"rate\":30,\"min\":1,\"p50\":30,\"p90\":54,"
		      "\"p99\":60,\"p999\":60,\"max\":60},"
		      "\"idle\":{\"count\":0,\"rate\":null,\"min\":0,\"p50\":0,\"p90\":0,"
		      "\"p99\":0,\"p999\":0,\"max\":0},"
		      "\"list\":[{\"count\":60,\"rate\":120,\"min\":1,\"p50\":30,\"p90\":54,"
		      "\"p99\":60,\"p999\":60,\"max\":60}]}");
	kt_json_free(&w);
}

/* kt_report_json's output as a string (malloc'd). */
static char *report_json(const struct kt_agg *a, const struct kt_report_totals *t, bool iv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	kt_report_json(f, a, t, iv);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static char *report_text(const struct kt_agg *a, const struct kt_report_totals *t, bool iv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	kt_report_text(f, a, t, false, iv);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Every figure set says whether its counts are exact: only without any loss since attach. */
/* The non-empty buckets, lowest first, as [lo, count]; they rebuild the same histogram. */
static void test_hist_buckets_json(void **state)
{
	(void)state;
	static struct kt_hist h, back, empty;
	kt_hist_init(&h);
	kt_hist_init(&back);
	kt_hist_init(&empty);
	kt_hist_record_n(&h, 5, 3);
	kt_hist_record(&h, 100);		   /* bucket [100, 101] */
	kt_hist_record(&h, 101);		   /* same bucket */
	kt_hist_record(&h, KT_HIST_MAX_VALUE + 7); /* overflow */

	struct kt_json w;
	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	kt_json_hist_buckets(&w, "b", &h);
	kt_json_hist_buckets(&w, "e", &empty);
	kt_json_object_end(&w);
	check_buf(&w, "{\"b\":[[5,3],[100,2],[100000000001,1]],\"e\":[]}");
	kt_json_free(&w);
	kt_hist_record_n(&back, 5, 3);
	kt_hist_record_n(&back, 100, 2);
	kt_hist_record_n(&back, KT_HIST_MAX_VALUE + 1, 1);
	assert_memory_equal(back.counts, h.counts, sizeof(h.counts));
}

static void test_report_counts_exact(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals t = {.fired = 4, .delivered = 4, .elapsed_s = 1, .interval_s = 1};
	char *s;

	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 4, 100, 0);
	s = report_json(&a, &t, false);
	assert_non_null(strstr(s, "\"lost\":0,\"counts_exact\":true,"));
	assert_null(strstr(s, "lost_interval"));
	free(s);
	s = report_text(&a, &t, false);
	assert_non_null(strstr(s, "events lost: 0; counts exact\n"));
	free(s);

	/* 3 lost before this interval, 2 in it */
	t.lost = 5;
	t.lost_iv0 = 3;
	t.delivered = 4;
	t.fired = 9;
	s = report_json(&a, &t, true);
	assert_non_null(strstr(s, "\"lost\":5,\"lost_interval\":2,\"counts_exact\":false,"));
	free(s);
	s = report_json(&a, &t, false);
	assert_non_null(strstr(s, "\"lost\":5,\"counts_exact\":false,"));
	free(s);
	s = report_text(&a, &t, false);
	assert_non_null(strstr(s, "events lost: 5; counts are lower bounds\n"));
	assert_null(strstr(s, "counts exact"));
	free(s);
	s = report_text(&a, &t, true);
	assert_non_null(strstr(s, "events lost: 5 (2 in this interval); counts not exact"));
	free(s);
	/* a loss before this interval only: still not exact (the interval may catch up) */
	t.lost_iv0 = 5;
	s = report_json(&a, &t, true);
	assert_non_null(strstr(s, "\"lost_interval\":0,\"counts_exact\":false,"));
	free(s);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_file_output),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_growth_and_reset),
		cmocka_unit_test(test_hist_json),
		cmocka_unit_test(test_hist_buckets_json),
		cmocka_unit_test(test_report_counts_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
