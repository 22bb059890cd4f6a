/* SPDX-License-Identifier: MIT */
/*
 * kt_proc: the one reader of /proc for the tracer. A process's mappings
 * (/proc/PID/maps), its name (comm, per process and per thread), its
 * executable, its start time, its CPU time and its memory (process_vm_readv).
 *
 * Every call returns an error (-errno) and prints nothing; every call is
 * safe from any thread (no shared state). The process may exit or exec at
 * any moment: a read gives what /proc showed at that instant, or -ENOENT /
 * -ESRCH once it is gone. pid 0 is no process (an idle CPU's samples carry
 * it): it never stands for the calling process, which is getpid().
 */
#ifndef KT_PROC_H
#define KT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of /proc/PID/maps, parsed. */
struct kt_proc_map {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset of start */
	char perms[5];	     /* "r-xp" */
	dev_t dev;
	uint64_t inode;
	/*
	 * "" for an anonymous mapping, "[vdso]" and the like for a pseudo one,
	 * else the file's path (spaces kept, " (deleted)" removed: see deleted).
	 * Valid during the callback only.
	 */
	const char *path;
	bool deleted; /* the file was unlinked after it was mapped */
};

static inline bool kt_proc_map_exec(const struct kt_proc_map *m)
{
	return m->perms[2] == 'x';
}

/* A file mapping (not anonymous, not a [pseudo] one). */
static inline bool kt_proc_map_file(const struct kt_proc_map *m)
{
	return m->path[0] == '/';
}

/* 0: go on; anything else stops the walk and is what kt_proc_maps_each returns. */
typedef int (*kt_proc_map_fn)(const struct kt_proc_map *m, void *arg);

/*
 * Calls fn for each mapping of pid, in address order. Returns 0 after the
 * last one, fn's non-zero value if it stopped the walk, or -errno when the
 * maps cannot be read (-ENOENT: no such process; -EACCES: another user's
 * process without CAP_SYS_PTRACE).
 */
int kt_proc_maps_each(pid_t pid, kt_proc_map_fn fn, void *arg);

/*
 * Calls fn once for each file pid maps (at its first mapping, or its first
 * executable one with exec_only), in address order. Returns as
 * kt_proc_maps_each does, or -ENOMEM.
 */
int kt_proc_files_each(pid_t pid, bool exec_only, kt_proc_map_fn fn, void *arg);

/*
 * Parses one maps line into m (m->path points into line, which it edits):
 * 0, or -EINVAL for a line that is not a mapping.
 */
int kt_proc_map_parse(char *line, struct kt_proc_map *m);

/* The mapping of pid holding addr (path copied into path, pathlen bytes): 0 or -errno (-ENOENT:
 * none). */
int kt_proc_map_at(pid_t pid, uint64_t addr, struct kt_proc_map *m, char *path, size_t pathlen);

/*
 * The process's name (/proc/PID/comm, or the thread's with tid > 0), without
 * the newline: 0 or -errno (buf is then "").
 */
int kt_proc_comm(pid_t pid, char *buf, size_t len);
int kt_proc_thread_comm(pid_t pid, pid_t tid, char *buf, size_t len);

/* The path of the process's executable (/proc/PID/exe): 0 or -errno. */
int kt_proc_exe(pid_t pid, char *buf, size_t len);

/* Does process pid still run: there, and not a zombie (exited, its memory gone)? */
bool kt_proc_running(pid_t pid);

/* Is thread tid of process pid still there (a zombie counts)? */
bool kt_proc_thread_alive(pid_t pid, pid_t tid);

/*
 * path (absolute) as process pid sees it, through its root (/proc/PID/root:
 * another mount namespace, a container): 0, or -ENAMETOOLONG (buf is then
 * cut short and must not be used).
 */
int kt_proc_root_path(pid_t pid, const char *path, char *buf, size_t len);

/* Start time of process pid (/proc/PID/stat field 22, clock ticks since boot); 0 if unknown. */
uint64_t kt_proc_start_time(pid_t pid);

/* The same in ns since boot (CLOCK_BOOTTIME); 0 if unknown. */
uint64_t kt_proc_start_ns(pid_t pid);

/* CPU time (user + system, all threads) that process pid has used, in ns; 0 if unreadable. */
uint64_t kt_proc_cpu_ns(pid_t pid);

/* Copies len bytes at addr of process pid: 0, or -errno (-EIO: a short read). */
int kt_proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);

#endif /* KT_PROC_H */
