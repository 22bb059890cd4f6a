/* SPDX-License-Identifier: MIT */
/* Probe semaphores and the per-process sampling control (include/kaos/probes.h). */
#include "kaos/probes.h"

#include <stddef.h>

KAOS_PROBE_SEMA_DEFINE(kaos, send);
KAOS_PROBE_SEMA_DEFINE(kaos, recv);
KAOS_PROBE_SEMA_DEFINE(kaos, backpressure);
KAOS_PROBE_SEMA_DEFINE(kaos, retransmit);
KAOS_PROBE_SEMA_DEFINE(kaos, ring_close);

/* Exported and not const: tracers write it from outside (the slots and sample_every). */
__attribute__((used, visibility("default"))) struct kaos_probe_control kaos_probe_control = {
	.magic = KAOS_PROBE_CONTROL_MAGIC,
	.version = KAOS_PROBE_CONTROL_VERSION,
	.sample_every = 1,
	.nslots = KAOS_PROBE_CONTROL_SLOTS,
};

/* Tracers rely on these offsets (version 1's fields first) and on the slots' size. */
_Static_assert(offsetof(struct kaos_probe_control, sample_every) == 8, "v1 layout");
_Static_assert(offsetof(struct kaos_probe_control, nslots) + 4 == KAOS_PROBE_CONTROL_V1_SIZE,
	       "v1 layout");
_Static_assert(offsetof(struct kaos_probe_control, owner_start) == KAOS_PROBE_CONTROL_V1_SIZE,
	       "v2 layout");
_Static_assert(offsetof(struct kaos_probe_control, owner_pid) == 24, "v2 layout");
_Static_assert(offsetof(struct kaos_probe_control, slots) == 32, "v2 layout");
_Static_assert(sizeof(struct kaos_probe_request) == 16, "slot layout");
