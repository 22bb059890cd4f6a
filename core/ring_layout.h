/* SPDX-License-Identifier: MIT */
/*
 * The in-memory layout of a ring block (private to core/ring.c; tests may
 * include it to corrupt blocks on purpose). One contiguous, position-
 * independent block, no internal pointers:
 *
 *   offset 0     header     (128 B, written once by init_at)
 *   offset 128   counters   (128 B, slow-path counters: backpressure, retransmits)
 *   offset 256   producer   (128 B: cursor, cached consumer cursor, probe_at, claim)
 *   offset 384   consumer   (128 B: cursor, cached producer cursor, probe_at, peek)
 *   offset 512   slots      (slots * slot_size, rounded up to 128)
 *   seq_off      sequences  (slots * 8, Vyukov kinds; unused by SPSC; rounded to 128)
 *   stamp_off    stamps     (slots * 16: {seq, ts} sojourn stamps of sampled messages)
 *
 * The producer and consumer areas are 128 bytes so that the adjacent-line
 * prefetcher does not couple them.
 */
#ifndef KAOS_RING_LAYOUT_H
#define KAOS_RING_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#define KAOS_RING_MAGIC		 0x474e4952534f414bull /* "KAOSRING" little-endian */
#define KAOS_RING_LAYOUT_VERSION 1u
#define KAOS_RING_AREA		 128u /* producer/consumer area size and block granule */
#define KAOS_RING_SLOTS_MAX	 (1u << 30)

/* hdr.flags */
#define KAOS_RING_F_OWNED 1u /* block came from kaos_ring_create(): destroy frees it */

struct kaos_ring_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t kind;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t mask; /* slots - 1 */
	uint32_t id;
	uint32_t wait;
	uint32_t spin_limit;
	uint32_t flags;
	uint32_t reserved;
	uint64_t mem_size;  /* bytes this geometry needs (kaos_ring_mem_size) */
	uint64_t seq_off;   /* byte offset of the Vyukov sequence array */
	uint64_t stamp_off; /* byte offset of the sojourn stamps */
	char name[32];	    /* NUL-terminated */
	uint8_t pad[KAOS_RING_AREA - 104];
};

struct kaos_ring_counters {
	_Atomic uint64_t bp_episodes;
	_Atomic uint64_t bp_wait_ns;
	_Atomic uint64_t retransmits;
	uint8_t pad[KAOS_RING_AREA - 24];
};

/*
 * One side of the ring. Only `pos` is read by other threads. `limit` makes
 * the per-message fast path one compare (pos < limit); it is 0 for the
 * multi kinds so that the same compare sends them out of line.
 * include/kaos/ring_inline.h compiles the offsets of hdr.slot_size,
 * hdr.mask, pos, limit and the slots into callers: moving them needs a new
 * KAOS_RING_LAYOUT_VERSION (core/ring.c checks them at compile time).
 */
struct kaos_ring_side {
	_Atomic uint64_t pos;	   /* messages this side has moved (send or recv cursor) */
	uint64_t peer;		   /* SPSC: cached copy of the other side's cursor */
	_Atomic uint64_t probe_at; /* single side: position at which the probe slow path runs */
	uint64_t pending; /* SPSC: slots claimed (peeked) but not yet published (released) */
	uint64_t limit;	  /* SPSC: min(probe_at, free/filled limit from peer); others: 0 */
	uint8_t pad[KAOS_RING_AREA - 40];
};

struct kaos_ring_stamp {
	uint64_t seq;
	uint64_t ts;
};

struct kaos_ring {
	struct kaos_ring_hdr hdr;
	struct kaos_ring_counters cnt;
	struct kaos_ring_side prod;
	struct kaos_ring_side cons;
	/* slots, sequences, stamps follow */
};

_Static_assert(sizeof(struct kaos_ring_hdr) == KAOS_RING_AREA, "header is one area");
_Static_assert(sizeof(struct kaos_ring) == 4 * KAOS_RING_AREA, "fixed part is four areas");

#endif /* KAOS_RING_LAYOUT_H */
