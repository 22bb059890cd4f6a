/* SPDX-License-Identifier: MIT */
/*
 * Reliable UDP (include/kaos/udp.h has the design). This file owns one
 * socket and one connection's state; it never prints and never blocks
 * except in the three *_wait/flush conveniences. Sequence numbers compare
 * modulo 2^32 (u32 differences); windows are at most KAOS_UDP_WIRE_MAXWND,
 * so the send and reorder slots are indexed by seq % SLOTS without collision.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kaos/ring.h"
#include "kaos/udp.h"
#include "udp_cc.h"
#include "udp_pool.h"
#include "udp_wire.h"

#define SLOTS	     KAOS_UDP_WIRE_MAXWND
#define BATCH	     64u
#define NS_PER_MS    1000000ull
#define RTO_INIT_NS  (1000 * NS_PER_MS)
#define RTO_MAX_NS   (60000 * NS_PER_MS)
#define DUPACKS	     3u
#define CWND_INIT    4u
#define PACK_MAX     600u /* messages up to this size may share a datagram */
#define REO_MULT_MAX 4u	  /* reordering window: at most 4 x srtt/4 */
#define REO_DECAY    16u  /* loss episodes without a spurious retransmit before it shrinks */
#define SACK_EVERY   8u	  /* datagrams extending a run beyond a hole per ack, at most */
/* runs of the latest arrivals an ack names; one block is left for the lowest */
#define RECENT_RUNS (KAOS_UDP_WIRE_NSACK - 1)

_Static_assert(KAOS_UDP_FRAG_MAX == KAOS_UDP_WIRE_MAXFRAG, "one fragment size");
_Static_assert(SLOTS % 64 == 0, "rx_present: whole words");
_Static_assert(KAOS_UDP_MSG_MAX == KAOS_UDP_WIRE_MAXMSG, "one message limit");

struct msg_desc { /* what the queue rings carry: a heap copy of one message */
	uint8_t *bytes;
	uint64_t len;
};

struct tx_seg {
	struct kaos_udp_hdr h; /* DATA fields; ack/window filled at each send */
	uint64_t sent_ns;
	uint32_t tx_count;
	uint32_t dsacked; /* copies the peer reported as duplicates */
	uint32_t episode; /* loss episode of the last fast retransmit */
	bool sacked;
	uint8_t payload[KAOS_UDP_WIRE_MAXFRAG];
};

struct rx_seg {		/* buffered if its bit in kaos_udp.rx_present is set */
	uint16_t taken; /* PACKED: payload bytes already queued */
	struct kaos_udp_hdr h;
	uint8_t payload[KAOS_UDP_WIRE_MAXFRAG];
};

struct out_dgram {
	uint8_t bytes[KAOS_UDP_WIRE_MAX];
	size_t len;
};

struct kaos_udp {
	int fd;
	enum kaos_udp_state state;
	int err; /* terminal error once CLOSED/DEAD (negative) */
	struct kaos_udp_config cfg;
	struct sockaddr_in peer;
	uint32_t conn_id;
	struct kaos_ring *txq, *rxq;
	struct kaos_udp_pool pool; /* buffers of the messages in txq and rxq */

	/* sender: una <= sent <= nxt; [una, nxt) occupy tx slots */
	uint32_t snd_una, snd_sent, snd_nxt;
	struct tx_seg *tx;
	struct msg_desc cur; /* message being cut into fragments */
	uint32_t cur_frag;
	bool cur_valid;
	struct kaos_udp_cc cc; /* the congestion window (core/udp_cc.h) */
	uint32_t peer_wnd, dupacks, recover;
	uint32_t nsacked;		/* datagrams in [una, sent) the peer SACKed */
	bool in_recovery, rto_recovery; /* a loss episode, and whether a timeout began it */
	uint64_t srtt_ns, rttvar_ns, rto_ns, timer_ns; /* timer_ns: 0 = not armed */
	uint64_t rto_base_ns;			       /* rto_ns before any backoff */
	uint64_t probe_ns; /* the loss probe's clock: last progress or newest send */
	uint64_t rack_ns; /* when a hole overtaken within the reordering window ages out; 0: none */
	uint64_t rack_rtt_ns; /* the latest RTT sample, queues included */
	bool probed;	      /* a probe went out since: no other until progress */
	/* undo (RFC 2883/3522 ideas): the episode's retransmits not yet proved spurious */
	uint32_t episode, undo_retrans;
	bool undo_valid;
	uint32_t reo_mult, calm_episodes; /* reordering window in srtt/4; episodes since spurious */
	bool peer_v1;			  /* the peer speaks wire version 1: no DSACK */
	/* a version 1 peer's last ack had every SACK block: it reports its
	   lowest runs only, so more may be unreported */
	bool sacks_full;

	/* receiver */
	/* rcv_dlv <= rcv_nxt: [rcv_dlv, rcv_nxt) arrived in order (acked), not yet delivered */
	uint32_t rcv_dlv, rcv_nxt, last_adv_wnd;
	uint32_t rcv_top;		  /* one past the highest datagram buffered beyond a hole */
	uint32_t rcv_recent[RECENT_RUNS]; /* the latest datagrams beyond a hole, newest first */
	struct rx_seg *rx;
	/* which rx slots hold a datagram: the SACK scans read 128 bytes, not a
	   cache line of each 1.2 KiB slot (fill_sacks was 7.5 % of a lossy
	   receiver's CPU) */
	uint64_t rx_present[SLOTS / 64];
	struct msg_desc asm_msg; /* message being reassembled */
	uint32_t asm_next;	 /* next fragment index expected; 0 = none under way */
	bool ack_pending;
	uint32_t unacked_in_order; /* in-order DATA since our last ack */
	uint32_t unacked_sacked;   /* DATA beyond a hole since our last ack with SACKs */
	bool sack_due;		   /* such DATA arrived: ack at the end of this read */

	uint64_t syn_ns, last_heard_ns, last_sent_ns, prng;
	struct kaos_udp_stats st;

	struct out_dgram *out;
	unsigned nout;
	uint8_t (
		*in)[KAOS_UDP_WIRE_MAX + 1]; /* recvmmsg buffers, one byte more to see truncation */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t random32(void)
{
	uint32_t v = 0;

	while (getrandom(&v, sizeof(v), 0) != sizeof(v) || v == 0)
		;
	return v;
}

/* ------------------------------------------------------------ output batch */

static void flush_out(struct kaos_udp *ep)
{
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	unsigned done = 0;

	for (unsigned i = 0; i < ep->nout; i++) {
		iov[i] = (struct iovec){ep->out[i].bytes, ep->out[i].len};
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &ep->peer,
						    .msg_namelen = sizeof(ep->peer),
						    .msg_iov = &iov[i],
						    .msg_iovlen = 1}};
	}
	while (done < ep->nout) {
		int n = sendmmsg(ep->fd, m + done, ep->nout - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <=
		    0) { /* full socket buffer or a refused port: lost, retransmission covers it */
			ep->st.send_errors += ep->nout - done;
			break;
		}
		done += (unsigned)n;
		ep->st.dgrams_sent += (uint64_t)n;
	}
	if (ep->nout) /* attempted counts: keepalive is for silence, not for loss */
		ep->last_sent_ns = now_ns();
	ep->nout = 0;
}

