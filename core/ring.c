/* SPDX-License-Identifier: MIT */
/*
 * libkaos rings (include/kaos/ring.h, docs/rings.md).
 *
 * SPSC is a Lamport ring; MPSC/SPMC/MPMC use Vyukov per-slot sequence
 * numbers. Every operation is one always_inline body instantiated per kind
 * (the kind and the batch flag are compile-time constants in each copy), so
 * the per-message path is one switch on the kind plus the body.
 *
 * Probe gating: each side of a ring keeps a `probe_at` position on its own
 * cache line; the fast path is one compare against it. The single side
 * compares its cursor before the operation; past it, an out-of-line function
 * reads the semaphores and the sampling rate and moves probe_at to the next
 * sampled position (or 4096 further when untraced). The multi side compares
 * the positions it claimed, after its CAS, and finishes the operation out of
 * line when they reach probe_at (held at 0 while traced).
 */
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kaos/probes.h"
#include "kaos/ring.h"
#include "kaos/ring_inline.h"
#include "probes_internal.h"
#include "ring_internal.h"
#include "ring_layout.h"

/* include/kaos/ring_inline.h compiles these offsets into callers */
_Static_assert(offsetof(struct kaos_ring, hdr.slot_size) == KAOS_RING_OFF_SLOT_SIZE, "inline ABI");
_Static_assert(offsetof(struct kaos_ring, hdr.mask) == KAOS_RING_OFF_MASK, "inline ABI");
_Static_assert(offsetof(struct kaos_ring, prod.pos) == KAOS_RING_OFF_PROD_POS, "inline ABI");
_Static_assert(offsetof(struct kaos_ring, prod.limit) == KAOS_RING_OFF_PROD_LIMIT, "inline ABI");
_Static_assert(offsetof(struct kaos_ring, cons.pos) == KAOS_RING_OFF_CONS_POS, "inline ABI");
_Static_assert(offsetof(struct kaos_ring, cons.limit) == KAOS_RING_OFF_CONS_LIMIT, "inline ABI");
_Static_assert(sizeof(struct kaos_ring) == KAOS_RING_OFF_SLOTS, "inline ABI");
_Static_assert(sizeof(((struct kaos_ring *)0)->prod.pos) == 8, "inline ABI");

#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define always_inline inline __attribute__((always_inline))
#define slow_path     __attribute__((noinline, cold))
/* out of line, but optimised for speed: the traced paths run for every op while traced */
#define traced_path __attribute__((noinline))

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define REL memory_order_release

/* Untraced, the single side re-reads the semaphores every this many messages. */
#define PROBE_RECHECK	   4096u
#define SPIN_LIMIT_DEFAULT 1024u
#define NO_SEQ		   UINT64_MAX

#ifdef KAOS_NO_PROBES
#define RING_PROBES 0
/* never evaluated, but keeps the arguments "used" */
#define RING_FIRE(name, a0, a1, a2, a3, a4, a5, a6)                     \
	do {                                                            \
		if (0) {                                                \
			(void)(a0), (void)(a1), (void)(a2), (void)(a3); \
			(void)(a4), (void)(a5), (void)(a6);             \
		}                                                       \
	} while (0)
#define RING_EMIT(name, rec, ts, a0, a1, a2, a3, a4, a5, a6) \
	RING_FIRE(name, a0, a1, a2, a3, a4, a5, a6)
#else
#define RING_PROBES 1
#define RING_FIRE(name, a0, a1, a2, a3, a4, a5, a6)                          \
	do {                                                                 \
		if (KAOS_PROBE_ENABLED(kaos, name))                          \
			KAOS_PROBE7(kaos, name, a0, a1, a2, a3, a4, a5, a6); \
	} while (0)
/*
 * send, recv and backpressure: the per-op probe for tracers attached to it,
 * and a record in the thread's batch for those attached to kaos:batch
 * (include/kaos/probes.h). ts is the op's end (CLOCK_MONOTONIC).
 */
#define RING_EMIT(name, rec, ts, a0, a1, a2, a3, a4, a5, a6)                                \
	do {                                                                                \
		RING_FIRE(name, a0, a1, a2, a3, a4, a5, a6);                                \
		if (KAOS_PROBE_ENABLED(kaos, batch))                                        \
			kaos_probe_batch_add(rec, a0, a1, a2, a3, a4, a5, KAOS__A(a6), ts); \
	} while (0)
#endif
/* Semaphores as the ring paths need them: a batching tracer wants every kind of op. */
#define SEND_PROBED() (KAOS_PROBE_ENABLED(kaos, send) || KAOS_PROBE_ENABLED(kaos, batch))
#define RECV_PROBED() (KAOS_PROBE_ENABLED(kaos, recv) || KAOS_PROBE_ENABLED(kaos, batch))

static _Atomic uint32_t next_ring_id = 1;

/* ------------------------------------------------------------------ helpers */

static inline uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static inline size_t round_area(size_t n)
{
	return (n + KAOS_RING_AREA - 1) & ~(size_t)(KAOS_RING_AREA - 1);
}

static inline bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

static always_inline uint8_t *slot_at(struct kaos_ring *r, uint64_t pos)
{
	return (uint8_t *)(r + 1) + (size_t)(pos & r->hdr.mask) * r->hdr.slot_size;
}

static always_inline _Atomic uint64_t *seq_arr(struct kaos_ring *r)
{
	return (_Atomic uint64_t *)((uint8_t *)r + r->hdr.seq_off);
}

static always_inline struct kaos_ring_stamp *stamp_arr(struct kaos_ring *r)
{
	return (struct kaos_ring_stamp *)((uint8_t *)r + r->hdr.stamp_off);
}

/* One message: fixed 8-byte words (a single word for 8-byte slots). */
static always_inline void copy_msg(void *restrict dst, const void *restrict src, uint32_t size)
{
	uint64_t w;

	if (likely(size == 8)) {
		memcpy(&w, src, 8);
		memcpy(dst, &w, 8);
		return;
	}
	for (uint32_t i = 0; i < size; i += 8) {
		memcpy(&w, (const uint8_t *)src + i, 8);
		memcpy((uint8_t *)dst + i, &w, 8);
	}
}

/* One message into / out of the slot of pos; 8-byte slots need no multiply. */
static always_inline void copy_in1(struct kaos_ring *r, uint64_t pos, const void *msg)
{
	uint8_t *base = (uint8_t *)(r + 1);
	size_t idx = (size_t)(pos & r->hdr.mask);
	uint32_t size = r->hdr.slot_size;

	if (likely(size == 8))
		memcpy(base + idx * 8, msg, 8);
	else
		copy_msg(base + idx * size, msg, size);
}

static always_inline void copy_out1(struct kaos_ring *r, uint64_t pos, void *msg)
{
	const uint8_t *base = (const uint8_t *)(r + 1);
	size_t idx = (size_t)(pos & r->hdr.mask);
	uint32_t size = r->hdr.slot_size;

	if (likely(size == 8))
		memcpy(msg, base + idx * 8, 8);
	else
		copy_msg(msg, base + idx * size, size);
}

