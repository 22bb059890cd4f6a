/* SPDX-License-Identifier: MIT */
/*
 * kt_target: turns -p PID / -b PATH into (pid, ELF path) pairs that carry
 * kaos USDT probes, with one-line errors for every way that can fail.
 */
#ifndef KT_TARGET_H
#define KT_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct kt_target {
	pid_t pid; /* > 0: that process only; 0: every process mapping path (but see program) */
	/* "": a watched pid or program without kaos probes (--func, --profile, --off-cpu) */
	char path[PATH_MAX];
	/*
	 * -b PROGRAM (an executable, not a library): the processes of PROGRAM
	 * only, now and later, whichever object carries the probes. "" for
	 * -b LIBRARY (every process mapping it) and for pid targets.
	 */
	char program[PATH_MAX];
	/* program's probes live in a shared library (path): a kernel-side scope is needed */
	bool scoped;
	bool exited;
};

struct kt_targets {
	struct kt_target *v;
	int n;
	size_t cap;
};

/*
 * Returned (with err saying so) when a readable process or file has no kaos
 * probes: an error for USDT tracing, a watch-only target for the collectors
 * that need none (--func, --profile, --off-cpu).
 */
#define KT_TARGET_NO_PROBES 1

/* Every mapped object of pid that carries kaos probes. 0, KT_TARGET_NO_PROBES or -1 with err. */
int kt_targets_add_pid(struct kt_targets *ts, pid_t pid, char *err, size_t errlen);
/*
 * PATH itself, or the libkaos.so it needs (DT_NEEDED) when it has no probes.
 * 0, KT_TARGET_NO_PROBES or -1 with err.
 */
int kt_targets_add_path(struct kt_targets *ts, const char *path, char *err, size_t errlen);
/* pid in path (e.g. a child about to exec path): no /proc lookup. */
int kt_targets_add_pid_path(struct kt_targets *ts, pid_t pid, const char *path, char *err,
			    size_t errlen);
/*
 * A target traced by other means (--func) without kaos USDT probes: pid > 0
 * is watched for its exit; pid 0 (-b PATH) keeps the tracer running.
 */
int kt_targets_watch_pid(struct kt_targets *ts, pid_t pid);
/*
 * -b PATH without kaos probes: pid 0, no path; program = PATH when it is an
 * executable (its processes are found by kt_program_pids), else "". 0 or -1.
 */
int kt_targets_watch_path(struct kt_targets *ts, const char *path);
/* Is tg traced by other means only (no kaos probes attached for it)? */
bool kt_target_watch_only(const struct kt_target *tg);
/*
 * Do the targets need the kernel-side process scope? True when a -b
 * PROGRAM's probes live in a shared library (attached for every process
 * mapping it) and no -b LIBRARY asks for every process anyway.
 */
bool kt_targets_need_scope(const struct kt_targets *ts);
/*
 * File offset of the entry point of program (a uprobe there fires once in
 * every process that starts running it). 0 or -1 with err.
 */
int kt_program_entry(const char *program, unsigned long *offset, char *err, size_t errlen);
/*
 * Calls fn for every process whose executable is exe (same device and
 * inode); returns how many, or -1 if /proc cannot be read.
 */
int kt_program_pids(const struct stat *exe, void (*fn)(void *ctx, pid_t pid), void *ctx);
/* "1234" is a pid, anything else a path. */
int kt_targets_add_spec(struct kt_targets *ts, const char *spec, char *err, size_t errlen);
void kt_targets_free(struct kt_targets *ts);

/* Can this process load BPF and attach uprobes? 0, or -1 naming what is missing. */
int kt_check_privileges(char *err, size_t errlen);

#endif /* KT_TARGET_H */
