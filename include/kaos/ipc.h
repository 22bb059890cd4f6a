/* SPDX-License-Identifier: MIT */
/*
 * libkaos IPC channels: a kaos ring placed in shared memory between processes.
 *
 * A channel is one file: a versioned header (magic, layout version, geometry,
 * ring id, creator pid, one record per endpoint with its pid and heartbeat)
 * followed by the ring block. It lives either under /dev/shm (named:
 * kaos_ipc_create / kaos_ipc_open / kaos_ipc_unlink; the directory can be
 * changed with KAOS_IPC_DIR) or in a sealed memfd handed to the peer over a
 * Unix socket (kaos_ipc_create_memfd, kaos_ipc_send_fd, kaos_ipc_recv_fd,
 * kaos_ipc_open_fd).
 *
 * Kinds: SPSC (one producer, one consumer) and MPSC (up to
 * KAOS_IPC_MAX_PRODUCERS producer processes, one consumer).
 *
 * Every handle attaches with a role. The channel-level calls
 * (kaos_ipc_send/recv/..._batch/peek) wait with a timeout and watch the
 * peers while they wait: a peer process that died (pid gone, a zombie, or a
 * reused pid told apart by its start time) is reported as -KAOS_EPEER, never
 * a hang. Messages a dead producer had published are still delivered first.
 * A consumer is told of each producer's death once, then keeps waiting for
 * the producers still alive (or expected). It sees KAOS_IPC_EOF once every
 * expected producer attached and each one closed cleanly or died (and that
 * death was reported to this handle), and the ring is drained.
 *
 * The ring itself is a normal struct kaos_ring (kaos_ipc_ring()), named
 * "ipc:NAME": its probe sites fire in both processes with the same ring id,
 * and its sojourn stamps are CLOCK_MONOTONIC, so kaos-trace measures cross-
 * process latency. The ring's wait policy is always KAOS_WAIT_FAIL: a ring
 * call never blocks, waiting is done (with peer checks) by the channel calls.
 * Zero-copy: kaos_ipc_peek/kaos_ipc_release (SPSC consumer), or
 * kaos_ring_claim/publish on kaos_ipc_ring() (SPSC producer).
 *
 * Opening trusts nothing: the file's type and size are checked against the
 * header before the ring is mapped, then magic, version, header checksum and
 * geometry, then kaos_ring_validate_at(). Refusals return -KAOS_ECORRUPT or
 * -KAOS_EVERSION and kaos_ipc_last_error() says what was wrong.
 *
 * Peers must share a PID namespace (liveness is judged by pid). A handle
 * belongs to the process that opened it: after fork() the child opens its
 * own (closing an inherited handle in the child only unmaps it).
 */
#ifndef KAOS_IPC_H
#define KAOS_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "kaos/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KAOS_IPC_NAME_MAX      48u /* [A-Za-z0-9._-], not starting with '.' */
#define KAOS_IPC_MAX_PRODUCERS 32u
#define KAOS_IPC_VERSION       1u /* shared-memory layout version */
/* recv: all producers closed and the ring is drained. Negative, like the errors, so that
 * counts and codes never mix, but not a KAOS_E* code (kaos_ipc_strerror() names it). */
#define KAOS_IPC_EOF	 (-100)
#define KAOS_IPC_FOREVER (-1) /* timeout_ms: wait until a message or a peer event */

enum kaos_ipc_role {
	KAOS_IPC_NONE = 0, /* inspect only: attach to no role */
	KAOS_IPC_PRODUCER = 1,
	KAOS_IPC_CONSUMER = 2,
};

struct kaos_ipc_config {
	enum kaos_ring_kind kind; /* KAOS_RING_SPSC or KAOS_RING_MPSC */
	uint32_t slots;		  /* power of two >= 2 */
	uint32_t slot_size;	  /* 8..128, multiple of 8 */
	uint32_t ring_id;	  /* 0: derived from the name (same in every process) */
	uint32_t producers;	  /* producers to expect before EOF (SPSC: 1; 0 means 1) */
	enum kaos_ipc_role role;  /* the creator's own role */
	uint32_t mode;		  /* file permissions of a named channel (0: 0600) */
};

struct kaos_ipc;

/* Named channel: creates NAME exclusively (-KAOS_ESYS with errno EEXIST if it exists). */
int kaos_ipc_create(const char *name, const struct kaos_ipc_config *cfg, struct kaos_ipc **out);
/* Opens and validates NAME and attaches as role (a role held by a dead process is taken over). */
int kaos_ipc_open(const char *name, enum kaos_ipc_role role, struct kaos_ipc **out);
/* Removes NAME (mapped handles keep working). 0, or -KAOS_ESYS (errno kept). */
int kaos_ipc_unlink(const char *name);
/* The file a named channel uses. 0, or -KAOS_EINVAL for a bad name / small buffer. */
int kaos_ipc_path(const char *name, char *buf, size_t size);

/* Anonymous channel in a sealed memfd; name only labels the ring ("ipc:NAME"). */
int kaos_ipc_create_memfd(const char *name, const struct kaos_ipc_config *cfg,
			  struct kaos_ipc **out);
