/* SPDX-License-Identifier: MIT */
/*
 * kt_engine without BPF: what kt_engine_open() refuses before anything is
 * loaded (and the exit status it gives the driver), and the command it
 * starts, held before exec: closed without kt_engine_resume_command(), it
 * never runs (status 127), and kt_engine_close() gives that status.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_engine.h"

static int nnotes;

static void count_note(void *ctx, bool warning, const char *line)
{
	(void)ctx;
	(void)warning;
	(void)line;
	nnotes++;
}

static int open_err(const struct kt_engine_opts *o, char *err, size_t n)
{
	static struct kt_engine e;
	int rc = kt_engine_open(&e, o, err, n);

	assert_int_equal(kt_engine_close(&e, true), -1); /* no command */
	return rc;
}

static void test_open_refuses_bad_input(void **state)
{
	(void)state;
	pid_t self = getpid();
	const char *fn[] = {"kt_no_such_function_xyz"};
	char err[512];
	struct kt_engine_opts o = {.note = count_note};

	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_EBAD);
	assert_non_null(strstr(err, "nothing to trace"));
	o = (struct kt_engine_opts){.pids = &self, .npids = 1, .sample = 4, .budget_pct = 1};
	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_EBAD);
	assert_string_equal(err, "--sample and --budget are exclusive");
	o = (struct kt_engine_opts){
		.pids = &self, .npids = 1, .budget_pct = 1, .no_calibrate = true};
	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_EBAD);
	assert_non_null(strstr(err, "--budget needs the probe cost"));
	o = (struct kt_engine_opts){.pids = &self, .npids = 1, .max_rate = 10};
	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_EBAD);
	assert_non_null(strstr(err, "need --func"));
	o.funcs = fn; /* with --func it passes this check, and fails resolving */
	o.nfuncs = 1;
	o.budget_pct = 0;
	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_EFAIL);
	assert_int_equal(nnotes, 0); /* refusals are errors, not notes */
}

static void test_missing_command(void **state)
{
	(void)state;
	char *bypath[] = {"/nonexistent/kt-cmd", NULL}, *byname[] = {"nonexistent-cmd-kt", NULL};
	struct kt_engine_opts o = {.cmd = bypath, .note = count_note};
	char err[512];

	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_ENOCMD);
	assert_string_equal(err, "/nonexistent/kt-cmd: No such file or directory");
	o.cmd = byname;
	assert_int_equal(open_err(&o, err, sizeof(err)), KT_ENGINE_ENOCMD);
	assert_string_equal(err, "nonexistent-cmd-kt: command not found");
}

static void test_command_held_until_resumed(void **state)
{
	(void)state;
	const char *b = getenv("B") && *getenv("B") ? getenv("B") : "build";
	char prog[PATH_MAX], err[512];
	char *cmd[] = {prog, "--msgs", "1", NULL};
	struct kt_engine_opts o = {.cmd = cmd, .note = count_note};
	static struct kt_engine e;
	int rc;

	snprintf(prog, sizeof(prog), "%s/tests/progs/kt_workload", b);
	rc = kt_engine_open(&e, &o, err, sizeof(err));
	/* unprivileged: refused after the command was started, which must not run either */
	assert_true(rc == 0 || rc == KT_ENGINE_EFAIL);
	assert_true(e.child > 0);
	assert_true(e.child_go >= 0);
	assert_true(e.targets.n >= 1);
	assert_int_equal(e.targets.v[0].pid, e.child);
	assert_int_equal(kt_engine_close(&e, true), 127); /* never resumed: never ran */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refuses_bad_input),
		cmocka_unit_test(test_missing_command),
		cmocka_unit_test(test_command_held_until_resumed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
