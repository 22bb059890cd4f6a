/* SPDX-License-Identifier: MIT */
/*
 * kaos-trace diff on --alloc reports: reading the "alloc" object back (comm
 * + stack, totals, an alloc-only run), site matching and verdicts (one run a
 * side: exact, any difference is a change; several: the runs' envelopes),
 * sites outside a side's top sites (not "removed"), the
 * --fail-if-more-allocs gate and its exit status, the text and JSON rows.
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

static int load_text(const char *text, struct kt_diff_run *r, char *msg, size_t n)
{
	FILE *fp = fmemopen((void *)text, strlen(text), "r");
	int err;

	assert_non_null(fp);
	kt_diff_run_init(r);
	err = kt_diff_load_file(fp, "mem.json", r, msg, n);
	fclose(fp);
	return err;
}

/* A final line of an --alloc run without rings: one process, two sites. */
#define ALLOC_REPORT(COMM, A1, A2)                                                              \
	"{\"type\":\"final\",\"processes\":[],\"alloc\":{\"processes\":[{\"pid\":7," COMM       \
	"\"allocs\":" #A1 ",\"bytes_allocated\":900,\"peak_bytes\":500,\"leaked_bytes\":0,"     \
	"\"top_sites\":[{\"allocs\":" #A1 ",\"bytes\":800,\"stack\":[\"main\",\"phase_mix\"]}," \
	"{\"allocs\":" #A2 ",\"bytes\":100,\"stack\":[\"main\",\"leak\"]}],\"top_leaks\":[]}]}}\n"

static void test_load_alloc(void **state)
{
	(void)state;
	struct kt_diff_run r;
	char msg[512];

	/* no ring, no function: still a run (its allocations) */
	assert_int_equal(load_text(ALLOC_REPORT("\"comm\":\"aw\",", 10, 3), &r, msg, sizeof(msg)),
			 0);
	assert_true(r.has_alloc);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.nalloc, 3);
	assert_string_equal(r.alloc[0].comm, "aw");
	assert_null(r.alloc[0].stack); /* the process total */
	assert_int_equal((int)r.alloc[0].v[KT_DIFF_PEAK_BYTES], 500);
	assert_string_equal(r.alloc[1].stack, "main;phase_mix"); /* root first */
	assert_int_equal((int)r.alloc[1].v[KT_DIFF_ALLOCS], 10);
	assert_int_equal((int)r.alloc[1].v[KT_DIFF_BYTES], 800);
	kt_diff_run_free(&r);
	/* without its own comm: the pid's in the report's processes, else "?" */
	assert_int_equal(load_text("{\"type\":\"final\",\"processes\":[{\"pid\":7,\"comm\":\"app\","
				   "\"rings\":[]}],\"alloc\":{\"processes\":[{\"pid\":7,"
				   "\"allocs\":1,\"top_sites\":[]}]}}\n",
				   &r, msg, sizeof(msg)),
			 0);
	assert_string_equal(r.alloc[0].comm, "app");
	kt_diff_run_free(&r);
	assert_int_equal(load_text(ALLOC_REPORT("", 10, 3), &r, msg, sizeof(msg)), 0);
	assert_string_equal(r.alloc[0].comm, "?");
	kt_diff_run_free(&r);
	/* a stack that is not an array of strings: one line */
	assert_int_equal(load_text("{\"type\":\"final\",\"processes\":[],\"alloc\":{\"processes\":"
				   "[{\"pid\":7,\"top_sites\":[{\"stack\":[1]}]}]}}\n",
				   &r, msg, sizeof(msg)),
			 -EINVAL);
	assert_non_null(strstr(msg, "malformed"));
	assert_null(strchr(msg, '\n'));
	kt_diff_run_free(&r);
}

/* One run per entry: a process "aw" with site "main;s" of allocs[i] allocations. */
static void add_runs(struct kt_diff *d, enum kt_diff_side side, const double *allocs, int n)
{
	for (int i = 0; i < n; i++) {
		struct kt_diff_run r;
		double site[KT_DIFF_NMETRICS] = {allocs[i], allocs[i] * 16};
		double total[KT_DIFF_NMETRICS] = {allocs[i] + 5, allocs[i] * 16, 4096, 0};

		kt_diff_run_init(&r);
		assert_int_equal(kt_diff_run_add_alloc(&r, "aw", NULL, total), 0);
		assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;s", site), 0);
		assert_int_equal(kt_diff_add_run(d, side, &r), 0);
		kt_diff_run_free(&r);
	}
}