/* Seeded xorshift64*: drop_ppm's reproducible coin. */
static bool test_drops(struct kaos_udp *ep)
{
	if (!ep->cfg.drop_ppm)
		return false;
	ep->prng ^= ep->prng >> 12;
	ep->prng ^= ep->prng << 25;
	ep->prng ^= ep->prng >> 27;
	return (ep->prng * 0x2545f4914f6cdd1dull >> 32) % 1000000u < ep->cfg.drop_ppm;
}

static uint32_t adv_window(const struct kaos_udp *ep)
{
	return ep->cfg.window - (ep->rcv_nxt - ep->rcv_dlv);
}

static void emit(struct kaos_udp *ep, struct kaos_udp_hdr *h, const void *payload)
{
	int n;

	h->conn_id = ep->conn_id;
	h->v1 |= ep->peer_v1;
	h->ack = ep->rcv_nxt;
	h->window = ep->last_adv_wnd = adv_window(ep);
	if (h->type == KAOS_UDP_T_DATA && test_drops(ep)) {
		ep->st.dropped_by_test++;
		return;
	}
	if (ep->nout == BATCH)
		flush_out(ep);
	n = kaos_udp_wire_write(h, payload, ep->out[ep->nout].bytes, KAOS_UDP_WIRE_MAX);
	if (n < 0) /* our own header is wrong: a bug, never sent */
		return;
	ep->out[ep->nout++].len = (size_t)n;
	ep->ack_pending = false;
	ep->unacked_in_order = 0;
}

static bool present(const struct kaos_udp *ep, uint32_t seq)
{
	return ep->rx_present[seq % SLOTS / 64] >> (seq % 64) & 1;
}

static void set_present(struct kaos_udp *ep, uint32_t seq, bool on)
{
	uint64_t bit = 1ull << (seq % 64);

	if (on)
		ep->rx_present[seq % SLOTS / 64] |= bit;
	else
		ep->rx_present[seq % SLOTS / 64] &= ~bit;
}

/* The run of buffered datagrams around d (d - rcv_nxt), as a SACK block. */
static struct kaos_udp_sack run_around(const struct kaos_udp *ep, uint32_t d, uint32_t reach)
{
	uint32_t start = d, end = d + 1;

	while (start > 1 && present(ep, ep->rcv_nxt + start - 1))
		start--;
	while (end < reach && present(ep, ep->rcv_nxt + end))
		end++;
	return (struct kaos_udp_sack){ep->rcv_nxt + start, ep->rcv_nxt + end};
}

/* seq arrived beyond a hole: the newest of the runs the next acks name. */
static void note_recent(struct kaos_udp *ep, uint32_t seq)
{
	if (seq - 1 != ep->rcv_recent[0]) /* else it grew the newest run */
		memmove(&ep->rcv_recent[1], &ep->rcv_recent[0],
			(RECENT_RUNS - 1) * sizeof(ep->rcv_recent[0]));
	ep->rcv_recent[0] = seq;
}

/* The peer's first datagram will be seq. */
static void start_receiving(struct kaos_udp *ep, uint32_t seq)
{
	ep->rcv_nxt = ep->rcv_dlv = ep->rcv_top = seq;
	for (unsigned i = 0; i < RECENT_RUNS; i++)
		ep->rcv_recent[i] = seq; /* none: at rcv_nxt */
}

/* Whether h has a block starting at start (from block from on). */
static bool has_block(const struct kaos_udp_hdr *h, unsigned from, uint32_t start)
{
	for (unsigned i = from; i < h->nsack; i++)
		if (h->sack[i].start == start)
			return true;
	return false;
}

/*
 * SACK blocks (RFC 2018): first the runs holding the latest datagrams that
 * arrived beyond a hole, newest first, then runs above rcv_nxt, lowest
 * first. Every such arrival sends an ack, and the next few acks repeat it:
 * one lost ack hides nothing. Lowest-first alone hid every run above the
 * 4th: the sender had to guess them lost by age, and under 5 % loss 9 in 10
 * of those guesses resent data that had arrived.
 * The scan reads the rx_present bits and stops at rcv_top, not at the
 * window's end: walking a 1024-datagram window of 1.2 KiB slots on every
 * ack cost microseconds of cache misses (the top user-space symbol of a
 * ping-pong profile).
 */
static void fill_sacks(const struct kaos_udp *ep, struct kaos_udp_hdr *h)
{
	uint32_t d = 1, top = ep->rcv_top - ep->rcv_nxt, reach = adv_window(ep);
	unsigned from = h->nsack; /* after a DSACK block */

	reach = top < reach ? top : reach;
	for (unsigned i = 0; i < RECENT_RUNS && h->nsack < KAOS_UDP_WIRE_NSACK; i++) {
		uint32_t r = ep->rcv_recent[i] - ep->rcv_nxt;
		struct kaos_udp_sack b;

		if (!r || r >= reach || !present(ep, ep->rcv_recent[i]))
			continue;
		b = run_around(ep, r, reach);
		if (!has_block(h, from, b.start))
			h->sack[h->nsack++] = b;
	}
	while (d < reach && h->nsack < KAOS_UDP_WIRE_NSACK) {
		uint32_t start;

		while (d < reach && !present(ep, ep->rcv_nxt + d))
			d++;
		if (d >= reach)
			break;
		start = d;
		while (d < reach && present(ep, ep->rcv_nxt + d))
			d++;
		if (!has_block(h, from, ep->rcv_nxt + start))
			h->sack[h->nsack++] =
				(struct kaos_udp_sack){ep->rcv_nxt + start, ep->rcv_nxt + d};
	}
}

static void send_ctl(struct kaos_udp *ep, uint8_t type)
{
	struct kaos_udp_hdr h = {.type = type, .seq = ep->snd_sent};

	if (type == KAOS_UDP_T_SYN || type == KAOS_UDP_T_SYNACK)
		h.seq = ep->snd_una;
	if (type == KAOS_UDP_T_SYN) /* every 2nd retry as version 1, for an older listener */
		h.v1 = ep->st.handshake_retries & 1;
	if (type == KAOS_UDP_T_ACK) {
		fill_sacks(ep, &h);
		ep->st.acks_sent++;
		ep->unacked_sacked = 0;
		ep->sack_due = false;
	}
	if (type == KAOS_UDP_T_PING)
		ep->st.keepalives_sent++;
	emit(ep, &h, NULL);
}

/* An ack naming seq as received twice (DSACK) before the usual SACKs. */
static void send_dsack(struct kaos_udp *ep, uint32_t seq)
{
	struct kaos_udp_hdr h = {.type = KAOS_UDP_T_ACK,
				 .flags = KAOS_UDP_F_DSACK,
				 .seq = ep->snd_sent,
				 .nsack = 1,
				 .sack = {{seq, seq + 1}}};

	if (ep->peer_v1) {
		send_ctl(ep, KAOS_UDP_T_ACK);
		return;
	}
	fill_sacks(ep, &h);
	ep->st.acks_sent++;
	ep->st.dsacks_sent++;
	ep->unacked_sacked = 0;
	ep->sack_due = false;
	emit(ep, &h, NULL);
}

/* -------------------------------------------------------------- sender */

static void transmit(struct kaos_udp *ep, struct tx_seg *s, uint64_t now)
{
	s->sent_ns = now;
	s->tx_count++;
	if (!ep->timer_ns) { /* the flight was empty */
		ep->timer_ns = ep->probe_ns = now;
		ep->probed = false;
	}
	emit(ep, &s->h, s->payload);
}

