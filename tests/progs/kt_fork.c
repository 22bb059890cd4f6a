// SPDX-License-Identifier: MIT
/*
 * A libkaos program that forks and execs while it may be traced, for
 * tests/integration/test_fork_safety.sh and the VM guests: a traced probe
 * site must never crash a child (issue 11: on Linux 6.18 an optimised 5-byte
 * nop site becomes a CALL into a mapping that a forked child lacks).
 *
 *   kt_fork [--ops N]      reads commands from stdin, one per line:
 *
 *   ops        N send+recv pairs on the ring "fork.parent" (created at the
 *              first "ops", so it sees the tracer's semaphore at once)
 *              -> "ops done"
 *   fork       a child does N pairs on the inherited "fork.parent" and on a
 *              new ring "fork.child", then exits 0; waited for
 *              -> "child PID exit 0" or "child PID signal S"
 *   hold       forks a child that waits (on a pipe) before doing the same
 *              -> "held PID"
 *   release    lets the held child run; waited for -> as "fork"
 *   exec       execs this program again (same pid, stdin kept); the new
 *              image does N pairs on "fork.exec" -> "exec done pid PID"
 *   quit       exits: 0 if every child exited 0, 1 otherwise
 *
 * Every child's status is also counted in "children ok K bad B" at quit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaos/ring.h"

static uint64_t ops_n = 1000;
static struct kaos_ring *parent_ring;
static int children_ok, children_bad;

static struct kaos_ring *make_ring(const char *name)
{
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 64, .slot_size = 8, .name = name};
	struct kaos_ring *r;
	int e = kaos_ring_create(&cfg, &r);

	if (e) {
		fprintf(stderr, "kt_fork: create %s: %s\n", name, kaos_strerror(e));
		exit(1);
	}
	return r;
}

static void pump(struct kaos_ring *r, uint64_t n)
{
	uint64_t v = 0;

	for (uint64_t i = 0; i < n; i++) {
		int e = kaos_ring_send(r, &i);

		if (!e)
			e = kaos_ring_recv(r, &v);
		if (e || v != i) {
			fprintf(stderr, "kt_fork: ring error at %llu: %s\n", (unsigned long long)i,
				e ? kaos_strerror(e) : "wrong message");
			exit(1);
		}
	}
}

/* What a child does: both rings, then a clean exit (never returns). */
static void child_work(void)
{
	struct kaos_ring *r = make_ring("fork.child");

	if (parent_ring)
		pump(parent_ring, ops_n);
	pump(r, ops_n);
	kaos_ring_destroy(r);
	_exit(0);
}

static void reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			printf("child %d lost: %s\n", (int)pid, strerror(errno));
			children_bad++;
			return;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		printf("child %d exit 0\n", (int)pid);
		children_ok++;
	} else if (WIFSIGNALED(st)) {
		printf("child %d signal %d\n", (int)pid, WTERMSIG(st));
		children_bad++;
	} else {
		printf("child %d exit %d\n", (int)pid, WEXITSTATUS(st));
		children_bad++;
	}
}

static pid_t spawn(int hold_fd)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "kt_fork: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		char c;

		if (hold_fd >= 0 && read(hold_fd, &c, 1) != 1)
			_exit(3);
		child_work();
	}
	return pid;
}

static void do_exec(const char *self)
{
	char ops[32], exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "kt_fork: /proc/self/exe: %s\n", strerror(errno));
		exit(1);
	}
	exe[n] = 0; /* its own path, not /proc/self/exe: comm stays kt_fork */
	snprintf(ops, sizeof(ops), "%llu", (unsigned long long)ops_n);
	fflush(stdout);
	execl(exe, self, "--ops", ops, "--after-exec", (char *)NULL);
	fprintf(stderr, "kt_fork: exec: %s\n", strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	char line[64];
	pid_t held = -1;
	int hold[2] = {-1, -1};

	setvbuf(stdout, NULL, _IOLBF, 0); /* the driver waits for each answer */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			char *end;

			ops_n = strtoull(argv[++i], &end, 10);
			if (*end || !ops_n) {
				fprintf(stderr, "kt_fork: invalid --ops '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--after-exec")) {
			struct kaos_ring *r = make_ring("fork.exec");

			pump(r, ops_n);
			kaos_ring_destroy(r);
			printf("exec done pid %d\n", (int)getpid());
		} else {
			fprintf(stderr, "usage: kt_fork [--ops N] (commands on stdin)\n");
			return 2;
		}
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strcmp(line, "ops")) {
			if (!parent_ring)
				parent_ring = make_ring("fork.parent");
			pump(parent_ring, ops_n);
			printf("ops done\n");
		} else if (!strcmp(line, "fork")) {
			reap(spawn(-1));
		} else if (!strcmp(line, "hold") && held < 0) {
			if (pipe(hold)) {
				fprintf(stderr, "kt_fork: pipe: %s\n", strerror(errno));
				return 1;
			}
			held = spawn(hold[0]);
			close(hold[0]);
			printf("held %d\n", (int)held);
		} else if (!strcmp(line, "release") && held > 0) {
			if (write(hold[1], "g", 1) != 1)
				fprintf(stderr, "kt_fork: release: %s\n", strerror(errno));
			close(hold[1]);
			reap(held);
			held = -1;
		} else if (!strcmp(line, "exec")) {
			do_exec(argv[0]);
		} else if (!strcmp(line, "quit")) {
			break;
		} else {
			fprintf(stderr, "kt_fork: unknown command '%s'\n", line);
			return 2;
		}
	}
	printf("children ok %d bad %d\n", children_ok, children_bad);
	return children_bad ? 1 : 0;
}
