/* SPDX-License-Identifier: MIT */
/*
 * Red-zone workload for tests/integration/test_redzone.sh.
 *
 * On x86_64, Linux 6.18 turns a traced 5-byte nop into a CALL to a
 * trampoline; the CALL stores its return address at [rsp-8], inside the
 * 128-byte red zone below rsp that a leaf function may use without moving
 * rsp. libkaos' default site is therefore a combined one (a 1-byte nop, where
 * the note points and tracers attach, then a 10-byte nop: include/kaos/probes.h),
 * and the build keeps -mno-red-zone as a second line of defence. Two
 * variants run here, each behind its own probe (provider kaos_redzone):
 *
 *  c_stack      A leaf function in plain C that keeps two volatile values in
 *               its stack frame across the probe.
 *  asm_redzone  One asm statement stores two values at -8(%rsp) and
 *               -16(%rsp), executes the probe site, then reloads them, i.e.
 *               it uses the red zone whatever the compiler flags say.
 *
 * The script builds this file with each site (default, -DKAOS_PROBE_NOP1,
 * -DKAOS_PROBE_NOP5) and with and without -mno-red-zone (see there).
 *
 * Each variant reports how many of its calls saw a changed value:
 *   usage: redzone CALLS
 *   output: "c_stack calls=N corrupted=K" and "asm_redzone calls=N corrupted=K"
 * Probe argument 0 is the call index (0..N-1), so a tracer can check it read
 * the arguments right: sum(arg0) == N*(N-1)/2.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kaos/probes.h"

KAOS_PROBE_SEMA_DEFINE(kaos_redzone, c_stack);
KAOS_PROBE_SEMA_DEFINE(kaos_redzone, asm_redzone);

#define PATTERN_A 0xa5a5a5a5deadbeefull
#define PATTERN_B 0x5a5a5a5acafef00dull

/*
 * Returns 1 if a value kept in this function's own stack frame changed
 * across the probe. volatile forces both values into memory; the function
 * makes no calls, so without -mno-red-zone the compiler would put them in
 * the red zone instead of moving rsp.
 */
static __attribute__((noinline)) int c_stack_once(uint64_t i)
{
	volatile uint64_t a = PATTERN_A ^ i;
	volatile uint64_t b = PATTERN_B ^ i;

	if (KAOS_PROBE_ENABLED(kaos_redzone, c_stack))
		KAOS_PROBE1(kaos_redzone, c_stack, i);
	return a != (PATTERN_A ^ i) || b != (PATTERN_B ^ i);
}

#if defined(__x86_64__)
/*
 * The control: uses the red zone explicitly. All in one asm statement so the
 * compiler cannot place anything between the stores, the probe and the
 * reloads. The probe is not guarded by its semaphore: the nop runs on every
 * call, traced or not.
 */
#define RED_ZONE_STORE "movq %[a], -8(%%rsp)\n\tmovq %[b], -16(%%rsp)\n"
#define RED_ZONE_LOAD  "\tmovq -8(%%rsp), %[ra]\n\tmovq -16(%%rsp), %[rb]\n"

static __attribute__((noinline)) int asm_redzone_once(uint64_t i)
{
	uint64_t a = PATTERN_A ^ i, b = PATTERN_B ^ i, ra, rb;

	__asm__ __volatile__(RED_ZONE_STORE KAOS__PROBE_ASM(kaos_redzone, asm_redzone, "8@%[a0]")
				     RED_ZONE_LOAD
			     : [ra] "=&r"(ra), [rb] "=&r"(rb)
			     : [a] "r"(a), [b] "r"(b), [a0] "r"(KAOS__A(i))
			     : "memory");
	return ra != a || rb != b;
}
#endif

int main(int argc, char **argv)
{
	char *end;
	unsigned long long calls;
	uint64_t bad_c = 0, bad_asm = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CALLS\n", argv[0]);
		return 2;
	}
	errno = 0;
	calls = strtoull(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || calls == 0 || calls > 100000000ull) {
		fprintf(stderr, "redzone: CALLS must be an integer in 1..100000000, got '%s'\n",
			argv[1]);
		return 2;
	}

	for (uint64_t i = 0; i < calls; i++)
		bad_c += c_stack_once(i);
	printf("c_stack calls=%llu corrupted=%" PRIu64 "\n", calls, bad_c);

#if defined(__x86_64__)
	for (uint64_t i = 0; i < calls; i++)
		bad_asm += asm_redzone_once(i);
	printf("asm_redzone calls=%llu corrupted=%" PRIu64 "\n", calls, bad_asm);
#else
	(void)bad_asm;
	printf("asm_redzone calls=0 corrupted=0 (no red zone on this architecture)\n");
#endif
	return 0;
}
