/* SPDX-License-Identifier: MIT */
/* Probe semaphores and the per-process sampling control (include/kaos/probes.h). */
#include "kaos/probes.h"

KAOS_PROBE_SEMA_DEFINE(kaos, send);
KAOS_PROBE_SEMA_DEFINE(kaos, recv);
KAOS_PROBE_SEMA_DEFINE(kaos, backpressure);
KAOS_PROBE_SEMA_DEFINE(kaos, retransmit);
KAOS_PROBE_SEMA_DEFINE(kaos, ring_close);

/* Exported and not const: kaos-trace writes sample_every from outside. */
__attribute__((used, visibility("default"))) struct kaos_probe_control kaos_probe_control = {
	.magic = KAOS_PROBE_CONTROL_MAGIC,
	.version = KAOS_PROBE_CONTROL_VERSION,
	.sample_every = 1,
	.reserved = 0,
};
