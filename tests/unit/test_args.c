/* SPDX-License-Identifier: MIT */
/*
 * kt_args: subcommands and their typos, --help/--version of a subcommand,
 * -r ID|NAME, and the outputs that take stdout ("-").
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kt_args.h"

static void test_subcommands(void **state)
{
	(void)state;
	assert_int_equal(kt_args_subcmd("list"), KT_SUBCMD_LIST);
	assert_int_equal(kt_args_subcmd("features"), KT_SUBCMD_FEATURES);
	assert_int_equal(kt_args_subcmd("pmu"), KT_SUBCMD_PMU);
	assert_int_equal(kt_args_subcmd("daemon"), KT_SUBCMD_DAEMON);
	assert_int_equal(kt_args_subcmd("diff"), KT_SUBCMD_DIFF);
	assert_int_equal(kt_args_subcmd("help"), KT_SUBCMD_NONE);
	assert_int_equal(kt_args_subcmd("List"), KT_SUBCMD_NONE);
	assert_int_equal(kt_args_subcmd(""), KT_SUBCMD_NONE);
	assert_string_equal(kt_args_subcmd_name(KT_SUBCMD_PMU), "pmu");
}

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(kt_args_distance("list", "list"), 0);
	assert_int_equal(kt_args_distance("lsit", "list"), 1); /* a swap */
	assert_int_equal(kt_args_distance("lis", "list"), 1);
	assert_int_equal(kt_args_distance("deamon", "daemon"), 1);
	assert_int_equal(kt_args_distance("featrues", "features"), 1);
	assert_int_equal(kt_args_distance("", "pmu"), 3);
	assert_int_equal(kt_args_distance("kitten", "sitting"), 3);
}

static void test_nearest(void **state)
{
	(void)state;
	assert_string_equal(kt_args_nearest_subcmd("lsit"), "list");
	assert_string_equal(kt_args_nearest_subcmd("deamon"), "daemon");
	assert_string_equal(kt_args_nearest_subcmd("feature"), "features");
	assert_string_equal(kt_args_nearest_subcmd("pm"), "pmu");
	assert_null(kt_args_nearest_subcmd("help"));
	assert_string_equal(kt_args_nearest_subcmd("ls"), "list");
	assert_null(kt_args_nearest_subcmd("zzzz"));
	assert_null(kt_args_nearest_subcmd("x"));
}

static void test_unknown_line(void **state)
{
	char msg[256];

	(void)state;
	kt_args_unknown_cmd("lsit", false, msg, sizeof(msg));
	assert_string_equal(msg, "unknown command 'lsit' (did you mean 'list'?)");
	kt_args_unknown_cmd("help", false, msg, sizeof(msg));
	assert_non_null(strstr(msg, "unknown command 'help'"));
	assert_non_null(strstr(msg, "--help"));
	kt_args_unknown_cmd("./prog", true, msg, sizeof(msg));
	assert_non_null(strstr(msg, "put -- before it"));
	assert_non_null(strstr(msg, "-- ./prog"));
	assert_null(strchr(msg, '\n'));
}

static void test_asks(void **state)
{
	char *help[] = {"list", "-h"}, *help2[] = {"pmu", "list", "--help"}, *q[] = {"list", "-?"};
	char *ver[] = {"features", "--version"}, *run[] = {"list", "1234"};
	char *after[] = {"list", "--", "--help"};

	(void)state;
	assert_int_equal(kt_args_asks(2, help), KT_ARGS_HELP);
	assert_int_equal(kt_args_asks(3, help2), KT_ARGS_HELP);
	assert_int_equal(kt_args_asks(2, q), KT_ARGS_HELP);
	assert_int_equal(kt_args_asks(2, ver), KT_ARGS_VERSION);
	assert_int_equal(kt_args_asks(2, run), KT_ARGS_RUN);
	assert_int_equal(kt_args_asks(3, after), KT_ARGS_RUN);
	assert_int_equal(kt_args_asks(1, run), KT_ARGS_RUN);
	assert_non_null(strstr(kt_args_usage(KT_SUBCMD_LIST), "kaos-trace list PID|PATH"));
	assert_non_null(strstr(kt_args_usage(KT_SUBCMD_PMU), "kaos-trace pmu list"));
	assert_non_null(strstr(kt_args_usage(KT_SUBCMD_FEATURES), "kaos-trace features"));
}

static void test_ring_arg(void **state)
{
	char msg[128];
	uint32_t id = 0;
	bool is_id = false;

	(void)state;
	assert_int_equal(kt_args_ring("3", &is_id, &id, msg, sizeof(msg)), 0);
	assert_true(is_id);
	assert_int_equal(id, 3);
	assert_int_equal(kt_args_ring("4294967295", &is_id, &id, msg, sizeof(msg)), 0);
	assert_int_equal(id, UINT32_MAX);
	assert_int_equal(kt_args_ring("orders", &is_id, &id, msg, sizeof(msg)), 0);
	assert_false(is_id);
	assert_int_equal(kt_args_ring("work.0", &is_id, &id, msg, sizeof(msg)), 0);
	assert_false(is_id);
	assert_int_equal(kt_args_ring("4294967296", &is_id, &id, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "invalid ring id"));
	assert_int_equal(kt_args_ring("", &is_id, &id, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(
		kt_args_ring("a-name-longer-than-thirty-one-bytes", &is_id, &id, msg, sizeof(msg)),
		-EINVAL);
	assert_int_equal(kt_args_ring("tab\there", &is_id, &id, msg, sizeof(msg)), -EINVAL);
}

static void test_stdout_outputs(void **state)
{
	char msg[256];
	bool any;

	(void)state;
	assert_int_equal(kt_args_stdout_outputs(NULL, NULL, NULL, false, &any, msg, sizeof(msg)),
			 0);
	assert_false(any);
	assert_int_equal(kt_args_stdout_outputs("-", NULL, NULL, false, &any, msg, sizeof(msg)), 0);
	assert_true(any);
	assert_int_equal(
		kt_args_stdout_outputs("j.json", "-", "t.json", true, &any, msg, sizeof(msg)), 0);
	assert_true(any);
	/* folded stacks without --folded follow the report on stdout, as before */
	assert_int_equal(kt_args_stdout_outputs(NULL, NULL, NULL, true, &any, msg, sizeof(msg)), 0);
	assert_false(any);
	assert_int_equal(kt_args_stdout_outputs("-", "-", NULL, true, &any, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg, "--json - and --folded - would both write to stdout: give one of "
				 "them a FILE");
	assert_int_equal(kt_args_stdout_outputs(NULL, "-", "-", true, &any, msg, sizeof(msg)),
			 -EINVAL);
	assert_int_equal(kt_args_stdout_outputs("-", NULL, NULL, true, &any, msg, sizeof(msg)),
			 -EINVAL);
	assert_non_null(strstr(msg, "no --folded FILE"));
	assert_int_equal(kt_args_stdout_outputs("--", NULL, NULL, false, &any, msg, sizeof(msg)),
			 0);
	assert_false(any); /* only "-" is stdout */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subcommands),    cmocka_unit_test(test_distance),
		cmocka_unit_test(test_nearest),	       cmocka_unit_test(test_unknown_line),
		cmocka_unit_test(test_asks),	       cmocka_unit_test(test_ring_arg),
		cmocka_unit_test(test_stdout_outputs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