/* k messages from ring positions [pos, pos+k) out to dst (or in from src): at most two runs. */
static always_inline void copy_run(struct kaos_ring *r, uint64_t pos, uint32_t k, uint8_t *buf,
				   bool in)
{
	uint32_t size = r->hdr.slot_size;
	uint32_t idx = (uint32_t)(pos & r->hdr.mask);
	uint32_t first = r->hdr.slots - idx;
	uint8_t *slots = (uint8_t *)(r + 1);

	if (first > k)
		first = k;
	if (in) {
		memcpy(slots + (size_t)idx * size, buf, (size_t)first * size);
		if (k > first)
			memcpy(slots, buf + (size_t)first * size, (size_t)(k - first) * size);
	} else {
		memcpy(buf, slots + (size_t)idx * size, (size_t)first * size);
		if (k > first)
			memcpy(buf + (size_t)first * size, slots, (size_t)(k - first) * size);
	}
}

/* ------------------------------------------------------------------ probe context */

/* State of one traced operation (NULL on the untraced fast path). */
struct probe_ctx {
	uint64_t mask;	   /* sampling: sequence numbers s with (s & mask) == 0 */
	uint64_t t0;	   /* op start (0: not read yet) */
	uint64_t ts;	   /* producer: time written into stamps */
	uint64_t sampled;  /* first sampled sequence in the op's range, or NO_SEQ */
	uint64_t stamp_ts; /* consumer: the producer's stamp of `sampled` (0: none) */
	bool stamp;	   /* producer: write stamps for sampled messages */
};

static always_inline uint64_t sample_mask(void)
{
	uint32_t n = kaos_probe_control.sample_every;

	if (n <= 1)
		return 0;
	return ((uint64_t)1 << (31 - __builtin_clz(n))) - 1;
}

/* First sampled sequence >= pos. */
static always_inline uint64_t next_sampled(uint64_t pos, uint64_t mask)
{
	return (pos + mask) & ~mask;
}

static always_inline void pc_init(struct probe_ctx *pc, uint64_t mask, bool stamp)
{
	pc->mask = mask;
	pc->t0 = 0;
	pc->ts = 0;
	pc->sampled = NO_SEQ;
	pc->stamp_ts = 0;
	pc->stamp = stamp;
}

/* Producer owns [pos, pos+k): stamp every sampled message in it before publishing. */
static always_inline void pc_produced(struct kaos_ring *r, struct probe_ctx *pc, uint64_t pos,
				      uint32_t k)
{
	uint64_t s = next_sampled(pos, pc->mask);

	if (s >= pos + k)
		return;
	if (pc->sampled == NO_SEQ)
		pc->sampled = s;
	if (!pc->t0)
		pc->t0 = now_ns(); /* multi side: sampled only known after the claim */
	if (!pc->ts)
		pc->ts = pc->t0;
	if (!pc->stamp)
		return;
	struct kaos_ring_stamp *st = stamp_arr(r);
	for (; s < pos + k; s += pc->mask + 1) {
		st[s & r->hdr.mask].seq = s;
		st[s & r->hdr.mask].ts = pc->ts;
	}
}

/* Consumer owns [pos, pos+k): read the stamp of the first sampled message before releasing. */
static always_inline void pc_consumed(struct kaos_ring *r, struct probe_ctx *pc, uint64_t pos,
				      uint32_t k)
{
	uint64_t s = next_sampled(pos, pc->mask);

	if (s >= pos + k || pc->sampled != NO_SEQ)
		return;
	pc->sampled = s;
	if (!pc->t0)
		pc->t0 = now_ns();
	struct kaos_ring_stamp *st = &stamp_arr(r)[s & r->hdr.mask];
	if (st->seq == s)
		pc->stamp_ts = st->ts;
}

/* ------------------------------------------------------------------ backpressure */

/* A send found no free slot: count the episode; 0 = fail now, else the wait start time. */
static slow_path uint64_t bp_begin(struct kaos_ring *r)
{
	uint64_t ep = atomic_fetch_add_explicit(&r->cnt.bp_episodes, 1, RLX) + 1;

	if (r->hdr.wait == KAOS_WAIT_FAIL) {
		RING_EMIT(backpressure, KAOS_REC_BACKPRESSURE, now_ns(), r->hdr.id, ep, 1, 0, 0,
			  atomic_load_explicit(&r->prod.pos, RLX), r->hdr.name);
		return 0;
	}
	return now_ns();
}

static slow_path void bp_pause(struct kaos_ring *r, uint32_t *spins)
{
	uint32_t limit = r->hdr.spin_limit ? r->hdr.spin_limit : SPIN_LIMIT_DEFAULT;

	if (r->hdr.wait == KAOS_WAIT_YIELD && *spins >= limit) {
		sched_yield();
		return;
	}
	(*spins)++;
	cpu_relax();
}

static slow_path uint64_t bp_end(struct kaos_ring *r, uint64_t t_begin)
{
	uint64_t t1 = now_ns();
	uint64_t wait = t1 > t_begin ? t1 - t_begin : 0;

	atomic_fetch_add_explicit(&r->cnt.bp_wait_ns, wait, RLX);
	RING_EMIT(backpressure, KAOS_REC_BACKPRESSURE, t1, r->hdr.id,
		  atomic_load_explicit(&r->cnt.bp_episodes, RLX), 1, 0, wait,
		  atomic_load_explicit(&r->prod.pos, RLX), r->hdr.name);
	return t1;
}

/* ------------------------------------------------------------------ probe gate helpers */

/* Semaphore state as the producer needs it: stamps serve the recv probe's sojourn too. */
static always_inline bool send_traced(void)
{
	return SEND_PROBED() || RECV_PROBED();
}

static always_inline uint64_t probe_at(struct kaos_ring_side *side)
{
	return atomic_load_explicit(&side->probe_at, RLX);
}

/*
 * SPSC folds the probe gate into the full/empty check: each side's private
 * `limit` is min(probe_at, the position at which its cached peer cursor says
 * the ring is full/empty), so the per-message fast path is one compare.
 * Recomputed whenever the side changes its probe_at or refreshes its peer.
 */
static always_inline void spsc_prod_limit(struct kaos_ring *r)
{
	uint64_t lim = r->prod.peer + r->hdr.slots;

	if (RING_PROBES && probe_at(&r->prod) < lim)
		lim = probe_at(&r->prod);
	r->prod.limit = lim;
}

static always_inline void spsc_cons_limit(struct kaos_ring *r)
{
	uint64_t lim = r->cons.peer;

	if (RING_PROBES && probe_at(&r->cons) < lim)
		lim = probe_at(&r->cons);
	r->cons.limit = lim;
}

static always_inline void set_prod_probe_at(struct kaos_ring *r, uint64_t at)
{
	atomic_store_explicit(&r->prod.probe_at, at, RLX);
	if (r->hdr.kind == KAOS_RING_SPSC)
		spsc_prod_limit(r);
}

static always_inline void set_cons_probe_at(struct kaos_ring *r, uint64_t at)
{
	atomic_store_explicit(&r->cons.probe_at, at, RLX);
	if (r->hdr.kind == KAOS_RING_SPSC)
		spsc_cons_limit(r);
}

