/* SPDX-License-Identifier: MIT */
/*
 * Internal to libkaos: the spin-wait hint and clock reads that the ring,
 * IPC and pipeline sources share.
 */
#ifndef KAOS_CORE_CPU_H
#define KAOS_CORE_CPU_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* One round of a spin-wait: lets the sibling hyperthread (or vCPU) run. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
