/* SPDX-License-Identifier: MIT */
/*
 * kt_offcpu's data half (no BPF): records merged by (tgid, tid, stack id),
 * copied stacks, saturating sums, bad input; folding into kt_folded
 * ("[off-cpu];thread;root;...;leaf NS", merged by symbolized stack); the
 * summary (process and thread rows, order, top stacks, cut stacks); the
 * JSON section (same rows, full stacks, counters) and its place at the end
 * of kt_report_json's object.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_agg.h"
#include "kt_folded.h"
#include "kt_json.h"
#include "kt_offcpu.h"
#include "kt_report.h"

/* Table symbolizer: 0xN000..0xN0ff is function fn<N>. */
static int fake_sym(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n)
{
	(void)ctx;
	(void)pid;
	if (addr < 0x1000 || addr >= 0x10000 || (addr & 0xf00))
		return -1;
	snprintf(buf, n, "fn%llu", (unsigned long long)(addr >> 12));
	return 1;
}

static struct kt_offcpu_rec rec(uint32_t tgid, uint32_t tid, int32_t sid, uint64_t ns,
				uint64_t blocks, const char *comm, uint64_t *stack, size_t nframes)
{
	struct kt_offcpu_rec r = {.tgid = tgid,
				  .tid = tid,
				  .stack_id = sid,
				  .ns = ns,
				  .blocks = blocks,
				  .stack = stack,
				  .nframes = nframes};

	snprintf(r.comm, sizeof(r.comm), "%s", comm);
	return r;
}

static char *print_text(const struct kt_offcpu_data *d, size_t top, kt_folded_sym_fn sym)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(kt_offcpu_data_print(d, out, top, 1000, sym, NULL), 0);
	fclose(out);
	return buf;
}

static void test_add_merges_by_thread_and_stack(void **state)
{
	struct kt_offcpu_data d = {0};
	uint64_t st[3] = {0x1010, 0x2010, 0x3010};
	struct kt_offcpu_rec r = rec(10, 11, 5, 100, 1, "consumer", st, 3);

	(void)state;
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	st[0] = 0xdead; /* the record keeps its own copy */
	r = rec(10, 11, 5, 50, 2, "renamed", st, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].ns, 150);
	assert_int_equal(d.v[0].blocks, 3);
	assert_string_equal(d.v[0].comm, "consumer");
	assert_int_equal(d.v[0].nframes, 3);
	assert_int_equal(d.v[0].stack[0], 0x1010);
	assert_int_equal(d.v[0].stack[2], 0x3010);
	/* another thread, another stack id, another process: new records */
	r = rec(10, 12, 5, 7, 1, "producer", st, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, 6, 9, 1, "consumer", st, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(20, 11, 5, 3, 1, "other", NULL, 0);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	assert_int_equal(d.n, 4);
	assert_null(d.v[3].stack);
	/* many records: the array grows */
	for (uint32_t i = 0; i < 300; i++) {
		r = rec(30, 100 + i, 1, 1, 1, "pool", st, 1);
		assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	}
	assert_int_equal(d.n, 304);
	assert_int_equal(d.v[303].tid, 399);
	kt_offcpu_data_free(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.v);
}

static void test_add_bad_input_and_saturation(void **state)
{
	struct kt_offcpu_data d = {0};
	struct kt_offcpu_rec r = rec(1, 1, 1, UINT64_MAX - 10, 1, "t", NULL, 2);

	(void)state;
	assert_int_equal(kt_offcpu_data_add(&d, &r), -EINVAL); /* frames but no stack */
	assert_int_equal(kt_offcpu_data_add(NULL, &r), -EINVAL);
	assert_int_equal(kt_offcpu_data_add(&d, NULL), -EINVAL);
	assert_int_equal(d.n, 0);
	r.nframes = 0;
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r.ns = 100;
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	assert_true(d.v[0].ns == UINT64_MAX);
	kt_offcpu_data_free(&d);
	kt_offcpu_data_free(NULL);
}

static void test_fold_root_first_merged(void **state)
{
	struct kt_offcpu_data d = {0};
	struct kt_folded *f = kt_folded_new();
	uint64_t a[3] = {0x1010, 0x2010, 0x3010}; /* leaf fn1, fn2, root fn3 */
	uint64_t b[3] = {0x1020, 0x2020, 0x3020}; /* another stack id, same functions */
	struct kt_offcpu_rec r;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	assert_non_null(f);
	r = rec(10, 11, 1, 300, 3, "consumer", a, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, 2, 50, 1, "consumer", b, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 12, 1, 200, 2, "producer", a, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, -1, 7, 1, "consumer", NULL, 0);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	assert_int_equal(kt_offcpu_data_fold(&d, f), 4);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	assert_int_equal(kt_folded_write(f, out, KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, fake_sym,
					 NULL),
			 3);
	fclose(out);
	assert_string_equal(buf, "[off-cpu];consumer;[no-stack] 7\n"
				 "[off-cpu];consumer;fn3;fn2;fn1 350\n"
				 "[off-cpu];producer;fn3;fn2;fn1 200\n");
	free(buf);
	kt_folded_free(f);
	kt_offcpu_data_free(&d);
}

