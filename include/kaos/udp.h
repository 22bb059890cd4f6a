/* SPDX-License-Identifier: MIT */
/*
 * libkaos reliable UDP: ordered, exactly-once messages between two
 * endpoints over UDP, driven by the caller (issue 17, first step).
 *
 * WHY: libkaos carries a `retransmit` probe but had nothing that
 * retransmits. This transport is a real source: every datagram sent again
 * goes through kaos_ring_note_retransmit() on the endpoint's send-queue
 * ring, so kaos-trace counts it against that ring's sends.
 *
 * SHAPE (ideas from ENet: one socket, a peer state machine, per-datagram
 * sequence numbers, fragments carrying their index and the total; ENet's
 * per-command acks and throttle are replaced by TCP's cumulative ack + SACK,
 * RFC 6298 RTO and a loss-rate-aware AIMD, which are better understood under loss):
 *  - One endpoint = one UDP socket = at most one connection. An endpoint
 *    either connects (kaos_udp_connect) or accepts the first valid SYN.
 *  - kaos_udp_send() copies a message (0..KAOS_UDP_MSG_MAX bytes) and puts
 *    its descriptor on the send queue, a libkaos SPSC ring (the send probe;
 *    a full queue is backpressure: -KAOS_EFULL and the backpressure probe).
 *    kaos_udp_poll() cuts queued messages into fragments of at most
 *    KAOS_UDP_FRAG_MAX bytes, one per DATA datagram, each with its own
 *    sequence number; fragments of a message have consecutive numbers.
 *    Small messages (up to 600 bytes) queued together share one PACKED
 *    DATA datagram, as records { u16 length, bytes }.
 *  - The receiver accepts sequence numbers in [rcv_nxt, rcv_nxt + window),
 *    reorders them, and when the in-order stream completes a message puts it
 *    on the receive queue, another SPSC ring (the recv probe fires when
 *    kaos_udp_recv() takes it). Datagrams are acked when they arrive in
 *    order, delivered when the receive queue has room: a full queue holds
 *    them, the advertised window (free reorder slots beyond the ack) shrinks
 *    to 0 and the sender stops without a retransmit (flow control).
 *
 * WIRE (all integers little-endian; core/udp_wire.h has the codec):
 *	 0 u16 magic 0x554b ("KU")    2 u8 version (1)    3 u8 type
 *	 4 u8  flags (PACKED or 0)    5 u8 nsack (0..4)   6 u16 payload length
 *	 8 u32 connection id         12 u32 seq          16 u32 cumulative ack
 *	20 u32 window (datagrams)    24 u32 message length
 *	   (PACKED: the number of records, >= 2)
 *	28 u16 fragment index        30 u16 fragment count
 *	32 u32 crc32c of the whole datagram with this field zero
 *	36 nsack x { u32 start, u32 end } (received ranges above ack, end excl.)
 *	.. payload
 *    Types: SYN, SYNACK, DATA, ACK, PING, FIN. Everything is checked: magic,
 *    version, type, flags, lengths adding up exactly, fragment fields
 *    consistent with the message length, PACKED records filling the payload
 *    exactly, SACK ranges non-empty and ahead of
 *    the ack, the checksum. A datagram failing any check is counted
 *    (`garbage`) and dropped; one that parses but names another connection
 *    or lies outside the window is counted (`stale`) and dropped.
 *
 * STATES: IDLE -> (connect) SYN_SENT -> ESTABLISHED; IDLE -> (SYN heard)
 * ESTABLISHED. ESTABLISHED -> CLOSED when the peer's FIN arrives
 * (kaos_udp_recv drains what arrived, then -KAOS_ECLOSED), -> DEAD when
 * nothing was heard from the peer for peer_timeout_ms (every call then
 * returns -KAOS_ETIMEDOUT). Idle ends send a PING every keepalive_ms, which
 * the peer answers with an ACK. kaos_udp_close() sends one FIN (best effort:
 * a lost FIN ends as a peer timeout on the other side) and frees.
 *
 * RELIABILITY:
 *  - Cumulative ack (next expected seq) on every datagram, SACK blocks on
 *    ACKs when data arrived out of order (the newest arrivals' runs first,
 *    then the lowest); a duplicate DATA, or the first of a run beyond a
 *    hole, is acked at once, the rest of such a run every 8th datagram and
 *    at the end of the poll's read; in-order data by whatever the endpoint
 *    sends before its next poll (a reply carries it) or by an ACK on that
 *    next poll (kaos_udp_timeout_ms() is 0 meanwhile): an endpoint that
 *    stops polling stops acking, as it stops retransmitting.
 *  - RTO as RFC 6298: first sample R: SRTT = R, RTTVAR = R/2; then
 *    RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R;
 *    RTO = SRTT + max(1 ms, 4 RTTVAR), clamped to [rto_min_ms, 60 s],
 *    initial 1 s, doubled on each timeout. Karn: only datagrams sent once
 *    give samples.
 *  - Fast retransmit: the 3rd duplicate ack re-sends the first unacked
 *    datagram and every hole below the highest SACKed one, once per loss
 *    episode (until the ack passes what was in flight at its start); in
 *    an episode each partial ack re-sends the next hole, counted with the
 *    reason that began the episode (timeout or fast).
 *  - Loss found without the RTO wherever SACKs can show it: in-order data
 *    is acked every 2nd datagram (one lost ack must not stall a window);
 *    with under 4 in flight, fewer duplicate acks start a fast retransmit
 *    (RFC 5827); a hole sent before a datagram the peer SACKed since, by
 *    more than a quarter RTT, is resent (RACK, RFC 8985, in small: lost
 *    retransmissions too), and so is one older than the latest RTT + that
 *    window (a timer: a pipe full of holes gets no later SACK); an ack that
 *    advances ends the RTO's backoff.
 *  - Reordering (wire version 2): a receiver reports each DATA it got
 *    twice in a DSACK block (RFC 2883). A resent datagram so reported was
 *    spurious: counted, the reordering window (a quarter RTT above) grows
 *    by a quarter RTT up to one RTT, duplicate-ack counting stops (holes
 *    are lost by time alone), and when every retransmit of a loss episode
 *    proves spurious the episode's window cut is undone (Eifel, RFC 3522,
 *    in idea); for a timeout the RTO's backoff too (`rto_undos`). Version 1 peers still connect (a
 *SYN retry goes as version 1; a version 1 SYN is answered in version 1, without DSACK).
 *  - Tail loss probe (RFC 8985, in small): data in flight and no ack for a
 *    PTO (2 srtt or srtt + 4 rttvar, >= rto_min_ms / 4) resends the highest datagram
 *    not SACKed, once until the peer answers (`loss_probes`, counted as fast
 *    retransmits): a lost last datagram, lost retransmission or lost only
 *    ack is then found by SACKs instead of the RTO (200 ms floor).
 *  - Congestion (core/udp_cc.h): a window counted in datagrams, slow start
 *    from 4 up to ssthresh, then +1 per window. Loss is congestion only at
 *    a rate: a round (until data sent since it began is acked or SACKed)
 *    whose resent share, smoothed over rounds, exceeds 15 % (3x issue 17's
 *    5 % random loss) cuts the window to 0.7 of what the round delivered,
 *    at most every other round (in slow start one round over 30 % does);
 *    random loss below that is repaired without a cut. Any loss cuts in a
 *    round whose lowest RTT is a queue's: over the path's lowest by more
 *    than max(the path's lowest, 45 ms), too. A timeout sets it to
 *    1 and slow start climbs back to 0.7 (half after heavy loss). New data
 *    goes out while the pipe (in flight less SACKed, RFC 6675) is under
 *    cwnd and the flight under the peer's window: never unbounded.
 *
 * THREADS: an endpoint is used by one thread at a time. Functions return 0
 * (or a count/length) or a negative KAOS_E* code; kaos_strerror() names it.
 * Not yet here (later steps of issue 17): several peers per endpoint,
 * path MTU discovery.
 */
