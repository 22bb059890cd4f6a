// SPDX-License-Identifier: MIT
#include "kt_link_closer.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kt_array.h"

/*
 * At most this many links wait: each holds an fd, and a tracer that runs
 * out of them fails worse than one that waits here (as it did before).
 */
#define KT_LINK_CLOSER_MAX_QUEUED 512
/*
 * Batches go on this many threads at once: concurrent detaches share
 * grace periods (6 gone processes' links took 3.1 s on 8 threads, 6.5 s
 * on one, here).
 */
#define KT_LINK_CLOSER_THREADS 4

struct closer_batch {
	uint64_t seq;
	struct bpf_link **links; /* destroyed in this order */
	size_t n;
};

struct kt_link_closer {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a batch queued, or stop */
	pthread_cond_t gone; /* a batch destroyed */
	pthread_t threads[KT_LINK_CLOSER_THREADS];
	int nthreads;
	void (*destroy)(struct bpf_link *);
	struct closer_batch *q; /* q[head..n) wait, oldest first */
	size_t head, n, cap;
	uint64_t busy[KT_LINK_CLOSER_THREADS]; /* seq of each thread's batch, 0: none */
	uint64_t next_seq;		       /* the next batch's (from 1) */
	size_t links_waiting;		       /* queued or being destroyed */
	bool stop;
};

/* The lowest seq not destroyed yet (next_seq when all are). */
static uint64_t lowest_pending(const struct kt_link_closer *c)
{
	uint64_t low = c->head < c->n ? c->q[c->head].seq : c->next_seq;

	for (int i = 0; i < c->nthreads; i++)
		if (c->busy[i] && c->busy[i] < low)
			low = c->busy[i];
	return low;
}

/* Thread i's next batch: false once stopped with nothing queued. */
static bool next_batch(struct kt_link_closer *c, int i, struct closer_batch *b)
{
	pthread_mutex_lock(&c->lock);
	while (c->head == c->n && !c->stop)
		pthread_cond_wait(&c->work, &c->lock);
	if (c->head == c->n) {
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	*b = c->q[c->head++];
	if (c->head == c->n)
		c->head = c->n = 0;
	c->busy[i] = b->seq;
	pthread_mutex_unlock(&c->lock);
	return true;
}

struct closer_thread {
	struct kt_link_closer *c;
	int i;
};

static void *closer_main(void *arg)
{
	struct kt_link_closer *c = ((struct closer_thread *)arg)->c;
	int i = ((struct closer_thread *)arg)->i;
	struct closer_batch b;

	free(arg);
	while (next_batch(c, i, &b)) {
		for (size_t k = 0; k < b.n; k++)
			c->destroy(b.links[k]);
		free(b.links);
		pthread_mutex_lock(&c->lock);
		c->busy[i] = 0;
		c->links_waiting -= b.n;
		pthread_cond_broadcast(&c->gone);
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

static void destroy_link(struct bpf_link *l)
{
	bpf_link__destroy(l);
}

int kt_link_closer_open(struct kt_link_closer **out)
{
	return kt_link_closer_open_with(out, destroy_link);
}

/* A thread with every signal blocked: SIGINT and the like stay the event loop's. */
static int start_thread(struct kt_link_closer *c)
{
	struct closer_thread *t = malloc(sizeof(*t));
	sigset_t all, old;
	int e;

	if (!t)
		return -ENOMEM;
	*t = (struct closer_thread){c, c->nthreads};
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&c->threads[c->nthreads], NULL, closer_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		free(t);
		return -e;
	}
	c->nthreads++;
	return 0;
}

int kt_link_closer_open_with(struct kt_link_closer **out, void (*destroy)(struct bpf_link *))
{
	struct kt_link_closer *c = calloc(1, sizeof(*c));
	int e = 0;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->destroy = destroy;
	c->next_seq = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->gone, NULL);
	while (c->nthreads < KT_LINK_CLOSER_THREADS && !(e = start_thread(c)))
		;
	if (!c->nthreads) { /* one thread is enough to work */
		kt_link_closer_close(c);
		return e;
	}
	*out = c;
	return 0;
}

static void destroy_here(void (*destroy)(struct bpf_link *), struct bpf_link **links, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		destroy(links[i]);
		links[i] = NULL;
	}
}

/* Queues b (c->lock held); -ENOMEM leaves everything as it was. */
static int enqueue(struct kt_link_closer *c, struct closer_batch *b)
{
	if (kt_array_reserve(c->q, c->cap, c->n + 1))
		return -ENOMEM;
	b->seq = c->next_seq++;
	c->q[c->n++] = *b;
	c->links_waiting += b->n;
	pthread_cond_signal(&c->work);
	return 0;
}

uint64_t kt_link_closer_put(struct kt_link_closer *c, struct bpf_link **links, size_t n)
{
	struct closer_batch b = {0};

	if (!c) {
		destroy_here(destroy_link, links, n);
		return 0;
	}
	if (!n)
		return 0;
	b.links = malloc(n * sizeof(*b.links));
	for (size_t i = 0; b.links && i < n; i++)
		if (links[i]) /* bpf_link__destroy(NULL) does nothing: not queued */
			b.links[b.n++] = links[i];
	if (b.links && !b.n) {
		free(b.links);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	while (c->links_waiting && c->links_waiting + b.n > KT_LINK_CLOSER_MAX_QUEUED)
		pthread_cond_wait(&c->gone, &c->lock);
	if (!b.links || enqueue(c, &b)) {
		/* no memory: here, after the ones queued before (the caller's order holds) */
		while (c->links_waiting)
			pthread_cond_wait(&c->gone, &c->lock);
		pthread_mutex_unlock(&c->lock);
		free(b.links);
		destroy_here(c->destroy, links, n);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	memset(links, 0, n * sizeof(*links));
	return b.seq;
}

bool kt_link_closer_done(struct kt_link_closer *c, uint64_t ticket)
{
	bool done;

	if (!c || !ticket)
		return true;
	pthread_mutex_lock(&c->lock);
	done = ticket < lowest_pending(c);
	pthread_mutex_unlock(&c->lock);
	return done;
}

void kt_link_closer_wait(struct kt_link_closer *c, uint64_t ticket)
{
	if (!c || !ticket)
		return;
	pthread_mutex_lock(&c->lock);
	while (ticket >= lowest_pending(c))
		pthread_cond_wait(&c->gone, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void kt_link_closer_drain(struct kt_link_closer *c)
{
	if (c)
		kt_link_closer_wait(
			c, c->next_seq - 1); /* next_seq: only the caller's thread writes it */
}

void kt_link_closer_close(struct kt_link_closer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL); /* they empty the queue before they stop */
	pthread_cond_destroy(&c->gone);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c->q);
	free(c);
}
