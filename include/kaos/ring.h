/* SPDX-License-Identifier: MIT */
/*
 * libkaos rings: lock-free fixed-slot message rings.
 *
 *   SPSC  Lamport ring, producer and consumer indices on their own cache
 *         lines, each side caching the peer's index. Per-message send/recv,
 *         copy batches, and zero-copy claim/publish + peek/release.
 *   MPSC, SPMC, MPMC
 *         Vyukov per-slot sequence numbers; the "multi" side claims with a
 *         CAS, the "single" side with a plain store. Slots are released to
 *         producers only after the consumer has copied them out.
 *
 * Messages are fixed size: every send copies slot_size bytes (8..128, a
 * multiple of 8) chosen at creation. A full ring is backpressure: the
 * ring's wait policy decides between failing fast, spinning, and
 * spinning-then-yielding; every episode is counted and its wait timed.
 *
 * All functions return 0 (or a count) on success and a negative KAOS_E*
 * code on failure; kaos_strerror() names it.
 */
#ifndef KAOS_RING_H
#define KAOS_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (returned negated). */
enum kaos_err {
	KAOS_OK = 0,
	KAOS_EINVAL = 1,     /* bad argument: NULL, size not a power of two, ... */
	KAOS_ENOMEM = 2,     /* allocation failed */
	KAOS_EFULL = 3,	     /* ring full and the wait policy is fail-fast */
	KAOS_EEMPTY = 4,     /* nothing to receive */
	KAOS_EKIND = 5,	     /* operation not supported by this ring kind */
	KAOS_ESYS = 6,	     /* a system call failed; errno is kept */
	KAOS_ECORRUPT = 7,   /* shared memory header is damaged or foreign */
	KAOS_EPEER = 8,	     /* the peer process died */
	KAOS_EVERSION = 9,   /* shared memory layout version mismatch */
	KAOS_ETIMEDOUT = 10, /* the network peer went silent (kaos/udp.h) */
	KAOS_ECLOSED = 11,   /* the network peer closed the connection */
};

const char *kaos_strerror(int err);

enum kaos_ring_kind {
	KAOS_RING_SPSC = 0,
	KAOS_RING_MPSC = 1,
	KAOS_RING_SPMC = 2,
	KAOS_RING_MPMC = 3,
};

/* What a sender does when the ring is full (backpressure). */
enum kaos_wait_policy {
	KAOS_WAIT_FAIL = 0,  /* return -KAOS_EFULL at once */
	KAOS_WAIT_SPIN = 1,  /* busy-wait until space appears */
	KAOS_WAIT_YIELD = 2, /* spin spin_limit times, then sched_yield() between tries */
};

#define KAOS_SLOT_MIN	   8u
#define KAOS_SLOT_MAX	   128u
#define KAOS_RING_NAME_MAX 32u

struct kaos_ring_config {
	enum kaos_ring_kind kind;
	uint32_t slots;	    /* power of two, >= 2 */
	uint32_t slot_size; /* bytes per message: 8..128, multiple of 8 */
	uint32_t id;	    /* 0: assign a process-unique id */
	const char *name;   /* optional, copied (truncated to 31 bytes) */
	enum kaos_wait_policy wait;
	uint32_t spin_limit; /* KAOS_WAIT_YIELD: spins before yielding (0: 1024) */
};

/* Cumulative per-ring counters; always on. */
struct kaos_ring_stats {
	uint64_t sent_msgs;
	uint64_t sent_bytes;
	uint64_t recv_msgs;
	uint64_t recv_bytes;
	uint64_t bp_episodes; /* sends that found the ring full */
	uint64_t bp_wait_ns;  /* time spent waiting in those episodes */
	uint64_t retransmits;
};

struct kaos_ring;

int kaos_ring_create(const struct kaos_ring_config *cfg, struct kaos_ring **out);
void kaos_ring_destroy(struct kaos_ring *r);

uint32_t kaos_ring_id(const struct kaos_ring *r);
const char *kaos_ring_name(const struct kaos_ring *r);
enum kaos_ring_kind kaos_ring_kind(const struct kaos_ring *r);
uint32_t kaos_ring_capacity(const struct kaos_ring *r);
uint32_t kaos_ring_slot_size(const struct kaos_ring *r);
/* Approximate number of messages waiting (exact when both sides are idle). */
uint32_t kaos_ring_count(const struct kaos_ring *r);
void kaos_ring_stats(const struct kaos_ring *r, struct kaos_ring_stats *out);

/* One message of slot_size bytes. Backpressure follows the ring's policy. */
int kaos_ring_send(struct kaos_ring *r, const void *msg);
/* Non-blocking: 0 with slot_size bytes copied to msg, or -KAOS_EEMPTY. */
int kaos_ring_recv(struct kaos_ring *r, void *msg);

/*
 * Copy batches: msgs points to n * slot_size contiguous bytes. send_batch
 * sends all n (waiting per policy) and returns n, or with KAOS_WAIT_FAIL
 * sends what fits and returns that count (0 counts as a backpressure
 * episode). recv_batch returns 0..max messages received.
 */
int kaos_ring_send_batch(struct kaos_ring *r, const void *msgs, uint32_t n);
int kaos_ring_recv_batch(struct kaos_ring *r, void *msgs, uint32_t max);

/*
 * Zero-copy (SPSC only; -KAOS_EKIND otherwise). claim() returns up to want
 * contiguous free slots (never crossing the ring's end) and their address
 * in *slots; the producer writes them and publishes n <= claimed with one
 * release store. claim() returning 0 is backpressure handled per policy
 * (KAOS_WAIT_FAIL: returns 0). peek()/release() mirror it for the consumer.
 */
int kaos_ring_claim(struct kaos_ring *r, uint32_t want, void **slots);
void kaos_ring_publish(struct kaos_ring *r, uint32_t n);
int kaos_ring_peek(struct kaos_ring *r, uint32_t max, const void **slots);
void kaos_ring_release(struct kaos_ring *r, uint32_t n);

/* Why a transport sent something again (the retransmit probe's arg4). */
enum kaos_retransmit_why {
	KAOS_RETRANSMIT_UNSPECIFIED = 0,
	KAOS_RETRANSMIT_TIMEOUT = 1, /* the retransmission timer expired */
	KAOS_RETRANSMIT_FAST = 2,    /* duplicate acks / a SACK gap showed a loss */
};

/* A transport re-sent message seq on this ring: counted, fires the probe. */
void kaos_ring_note_retransmit(struct kaos_ring *r, uint64_t seq);
/* The same, saying why (kaos/udp.h uses it). */
void kaos_ring_note_retransmit_why(struct kaos_ring *r, uint64_t seq, enum kaos_retransmit_why why);

#ifdef __cplusplus
}
#endif
#endif /* KAOS_RING_H */
