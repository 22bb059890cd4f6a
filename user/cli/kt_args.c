// SPDX-License-Identifier: MIT
/* kt_args: command-line conventions of kaos-trace (kt_args.h). */
#include "kt_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_event.h" /* KT_NAME_LEN */

static const char *const subcmd_names[KT_SUBCMD_NR] = {
	[KT_SUBCMD_LIST] = "list",     [KT_SUBCMD_FEATURES] = "features", [KT_SUBCMD_PMU] = "pmu",
	[KT_SUBCMD_DAEMON] = "daemon", [KT_SUBCMD_DIFF] = "diff",	  [KT_SUBCMD_COMPARE] = "compare",
	[KT_SUBCMD_TOP] = "top",
};

static const char *const subcmd_usage[KT_SUBCMD_NR] = {
	[KT_SUBCMD_LIST] = "Usage: kaos-trace list PID|PATH\n"
			   "  or:  kaos-trace list --func PATTERN [--func PATTERN...] PID|PATH\n"
			   "List the kaos probes of a process or a file (the sites kaos-trace "
			   "attaches to),\n"
			   "or with --func the functions that --func PATTERN would probe.\n",
	[KT_SUBCMD_FEATURES] = "Usage: kaos-trace features\n"
			       "Say what this kernel offers kaos-trace (BTF, ring buffer, uprobe "
			       "fast paths)\n"
			       "and which probe site it would attach to (docs/kernels.md).\n",
	[KT_SUBCMD_PMU] = "Usage: kaos-trace pmu list\n"
			  "List the counters --pmu EVENT can read on this machine (libpfm4 "
			  "names).\n",
	[KT_SUBCMD_DIFF] =
		"Usage: kaos-trace diff BEFORE.json AFTER.json [--json] [--fail-if-slower "
		"PCT[@pNN]]\n"
		"  or:  kaos-trace diff [OPTIONS] BEFORE.json... -- AFTER.json...\n"
		"  or:  kaos-trace diff --folded BEFORE.folded... [--] AFTER.folded...\n"
		"Compare the latency of each ring operation and --func function between runs\n"
		"(kaos-trace --json FILE): p50/p90/p99/p99.9, change, 99 % interval, verdict;\n"
		"with --alloc runs, each allocation site (comm + stack) and process's heap\n"
		"totals too.\n"
		"  --json                     the comparison as JSON\n"
		"  --folded                   folded stacks in, \"STACK BEFORE AFTER\" out (the\n"
		"                             after counts scaled to the before total) for\n"
		"                             flamegraph.pl's differential graph\n"
		"  --fail-if-slower PCT[@pNN] exit 5 if significantly slower by more than PCT %\n"
		"                             at pNN (p50, p90, p99, p99.9; default p50)\n"
		"  --fail-if-more-allocs PCT  exit 6 if an allocation site or process total\n"
		"                             (--alloc runs) has more allocations by more than\n"
		"                             PCT %\n",
	[KT_SUBCMD_COMPARE] =
		"Usage: kaos-trace compare [OPTIONS] [TRACER OPTIONS] -- CMD_A ... ::: CMD_B ...\n"
		"Run CMD_A and CMD_B in interleaved rounds (A B, B A, ...), each traced with the\n"
		"TRACER OPTIONS (e.g. --func PATTERN), and compare them as kaos-trace diff does\n"
		"(CMD_A before, CMD_B after). The commands' output goes to a temporary log.\n"
		"  --rounds N                 runs of each command (default 5)\n"
		"  --json                     the comparison as JSON\n"
		"  --fail-if-slower PCT[@pNN] exit 5 if CMD_B is significantly slower by more\n"
		"                             than PCT % at pNN (p50, p90, p99, p99.9)\n",
};

enum kt_subcmd kt_args_subcmd(const char *word)
{
	for (int c = 0; word && c < KT_SUBCMD_NR; c++)
		if (!strcmp(word, subcmd_names[c]))
			return (enum kt_subcmd)c;
	return KT_SUBCMD_NONE;
}

const char *kt_args_subcmd_name(enum kt_subcmd c)
{
	return c >= 0 && c < KT_SUBCMD_NR ? subcmd_names[c] : "?";
}