static void prod_claimed_traced(struct kaos_ring *r, uint64_t pos, uint32_t k, const void *src,
				bool batch);
static int send1_probed_spsc(struct kaos_ring *r, const void *m);
static int recv1_probed_spsc(struct kaos_ring *r, void *m);
static void cons_claimed_traced(struct kaos_ring *r, uint64_t pos, uint32_t k, void *dst,
				bool batch);

/* ------------------------------------------------------------------ producer side */

#define KIND_SPSC KAOS_RING_SPSC
#define KIND_MPSC KAOS_RING_MPSC
#define KIND_SPMC KAOS_RING_SPMC
#define KIND_MPMC KAOS_RING_MPMC

static always_inline bool multi_prod(int kind)
{
	return kind == KIND_MPSC || kind == KIND_MPMC;
}

static always_inline bool multi_cons(int kind)
{
	return kind == KIND_SPMC || kind == KIND_MPMC;
}

/*
 * Reserves up to want free slots starting at *pos (0 when full). SPSC:
 * contig limits the run to the ring's end (zero-copy claim). Vyukov: a run
 * of consecutive free slots, claimed with one CAS on the multi side.
 */
static always_inline uint32_t prod_reserve(struct kaos_ring *r, int kind, uint32_t want,
					   uint64_t *pos_out, bool contig)
{
	uint64_t cap = r->hdr.slots;
	/* single producer: the caller loaded its own cursor into *pos_out already */
	uint64_t pos = multi_prod(kind) ? atomic_load_explicit(&r->prod.pos, RLX) : *pos_out;

	if (kind == KIND_SPSC) {
		uint64_t used = pos - r->prod.peer;
		if (unlikely(used + want > cap)) {
			r->prod.peer = atomic_load_explicit(&r->cons.pos, ACQ);
			spsc_prod_limit(r);
			used = pos - r->prod.peer;
			if (used >= cap) /* full (or a corrupt cursor) */
				return 0;
		}
		uint64_t k = cap - used;
		if (contig && k > cap - (pos & r->hdr.mask))
			k = cap - (pos & r->hdr.mask);
		*pos_out = pos;
		return k < want ? (uint32_t)k : want;
	}

	_Atomic uint64_t *seq = seq_arr(r);
	uint64_t mask = r->hdr.mask;
	for (;;) {
		uint64_t s = atomic_load_explicit(&seq[pos & mask], ACQ);
		int64_t dif = (int64_t)(s - pos);
		if (likely(dif == 0)) {
			uint32_t k = 1;
			while (k < want &&
			       atomic_load_explicit(&seq[(pos + k) & mask], ACQ) == pos + k)
				k++;
			if (!multi_prod(kind)) {
				*pos_out = pos;
				return k;
			}
			if (atomic_compare_exchange_weak_explicit(&r->prod.pos, &pos, pos + k, RLX,
								  RLX)) {
				*pos_out = pos;
				return k;
			}
			/* pos now holds the current cursor */
		} else if (dif < 0) {
			return 0; /* the slot of the previous lap is not consumed yet: full */
		} else {
			if (!multi_prod(kind))
				return 0; /* corrupt sequence; never for a sane ring */
			pos = atomic_load_explicit(&r->prod.pos, RLX);
		}
	}
}

static always_inline void prod_publish(struct kaos_ring *r, int kind, uint64_t pos, uint32_t k)
{
	if (kind == KIND_SPSC) {
		atomic_store_explicit(&r->prod.pos, pos + k, REL);
		return;
	}
	_Atomic uint64_t *seq = seq_arr(r);
	for (uint32_t i = 0; i < k; i++)
		atomic_store_explicit(&seq[(pos + i) & r->hdr.mask], pos + i + 1, REL);
	if (!multi_prod(kind))
		atomic_store_explicit(&r->prod.pos, pos + k, REL);
}

/*
 * The waiting part of a send: messages [sent, n) after the fast path found
 * the ring (partly) full. Returns 0 / -KAOS_EFULL for one message, the
 * count sent for a batch. A stall (no free slot at all) is one backpressure
 * episode; with KAOS_WAIT_FAIL a batch stops at the first stall and the
 * stall counts only if nothing was sent. Kept out of line so that the fast
 * path stays a leaf with few registers.
 */
static slow_path int send_wait(struct kaos_ring *r, int kind, const void *msgs, uint32_t n,
			       bool batch, struct probe_ctx *pc, uint32_t sent)
{
	uint32_t size = r->hdr.slot_size;
	uint32_t spins = 0;
	uint64_t t_bp = 0;

	while (sent < n) {
		uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);
		uint32_t k;
		switch (kind) { /* constant-folded reserve per kind */
		case KIND_SPSC:
			k = prod_reserve(r, KIND_SPSC, n - sent, &pos, false);
			break;
		case KIND_SPMC:
			k = prod_reserve(r, KIND_SPMC, n - sent, &pos, false);
			break;
		default:
			k = prod_reserve(r, KIND_MPMC, n - sent, &pos, false);
			break;
		}
		if (k == 0) {
			if (!t_bp) {
				if (batch && sent && r->hdr.wait == KAOS_WAIT_FAIL)
					break;
				t_bp = bp_begin(r);
				if (!t_bp)
					return batch ? (int)sent : -KAOS_EFULL;
			}
			bp_pause(r, &spins);
			continue;
		}
		if (t_bp) {
			uint64_t t1 = bp_end(r, t_bp);
			if (pc)
				pc->ts = t1; /* stamp after the wait: sojourn is time in the ring */
			t_bp = 0;
			spins = 0;
		}
		const uint8_t *src = (const uint8_t *)msgs + (size_t)sent * size;
		sent += k;
		if (RING_PROBES && multi_prod(kind) && unlikely(pos + k > probe_at(&r->prod))) {
			prod_claimed_traced(r, pos, k, src, true);
			continue;
		}
		copy_run(r, pos, k, (uint8_t *)src, true);
		if (pc)
			pc_produced(r, pc, pos, k);
		if (kind == KIND_SPSC)
			prod_publish(r, KIND_SPSC, pos, k);
		else if (kind == KIND_SPMC)
			prod_publish(r, KIND_SPMC, pos, k);
		else
			prod_publish(r, KIND_MPMC, pos, k);
		if (batch && r->hdr.wait == KAOS_WAIT_FAIL && kind == KIND_SPSC)
			break; /* SPSC reserve already returned every free slot */
	}
	return batch ? (int)sent : 0;
}

