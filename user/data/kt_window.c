// SPDX-License-Identifier: MIT
#include "kt_window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NSNAP	 (KT_WIN_SLOTS + 1)
#define NBUCKETS 256

/* A histogram's non-empty buckets. */
struct sparse {
	uint32_t n, cap;
	uint16_t *idx;
	uint64_t *cnt;
	uint64_t count, min, max;
	unsigned __int128 sum;
};

struct snap {
	uint64_t counts[KT_WIN_C_NR];
	struct sparse h[KT_WIN_H_NR];
};

struct series {
	uint32_t pid, exec_gen, ring_id; /* a ring of one process image (kt_ring_agg) */
	struct snap *ring[KT_WIN_MAX];	 /* NSNAP snapshots per window, lazily allocated */
	uint64_t first_gen[KT_WIN_MAX];
	bool has[KT_WIN_MAX];
	struct series *next;
};

struct window {
	uint64_t len, slot;
	uint64_t start;	   /* when the window was created */
	uint64_t next_due; /* next snapshot time */
	uint64_t gen;	   /* snapshots taken so far */
	uint64_t t[NSNAP];
	uint64_t g[NSNAP][KT_WIN_G_NR];
};

struct kt_windows {
	uint64_t t0;
	struct window win[KT_WIN_MAX];
	int nwin;
	struct series *hash[NBUCKETS];
};

static unsigned int hash_of(const struct kt_ring_agg *r)
{
	return (r->pid * 2654435761u ^ r->ring_id * 40503u ^ r->exec_gen * 97u) % NBUCKETS;
}

static void sparse_free(struct sparse *s)
{
	free(s->idx);
	free(s->cnt);
	memset(s, 0, sizeof(*s));
}

static void snaps_free(struct snap *ring)
{
	if (!ring)
		return;
	for (int i = 0; i < NSNAP; i++)
		for (int h = 0; h < KT_WIN_H_NR; h++)
			sparse_free(&ring[i].h[h]);
	free(ring);
}

static void series_free(struct series *s)
{
	for (int w = 0; w < KT_WIN_MAX; w++)
		snaps_free(s->ring[w]);
	free(s);
}

struct kt_windows *kt_windows_new(uint64_t now_ns)
{
	struct kt_windows *w = calloc(1, sizeof(*w));

	if (w)
		w->t0 = now_ns;
	return w;
}

void kt_windows_free(struct kt_windows *w)
{
	if (!w)
		return;
	for (int b = 0; b < NBUCKETS; b++) {
		struct series *s = w->hash[b], *n;

		for (; s; s = n) {
			n = s->next;
			series_free(s);
		}
	}
	free(w);
}

int kt_windows_count(const struct kt_windows *w)
{
	return w->nwin;
}

uint64_t kt_windows_len(const struct kt_windows *w, int idx)
{
	return idx >= 0 && idx < w->nwin ? w->win[idx].len : 0;
}

int kt_windows_find(const struct kt_windows *w, uint64_t len_ns)
{
	for (int i = 0; i < w->nwin; i++)
		if (w->win[i].len == len_ns)
			return i;
	return -1;
}

int kt_windows_set(struct kt_windows *w, const uint64_t *len_ns, int n)
{
	struct window nw[KT_WIN_MAX];
	int from[KT_WIN_MAX], nn = 0;

	for (int i = 0; i < n; i++) {
		bool dup = false;

		if (len_ns[i] < 1000000ull * KT_WIN_SLOTS)
			return -EINVAL;
		for (int j = 0; j < nn; j++)
			dup |= nw[j].len == len_ns[i];
		if (dup)
			continue;
		if (nn == KT_WIN_MAX)
			return -EINVAL;
		int old = kt_windows_find(w, len_ns[i]);

		from[nn] = old;
		if (old >= 0) {
			nw[nn] = w->win[old];
		} else {
			memset(&nw[nn], 0, sizeof(nw[nn]));
			nw[nn].len = len_ns[i];
			nw[nn].slot = len_ns[i] / KT_WIN_SLOTS;
			nw[nn].start = 0; /* set at the first tick */
		}
		nn++;
	}
	/* move every series' snapshots along with their windows */
	for (int b = 0; b < NBUCKETS; b++) {
		for (struct series *s = w->hash[b]; s; s = s->next) {
			struct snap *ring[KT_WIN_MAX] = {0};
			uint64_t first[KT_WIN_MAX] = {0};
			bool has[KT_WIN_MAX] = {0};

			for (int j = 0; j < nn; j++) {
				if (from[j] < 0)
					continue;
				ring[j] = s->ring[from[j]];
				first[j] = s->first_gen[from[j]];
				has[j] = s->has[from[j]];
				s->ring[from[j]] = NULL;
			}
			for (int i = 0; i < KT_WIN_MAX; i++)
				snaps_free(s->ring[i]);
			memcpy(s->ring, ring, sizeof(ring));
			memcpy(s->first_gen, first, sizeof(first));
			memcpy(s->has, has, sizeof(has));
		}
	}
	memcpy(w->win, nw, sizeof(nw[0]) * (size_t)nn);
	w->nwin = nn;
	return 0;
}

