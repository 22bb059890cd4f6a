/* SPDX-License-Identifier: MIT */
/*
 * Recycled buffers for the reliable UDP's queued messages (core/udp.c).
 *
 * WHY: every message is copied into a heap buffer when queued (send, or
 * delivered in order) and freed when taken (poll, recv). A hole under loss
 * holds up to a window of datagrams, then delivers them at once: 1,024
 * mallocs, 1,024 frees, and glibc trimmed and regrew the heap's top each
 * time (brk, page faults): malloc was 17 % of the receiver's CPU in
 * bench_udp's goodput under 1 % loss. Buffers for messages of
 * KAOS_UDP_POOL_MIN + 1 to KAOS_UDP_POOL_SIZE bytes (those that fill a
 * datagram of their own) go back on a free list instead. Smaller ones stay
 * with malloc: glibc's per-thread cache serves them fast, and a whole
 * fragment for each queued 64-byte message made 64 B sends 16x slower
 * (a 20x larger queue, and 1,200 bytes is past that cache). Larger ones
 * are malloc'd and freed as before. An endpoint is used by one thread at a
 * time, so the list needs no atomics.
 */
#ifndef KAOS_UDP_POOL_H
#define KAOS_UDP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "udp_wire.h" /* KAOS_UDP_INTERNAL, KAOS_UDP_WIRE_MAXFRAG */

#define KAOS_UDP_POOL_SIZE KAOS_UDP_WIRE_MAXFRAG /* bytes of a pooled buffer */
#define KAOS_UDP_POOL_MIN  512u			 /* messages up to this many bytes are not pooled */
#define KAOS_UDP_POOL_KEEP 1024u /* buffers kept at most: 1.2 MiB, a window's worth */

struct kaos_udp_pool {
	void *free;	/* first free buffer; each holds the next's address */
	uint32_t count; /* buffers on the list */
};

/* A buffer for len bytes (at least 1), or NULL if out of memory. */
KAOS_UDP_INTERNAL void *kaos_udp_pool_get(struct kaos_udp_pool *p, size_t len);
/* Gives back a buffer got for len bytes (NULL is ignored). */
KAOS_UDP_INTERNAL void kaos_udp_pool_put(struct kaos_udp_pool *p, void *buf, size_t len);
/* Frees every buffer on the list. */
KAOS_UDP_INTERNAL void kaos_udp_pool_drain(struct kaos_udp_pool *p);

#endif /* KAOS_UDP_POOL_H */
