/* SPDX-License-Identifier: MIT */
/* Probe semaphores and the per-process sampling control (include/kaos/probes.h). */
#include "kaos/probes.h"

#include <stddef.h>

KAOS_PROBE_SEMA_DEFINE(kaos, send);
KAOS_PROBE_SEMA_DEFINE(kaos, recv);
KAOS_PROBE_SEMA_DEFINE(kaos, backpressure);
KAOS_PROBE_SEMA_DEFINE(kaos, retransmit);
KAOS_PROBE_SEMA_DEFINE(kaos, ring_close);

/* Exported and not const: tracers write it from outside (the slots and sample_every). */
__attribute__((used, visibility("default"))) struct kaos_probe_control kaos_probe_control = {
	.magic = KAOS_PROBE_CONTROL_MAGIC,
	.version = KAOS_PROBE_CONTROL_VERSION,
	.sample_every = 1,
	.nslots = KAOS_PROBE_CONTROL_SLOTS,
};

/* Tracers rely on these offsets (version 1's fields first) and on the slots' size. */
_Static_assert(offsetof(struct kaos_probe_control, sample_every) == 8, "v1 layout");
_Static_assert(offsetof(struct kaos_probe_control, nslots) + 4 == KAOS_PROBE_CONTROL_V1_SIZE,
	       "v1 layout");
_Static_assert(offsetof(struct kaos_probe_control, owner_start) == KAOS_PROBE_CONTROL_V1_SIZE,
	       "v2 layout");
_Static_assert(offsetof(struct kaos_probe_control, owner_pid) == 24, "v2 layout");
_Static_assert(offsetof(struct kaos_probe_control, slots) == 32, "v2 layout");
_Static_assert(sizeof(struct kaos_probe_request) == 16, "slot layout");

/* ------------------------------------------------------------------ batching */

#include <pthread.h>
#include <unistd.h>

#include "probes_internal.h"

_Static_assert(sizeof(struct kaos_probe_record) == 64, "record layout (docs/probes.md)");
_Static_assert(offsetof(struct kaos_probe_batch, rec) == 32, "batch layout (docs/probes.md)");
_Static_assert(offsetof(struct kaos_probe_control, batch_epoch) == 28, "v2 layout");

KAOS_PROBE_SEMA_DEFINE(kaos, batch);

static __thread struct kaos_probe_batch tls_batch __attribute__((aligned(64)));
static __thread int tls_batch_state; /* 0 unused, 1 in use (thread key set) */
static pthread_key_t batch_key;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;
static int batch_key_ok;

/* noinline: the site's registers are the arguments, nothing is spilled around the hot path */
static __attribute__((noinline)) void batch_fire(struct kaos_probe_batch *b)
{
	if (KAOS_PROBE_ENABLED(kaos, batch)) {
		KAOS_PROBE4(kaos, batch, b, b->n, b->gen, b->pid);
	} else if (b->n < KAOS_PROBE_BATCH_RECORDS) {
		return; /* the tracer is leaving: it reads what is pending from outside */
	}
	b->n = 0;
	b->gen++;
}

/* Thread exit (key destructor): nothing pending may stay behind. */
static void batch_thread_exit(void *arg)
{
	struct kaos_probe_batch *b = arg;

	if (b->n)
		batch_fire(b);
}

/* A forked child holds a copy of the forking thread's pending records: the parent's to fire. */
static void batch_atfork_child(void)
{
	if (!tls_batch_state)
		return;
	tls_batch.n = 0;
	tls_batch.pid = getpid();
	batch_fire(&tls_batch); /* announces the child's buffer: its tracer can drain it at exit */
}

static void batch_init_once(void)
{
	batch_key_ok = !pthread_key_create(&batch_key, batch_thread_exit);
	pthread_atfork(NULL, NULL, batch_atfork_child);
}

/*
 * exit() (the main thread runs no key destructor) and dlclose(): fire what
 * this thread holds, and delete the key, so that no thread ends by calling
 * batch_thread_exit in an unloaded library.
 */
__attribute__((destructor)) static void batch_process_exit(void)
{
	if (tls_batch_state && tls_batch.n)
		batch_fire(&tls_batch);
	if (batch_key_ok) {
		batch_key_ok = 0;
		pthread_key_delete(batch_key);
	}
}

/* First record of this thread: set the buffer up and announce its address (n == 0). */
static __attribute__((noinline, cold)) void batch_start(struct kaos_probe_batch *b)
{
	pthread_once(&batch_once, batch_init_once);
	b->pid = getpid();
	b->gen = 1;
	b->n = 0;
	b->epoch = kaos_probe_control.batch_epoch;
	if (batch_key_ok)
		pthread_setspecific(batch_key, b);
	tls_batch_state = 1;
	batch_fire(b);
}

/* A new tracer (epoch): what is pending goes out now, and the buffer is announced to it. */
static __attribute__((noinline, cold)) void batch_new_epoch(struct kaos_probe_batch *b)
{
	b->epoch = kaos_probe_control.batch_epoch;
	batch_fire(b);
}

void kaos_probe_batch_add(uint32_t type, uint64_t ring_id, uint64_t count, uint64_t n,
			  uint64_t bytes, uint64_t dur_ns, uint64_t extra, uint64_t name,
			  uint64_t ts_ns)
{
	struct kaos_probe_batch *b = &tls_batch;

	if (__builtin_expect(!tls_batch_state, 0))
		batch_start(b);
	if (__builtin_expect(b->epoch != kaos_probe_control.batch_epoch, 0))
		batch_new_epoch(b);
	if (__builtin_expect(b->n >= KAOS_PROBE_BATCH_RECORDS, 0))
		b->n = 0; /* only a signal handler's ops interleaved with ours get here: stay in bounds */
	struct kaos_probe_record *r = &b->rec[b->n];
	r->type = type;
	r->ring_id = (uint32_t)ring_id;
	r->count = count;
	r->n = n;
	r->bytes = bytes;
	r->dur_ns = dur_ns;
	r->extra = extra;
	r->name = name;
	r->ts_ns = ts_ns;
	if (!b->n)
		b->oldest_ns = ts_ns;
	b->n++;
	if (b->n == KAOS_PROBE_BATCH_RECORDS || ts_ns - b->oldest_ns >= KAOS_PROBE_BATCH_AGE_NS)
		batch_fire(b);
}

void kaos_probe_batch_flush(void)
{
	if (tls_batch_state && tls_batch.n)
		batch_fire(&tls_batch);
}
