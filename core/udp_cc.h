/* SPDX-License-Identifier: MIT */
/*
 * Congestion control for the reliable UDP (core/udp.c): a window in
 * datagrams that reads loss as congestion only when there is much of it.
 *
 * WHY: Reno-style AIMD halves the window on every loss episode, so under
 * random loss p its rate is Mathis-bound (~1.2 / (RTT sqrt p) datagrams a
 * second): ~0.2 MB/s through issue 17's 5 % loss and 20-30 ms RTT, whatever
 * the link could carry. A tail-drop bottleneck, though, drops what exceeds
 * its rate: a sender above it loses a share that grows with the excess.
 * So the cut follows the loss *rate* of a round trip, not the loss event:
 *  - slow start (+1 per acked datagram) up to ssthresh, then +1 per window;
 *  - a round is one window: until the ack passes what was sent when it
 *    began. Its lost share is resent / (resent + delivered), less the
 *    resends the peer reported as duplicates, smoothed over rounds (gain
 *    1/4, less for a round smaller than recent ones: its losses may
 *    have been sent in a larger burst a round before). A round with at
 *    least LOSS_MIN losses that leaves the smoothed share above LOSS_PPM
 *    is congestion: the window goes to 0.7 of itself (CUBIC's beta), at
 *    most every other round (the round after a cut still carries the
 *    flight from before it), and growth turns additive. Below that, loss
 *    is repaired and the window kept;
 *  - a timeout sets the window to 1 (the path may be gone) and slow start
 *    climbs back to 0.7 of where it was (half again for each repeated
 *    timeout): random loss seldom takes a whole tail and its probe, an
 *    overflowing buffer does;
 *  - undo: a cut or timeout whose every retransmission proved spurious
 *    (DSACK) gets its prior window back.
 *  - but a round that lost anything is also congestion when a queue shows:
 *    its lowest RTT exceeds the path's lowest by more than max(path's
 *    lowest, QUEUE_NS). A tail-drop queue fills (delay) before it drops;
 *    random loss leaves the RTT alone. The 15 % share alone let a bottleneck
 *    settle at ~15 % loss, which starves TCP sharing it. Not runs of
 *    consecutive losses: the relay's reordering makes runs of 20-50 holes
 *    (docs/udp.md).
 */
#ifndef KAOS_UDP_CC_H
#define KAOS_UDP_CC_H

#include <stdbool.h>
#include <stdint.h>

#include "udp_wire.h" /* KAOS_UDP_INTERNAL */

/*
 * 15 %: three times issue 17's 5 % random loss, far above its spread in a
 * round of 100+ datagrams (sigma 2.2 % at 100) and the spurious retransmits
 * reordering adds; a bottleneck overshot by 15 % a round is still cut.
 */
#define KAOS_UDP_CC_LOSS_PPM 150000u
#define KAOS_UDP_CC_LOSS_MIN 4u /* fewer losses in a round prove nothing */
/*
 * 45 ms of queueing over the path's lowest RTT: the relay of issue 17 jitters
 * 10 +- 5 ms each way and sends 10 % ahead, so its path's lowest RTT is
 * ~0.1 ms while ordinary rounds' lowest are 5-15 ms, and 30-50 ms when the
 * loaded vCPUs stall the relay or receiver. A 30 ms floor cut there on top
 * of the random loss and made 256 MiB take 328 s instead of ~100; 20 ms cut
 * 27-42 times in 5,000 messages (docs/udp.md). A queue shallower than that
 * is left to the share rule.
 */
#define KAOS_UDP_CC_QUEUE_NS 45000000u

struct kaos_udp_cc {
	uint32_t cwnd, ssthresh, cwnd_acc, cwnd_max;
	uint32_t round_end;		     /* the round ends when the ack passes this seq */
	uint32_t round_acked, round_lost;    /* datagrams this round */
	uint32_t loss_ppm;		     /* lost share of the rounds, smoothed */
	uint32_t round_ref;		     /* a recent full round's datagrams (decaying max) */
	bool cut_last;			     /* the last round ended in a cut */
	uint64_t min_rtt_ns, round_rtt_ns;   /* lowest RTT: of the path, of this round (0 none) */
	uint32_t prior_cwnd, prior_ssthresh; /* before the episode, for undo */
	uint64_t cuts;			     /* rounds read as congestion */
};

KAOS_UDP_INTERNAL void kaos_udp_cc_init(struct kaos_udp_cc *cc, uint32_t cwnd, uint32_t cwnd_max,
					uint32_t seq);
/* The cumulative ack moved over n datagrams: grow. */
KAOS_UDP_INTERNAL void kaos_udp_cc_acked(struct kaos_udp_cc *cc, uint32_t n);
/* n datagrams reached the peer (SACKed, or acked without a SACK before): the round's share. */
KAOS_UDP_INTERNAL void kaos_udp_cc_delivered(struct kaos_udp_cc *cc, uint32_t n);
/* A datagram was found lost (resent). */
KAOS_UDP_INTERNAL void kaos_udp_cc_lost(struct kaos_udp_cc *cc);
/* An RTT sample (of a datagram sent once). */
KAOS_UDP_INTERNAL void kaos_udp_cc_rtt(struct kaos_udp_cc *cc, uint64_t rtt_ns);
/* The peer reported a resent datagram as a duplicate (DSACK): one loss fewer. */
KAOS_UDP_INTERNAL void kaos_udp_cc_spurious(struct kaos_udp_cc *cc);
/* The ack reached ack, snd_sent was sent so far: ends the round if due. Returns whether it cut. */
KAOS_UDP_INTERNAL bool kaos_udp_cc_ack_seq(struct kaos_udp_cc *cc, uint32_t ack, uint32_t snd_sent);
/* A loss episode begins: remember the window for undo. */
KAOS_UDP_INTERNAL void kaos_udp_cc_episode(struct kaos_udp_cc *cc);
/* The RTO fired (repeated: it already fired without progress since). */
KAOS_UDP_INTERNAL void kaos_udp_cc_timeout(struct kaos_udp_cc *cc, bool repeated);
/* Every retransmission of the episode was spurious: back to the window before it. */
KAOS_UDP_INTERNAL void kaos_udp_cc_undo(struct kaos_udp_cc *cc);

#endif /* KAOS_UDP_CC_H */
