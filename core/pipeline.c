/* SPDX-License-Identifier: MIT */
/*
 * Pipelines (include/kaos/pipeline.h, docs/pipeline.md).
 *
 * Threads: one source, the workers of each stage, one sink. Ring k feeds
 * stage k (ring nstages feeds the sink); the free ring takes chunk indices
 * from the sink back to the source. Every ring is sized for the whole pool
 * plus the end markers, so a send never finds it full: the only waits are
 * for work (an empty ring), and the pool is what bounds memory.
 *
 * Idle threads sleep on a futex per ring (an eventcount: the sender makes
 * the wake system call only if someone announced it is waiting), so a pipeline of slow stages
 * does not spin away the cores its workers need.
 *
 * End of stream: the source sends one end marker per worker of stage 0.
 * A worker that takes one stops; the last worker of a stage to stop sends
 * one end marker per consumer of the next ring. All of a stage's chunks
 * are in the next ring before its end markers, so the sink has everything
 * once its marker arrives.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu.h"
#include "kaos/pipeline.h"
#include "kaos/ring.h"

#define END_INDEX    UINT32_MAX
#define SPIN_TRIES   200
#define FUTEX_NAP_NS 50000000L /* a sleeper re-checks at least this often */

/* The 16-byte descriptor the rings carry. */
struct desc {
	uint64_t seq;
	uint32_t index; /* END_INDEX: end of stream */
	uint32_t len;
};
_Static_assert(sizeof(struct desc) == 16, "descriptor is 16 bytes");

/* Eventcount: sleepers announce themselves in waiters, senders bump seq and wake. */
struct waitq {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
};

struct queue {
	struct kaos_ring *ring;
	struct waitq wq;
	char name[KAOS_RING_NAME_MAX];
};

struct chunk_slot {
	struct kaos_chunk c; /* first: kaos_chunk_error() casts back */
	char err[160];
};

struct kaos_pipeline;

struct worker {
	struct kaos_pipeline *p;
	pthread_t tid;
	bool started;
	int role; /* -1 source, 0..nstages-1 stage, nstages sink */
	uint32_t index;
};

struct stage {
	const char *name;
	kaos_chunk_fn fn;
	void *arg;
	uint32_t workers;
	_Atomic uint32_t finished;
	_Atomic uint32_t busy;
	_Atomic uint64_t done;
};

struct kaos_pipeline {
	size_t chunk_size;
	uint32_t nchunks;
	uint32_t nstages;
	struct stage stage[KAOS_PIPELINE_MAX_STAGES];
	const char *source_name, *sink_name;
	kaos_source_fn source;
	void *source_arg;
	kaos_chunk_fn sink;
	void *sink_arg;

	struct chunk_slot *slots;
	struct queue q[KAOS_PIPELINE_MAX_STAGES + 1]; /* q[k] feeds stage k; q[nstages] the sink */
	struct queue freeq;
	uint32_t *held; /* sink's reorder window: held[seq % nchunks] = index + 1 */

	struct worker *threads;
	uint32_t nthreads;
	bool started, joined;

	_Atomic int stop;
	pthread_mutex_t err_lock;
	struct kaos_pipeline_error err;

	_Atomic uint64_t chunks_in, bytes_in, chunks_out, bytes_out;
	_Atomic uint32_t held_count;
	_Atomic uint32_t running; /* threads not yet returned */
};

/* ------------------------------------------------------------------ waiting */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

/*
 * Sender side, after its ring send: bump seq, then wake if anyone sleeps.
 * All seq/waiters operations are seq_cst: either the sleeper's waiters++
 * comes first in that order (and we wake it), or our seq++ does (and the
 * sleeper's key load synchronises with it, so its re-check sees the message,
 * or its futex_wait finds seq changed).
 */
static void wq_wake(struct waitq *q, int n)
{
	atomic_fetch_add(&q->seq, 1);
	if (atomic_load(&q->waiters))
		futex(&q->seq, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL);
}

