// SPDX-License-Identifier: MIT
/* kt_phase: start-up phase marks (kt_phase.h). Records only; the driver prints. */
#include "kt_phase.h"

#include <stdint.h>
#include <stdlib.h>

#include "kt_clock.h"

#define KT_PHASE_MAX 64

static struct {
	const char *name;
	uint64_t wall_ns, cpu_ns;
} marks[KT_PHASE_MAX];
static int nmarks;
static int enabled = -1; /* -1: the environment not read yet */

void kt_phase(const char *name)
{
	if (enabled < 0)
		enabled = getenv("KAOS_TRACE_TIMING") != NULL;
	if (!enabled || nmarks == KT_PHASE_MAX)
		return;
	marks[nmarks].name = name;
	marks[nmarks].wall_ns = kt_now_ns(CLOCK_MONOTONIC);
	marks[nmarks].cpu_ns = kt_now_ns(CLOCK_PROCESS_CPUTIME_ID);
	nmarks++;
}

void kt_phase_print(FILE *f)
{
	if (!nmarks)
		return;
	/* the first mark's CPU time is what exec and ld.so cost before main */
	fprintf(f, "kaos-trace: timing: %-24s at %llu.%06llu (CLOCK_MONOTONIC) cpu %7.3f ms\n",
		marks[0].name, (unsigned long long)(marks[0].wall_ns / 1000000000ull),
		(unsigned long long)(marks[0].wall_ns % 1000000000ull / 1000),
		(double)marks[0].cpu_ns / 1e6);
	for (int i = 1; i < nmarks; i++)
		fprintf(f, "kaos-trace: timing: %-24s wall %7.3f ms cpu %7.3f ms\n", marks[i].name,
			(double)(marks[i].wall_ns - marks[i - 1].wall_ns) / 1e6,
			(double)(marks[i].cpu_ns - marks[i - 1].cpu_ns) / 1e6);
	fprintf(f, "kaos-trace: timing: %-24s wall %7.3f ms cpu %7.3f ms\n", "total (main on)",
		(double)(marks[nmarks - 1].wall_ns - marks[0].wall_ns) / 1e6,
		(double)(marks[nmarks - 1].cpu_ns - marks[0].cpu_ns) / 1e6);
}
