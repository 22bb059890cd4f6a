/* SPDX-License-Identifier: MIT */
/*
 * Latency weights that count each backpressure wait once (--weight latency).
 *
 * A send that finds no room on a single-producer ring (SPSC, SPMC) waits
 * inside its own clock: its send event's dur_ns includes the wait, and the
 * wait also comes as a backpressure event (dur_ns = the wait). Weighted by
 * duration, the [send] tower would carry every wait a second time.
 * kt_waits_weight() gives a send its own time, dur_ns less the waits inside
 * it, so that the [send] and [backpressure] towers add up to the real time.
 *
 * Matching, per thread. A backpressure event's extra is the producer
 * position when the wait ended: the position of the message that waited.
 * The send event of that thread and ring whose positions
 * [count - n, count) hold those positions owns the waits. Nothing else
 * fires on a thread between a send's waits and the send (but --func
 * returns, which are left alone), so each thread keeps only the waits since
 * its previous other event (the last 16: a longer list holds waits of
 * unsampled sends).
 *
 * Sampling (--sample, the budget): backpressure is never sampled, sends
 * are. A wait whose send was not sampled stays pending and is dropped at the
 * thread's next event: its position lies below that send's range (one
 * producer's positions only grow), so no sampled send loses another's wait
 * and the wait is still counted once, in its [backpressure] tower.
 *
 * Multi-producer rings (MPSC, MPMC) start a send's clock after its claim:
 * their waits are not inside the send. The shared cursor may still put the
 * position in range, so waits that exceed the send's duration are never
 * subtracted (a wait inside the send cannot be longer than it).
 */
#ifndef KT_WAITS_H
#define KT_WAITS_H

#include <stdint.h>

#include "kt_event.h"

struct kt_waits;

struct kt_waits *kt_waits_new(void);
void kt_waits_free(struct kt_waits *w);

/*
 * Feed every event, in ring-buffer order (also those without a stack):
 * returns its latency weight. A send: dur_ns less the waits it owns; any
 * other event: dur_ns. KT_EV_EXEC forgets the process's pending waits (its
 * new image restarts ring ids and positions). Out of memory, a wait is
 * not tracked: its send keeps its whole duration.
 */
uint64_t kt_waits_weight(struct kt_waits *w, const struct kt_event *e);

#endif /* KT_WAITS_H */
