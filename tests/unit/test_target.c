/* SPDX-License-Identifier: MIT */
/*
 * kt_target without BPF: a readable ELF without kaos probes is
 * KT_TARGET_NO_PROBES (the caller decides: an error for USDT tracing, a
 * watched target for --func, --profile, --off-cpu), unlike a missing file
 * or process (-1); kt_targets_watch_path keeps a program's path (its
 * processes are looked up in /proc) and not a library's (libc.so.6 has an
 * interpreter: it counts as a program).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_target.h"

static void test_no_probes_is_not_an_error(void **state)
{
	struct kt_targets ts = {0};
	char err[512] = "";

	(void)state;
	assert_int_equal(kt_targets_add_path(&ts, "/bin/true", err, sizeof(err)),
			 KT_TARGET_NO_PROBES);
	assert_non_null(strstr(err, "/bin/true: no kaos probes"));
	assert_int_equal(ts.n, 0);
	assert_int_equal(kt_targets_add_path(&ts, "/nonexistent/kt", err, sizeof(err)), -1);
	assert_int_equal(kt_targets_add_pid(&ts, 0x7ffffff0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no such process"));
	assert_int_equal(ts.n, 0);
	kt_targets_free(&ts);
}

static void test_watch_path(void **state)
{
	struct kt_targets ts = {0};
	Dl_info dl;

	(void)state;
	assert_true(dladdr((void *)_cmocka_run_group_tests, &dl) && dl.dli_fname);
	assert_int_equal(kt_targets_watch_path(&ts, "/bin/true"), 0);
	assert_int_equal(kt_targets_watch_path(&ts, dl.dli_fname), 0); /* libcmocka: a library */
	assert_int_equal(ts.n, 2);
	assert_int_equal(ts.v[0].pid, 0);
	assert_true(kt_target_watch_only(&ts.v[0]));
	assert_string_equal(ts.v[0].program, "/bin/true");
	assert_true(kt_target_watch_only(&ts.v[1]));
	assert_string_equal(ts.v[1].program, "");
	assert_false(kt_targets_need_scope(&ts));
	kt_targets_free(&ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_probes_is_not_an_error),
		cmocka_unit_test(test_watch_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
