/* SPDX-License-Identifier: MIT */
/*
 * Header-inline per-message send/recv: the same semantics as
 * kaos_ring_send()/kaos_ring_recv() (include/kaos/ring.h), with their fast
 * path compiled into the caller the way rte_ring and ck_ring are.
 *
 * Why: an SPSC message costs ~20 instructions inside the library, but the
 * call around them (argument set-up, spills of the caller's registers across
 * the call, call/ret, the result check) costs about as much again: a
 * same-thread loop of kaos_ring_send()+kaos_ring_recv() ran at ~0.55x of the
 * inlined rte_ring, and rte_ring itself behind a non-inlined wrapper at
 * ~0.65x of its inlined self (docs/rings.md, "Per-call cost").
 *
 * What stays in the library: the fast path here is one compare of the side's
 * cursor with its private `limit`, which libkaos keeps at min(probe gate,
 * full/empty point from the cached peer cursor) for SPSC rings and at 0 for
 * every other kind. Whatever fails the compare calls kaos_ring_send()/recv():
 * the peer-cursor refresh, the probe gate (USDT probes, semaphores, sampling,
 * sojourn stamps: unchanged, the gate is the same compare), backpressure and
 * the error codes, and all non-SPSC kinds. Counters stay exact (they are the
 * cursors). One difference: a uprobe on kaos_ring_send (kaos-trace --func)
 * sees only the calls that left the inline path.
 *
 * The offsets below are the ring block layout (core/ring_layout.h, layout
 * version 1); core/ring.c fails to compile if they drift from it.
 */
#ifndef KAOS_RING_INLINE_H
#define KAOS_RING_INLINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kaos/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KAOS_RING_OFF_SLOT_SIZE	 20u
#define KAOS_RING_OFF_MASK	 24u
#define KAOS_RING_OFF_PROD_POS	 256u
#define KAOS_RING_OFF_PROD_LIMIT 288u
#define KAOS_RING_OFF_CONS_POS	 384u
#define KAOS_RING_OFF_CONS_LIMIT 416u
#define KAOS_RING_OFF_SLOTS	 512u

/* The block is typed by core/ring.c: read and write it through aliasing-safe types. */
typedef uint64_t __attribute__((may_alias)) kaos__u64;
typedef uint32_t __attribute__((may_alias)) kaos__u32;

/* A message of size bytes (a multiple of 8, not 8): word by word. */
static inline __attribute__((always_inline)) void kaos__copy_words(void *dst, const void *src,
								   uint32_t size)
{
	for (uint32_t i = 0; i < size; i += 8)
		memcpy((unsigned char *)dst + i, (const unsigned char *)src + i, 8);
}

/* kaos_ring_send() with its SPSC fast path inlined. */
static inline __attribute__((always_inline)) int kaos_ring_send_inline(struct kaos_ring *r,
								       const void *msg)
{
	if (__builtin_expect(!r || !msg, 0))
		return kaos_ring_send(r, msg);

	unsigned char *b = (unsigned char *)r;
	kaos__u64 *posp = (kaos__u64 *)(b + KAOS_RING_OFF_PROD_POS);
	uint64_t pos = __atomic_load_n(posp, __ATOMIC_RELAXED);

	if (__builtin_expect(pos >= *(const kaos__u64 *)(b + KAOS_RING_OFF_PROD_LIMIT), 0))
		return kaos_ring_send(r, msg);
	uint32_t size = *(const kaos__u32 *)(b + KAOS_RING_OFF_SLOT_SIZE);
	size_t idx = (size_t)(pos & *(const kaos__u32 *)(b + KAOS_RING_OFF_MASK));
	unsigned char *slots = b + KAOS_RING_OFF_SLOTS;
	if (__builtin_expect(size == 8, 1))
		memcpy(slots + idx * 8, msg, 8);
	else
		kaos__copy_words(slots + idx * size, msg, size);
	__atomic_store_n(posp, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

/* kaos_ring_recv() with its SPSC fast path inlined. */
static inline __attribute__((always_inline)) int kaos_ring_recv_inline(struct kaos_ring *r,
								       void *msg)
{
	if (__builtin_expect(!r || !msg, 0))
		return kaos_ring_recv(r, msg);

	unsigned char *b = (unsigned char *)r;
	kaos__u64 *posp = (kaos__u64 *)(b + KAOS_RING_OFF_CONS_POS);
	uint64_t pos = __atomic_load_n(posp, __ATOMIC_RELAXED);

	if (__builtin_expect(pos >= *(const kaos__u64 *)(b + KAOS_RING_OFF_CONS_LIMIT), 0))
		return kaos_ring_recv(r, msg);
	uint32_t size = *(const kaos__u32 *)(b + KAOS_RING_OFF_SLOT_SIZE);
	size_t idx = (size_t)(pos & *(const kaos__u32 *)(b + KAOS_RING_OFF_MASK));
	const unsigned char *slots = b + KAOS_RING_OFF_SLOTS;
	if (__builtin_expect(size == 8, 1)) {
		uint64_t w;
		/*
		 * The slot is read before the release store that frees it; the
		 * caller's copy is written after it, so that the compiler can keep
		 * the message in a register (the cursor store may alias *msg).
		 */
		memcpy(&w, slots + idx * 8, 8);
		__atomic_store_n(posp, pos + 1, __ATOMIC_RELEASE);
		memcpy(msg, &w, 8);
		return 0;
	}
	kaos__copy_words(msg, slots + idx * size, size);
	__atomic_store_n(posp, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* KAOS_RING_INLINE_H */