/* Sends n messages (batch) or one (!batch): one reservation, the rest out of line. */
static always_inline int send_body(struct kaos_ring *r, int kind, const void *msgs, uint32_t n,
				   bool batch, struct probe_ctx *pc, uint64_t pos, bool gate)
{
	if (kind == KIND_SPSC && !batch) {
		/* the headline path: one compare covers the probe gate and the full check */
		if (unlikely(pos >= r->prod.limit)) {
			if (RING_PROBES && gate && pos >= probe_at(&r->prod))
				return send1_probed_spsc(r, msgs);
			r->prod.peer = atomic_load_explicit(&r->cons.pos, ACQ);
			spsc_prod_limit(r);
			if (unlikely(pos - r->prod.peer >= r->hdr.slots))
				return send_wait(r, kind, msgs, 1, false, pc, 0);
		}
		copy_in1(r, pos, msgs);
		if (pc)
			pc_produced(r, pc, pos, 1);
		atomic_store_explicit(&r->prod.pos, pos + 1, REL);
		return 0;
	}

	/* multi side: read probe_at before the CAS, whose full barrier would delay the load */
	uint64_t gate_at = RING_PROBES && multi_prod(kind) ? probe_at(&r->prod) : 0;
	uint32_t k = prod_reserve(r, kind, batch ? n : 1, &pos, false);

	if (unlikely(k == 0))
		return send_wait(r, kind, msgs, n, batch, pc, 0);
	if (RING_PROBES && multi_prod(kind) && unlikely(pos + k > gate_at)) {
		/* multi side: the probe gate runs once the positions are known */
		prod_claimed_traced(r, pos, k, msgs, batch);
	} else {
		if (batch)
			copy_run(r, pos, k, (uint8_t *)msgs, true);
		else
			copy_in1(r, pos, msgs);
		if (pc)
			pc_produced(r, pc, pos, k);
		prod_publish(r, kind, pos, k);
	}
	if (batch && unlikely(k < n)) {
		if (r->hdr.wait == KAOS_WAIT_FAIL && kind == KIND_SPSC)
			return (int)k;
		return send_wait(r, kind, msgs, n, batch, pc, k);
	}
	return batch ? (int)k : 0;
}

/* ------------------------------------------------------------------ consumer side */

static always_inline uint32_t cons_reserve(struct kaos_ring *r, int kind, uint32_t want,
					   uint64_t *pos_out, bool contig)
{
	uint64_t cap = r->hdr.slots;
	/* single consumer: the caller loaded its own cursor into *pos_out already */
	uint64_t pos = multi_cons(kind) ? atomic_load_explicit(&r->cons.pos, RLX) : *pos_out;

	if (kind == KIND_SPSC) {
		uint64_t avail = r->cons.peer - pos;
		if (unlikely(avail < want)) {
			r->cons.peer = atomic_load_explicit(&r->prod.pos, ACQ);
			spsc_cons_limit(r);
			avail = r->cons.peer - pos;
			if (avail == 0 || avail > cap) /* empty (or a corrupt cursor) */
				return 0;
		}
		if (contig && avail > cap - (pos & r->hdr.mask))
			avail = cap - (pos & r->hdr.mask);
		*pos_out = pos;
		return avail < want ? (uint32_t)avail : want;
	}

	_Atomic uint64_t *seq = seq_arr(r);
	uint64_t mask = r->hdr.mask;
	for (;;) {
		uint64_t s = atomic_load_explicit(&seq[pos & mask], ACQ);
		int64_t dif = (int64_t)(s - (pos + 1));
		if (likely(dif == 0)) {
			uint32_t k = 1;
			while (k < want &&
			       atomic_load_explicit(&seq[(pos + k) & mask], ACQ) == pos + k + 1)
				k++;
			if (!multi_cons(kind)) {
				*pos_out = pos;
				return k;
			}
			if (atomic_compare_exchange_weak_explicit(&r->cons.pos, &pos, pos + k, RLX,
								  RLX)) {
				*pos_out = pos;
				return k;
			}
		} else if (dif < 0) {
			return 0; /* not published yet: empty */
		} else {
			if (!multi_cons(kind))
				return 0;
			pos = atomic_load_explicit(&r->cons.pos, RLX);
		}
	}
}

/* Gives [pos, pos+k) back to the producers; only after the messages were copied out. */
static always_inline void cons_release(struct kaos_ring *r, int kind, uint64_t pos, uint32_t k)
{
	if (kind == KIND_SPSC) {
		atomic_store_explicit(&r->cons.pos, pos + k, REL);
		return;
	}
	_Atomic uint64_t *seq = seq_arr(r);
	uint64_t cap = r->hdr.slots;
	for (uint32_t i = 0; i < k; i++)
		atomic_store_explicit(&seq[(pos + i) & r->hdr.mask], pos + i + cap, REL);
	if (!multi_cons(kind))
		atomic_store_explicit(&r->cons.pos, pos + k, REL);
}

static always_inline int recv_body(struct kaos_ring *r, int kind, void *msgs, uint32_t max,
				   bool batch, struct probe_ctx *pc, uint64_t pos, bool gate)
{
	if (kind == KIND_SPSC && !batch) {
		/* one compare covers the probe gate and the empty check */
		if (unlikely(pos >= r->cons.limit)) {
			if (RING_PROBES && gate && pos >= probe_at(&r->cons))
				return recv1_probed_spsc(r, msgs);
			r->cons.peer = atomic_load_explicit(&r->prod.pos, ACQ);
			spsc_cons_limit(r);
			/* empty, or a corrupt producer cursor more than a lap ahead */
			if (pos == r->cons.peer || r->cons.peer - pos > r->hdr.slots)
				return -KAOS_EEMPTY;
		}
		copy_out1(r, pos, msgs);
		if (pc)
			pc_consumed(r, pc, pos, 1);
		atomic_store_explicit(&r->cons.pos, pos + 1, REL);
		return 0;
	}

	uint64_t gate_at = RING_PROBES && multi_cons(kind) ? probe_at(&r->cons) : 0;
	uint32_t k = cons_reserve(r, kind, batch ? max : 1, &pos, false);

	if (!k)
		return batch ? 0 : -KAOS_EEMPTY;
	if (RING_PROBES && multi_cons(kind) && unlikely(pos + k > gate_at)) {
		cons_claimed_traced(r, pos, k, msgs, batch);
		return batch ? (int)k : 0;
	}
	if (batch)
		copy_run(r, pos, k, msgs, false);
	else
		copy_out1(r, pos, msgs);
	if (pc)
		pc_consumed(r, pc, pos, k);
	cons_release(r, kind, pos, k);
	return batch ? (int)k : 0;
}

/* Is a message waiting at the consumer cursor? (cheap check before reading clocks) */
static always_inline bool cons_ready(struct kaos_ring *r, int kind)
{
	uint64_t pos = atomic_load_explicit(&r->cons.pos, RLX);

	if (kind == KIND_SPSC)
		return atomic_load_explicit(&r->prod.pos, ACQ) != pos;
	return atomic_load_explicit(&seq_arr(r)[pos & r->hdr.mask], ACQ) == pos + 1;
}

/* ------------------------------------------------------------------ traced paths */

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static slow_path void fire_send(struct kaos_ring *r, struct probe_ctx *pc, uint64_t count, int done)
{
	if (!SEND_PROBED()) /* only recv traced: the stamps were the point */
		return;
	uint64_t t1 = now_ns();
	uint64_t n = (uint64_t)done;

	RING_EMIT(send, KAOS_REC_SEND, t1, r->hdr.id, count, n, n * r->hdr.slot_size, t1 - pc->t0,
		  atomic_load_explicit(&r->cnt.bp_episodes, RLX), r->hdr.name);
}

