// SPDX-License-Identifier: MIT
/* A shared library kt_funcs dlopen()s after kaos-trace attached to it by path. */
#include <stdint.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) void dl_busy_20us(void)
{
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < 20000)
		;
}
