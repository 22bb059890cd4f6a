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
#include <sys/types.h>

struct kt_target {
	pid_t pid; /* > 0: that process only; 0: every process mapping path */
	char path[PATH_MAX]; /* "": a watched pid without kaos probes (kaos-trace --func) */
	bool exited;
};

struct kt_targets {
	struct kt_target *v;
	int n;
	int cap;
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
/* "1234" is a pid, anything else a path. */
int kt_targets_add_spec(struct kt_targets *ts, const char *spec, char *err, size_t errlen);
void kt_targets_free(struct kt_targets *ts);

/* Can this process load BPF and attach uprobes? 0, or -1 naming what is missing. */
int kt_check_privileges(char *err, size_t errlen);

#endif /* KT_TARGET_H */
