/* SPDX-License-Identifier: MIT */
/*
 * The reliable UDP's congestion window (core/udp_cc.c), driven round by
 * round: random loss at issue 17's 5 % keeps the window; rounds losing more
 * than 15 % (smoothed; a bottleneck's tail drop) cut it to 0.7; so does any loss while
 * a queue shows (the round's lowest RTT far above the path's);
 * timeouts; undo.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../core/udp_cc.h"

/* One round of n datagrams from seq, lost of them lost (resent), then acked; the next
 * round ends at the next ack. */
static bool round_of(struct kaos_udp_cc *cc, uint32_t *seq, uint32_t n, uint32_t lost)
{
	for (uint32_t i = 0; i < lost; i++)
		kaos_udp_cc_lost(cc);
	kaos_udp_cc_delivered(cc, n);
	kaos_udp_cc_acked(cc, n);
	*seq += n;
	return kaos_udp_cc_ack_seq(cc, *seq, *seq);
}

static void random_loss_keeps_the_window(void **state)
{
	struct kaos_udp_cc cc;
	uint32_t seq = 0xfffffff0u; /* rounds across the wrap */

	(void)state;
	kaos_udp_cc_init(&cc, 4, 1024, seq);
	kaos_udp_cc_ack_seq(&cc, seq + 1, seq + 1); /* the first round: nothing in it */
	seq += 1;
	for (int r = 0; r < 40; r++) {
		uint32_t n = cc.cwnd;

		assert_false(round_of(&cc, &seq, n, n / 20)); /* 5 % */
	}
	assert_int_equal(cc.cwnd, 1024); /* slow start all the way: Reno would be near 6 */
	assert_int_equal(cc.cuts, 0);
	assert_true(cc.loss_ppm > 40000 && cc.loss_ppm < 60000);
	assert_false(round_of(&cc, &seq, 100, 3));    /* 3 of 100 in a small round: no proof */
	assert_false(round_of(&cc, &seq, 1000, 150)); /* 150 of 1150 = 13 %: still random */
}

static void heavy_loss_is_congestion(void **state)
{
	struct kaos_udp_cc cc;
	uint32_t seq = 100, w;

	(void)state;
	kaos_udp_cc_init(&cc, 200, 1024, seq);
	kaos_udp_cc_ack_seq(&cc, seq + 1, seq + 1);
	seq++;
	assert_true(round_of(&cc, &seq, 100, 50));  /* slow start: a third lost at once is a cut */
	assert_int_equal(cc.cwnd, 70);		    /* 0.7 of what the path took, 100 */
	assert_false(round_of(&cc, &seq, 100, 50)); /* never two rounds in a row */
	kaos_udp_cc_init(&cc, 200, 1024, seq);
	cc.ssthresh = 200; /* congestion avoidance */
	/* one round losing a third (one reordered datagram's spurious resends): smoothed, no cut */
	assert_false(round_of(&cc, &seq, 100, 50));
	assert_false(round_of(&cc, &seq, 100, 5));
	/* a tail-dropping queue: 30 % round after round; the second crosses 15 % smoothed */
	assert_false(round_of(&cc, &seq, 140, 60));
	assert_true(round_of(&cc, &seq, 140, 60));
	assert_int_equal(cc.cwnd, 140 * 7 / 10); /* 0.7 of what the path took (under cwnd) */
	assert_int_equal(cc.ssthresh, cc.cwnd);	 /* then additive */
	assert_int_equal(cc.cuts, 1);
	w = cc.cwnd;
	assert_false(round_of(&cc, &seq, 140, 60));  /* the round after a cut: the old flight */
	assert_int_equal(cc.cwnd, w + 1);	     /* 140 acked: one window, +1 */
	assert_true(round_of(&cc, &seq, 140, 60));   /* still congested: cut again */
	assert_int_equal(cc.cwnd, (w + 2) * 7 / 10); /* it grew by one more first */
	assert_false(kaos_udp_cc_ack_seq(&cc, seq, seq)); /* no new round: no second cut */
	assert_false(round_of(&cc, &seq, 10, 3));	  /* fewer than 4 losses prove nothing */
}

#define MS 1000000ull

/* A round of n datagrams from *seq whose fastest took rtt_ns; every step-th of them lost
 * (step 0: none), a run of run more lost at its start. Returns whether it cut. */
