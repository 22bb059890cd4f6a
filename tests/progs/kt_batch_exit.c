// SPDX-License-Identifier: MIT
/*
 * Leaves batched probe records pending (kaos:batch, docs/probes.md) and
 * goes away in one of the ways a tracer must survive, for
 * tests/integration/test_trace_batch.sh:
 *   kt_batch_exit MODE N
 * Every mode does N send+recv pairs on the ring "batch.main" (N not a
 * multiple of 32: records stay pending), then:
 *   _exit    _exit(0): no destructor, no flush
 *   kill     SIGKILL to itself
 *   thread   a second thread does N pairs on "batch.thread" and returns
 *            (its buffer is flushed by the key destructor), then exit(0)
 *   fork     a forked child (holding a copy of the pending records) does
 *            N pairs on "batch.child" and _exits; the parent waits, exit(0)
 *   exec     execs itself as "_exit N" (same pid, new image)
 *   rawclone a child made by the clone syscall without glibc's fork
 *            handlers (its copy of the pending records keeps the parent's
 *            pid tag) does N pairs on "batch.raw" and _exits; exit(0)
 * Prints "done MODE PID" before leaving (not for kill).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaos/ring.h"

static long n_ops;

static void pairs(const char *name)
{
	struct kaos_ring_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 64, .slot_size = 8, .name = name};
	struct kaos_ring *r;
	uint64_t v = 0;
	int e = kaos_ring_create(&cfg, &r);

	if (e) {
		fprintf(stderr, "kt_batch_exit: create %s: %s\n", name, kaos_strerror(e));
		_exit(2);
	}
	for (long i = 0; i < n_ops; i++) {
		if (kaos_ring_send(r, &v) || kaos_ring_recv(r, &v)) {
			fprintf(stderr, "kt_batch_exit: ring error\n");
			_exit(2);
		}
	}
	/* no kaos_ring_destroy: its ring_close would flush this thread's records */
}

static void *thread_main(void *arg)
{
	(void)arg;
	pairs("batch.thread");
	return NULL;
}

static void done(const char *mode)
{
	printf("done %s %d\n", mode, (int)getpid());
	fflush(stdout);
}

static void wait_child(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, __WALL) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "kt_batch_exit: child failed\n");
		exit(2);
	}
}

static void run_rawclone(void)
{
	/* SIGCHLD and no CLONE_VM: a copy of the process, glibc's atfork handlers not run */
	long pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);

	if (pid == 0) {
		pairs("batch.raw");
		_exit(0);
	}
	wait_child((pid_t)pid);
}

int main(int argc, char **argv)
{
	const char *mode = argc == 3 ? argv[1] : "";

	n_ops = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
	if (n_ops <= 0) {
		fprintf(stderr, "usage: kt_batch_exit _exit|kill|thread|fork|exec|rawclone N\n");
		return 2;
	}
	pairs("batch.main");
	if (!strcmp(mode, "_exit")) {
		done(mode);
		_exit(0);
	} else if (!strcmp(mode, "kill")) {
		raise(SIGKILL);
	} else if (!strcmp(mode, "thread")) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_main, NULL) || pthread_join(t, NULL))
			return 2;
	} else if (!strcmp(mode, "fork")) {
		pid_t pid = fork();

		if (pid == 0) {
			pairs("batch.child");
			_exit(0);
		}
		wait_child(pid);
	} else if (!strcmp(mode, "exec")) {
		done(mode);
		execl("/proc/self/exe", argv[0], "_exit", argv[2], (char *)NULL);
		fprintf(stderr, "kt_batch_exit: exec: %s\n", strerror(errno));
		return 2;
	} else if (!strcmp(mode, "rawclone")) {
		run_rawclone();
	} else {
		fprintf(stderr, "kt_batch_exit: unknown mode '%s'\n", mode);
		return 2;
	}
	done(mode);
	return 0;
}