static const struct kt_diff_alloc_row *site_row(const struct kt_diff *d, const char *stack)
{
	for (size_t i = 0; i < d->nalloc; i++)
		if (d->alloc[i].stack && !strcmp(d->alloc[i].stack, stack))
			return &d->alloc[i];
	fail_msg("no site %s", stack);
	return NULL;
}

static enum kt_diff_count_verdict verdict_of(const double *b, int nb, const double *a, int na)
{
	struct kt_diff d;
	enum kt_diff_count_verdict v;

	kt_diff_init(&d);
	add_runs(&d, KT_DIFF_BEFORE, b, nb);
	add_runs(&d, KT_DIFF_AFTER, a, na);
	kt_diff_compute(&d);
	assert_int_equal(d.nalloc, 2);
	assert_null(d.alloc[0].stack); /* totals first */
	assert_int_equal(site_row(&d, "main;s")->presence, KT_DIFF_BOTH);
	v = site_row(&d, "main;s")->c[KT_DIFF_ALLOCS].verdict;
	kt_diff_free(&d);
	return v;
}

static void test_verdicts(void **state)
{
	(void)state;
	static const double same[] = {1000}, one_more[] = {1001}, fewer[] = {500};
	static const double b3[] = {1000, 1100, 1050}, overlap[] = {1090, 1200, 1150},
			    above[] = {1200, 1300, 1250};

	/* one run a side: exact counts, any difference is a change */
	assert_int_equal(verdict_of(same, 1, same, 1), KT_DIFF_NO_CHANGE);
	assert_int_equal(verdict_of(same, 1, one_more, 1), KT_DIFF_MORE);
	assert_int_equal(verdict_of(same, 1, fewer, 1), KT_DIFF_FEWER);
	/* several: only when every run of one side is beyond every run of the other */
	assert_int_equal(verdict_of(b3, 3, overlap, 3), KT_DIFF_NO_CHANGE);
	assert_int_equal(verdict_of(b3, 3, above, 3), KT_DIFF_MORE);
	assert_int_equal(verdict_of(above, 3, b3, 3), KT_DIFF_FEWER);
}

static void test_means_and_change(void **state)
{
	(void)state;
	static const double b[] = {100, 200}, a[] = {300, 400};
	const struct kt_diff_count *c;
	struct kt_diff d;

	kt_diff_init(&d);
	add_runs(&d, KT_DIFF_BEFORE, b, 2);
	add_runs(&d, KT_DIFF_AFTER, a, 2);
	kt_diff_compute(&d);
	c = &site_row(&d, "main;s")->c[KT_DIFF_ALLOCS];
	assert_true(c->before == 150 && c->after == 350); /* means per run */
	assert_true(c->b_lo == 100 && c->b_hi == 200 && c->a_lo == 300 && c->a_hi == 400);
	assert_true(c->change_lo == 0.5 && c->change_hi == 3); /* (300-200)/200, (400-100)/100 */
	assert_true(kt_diff_alloc_gate(&d, 40));
	assert_false(kt_diff_alloc_gate(&d, 50)); /* the interval's low end, not the mean */
	kt_diff_free(&d);
}