/* Opens a channel from a file descriptor (duplicated; the caller keeps its own). */
int kaos_ipc_open_fd(int fd, enum kaos_ipc_role role, struct kaos_ipc **out);
/* The handle's descriptor, to pass to a peer with kaos_ipc_send_fd. */
int kaos_ipc_fd(const struct kaos_ipc *ch);
/* SCM_RIGHTS over a connected Unix socket. recv stores a new O_CLOEXEC fd. */
int kaos_ipc_send_fd(int sock, int fd);
int kaos_ipc_recv_fd(int sock, int *fd);

/* Detaches (a producer's clean close lets the consumer reach EOF) and unmaps. */
void kaos_ipc_close(struct kaos_ipc *ch);

struct kaos_ring *kaos_ipc_ring(struct kaos_ipc *ch);

/*
 * Channel calls. timeout_ms: 0 = try once, KAOS_IPC_FOREVER = no limit.
 * send: 0; -KAOS_EFULL on timeout; -KAOS_EPEER if the consumer died or
 *   closed while the ring was full (a full ring is the only time a sender
 *   waits, so a sender into a non-full ring is not told about a dead peer:
 *   ask kaos_ipc_peer_alive()).
 * recv: 0 with one message; KAOS_IPC_EOF; -KAOS_EEMPTY on timeout;
 *   -KAOS_EPEER once per producer death, when the ring is empty (later calls
 *   wait for the live producers, or end with EOF); also -KAOS_EPEER, on
 *   every call, if all producers are done but a dead one left a claimed
 *   MPSC slot unpublished (the ring cannot move past it).
 * The batch forms move up to n messages and return how many (>= 1), or
 * the same codes when none moved; send_batch keeps going until all n are
 * sent or a timeout / peer death stops it, and then returns the count sent.
 */
int kaos_ipc_send(struct kaos_ipc *ch, const void *msg, int timeout_ms);
int kaos_ipc_recv(struct kaos_ipc *ch, void *msg, int timeout_ms);
int kaos_ipc_send_batch(struct kaos_ipc *ch, const void *msgs, uint32_t n, int timeout_ms);
int kaos_ipc_recv_batch(struct kaos_ipc *ch, void *msgs, uint32_t max, int timeout_ms);
/* Zero-copy receive (SPSC): waits like recv, then as kaos_ring_peek. */
int kaos_ipc_peek(struct kaos_ipc *ch, uint32_t max, const void **slots, int timeout_ms);
void kaos_ipc_release(struct kaos_ipc *ch, uint32_t n);

enum kaos_ipc_peer_state {
	KAOS_IPC_PEER_NONE = 0,	  /* no peer has attached yet */
	KAOS_IPC_PEER_ALIVE = 1,  /* at least one peer attached, none dead */
	KAOS_IPC_PEER_CLOSED = 2, /* every peer that attached closed cleanly */
	KAOS_IPC_PEER_DEAD = 3,	  /* a peer died (or, with stale_ms, stopped beating) */
};

/*
 * The peers of this handle (a producer's: the consumer; a consumer's: the
 * producers). With stale_ms > 0, a live peer whose last heartbeat is older
 * than stale_ms also counts as dead (channel calls beat every 4096
 * operations and while waiting; idle peers call kaos_ipc_heartbeat()).
 */
enum kaos_ipc_peer_state kaos_ipc_peer_state(struct kaos_ipc *ch, int stale_ms);
/* 1 if kaos_ipc_peer_state() is ALIVE, else 0. */
int kaos_ipc_peer_alive(struct kaos_ipc *ch, int stale_ms);
/* Bumps this endpoint's heartbeat counter and timestamp. */
void kaos_ipc_heartbeat(struct kaos_ipc *ch);

struct kaos_ipc_endpoint_info {
	enum kaos_ipc_role role;
	uint32_t index;			/* producer record index */
	enum kaos_ipc_peer_state state; /* ALIVE, CLOSED or DEAD (NONE: never attached) */
	int32_t pid;
	uint64_t heartbeats;
	uint64_t heartbeat_age_ns; /* now - last heartbeat (CLOCK_MONOTONIC) */
};

struct kaos_ipc_info {
	uint32_t version;
	enum kaos_ring_kind kind;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t ring_id;
	uint32_t producers;
	int32_t creator_pid;
	uint64_t file_size;
	char name[KAOS_IPC_NAME_MAX + 1];
};

void kaos_ipc_info(const struct kaos_ipc *ch, struct kaos_ipc_info *out);
/*
 * Endpoint records: [0] the consumer, [1 + i] producer i. Returns how many
 * were written (at most max), checking each one's liveness now.
 */
int kaos_ipc_endpoints(struct kaos_ipc *ch, struct kaos_ipc_endpoint_info *out, uint32_t max);

/* kaos_strerror() that also names KAOS_IPC_EOF. */
const char *kaos_ipc_strerror(int code);

/* Why the last failing kaos_ipc_* call in this thread failed (one line). */
const char *kaos_ipc_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* KAOS_IPC_H */