static struct series *series_find(const struct kt_windows *w, const struct kt_ring_agg *r)
{
	for (struct series *s = w->hash[hash_of(r)]; s; s = s->next)
		if (s->pid == r->pid && s->exec_gen == r->exec_gen && s->ring_id == r->ring_id)
			return s;
	return NULL;
}

static struct series *series_get(struct kt_windows *w, const struct kt_ring_agg *r)
{
	struct series *s = series_find(w, r);
	unsigned int b = hash_of(r);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pid = r->pid;
	s->exec_gen = r->exec_gen;
	s->ring_id = r->ring_id;
	s->next = w->hash[b];
	w->hash[b] = s;
	return s;
}

/* Forgets pid's series: every image (all) or image gen only. */
static void forget(struct kt_windows *w, uint32_t pid, bool all, uint32_t gen)
{
	for (int b = 0; b < NBUCKETS; b++) {
		struct series **pp = &w->hash[b];

		while (*pp) {
			struct series *s = *pp;

			if (s->pid == pid && (all || s->exec_gen == gen)) {
				*pp = s->next;
				series_free(s);
			} else {
				pp = &s->next;
			}
		}
	}
}

void kt_windows_forget_pid(struct kt_windows *w, uint32_t pid)
{
	forget(w, pid, true, 0);
}

void kt_windows_forget_image(struct kt_windows *w, uint32_t pid, uint32_t exec_gen)
{
	forget(w, pid, false, exec_gen);
}

void kt_windows_forget_ring(struct kt_windows *w, uint32_t pid, uint32_t exec_gen, uint32_t ring_id)
{
	struct kt_ring_agg key = {.pid = pid, .exec_gen = exec_gen, .ring_id = ring_id};

	for (struct series **pp = &w->hash[hash_of(&key)]; *pp; pp = &(*pp)->next) {
		struct series *s = *pp;

		if (s->pid == pid && s->exec_gen == exec_gen && s->ring_id == ring_id) {
			*pp = s->next;
			series_free(s);
			return;
		}
	}
}

/* ---------------------------------------------------------------- sources */

const struct kt_hist *kt_win_ring_cum_hist(const struct kt_ring_agg *r, enum kt_win_hist which)
{
	switch (which) {
	case KT_WIN_H_SEND:
		return r->s[KT_EV_SEND].dur;
	case KT_WIN_H_RECV:
		return r->s[KT_EV_RECV].dur;
	case KT_WIN_H_SOJOURN:
		return r->s[KT_EV_RECV].soj;
	case KT_WIN_H_BACKPRESSURE:
		return r->s[KT_EV_BACKPRESSURE].dur;
	default:
		return NULL;
	}
}

uint64_t kt_win_ring_cum_count(const struct kt_ring_agg *r, enum kt_win_count which)
{
	static const int type[KT_WIN_C_NR] = {KT_EV_SEND, KT_EV_RECV, KT_EV_BACKPRESSURE,
					      KT_EV_RETRANSMIT};

	if ((unsigned int)which >= KT_WIN_C_NR)
		return 0;
	return kt_series_count(&r->s[type[which]]);
}

/* ---------------------------------------------------------------- snapshots */

static int sparse_take(struct sparse *sp, const struct kt_hist *h)
{
	uint32_t n = 0, k = 0;

	sp->n = 0;
	sp->count = 0;
	sp->sum = 0;
	sp->min = UINT64_MAX;
	sp->max = 0;
	if (!h || !h->count)
		return 0;
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++)
		n += h->counts[i] != 0;
	if (n > sp->cap) {
		uint16_t *idx = realloc(sp->idx, n * sizeof(*idx));

		if (!idx)
			return -ENOMEM;
		sp->idx = idx;
		uint64_t *cnt = realloc(sp->cnt, n * sizeof(*cnt));

		if (!cnt)
			return -ENOMEM;
		sp->cnt = cnt;
		sp->cap = n;
	}
	for (size_t i = 0; i <= KT_HIST_OVERFLOW; i++) {
		if (!h->counts[i])
			continue;
		sp->idx[k] = (uint16_t)i;
		sp->cnt[k] = h->counts[i];
		k++;
	}
	sp->n = n;
	sp->count = h->count;
	sp->sum = h->sum;
	sp->min = h->min;
	sp->max = h->max;
	return 0;
}

static void sparse_expand(const struct sparse *sp, struct kt_hist *h)
{
	kt_hist_init(h);
	if (!sp->count)
		return;
	for (uint32_t k = 0; k < sp->n; k++)
		h->counts[sp->idx[k]] = sp->cnt[k];
	h->count = sp->count;
	h->sum = sp->sum;
	h->min = sp->min;
	h->max = sp->max;
}

static void snap_take(struct snap *sn, const struct kt_ring_agg *r)
{
	for (int c = 0; c < KT_WIN_C_NR; c++)
		sn->counts[c] = kt_win_ring_cum_count(r, (enum kt_win_count)c);
	for (int h = 0; h < KT_WIN_H_NR; h++)
		if (sparse_take(&sn->h[h], kt_win_ring_cum_hist(r, (enum kt_win_hist)h)))
			sn->h[h].count = 0, sn->h[h].n = 0; /* out of memory: an empty base */
}