static unsigned int min3(unsigned int a, unsigned int b, unsigned int c)
{
	unsigned int m = a < b ? a : b;

	return m < c ? m : c;
}

/* Optimal string alignment distance over the first 31 bytes (words, not texts). */
unsigned int kt_args_distance(const char *a, const char *b)
{
	enum { N = 32 };
	unsigned int d[N][N];
	size_t la = strnlen(a, N - 1), lb = strnlen(b, N - 1);

	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned int cost = a[i - 1] != b[j - 1];

			d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb];
}

const char *kt_args_nearest_subcmd(const char *word)
{
	const char *best = NULL;
	unsigned int best_d = 3; /* further than 2 edits is a different word */

	for (int c = 0; c < KT_SUBCMD_NR; c++) {
		unsigned int dist = kt_args_distance(word, subcmd_names[c]);

		/* a short word is easily 2 edits from anything ("ls" vs "pmu") */
		if (dist < best_d && dist < strlen(subcmd_names[c])) {
			best_d = dist;
			best = subcmd_names[c];
		}
	}
	return best;
}

void kt_args_unknown_cmd(const char *word, bool is_program, char *msg, size_t n)
{
	const char *near = kt_args_nearest_subcmd(word);

	if (is_program)
		snprintf(msg, n,
			 "unknown command '%s': to trace a program, put -- before it "
			 "(kaos-trace [OPTIONS] -- %s ...)",
			 word, word);
	else if (near)
		snprintf(msg, n, "unknown command '%s' (did you mean '%s'?)", word, near);
	else
		snprintf(msg, n,
			 "unknown command '%s' (commands: list, features, pmu, daemon, diff, "
			 "compare, top; see "
			 "kaos-trace --help)",
			 word);
}

enum kt_args_ask kt_args_asks(int argc, char *const argv[])
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "-?") || !strcmp(argv[i], "--help"))
			return KT_ARGS_HELP;
		if (!strcmp(argv[i], "--version"))
			return KT_ARGS_VERSION;
	}
	return KT_ARGS_RUN;
}

const char *kt_args_usage(enum kt_subcmd c)
{
	return c >= 0 && c < KT_SUBCMD_NR && subcmd_usage[c] ? subcmd_usage[c] : "";
}

int kt_args_ring(const char *arg, bool *is_id, uint32_t *id, char *msg, size_t n)
{
	size_t len = strlen(arg), digits = strspn(arg, "0123456789");

	if (len && digits == len) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(arg, &end, 10);
		if (errno || v > UINT32_MAX) {
			snprintf(msg, n, "invalid ring id '%s' (expected 0..%u)", arg, UINT32_MAX);
			return -EINVAL;
		}
		*is_id = true;
		*id = (uint32_t)v;
		return 0;
	}
	if (!len || len >= KT_NAME_LEN) {
		snprintf(msg, n, "invalid ring '%s' (an id, or a name of 1..%d bytes)", arg,
			 KT_NAME_LEN - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if (arg[i] < 0x20 || arg[i] > 0x7e) {
			snprintf(msg, n, "invalid ring name '%s' (printable ASCII only)", arg);
			return -EINVAL;
		}
	*is_id = false;
	return 0;
}

int kt_args_stdout_outputs(const char *json, const char *folded, const char *timeline,
			   bool folded_default, bool *any, char *msg, size_t n)
{
	const char *taken[4];
	int k = 0;

	if (kt_args_is_stdout(json))
		taken[k++] = "--json -";
	if (kt_args_is_stdout(folded))
		taken[k++] = "--folded -";
	else if (!folded && folded_default)
		taken[k++] = "the folded stacks (no --folded FILE)";
	if (kt_args_is_stdout(timeline))
		taken[k++] = "--timeline -";
	/* folded stacks by default follow the report on stdout: no conflict on their own */
	*any = k > 1 || (k == 1 && !(folded_default && !folded));
	if (k > 1) {
		snprintf(msg, n, "%s and %s would both write to stdout: give one of them a FILE",
			 taken[0], taken[1]);
		return -EINVAL;
	}
	return 0;
}
