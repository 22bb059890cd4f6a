/* SPDX-License-Identifier: MIT */
/*
 * kt_gate: a one-shot run's exit status. The command's own failure is never
 * hidden by kaos-trace's (1), a fired alert (3) or a rule that matched
 * nothing (4); waitpid statuses read as a shell reads them.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_gate.h"

static int status(int command, bool failed, bool fired, bool unmatched)
{
	struct kt_run_outcome o = {command, failed, fired, unmatched};

	return kt_exit_status(&o);
}

static void test_precedence(void **state)
{
	(void)state;
	/* nothing wrong; a command that succeeded; no command */
	assert_int_equal(status(-1, false, false, false), KT_EXIT_OK);
	assert_int_equal(status(0, false, false, false), KT_EXIT_OK);
	/* each alone */
	assert_int_equal(status(-1, false, false, true), KT_EXIT_UNMATCHED);
	assert_int_equal(status(-1, false, true, false), KT_EXIT_ALERT);
	assert_int_equal(status(-1, true, false, false), KT_EXIT_FAILURE);
	assert_int_equal(status(7, false, false, false), 7);
	/* the command first, then kaos-trace's failure, then a firing, then no match */
	assert_int_equal(status(7, true, true, true), 7);
	assert_int_equal(status(7, false, true, true), 7);
	assert_int_equal(status(137, false, true, false), 137);
	assert_int_equal(status(0, true, true, true), KT_EXIT_FAILURE);
	assert_int_equal(status(0, false, true, true), KT_EXIT_ALERT);
	assert_int_equal(status(-1, false, true, true), KT_EXIT_ALERT);
	assert_int_equal(status(0, false, false, true), KT_EXIT_UNMATCHED);
	/* the codes are distinct */
	assert_int_not_equal(KT_EXIT_ALERT, KT_EXIT_UNMATCHED);
	assert_int_not_equal(KT_EXIT_UNMATCHED, KT_EXIT_USAGE);
	assert_int_not_equal(KT_EXIT_UNMATCHED, KT_EXIT_FAILURE);
}

/* Real children: an exit code, and a signal as 128 + N. */
static int child_status(int code, int sig)
{
	int ws;
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0) {
		if (sig)
			raise(sig);
		_exit(code);
	}
	assert_int_equal(waitpid(p, &ws, 0), p);
	return kt_wait_status(ws);
}

static void test_wait_status(void **state)
{
	(void)state;
	assert_int_equal(child_status(0, 0), 0);
	assert_int_equal(child_status(7, 0), 7);
	assert_int_equal(child_status(255, 0), 255);
	assert_int_equal(child_status(0, SIGKILL), 128 + SIGKILL);
	assert_int_equal(child_status(0, SIGTERM), 128 + SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_wait_status),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