static slow_path void fire_recv(struct kaos_ring *r, struct probe_ctx *pc, uint64_t count, int done)
{
	uint64_t t1 = now_ns();
	uint64_t n = (uint64_t)done;
	uint64_t soj = pc->stamp_ts && t1 > pc->stamp_ts ? t1 - pc->stamp_ts : 0;

	RING_EMIT(recv, KAOS_REC_RECV, t1, r->hdr.id, count, n, n * r->hdr.slot_size, t1 - pc->t0,
		  soj, r->hdr.name);
}

/*
 * Single side (SPSC, SPMC producer, MPSC consumer): the slow path of the
 * probe gate, entered before the operation when the cursor reached probe_at.
 */
static always_inline int send_probed(struct kaos_ring *r, int kind, const void *msgs, uint32_t n,
				     bool batch)
{
	struct probe_ctx pc;
	uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);
	uint64_t span = batch ? n : 1;

	if (!send_traced()) {
		set_prod_probe_at(r, pos + PROBE_RECHECK);
		return send_body(r, kind, msgs, n, batch, NULL, pos, false);
	}
	uint64_t mask = sample_mask();
	if (next_sampled(pos, mask) >= pos + span) {
		/* traced, but this op holds no sampled message: full speed until the next one */
		set_prod_probe_at(r, min_u64(next_sampled(pos + span, mask), pos + PROBE_RECHECK));
		return send_body(r, kind, msgs, n, batch, NULL, pos, false);
	}
	pc_init(&pc, mask, true);
	pc.t0 = pc.ts = now_ns();
	int rc = send_body(r, kind, msgs, n, batch, &pc, pos, false);
	uint64_t end = atomic_load_explicit(&r->prod.pos, RLX);
	set_prod_probe_at(r, min_u64(next_sampled(end, mask), end + PROBE_RECHECK));
	if (pc.sampled != NO_SEQ && rc >= 0)
		fire_send(r, &pc, end, batch ? rc : 1);
	return rc;
}

static always_inline int recv_probed(struct kaos_ring *r, int kind, void *msgs, uint32_t max,
				     bool batch)
{
	struct probe_ctx pc;
	uint64_t pos = atomic_load_explicit(&r->cons.pos, RLX);
	uint64_t span = batch ? max : 1;

	if (!RECV_PROBED()) {
		set_cons_probe_at(r, pos + PROBE_RECHECK);
		return recv_body(r, kind, msgs, max, batch, NULL, pos, false);
	}
	uint64_t mask = sample_mask();
	if (next_sampled(pos, mask) >= pos + span) {
		set_cons_probe_at(r, min_u64(next_sampled(pos + span, mask), pos + PROBE_RECHECK));
		return recv_body(r, kind, msgs, max, batch, NULL, pos, false);
	}
	if (!cons_ready(r, kind)) /* polling an empty ring reads no clock */
		return batch ? 0 : -KAOS_EEMPTY;
	pc_init(&pc, mask, false);
	pc.t0 = now_ns();
	int rc = recv_body(r, kind, msgs, max, batch, &pc, pos, false);
	uint64_t end = atomic_load_explicit(&r->cons.pos, RLX);
	set_cons_probe_at(r, min_u64(next_sampled(end, mask), end + PROBE_RECHECK));
	if (pc.sampled != NO_SEQ && rc >= 0)
		fire_recv(r, &pc, end, batch ? rc : 1);
	return rc;
}

/*
 * Multi side (MPSC/MPMC producers, SPMC/MPMC consumers): the slow path of
 * the probe gate, entered after the claim when [pos, pos+k) reached
 * probe_at; it finishes the operation. Which positions an operation gets is
 * known only after its CAS, so sampling is decided here, exactly, and the
 * clock of a sampled operation starts after its claim. probe_at is shared
 * by the side's threads: untraced, whoever passes it moves it 4096 ahead;
 * traced, it is held at 0 so that every operation comes here (a racing
 * "untraced" store can only delay the next check by 4096 positions).
 */
static traced_path void prod_claimed_traced(struct kaos_ring *r, uint64_t pos, uint32_t k,
					    const void *src, bool batch)
{
	uint64_t mask = 0;
	bool traced = send_traced();

	set_prod_probe_at(r, traced ? 0 : pos + k + PROBE_RECHECK);
	if (traced)
		mask = sample_mask();
	if (!traced || next_sampled(pos, mask) >= pos + k) {
		if (batch)
			copy_run(r, pos, k, (uint8_t *)src, true);
		else
			copy_in1(r, pos, src);
		prod_publish(r, KIND_MPMC, pos, k);
		return;
	}
	struct probe_ctx pc;
	pc_init(&pc, mask, true);
	if (batch)
		copy_run(r, pos, k, (uint8_t *)src, true);
	else
		copy_in1(r, pos, src);
	pc_produced(r, &pc, pos, k); /* reads the clock, writes the stamps */
	prod_publish(r, KIND_MPMC, pos, k);
	fire_send(r, &pc, atomic_load_explicit(&r->prod.pos, RLX), (int)k);
}

static traced_path void cons_claimed_traced(struct kaos_ring *r, uint64_t pos, uint32_t k,
					    void *dst, bool batch)
{
	uint64_t mask = 0;
	bool traced = RECV_PROBED();

	set_cons_probe_at(r, traced ? 0 : pos + k + PROBE_RECHECK);
	if (traced)
		mask = sample_mask();
	if (batch)
		copy_run(r, pos, k, dst, false);
	else
		copy_out1(r, pos, dst);
	if (!traced || next_sampled(pos, mask) >= pos + k) {
		cons_release(r, KIND_MPMC, pos, k);
		return;
	}
	struct probe_ctx pc;
	pc_init(&pc, mask, false);
	pc_consumed(r, &pc, pos, k); /* reads the clock and the stamp */
	cons_release(r, KIND_MPMC, pos, k);
	fire_recv(r, &pc, atomic_load_explicit(&r->cons.pos, RLX), (int)k);
}

/* Out-of-line copies of the single-side slow paths: the hot functions only branch to them. */
#define DEFINE_SEND_PROBED(KIND, tag)                                                             \
	static traced_path int send1_probed_##tag(struct kaos_ring *r, const void *m)             \
	{                                                                                         \
		return send_probed(r, KIND, m, 1, false);                                         \
	}                                                                                         \
	static traced_path int sendn_probed_##tag(struct kaos_ring *r, const void *m, uint32_t n) \
	{                                                                                         \
		return send_probed(r, KIND, m, n, true);                                          \
	}
#define DEFINE_RECV_PROBED(KIND, tag)                                                       \
	static traced_path int recv1_probed_##tag(struct kaos_ring *r, void *m)             \
	{                                                                                   \
		return recv_probed(r, KIND, m, 1, false);                                   \
	}                                                                                   \
	static traced_path int recvn_probed_##tag(struct kaos_ring *r, void *m, uint32_t n) \
	{                                                                                   \
		return recv_probed(r, KIND, m, n, true);                                    \
	}

DEFINE_SEND_PROBED(KIND_SPSC, spsc)
DEFINE_SEND_PROBED(KIND_SPMC, spmc)
DEFINE_RECV_PROBED(KIND_SPSC, spsc)
DEFINE_RECV_PROBED(KIND_MPSC, mpsc)

