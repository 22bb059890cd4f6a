/* SPDX-License-Identifier: MIT */
/*
 * kt_diff_cmd: the `kaos-trace diff` subcommand.
 *   kaos-trace diff BEFORE.json AFTER.json [--json] [--fail-if-slower PCT[@pNN]]
 *                   [--fail-if-more-allocs PCT]
 *   kaos-trace diff [OPTIONS] B1.json B2.json ... -- A1.json A2.json ...
 */
#ifndef KT_DIFF_CMD_H
#define KT_DIFF_CMD_H

#include <stddef.h>
#include <stdio.h>

enum {
	KT_DIFF_EXIT_OK = 0,
	KT_DIFF_EXIT_FAILURE = 1, /* out of memory, stdout not written */
	KT_DIFF_EXIT_USAGE = 2,	  /* bad arguments or input files */
	KT_DIFF_EXIT_SLOWER = 5,  /* --fail-if-slower: a significant slowdown beyond PCT */
	/* --fail-if-more-allocs: significantly more allocations beyond PCT (5 wins) */
	KT_DIFF_EXIT_MORE_ALLOCS = 6,
};

/*
 * argv[1] is "diff". Writes the report on out and returns the exit status;
 * msg holds one line for stderr when not empty (an error, or the gate's
 * reason). A failed write of out returns KT_DIFF_EXIT_FAILURE with msg
 * empty: the caller owns out and says why (kaos-trace's exit handler
 * reports a stdout that did not take its output).
 */
int kt_diff_cmd(int argc, char **argv, FILE *out, char *msg, size_t n);

#endif /* KT_DIFF_CMD_H */