static void wq_wake_all(struct waitq *q)
{
	atomic_fetch_add(&q->seq, 1);
	futex(&q->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

static bool stopped(struct kaos_pipeline *p)
{
	return atomic_load_explicit(&p->stop, memory_order_acquire) != 0;
}

/* Takes one descriptor from q: 0, or -1 when the pipeline is stopping. */
static int take(struct kaos_pipeline *p, struct queue *q, struct desc *d)
{
	for (int tries = 0;; tries++) {
		if (kaos_ring_recv(q->ring, d) == 0)
			return 0;
		if (stopped(p))
			return -1;
		if (tries < SPIN_TRIES) {
			cpu_relax();
			continue;
		}
		atomic_fetch_add(&q->wq.waiters, 1);
		uint32_t key = atomic_load(&q->wq.seq);
		if (kaos_ring_recv(q->ring, d) == 0) {
			atomic_fetch_sub(&q->wq.waiters, 1);
			return 0;
		}
		if (!stopped(p)) {
			struct timespec nap = {0, FUTEX_NAP_NS};
			futex(&q->wq.seq, FUTEX_WAIT_PRIVATE, key, &nap);
		}
		atomic_fetch_sub(&q->wq.waiters, 1);
	}
}

/* Rings hold the whole pool plus the end markers, so this never waits in practice. */
static void put(struct queue *q, const struct desc *d)
{
	while (kaos_ring_send(q->ring, d) != 0)
		sched_yield();
	wq_wake(&q->wq, 1);
}

/* ------------------------------------------------------------------ errors */

void kaos_chunk_error(struct kaos_chunk *c, const char *fmt, ...)
{
	struct chunk_slot *s = (struct chunk_slot *)c;
	va_list ap;

	if (!c)
		return;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

static const char *role_name(struct kaos_pipeline *p, int role)
{
	if (role < 0)
		return p->source_name;
	if ((uint32_t)role >= p->nstages)
		return p->sink_name;
	return p->stage[role].name;
}

/* The first error wins; everything stops. */
static void fail(struct kaos_pipeline *p, int role, struct chunk_slot *s, int code)
{
	pthread_mutex_lock(&p->err_lock);
	if (!p->err.code) {
		p->err.code = code;
		p->err.stage = role;
		p->err.stage_name = role_name(p, role);
		p->err.seq = s ? s->c.seq : 0;
		snprintf(p->err.msg, sizeof(p->err.msg), "%s", s ? s->err : "");
	}
	pthread_mutex_unlock(&p->err_lock);
	atomic_store_explicit(&p->stop, 1, memory_order_release);
	for (uint32_t k = 0; k <= p->nstages; k++)
		wq_wake_all(&p->q[k].wq);
	wq_wake_all(&p->freeq.wq);
}

/* ------------------------------------------------------------------ threads */

static uint32_t consumers_of(struct kaos_pipeline *p, uint32_t k)
{
	return k < p->nstages ? p->stage[k].workers : 1;
}

static void send_ends(struct kaos_pipeline *p, uint32_t k)
{
	struct desc end = {.seq = 0, .index = END_INDEX, .len = 0};

	for (uint32_t i = 0; i < consumers_of(p, k); i++)
		put(&p->q[k], &end);
}

static void run_source(struct kaos_pipeline *p)
{
	struct desc d;
	uint64_t seq = 0;

	for (;;) {
		if (take(p, &p->freeq, &d))
			return;
		struct chunk_slot *s = &p->slots[d.index];
		struct kaos_chunk *c = &s->c;
		c->seq = seq;
		c->len = 0;
		c->worker = 0;
		memset(c->meta, 0, sizeof(c->meta));
		s->err[0] = 0;
		int rc = p->source(p->source_arg, c);
		if (rc < 0 || c->len > c->cap) {
			if (rc >= 0) {
				kaos_chunk_error(c, "length %zu exceeds the chunk size", c->len);
				rc = -KAOS_EINVAL;
			}
			fail(p, -1, s, rc);
			return;
		}
		if (rc == 0) {
			put(&p->freeq, &d); /* unused: the pool is whole again at the end */
			send_ends(p, 0);
			return;
		}
		atomic_fetch_add_explicit(&p->chunks_in, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&p->bytes_in, c->len, memory_order_relaxed);
		d.seq = seq++;
		d.len = (uint32_t)c->len;
		put(&p->q[0], &d);
	}
}

static void run_stage(struct kaos_pipeline *p, uint32_t k, uint32_t w)
{
	struct stage *st = &p->stage[k];
	struct desc d;

	for (;;) {
		if (take(p, &p->q[k], &d))
			return;
		if (d.index == END_INDEX) {
			/* acq_rel: the last one out sees every other worker's sends before its
			 * markers */
			if (atomic_fetch_add_explicit(&st->finished, 1, memory_order_acq_rel) + 1 ==
			    st->workers)
				send_ends(p, k + 1);
			return;
		}
		struct chunk_slot *s = &p->slots[d.index];
		s->c.worker = w;
		atomic_fetch_add_explicit(&st->busy, 1, memory_order_relaxed);
		int rc = st->fn(st->arg, &s->c);
		atomic_fetch_sub_explicit(&st->busy, 1, memory_order_relaxed);
		if (rc < 0 || s->c.len > s->c.cap) {
			if (rc >= 0) {
				kaos_chunk_error(&s->c, "length %zu exceeds the chunk size",
						 s->c.len);
				rc = -KAOS_EINVAL;
			}
			fail(p, (int)k, s, rc);
			return;
		}
		atomic_fetch_add_explicit(&st->done, 1, memory_order_relaxed);
		d.len = (uint32_t)s->c.len;
		put(&p->q[k + 1], &d);
	}
}

/* Consumes chunks in sequence order, then gives them back to the source. */
static void run_sink(struct kaos_pipeline *p)
{
	struct queue *in = &p->q[p->nstages];
	uint64_t next = 0;
	struct desc d;

	for (;;) {
		if (take(p, in, &d))
			return;
		if (d.index == END_INDEX) {
			if (atomic_load(&p->held_count) != 0)
				fail(p, (int)p->nstages, NULL,
				     -KAOS_ECORRUPT); /* a lost chunk: a bug */
			return;
		}
		/* at most nchunks are in flight, so seq % nchunks cannot collide */
		p->held[d.seq % p->nchunks] = d.index + 1;
		atomic_fetch_add_explicit(&p->held_count, 1, memory_order_relaxed);
		for (;;) {
			uint32_t *h = &p->held[next % p->nchunks];
			if (!*h)
				break;
			struct chunk_slot *s = &p->slots[*h - 1];
			if (s->c.seq != next)
				break;
			*h = 0;
			atomic_fetch_sub_explicit(&p->held_count, 1, memory_order_relaxed);
			s->c.worker = 0;
			int rc = p->sink(p->sink_arg, &s->c);
			if (rc < 0) {
				fail(p, (int)p->nstages, s, rc);
				return;
			}
			atomic_fetch_add_explicit(&p->chunks_out, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&p->bytes_out, s->c.len, memory_order_relaxed);
			struct desc back = {.seq = next, .index = s->c.index, .len = 0};
			next++;
			put(&p->freeq, &back);
		}
	}
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	struct kaos_pipeline *p = w->p;
	char tname[16];

	snprintf(tname, sizeof(tname), "kp-%.8s/%u", role_name(p, w->role), w->index);
	pthread_setname_np(pthread_self(), tname);
	if (w->role < 0)
		run_source(p);
	else if ((uint32_t)w->role < p->nstages)
		run_stage(p, (uint32_t)w->role, w->index);
	else
		run_sink(p);
	atomic_fetch_sub_explicit(&p->running, 1, memory_order_release);
	return NULL;
}

/* ------------------------------------------------------------------ set-up */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t v = 2;
	while (v < n)
		v <<= 1;
	return v;
}

static enum kaos_ring_kind kind_for(uint32_t producers, uint32_t consumers)
{
	if (producers > 1)
		return consumers > 1 ? KAOS_RING_MPMC : KAOS_RING_MPSC;
	return consumers > 1 ? KAOS_RING_SPMC : KAOS_RING_SPSC;
}

static int queue_init(struct queue *q, const char *owner, const char *suffix, uint32_t slots,
		      uint32_t producers, uint32_t consumers)
{
	snprintf(q->name, sizeof(q->name), "%.*s%s", (int)(sizeof(q->name) - 1 - strlen(suffix)),
		 owner, suffix);
	struct kaos_ring_config rc = {
		.kind = kind_for(producers, consumers),
		.slots = slots,
		.slot_size = sizeof(struct desc),
		.name = q->name,
		.wait = KAOS_WAIT_FAIL,
	};
	return kaos_ring_create(&rc, &q->ring);
}

/* Checks cfg; counts the stage workers in all and of the widest stage. */
static int check_config(const struct kaos_pipeline_config *cfg, uint32_t *total_workers,
			uint32_t *max_workers)
{
	*total_workers = 0;
	*max_workers = 1;
	if (!cfg || !cfg->source || !cfg->sink || cfg->nstages > KAOS_PIPELINE_MAX_STAGES ||
	    (cfg->nstages && !cfg->stages) || cfg->chunk_size == 0 ||
	    cfg->chunk_size > KAOS_PIPELINE_MAX_CHUNK || cfg->chunks > KAOS_PIPELINE_MAX_CHUNKS)
		return -KAOS_EINVAL;
	for (uint32_t k = 0; k < cfg->nstages; k++) {
		uint32_t w = cfg->stages[k].workers ? cfg->stages[k].workers : 1;
		if (!cfg->stages[k].fn || w > KAOS_PIPELINE_MAX_WORKERS)
			return -KAOS_EINVAL;
		*total_workers += w;
		if (w > *max_workers)
			*max_workers = w;
	}
	return 0;
}

static void copy_config(struct kaos_pipeline *p, const struct kaos_pipeline_config *cfg,
			uint32_t total_workers)
{
	p->chunk_size = cfg->chunk_size;
	p->nchunks = cfg->chunks ? cfg->chunks : 2 * total_workers + 2;
	if (p->nchunks > KAOS_PIPELINE_MAX_CHUNKS)
		p->nchunks = KAOS_PIPELINE_MAX_CHUNKS;
	p->nstages = cfg->nstages;
	p->source_name = cfg->source_name ? cfg->source_name : "source";
	p->sink_name = cfg->sink_name ? cfg->sink_name : "sink";
	p->source = cfg->source;
	p->source_arg = cfg->source_arg;
	p->sink = cfg->sink;
	p->sink_arg = cfg->sink_arg;
	for (uint32_t k = 0; k < cfg->nstages; k++) {
		const struct kaos_stage_def *sd = &cfg->stages[k];
		p->stage[k].name = sd->name ? sd->name : "stage";
		p->stage[k].fn = sd->fn;
		p->stage[k].arg = sd->arg;
		p->stage[k].workers = sd->workers ? sd->workers : 1;
	}
	p->err.stage_name = "";
}

static int alloc_chunks(struct kaos_pipeline *p)
{
	p->slots = calloc(p->nchunks, sizeof(*p->slots));
	p->held = calloc(p->nchunks, sizeof(*p->held));
	if (!p->slots || !p->held)
		return -KAOS_ENOMEM;
	for (uint32_t i = 0; i < p->nchunks; i++) {
		struct kaos_chunk *c = &p->slots[i].c;
		c->index = i;
		c->cap = p->chunk_size;
		c->data = malloc(p->chunk_size);
		c->scratch = malloc(p->chunk_size);
		if (!c->data || !c->scratch)
			return -KAOS_ENOMEM;
	}
	return 0;
}

/* The stage queues and the free queue, which starts full of every chunk. */
static int create_queues(struct kaos_pipeline *p, uint32_t max_workers)
{
	/* every descriptor of the pool plus every end marker fits in every ring */
	uint32_t slots = pow2_at_least(p->nchunks + max_workers);
	int rc;

	for (uint32_t k = 0; k <= p->nstages; k++) {
		uint32_t prod = k == 0 ? 1 : p->stage[k - 1].workers;
		const char *owner = k < p->nstages ? p->stage[k].name : p->sink_name;
		rc = queue_init(&p->q[k], owner, ".in", slots, prod, consumers_of(p, k));
		if (rc)
			return rc;
	}
	/* producers: the sink, and the source giving back its unused chunk at the end */
	rc = queue_init(&p->freeq, p->source_name, ".free", slots, 2, 1);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < p->nchunks; i++) {
		struct desc d = {.seq = 0, .index = i, .len = 0};
		if (kaos_ring_send(p->freeq.ring, &d) != 0)
			return -KAOS_EINVAL;
	}
	return 0;
}

int kaos_pipeline_create(const struct kaos_pipeline_config *cfg, struct kaos_pipeline **out)
{
	struct kaos_pipeline *p;
	uint32_t total_workers, max_workers;
	int rc;

	if (!out)
		return -KAOS_EINVAL;
	*out = NULL;
	rc = check_config(cfg, &total_workers, &max_workers);
	if (rc)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -KAOS_ENOMEM;
	pthread_mutex_init(&p->err_lock, NULL);
	copy_config(p, cfg, total_workers);
	rc = alloc_chunks(p);
	if (!rc)
		rc = create_queues(p, max_workers);
	if (rc) {
		kaos_pipeline_destroy(p);
		return rc;
	}
	*out = p;
	return 0;
}

int kaos_pipeline_start(struct kaos_pipeline *p)
{
	uint32_t n = 2, t = 0;
	int rc = 0;

	if (!p || p->started)
		return -KAOS_EINVAL;
	p->started = true;
	for (uint32_t k = 0; k < p->nstages; k++)
		n += p->stage[k].workers;
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads) {
		p->joined = true;
		return -KAOS_ENOMEM;
	}
	p->nthreads = n;
	atomic_store(&p->running, n);
	/* sink and workers first, so the source never runs ahead into an unstarted pipeline */
	p->threads[t++] = (struct worker){.p = p, .role = (int)p->nstages, .index = 0};
	for (uint32_t k = 0; k < p->nstages; k++)
		for (uint32_t w = 0; w < p->stage[k].workers; w++)
			p->threads[t++] = (struct worker){.p = p, .role = (int)k, .index = w};
	p->threads[t++] = (struct worker){.p = p, .role = -1, .index = 0};
	for (uint32_t i = 0; i < n; i++) {
		int e = pthread_create(&p->threads[i].tid, NULL, thread_main, &p->threads[i]);
		if (e) {
			atomic_fetch_sub(&p->running, n - i);
			errno = e;
			rc = -KAOS_ESYS;
			fail(p, p->threads[i].role, NULL, rc);
			break;
		}
		p->threads[i].started = true;
	}
	return rc;
}

