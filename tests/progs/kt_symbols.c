// SPDX-License-Identifier: MIT
/*
 * Calls of known counts for the symbol-resolution tests of kaos-trace
 * (tests/integration/test_func_symbols.sh):
 *   kt_symbols [--strlen N] [--memcpy N] [--local N] [--ifunc N] [--thread] [--wait]
 * --strlen / --memcpy: N calls of libc's strlen / memcpy, both IFUNCs: the
 *   calls go through function pointers, so the compiler can neither inline
 *   nor drop them, and land in the implementation the dynamic linker chose.
 * --local: N calls of local_busy(), a static function: in .symtab only, so
 *   a stripped copy has it only in its separate debug file.
 * --ifunc: N calls of kt_ifunc_sum, an IFUNC of libkt_ifunc.so that the
 *   library never calls itself; one more call before "ready" binds the
 *   lazily bound PLT slot, as in any process that has run for a while.
 * --thread: make the calls in a second thread (its stacks start in libc's
 *   start_thread), joined before exiting.
 * --wait: print "ready PID", wait for a line on stdin, then start.
 * Prints "calls NAME=N" for each.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long kt_ifunc_sum(const long *v, int n); /* libkt_ifunc.so */

static long n_strlen, n_memcpy, n_local, n_ifunc;
static long values[7] = {1, 2, 3, 4, 5, 6, 7};
static char src[64] = "kaos symbols: a string of a known length";
static char dst[64];

static size_t (*volatile strlen_fn)(const char *) = strlen;
static void *(*volatile memcpy_fn)(void *, const void *, size_t) = memcpy;
static volatile size_t sink;

static __attribute__((noinline)) void local_busy(void)
{
	for (int i = 0; i < 100; i++)
		sink += (size_t)i;
}

static void *run(void *arg)
{
	(void)arg;
	for (long i = 0; i < n_strlen; i++)
		sink += strlen_fn(src);
	for (long i = 0; i < n_memcpy; i++)
		memcpy_fn(dst, src, 1 + (size_t)(i & 31));
	for (long i = 0; i < n_local; i++)
		local_busy();
	for (long i = 0; i < n_ifunc; i++)
		sink += (size_t)kt_ifunc_sum(values, 7);
	return NULL;
}

int main(int argc, char **argv)
{
	int wait = 0, thread = 0;
	pthread_t t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--strlen") && i + 1 < argc)
			n_strlen = atol(argv[++i]);
		else if (!strcmp(argv[i], "--memcpy") && i + 1 < argc)
			n_memcpy = atol(argv[++i]);
		else if (!strcmp(argv[i], "--local") && i + 1 < argc)
			n_local = atol(argv[++i]);
		else if (!strcmp(argv[i], "--ifunc") && i + 1 < argc)
			n_ifunc = atol(argv[++i]);
		else if (!strcmp(argv[i], "--thread"))
			thread = 1;
		else if (!strcmp(argv[i], "--wait"))
			wait = 1;
		else {
			fprintf(stderr, "kt_symbols: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (n_ifunc && kt_ifunc_sum(values, 7) != 28)
		return 1;
	if (wait) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	if (thread) {
		if (pthread_create(&t, NULL, run, NULL) || pthread_join(t, NULL))
			return 1;
	} else {
		run(NULL);
	}
	printf("calls strlen=%ld\ncalls memcpy=%ld\ncalls local_busy=%ld\ncalls kt_ifunc_sum=%ld\n",
	       n_strlen, n_memcpy, n_local, n_ifunc);
	return 0;
}
