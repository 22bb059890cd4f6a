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
	char path[PATH_MAX]; /* "": a watched pid without kaos probes (kaos-trace --func) */
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

/* Every mapped object of pid that carries kaos probes. 0 or -1 with err. */
int kt_targets_add_pid(struct kt_targets *ts, pid_t pid, char *err, size_t errlen);
/* PATH itself, or the libkaos.so it needs (DT_NEEDED) when it has no probes. */
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