static bool round_rtt(struct kaos_udp_cc *cc, uint32_t *seq, uint32_t n, uint64_t rtt_ns,
		      uint32_t step, uint32_t run)
{
	uint32_t lost = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (i < run || (step && i % step == step - 1)) {
			kaos_udp_cc_lost(cc);
			lost++;
		} else
			kaos_udp_cc_rtt(cc, rtt_ns + i * 100000ull); /* the rest later */
	}
	kaos_udp_cc_delivered(cc, n - lost);
	kaos_udp_cc_acked(cc, n - lost);
	*seq += n;
	return kaos_udp_cc_ack_seq(cc, *seq, *seq);
}

/* Congestion avoidance at window w, one empty round at the path's lowest RTT min_ns. */
static uint32_t avoiding(struct kaos_udp_cc *cc, uint32_t w, uint64_t min_ns)
{
	uint32_t seq = 1000;

	kaos_udp_cc_init(cc, w, 1024, seq);
	cc->ssthresh = w;
	kaos_udp_cc_rtt(cc, min_ns);
	kaos_udp_cc_ack_seq(cc, seq + 1, seq + 1);
	return seq + 1;
}

/* A tail-drop queue: the round's fastest waited 50 ms over the path's 20: one loss in 30 cuts. */
static void queue_delay_with_little_loss_cuts(void **state)
{
	struct kaos_udp_cc cc;
	uint32_t seq = avoiding(&cc, 100, 20 * MS);

	(void)state;
	assert_false(round_rtt(&cc, &seq, 100, 60 * MS, 30, 0)); /* 60: under 20 + 45, no cut */
	assert_false(round_rtt(&cc, &seq, 100, 70 * MS, 0, 0));	 /* queued, nothing lost */
	assert_true(round_rtt(&cc, &seq, 100, 70 * MS, 30, 0));	 /* 3 % lost, queued: cut */
	assert_int_equal(cc.cwnd, 97 * 7 / 10);			 /* 0.7 of what arrived */
	assert_int_equal(cc.cuts, 1);
	assert_false(round_rtt(&cc, &seq, 100, 70 * MS, 30, 0)); /* never twice in a row */
	assert_true(round_rtt(&cc, &seq, 100, 70 * MS, 30, 0));
	/* a long path (100 ms): its own lowest RTT is the margin, not 45 ms */
	seq = avoiding(&cc, 100, 100 * MS);
	assert_false(round_rtt(&cc, &seq, 100, 190 * MS, 30, 0));
	assert_true(round_rtt(&cc, &seq, 100, 210 * MS, 30, 0));
}

/*
 * Issue 17's relay: 5 % independent loss, the path's lowest RTT 0.1 ms (a datagram and its
 * ack both sent ahead), ordinary rounds' lowest 5-40 ms: never a cut.
 */
static void random_loss_with_jitter_keeps_the_window(void **state)
{
	struct kaos_udp_cc cc;
	uint32_t seq = avoiding(&cc, 400, 100000);

	(void)state;
	for (int r = 0; r < 200; r++)
		assert_false(round_rtt(&cc, &seq, 400, (5 + r % 36) * MS, 20, 0));
	assert_int_equal(cc.cuts, 0);
	assert_true(cc.cwnd > 400);
	/* 20 holes in a row (a datagram sent ahead): RTT flat, no queue */
	assert_false(round_rtt(&cc, &seq, 400, 10 * MS, 20, 20));
	assert_true(round_rtt(&cc, &seq, 400, 50 * MS, 20, 0)); /* 50 ms over 0.1: a queue */
}

static void timeout_cuts_mildly_and_undoes(void **state)
{
	struct kaos_udp_cc cc;

	(void)state;
	kaos_udp_cc_init(&cc, 300, 1024, 0);
	kaos_udp_cc_episode(&cc);
	kaos_udp_cc_timeout(&cc, false);
	assert_int_equal(cc.cwnd, 1);
	assert_int_equal(cc.ssthresh, 210); /* slow start back to 0.7 */
	assert_int_equal(cc.cuts, 1);
	kaos_udp_cc_timeout(&cc, true); /* again without progress: back off */
	assert_int_equal(cc.ssthresh, 105);
	assert_int_equal(cc.cuts, 2);
	kaos_udp_cc_undo(&cc); /* the originals arrived after all */
	assert_int_equal(cc.cwnd, 300);
	assert_int_equal(cc.ssthresh, 1024);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_loss_keeps_the_window),
		cmocka_unit_test(heavy_loss_is_congestion),
		cmocka_unit_test(queue_delay_with_little_loss_cuts),
		cmocka_unit_test(random_loss_with_jitter_keeps_the_window),
		cmocka_unit_test(timeout_cuts_mildly_and_undoes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
