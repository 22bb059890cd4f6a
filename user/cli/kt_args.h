/* SPDX-License-Identifier: MIT */
/*
 * kt_args: the command line's conventions, as pure functions the driver
 * (user/cli/main.c) calls: which subcommand a word names (and the nearest
 * one for a typo), a subcommand's --help/--version, each subcommand's usage,
 * -r ID|NAME, and which outputs take stdout ("-"). Nothing here prints or
 * exits: the driver turns a refusal into its one line and exit status 2.
 */
#ifndef KT_ARGS_H
#define KT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kt_subcmd {
	KT_SUBCMD_NONE = -1, /* not a subcommand */
	KT_SUBCMD_LIST,
	KT_SUBCMD_FEATURES,
	KT_SUBCMD_PMU,
	KT_SUBCMD_DAEMON,
	KT_SUBCMD_DIFF,
	KT_SUBCMD_COMPARE,
	KT_SUBCMD_TOP, /* the live view (user/top/kt_top.c): its own argp, like the daemon */
	KT_SUBCMD_NR,
};

/* The subcommand word names, or KT_SUBCMD_NONE. */
enum kt_subcmd kt_args_subcmd(const char *word);
const char *kt_args_subcmd_name(enum kt_subcmd c);

/*
 * Edit distance between a and b (insertions, deletions, substitutions and
 * swaps of two neighbours each cost 1: "lsit" is 1 from "list").
 */
unsigned int kt_args_distance(const char *a, const char *b);

/* The subcommand a mistyped word most likely meant (distance <= 2), or NULL. */
const char *kt_args_nearest_subcmd(const char *word);

/*
 * The one line for a first word that is no subcommand: "unknown command
 * 'lsit' (did you mean 'list'?)". is_program: the word runs as a program
 * (a path, or found on PATH); the line then says to put -- before it.
 */
void kt_args_unknown_cmd(const char *word, bool is_program, char *msg, size_t n);

enum kt_args_ask {
	KT_ARGS_RUN,	 /* neither: run the subcommand */
	KT_ARGS_HELP,	 /* -h, -? or --help among the arguments */
	KT_ARGS_VERSION, /* --version */
};

/* Does a subcommand's argument list (argv[0] is the subcommand) ask for help or the version? */
enum kt_args_ask kt_args_asks(int argc, char *const argv[]);

/* The usage text of a subcommand other than the daemon (which has its own argp). */
const char *kt_args_usage(enum kt_subcmd c);

/*
 * -r ID|NAME: a decimal number is a ring id (a kernel-side filter), any
 * other word a ring name (matched in userspace once the ring's events
 * arrive). 0, or -EINVAL with a reason in msg (empty, too long, not
 * printable, id out of range).
 */
int kt_args_ring(const char *arg, bool *is_id, uint32_t *id, char *msg, size_t n);

/* An output path that means stdout. */
static inline bool kt_args_is_stdout(const char *path)
{
	return path && path[0] == '-' && !path[1];
}

/*
 * The outputs that would write to stdout besides the text report: --json,
 * --folded, --timeline given "-", and the folded stacks when collected
 * without --folded FILE (folded_default: --stacks, --profile or --off-cpu
 * without --folded). Two of them would interleave: 0, or -EINVAL with the
 * line that names both. *any: one output takes stdout (the text report
 * then goes to stderr).
 */
int kt_args_stdout_outputs(const char *json, const char *folded, const char *timeline,
			   bool folded_default, bool *any, char *msg, size_t n);

#endif /* KT_ARGS_H */
