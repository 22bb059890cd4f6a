// SPDX-License-Identifier: MIT
#include "kt_target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kt_array.h"
#include "kt_elf.h"
#include "kt_proc.h"
#include "kt_usdt.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int push_program(struct kt_targets *ts, pid_t pid, const char *path, const char *program,
			bool scoped)
{
	for (int i = 0; i < ts->n; i++)
		if (ts->v[i].pid == pid && !strcmp(ts->v[i].path, path) &&
		    !strcmp(ts->v[i].program, program))
			return 0;
	if (kt_array_reserve(ts->v, ts->cap, (size_t)ts->n + 1))
		return -1;
	memset(&ts->v[ts->n], 0, sizeof(ts->v[0]));
	ts->v[ts->n].pid = pid;
	snprintf(ts->v[ts->n].path, sizeof(ts->v[0].path), "%s", path);
	snprintf(ts->v[ts->n].program, sizeof(ts->v[0].program), "%s", program);
	ts->v[ts->n].scoped = scoped;
	ts->n++;
	return 0;
}

static int push(struct kt_targets *ts, pid_t pid, const char *path)
{
	return push_program(ts, pid, path, "", false);
}

/*
 * 1 if path is an executable program, 0 if a library, -1 if unreadable.
 * Programs: fixed-address (ET_EXEC), with an interpreter (dynamically
 * linked), or position-independent without a soname (static-pie);
 * shared libraries have a soname and no interpreter.
 */
static int is_program(const char *path)
{
	struct kt_elf *e;
	char soname[256];
	int r = 0;

	if (kt_elf_open(path, &e))
		return -1;
	if (e->ehdr.e_type == ET_EXEC) {
		r = 1;
	} else if (e->ehdr.e_type == ET_DYN) {
		for (size_t i = 0; i < e->phnum && !r; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_INTERP)
				r = 1;
		}
		if (!r && e->ehdr.e_entry && kt_elf_soname(e, soname, sizeof(soname)))
			r = 1;
	}
	kt_elf_close(e);
	return r;
}

bool kt_targets_need_scope(const struct kt_targets *ts)
{
	bool scoped = false;

	for (int i = 0; i < ts->n; i++) {
		if (ts->v[i].pid == 0 && ts->v[i].path[0] && !ts->v[i].program[0])
			return false; /* -b LIBRARY: every process mapping it */
		scoped |= ts->v[i].scoped;
	}
	return scoped;
}

int kt_program_entry(const char *program, unsigned long *offset, char *err, size_t errlen)
{
	struct kt_elf *e;
	uint64_t off;
	int r = kt_elf_open(program, &e);

	if (!r) {
		r = kt_elf_vaddr_to_offset(e, e->ehdr.e_entry, &off);
		kt_elf_close(e);
	}
	if (r) {
		snprintf(err, errlen, "%s: cannot locate the entry point: %s", program,
			 kt_elf_strerror(r));
		return -1;
	}
	*offset = (unsigned long)off;
	return 0;
}

int kt_program_pids(const struct stat *exe, void (*fn)(void *ctx, pid_t pid), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[64], *end;
		long pid = strtol(de->d_name, &end, 10);
		struct stat st;

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "%ld/exe", pid);
		/* stat follows the link to the executable (kernel threads have none) */
		if (fstatat(dirfd(d), path, &st, 0) || st.st_dev != exe->st_dev ||
		    st.st_ino != exe->st_ino)
			continue;
		fn(ctx, (pid_t)pid);
		n++;
	}
	closedir(d);
	return n;
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

/* The walk over a process's mapped files looking for objects with kaos probes. */
struct probed_walk {
	struct kt_targets *ts;
	pid_t pid;
	int found;
};

/* Each executable file (once): 0, or -ENOMEM. */
static int add_if_probed(const struct kt_proc_map *m, void *arg)
{
	struct probed_walk *w = arg;
	char rooted[PATH_MAX + 32], ebuf[256];
	const char *use;

	/* Prefer the process's own view of the file (containers). */
	use = m->path;
	if (!kt_proc_root_path(w->pid, m->path, rooted, sizeof(rooted)) && !access(rooted, R_OK))
		use = rooted;
	if (kaos_probe_count(use, ebuf, sizeof(ebuf)) != 1)
		return 0;
	if (push(w->ts, w->pid, use))
		return -ENOMEM;
	w->found++;
	return 0;
}

static void maps_error(pid_t pid, int e, char *err, size_t errlen)
{
	if (e == -ENOENT)
		snprintf(err, errlen, "no such process: %d", (int)pid);
	else if (e == -EACCES || e == -EPERM)
		/* ptrace access mode read: another user's process needs this */
		snprintf(err, errlen,
			 "cannot read /proc/%d/maps: %s (pid %d belongs to another user: "
			 "CAP_SYS_PTRACE or root is needed)",
			 (int)pid, strerror(-e), (int)pid);
	else if (e == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else
		snprintf(err, errlen, "cannot read /proc/%d/maps: %s", (int)pid, strerror(-e));
}

int kt_targets_add_pid(struct kt_targets *ts, pid_t pid, char *err, size_t errlen)
{
	struct probed_walk w = {.ts = ts, .pid = pid};
	int e = kt_proc_files_each(pid, true, add_if_probed, &w);

	if (e)
		maps_error(pid, e, err, errlen);
	else if (!w.found)
		snprintf(err, errlen, "pid %d maps no object with kaos probes (is libkaos loaded?)",
			 (int)pid);
	if (e)
		return -1;
	return w.found ? 0 : KT_TARGET_NO_PROBES;
}

int kt_targets_add_path(struct kt_targets *ts, const char *path, char *err, size_t errlen)
{
	const char *program; /* path as given, if it is a program */
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
	program = is_program(path) == 1 ? path : "";
	if (r == 0) {
		/* A program linked against libkaos.so: its probes live in the library. */
		if (kt_elf_find_needed(path, "libkaos.so", lib, sizeof(lib)) != 0 ||
		    kaos_probe_count(lib, err, errlen) != 1) {
			snprintf(err, errlen,
				 "%s: no kaos probes (neither in it nor in a libkaos.so it needs)",
				 path);
			return KT_TARGET_NO_PROBES;
		}
		path = lib;
	}
	if (push_program(ts, 0, path, program, program[0] && path == lib)) {
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

int kt_targets_watch_path(struct kt_targets *ts, const char *path)
{
	return push_program(ts, 0, "", is_program(path) == 1 ? path : "", false);
}

bool kt_target_watch_only(const struct kt_target *tg)
{
	return !tg->path[0];
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
