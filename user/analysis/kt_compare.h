/* SPDX-License-Identifier: MIT */
/*
 * kt_compare: the `kaos-trace compare` subcommand.
 *   kaos-trace compare [--rounds N] [--json] [--fail-if-slower PCT[@pNN]]
 *                      [TRACER OPTIONS] -- CMD_A ... ::: CMD_B ...
 *
 * Runs CMD_A and CMD_B in N interleaved rounds (A B, B A, A B, ...: a drift
 * of the machine's load hits both sides alike), each run under the one-shot
 * tracer: kaos-trace itself (/proc/self/exe) re-executed with the tracer
 * options and --json to a private temporary directory, the run's output
 * (the command's and the tracer's) to a log there. Then the runs of A are
 * the "before" side and those of B the "after" side of kaos-trace diff
 * (same report, --json, --fail-if-slower). Runs are child processes of
 * their own process group, so that a SIGINT, SIGTERM or SIGHUP sent to
 * compare stops the run (tracer and command) too; the temporary directory
 * is removed on every way out.
 */
#ifndef KT_COMPARE_H
#define KT_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#define KT_COMPARE_ROUNDS 5 /* default --rounds */

/*
 * argv[1] is "compare". Writes the report on out and returns the exit status
 * (kt_diff_cmd.h's, plus 1 when a run failed, 128+N when stopped by signal
 * N); msg holds one line for stderr when not empty. Installs handlers for
 * SIGINT, SIGTERM and SIGHUP while the runs go on (the previous ones are
 * restored): call it from the main thread.
 */
int kt_compare_cmd(int argc, char **argv, FILE *out, char *msg, size_t n);

#endif /* KT_COMPARE_H */
