// SPDX-License-Identifier: MIT
/*
 * kaos_ipc_send through a named channel to a forked consumer, for the
 * folded-stack test: main -> client -> kaos_ipc_send (libkaos sends with
 * kaos_ring_send inside it).
 *   kt_ipc_send [--msgs N] [--hold-ms MS]
 * --hold-ms: stay alive MS ms after the last send (a tracer reads the
 * process's maps while it lives, as kt_workload's --hold-ms).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaos/ipc.h"

__attribute__((noinline)) static int client(struct kaos_ipc *ch, uint64_t i)
{
	return kaos_ipc_send(ch, &i, KAOS_IPC_FOREVER);
}

/* The forked consumer: n messages in order, then exits. */
static void consume(const char *name, uint64_t n)
{
	struct kaos_ipc *ch;
	uint64_t v;

	if (kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch))
		_exit(1);
	for (uint64_t i = 0; i < n; i++)
		if (kaos_ipc_recv(ch, &v, KAOS_IPC_FOREVER) || v != i)
			_exit(2);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct kaos_ipc_config cfg = {
		.kind = KAOS_RING_SPSC, .slots = 64, .slot_size = 8, .role = KAOS_IPC_PRODUCER};
	uint64_t n = 2000, hold_ms = 0;
	struct kaos_ipc *ch;
	char name[64];
	int st, rc = 0;
	pid_t c;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--msgs"))
			n = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--hold-ms"))
			hold_ms = strtoull(argv[i + 1], NULL, 0);
	}
	snprintf(name, sizeof(name), "kt-ipc-send-%d", (int)getpid());
	if (kaos_ipc_create(name, &cfg, &ch)) {
		fprintf(stderr, "kt_ipc_send: cannot create channel %s\n", name);
		return 1;
	}
	c = fork();
	if (c == 0)
		consume(name, n);
	for (uint64_t i = 0; i < n && !rc; i++)
		rc = client(ch, i);
	if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		rc = rc ? rc : 1;
	kaos_ipc_unlink(name);
	usleep((useconds_t)(hold_ms * 1000));
	if (rc)
		fprintf(stderr, "kt_ipc_send: failed (%d)\n", rc);
	return rc ? 1 : 0;
}