/* ------------------------------------------------------------------ public data path */

/* Single side: one compare of the own cursor with probe_at, before the operation. */
#define SINGLE_SEND(KIND, tag, one)                                                                \
	case KIND: {                                                                               \
		uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);                            \
		if (RING_PROBES && unlikely(pos + (one ? 1 : n) > probe_at(&r->prod)))             \
			return one ? send1_probed_##tag(r, msgs) : sendn_probed_##tag(r, msgs, n); \
		return send_body(r, KIND, msgs, one ? 1 : n, !one, NULL, pos, false);              \
	}
#define SINGLE_RECV(KIND, tag, one)                                                                \
	case KIND: {                                                                               \
		uint64_t pos = atomic_load_explicit(&r->cons.pos, RLX);                            \
		if (RING_PROBES && unlikely(pos + (one ? 1 : n) > probe_at(&r->cons)))             \
			return one ? recv1_probed_##tag(r, msgs) : recvn_probed_##tag(r, msgs, n); \
		return recv_body(r, KIND, msgs, one ? 1 : n, !one, NULL, pos, false);              \
	}
/* Multi side: the gate sits after the claim, inside the body. */
#define MULTI_SEND(KIND, one) \
	case KIND:            \
		return send_body(r, KIND, msgs, one ? 1 : n, !one, NULL, 0, false);
#define MULTI_RECV(KIND, one) \
	case KIND:            \
		return recv_body(r, KIND, msgs, one ? 1 : n, !one, NULL, 0, false);

/*
 * Everything but an SPSC message that fits below the side's limit: the
 * SPSC refresh of the peer's cursor, the probe gate, backpressure, and the
 * other kinds. Out of line so that the hot functions stay small leaves.
 */
static __attribute__((noinline)) int send1_slow(struct kaos_ring *r, const void *msgs)
{
	const uint32_t n = 1;

	switch (r->hdr.kind) {
	case KIND_SPSC:
		/* the gate is folded into the body's full/empty compare */
		return send_body(r, KIND_SPSC, msgs, 1, false, NULL,
				 atomic_load_explicit(&r->prod.pos, RLX), true);
		MULTI_SEND(KIND_MPSC, true)
		SINGLE_SEND(KIND_SPMC, spmc, true)
		MULTI_SEND(KIND_MPMC, true)
	}
	(void)n;
	return -KAOS_EINVAL;
}

static __attribute__((noinline)) int recv1_slow(struct kaos_ring *r, void *msgs)
{
	const uint32_t n = 1;

	switch (r->hdr.kind) {
	case KIND_SPSC:
		return recv_body(r, KIND_SPSC, msgs, 1, false, NULL,
				 atomic_load_explicit(&r->cons.pos, RLX), true);
		SINGLE_RECV(KIND_MPSC, mpsc, true)
		MULTI_RECV(KIND_SPMC, true)
		MULTI_RECV(KIND_MPMC, true)
	}
	(void)n;
	return -KAOS_EINVAL;
}

/*
 * The per-message fast path: one compare of the own cursor with the side's
 * private limit covers the ring kind (the other kinds keep limit at 0), the
 * probe gate and the full/empty check.
 */
int kaos_ring_send(struct kaos_ring *r, const void *msgs)
{
	if (unlikely(!r || !msgs))
		return -KAOS_EINVAL;
	uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);
	if (unlikely(pos >= r->prod.limit))
		return send1_slow(r, msgs);
	copy_in1(r, pos, msgs);
	atomic_store_explicit(&r->prod.pos, pos + 1, REL);
	return 0;
}

int kaos_ring_recv(struct kaos_ring *r, void *msgs)
{
	if (unlikely(!r || !msgs))
		return -KAOS_EINVAL;
	uint64_t pos = atomic_load_explicit(&r->cons.pos, RLX);
	if (unlikely(pos >= r->cons.limit))
		return recv1_slow(r, msgs);
	copy_out1(r, pos, msgs);
	atomic_store_explicit(&r->cons.pos, pos + 1, REL);
	return 0;
}

int kaos_ring_send_batch(struct kaos_ring *r, const void *msgs, uint32_t n)
{
	if (unlikely(!r || (!msgs && n)))
		return -KAOS_EINVAL;
	if (unlikely(n == 0))
		return 0;
	uint32_t kind = r->hdr.kind;
	if (likely(kind == KAOS_RING_SPSC)) {
		switch (kind) {
			SINGLE_SEND(KIND_SPSC, spsc, false)
		}
	}
	switch (kind) {
		MULTI_SEND(KIND_MPSC, false)
		SINGLE_SEND(KIND_SPMC, spmc, false)
		MULTI_SEND(KIND_MPMC, false)
	}
	return -KAOS_EINVAL;
}

int kaos_ring_recv_batch(struct kaos_ring *r, void *msgs, uint32_t n)
{
	if (unlikely(!r || (!msgs && n)))
		return -KAOS_EINVAL;
	if (unlikely(n == 0))
		return 0;
	uint32_t kind = r->hdr.kind;
	if (likely(kind == KAOS_RING_SPSC)) {
		switch (kind) {
			SINGLE_RECV(KIND_SPSC, spsc, false)
		}
	}
	switch (kind) {
		SINGLE_RECV(KIND_MPSC, mpsc, false)
		MULTI_RECV(KIND_SPMC, false)
		MULTI_RECV(KIND_MPMC, false)
	}
	return -KAOS_EINVAL;
}

/* ------------------------------------------------------------------ zero copy (SPSC) */

/*
 * The probe gate of publish()/release() when the cursor reaches probe_at. Out
 * of line: inlined, its calls gave the hot functions a stack frame and six
 * callee-saved register spills on every call, traced or not.
 */
static traced_path void publish_probed(struct kaos_ring *r, uint64_t pos, uint32_t n)
{
	struct probe_ctx pc;

	if (!send_traced()) {
		set_prod_probe_at(r, pos + PROBE_RECHECK);
		prod_publish(r, KIND_SPSC, pos, n);
		return;
	}
	uint64_t mask = sample_mask();
	pc_init(&pc, mask, true);
	if (next_sampled(pos, mask) < pos + n) {
		pc.t0 = pc.ts = now_ns();
		pc_produced(r, &pc, pos, n);
	}
	prod_publish(r, KIND_SPSC, pos, n);
	set_prod_probe_at(r, min_u64(next_sampled(pos + n, mask), pos + n + PROBE_RECHECK));
	if (pc.sampled != NO_SEQ)
		fire_send(r, &pc, pos + n, (int)n);
}

static traced_path void release_probed(struct kaos_ring *r, uint64_t pos, uint32_t n)
{
	struct probe_ctx pc;

	if (!RECV_PROBED()) {
		set_cons_probe_at(r, pos + PROBE_RECHECK);
		cons_release(r, KIND_SPSC, pos, n);
		return;
	}
	uint64_t mask = sample_mask();
	pc_init(&pc, mask, false);
	if (next_sampled(pos, mask) < pos + n)
		pc_consumed(r, &pc, pos, n);
	cons_release(r, KIND_SPSC, pos, n);
	set_cons_probe_at(r, min_u64(next_sampled(pos + n, mask), pos + n + PROBE_RECHECK));
	if (pc.sampled != NO_SEQ)
		fire_recv(r, &pc, pos + n, (int)n);
}

