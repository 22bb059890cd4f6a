// SPDX-License-Identifier: MIT
#include "kt_gate.h"

#include <sys/wait.h>

int kt_exit_status(const struct kt_run_outcome *o)
{
	if (o->command_status > 0)
		return o->command_status;
	if (o->failed)
		return KT_EXIT_FAILURE;
	if (o->alert_fired)
		return KT_EXIT_ALERT;
	if (o->alert_unmatched)
		return KT_EXIT_UNMATCHED;
	return KT_EXIT_OK;
}

int kt_wait_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return KT_EXIT_FAILURE; /* stopped or continued: waitpid() was not asked for these */
}