#ifndef KAOS_UDP_H
#define KAOS_UDP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KAOS_UDP_MSG_MAX  65536u /* largest message */
#define KAOS_UDP_FRAG_MAX 1200u	 /* payload bytes per datagram: fits any sane MTU */

struct kaos_udp_config {
	const char *bind_addr;	  /* IPv4 address to bind; NULL: 127.0.0.1 */
	uint16_t port;		  /* 0: any free port (kaos_udp_port() tells which) */
	uint32_t queue_msgs;	  /* send and receive queue length, power of two (0: 1024) */
	uint32_t window;	  /* receive window in datagrams, 2..1024 (0: 64) */
	uint32_t keepalive_ms;	  /* idle time before a PING (0: 250) */
	uint32_t peer_timeout_ms; /* silence that kills the connection (0: 5000) */
	uint32_t rto_min_ms;	  /* RTO floor (0: 200) */
	const char *name;	  /* names the queue rings ("udp" if NULL) */
	/* Testing only: drop this share (per million) of outgoing DATA datagrams
	   before they reach the socket, by a PRNG seeded with drop_seed. */
	uint32_t drop_ppm;
	uint64_t drop_seed;
};

enum kaos_udp_state {
	KAOS_UDP_IDLE = 0,	  /* no peer yet: accepts the first SYN */
	KAOS_UDP_SYN_SENT = 1,	  /* connect() sent a SYN, no answer yet */
	KAOS_UDP_ESTABLISHED = 2, /* data flows */
	KAOS_UDP_CLOSED = 3,	  /* the peer sent FIN */
	KAOS_UDP_DEAD = 4,	  /* the peer went silent for peer_timeout_ms */
};