static void retransmit(struct kaos_udp *ep, struct tx_seg *s, bool fast, uint64_t now)
{
	ep->st.retransmits++;
	if (fast)
		ep->st.retransmits_fast++;
	else
		ep->st.retransmits_timeout++;
	kaos_ring_note_retransmit_why(ep->txq, s->h.seq,
				      fast ? KAOS_RETRANSMIT_FAST : KAOS_RETRANSMIT_TIMEOUT);
	kaos_udp_cc_lost(&ep->cc);
	if (ep->undo_valid && s->episode != ep->episode) {
		s->episode = ep->episode;
		ep->undo_retrans++;
	}
	transmit(ep, s, now);
}

/* Length of the next queued message, without taking it; -1 if none. */
static long next_len(struct kaos_udp *ep)
{
	const void *slot;
	struct msg_desc d;

	if (kaos_ring_peek(ep->txq, 1, &slot) < 1)
		return -1;
	memcpy(&d, slot, sizeof(d));
	return (long)d.len;
}

static void append_record(struct kaos_udp *ep, struct tx_seg *s, const struct msg_desc *m)
{
	uint8_t *at = s->payload + s->h.payload_len;

	at[0] = (uint8_t)m->len;
	at[1] = (uint8_t)(m->len >> 8);
	memcpy(at + 2, m->bytes, m->len);
	s->h.payload_len = (uint16_t)(s->h.payload_len + 2 + m->len);
	s->h.msg_len++;
	kaos_udp_pool_put(&ep->pool, m->bytes, m->len);
}

/*
 * Packs ep->cur and the small messages queued after it into one PACKED
 * datagram, if at least one more fits. Returns whether it did.
 */
static bool pack(struct kaos_udp *ep, struct tx_seg *s)
{
	long next = next_len(ep);
	struct msg_desc m;

	if (ep->cur.len > PACK_MAX || next < 0 || next > PACK_MAX ||
	    ep->cur.len + 2 + (size_t)next + 2 > KAOS_UDP_WIRE_MAXFRAG)
		return false;
	s->h = (struct kaos_udp_hdr){.type = KAOS_UDP_T_DATA,
				     .flags = KAOS_UDP_F_PACKED,
				     .seq = ep->snd_nxt++,
				     .frag_count = 1};
	append_record(ep, s, &ep->cur);
	ep->cur_valid = false;
	while ((next = next_len(ep)) >= 0 && next <= PACK_MAX &&
	       s->h.payload_len + 2 + (size_t)next <= KAOS_UDP_WIRE_MAXFRAG &&
	       kaos_ring_recv(ep->txq, &m) == 0)
		append_record(ep, s, &m);
	return true;
}

/* Cuts queued messages into fragments (or packs small ones) while send slots are free. */
static void segment(struct kaos_udp *ep)
{
	while (ep->snd_nxt - ep->snd_una < SLOTS) {
		struct tx_seg *s = &ep->tx[ep->snd_nxt % SLOTS];
		uint32_t frags, off;

		if (!ep->cur_valid) {
			if (kaos_ring_recv(ep->txq, &ep->cur) < 0)
				return;
			ep->cur_valid = true;
			ep->cur_frag = 0;
		}
		s->tx_count = 0;
		s->dsacked = 0;
		s->episode = 0;
		s->sacked = false;
		if (ep->cur_frag == 0 && pack(ep, s))
			continue;
		frags = kaos_udp_wire_frags((uint32_t)ep->cur.len);
		off = ep->cur_frag * KAOS_UDP_WIRE_MAXFRAG;
		s->h = (struct kaos_udp_hdr){.type = KAOS_UDP_T_DATA,
					     .seq = ep->snd_nxt++,
					     .msg_len = (uint32_t)ep->cur.len,
					     .frag_index = (uint16_t)ep->cur_frag,
					     .frag_count = (uint16_t)frags};
		s->h.payload_len = (uint16_t)(ep->cur.len - off < KAOS_UDP_WIRE_MAXFRAG
						      ? ep->cur.len - off
						      : KAOS_UDP_WIRE_MAXFRAG);
		memcpy(s->payload, ep->cur.bytes + off, s->h.payload_len);
		if (++ep->cur_frag == frags) {
			kaos_udp_pool_put(&ep->pool, ep->cur.bytes, ep->cur.len);
			ep->cur_valid = false;
		}
	}
}

/*
 * New datagrams go out while the estimated pipe (in flight less what the
 * peer SACKed: those left the network, RFC 6675) is under cwnd, and the
 * peer's window has room. In a loss episode this keeps data flowing, so a
 * lost retransmission is found by SACKs of later data, not by the RTO.
 */
static void send_new(struct kaos_udp *ep, uint64_t now)
{
	while (ep->snd_sent != ep->snd_nxt &&
	       ep->snd_sent - ep->snd_una - ep->nsacked < ep->cc.cwnd &&
	       ep->snd_sent - ep->snd_una < ep->peer_wnd) {
		ep->st.data_sent++;
		transmit(ep, &ep->tx[ep->snd_sent++ % SLOTS], now);
		/* the probe resends the newest datagram: no ack for it can come
		   before a round trip from now (RFC 8985, 7.2) */
		ep->probe_ns = now;
	}
}

/* RFC 6298 (2.2, 2.3, 2.4 with a configurable floor). */
static void rtt_sample(struct kaos_udp *ep, uint64_t r)
{
	uint64_t dev, var4;

	if (!ep->srtt_ns) {
		ep->srtt_ns = r;
		ep->rttvar_ns = r / 2;
	} else {
		dev = ep->srtt_ns > r ? ep->srtt_ns - r : r - ep->srtt_ns;
		ep->rttvar_ns = (3 * ep->rttvar_ns + dev) / 4;
		ep->srtt_ns = (7 * ep->srtt_ns + r) / 8;
	}
	var4 = 4 * ep->rttvar_ns;
	ep->rto_ns = ep->srtt_ns + (var4 > NS_PER_MS ? var4 : NS_PER_MS);
	if (ep->rto_ns < ep->cfg.rto_min_ms * NS_PER_MS)
		ep->rto_ns = ep->cfg.rto_min_ms * NS_PER_MS;
	if (ep->rto_ns > RTO_MAX_NS)
		ep->rto_ns = RTO_MAX_NS;
	ep->rto_base_ns = ep->rto_ns;
}

/*
 * A new loss episode (once per window: it ends when recover is acked). It
 * remembers the window, to restore it if every retransmit of the episode
 * turns out spurious (fast: reordering; timeout: a delay spike, the originals
 * arrived). A timeout repeated without progress stays in its episode: undo
 * then goes back to the window before the first one.
 */
static void enter_recovery(struct kaos_udp *ep, bool timeout, bool repeated)
{
	if (!repeated) {
		kaos_udp_cc_episode(&ep->cc);
		ep->episode++;
		ep->undo_retrans = 0;
		ep->undo_valid = true;
	}
	if (ep->reo_mult > 1 && ++ep->calm_episodes >= REO_DECAY) {
		ep->reo_mult--; /* reordering not seen for a while: react faster again */
		ep->calm_episodes = 0;
	}
	ep->in_recovery = true;
	ep->rto_recovery = timeout;
	ep->recover = ep->snd_sent;
}

/* How much later a SACKed datagram must have been sent for a hole to count as lost. */
static uint64_t reorder_window(const struct kaos_udp *ep)
{
	uint64_t w = ep->srtt_ns / 4 * ep->reo_mult;

	return w < ep->srtt_ns ? w : ep->srtt_ns;
}

