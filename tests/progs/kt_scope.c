// SPDX-License-Identifier: MIT
/*
 * A libkaos program for the process-scope and exec tests of kaos-trace:
 *   kt_scope ops N           N sends and receives on ring "scope.ops"
 *   kt_scope wait N          the same after a line on stdin ("ready PID" first)
 *   kt_scope fork N          forks; the child does N on "scope.child", then
 *                            the parent N on "scope.parent"
 *   kt_scope exec N          N on "scope.img", then execs itself (same pid)
 *                            for N more on a new "scope.img" (ring ids restart)
 *   kt_scope spawn PROG ARG  forks a child that execs PROG ARG... (leaves
 *                            the program), waits for it
 * Every ring prints "ring ID NAME sent S recv R" and the pid as "pid P".
 * No ring operation before a fork: the child of a process that hit an
 * optimised probe site would inherit a CALL into a mapping it lacks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaos/ring.h"

static void pump(const char *name, uint64_t n)
{
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 1024, .slot_size = 8, .name = name};
	struct kaos_ring_stats st;
	struct kaos_ring *r;
	uint64_t msg = 0;
	int e = kaos_ring_create(&cfg, &r);

	if (e) {
		fprintf(stderr, "kt_scope: create %s: %s\n", name, kaos_strerror(e));
		exit(1);
	}
	for (uint64_t i = 0; i < n; i++) {
		msg = i;
		if (kaos_ring_send(r, &msg) || kaos_ring_recv(r, &msg)) {
			fprintf(stderr, "kt_scope: %s: send/recv failed\n", name);
			exit(1);
		}
	}
	kaos_ring_stats(r, &st);
	printf("ring %u %s sent %llu recv %llu pid %d\n", kaos_ring_id(r), kaos_ring_name(r),
	       (unsigned long long)st.sent_msgs, (unsigned long long)st.recv_msgs, (int)getpid());
	fflush(stdout);
	kaos_ring_destroy(r);
}

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "kt_scope: child %d failed\n", (int)pid);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
	const char *mode = argc > 1 ? argv[1] : "";
	pid_t child;

	if (argc < 3) {
		fprintf(stderr,
			"usage: kt_scope ops|wait|fork|exec|exec2 N | spawn PROG [ARG...]\n");
		return 2;
	}
	if (!strcmp(mode, "ops") || !strcmp(mode, "exec2")) {
		pump(!strcmp(mode, "ops") ? "scope.ops" : "scope.img", n);
	} else if (!strcmp(mode, "wait")) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		pump("scope.ops", n);
	} else if (!strcmp(mode, "fork")) {
		fflush(stdout);
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			pump("scope.child", n);
			_exit(0);
		}
		if (wait_child(child))
			return 1;
		pump("scope.parent", n);
	} else if (!strcmp(mode, "exec")) {
		char *args[] = {argv[0], (char *)"exec2", argv[2], NULL};
		char self[4096];
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (len <= 0)
			return 1;
		self[len] = 0; /* by its own name: comm stays kt_scope */
		pump("scope.img", n);
		execv(self, args);
		perror("kt_scope: exec");
		return 1;
	} else if (!strcmp(mode, "spawn")) {
		fflush(stdout);
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			execv(argv[2], argv + 2);
			_exit(127);
		}
		return wait_child(child);
	} else {
		fprintf(stderr, "kt_scope: unknown mode %s\n", mode);
		return 2;
	}
	return 0;
}
