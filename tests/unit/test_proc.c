/* SPDX-License-Identifier: MIT */
/*
 * kt_proc, the one /proc reader: mappings, names, executable, start time and
 * memory of this process, of a live child, and of a pid that has exited;
 * mapped paths with spaces, and files unlinked after they were mapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt_proc.h"

static volatile uint64_t marker = 0x1111;

static void test_parse_lines(void **state)
{
	(void)state;
	struct kt_proc_map m;
	char file[] = "7f00-7f80 r-xp 00001000 08:02 1234    /usr/lib/a b.so\n";
	char gone[] = "1000-2000 r--p 00000000 fd:01 99 /tmp/x (deleted)\n";
	char anon[] = "1000-2000 rw-p 00000000 00:00 0 \n";
	char vdso[] = "ffff000-ffff100 r-xp 00000000 00:00 0                  [vdso]\n";
	char bad[] = "not a mapping\n";

	assert_int_equal(kt_proc_map_parse(file, &m), 0);
	assert_int_equal(m.start, 0x7f00);
	assert_int_equal(m.end, 0x7f80);
	assert_int_equal(m.offset, 0x1000);
	assert_string_equal(m.perms, "r-xp");
	assert_true(kt_proc_map_exec(&m) && kt_proc_map_file(&m));
	assert_int_equal(major(m.dev), 8);
	assert_int_equal(minor(m.dev), 2);
	assert_int_equal(m.inode, 1234);
	assert_string_equal(m.path, "/usr/lib/a b.so");
	assert_false(m.deleted);

	assert_int_equal(kt_proc_map_parse(gone, &m), 0);
	assert_string_equal(m.path, "/tmp/x");
	assert_true(m.deleted);
	assert_false(kt_proc_map_exec(&m));

	assert_int_equal(kt_proc_map_parse(anon, &m), 0);
	assert_string_equal(m.path, "");
	assert_false(kt_proc_map_file(&m));

	assert_int_equal(kt_proc_map_parse(vdso, &m), 0);
	assert_string_equal(m.path, "[vdso]");
	assert_false(kt_proc_map_file(&m));

	assert_int_equal(kt_proc_map_parse(bad, &m), -EINVAL);
}

struct count {
	int maps, exec_files;
	uint64_t last_end;
	int unordered;
};

static int count_map(const struct kt_proc_map *m, void *arg)
{
	struct count *c = arg;

	c->maps++;
	c->exec_files += kt_proc_map_exec(m) && kt_proc_map_file(m);
	c->unordered += m->start < c->last_end;
	c->last_end = m->end;
	return 0;
}

static int stop_at_third(const struct kt_proc_map *m, void *arg)
{
	(void)m;
	return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_self_maps(void **state)
{
	(void)state;
	struct count c = {0};
	struct kt_proc_map m;
	char exe[4096], path[4096];
	int calls = 0;

	assert_int_equal(kt_proc_maps_each(getpid(), count_map, &c), 0);
	assert_true(c.maps > 5);
	assert_true(c.exec_files >= 2); /* this program and libc */
	assert_int_equal(c.unordered, 0);
	assert_int_equal(kt_proc_maps_each(getpid(), stop_at_third, &calls), 42);
	assert_int_equal(calls, 3);

	/* this function's code lies in this program's executable mapping */
	assert_int_equal(kt_proc_exe(getpid(), exe, sizeof(exe)), 0);
	assert_int_equal(kt_proc_map_at(getpid(), (uint64_t)(uintptr_t)test_self_maps, &m, path,
					sizeof(path)),
			 0);
	assert_string_equal(m.path, exe);
	assert_true(kt_proc_map_exec(&m));
	assert_int_equal(kt_proc_map_at(getpid(), 0, &m, path, sizeof(path)), -ENOENT);
	assert_int_equal(kt_proc_maps_each(0, count_map, &c), -ENOENT);
}

/* Distinct files, as seen by kt_proc_files_each. */
struct files {
	char paths[64][256];
	int n, dups, not_exec;
};