/* The last retransmit of the episode was a duplicate: the cut was for nothing. */
static void undo_episode(struct kaos_udp *ep)
{
	kaos_udp_cc_undo(&ep->cc);
	if (ep->rto_recovery) { /* a spurious timeout (RFC 3708's DSACK detection) */
		ep->st.rto_undos++;
		ep->rto_ns = ep->rto_base_ns ? ep->rto_base_ns : ep->rto_ns;
	}
	ep->undo_valid = false;
	ep->in_recovery = false;
	ep->st.cwnd_undos++;
}

/*
 * The peer received [start, end) twice. A copy we resent is spurious: count
 * it, widen the reordering window (once per episode), and undo the episode's
 * cut once all its fast retransmits are found spurious. A duplicate the
 * network made (never resent) proves nothing.
 */
static void on_dsack(struct kaos_udp *ep, uint32_t start, uint32_t end)
{
	for (uint32_t q = start; q != end; q++) {
		struct tx_seg *s = &ep->tx[q % SLOTS];
		bool known =
			ep->snd_una - q <= SLOTS || q - ep->snd_una < ep->snd_sent - ep->snd_una;

		if (!known || s->h.seq != q || s->tx_count <= 1 + s->dsacked)
			continue;
		s->dsacked++;
		ep->st.spurious_retransmits++;
		kaos_udp_cc_spurious(&ep->cc);
		/* whatever episode it was in: under steady loss a new one begins every
		   round, before the DSACKs of the last one come back */
		if (!ep->rto_recovery && (ep->calm_episodes || ep->reo_mult < 2)) {
			ep->reo_mult =
				ep->reo_mult < REO_MULT_MAX ? ep->reo_mult + 1 : REO_MULT_MAX;
			ep->calm_episodes = 0;
		}
		if (!ep->undo_valid || s->episode != ep->episode)
			continue;
		s->episode = 0; /* counted once */
		if (--ep->undo_retrans == 0)
			undo_episode(ep);
	}
}

/* The first unacked datagram and every hole below the highest SACKed one. */
static void fast_retransmit(struct kaos_udp *ep, uint64_t now)
{
	uint32_t top = ep->snd_una;

	for (uint32_t q = ep->snd_una; q != ep->snd_sent; q++)
		if (ep->tx[q % SLOTS].sacked)
			top = q;
	enter_recovery(ep, false, false);
	for (uint32_t q = ep->snd_una; q == ep->snd_una || q - ep->snd_una < top - ep->snd_una; q++)
		if (!ep->tx[q % SLOTS].sacked)
			retransmit(ep, &ep->tx[q % SLOTS], true, now);
}

/*
 * A hole whose last copy went out before a datagram the peer has since
 * SACKed was lost (or lost again) once either the SACKed one was sent more
 * than the reordering window later, or the hole is older than the latest
 * RTT (srtt if larger) + the window: resend it now rather than wait for 3 duplicate acks or the RTO
 * (RACK, RFC 8985, in small). The second rule is a timer (rack_ns): when the
 * pipe is full of holes and SACKed data, no later SACK comes to prove the
 * first rule (4 SACK blocks show only the lowest runs), and without it the
 * RTO, 200 ms, found them. A resent copy carries a new time, so each proof
 * resends it once.
 */
static void resend_overtaken(struct kaos_udp *ep, uint64_t now)
{
	uint64_t newest = 0, reo = reorder_window(ep), age = reo, next = 0;
	uint32_t newest_q = ep->snd_una; /* a burst shares one time: then seq orders it */
	uint32_t top = ep->snd_una;	 /* the highest SACKed */

	/* the latest RTT, not srtt: a queue building up must not age every hole out at once */
	age += ep->rack_rtt_ns > ep->srtt_ns ? ep->rack_rtt_ns : ep->srtt_ns;

	for (uint32_t q = ep->snd_una; q != ep->snd_sent; q++) {
		if (!ep->tx[q % SLOTS].sacked)
			continue;
		top = q;
		if (ep->tx[q % SLOTS].sent_ns >= newest) {
			newest = ep->tx[q % SLOTS].sent_ns;
			newest_q = q;
		}
	}
	for (uint32_t q = ep->snd_una; q != ep->snd_sent; q++) {
		struct tx_seg *s = &ep->tx[q % SLOTS];
		/* a version 1 peer reports its lowest runs (4 blocks): with every
		   block used, data above the highest SACKed may have arrived
		   unreported; a SACKed retransmission (low seq, sent late) proves
		   it lost only by age */
		bool unreported = ep->sacks_full && q - ep->snd_una > top - ep->snd_una;

		if (s->sacked || s->sent_ns > newest ||
		    (s->sent_ns == newest && q - ep->snd_una >= newest_q - ep->snd_una))
			continue;
		if ((unreported || s->sent_ns + reo >= newest) && now - s->sent_ns < age) {
			next = !next || s->sent_ns + age < next ? s->sent_ns + age : next;
			continue;
		}
		if (!ep->in_recovery) /* a new episode: the window is cut once */
			enter_recovery(ep, false, false);
		retransmit(ep, s, !ep->rto_recovery, now);
	}
	ep->rack_ns = next;
}

/* Cumulative ack advanced to ack: frees slots, samples RTT (Karn), grows cwnd. */
static void ack_advanced(struct kaos_udp *ep, uint32_t ack, uint64_t now)
{
	uint32_t n = ack - ep->snd_una, nsacked_before = ep->nsacked;
	bool resent = false;

	for (uint32_t q = ep->snd_una; q != ack; q++) {
		resent |= ep->tx[q % SLOTS].tx_count > 1;
		ep->nsacked -= ep->tx[q % SLOTS].sacked;
	}
	kaos_udp_cc_delivered(&ep->cc, n - (nsacked_before - ep->nsacked));
	if (!resent) { /* a hole filled by a retransmission would inflate the sample */
		ep->rack_rtt_ns = now - ep->tx[(ack - 1) % SLOTS].sent_ns;
		rtt_sample(ep, ep->rack_rtt_ns);
		kaos_udp_cc_rtt(&ep->cc, ep->rack_rtt_ns);
	} else if (ep->rto_base_ns) /* the peer is alive: no backoff (as Linux); Karn: no sample */
		ep->rto_ns = ep->rto_base_ns;
	ep->snd_una = ack;
	ep->dupacks = 0;
	kaos_udp_cc_acked(&ep->cc, n);
	kaos_udp_cc_ack_seq(&ep->cc, ack, ep->snd_sent);
	ep->timer_ns = ep->snd_una != ep->snd_sent ? now : 0;
	ep->probe_ns = now;
	ep->probed = false;
	if (ep->in_recovery && ack - ep->recover < 0x80000000u)
		ep->in_recovery = false;
	else if (ep->in_recovery && ep->reo_mult < 2 && ep->tx[ack % SLOTS].tx_count == 1 &&
		 !ep->tx[ack % SLOTS].sacked) /* partial ack: the next hole, same reason */
		retransmit(ep, &ep->tx[ack % SLOTS], !ep->rto_recovery, now);
}

/* Duplicate acks (or SACKed datagrams) that prove the first hole lost. */
static uint32_t dupthresh(uint32_t flight)
{
	return flight > DUPACKS ? DUPACKS : flight > 1 ? flight - 1 : 1;
}

