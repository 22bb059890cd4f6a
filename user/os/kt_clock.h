/* SPDX-License-Identifier: MIT */
/* Clock reads in nanoseconds, for every kaos-trace module. */
#ifndef KT_CLOCK_H
#define KT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t kt_now_ns(int clockid)
{
	struct timespec ts;

	clock_gettime((clockid_t)clockid, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