struct kaos_udp_stats {
	uint64_t msgs_sent;	 /* messages accepted by kaos_udp_send() */
	uint64_t msgs_received;	 /* messages taken by kaos_udp_recv() */
	uint64_t bytes_sent;	 /* message bytes accepted */
	uint64_t bytes_received; /* message bytes taken */
	uint64_t dgrams_sent;	 /* datagrams handed to the kernel (all types) */
	uint64_t dgrams_received;
	uint64_t data_sent;   /* DATA datagrams sent the first time */
	uint64_t retransmits; /* DATA datagrams sent again: sum of the two below */
	uint64_t retransmits_timeout;
	uint64_t retransmits_fast;
	uint64_t duplicates; /* DATA received again (already delivered or buffered) */
	uint64_t garbage;    /* datagrams that failed parsing or the checksum */
	uint64_t stale;	     /* well-formed but another connection, or outside the window */
	uint64_t acks_sent;
	uint64_t keepalives_sent;
	uint64_t handshake_retries; /* SYNs sent again */
	uint64_t dropped_by_test;   /* drop_ppm at work */
	uint64_t send_errors;	    /* sendmmsg failures (the datagram counts as lost) */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t cwnd;	      /* datagrams */
	uint32_t peer_window; /* datagrams */
	uint32_t in_flight;   /* DATA datagrams sent and not yet acked */
	/* reordering (version 2 peers): the receiver reports data received twice (DSACK) */
	uint32_t reorder_window_us;    /* a hole is lost once data sent this much later is SACKed */
	uint64_t dsacks_sent;	       /* acks reporting a duplicate */
	uint64_t spurious_retransmits; /* retransmits the peer reported as duplicates */
	uint64_t cwnd_undos;  /* loss episodes undone: every fast retransmit was spurious */
	uint64_t loss_probes; /* tail loss probes (in retransmits_fast): a PTO without an ack */
	/* congestion (core/udp_cc.h): loss is congestion only at a high enough rate */
	uint64_t rto_undos;	  /* timeouts undone: the peer got the originals (DSACK) */
	uint64_t congestion_cuts; /* rounds (or timeouts) read as congestion: window cut */
	uint32_t loss_share_ppm;  /* resent share of the rounds, smoothed, per million */
};

struct kaos_udp;

/* Binds a socket. 0 and *out, or -KAOS_EINVAL / -KAOS_ENOMEM / -KAOS_ESYS. */
int kaos_udp_open(const struct kaos_udp_config *cfg, struct kaos_udp **out);
/* Sends one FIN if connected (best effort), closes the socket, frees. NULL is fine. */
void kaos_udp_close(struct kaos_udp *ep);

/* Starts the handshake with host:port (IPv4 literal); non-blocking. -KAOS_EINVAL if not IDLE. */
int kaos_udp_connect(struct kaos_udp *ep, const char *host, uint16_t port);

/* The socket, for epoll/poll (readable: call kaos_udp_poll). */
int kaos_udp_fd(const struct kaos_udp *ep);
/* Local port the socket is bound to. */
uint16_t kaos_udp_port(const struct kaos_udp *ep);
enum kaos_udp_state kaos_udp_state(const struct kaos_udp *ep);

/*
 * Does all pending work without blocking: reads every waiting datagram,
 * fires due timers, sends what the windows allow, acks. 0, or the
 * connection's terminal error (-KAOS_ECLOSED, -KAOS_ETIMEDOUT, -KAOS_ECORRUPT
 * when the peer broke the protocol), or -KAOS_ESYS.
 */
int kaos_udp_poll(struct kaos_udp *ep);
/* Milliseconds until kaos_udp_poll() has timer work (for epoll_wait), >= 0; 0 while an
 * ack waits for that next poll. */
int kaos_udp_timeout_ms(const struct kaos_udp *ep);

/*
 * Queues a copy of one message (len <= KAOS_UDP_MSG_MAX). Allowed before
 * the handshake ends. -KAOS_EFULL: the send queue is full (backpressure:
 * poll and retry); -KAOS_EINVAL, -KAOS_ENOMEM; the terminal error.
 */
int kaos_udp_send(struct kaos_udp *ep, const void *msg, size_t len);
/*
 * Takes the next message: its length (copied into buf), -KAOS_EEMPTY if
 * none waits, -KAOS_EINVAL if cap is too small (the message stays), or,
 * once the queue is drained, -KAOS_ECLOSED / -KAOS_ETIMEDOUT / -KAOS_ECORRUPT.
 */
int kaos_udp_recv(struct kaos_udp *ep, void *buf, size_t cap);

/* Blocking conveniences over poll(2) + kaos_udp_poll(); timeout_ms < 0: no limit. */
/* Waits for a message and takes it (as kaos_udp_recv); -KAOS_EEMPTY on timeout. */
int kaos_udp_recv_wait(struct kaos_udp *ep, void *buf, size_t cap, int timeout_ms);
/* Waits until the handshake is done. 0, -KAOS_EEMPTY on timeout, or the terminal error. */
int kaos_udp_wait_connected(struct kaos_udp *ep, int timeout_ms);
/* Waits until every queued message was acked. 0, -KAOS_EEMPTY on timeout, or the error. */
int kaos_udp_flush(struct kaos_udp *ep, int timeout_ms);

void kaos_udp_stats(const struct kaos_udp *ep, struct kaos_udp_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* KAOS_UDP_H */