/* A site in one side's top sites only: "not in the top sites", not removed; last. */
static void test_not_in_top_sites(void **state)
{
	(void)state;
	static const double v[KT_DIFF_NMETRICS] = {10, 100};
	static const double big[KT_DIFF_NMETRICS] = {1000, 100000};
	struct kt_diff_run r;
	struct kt_diff d;
	char *text = NULL, *json = NULL;
	size_t len;
	FILE *f;

	kt_diff_init(&d);
	kt_diff_run_init(&r);
	assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;gone", v), 0);
	assert_int_equal(kt_diff_run_add_alloc(&r, "old", NULL, v), 0); /* a process total */
	assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;big", v), 0);
	assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;small", v), 0);
	assert_int_equal(kt_diff_add_run(&d, KT_DIFF_BEFORE, &r), 0);
	kt_diff_run_free(&r);
	kt_diff_run_init(&r);
	assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;small", v), 0);
	assert_int_equal(kt_diff_run_add_alloc(&r, "aw", "main;big", big), 0);
	assert_int_equal(kt_diff_add_run(&d, KT_DIFF_AFTER, &r), 0);
	kt_diff_run_free(&r);
	kt_diff_compute(&d);
	assert_int_equal(d.nalloc, 4);
	assert_null(d.alloc[0].stack);			   /* totals first */
	assert_string_equal(d.alloc[1].stack, "main;big"); /* the biggest change first */
	assert_string_equal(d.alloc[2].stack, "main;small");
	assert_string_equal(d.alloc[3].stack, "main;gone");
	assert_int_equal(d.alloc[3].presence, KT_DIFF_REMOVED);
	assert_true(kt_diff_alloc_gate(&d, 1000));

	assert_non_null(f = open_memstream(&text, &len));
	assert_int_equal(kt_diff_print_text(f, &d), 0);
	fclose(f);
	assert_non_null(strstr(text, "aw main;big: more allocations (runs 1 -> 1)"));
	assert_non_null(strstr(text, "aw main;small: no change in allocations"));
	assert_non_null(
		strstr(text, "aw main;gone: not in the top sites after (before: 10 allocs"));
	assert_null(strstr(text, "removed"));
	assert_non_null(strstr(text, "old (process total): no such process after (before: 10"));
	assert_non_null(f = open_memstream(&json, &len));
	assert_int_equal(kt_diff_print_json(f, &d), 0);
	fclose(f);
	assert_non_null(strstr(json, "\"kind\":\"alloc_site\",\"stack\":\"main;big\","
				     "\"presence\":\"both\",\"verdict\":\"more\""));
	assert_non_null(strstr(json, "\"presence\":\"not_in_top_sites_after\","
				     "\"verdict\":\"not compared\""));
	assert_non_null(strstr(json, "\"kind\":\"alloc_total\",\"presence\":\"removed\""));
	free(text);
	free(json);
	kt_diff_free(&d);
}

static char tmp_before[] = "/tmp/kt_diff_alloc_b_XXXXXX",
	    tmp_after[] = "/tmp/kt_diff_alloc_a_XXXXXX";

static void write_file(char *tmpl, const char *text)
{
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int run_cmd(const char *opt, const char *val, char *msg, size_t n)
{
	char *argv[] = {"kaos-trace", "diff", (char *)opt, (char *)val, tmp_before, tmp_after};
	FILE *out = fopen("/dev/null", "w");
	int status;

	status = kt_diff_cmd(6, argv, out, msg, n);
	fclose(out);
	return status;
}

/* --fail-if-more-allocs: exit 6 above PCT, 0 below; a bad PCT is a usage error. */
static void test_cmd_gate(void **state)
{
	(void)state;
	char msg[512];

	write_file(tmp_before, ALLOC_REPORT("\"comm\":\"aw\",", 100, 3));
	write_file(tmp_after, ALLOC_REPORT("\"comm\":\"aw\",", 120, 3));
	assert_int_equal(run_cmd("--fail-if-more-allocs", "10", msg, sizeof(msg)),
			 KT_DIFF_EXIT_MORE_ALLOCS);
	assert_non_null(strstr(msg, "more allocations by more than 10 %"));
	assert_int_equal(run_cmd("--fail-if-more-allocs", "25%", msg, sizeof(msg)),
			 KT_DIFF_EXIT_OK);
	assert_int_equal(run_cmd("--fail-if-more-allocs", "x", msg, sizeof(msg)),
			 KT_DIFF_EXIT_USAGE);
	assert_non_null(strstr(msg, "invalid --fail-if-more-allocs 'x'"));
	assert_int_equal(run_cmd("--fail-if-more-allocs", "-3", msg, sizeof(msg)),
			 KT_DIFF_EXIT_USAGE);
	unlink(tmp_before);
	unlink(tmp_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_alloc),	 cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_means_and_change), cmocka_unit_test(test_not_in_top_sites),
		cmocka_unit_test(test_cmd_gate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