static void on_ack(struct kaos_udp *ep, const struct kaos_udp_hdr *h, uint64_t now)
{
	uint32_t adv = h->ack - ep->snd_una, flight = ep->snd_sent - ep->snd_una;

	if (adv > flight) { /* acks what was never sent: forged or stale */
		ep->st.stale++;
		return;
	}
	unsigned first = h->flags & KAOS_UDP_F_DSACK ? 1 : 0, nsack = h->nsack - first;

	ep->peer_wnd = h->window;
	ep->sacks_full = ep->peer_v1 && h->nsack == KAOS_UDP_WIRE_NSACK;
	if (adv)
		ack_advanced(ep, h->ack, now);
	if (first)
		on_dsack(ep, h->sack[0].start, h->sack[0].end);
	for (unsigned i = first; i < h->nsack; i++)
		for (uint32_t q = h->sack[i].start; q != h->sack[i].end; q++)
			if (q - ep->snd_una < ep->snd_sent - ep->snd_una &&
			    !ep->tx[q % SLOTS].sacked) {
				ep->tx[q % SLOTS].sacked = true;
				ep->nsacked++;
				if (ep->tx[q % SLOTS].tx_count == 1) {
					ep->rack_rtt_ns = now - ep->tx[q % SLOTS].sent_ns;
					kaos_udp_cc_rtt(&ep->cc, ep->rack_rtt_ns);
				}
				/* a round ends when data sent since it began arrives: in
				   heavy loss the cumulative ack lags many RTTs behind */
				kaos_udp_cc_ack_seq(&ep->cc, q + 1, ep->snd_sent);
				kaos_udp_cc_delivered(&ep->cc, 1);
				ep->probe_ns = now; /* progress: no probe yet */
				ep->probed = false;
			}
	/* a duplicate ack = the peer saw data beyond a hole (it carries SACKs);
	   as many SACKed datagrams say the same (RFC 6675: the peer acks a run
	   once per 8 datagrams or per read) */
	/* with under 4 in flight, fewer duplicates can come (early retransmit, RFC 5827) */
	/* once reordering was seen, holes are lost by time alone (RACK), not by count */
	if (!adv && h->type == KAOS_UDP_T_ACK && nsack && flight &&
	    (++ep->dupacks >= dupthresh(flight) || ep->nsacked >= dupthresh(flight)) &&
	    !ep->in_recovery && ep->reo_mult < 2)
		fast_retransmit(ep, now);
	else if (nsack && flight)
		resend_overtaken(ep, now);
}

/* ------------------------------------------------------------ receiver */

static int corrupt(struct kaos_udp *ep)
{
	ep->state = KAOS_UDP_DEAD;
	ep->err = -KAOS_ECORRUPT;
	return ep->err;
}

/*
 * Queues the records of a PACKED datagram as the receive queue has room;
 * s->taken remembers how far it got. 1: all queued, 0: queue full.
 */
static int take_packed(struct kaos_udp *ep, struct rx_seg *s)
{
	struct msg_desc m;

	if (ep->asm_next)
		return corrupt(ep); /* inside another message's fragments */
	while (s->taken < s->h.payload_len) {
		if (kaos_ring_count(ep->rxq) >= kaos_ring_capacity(ep->rxq))
			return 0;
		m.len = s->payload[s->taken] | (uint32_t)s->payload[s->taken + 1] << 8;
		m.bytes = kaos_udp_pool_get(&ep->pool, m.len);
		if (!m.bytes)
			return -KAOS_ENOMEM;
		memcpy(m.bytes, s->payload + s->taken + 2, m.len);
		kaos_ring_send(ep->rxq, &m); /* room was checked, one producer */
		s->taken = (uint16_t)(s->taken + 2 + m.len);
	}
	return 1;
}

/* Takes one in-order fragment into the message under reassembly. 1: consumed, 0: queue full. */
static int take_fragment(struct kaos_udp *ep, struct rx_seg *s)
{
	const struct kaos_udp_hdr *h = &s->h;
	bool last = h->frag_index + 1u == h->frag_count;

	if (h->flags & KAOS_UDP_F_PACKED)
		return take_packed(ep, s);
	if (last && kaos_ring_count(ep->rxq) >= kaos_ring_capacity(ep->rxq))
		return 0;
	if (h->frag_index != ep->asm_next || (ep->asm_next && h->msg_len != ep->asm_msg.len))
		return corrupt(ep);
	if (!ep->asm_next) {
		ep->asm_msg.bytes = kaos_udp_pool_get(&ep->pool, h->msg_len);
		if (!ep->asm_msg.bytes)
			return -KAOS_ENOMEM;
		ep->asm_msg.len = h->msg_len;
	}
	memcpy(ep->asm_msg.bytes + (size_t)h->frag_index * KAOS_UDP_WIRE_MAXFRAG, s->payload,
	       h->payload_len);
	ep->asm_next = last ? 0 : h->frag_index + 1u;
	if (last && kaos_ring_send(ep->rxq, &ep->asm_msg) < 0) {
		free(ep->asm_msg.bytes); /* unreachable: room was checked, one producer */
		return -KAOS_EFULL;
	}
	return 1;
}

static int deliver_in_order(struct kaos_udp *ep)
{
	struct rx_seg *s;
	int e;

	while (ep->rcv_dlv != ep->rcv_nxt) {
		s = &ep->rx[ep->rcv_dlv % SLOTS];
		e = take_fragment(ep, s);
		if (e <= 0)
			return e;
		set_present(ep, ep->rcv_dlv++, false);
	}
	return 0;
}

/*
 * seq arrived beyond a hole. The first datagram of a run (a new hole below
 * it) is acked at once: the sender's loss detection waits on it. The rest
 * of a run, every 8th and at the end of the read: under 1 % loss a hole is
 * open nearly all the time, and an ack per datagram (twice the in-order
 * rate) cost the bench's receiver a fifth of its CPU in sendmsg.
 */
static void ack_sacked(struct kaos_udp *ep, uint32_t seq)
{
	if (!present(ep, seq - 1) || ++ep->unacked_sacked >= SACK_EVERY)
		send_ctl(ep, KAOS_UDP_T_ACK);
	else
		ep->sack_due = true;
}

static int on_data(struct kaos_udp *ep, const struct kaos_udp_hdr *h, const uint8_t *payload)
{
	uint32_t d = h->seq - ep->rcv_nxt;
	struct rx_seg *s = &ep->rx[h->seq % SLOTS];

	if (d >= 0x80000000u || (d < adv_window(ep) && present(ep, h->seq))) {
		ep->st.duplicates++;
		send_dsack(ep, h->seq); /* our ack may have been lost; or the copy was spurious */
		return 0;
	}
	if (d >= adv_window(ep)) {
		ep->st.stale++;
		return 0;
	}
	set_present(ep, h->seq, true);
	s->taken = 0;
	s->h = *h;
	memcpy(s->payload, payload, h->payload_len);
	if (d) { /* beyond a hole: SACK it */
		if (d + 1 > ep->rcv_top - ep->rcv_nxt)
			ep->rcv_top = h->seq + 1;
		note_recent(ep, h->seq);
		ack_sacked(ep, h->seq);
		return 0;
	}
	while (ep->rcv_nxt - ep->rcv_dlv < ep->cfg.window && present(ep, ep->rcv_nxt))
		ep->rcv_nxt++; /* acked now, delivered when the receive queue has room */
	if (ep->rcv_top - ep->rcv_nxt >= 0x80000000u) /* kept within the window */
		ep->rcv_top = ep->rcv_nxt;
	ep->ack_pending = true;
	/* every 2nd datagram, as TCP: one lost ack for a whole window would stall it */
	if (++ep->unacked_in_order >= 2)
		send_ctl(ep, KAOS_UDP_T_ACK);
	return deliver_in_order(ep);
}

/* ------------------------------------------------------- state machine */

