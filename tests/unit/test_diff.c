/* SPDX-License-Identifier: MIT */
/*
 * kt_diff: verdicts on synthetic histograms (identical, shifted with many
 * samples, shifted with few, run-to-run spread), added/removed series, the
 * --fail-if-slower gate and its argument, and reading --json files back
 * (reports, files of another kind, empty runs).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_diff.h"
#include "kt_diff_cmd.h"

/* n values spread evenly over [base - base/10, base + base/10). */
static void spread(struct kt_hist *h, uint64_t base, uint64_t n)
{
	uint64_t k = n < 1000 ? n : 1000;

	kt_hist_init(h);
	for (uint64_t i = 0; i < n; i++)
		kt_hist_record(h, base - base / 10 + (i % k) * (base / 5) / k);
}

/* One run per entry of bases (0: the series is absent from that run). */
static void add_side(struct kt_diff *d, enum kt_diff_side side, const uint64_t *bases, int nruns,
		     uint64_t n)
{
	static struct kt_hist h;

	for (int i = 0; i < nruns; i++) {
		struct kt_diff_run r;

		kt_diff_run_init(&r);
		if (bases[i]) {
			spread(&h, bases[i], n);
			assert_int_equal(kt_diff_run_add(&r, "app", "work.0", "send", &h, n), 0);
		}
		assert_int_equal(kt_diff_add_run(d, side, &r), 0);
		kt_diff_run_free(&r);
	}
}

static enum kt_diff_verdict verdict_of(const uint64_t *before, int nb, const uint64_t *after,
				       int na, uint64_t n)
{
	struct kt_diff d;
	enum kt_diff_verdict v;

	kt_diff_init(&d);
	add_side(&d, KT_DIFF_BEFORE, before, nb, n);
	add_side(&d, KT_DIFF_AFTER, after, na, n);
	kt_diff_compute(&d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].presence, KT_DIFF_BOTH);
	v = d.v[0].verdict;
	kt_diff_free(&d);
	return v;
}

static void test_identical_no_change(void **state)
{
	(void)state;
	uint64_t b[] = {10000};

	assert_int_equal(verdict_of(b, 1, b, 1, 100000), KT_DIFF_SAME);
}

static void test_shift_many_samples(void **state)
{
	(void)state;
	uint64_t b[] = {10000}, slow[] = {11000}, fast[] = {9000};
	struct kt_diff d;

	assert_int_equal(verdict_of(b, 1, slow, 1, 100000), KT_DIFF_SLOWER);
	assert_int_equal(verdict_of(b, 1, fast, 1, 100000), KT_DIFF_FASTER);
	kt_diff_init(&d);
	add_side(&d, KT_DIFF_BEFORE, b, 1, 100000);
	add_side(&d, KT_DIFF_AFTER, slow, 1, 100000);
	kt_diff_compute(&d);
	/* 10 %, within the buckets' resolution (a bucket is 1/32 wide) */
	assert_true(d.v[0].q[0].change > 0.05 && d.v[0].q[0].change < 0.15);
	assert_true(d.v[0].q[0].change_lo > 0.05);
	assert_true(kt_diff_gate(&d, 5, 0));   /* more than 5 % slower at p50 */
	assert_false(kt_diff_gate(&d, 20, 0)); /* not 20 % */
	assert_true(kt_diff_gate(&d, 5, 3));
	kt_diff_free(&d);
}

static void test_shift_few_samples(void **state)
{
	(void)state;
	uint64_t b[] = {10000}, slow[] = {11000};

	/* 10 % with 10 samples a side: within the order-statistic bounds */
	assert_int_equal(verdict_of(b, 1, slow, 1, 10), KT_DIFF_SAME);
	assert_int_equal(verdict_of(b, 1, slow, 1, 1), KT_DIFF_SAME);
}

static void test_run_spread(void **state)
{
	(void)state;
	uint64_t noisy[] = {10000, 11500, 9000}, mid[] = {10500, 10400, 10600};
	uint64_t steady[] = {10000, 10050, 9950}, slower[] = {11000, 11050, 10950};

	/* each run alone is precise, but the after runs lie inside the before runs' spread */
	assert_int_equal(verdict_of(noisy, 3, mid, 3, 100000), KT_DIFF_SAME);
	/* every after run beyond every before run */
	assert_int_equal(verdict_of(steady, 3, slower, 3, 100000), KT_DIFF_SLOWER);
}