void kt_windows_tick(struct kt_windows *w, const struct kt_agg *a,
		     const uint64_t global[KT_WIN_G_NR], uint64_t now)
{
	for (int i = 0; i < w->nwin; i++) {
		struct window *win = &w->win[i];

		if (!win->start) {
			win->start = now;
			win->next_due = now;
		}
		if (now < win->next_due)
			continue;
		uint64_t g = win->gen;
		int idx = (int)(g % NSNAP);

		win->t[idx] = now;
		memcpy(win->g[idx], global, sizeof(win->g[idx]));
		for (const struct kt_ring_agg *r = a->rings; r; r = r->next) {
			struct series *s = series_get(w, r);

			if (!s)
				continue;
			if (!s->ring[i]) {
				s->ring[i] = calloc(NSNAP, sizeof(struct snap));
				if (!s->ring[i])
					continue;
			}
			if (!s->has[i]) {
				s->has[i] = true;
				s->first_gen[i] = g;
			}
			snap_take(&s->ring[i][idx], r);
		}
		win->gen++;
		/* a late tick starts the next slot from now rather than catching up */
		win->next_due += win->slot;
		if (win->next_due <= now)
			win->next_due = now + win->slot;
	}
}

/* ---------------------------------------------------------------- queries */

/* The oldest snapshot's generation of window win, false if none yet. */
static bool oldest_gen(const struct window *win, uint64_t *g0)
{
	uint64_t n = win->gen < NSNAP ? win->gen : NSNAP;

	if (!n)
		return false;
	*g0 = win->gen - n;
	return true;
}

/* The snapshot of s that window win subtracts, NULL: subtract nothing. */
static const struct snap *base_snap(const struct kt_windows *w, int win,
				    const struct kt_ring_agg *r)
{
	const struct window *wd;
	struct series *s;
	uint64_t g0;

	if (win < 0 || win >= w->nwin)
		return NULL;
	wd = &w->win[win];
	if (!oldest_gen(wd, &g0))
		return NULL;
	s = series_find(w, r);
	if (!s || !s->has[win] || !s->ring[win] || s->first_gen[win] > g0)
		return NULL;
	return &s->ring[win][g0 % NSNAP];
}

double kt_windows_span_s(const struct kt_windows *w, int win, uint64_t now)
{
	uint64_t from = w->t0, g0;

	if (win >= 0 && win < w->nwin) {
		const struct window *wd = &w->win[win];

		if (oldest_gen(wd, &g0))
			from = wd->t[g0 % NSNAP];
		else if (wd->start)
			from = wd->start;
	}
	return now > from ? (double)(now - from) / 1e9 : 0;
}

void kt_windows_ring_hist(const struct kt_windows *w, int win, const struct kt_ring_agg *r,
			  enum kt_win_hist which, struct kt_hist *out)
{
	const struct kt_hist *cum = kt_win_ring_cum_hist(r, which);
	const struct snap *b;
	struct kt_hist base;

	if (!cum) {
		kt_hist_init(out);
		return;
	}
	kt_hist_copy(out, cum);
	b = base_snap(w, win, r);
	if (!b || !b->h[which].count)
		return;
	sparse_expand(&b->h[which], &base);
	if (kt_hist_subtract(out, &base))
		kt_hist_copy(out, cum); /* the series restarted: all of it is recent */
}

uint64_t kt_windows_ring_count(const struct kt_windows *w, int win, const struct kt_ring_agg *r,
			       enum kt_win_count which)
{
	uint64_t cum = kt_win_ring_cum_count(r, which);
	const struct snap *b = base_snap(w, win, r);

	if (!b || b->counts[which] > cum)
		return cum;
	return cum - b->counts[which];
}

uint64_t kt_windows_global(const struct kt_windows *w, int win, const uint64_t now[KT_WIN_G_NR],
			   enum kt_win_global which)
{
	uint64_t g0;

	if ((unsigned int)which >= KT_WIN_G_NR)
		return 0;
	if (win < 0 || win >= w->nwin || !oldest_gen(&w->win[win], &g0))
		return now[which];
	uint64_t base = w->win[win].g[g0 % NSNAP][which];

	return now[which] >= base ? now[which] - base : now[which];
}

uint64_t kt_windows_memory(const struct kt_windows *w)
{
	uint64_t bytes = sizeof(*w);

	for (int b = 0; b < NBUCKETS; b++)
		for (struct series *s = w->hash[b]; s; s = s->next) {
			bytes += sizeof(*s);
			for (int i = 0; i < KT_WIN_MAX; i++) {
				if (!s->ring[i])
					continue;
				bytes += NSNAP * sizeof(struct snap);
				for (int k = 0; k < NSNAP; k++)
					for (int h = 0; h < KT_WIN_H_NR; h++)
						bytes += s->ring[i][k].h[h].cap *
							 (sizeof(uint16_t) + sizeof(uint64_t));
			}
		}
	return bytes;
}