static int note_file(const struct kt_proc_map *m, void *arg)
{
	struct files *f = arg;

	for (int i = 0; i < f->n; i++)
		f->dups += !strcmp(f->paths[i], m->path);
	f->not_exec += !kt_proc_map_exec(m);
	if (f->n < 64)
		snprintf(f->paths[f->n++], sizeof(f->paths[0]), "%s", m->path);
	return 0;
}

static int note_distinct(const struct kt_proc_map *m, void *arg)
{
	struct files *f = arg;

	if (!kt_proc_map_file(m))
		return 0;
	for (int i = 0; i < f->n; i++)
		if (!strcmp(f->paths[i], m->path))
			return 0;
	return note_file(m, arg);
}

static void test_files_once(void **state)
{
	(void)state;
	static struct files all, once, exec_once;
	char exe[4096];

	/* libc and this program are mapped several times each: listed once */
	assert_int_equal(kt_proc_maps_each(getpid(), note_distinct, &all), 0);
	assert_int_equal(kt_proc_files_each(getpid(), false, note_file, &once), 0);
	assert_int_equal(once.dups, 0);
	assert_int_equal(once.n, all.n);
	for (int i = 0; i < all.n; i++)
		assert_string_equal(once.paths[i], all.paths[i]);
	/* exec_only: the first executable mapping of each, this program among them */
	assert_int_equal(kt_proc_files_each(getpid(), true, note_file, &exec_once), 0);
	assert_int_equal(exec_once.dups + exec_once.not_exec, 0);
	assert_true(exec_once.n >= 2 && exec_once.n <= once.n);
	assert_int_equal(kt_proc_exe(getpid(), exe, sizeof(exe)), 0);
	assert_string_equal(exec_once.paths[0], exe);
	assert_int_equal(kt_proc_files_each(0, false, note_file, &once), -ENOENT);
}

static void *named_thread(void *arg)
{
	char *name = arg;

	prctl(PR_SET_NAME, "kt-worker", 0, 0, 0);
	kt_proc_thread_comm(getpid(), gettid(), name, 16);
	return NULL;
}

/* readlink of /proc/PID/exe, without kt_proc */
static const char *link_of(pid_t pid, char *buf, size_t n)
{
	char path[64];
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	len = readlink(path, buf, n - 1);
	assert_true(len > 0);
	buf[len] = 0;
	return buf;
}

static void test_self_names_and_times(void **state)
{
	(void)state;
	char comm[16], tcomm[16] = "unset";
	pthread_t th;

	assert_int_equal(kt_proc_comm(getpid(), comm, sizeof(comm)), 0);
	/* the kernel's name: under valgrind the process is memcheck's (valgrind fakes
	 * some /proc reads of its client, not all) */
	bool valgrind = !strncmp(comm, "memcheck", 8);

	if (!valgrind)
		assert_string_equal(comm, "test_proc");
	assert_int_equal(pthread_create(&th, NULL, named_thread, tcomm), 0);
	pthread_join(th, NULL);
	assert_string_equal(tcomm, "kt-worker");
	/* the main thread keeps the process's name */
	assert_int_equal(kt_proc_thread_comm(getpid(), getpid(), comm, sizeof(comm)), 0);
	if (!valgrind)
		assert_string_equal(comm, "test_proc");
	assert_true(kt_proc_thread_alive(getpid(), gettid()));

	assert_true(kt_proc_start_time(getpid()) > 0);
	/* pid 0 is no process, never this one */
	assert_int_equal(kt_proc_start_time(0), 0);
	assert_int_equal(kt_proc_comm(0, comm, sizeof(comm)), -ENOENT);
	assert_true(kt_proc_start_time(getppid()) <= kt_proc_start_time(getpid()));
	assert_true(kt_proc_start_ns(getpid()) > 0);
	assert_true(kt_proc_cpu_ns(getpid()) > 0);
}