/* claim() found the ring full: backpressure per the wait policy. */
static slow_path int claim_wait(struct kaos_ring *r, uint32_t want, void **slots)
{
	uint32_t spins = 0;
	uint64_t t_bp = bp_begin(r);
	uint64_t pos;
	uint32_t k;

	if (!t_bp) {
		r->prod.pending = 0;
		return 0;
	}
	for (;;) {
		bp_pause(r, &spins);
		pos = atomic_load_explicit(&r->prod.pos, RLX);
		k = prod_reserve(r, KIND_SPSC, want, &pos, true);
		if (k)
			break;
	}
	bp_end(r, t_bp);
	r->prod.pending = k;
	*slots = slot_at(r, pos);
	return (int)k;
}

/* The waiting loop lives in claim_wait(): the hot function stays a leaf without a frame. */
int kaos_ring_claim(struct kaos_ring *r, uint32_t want, void **slots)
{
	if (unlikely(!r || !slots || want == 0))
		return -KAOS_EINVAL;
	if (unlikely(r->hdr.kind != KAOS_RING_SPSC))
		return -KAOS_EKIND;
	uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);
	uint32_t k = prod_reserve(r, KIND_SPSC, want, &pos, true);
	if (unlikely(!k))
		return claim_wait(r, want, slots);
	r->prod.pending = k;
	*slots = slot_at(r, pos);
	return (int)k;
}

/*
 * Publishes min(n, claimed-but-unpublished) slots; the rest of a claim stays
 * claimed. Also clamped to the free space the producer knows of, so that
 * misuse (send() between claim() and publish()) cannot push the cursor past
 * the consumer.
 */
void kaos_ring_publish(struct kaos_ring *r, uint32_t n)
{
	if (unlikely(!r || r->hdr.kind != KAOS_RING_SPSC))
		return;
	uint64_t pos = atomic_load_explicit(&r->prod.pos, RLX);
	/* never past the claim, nor into slots the consumer may still hold (send() after claim) */
	uint64_t room = r->hdr.slots - (pos - r->prod.peer);
	if (pos - r->prod.peer > r->hdr.slots)
		room = 0;
	if (n > r->prod.pending)
		n = (uint32_t)r->prod.pending;
	if (n > room)
		n = (uint32_t)room;
	if (!n)
		return;
	r->prod.pending -= n;
	if (RING_PROBES && unlikely(pos + n > probe_at(&r->prod))) {
		publish_probed(r, pos, n);
		return;
	}
	prod_publish(r, KIND_SPSC, pos, n);
}

int kaos_ring_peek(struct kaos_ring *r, uint32_t max, const void **slots)
{
	uint64_t pos = 0;
	uint32_t k;

	if (unlikely(!r || !slots || max == 0))
		return -KAOS_EINVAL;
	if (unlikely(r->hdr.kind != KAOS_RING_SPSC))
		return -KAOS_EKIND;
	pos = atomic_load_explicit(&r->cons.pos, RLX);
	k = cons_reserve(r, KIND_SPSC, max, &pos, true);
	r->cons.pending = k;
	if (k)
		*slots = slot_at(r, pos);
	return (int)k;
}

/* Releases min(n, peeked-but-unreleased, published) slots. */
void kaos_ring_release(struct kaos_ring *r, uint32_t n)
{
	if (unlikely(!r || r->hdr.kind != KAOS_RING_SPSC))
		return;
	uint64_t pos = atomic_load_explicit(&r->cons.pos, RLX);
	/* never past the peek, nor past what was published (recv() after peek) */
	uint64_t avail = r->cons.peer - pos;
	if (avail > r->hdr.slots)
		avail = 0;
	if (n > r->cons.pending)
		n = (uint32_t)r->cons.pending;
	if (n > avail)
		n = (uint32_t)avail;
	if (!n)
		return;
	r->cons.pending -= n;
	if (RING_PROBES && unlikely(pos + n > probe_at(&r->cons))) {
		release_probed(r, pos, n);
		return;
	}
	cons_release(r, KIND_SPSC, pos, n);
}

/* ------------------------------------------------------------------ counters, info */

void kaos_ring_note_retransmit(struct kaos_ring *r, uint64_t seq)
{
	kaos_ring_note_retransmit_why(r, seq, KAOS_RETRANSMIT_UNSPECIFIED);
}

void kaos_ring_note_retransmit_why(struct kaos_ring *r, uint64_t seq, enum kaos_retransmit_why why)
{
	if (!r)
		return;
	uint64_t n = atomic_fetch_add_explicit(&r->cnt.retransmits, 1, RLX) + 1;
	RING_FIRE(retransmit, r->hdr.id, n, 1, r->hdr.slot_size, why, seq, r->hdr.name);
}

uint32_t kaos_ring_id(const struct kaos_ring *r)
{
	return r ? r->hdr.id : 0;
}

const char *kaos_ring_name(const struct kaos_ring *r)
{
	return r ? r->hdr.name : "";
}

enum kaos_ring_kind kaos_ring_kind(const struct kaos_ring *r)
{
	return r ? (enum kaos_ring_kind)r->hdr.kind : KAOS_RING_SPSC;
}

uint32_t kaos_ring_capacity(const struct kaos_ring *r)
{
	return r ? r->hdr.slots : 0;
}

uint32_t kaos_ring_slot_size(const struct kaos_ring *r)
{
	return r ? r->hdr.slot_size : 0;
}

uint32_t kaos_ring_count(const struct kaos_ring *r)
{
	if (!r)
		return 0;
	/* consumer first: the producer cursor read after it is never behind it */
	uint64_t tail = atomic_load_explicit(&r->cons.pos, ACQ);
	uint64_t head = atomic_load_explicit(&r->prod.pos, ACQ);
	uint64_t n = head - tail;

	if (head < tail)
		return 0;
	return n > r->hdr.slots ? r->hdr.slots : (uint32_t)n;
}

void kaos_ring_stats(const struct kaos_ring *r, struct kaos_ring_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!r)
		return;
	out->sent_msgs = atomic_load_explicit(&r->prod.pos, RLX);
	out->recv_msgs = atomic_load_explicit(&r->cons.pos, RLX);
	out->sent_bytes = out->sent_msgs * r->hdr.slot_size;
	out->recv_bytes = out->recv_msgs * r->hdr.slot_size;
	out->bp_episodes = atomic_load_explicit(&r->cnt.bp_episodes, RLX);
	out->bp_wait_ns = atomic_load_explicit(&r->cnt.bp_wait_ns, RLX);
	out->retransmits = atomic_load_explicit(&r->cnt.retransmits, RLX);
}

/* ------------------------------------------------------------------ life cycle */

static size_t seq_offset(uint32_t slots, uint32_t slot_size)
{
	return sizeof(struct kaos_ring) + round_area((size_t)slots * slot_size);
}