static void test_added_removed(void **state)
{
	(void)state;
	static struct kt_hist h;
	struct kt_diff d;
	struct kt_diff_run before, after;

	spread(&h, 1000, 100);
	kt_diff_run_init(&before);
	kt_diff_run_init(&after);
	assert_int_equal(kt_diff_run_add(&before, "app", "old", "send", &h, 100), 0);
	assert_int_equal(kt_diff_run_add(&before, "app", "kept", "send", &h, 100), 0);
	assert_int_equal(kt_diff_run_add(&after, "app", "kept", "send", &h, 50), 0);
	assert_int_equal(kt_diff_run_add(&after, "app", "kept", "send", &h, 50), 0); /* merged */
	assert_int_equal(kt_diff_run_add(&after, "app", "new", "recv", &h, 100), 0);
	assert_int_equal(after.n, 2);
	kt_diff_init(&d);
	assert_int_equal(kt_diff_add_run(&d, KT_DIFF_BEFORE, &before), 0);
	assert_int_equal(kt_diff_add_run(&d, KT_DIFF_AFTER, &after), 0);
	kt_diff_compute(&d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0].ring, "kept"); /* both sides first */
	assert_int_equal(d.v[0].ops[1], 100);
	assert_int_equal(d.v[1].presence, KT_DIFF_ADDED);
	assert_string_equal(d.v[1].ring, "new");
	assert_int_equal(d.v[2].presence, KT_DIFF_REMOVED);
	assert_false(kt_diff_gate(&d, 0, 0));
	kt_diff_free(&d);
	kt_diff_run_free(&before);
	kt_diff_run_free(&after);
}

