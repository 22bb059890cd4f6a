// SPDX-License-Identifier: MIT
/* Loss-rate-aware AIMD for the reliable UDP (core/udp_cc.h has the why). */
#include "udp_cc.h"

#define BETA_PCT 70u /* a congested round keeps 70 % of the window (CUBIC's beta) */
#define CWND_MIN 2u

static uint32_t scaled(uint32_t w)
{
	uint32_t v = (uint32_t)((uint64_t)w * BETA_PCT / 100);

	return v > CWND_MIN ? v : CWND_MIN;
}

/* Lost share of a round of acked + lost datagrams, in parts per million. */
static uint32_t share_ppm(uint32_t acked, uint32_t lost)
{
	return acked + lost ? (uint32_t)((uint64_t)lost * 1000000u / (acked + lost)) : 0;
}

void kaos_udp_cc_init(struct kaos_udp_cc *cc, uint32_t cwnd, uint32_t cwnd_max, uint32_t seq)
{
	*cc = (struct kaos_udp_cc){.cwnd = cwnd,
				   .ssthresh = cwnd_max,
				   .cwnd_max = cwnd_max,
				   .round_end = seq,
				   .prior_cwnd = cwnd,
				   .prior_ssthresh = cwnd_max};
}

void kaos_udp_cc_acked(struct kaos_udp_cc *cc, uint32_t n)
{
	while (n--) {
		if (cc->cwnd < cc->ssthresh)
			cc->cwnd++;
		else if (++cc->cwnd_acc >= cc->cwnd) {
			cc->cwnd++;
			cc->cwnd_acc = 0;
		}
	}
	if (cc->cwnd > cc->cwnd_max)
		cc->cwnd = cc->cwnd_max;
}

void kaos_udp_cc_delivered(struct kaos_udp_cc *cc, uint32_t n)
{
	cc->round_acked += n;
}

void kaos_udp_cc_lost(struct kaos_udp_cc *cc)
{
	cc->round_lost++;
}

void kaos_udp_cc_rtt(struct kaos_udp_cc *cc, uint64_t rtt_ns)
{
	if (!rtt_ns)
		rtt_ns = 1; /* 0 means none */
	if (!cc->min_rtt_ns || rtt_ns < cc->min_rtt_ns)
		cc->min_rtt_ns = rtt_ns;
	if (!cc->round_rtt_ns || rtt_ns < cc->round_rtt_ns)
		cc->round_rtt_ns = rtt_ns;
}

void kaos_udp_cc_spurious(struct kaos_udp_cc *cc)
{
	cc->round_lost -= cc->round_lost > 0;
}

/*
 * A queue shows: even the round's fastest datagram waited over QUEUE_NS (or
 * the path's lowest RTT, if larger: a long path's RTT varies more) more than
 * the path's fastest.
 */
static bool delayed(const struct kaos_udp_cc *cc)
{
	uint64_t floor =
		cc->min_rtt_ns > KAOS_UDP_CC_QUEUE_NS ? cc->min_rtt_ns : KAOS_UDP_CC_QUEUE_NS;

	return cc->min_rtt_ns && cc->round_rtt_ns && cc->round_rtt_ns - cc->min_rtt_ns > floor;
}

/*
 * Congested: a loss while a queue shows; the smoothed share above LOSS_PPM;
 * or, in slow start, one round losing twice that (the window doubles each
 * round: waiting for the average would overflow a queue for rounds more).
 * Never two rounds in a row.
 */
static bool congested(const struct kaos_udp_cc *cc, uint32_t round_ppm)
{
	if (cc->cut_last || !cc->round_lost)
		return false;
	if (delayed(cc))
		return true;
	if (cc->round_lost < KAOS_UDP_CC_LOSS_MIN)
		return false;
	return cc->loss_ppm > KAOS_UDP_CC_LOSS_PPM ||
	       (cc->cwnd < cc->ssthresh && round_ppm > 2 * KAOS_UDP_CC_LOSS_PPM);
}

/*
 * Smoothed (gain 1/4): one reordered datagram can make a round's worth of
 * spurious resends; the round after a cut still carries the flight from
 * before it. A round smaller than a recent one weighs in proportion: holes
 * of a large burst are found a round later, often in a small round (a
 * bursty sender's rounds were 36 acked and 33 lost under 5 % random loss,
 * which alone crossed LOSS_PPM).
 */
static void smooth_loss(struct kaos_udp_cc *cc, uint32_t round_ppm)
{
	uint64_t n = (uint64_t)cc->round_acked + cc->round_lost;
	uint64_t ref = cc->round_ref - cc->round_ref / 8;

	cc->round_ref = (uint32_t)(n > ref ? n : ref);
	if (!cc->round_ref)
		return;
	if (round_ppm >= cc->loss_ppm)
		cc->loss_ppm += (uint32_t)((round_ppm - cc->loss_ppm) * n / (4 * cc->round_ref));
	else
		cc->loss_ppm -= (uint32_t)((cc->loss_ppm - round_ppm) * n / (4 * cc->round_ref));
}

bool kaos_udp_cc_ack_seq(struct kaos_udp_cc *cc, uint32_t ack, uint32_t snd_sent)
{
	uint32_t round_ppm = share_ppm(cc->round_acked, cc->round_lost);
	bool cut;

	if (ack - cc->round_end >= 0x80000000u || ack == cc->round_end)
		return false;
	smooth_loss(cc, round_ppm);
	cut = congested(cc, round_ppm);
	cc->cut_last = cut;
	if (cut) { /* from what the path took in the round, if under the window */
		uint32_t took = cc->round_acked > CWND_MIN ? cc->round_acked : CWND_MIN;

		cc->cwnd = cc->ssthresh = scaled(took < cc->cwnd ? took : cc->cwnd);
		cc->cwnd_acc = 0;
		cc->cuts++;
	}
	cc->round_end = snd_sent;
	cc->round_acked = cc->round_lost = 0;
	cc->round_rtt_ns = 0;
	return cut;
}

void kaos_udp_cc_episode(struct kaos_udp_cc *cc)
{
	cc->prior_cwnd = cc->cwnd;
	cc->prior_ssthresh = cc->ssthresh;
}

/*
 * Random loss seldom takes a whole flight's tail and the probe sent for it:
 * a timeout is read as congestion (an overflowing buffer loses whole bursts),
 * but mildly (0.7, not Reno's half) and undone when it proves spurious.
 */
void kaos_udp_cc_timeout(struct kaos_udp_cc *cc, bool repeated)
{
	bool hot = cc->loss_ppm > KAOS_UDP_CC_LOSS_PPM ||
		   share_ppm(cc->round_acked, cc->round_lost) > KAOS_UDP_CC_LOSS_PPM;

	if (repeated) /* no answer since the last timeout: back off further */
		cc->ssthresh = cc->ssthresh / 2 > CWND_MIN ? cc->ssthresh / 2 : CWND_MIN;
	else if (hot) /* after heavy loss: as Reno */
		cc->ssthresh = cc->prior_cwnd / 2 > CWND_MIN ? cc->prior_cwnd / 2 : CWND_MIN;
	else
		cc->ssthresh = scaled(cc->prior_cwnd);
	cc->cuts++;
	cc->cwnd = 1;
	cc->cwnd_acc = 0;
}

void kaos_udp_cc_undo(struct kaos_udp_cc *cc)
{
	if (cc->cwnd < cc->prior_cwnd)
		cc->cwnd = cc->prior_cwnd;
	if (cc->ssthresh < cc->prior_ssthresh)
		cc->ssthresh = cc->prior_ssthresh;
}
