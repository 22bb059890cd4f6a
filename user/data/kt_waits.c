/* SPDX-License-Identifier: MIT */
/* Backpressure waits inside sends, counted once (kt_waits.h). */
#include "kt_waits.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * The waits one send can own: a batch send waits at most once per message,
 * and the oldest waits of a full list are those of unsampled sends.
 */
#define WAITS_KEPT 16
/*
 * Threads with pending waits. An entry lives from a thread's wait to its
 * next event; one whose thread exits right after an unsampled wait would
 * stay: past this many the table starts afresh, so a long-running daemon
 * over churning threads stays bounded (~2 MiB). Dropped waits only leave
 * their sends (if sampled later) their whole duration.
 */
#define THREADS_MAX 4096

/* The waits of one thread since its previous other event, oldest first (circular). */
struct pending {
	uint32_t pid, tid; /* tid 0: free slot */
	uint32_t ring_id;
	uint32_t n, head;
	struct {
		uint64_t pos, ns;
	} waits[WAITS_KEPT];
};

/* Open addressing by (pid, tid), linear probing, at most half full. */
struct kt_waits {
	struct pending *slots;
	size_t cap, n;
};

struct kt_waits *kt_waits_new(void)
{
	return calloc(1, sizeof(struct kt_waits));
}

void kt_waits_free(struct kt_waits *w)
{
	if (!w)
		return;
	free(w->slots);
	free(w);
}

static size_t slot_of(uint32_t pid, uint32_t tid, size_t cap)
{
	uint64_t h = ((uint64_t)pid << 32 | tid) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (cap - 1);
}

static int grow(struct kt_waits *w)
{
	size_t cap = w->cap ? w->cap * 2 : 64;
	struct pending *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < w->cap; i++) {
		const struct pending *p = &w->slots[i];
		size_t j;

		if (!p->tid)
			continue;
		for (j = slot_of(p->pid, p->tid, cap); slots[j].tid; j = (j + 1) & (cap - 1))
			;
		slots[j] = *p;
	}
	free(w->slots);
	w->slots = slots;
	w->cap = cap;
	return 0;
}

/* Index of the thread's entry, or of the free slot that ends its probe run. */
static size_t probe(const struct kt_waits *w, uint32_t pid, uint32_t tid)
{
	size_t i = slot_of(pid, tid, w->cap);

	while (w->slots[i].tid && (w->slots[i].pid != pid || w->slots[i].tid != tid))
		i = (i + 1) & (w->cap - 1);
	return i;
}

/* Removes slot i, shifting back the entries of its probe run (no tombstones). */
static void erase(struct kt_waits *w, size_t i)
{
	size_t mask = w->cap - 1;

	for (size_t j = (i + 1) & mask; w->slots[j].tid; j = (j + 1) & mask) {
		size_t home = slot_of(w->slots[j].pid, w->slots[j].tid, w->cap);

		/* j may fill the hole at i unless its home lies cyclically in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			w->slots[i] = w->slots[j];
			i = j;
		}
	}
	w->slots[i].tid = 0;
	w->slots[i].n = 0;
	w->n--;
}

/* The thread's entry, created if absent; NULL on allocation failure. */
static struct pending *find_or_add(struct kt_waits *w, uint32_t pid, uint32_t tid)
{
	size_t i;

	if (w->n >= THREADS_MAX) {
		memset(w->slots, 0, w->cap * sizeof(w->slots[0]));
		w->n = 0;
	}
	if ((w->n + 1) * 2 > w->cap && grow(w))
		return NULL;
	i = probe(w, pid, tid);
	if (!w->slots[i].tid) {
		w->slots[i] = (struct pending){.pid = pid, .tid = tid};
		w->n++;
	}
	return &w->slots[i];
}

static void note_wait(struct kt_waits *w, const struct kt_event *e)
{
	struct pending *p = e->tid ? find_or_add(w, e->pid, e->tid) : NULL;

	if (!p)
		return;
	if (p->ring_id != e->ring_id)
		p->n = 0;
	p->ring_id = e->ring_id;
	if (p->n == WAITS_KEPT) {
		p->head = (p->head + 1) % WAITS_KEPT;
		p->n--;
	}
	p->waits[(p->head + p->n) % WAITS_KEPT].pos = e->extra;
	p->waits[(p->head + p->n) % WAITS_KEPT].ns = e->dur_ns;
	p->n++;
}

/* The waits a send owns among its thread's pending ones (0 if none). */
static uint64_t send_wait(const struct pending *p, const struct kt_event *e)
{
	uint64_t wait = 0;

	if (e->type != KT_EV_SEND || p->ring_id != e->ring_id || e->n > e->count)
		return 0;
	for (uint32_t i = 0; i < p->n; i++) {
		uint64_t pos = p->waits[(p->head + i) % WAITS_KEPT].pos;

		if (pos >= e->count - e->n && pos < e->count)
			wait += p->waits[(p->head + i) % WAITS_KEPT].ns;
	}
	/* longer than the send: not inside its clock (multi-producer rings) */
	return wait > e->dur_ns ? 0 : wait;
}

/* The waits this event owns, and the thread's pending waits dropped. */
static uint64_t owned_wait(struct kt_waits *w, const struct kt_event *e)
{
	uint64_t wait;
	size_t i;

	if (!w->n)
		return 0;
	i = probe(w, e->pid, e->tid);
	if (!w->slots[i].tid)
		return 0;
	wait = send_wait(&w->slots[i], e);
	erase(w, i);
	return wait;
}

static void forget_pid(struct kt_waits *w, uint32_t pid)
{
	for (size_t i = 0; i < w->cap;) {
		if (w->slots[i].tid && w->slots[i].pid == pid)
			erase(w, i); /* may shift another entry into i: look again */
		else
			i++;
	}
}

uint64_t kt_waits_weight(struct kt_waits *w, const struct kt_event *e)
{
	if (!w || !e)
		return e ? e->dur_ns : 0;
	switch (e->type) {
	case KT_EV_BACKPRESSURE:
		note_wait(w, e);
		return e->dur_ns;
	case KT_EV_EXEC:
		forget_pid(w, e->pid);
		return 0;
	case KT_EV_FUNC: /* another collector's: may return between a wait and its send */
		return e->dur_ns;
	default:
		return e->dur_ns - owned_wait(w, e);
	}
}