static void start_connection(struct kaos_udp *ep, uint64_t now)
{
	ep->snd_una = ep->snd_sent = ep->snd_nxt = random32();
	kaos_udp_cc_init(&ep->cc, CWND_INIT, SLOTS, ep->snd_una);
	ep->rto_ns = RTO_INIT_NS;
	ep->reo_mult = 1;
	ep->last_heard_ns = ep->syn_ns = now;
}

static void on_syn(struct kaos_udp *ep, const struct kaos_udp_hdr *h,
		   const struct sockaddr_in *from, uint64_t now)
{
	if (ep->state == KAOS_UDP_IDLE) {
		ep->peer = *from;
		ep->conn_id = h->conn_id;
		start_receiving(ep, h->seq);
		ep->peer_wnd = h->window;
		ep->peer_v1 = h->v1;
		start_connection(ep, now);
		ep->state = KAOS_UDP_ESTABLISHED;
	} else if (h->conn_id != ep->conn_id || h->seq != ep->rcv_nxt) {
		ep->st.stale++;
		return;
	} else if (!h->v1) {
		ep->peer_v1 = false; /* a version 2 retry of the SYN: the newer wire */
	}
	send_ctl(ep, KAOS_UDP_T_SYNACK); /* again if our SYNACK was lost */
}

static int on_datagram(struct kaos_udp *ep, const struct kaos_udp_hdr *h, const uint8_t *payload,
		       const struct sockaddr_in *from, uint64_t now)
{
	if (h->type == KAOS_UDP_T_SYN && ep->state <= KAOS_UDP_ESTABLISHED &&
	    ep->state != KAOS_UDP_SYN_SENT) {
		on_syn(ep, h, from, now);
		return 0;
	}
	if (ep->state == KAOS_UDP_IDLE || ep->state >= KAOS_UDP_CLOSED ||
	    h->conn_id != ep->conn_id || from->sin_port != ep->peer.sin_port ||
	    from->sin_addr.s_addr != ep->peer.sin_addr.s_addr || h->type == KAOS_UDP_T_SYN) {
		ep->st.stale++;
		return 0;
	}
	if (ep->state == KAOS_UDP_SYN_SENT) {
		if (h->type != KAOS_UDP_T_SYNACK) {
			ep->st.stale++;
			return 0;
		}
		start_receiving(ep, h->seq);
		ep->peer_v1 = h->v1;
		ep->state = KAOS_UDP_ESTABLISHED;
		if (!ep->st.handshake_retries)
			rtt_sample(ep, now - ep->syn_ns);
		send_ctl(ep, KAOS_UDP_T_ACK);
	}
	ep->last_heard_ns = now;
	on_ack(ep, h, now);
	if (h->type == KAOS_UDP_T_PING)
		send_ctl(ep, KAOS_UDP_T_ACK);
	if (h->type == KAOS_UDP_T_FIN) {
		ep->state = KAOS_UDP_CLOSED;
		ep->err = -KAOS_ECLOSED;
	}
	return h->type == KAOS_UDP_T_DATA ? on_data(ep, h, payload) : 0;
}

