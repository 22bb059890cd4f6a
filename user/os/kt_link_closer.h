/* SPDX-License-Identifier: MIT */
/*
 * kt_link_closer: destroys BPF links on a thread of its own.
 *
 * Why: closing a uprobe link waits for RCU tasks-trace grace periods (about
 * 70 ms a link on 6.18 here). --alloc holds up to 17 links per process, so
 * detaching a gone process on the event loop stalled it for over a second:
 * no events read, no new process attached meanwhile.
 *
 * A batch's links are destroyed one at a time in its order (a caller that
 * puts a process's entry probes before its return probes keeps that
 * order); batches go on up to 4 threads at once. A ticket says when a
 * batch and all before it are gone, so a caller can wait before attaching
 * the same probes again (two sets would count each call twice).
 */
#ifndef KT_LINK_CLOSER_H
#define KT_LINK_CLOSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpf_link;
struct kt_link_closer;

/* 0, or -errno (no thread: the caller destroys links itself). */
int kt_link_closer_open(struct kt_link_closer **out);

/* The same, destroying with destroy instead of bpf_link__destroy (tests). */
int kt_link_closer_open_with(struct kt_link_closer **out, void (*destroy)(struct bpf_link *));

/*
 * Queues links[0..n) and clears them; returns the batch's ticket. Waits
 * first while 512 links wait already (each holds an fd). With c
 * NULL, or no memory for the queue, destroys them here before returning
 * (after the ones queued before).
 */
uint64_t kt_link_closer_put(struct kt_link_closer *c, struct bpf_link **links, size_t n);

/* Whether the batch of ticket, and all before it, are destroyed (true with c NULL). */
bool kt_link_closer_done(struct kt_link_closer *c, uint64_t ticket);

/* Waits until kt_link_closer_done(c, ticket). */
void kt_link_closer_wait(struct kt_link_closer *c, uint64_t ticket);

/* Waits until every link queued so far is destroyed. */
void kt_link_closer_drain(struct kt_link_closer *c);

/* Destroys what is queued, stops the thread and frees c (NULL: nothing). */
void kt_link_closer_close(struct kt_link_closer *c);

#endif