/* A child that names itself, changes marker, says so on fd, then waits to be killed. */
static pid_t start_child(void)
{
	int fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "kt child (x)", 0, 0, 0);
		marker = 0x2222;
		if (write(fds[1], "!", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

static void test_child_then_dead(void **state)
{
	(void)state;
	pid_t pid = start_child();
	struct count c = {0};
	char comm[16], exe[4096], cexe[4096], lexe[4096];
	uint64_t v = 0;
	int status;

	assert_int_equal(kt_proc_comm(pid, comm, sizeof(comm)), 0);
	assert_string_equal(comm, "kt child (x)");
	/* the name's parentheses do not shift the stat fields */
	assert_true(kt_proc_start_time(pid) >= kt_proc_start_time(getpid()));
	assert_int_equal(kt_proc_exe(pid, cexe, sizeof(cexe)), 0);
	assert_int_equal(kt_proc_exe(getpid(), exe, sizeof(exe)), 0);
	/* what the kernel links (valgrind shows its client only to the process itself) */
	assert_string_equal(cexe, link_of(pid, lexe, sizeof(lexe)));
	assert_string_equal(exe, link_of(getpid(), lexe, sizeof(lexe)));
	assert_int_equal(kt_proc_maps_each(pid, count_map, &c), 0);
	assert_true(c.exec_files >= 2);
	assert_int_equal(kt_proc_read_mem(pid, (uint64_t)(uintptr_t)&marker, &v, sizeof(v)), 0);
	assert_int_equal(v, 0x2222);
	assert_int_equal(marker, 0x1111);

	assert_true(kt_proc_thread_alive(pid, pid));
	assert_true(kt_proc_running(pid));
	kill(pid, SIGKILL);
	/* a zombie, not yet reaped: there, but no longer running */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_true(kt_proc_thread_alive(pid, pid));
	assert_false(kt_proc_running(pid));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_false(kt_proc_running(pid));
	c = (struct count){0};
	assert_int_equal(kt_proc_maps_each(pid, count_map, &c), -ENOENT);
	assert_int_equal(c.maps, 0);
	assert_int_equal(kt_proc_comm(pid, comm, sizeof(comm)), -ENOENT);
	assert_string_equal(comm, "");
	assert_int_equal(kt_proc_thread_comm(pid, pid, comm, sizeof(comm)), -ENOENT);
	assert_int_equal(kt_proc_exe(pid, exe, sizeof(exe)), -ENOENT);
	assert_int_equal(kt_proc_start_time(pid), 0);
	assert_int_equal(kt_proc_cpu_ns(pid), 0);
	assert_false(kt_proc_thread_alive(pid, pid));
	assert_int_equal(kt_proc_read_mem(pid, (uint64_t)(uintptr_t)&marker, &v, sizeof(v)),
			 -ESRCH);
}

/* A mapped file whose name holds spaces, then the same once it is unlinked. */
static void test_root_path(void **state)
{
	(void)state;
	char buf[64], small[16];

	assert_int_equal(kt_proc_root_path(42, "/usr/lib/x.so", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/proc/42/root/usr/lib/x.so");
	assert_int_equal(kt_proc_root_path(42, "/usr/lib/x.so", small, sizeof(small)),
			 -ENAMETOOLONG);
}

static void test_spaces_and_deleted(void **state)
{
	(void)state;
	char dir[] = "/tmp/kt proc XXXXXX", file[256], path[4096];
	struct kt_proc_map m;
	long pg = sysconf(_SC_PAGESIZE);
	void *p;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/a b (c).bin", dir);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, pg), 0);
	p = mmap(NULL, (size_t)pg, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	close(fd);

	assert_int_equal(kt_proc_map_at(getpid(), (uint64_t)(uintptr_t)p, &m, path, sizeof(path)),
			 0);
	assert_string_equal(m.path, file);
	assert_false(m.deleted);
	assert_int_equal(m.start, (uint64_t)(uintptr_t)p);

	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(kt_proc_map_at(getpid(), (uint64_t)(uintptr_t)p, &m, path, sizeof(path)),
			 0);
	assert_string_equal(m.path, file);
	assert_true(m.deleted);
	munmap(p, (size_t)pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lines),	cmocka_unit_test(test_self_maps),
		cmocka_unit_test(test_files_once),	cmocka_unit_test(test_self_names_and_times),
		cmocka_unit_test(test_child_then_dead), cmocka_unit_test(test_spaces_and_deleted),
		cmocka_unit_test(test_root_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