static int read_socket(struct kaos_udp *ep)
{
	uint8_t(*bufs)[KAOS_UDP_WIRE_MAX + 1] = ep->in;
	struct sockaddr_in from[BATCH];
	struct iovec iov[BATCH];
	struct mmsghdr m[BATCH];
	int n, e;

	for (;;) {
		for (unsigned i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
							    .msg_namelen = sizeof(from[i]),
							    .msg_iov = &iov[i],
							    .msg_iovlen = 1}};
		}
		n = recvmmsg(ep->fd, m, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED
				       ? 0
				       : -KAOS_ESYS;
		for (int i = 0; i < n; i++) {
			struct kaos_udp_hdr h;
			const uint8_t *payload;
			uint64_t now = now_ns();

			ep->st.dgrams_received++;
			if ((m[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    kaos_udp_wire_parse(bufs[i], m[i].msg_len, &h, &payload)) {
				ep->st.garbage++;
				continue;
			}
			e = on_datagram(ep, &h, payload, &from[i], now);
			if (e < 0)
				return e;
		}
		if ((unsigned)n < BATCH)
			return 0;
	}
}

/*
 * Loss probe timeout: twice the smoothed RTT (RFC 8985), or more where the
 * RTT varies (srtt + 4 rttvar, as the RTO), at least a quarter of the RTO
 * floor (50 ms by default: a peer descheduled that long on a loaded machine
 * is not loss; 10 ms gave clean links a spurious probe now and then); 0
 * (none) before an RTT sample or once a probe is out.
 */
static uint64_t pto(const struct kaos_udp *ep)
{
	uint64_t t = 2 * ep->srtt_ns, v = ep->srtt_ns + 4 * ep->rttvar_ns;
	uint64_t floor = ep->cfg.rto_min_ms * NS_PER_MS / 4;

	if (!ep->srtt_ns || ep->probed)
		return 0;
	t = t > v ? t : v;
	return t > floor ? t : floor;
}

/*
 * Tail loss probe (RFC 8985, section 7, in small): data in flight and
 * nothing heard of it for a PTO. The last datagrams of a flight, a lost
 * retransmission or the only ack of a small window leave no later SACK to
 * reveal them, and the RTO (200 ms floor) would stall the connection for
 * thousands of round trips. Resending the highest datagram not SACKed gets
 * an ack with SACKs (or a DSACK) that repairs the rest by the usual rules.
 * No window cut (one datagram per PTO); the RTO stays as the backstop.
 */
static void loss_probe(struct kaos_udp *ep, uint64_t now)
{
	uint32_t q = ep->snd_sent;
	struct tx_seg *s;

	ep->probed = true;
	while (q != ep->snd_una && ep->tx[(q - 1) % SLOTS].sacked)
		q--;
	if (q == ep->snd_una)
		return;
	s = &ep->tx[(q - 1) % SLOTS];
	s->episode = 0; /* a probe is no fast retransmit to undo */
	ep->st.retransmits++;
	ep->st.retransmits_fast++;
	ep->st.loss_probes++;
	kaos_ring_note_retransmit_why(ep->txq, s->h.seq, KAOS_RETRANSMIT_FAST);
	transmit(ep, s, now);
}

/* RTO, SYN retries, keepalive, peer death. */
static void run_timers(struct kaos_udp *ep, uint64_t now)
{
	if (now - ep->last_heard_ns >= ep->cfg.peer_timeout_ms * NS_PER_MS) {
		ep->state = KAOS_UDP_DEAD;
		ep->err = -KAOS_ETIMEDOUT;
		return;
	}
	if (ep->state == KAOS_UDP_SYN_SENT && now - ep->syn_ns >= ep->rto_ns) {
		ep->st.handshake_retries++;
		ep->syn_ns = now;
		ep->rto_ns = ep->rto_ns * 2 < RTO_MAX_NS ? ep->rto_ns * 2 : RTO_MAX_NS;
		send_ctl(ep, KAOS_UDP_T_SYN);
		return;
	}
	if (ep->state != KAOS_UDP_ESTABLISHED)
		return;
	if (ep->rack_ns && now >= ep->rack_ns && ep->snd_una != ep->snd_sent)
		resend_overtaken(ep, now);
	if (ep->timer_ns && now - ep->timer_ns < ep->rto_ns && pto(ep) &&
	    now - ep->probe_ns >= pto(ep))
		loss_probe(ep, now);
	if (ep->timer_ns && now - ep->timer_ns >= ep->rto_ns) {
		uint32_t q = ep->snd_una;
		bool repeated = ep->in_recovery && ep->rto_recovery && ep->rto_ns > ep->rto_base_ns;

		while (q != ep->snd_sent && ep->tx[q % SLOTS].sacked)
			q++;
		enter_recovery(ep, true, repeated); /* partial acks then resend the next holes */
		kaos_udp_cc_timeout(&ep->cc, repeated);
		ep->rto_ns = ep->rto_ns * 2 < RTO_MAX_NS ? ep->rto_ns * 2 : RTO_MAX_NS;
		ep->timer_ns = now; /* no probe after a timeout until the peer answers */
		if (q != ep->snd_sent)
			retransmit(ep, &ep->tx[q % SLOTS], false, now);
	}
	if (now - ep->last_sent_ns >= ep->cfg.keepalive_ms * NS_PER_MS)
		send_ctl(ep, KAOS_UDP_T_PING);
}

/*
 * An ack for in-order data is held for one poll: an application that
 * answers what it received sends its reply (carrying the ack) before it
 * polls again, one datagram instead of two and one wakeup of the peer
 * instead of two (a ping-pong sent 4 datagrams a round trip). Out-of-order
 * data and every 2nd datagram are still acked at once (on_data); a held ack
 * makes kaos_udp_timeout_ms() 0, so a caller sleeping on the socket sends
 * it first.
 */
int kaos_udp_poll(struct kaos_udp *ep)
{
	bool ack_due;
	uint64_t now;
	int e;

	if (!ep)
		return -KAOS_EINVAL;
	if (ep->state >= KAOS_UDP_CLOSED)
		return ep->err;
	ack_due = ep->ack_pending;
	e = read_socket(ep);
	if (e < 0)
		return e;
	if (ep->sack_due)
		send_ctl(ep, KAOS_UDP_T_ACK);
	now = now_ns();
	if (ep->state != KAOS_UDP_IDLE)
		run_timers(ep, now);
	if (ep->state == KAOS_UDP_ESTABLISHED) {
		if ((e = deliver_in_order(ep)) < 0)
			return e;
		segment(ep);
		send_new(ep, now);
		if ((ack_due && ep->ack_pending) || (!ep->last_adv_wnd && adv_window(ep)))
			send_ctl(ep, KAOS_UDP_T_ACK);
	}
	flush_out(ep);
	return ep->state >= KAOS_UDP_CLOSED ? ep->err : 0;
}

/* ------------------------------------------------------------ the API */

static int make_queue(const struct kaos_udp *ep, const char *suffix, struct kaos_ring **out)
{
	char name[KAOS_RING_NAME_MAX];
	struct kaos_ring_config rc = {.kind = KAOS_RING_SPSC,
				      .slots = ep->cfg.queue_msgs,
				      .slot_size = sizeof(struct msg_desc),
				      .name = name,
				      .wait = KAOS_WAIT_FAIL};

	snprintf(name, sizeof(name), "%s.%s", ep->cfg.name, suffix);
	return kaos_ring_create(&rc, out);
}

static int fill_defaults(struct kaos_udp_config *c)
{
	c->queue_msgs = c->queue_msgs ? c->queue_msgs : 1024;
	c->window = c->window ? c->window : 64;
	c->keepalive_ms = c->keepalive_ms ? c->keepalive_ms : 250;
	c->peer_timeout_ms = c->peer_timeout_ms ? c->peer_timeout_ms : 5000;
	c->rto_min_ms = c->rto_min_ms ? c->rto_min_ms : 200;
	c->bind_addr = c->bind_addr ? c->bind_addr : "127.0.0.1";
	c->name = c->name ? c->name : "udp";
	if (c->window < 2 || c->window > KAOS_UDP_WIRE_MAXWND || c->drop_ppm > 1000000)
		return -KAOS_EINVAL;
	return 0;
}

static int open_socket(struct kaos_udp *ep)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(ep->cfg.port)};
	int big = 4 << 20;

	if (inet_pton(AF_INET, ep->cfg.bind_addr, &a.sin_addr) != 1)
		return -KAOS_EINVAL;
	ep->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->fd < 0)
		return -KAOS_ESYS;
	/* best effort (capped by net.core.rmem_max): a whole window must fit */
	setsockopt(ep->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(ep->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (bind(ep->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return -KAOS_ESYS;
	return 0;
}

int kaos_udp_open(const struct kaos_udp_config *cfg, struct kaos_udp **out)
{
	struct kaos_udp *ep;
	int e;

	if (!out)
		return -KAOS_EINVAL;
	*out = NULL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -KAOS_ENOMEM;
	ep->fd = -1;
	ep->cfg = cfg ? *cfg : (struct kaos_udp_config){0};
	ep->prng = ep->cfg.drop_seed ? ep->cfg.drop_seed : 0x9e3779b97f4a7c15ull;
	e = fill_defaults(&ep->cfg);
	if (!e) {
		ep->tx = calloc(SLOTS, sizeof(*ep->tx));
		ep->rx = calloc(SLOTS, sizeof(*ep->rx));
		ep->out = calloc(BATCH, sizeof(*ep->out));
		ep->in = calloc(BATCH, sizeof(*ep->in));
		e = ep->tx && ep->rx && ep->out && ep->in ? 0 : -KAOS_ENOMEM;
	}
	if (!e)
		e = make_queue(ep, "tx", &ep->txq);
	if (!e)
		e = make_queue(ep, "rx", &ep->rxq);
	if (!e)
		e = open_socket(ep);
	if (e) {
		int saved = errno;

		kaos_udp_close(ep);
		errno = saved;
		return e;
	}
	*out = ep;
	return 0;
}

static void drain_queue(struct kaos_ring *q)
{
	struct msg_desc d;

	while (q && kaos_ring_recv(q, &d) == 0)
		free(d.bytes);
}

void kaos_udp_close(struct kaos_udp *ep)
{
	if (!ep)
		return;
	if (ep->state == KAOS_UDP_ESTABLISHED && ep->fd >= 0) {
		struct kaos_udp_hdr fin = {.type = KAOS_UDP_T_FIN, .seq = ep->snd_nxt};

		emit(ep, &fin, NULL);
		flush_out(ep);
	}
	if (ep->fd >= 0)
		close(ep->fd);
	drain_queue(ep->txq);
	drain_queue(ep->rxq);
	kaos_ring_destroy(ep->txq);
	kaos_ring_destroy(ep->rxq);
	if (ep->cur_valid)
		free(ep->cur.bytes);
	if (ep->asm_next)
		free(ep->asm_msg.bytes);
	kaos_udp_pool_drain(&ep->pool);
	free(ep->tx);
	free(ep->rx);
	free(ep->out);
	free(ep->in);
	free(ep);
}

int kaos_udp_connect(struct kaos_udp *ep, const char *host, uint16_t port)
{
	if (!ep || !host || !port || ep->state != KAOS_UDP_IDLE)
		return -KAOS_EINVAL;
	ep->peer = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
	if (inet_pton(AF_INET, host, &ep->peer.sin_addr) != 1)
		return -KAOS_EINVAL;
	ep->conn_id = random32();
	start_connection(ep, now_ns());
	ep->peer_wnd = 0; /* known from the SYNACK */
	ep->state = KAOS_UDP_SYN_SENT;
	send_ctl(ep, KAOS_UDP_T_SYN);
	flush_out(ep);
	return 0;
}

int kaos_udp_fd(const struct kaos_udp *ep)
{
	return ep ? ep->fd : -KAOS_EINVAL;
}

uint16_t kaos_udp_port(const struct kaos_udp *ep)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (!ep || getsockname(ep->fd, (struct sockaddr *)&a, &len) < 0)
		return 0;
	return ntohs(a.sin_port);
}

enum kaos_udp_state kaos_udp_state(const struct kaos_udp *ep)
{
	return ep ? ep->state : KAOS_UDP_DEAD;
}

static uint64_t until(uint64_t now, uint64_t start, uint64_t span)
{
	return now - start >= span ? 0 : span - (now - start);
}

int kaos_udp_timeout_ms(const struct kaos_udp *ep)
{
	uint64_t now = now_ns(), t;

	if (!ep || ep->state == KAOS_UDP_IDLE || ep->state >= KAOS_UDP_CLOSED)
		return 1000;
	if (ep->ack_pending) /* held for one poll (kaos_udp_poll) */
		return 0;
	t = until(now, ep->last_heard_ns, ep->cfg.peer_timeout_ms * NS_PER_MS);
	if (ep->state == KAOS_UDP_SYN_SENT) {
		uint64_t s = until(now, ep->syn_ns, ep->rto_ns);

		t = s < t ? s : t;
	} else {
		uint64_t k = until(now, ep->last_sent_ns, ep->cfg.keepalive_ms * NS_PER_MS);

		t = k < t ? k : t;
		if (ep->timer_ns) {
			uint64_t r = until(now, ep->timer_ns, ep->rto_ns);

			t = r < t ? r : t;
			r = pto(ep) ? until(now, ep->probe_ns, pto(ep)) : t;
			t = r < t ? r : t;
			r = !ep->rack_ns ? t : ep->rack_ns > now ? ep->rack_ns - now : 0;
			t = r < t ? r : t;
		}
	}
	return (int)((t + NS_PER_MS - 1) / NS_PER_MS);
}

int kaos_udp_send(struct kaos_udp *ep, const void *msg, size_t len)
{
	struct msg_desc d;
	int e;

	if (!ep || (!msg && len) || len > KAOS_UDP_MSG_MAX)
		return -KAOS_EINVAL;
	if (ep->state >= KAOS_UDP_CLOSED)
		return ep->err;
	d.bytes = kaos_udp_pool_get(&ep->pool, len);
	if (!d.bytes)
		return -KAOS_ENOMEM;
	if (len)
		memcpy(d.bytes, msg, len);
	d.len = len;
	e = kaos_ring_send(ep->txq, &d);
	if (e < 0) {
		kaos_udp_pool_put(&ep->pool, d.bytes, len);
		return e;
	}
	ep->st.msgs_sent++;
	ep->st.bytes_sent += len;
	return 0;
}

int kaos_udp_recv(struct kaos_udp *ep, void *buf, size_t cap)
{
	const void *slot;
	struct msg_desc d;

	if (!ep || (!buf && cap))
		return -KAOS_EINVAL;
	/* acked data waiting for queue room is the peer's too after its FIN or silence */
	if ((ep->err == -KAOS_ECLOSED || ep->err == -KAOS_ETIMEDOUT) &&
	    ep->rcv_dlv != ep->rcv_nxt && deliver_in_order(ep) < 0)
		return ep->err;
	if (kaos_ring_peek(ep->rxq, 1, &slot) < 1)
		return ep->state >= KAOS_UDP_CLOSED ? ep->err : -KAOS_EEMPTY;
	memcpy(&d, slot, sizeof(d));
	if (d.len > cap)
		return -KAOS_EINVAL;
	kaos_ring_release(ep->rxq, 1);
	if (d.len)
		memcpy(buf, d.bytes, d.len);
	kaos_udp_pool_put(&ep->pool, d.bytes, d.len);
	ep->st.msgs_received++;
	ep->st.bytes_received += d.len;
	return (int)d.len;
}

/* ------------------------------------------------ blocking conveniences */

/* Polls until done(ep) is non-zero (returned), the deadline (-KAOS_EEMPTY) or an error. */
static int wait_until(struct kaos_udp *ep, int (*done)(struct kaos_udp *, void *), void *arg,
		      int timeout_ms)
{
	uint64_t start = now_ns();

	for (;;) {
		int e = kaos_udp_poll(ep), r = done(ep, arg), wait;
		struct pollfd p = {.fd = ep->fd, .events = POLLIN};

		if (r)
			return r;
		if (e < 0)
			return e;
		wait = kaos_udp_timeout_ms(ep);
		if (timeout_ms >= 0) {
			uint64_t left = until(now_ns(), start, (uint64_t)timeout_ms * NS_PER_MS);

			if (!left)
				return -KAOS_EEMPTY;
			if ((uint64_t)wait * NS_PER_MS > left)
				wait = (int)((left + NS_PER_MS - 1) / NS_PER_MS);
		}
		if (poll(&p, 1, wait) < 0 && errno != EINTR)
			return -KAOS_ESYS;
	}
}

struct recv_args {
	void *buf;
	size_t cap;
};

static int got_message(struct kaos_udp *ep, void *arg)
{
	struct recv_args *a = arg;
	int n = kaos_udp_recv(ep, a->buf, a->cap);

	if (n == -KAOS_EEMPTY)
		return 0;
	return n >= 0 ? n + 1 : n; /* 0 means "not yet": shift lengths by one */
}

int kaos_udp_recv_wait(struct kaos_udp *ep, void *buf, size_t cap, int timeout_ms)
{
	struct recv_args a = {buf, cap};
	int r;

	if (!ep)
		return -KAOS_EINVAL;
	/* a queued message first: a recvmmsg per message (mostly EAGAIN) cost half the time */
	r = got_message(ep, &a);
	if (!r)
		r = wait_until(ep, got_message, &a, timeout_ms);
	return r > 0 ? r - 1 : r;
}

static int connected(struct kaos_udp *ep, void *arg)
{
	(void)arg;
	return ep->state == KAOS_UDP_ESTABLISHED;
}

int kaos_udp_wait_connected(struct kaos_udp *ep, int timeout_ms)
{
	int r;

	if (!ep)
		return -KAOS_EINVAL;
	r = wait_until(ep, connected, NULL, timeout_ms);
	return r > 0 ? 0 : r;
}

static int all_acked(struct kaos_udp *ep, void *arg)
{
	(void)arg;
	return ep->state == KAOS_UDP_ESTABLISHED && !ep->cur_valid &&
	       kaos_ring_count(ep->txq) == 0 && ep->snd_una == ep->snd_nxt;
}

int kaos_udp_flush(struct kaos_udp *ep, int timeout_ms)
{
	int r;

	if (!ep)
		return -KAOS_EINVAL;
	r = wait_until(ep, all_acked, NULL, timeout_ms);
	return r > 0 ? 0 : r;
}

void kaos_udp_stats(const struct kaos_udp *ep, struct kaos_udp_stats *out)
{
	if (!ep || !out)
		return;
	*out = ep->st;
	out->srtt_us = (uint32_t)(ep->srtt_ns / 1000);
	out->rttvar_us = (uint32_t)(ep->rttvar_ns / 1000);
	out->rto_us = (uint32_t)(ep->rto_ns / 1000);
	out->cwnd = ep->cc.cwnd;
	out->congestion_cuts = ep->cc.cuts;
	out->loss_share_ppm = ep->cc.loss_ppm;
	out->peer_window = ep->peer_wnd;
	out->in_flight = ep->snd_sent - ep->snd_una;
	out->reorder_window_us = (uint32_t)(reorder_window(ep) / 1000);
}