static void test_print_rows_and_top_stacks(void **state)
{
	struct kt_offcpu_data d = {0};
	uint64_t a[3] = {0x1010, 0x2010, 0x3010};
	uint64_t deep[8] = {0x1010, 0x2010, 0x3010, 0x4010, 0x5010, 0x6010, 0x7010, 0x8010};
	struct kt_offcpu_rec r;
	char *t, *p;

	(void)state;
	/* pid 10 "app" has a process name; pid 20 not (its heaviest thread names it) */
	r = rec(10, 11, 1, 3000000, 3, "consumer", a, 3); /* 3 ms in 3 blocks */
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 10, 2, 5000000, 1, "main", deep, 8);
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, -1, 1000000, 1, "consumer", NULL, 0);
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(20, 21, 1, 1000000, 4, "other", a, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);

	t = print_text(&d, 10, fake_sym);
	assert_non_null(strstr(t, "(blocks >= 1.00us)"));
	/* pid 10: the process first, then its threads by time */
	p = strstr(t, "  10       all      app                  9.00ms          5     1.80ms\n"
		      "  10       10       main                 5.00ms          1     5.00ms\n"
		      "  10       11       consumer             4.00ms          4     1.00ms\n"
		      "  20       all      other                1.00ms          4   250.00us\n"
		      "  20       21       other                1.00ms          4   250.00us\n");
	assert_non_null(p);
	/* top stacks by time, root first; the 8-frame stack cut to its 6 leaf-most frames */
	p = strstr(t, "      5.00ms   50.0% 10       main             ..;fn6;fn5;fn4;fn3;fn2;fn1\n"
		      "      3.00ms   30.0% 11       consumer         fn3;fn2;fn1\n");
	assert_non_null(p);
	assert_non_null(strstr(t, "   10.0% 11       consumer         [no-stack]\n"));
	assert_non_null(strstr(t, "   10.0% 21       other            fn3;fn2;fn1\n"));
	free(t);

	/* top 1, no symbolizer: raw addresses, return addresses - 1 */
	t = print_text(&d, 1, NULL);
	assert_non_null(strstr(t, "..;0x600f;0x500f;0x400f;0x300f;0x200f;0x1010\n"));
	assert_null(strstr(t, "[no-stack]"));
	free(t);
	kt_offcpu_data_free(&d);

	t = print_text(&d, 10, fake_sym);
	assert_non_null(strstr(t, "(no traced thread blocked)"));
	assert_null(strstr(t, "top stacks"));
	free(t);
}

/* kt_offcpu_data_json inside an object of its own, as a string. */
static char *json_text(const struct kt_offcpu_data *d, const struct kt_offcpu_stats *st, size_t top,
		       kt_folded_sym_fn sym)
{
	struct kt_json w;
	char *s;

	kt_json_init_buf(&w);
	assert_int_equal(kt_json_object_begin(&w), 0);
	assert_int_equal(kt_offcpu_data_json(d, &w, st, 1000, top, sym, NULL), 0);
	assert_int_equal(kt_json_object_end(&w), 0);
	assert_true(kt_json_complete(&w));
	s = strdup(kt_json_buf(&w, NULL));
	assert_non_null(s);
	kt_json_free(&w);
	return s;
}

