/* SPDX-License-Identifier: MIT */
/*
 * Placement API for rings that live in memory libkaos does not own (the
 * shared-memory IPC channels of core/ipc.c). A ring is one position-
 * independent block (header, slots, sojourn stamps; no internal pointers),
 * and a struct kaos_ring * is simply the block's address in this process,
 * so every public kaos_ring_* function works on a placed ring too.
 * kaos_ring_destroy() on a placed ring fires ring_close but frees nothing.
 */
#ifndef KAOS_RING_INTERNAL_H
#define KAOS_RING_INTERNAL_H

#include <stddef.h>
#include "kaos/ring.h"

/* Bytes a block needs for this geometry (0 if the geometry is invalid). */
size_t kaos_ring_mem_size(uint32_t slots, uint32_t slot_size);

/* Formats a block at mem (64-byte aligned, size bytes). 0 or -KAOS_E*. */
int kaos_ring_init_at(void *mem, size_t size, const struct kaos_ring_config *cfg);

/*
 * Checks a block formatted by another process before trusting it: magic,
 * layout version, kind, geometry, size >= kaos_ring_mem_size(), indices
 * within one lap of each other. 0, -KAOS_ECORRUPT or -KAOS_EVERSION.
 */
int kaos_ring_validate_at(const void *mem, size_t size);

#endif /* KAOS_RING_INTERNAL_H */