static size_t stamp_offset(uint32_t slots, uint32_t slot_size)
{
	return seq_offset(slots, slot_size) + round_area((size_t)slots * sizeof(uint64_t));
}

static bool geometry_ok(uint32_t slots, uint32_t slot_size)
{
	return is_pow2(slots) && slots >= 2 && slots <= KAOS_RING_SLOTS_MAX &&
	       slot_size >= KAOS_SLOT_MIN && slot_size <= KAOS_SLOT_MAX && slot_size % 8 == 0;
}

size_t kaos_ring_mem_size(uint32_t slots, uint32_t slot_size)
{
	if (!geometry_ok(slots, slot_size))
		return 0;
	return stamp_offset(slots, slot_size) +
	       round_area((size_t)slots * sizeof(struct kaos_ring_stamp));
}

static int config_check(const struct kaos_ring_config *cfg)
{
	if (!cfg || !geometry_ok(cfg->slots, cfg->slot_size))
		return -KAOS_EINVAL;
	if ((unsigned)cfg->kind > KAOS_RING_MPMC || (unsigned)cfg->wait > KAOS_WAIT_YIELD)
		return -KAOS_EINVAL;
	return 0;
}

int kaos_ring_init_at(void *mem, size_t size, const struct kaos_ring_config *cfg)
{
	int rc = config_check(cfg);

	if (rc)
		return rc;
	size_t need = kaos_ring_mem_size(cfg->slots, cfg->slot_size);
	if (!mem || ((uintptr_t)mem & 63) || size < need)
		return -KAOS_EINVAL;

	struct kaos_ring *r = mem;
	memset(mem, 0, need);
	r->hdr.version = KAOS_RING_LAYOUT_VERSION;
	r->hdr.kind = (uint32_t)cfg->kind;
	r->hdr.slots = cfg->slots;
	r->hdr.slot_size = cfg->slot_size;
	r->hdr.mask = cfg->slots - 1;
	r->hdr.id = cfg->id ? cfg->id : atomic_fetch_add_explicit(&next_ring_id, 1, RLX);
	r->hdr.wait = (uint32_t)cfg->wait;
	r->hdr.spin_limit = cfg->spin_limit ? cfg->spin_limit : SPIN_LIMIT_DEFAULT;
	r->hdr.flags = 0;
	r->hdr.mem_size = need;
	r->hdr.seq_off = seq_offset(cfg->slots, cfg->slot_size);
	r->hdr.stamp_off = stamp_offset(cfg->slots, cfg->slot_size);
	if (cfg->name) {
		strncpy(r->hdr.name, cfg->name, sizeof(r->hdr.name) - 1);
		r->hdr.name[sizeof(r->hdr.name) - 1] = '\0';
	}
	atomic_init(&r->prod.pos, 0);
	atomic_init(&r->cons.pos, 0);
	/* the first operation of each side checks the semaphores */
	atomic_init(&r->prod.probe_at, 0);
	atomic_init(&r->cons.probe_at, 0);

	_Atomic uint64_t *seq = seq_arr(r);
	struct kaos_ring_stamp *st = stamp_arr(r);
	for (uint32_t i = 0; i < cfg->slots; i++) {
		atomic_init(&seq[i], i);
		st[i].seq = NO_SEQ;
	}
	/* magic last: a peer that sees it sees a formatted block */
	atomic_thread_fence(memory_order_release);
	r->hdr.magic = KAOS_RING_MAGIC;
	return 0;
}

int kaos_ring_validate_at(const void *mem, size_t size)
{
	const struct kaos_ring *r = mem;

	if (!mem || ((uintptr_t)mem & 63) || size < sizeof(struct kaos_ring))
		return -KAOS_ECORRUPT;
	if (r->hdr.magic != KAOS_RING_MAGIC)
		return -KAOS_ECORRUPT;
	if (r->hdr.version != KAOS_RING_LAYOUT_VERSION)
		return -KAOS_EVERSION;
	uint32_t slots = r->hdr.slots, slot_size = r->hdr.slot_size;
	if (r->hdr.kind > KAOS_RING_MPMC || r->hdr.wait > KAOS_WAIT_YIELD)
		return -KAOS_ECORRUPT;
	if (!geometry_ok(slots, slot_size) || r->hdr.mask != slots - 1)
		return -KAOS_ECORRUPT;
	size_t need = kaos_ring_mem_size(slots, slot_size);
	if (size < need || r->hdr.mem_size != need ||
	    r->hdr.seq_off != seq_offset(slots, slot_size) ||
	    r->hdr.stamp_off != stamp_offset(slots, slot_size))
		return -KAOS_ECORRUPT;
	/* a placed block never claims to be malloc'ed: destroy would free() shared memory */
	if (r->hdr.flags != 0)
		return -KAOS_ECORRUPT;
	if (memchr(r->hdr.name, '\0', sizeof(r->hdr.name)) == NULL)
		return -KAOS_ECORRUPT;
	uint64_t head = atomic_load_explicit(&((struct kaos_ring *)mem)->prod.pos, ACQ);
	uint64_t tail = atomic_load_explicit(&((struct kaos_ring *)mem)->cons.pos, ACQ);
	if (head < tail || head - tail > slots)
		return -KAOS_ECORRUPT;
	if (r->prod.pending > slots || r->cons.pending > slots)
		return -KAOS_ECORRUPT;
	/* a nonzero limit would let kaos_ring_send()/recv() treat the ring as SPSC */
	if (r->hdr.kind != KAOS_RING_SPSC && (r->prod.limit || r->cons.limit))
		return -KAOS_ECORRUPT;
	return 0;
}

int kaos_ring_create(const struct kaos_ring_config *cfg, struct kaos_ring **out)
{
	int rc;

	if (!out)
		return -KAOS_EINVAL;
	*out = NULL;
	rc = config_check(cfg);
	if (rc)
		return rc;
	size_t size = kaos_ring_mem_size(cfg->slots, cfg->slot_size);
	void *mem = aligned_alloc(KAOS_RING_AREA, size);
	if (!mem)
		return -KAOS_ENOMEM;
	rc = kaos_ring_init_at(mem, size, cfg);
	if (rc) {
		free(mem);
		return rc;
	}
	((struct kaos_ring *)mem)->hdr.flags |= KAOS_RING_F_OWNED;
	*out = mem;
	return 0;
}

void kaos_ring_destroy(struct kaos_ring *r)
{
	if (!r)
		return;
	uint64_t sent = atomic_load_explicit(&r->prod.pos, RLX);
	uint64_t recv = atomic_load_explicit(&r->cons.pos, RLX);
	uint64_t wait = atomic_load_explicit(&r->cnt.bp_wait_ns, RLX);
	if (RING_PROBES && KAOS_PROBE_ENABLED(kaos, batch))
		kaos_probe_batch_flush(); /* this thread's records of the ring come before its close
					   */
	RING_FIRE(ring_close, r->hdr.id, sent, 0, sent * r->hdr.slot_size, wait, recv, r->hdr.name);
	if (r->hdr.flags & KAOS_RING_F_OWNED) {
		r->hdr.magic = 0; /* a stale pointer fails validation instead of looking alive */
		free(r);
	}
}