static void test_json_rows_counters_and_stacks(void **state)
{
	struct kt_offcpu_data d = {0};
	uint64_t a[3] = {0x1010, 0x2010, 0x3010};
	uint64_t deep[8] = {0x1010, 0x2010, 0x3010, 0x4010, 0x5010, 0x6010, 0x7010, 0x8010};
	struct kt_offcpu_stats st = {.sleeps = 12,
				     .blocks = 11,
				     .short_blocks = 3,
				     .in_progress = 1,
				     .stack_err = 1,
				     .start_lost = 4,
				     .lost = 2,
				     .lost_ns = 5000};
	struct kt_offcpu_rec r;
	char *t;

	(void)state;
	/* the same records as the text summary test, "other" first */
	r = rec(20, 21, 1, 1000000, 4, "other", a, 3);
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, 1, 3000000, 3, "consumer", a, 3);
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 10, 2, 5000000, 1, "main", deep, 8);
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	r = rec(10, 11, -1, 1000000, 1, "consumer", NULL, 0);
	strcpy(r.pcomm, "app");
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);

	/* processes by pid, threads by time, top 2 stacks each: every frame, root first */
	t = json_text(&d, &st, 2, fake_sym);
	assert_string_equal(
		t,
		"{\"off_cpu\":{\"min_block_ns\":1000,\"blocked_ns\":10000000,\"blocks\":9,"
		"\"sleeps\":12,\"in_progress\":1,\"short_skipped\":3,\"stack_errors\":1,"
		"\"not_timed\":4,\"lost_blocks\":2,\"lost_ns\":5000,\"processes\":["
		"{\"pid\":10,\"comm\":\"app\",\"blocked_ns\":9000000,\"blocks\":5,\"threads\":["
		"{\"tid\":10,\"comm\":\"main\",\"blocked_ns\":5000000,\"blocks\":1},"
		"{\"tid\":11,\"comm\":\"consumer\",\"blocked_ns\":4000000,\"blocks\":4}],"
		"\"stack_count\":3,\"top_stacks\":["
		"{\"tid\":10,\"comm\":\"main\",\"blocked_ns\":5000000,\"blocks\":1,\"frames\":"
		"[\"fn8\",\"fn7\",\"fn6\",\"fn5\",\"fn4\",\"fn3\",\"fn2\",\"fn1\"]},"
		"{\"tid\":11,\"comm\":\"consumer\",\"blocked_ns\":3000000,\"blocks\":3,"
		"\"frames\":[\"fn3\",\"fn2\",\"fn1\"]}]},"
		"{\"pid\":20,\"comm\":\"other\",\"blocked_ns\":1000000,\"blocks\":4,\"threads\":["
		"{\"tid\":21,\"comm\":\"other\",\"blocked_ns\":1000000,\"blocks\":4}],"
		"\"stack_count\":1,\"top_stacks\":["
		"{\"tid\":21,\"comm\":\"other\",\"blocked_ns\":1000000,\"blocks\":4,\"frames\":"
		"[\"fn3\",\"fn2\",\"fn1\"]}]}]}}");
	free(t);

	/* no symbolizer, no counters, top 3: raw addresses (return addresses - 1), empty stacks */
	t = json_text(&d, NULL, 3, NULL);
	assert_null(strstr(t, "\"sleeps\""));
	assert_non_null(strstr(t, "\"blocks\":9,\"processes\":"));
	assert_non_null(strstr(t, "\"frames\":[\"0x300f\",\"0x200f\",\"0x1010\"]"));
	assert_non_null(strstr(t, "{\"tid\":11,\"comm\":\"consumer\",\"blocked_ns\":1000000,"
				  "\"blocks\":1,\"frames\":[]}"));
	free(t);

	/* top 0: totals and threads, no stacks */
	t = json_text(&d, NULL, 0, fake_sym);
	assert_null(strstr(t, "\"frames\""));
	assert_non_null(strstr(t, "\"stack_count\":3,\"top_stacks\":[]"));
	free(t);
	kt_offcpu_data_free(&d);

	t = json_text(&d, &st, 10, fake_sym);
	assert_non_null(strstr(t, "\"blocked_ns\":0,\"blocks\":0,\"sleeps\":12,"));
	assert_non_null(strstr(t, "\"processes\":[]}}"));
	free(t);
}

/* kt_report_totals.json_extra: a one-record off_cpu section. */
static int extra_off_cpu(struct kt_json *w, void *ctx)
{
	return kt_offcpu_data_json(ctx, w, NULL, 5000, 10, fake_sym, NULL);
}

static void test_json_in_report(void **state)
{
	struct kt_offcpu_data d = {0};
	uint64_t a[2] = {0x1010, 0x2010};
	struct kt_offcpu_rec r = rec(7, 8, 1, 42000, 2, "waiter", a, 2);
	struct kt_report_totals t = {
		.elapsed_s = 1, .json_extra = extra_off_cpu, .json_extra_ctx = &d};
	struct kt_agg agg;
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *m;

	(void)state;
	assert_int_equal(kt_offcpu_data_add(&d, &r), 0);
	kt_agg_init(&agg, 0);
	m = open_memstream(&buf, &len);
	assert_non_null(m);
	kt_report_json(m, &agg, &t, false);
	fclose(m);
	/* a member of the top-level object, after "processes", and the line ends there */
	p = strstr(buf,
		   "\"processes\":[],\"off_cpu\":{\"min_block_ns\":5000,\"blocked_ns\":42000,");
	assert_non_null(p);
	assert_non_null(strstr(p, "\"frames\":[\"fn2\",\"fn1\"]}]}]}}\n"));
	assert_ptr_equal(strchr(buf, '\n'), buf + len - 1); /* one line */
	free(buf);
	kt_agg_free(&agg);
	kt_offcpu_data_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_merges_by_thread_and_stack),
		cmocka_unit_test(test_add_bad_input_and_saturation),
		cmocka_unit_test(test_fold_root_first_merged),
		cmocka_unit_test(test_print_rows_and_top_stacks),
		cmocka_unit_test(test_json_rows_counters_and_stacks),
		cmocka_unit_test(test_json_in_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