static void test_gate_arg(void **state)
{
	(void)state;
	double pct;
	int qi;
	char msg[256];

	assert_int_equal(kt_diff_parse_gate("10", &pct, &qi, msg, sizeof(msg)), 0);
	assert_true(pct == 10 && qi == 0);
	assert_int_equal(kt_diff_parse_gate("2.5%@p99", &pct, &qi, msg, sizeof(msg)), 0);
	assert_true(pct == 2.5 && qi == 2);
	assert_int_equal(kt_diff_parse_gate("5@p99.9", &pct, &qi, msg, sizeof(msg)), 0);
	assert_int_equal(qi, 3);
	assert_int_equal(kt_diff_parse_gate("5@p98", &pct, &qi, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "p98"));
	assert_int_equal(kt_diff_parse_gate("ten", &pct, &qi, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(kt_diff_parse_gate("-1", &pct, &qi, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(kt_diff_parse_gate("5x@p50", &pct, &qi, msg, sizeof(msg)), -EINVAL);
}

static char tmp_path[64];

static const char *write_tmp(const char *text)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/kt_test_diff.XXXXXX");
	fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return tmp_path;
}

/* Loads text as a file; returns the error and leaves the message in msg. */
static int load_text(const char *text, struct kt_diff_run *r, char *msg, size_t n)
{
	int err;

	kt_diff_run_init(r);
	err = kt_diff_load(write_tmp(text), r, msg, n);
	unlink(tmp_path);
	return err;
}

#define REPORT_HEAD "{\"type\":\"final\",\"processes\":[{\"pid\":1,\"comm\":\"app\",\"rings\":["

static void test_load(void **state)
{
	(void)state;
	struct kt_diff_run r;
	char msg[512];

	assert_int_equal(
		load_text("{\"type\":\"interval\"}\n" REPORT_HEAD
			  "{\"id\":1,\"name\":\"work.0\",\"send\":{\"ops\":9,\"latency\":{\"min\":"
			  "101,\"max\":300},\"latency_buckets\":[[100,4],[300,5]]},"
			  "\"sojourn\":{\"count\":2},\"sojourn_buckets\":[[7,2]]}],"
			  "\"functions\":[{\"name\":\"f\",\"calls\":3,\"latency_corrected\":{},"
			  "\"latency_corrected_buckets\":[[50,3]]}]}]}\n",
			  &r, msg, sizeof(msg)),
		0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.v[0].op, "send");
	assert_int_equal(r.v[0].ops, 9);
	assert_int_equal(kt_hist_count(r.v[0].h), 9);
	assert_int_equal(kt_hist_min(r.v[0].h), 101); /* the exact min of the summary */
	assert_string_equal(r.v[1].op, "sojourn");
	assert_string_equal(r.v[2].ring, "f");
	assert_string_equal(r.v[2].op, "call");
	kt_diff_run_free(&r);
}

#define INTERVAL_LINE(OPS, BUCKETS)                                                               \
	"{\"type\":\"interval\",\"processes\":[{\"pid\":1,\"comm\":\"app\",\"rings\":[{\"id\":1," \
	"\"name\":\"w\",\"send\":{\"ops\":" OPS ",\"latency\":{},\"latency_buckets\":" BUCKETS    \
	"}}]}]}\n"

/* The daemon's --json-dir files: interval lines only, merged; a quiet one is no run. */
static void test_load_intervals(void **state)
{
	(void)state;
	struct kt_diff_run r;
	char msg[512];

	assert_int_equal(load_text(INTERVAL_LINE("4", "[[100,4]]") INTERVAL_LINE("5", "[[300,5]]"),
				   &r, msg, sizeof(msg)),
			 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.v[0].ops, 9);
	assert_int_equal(kt_hist_count(r.v[0].h), 9);
	kt_diff_run_free(&r);
	/* a final line wins: the intervals before it are in it already */
	assert_int_equal(load_text(INTERVAL_LINE("4", "[[100,4]]") REPORT_HEAD
				   "{\"name\":\"w\",\"send\":{\"ops\":6,\"latency\":{},"
				   "\"latency_buckets\":[[100,6]]}}]}]}\n",
				   &r, msg, sizeof(msg)),
			 0);
	assert_int_equal(r.v[0].ops, 6);
	kt_diff_run_free(&r);
	assert_int_equal(load_text(INTERVAL_LINE("0", "[]"), &r, msg, sizeof(msg)), -ENODATA);
	assert_non_null(strstr(msg, "an interval without samples"));
	kt_diff_run_free(&r);
}

static void test_load_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text, *says;
	} cases[] = {
		{"", "empty file"},
		{"main;work;kaos_ring_send 12\n", "not a kaos-trace JSON report (line 1"},
		{"\x01\x02garbage", "not a kaos-trace JSON report"},
		{"[1,2]\n", "not an object"},
		{"{\"type\":\"x\"}\n", "no \"type\":\"final\" or \"interval\" line"},
		{"{\"type\":\"interval\"}\n", "malformed"},
		{"{\"type\":\"final\"}\n", "malformed"},
		{REPORT_HEAD "]}]}\n", "empty run"},
		{REPORT_HEAD "{\"name\":\"w\",\"send\":{\"ops\":1,\"latency\":{}}}]}]}\n",
		 "older than diff"},
		{REPORT_HEAD "{\"name\":\"w\",\"send\":{\"latency_buckets\":[[1,-2]]}}]}]}\n",
		 "malformed"},
	};
	struct kt_diff_run r;
	char msg[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(load_text(cases[i].text, &r, msg, sizeof(msg)), -EINVAL);
		assert_non_null(strstr(msg, cases[i].says));
		assert_null(strchr(msg, '\n')); /* one line */
		kt_diff_run_free(&r);
	}
	assert_int_equal(kt_diff_load("/nonexistent/x.json", &r, msg, sizeof(msg)), -ENOENT);
}

static void test_cmd_usage(void **state)
{
	(void)state;
	char msg[512];
	char *one[] = {"kaos-trace", "diff", "a.json"};
	char *half[] = {"kaos-trace", "diff", "a.json", "--"};
	char *opt[] = {"kaos-trace", "diff", "--frobnicate", "a", "b"};

	assert_int_equal(kt_diff_cmd(3, one, stdout, msg, sizeof(msg)), KT_DIFF_EXIT_USAGE);
	assert_non_null(strstr(msg, "usage"));
	assert_int_equal(kt_diff_cmd(4, half, stdout, msg, sizeof(msg)), KT_DIFF_EXIT_USAGE);
	assert_int_equal(kt_diff_cmd(5, opt, stdout, msg, sizeof(msg)), KT_DIFF_EXIT_USAGE);
	assert_non_null(strstr(msg, "--frobnicate"));
}

static void test_folded(void **state)
{
	(void)state;
	char b[64], a[64], msg[512], *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	const char *before[] = {b}, *after[] = {a};

	assert_non_null(out);
	snprintf(b, sizeof(b), "%s",
		 write_tmp("app;main;send 30\napp;main;recv 10\napp;main;send 10\n"));
	snprintf(a, sizeof(a), "%s", write_tmp("app;main;recv 60\napp;main;new frame 20\n"));
	/* before total 50, after total 80: after scaled by 50/80, stacks sorted, a blank kept */
	assert_int_equal(kt_diff_folded(out, before, 1, after, 1, msg, sizeof(msg)), 0);
	fclose(out);
	assert_string_equal(text,
			    "app;main;new frame 0 13\napp;main;recv 10 38\napp;main;send 40 0\n");
	free(text);
	unlink(a);
	snprintf(a, sizeof(a), "%s", write_tmp("{\"type\":\"final\"}\n"));
	assert_int_equal(kt_diff_folded(stdout, before, 1, after, 1, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not folded stacks (line 1"));
	unlink(a);
	snprintf(a, sizeof(a), "%s", write_tmp(""));
	assert_int_equal(kt_diff_folded(stdout, before, 1, after, 1, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "empty file"));
	unlink(a);
	unlink(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical_no_change),
		cmocka_unit_test(test_shift_many_samples),
		cmocka_unit_test(test_shift_few_samples),
		cmocka_unit_test(test_run_spread),
		cmocka_unit_test(test_added_removed),
		cmocka_unit_test(test_gate_arg),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_intervals),
		cmocka_unit_test(test_load_bad),
		cmocka_unit_test(test_cmd_usage),
		cmocka_unit_test(test_folded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
