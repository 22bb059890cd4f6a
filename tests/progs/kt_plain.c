// SPDX-License-Identifier: MIT
/*
 * A plain C program without libkaos (the Makefile links it without
 * -lkaos), for --profile, --off-cpu and --func on any process:
 *   kt_plain [--wait] [--calls N] [--spin-ms MS] [--block-ms MS] [--zlib N]
 *            [--strchr N]
 * --calls: calls plain_call N times; --spin-ms: spins in plain_spin for MS
 * ms of CPU time; --strchr: N calls of libc's strchr; --block-ms: sleeps in plain_block for MS ms
 * (10 ms sleeps); --zlib: N crc32() calls into libz (a library it needs). Prints "calls NAME=N" per
 * function it called.
 * --wait: prints "ready PID", waits for a line on stdin, then starts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define PLAIN_FN __attribute__((noinline))

static volatile uint64_t sink;

/* noinline: frame-pointer stacks show the caller of a libc function only from a frame above it */
PLAIN_FN static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

PLAIN_FN void plain_call(uint64_t i)
{
	sink += i;
}

PLAIN_FN void plain_spin(uint64_t ms)
{
	uint64_t t0 = cpu_ns();

	while (cpu_ns() - t0 < ms * 1000000ull)
		for (int i = 0; i < 100000; i++)
			sink += (uint64_t)i;
}

PLAIN_FN static void nap_10ms(void)
{
	struct timespec ts = {0, 10 * 1000000L};

	nanosleep(&ts, NULL);
}

PLAIN_FN void plain_block(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 10)
		nap_10ms();
}

static uint64_t arg(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return strtoull(argv[i + 1], NULL, 10);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t calls = arg(argc, argv, "--calls"), spin = arg(argc, argv, "--spin-ms");
	uint64_t block = arg(argc, argv, "--block-ms"), zcalls = arg(argc, argv, "--zlib");
	uint64_t nstrchr = arg(argc, argv, "--strchr");
	/* volatile: the compiler must not fold the calls away */
	static char *volatile hay = "kaos";
	char line[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--wait")) {
			printf("ready %d\n", (int)getpid());
			fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				return 1;
		}
	}
	for (uint64_t i = 0; i < calls; i++)
		plain_call(i);
	if (spin)
		plain_spin(spin);
	if (block)
		plain_block(block);
	for (uint64_t i = 0; i < zcalls; i++)
		sink += crc32(0, (const unsigned char *)line, 8);
	for (uint64_t i = 0; i < nstrchr; i++)
		sink += strchr(hay, 'o') != NULL;
	printf("pid %d\n", (int)getpid());
	printf("calls strchr=%llu\n", (unsigned long long)nstrchr);
	printf("calls plain_call=%llu\n", (unsigned long long)calls);
	printf("calls plain_spin=%d\n", spin ? 1 : 0);
	printf("calls plain_block=%d\n", block ? 1 : 0);
	printf("calls crc32=%llu\n", (unsigned long long)zcalls);
	return 0;
}
