// SPDX-License-Identifier: MIT
#include "kt_target.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kt_elf.h"
#include "kt_usdt.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int push(struct kt_targets *ts, pid_t pid, const char *path)
{
	for (int i = 0; i < ts->n; i++)
		if (ts->v[i].pid == pid && !strcmp(ts->v[i].path, path))
			return 0;
	if (ts->n == ts->cap) {
		int cap = ts->cap ? ts->cap * 2 : 8;
		struct kt_target *v = realloc(ts->v, sizeof(*v) * (size_t)cap);

		if (!v)
			return -1;
		ts->v = v;
		ts->cap = cap;
	}
	memset(&ts->v[ts->n], 0, sizeof(ts->v[0]));
	ts->v[ts->n].pid = pid;
	snprintf(ts->v[ts->n].path, sizeof(ts->v[0].path), "%s", path);
	ts->n++;
	return 0;
}

void kt_targets_free(struct kt_targets *ts)
{
	free(ts->v);
	memset(ts, 0, sizeof(*ts));
}

/* 1: has kaos probes, 0: a readable ELF without them, -1: not readable/ELF (err set). */
static int kaos_probe_count(const char *path, char *err, size_t errlen)
{
	struct kt_usdt_list l;
	int n, e = kt_usdt_read(path, &l);

	if (e == -KT_ELF_ENONOTES)
		return 0;
	if (e) {
		snprintf(err, errlen, "%s: %s", path, kt_elf_strerror(e));
		return -1;
	}
	n = (int)kt_usdt_count(&l, "kaos", NULL);
	kt_usdt_list_free(&l);
	return n > 0;
}

int kt_targets_add_pid(struct kt_targets *ts, pid_t pid, char *err, size_t errlen)
{
	char path[64], line[PATH_MAX + 256], seen[32][PATH_MAX];
	int nseen = 0, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no such process: %d", (int)pid);
		else if (errno == EACCES || errno == EPERM)
			/* ptrace access mode read: another user's process needs this */
			snprintf(err, errlen,
				 "cannot read %s: %s (pid %d belongs to another user: "
				 "CAP_SYS_PTRACE or root is needed)",
				 path, strerror(errno), (int)pid);
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char perms[8], file[PATH_MAX], ebuf[256];
		int dup = 0;

		if (sscanf(line, "%*x-%*x %7s %*x %*s %*u %4095s", perms, file) != 2)
			continue;
		if (file[0] != '/' || perms[2] != 'x')
			continue;
		for (int i = 0; i < nseen; i++)
			dup |= !strcmp(seen[i], file);
		if (dup || nseen == 32)
			continue;
		snprintf(seen[nseen++], PATH_MAX, "%s", file);
		/* Prefer the process's own view of the file (containers). */
		char rooted[PATH_MAX + 32];

		snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int)pid, file);
		const char *use = access(rooted, R_OK) == 0 ? rooted : file;

		if (kaos_probe_count(use, ebuf, sizeof(ebuf)) == 1) {
			if (push(ts, pid, use)) {
				fclose(f);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			found++;
		}
	}
	fclose(f);
	if (!found) {
		snprintf(err, errlen, "pid %d maps no object with kaos probes (is libkaos loaded?)",
			 (int)pid);
		return -1;
	}
	return 0;
}

int kt_targets_add_path(struct kt_targets *ts, const char *path, char *err, size_t errlen)
{
	char lib[PATH_MAX];
	struct stat st;
	int r;

	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	r = kaos_probe_count(path, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0) {
		/* A program linked against libkaos.so: its probes live in the library. */
		if (kt_elf_find_needed(path, "libkaos.so", lib, sizeof(lib)) != 0 ||
		    kaos_probe_count(lib, err, errlen) != 1) {
			snprintf(err, errlen,
				 "%s: no kaos probes (neither in it nor in a libkaos.so it needs)",
				 path);
			return -1;
		}
		path = lib;
	}
	if (push(ts, 0, path)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int kt_targets_add_pid_path(struct kt_targets *ts, pid_t pid, const char *path, char *err,
			    size_t errlen)
{
	if (push(ts, pid, path)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int kt_targets_watch_pid(struct kt_targets *ts, pid_t pid)
{
	return push(ts, pid, "");
}

int kt_targets_add_spec(struct kt_targets *ts, const char *spec, char *err, size_t errlen)
{
	char *end;
	long v = strtol(spec, &end, 10);

	if (*spec && !*end) {
		if (v <= 0 || v > 0x7fffffff) {
			snprintf(err, errlen, "invalid pid '%s'", spec);
			return -1;
		}
		return kt_targets_add_pid(ts, (pid_t)v, err, errlen);
	}
	return kt_targets_add_path(ts, spec, err, errlen);
}

int kt_check_privileges(char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	uint64_t eff;

	if (syscall(SYS_capget, &hdr, data) != 0) {
		snprintf(err, errlen, "cannot read capabilities: %s", strerror(errno));
		return -1;
	}
	eff = ((uint64_t)data[1].effective << 32) | data[0].effective;
#define HAS(c) (eff & (1ull << (c)))
	if (HAS(CAP_SYS_ADMIN))
		return 0;
	if (!HAS(CAP_BPF)) {
		snprintf(err, errlen,
			 "not enough privilege: CAP_BPF is missing (run as root, or grant CAP_BPF, "
			 "CAP_PERFMON, CAP_SYS_ADMIN and CAP_SYS_PTRACE)");
		return -1;
	}
	if (!HAS(CAP_PERFMON)) {
		snprintf(err, errlen,
			 "not enough privilege: CAP_PERFMON is missing (needed to attach uprobes)");
		return -1;
	}
#undef HAS
	/* Measured on 6.18: perf_event_open of a uprobe refuses CAP_BPF+CAP_PERFMON alone. */
	snprintf(err, errlen,
		 "not enough privilege: CAP_SYS_ADMIN is missing (uprobe attach through "
		 "perf_event_open needs it; run as root or see deploy/README.md)");
	return -1;
}
