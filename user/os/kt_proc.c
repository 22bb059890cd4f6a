/* SPDX-License-Identifier: MIT */
/* The one /proc reader (kt_proc.h). */
#include "kt_proc.h"
#include "kt_array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* "/proc/PID/what" (pid 0 is no process: it reads as -ENOENT, never as this one). */
static void proc_path(char *buf, size_t len, pid_t pid, const char *what)
{
	snprintf(buf, len, "/proc/%d/%s", (int)pid, what);
}

int kt_proc_map_parse(char *line, struct kt_proc_map *m)
{
	unsigned long long start, end, offset, inode;
	unsigned int major, minor;
	size_t len;
	int pos = 0;

	memset(m, 0, sizeof(*m));
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, m->perms, &offset,
		   &major, &minor, &inode, &pos) < 7 ||
	    !pos || strlen(m->perms) != 4 || end < start)
		return -EINVAL;
	m->start = start;
	m->end = end;
	m->offset = offset;
	m->dev = makedev(major, minor);
	m->inode = inode;
	/* The path runs to the end of the line: it may hold spaces. */
	line += pos;
	len = strcspn(line, "\n");
	line[len] = 0;
	if (len > 10 && !strcmp(line + len - 10, " (deleted)")) {
		m->deleted = true;
		line[len - 10] = 0;
	}
	m->path = line;
	return 0;
}

int kt_proc_maps_each(pid_t pid, kt_proc_map_fn fn, void *arg)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	proc_path(path, sizeof(path), pid, "maps");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && getline(&line, &cap, f) > 0) {
		struct kt_proc_map m;

		if (kt_proc_map_parse(line, &m) == 0)
			ret = fn(&m, arg);
	}
	/* A read error part-way (the process exited) loses the rest: say so. */
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	fclose(f);
	return ret;
}

/* The files seen so far by kt_proc_files_each. */
struct files_walk {
	bool exec_only;
	kt_proc_map_fn fn;
	void *arg;
	char **seen;
	size_t n, cap;
};

static int file_once(const struct kt_proc_map *m, void *arg)
{
	struct files_walk *w = arg;
	char *copy;

	if (!kt_proc_map_file(m) || (w->exec_only && !kt_proc_map_exec(m)))
		return 0;
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->seen[i], m->path))
			return 0;
	if (kt_array_reserve(w->seen, w->cap, w->n + 1))
		return -ENOMEM;
	copy = strdup(m->path);
	if (!copy)
		return -ENOMEM;
	w->seen[w->n++] = copy;
	return w->fn(m, w->arg);
}

int kt_proc_files_each(pid_t pid, bool exec_only, kt_proc_map_fn fn, void *arg)
{
	struct files_walk w = {.exec_only = exec_only, .fn = fn, .arg = arg};
	int ret = kt_proc_maps_each(pid, file_once, &w);

	for (size_t i = 0; i < w.n; i++)
		free(w.seen[i]);
	free(w.seen);
	return ret;
}

struct map_at {
	uint64_t addr;
	struct kt_proc_map *m;
	char *path;
	size_t pathlen;
};

static int map_at_match(const struct kt_proc_map *m, void *arg)
{
	struct map_at *q = arg;

	if (q->addr < m->start || q->addr >= m->end)
		return 0;
	*q->m = *m;
	snprintf(q->path, q->pathlen, "%s", m->path);
	q->m->path = q->path;
	return 1;
}

int kt_proc_map_at(pid_t pid, uint64_t addr, struct kt_proc_map *m, char *path, size_t pathlen)
{
	struct map_at q = {addr, m, path, pathlen};
	int ret = kt_proc_maps_each(pid, map_at_match, &q);

	return ret == 1 ? 0 : ret < 0 ? ret : -ENOENT;
}

/* The first line of a small /proc file, without its newline. */
static int read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd, e;

	if (len)
		buf[0] = 0;
	if (len < 2)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	e = errno;
	close(fd);
	if (n < 0) {
		buf[0] = 0;
		return -e;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int kt_proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];

	proc_path(path, sizeof(path), pid, "comm");
	return read_line(path, buf, len);
}

int kt_proc_thread_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char what[48], path[96];

	if (tid <= 0)
		return kt_proc_comm(pid, buf, len);
	snprintf(what, sizeof(what), "task/%d/comm", (int)tid);
	proc_path(path, sizeof(path), pid, what);
	return read_line(path, buf, len);
}

int kt_proc_exe(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	if (len < 2)
		return -EINVAL;
	proc_path(path, sizeof(path), pid, "exe");
	n = readlink(path, buf, len - 1);
	if (n < 0) {
		buf[0] = 0;
		return -errno;
	}
	buf[n] = 0;
	return 0;
}

/*
 * /proc/PID/stat from its third field (the state) on: comm may hold spaces
 * and parentheses, so the fields resume after the last ')'. NULL if gone.
 */
static const char *stat_after_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	const char *p;

	proc_path(path, sizeof(path), pid, "stat");
	if (read_line(path, buf, len))
		return NULL;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

bool kt_proc_running(pid_t pid)
{
	char buf[1024];
	const char *p = stat_after_comm(pid, buf, sizeof(buf));

	return p && *p != 'Z' && *p != 'X';
}

bool kt_proc_thread_alive(pid_t pid, pid_t tid)
{
	char what[48], path[96];

	snprintf(what, sizeof(what), "task/%d", (int)tid);
	proc_path(path, sizeof(path), pid, what);
	return access(path, F_OK) == 0;
}

int kt_proc_root_path(pid_t pid, const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/proc/%d/root%s", (int)pid, path);

	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

uint64_t kt_proc_start_time(pid_t pid)
{
	char buf[1024];
	unsigned long long start = 0;
	const char *p = stat_after_comm(pid, buf, sizeof(buf));

	if (!p || sscanf(p,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu",
			 &start) != 1)
		return 0;
	return start;
}

uint64_t kt_proc_start_ns(pid_t pid)
{
	long hz = sysconf(_SC_CLK_TCK);

	return kt_proc_start_time(pid) * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

uint64_t kt_proc_cpu_ns(pid_t pid)
{
	struct timespec ts;
	clockid_t clk;

	if (clock_getcpuclockid(pid, &clk) || clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int kt_proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}
