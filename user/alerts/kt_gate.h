/* SPDX-License-Identifier: MIT */
/*
 * kt_gate: the exit status of a one-shot kaos-trace run, the CI gate.
 *
 * Several things can go wrong in one run; the status says the most
 * important one (the others are on stderr):
 *
 *   the command (-- COMMAND) failed  its own status (1..255; 128+N for signal N)
 *   kaos-trace failed                1 (an output not written, the ring buffer...)
 *   an alert fired                   3 (--fail-on-alert)
 *   a rule matched nothing           4 (its selectors fit no traced ring all run)
 *   else                             0
 *
 * The command comes first: a test suite run under kaos-trace must fail
 * the way it fails without it, and CI must not read "alert" where the
 * program itself broke. Bad usage (2) and a command that cannot be run
 * (127) end the run before any of this.
 */
#ifndef KT_GATE_H
#define KT_GATE_H

#include <stdbool.h>

enum {
	KT_EXIT_OK = 0,
	KT_EXIT_FAILURE = 1,
	KT_EXIT_USAGE = 2,
	KT_EXIT_ALERT = 3,
	KT_EXIT_UNMATCHED = 4,
};

struct kt_run_outcome {
	int command_status;   /* the command's exit status (kt_wait_status); -1: no command */
	bool failed;	      /* kaos-trace itself failed */
	bool alert_fired;     /* --fail-on-alert and a rule fired */
	bool alert_unmatched; /* a rule's selectors fit no traced ring during the run */
};

/* The run's exit status, by the precedence above. Pure. */
int kt_exit_status(const struct kt_run_outcome *o);

/* A waitpid() status as a shell reports it: the exit code, or 128 + the signal. */
int kt_wait_status(int wstatus);

#endif /* KT_GATE_H */