int kaos_pipeline_wait(struct kaos_pipeline *p)
{
	if (!p || !p->started)
		return -KAOS_EINVAL;
	if (!p->joined) {
		for (uint32_t i = 0; i < p->nthreads; i++)
			if (p->threads[i].started)
				pthread_join(p->threads[i].tid, NULL);
		p->joined = true;
	}
	return p->err.code;
}

int kaos_pipeline_running(const struct kaos_pipeline *p)
{
	struct kaos_pipeline *m = (struct kaos_pipeline *)p; /* atomics only */

	return p && p->started && atomic_load_explicit(&m->running, memory_order_acquire) != 0;
}

int kaos_pipeline_run(struct kaos_pipeline *p)
{
	if (!p)
		return -KAOS_EINVAL;
	int rc = kaos_pipeline_start(p);
	int wrc = kaos_pipeline_wait(p);
	return rc ? rc : wrc;
}

void kaos_pipeline_stats(const struct kaos_pipeline *p, struct kaos_pipeline_stats *out)
{
	struct kaos_pipeline *m = (struct kaos_pipeline *)p; /* atomics only */

	if (!p || !out)
		return;
	memset(out, 0, sizeof(*out));
	out->chunks_in = atomic_load(&m->chunks_in);
	out->bytes_in = atomic_load(&m->bytes_in);
	out->chunks_out = atomic_load(&m->chunks_out);
	out->bytes_out = atomic_load(&m->bytes_out);
	out->chunks = p->nchunks;
	out->free_chunks = kaos_ring_count(p->freeq.ring);
	out->reorder_held = atomic_load(&m->held_count);
	out->nstages = p->nstages + 1;
	for (uint32_t k = 0; k <= p->nstages; k++) {
		struct kaos_pipeline_stage_stats *s = &out->stage[k];
		s->queued = kaos_ring_count(p->q[k].ring);
		if (k < p->nstages) {
			s->name = p->stage[k].name;
			s->workers = p->stage[k].workers;
			s->busy = atomic_load(&m->stage[k].busy);
			s->chunks = atomic_load(&m->stage[k].done);
		} else {
			s->name = p->sink_name;
			s->workers = 1;
			s->chunks = out->chunks_out;
		}
	}
}

const struct kaos_pipeline_error *kaos_pipeline_error(const struct kaos_pipeline *p)
{
	return p ? &p->err : NULL;
}

void kaos_pipeline_destroy(struct kaos_pipeline *p)
{
	if (!p)
		return;
	if (p->started && !p->joined) {
		fail(p, -1, NULL, -KAOS_EINVAL); /* destroyed while running: stop first */
		kaos_pipeline_wait(p);
	}
	for (uint32_t k = 0; k <= KAOS_PIPELINE_MAX_STAGES; k++)
		kaos_ring_destroy(p->q[k].ring);
	kaos_ring_destroy(p->freeq.ring);
	if (p->slots) {
		for (uint32_t i = 0; i < p->nchunks; i++) {
			free(p->slots[i].c.data);
			free(p->slots[i].c.scratch);
		}
	}
	free(p->slots);
	free(p->held);
	free(p->threads);
	pthread_mutex_destroy(&p->err_lock);
	free(p);
}
