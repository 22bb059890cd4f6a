/* SPDX-License-Identifier: MIT */
/* libkaos-internal side of the batched probe (include/kaos/probes.h, docs/probes.md). */
#ifndef KAOS_PROBES_INTERNAL_H
#define KAOS_PROBES_INTERNAL_H

#include <stdint.h>

/* Record types: the per-op probe each record stands for. */
enum { KAOS_REC_SEND = 0, KAOS_REC_RECV = 1, KAOS_REC_BACKPRESSURE = 2 };

/*
 * Records one operation in the calling thread's batch (call only while
 * kaos:batch is enabled); fires kaos:batch when the batch is full or old.
 */
__attribute__((visibility("hidden"))) void
kaos_probe_batch_add(uint32_t type, uint64_t ring_id, uint64_t count, uint64_t n, uint64_t bytes,
		     uint64_t dur_ns, uint64_t extra, uint64_t name, uint64_t ts_ns);

/* Fires the calling thread's pending records now (before a ring_close, say). */
__attribute__((visibility("hidden"))) void kaos_probe_batch_flush(void);

#endif
