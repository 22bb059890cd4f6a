/* SPDX-License-Identifier: MIT */
/*
 * Ring benchmarks: libkaos rings against DPDK rte_ring and Concurrency Kit
 * ck_ring on the same workload, producer and consumer threads pinned to two
 * different CPUs.
 *
 * This binary is the measurement engine; bench/run.sh drives it and prints
 * the summary. Design points:
 *  - Runs are time-bounded: producers stop after -d ms and publish how many
 *    messages they sent, consumers drain until they have them all. A fixed
 *    message count would turn a 0.3 s run into 8 s when the VM's vCPU
 *    placement turns bad (20x swings on this kind of machine).
 *  - Consumers verify every message (exact sequence for one producer and
 *    one consumer; per-producer order, count, sum and sum of squares
 *    otherwise), so a broken ring fails loudly instead of looking fast.
 *  - Before every run a bare cache-line ping-pong between the same two CPUs
 *    (pp_ns) records the placement the run had.
 *  - Every hot loop is specialised at compile time per (ring, mode, size):
 *    rte_ring and ck_ring are header-inline and must not be slowed down by a
 *    per-message indirect call or branch on the kind of ring.
 *
 * Output (stdout), one line per measured run:
 *   R set=S variant=V case=C impl=I run=N msgs=M ns=T mps=X pp_ns=P bp=B
 *   R set=S variant=V case=rtt impl=I run=N rtt_ns=MED rtt_mean_ns=A trips=K pp_ns=P
 *   NA case=C impl=I reason=...
 *   FAIL case=C impl=I reason=...      (also on stderr; exit status 1)
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ck_ring.h>
#include <rte_ring.h>

#include "kaos/ring.h"
#include "kaos/ring_inline.h"

#ifdef KAOS_BENCH_NOPROBES
#define BENCH_VARIANT "noprobes"
#else
#define BENCH_VARIANT "probes"
#endif

#define MAX_PROD       2 /* power of two: the producer tag is masked with it */
#define MAX_CONS       2
#define MAX_THREADS    (MAX_PROD + MAX_CONS)
#define SEQ_BITS       48 /* 8-byte message = producer << 48 | sequence */
#define SEQ_MASK       ((UINT64_C(1) << SEQ_BITS) - 1)
#define CLOCK_EVERY    65536u /* messages between a producer's clock reads */
#define CLOCK_EVERY_MP 4096u  /* the same with more threads than CPUs (slower) */
#define BATCH	       256u   /* largest batch in the batch cases */
#define YIELD_AFTER    256u   /* oversubscribed CPUs: spins before sched_yield() */
#define RTT_BATCH      1000u  /* round trips per timed RTT sample */
#define LOCAL_REPS     64u    /* same-thread cases: BATCH-message rounds per timed sample */
#define RTT_STOP       UINT64_MAX
#define ECHO_MASK      UINT64_C(0x5a5a5a5a5a5a5a5a)
#define ALIGN	       128u
#define WATCHDOG_S     10 /* a run that has not ended this long after -d is a hang */

/* Messages are read and written through this type: ring code copies them
 * with other types (rte_ring uses 32-bit words for 64-byte elements). */
typedef uint64_t __attribute__((may_alias)) u64a;

struct msg64 {
	uint64_t w[8];
};
CK_RING_PROTOTYPE(msg64, msg64)

/* kaos: the library calls; kaos-inline: include/kaos/ring_inline.h (header-inline fast path) */
enum impl {
	IMPL_KAOS,
	IMPL_KAOS_INL,
	IMPL_KAOS_ZC,
	IMPL_KAOS_COPY,
	IMPL_RTE,
	IMPL_CK,
	IMPL_BARE,
	IMPL_N
};
static const char *const impl_names[IMPL_N] = {"kaos", "kaos-inline", "kaos-zc", "kaos-copy",
					       "rte",  "ck",	      "bare"};

enum mode { MODE_SPSC, MODE_MPSC, MODE_MPMC };
enum shape { SHAPE_MSG, SHAPE_BATCH, SHAPE_RTT, SHAPE_LOCAL };

struct bench_case {
	const char *name;
	enum shape shape;
	enum mode mode;
	uint32_t size;
	int nprod, ncons;
	int nimpl;
	enum impl impls[5];
	enum impl na_impl; /* a peer that cannot run this case, or IMPL_N */
	const char *na_reason;
	bool batched; /* SHAPE_LOCAL: batches rather than one message per call */
};

#define PEERS3 .nimpl = 3, .impls = {IMPL_KAOS, IMPL_RTE, IMPL_CK}, .na_impl = IMPL_N
#define PEERS4 .nimpl = 4, .impls = {IMPL_KAOS, IMPL_KAOS_INL, IMPL_RTE, IMPL_CK}, .na_impl = IMPL_N
#define BATCH3                                                                             \
	.nimpl = 3, .impls = {IMPL_KAOS_ZC, IMPL_KAOS_COPY, IMPL_RTE}, .na_impl = IMPL_CK, \
	.na_reason = "no batch API (ck_ring moves one entry per call)"

static const struct bench_case cases[] = {
	{"spsc-msg8", SHAPE_MSG, MODE_SPSC, 8, 1, 1, PEERS4},
	{"spsc-msg64", SHAPE_MSG, MODE_SPSC, 64, 1, 1, PEERS4},
	{"spsc-batch8", SHAPE_BATCH, MODE_SPSC, 8, 1, 1, BATCH3},
	{"spsc-batch64", SHAPE_BATCH, MODE_SPSC, 64, 1, 1, BATCH3},
	{"mpsc-2p1c", SHAPE_MSG, MODE_MPSC, 8, 2, 1, PEERS3},
	{"mpmc-1p1c", SHAPE_MSG, MODE_MPMC, 8, 1, 1, PEERS3},
	{"mpmc-2p2c", SHAPE_MSG, MODE_MPMC, 8, 2, 2, PEERS3},
	{"rtt", SHAPE_RTT, MODE_SPSC, 8, 1, 1, .nimpl = 5,
	 .impls = {IMPL_KAOS, IMPL_KAOS_INL, IMPL_RTE, IMPL_CK, IMPL_BARE}, .na_impl = IMPL_N},
	/*
	 * One thread sends BATCH messages then receives them: the CPU cost of
	 * the calls without cross-CPU traffic, hence far less noisy than the
	 * two-thread cases (used for the untraced probe cost).
	 */
	{"local-msg8", SHAPE_LOCAL, MODE_SPSC, 8, 1, 0, PEERS4},
	{"local-batch8", SHAPE_LOCAL, MODE_SPSC, 8, 1, 0, BATCH3, .batched = true},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const struct bench_case placement_case = {
	"placement",	      SHAPE_RTT,	MODE_SPSC, 8, 1, 1, .nimpl = 1,
	.impls = {IMPL_BARE}, .na_impl = IMPL_N};

/* What one consumer saw from one producer (modes with several threads a side). */
struct seqcheck {
	uint64_t next; /* lowest sequence still acceptable: per-producer order */
	uint64_t n, sum, sumsq;
};

struct run;

struct worker {
	_Alignas(ALIGN) struct run *run; /* own lines: consumers write theirs constantly */
	pthread_t tid;
	int idx; /* producer or consumer number */
	uint64_t t0, t1;
	uint64_t count; /* messages sent or received, round trips */
	uint64_t bad;	/* nonzero: a message failed verification */
	struct seqcheck chk[MAX_PROD];
	u64a *buf;	 /* BATCH messages, copy batches */
	double *samples; /* timed samples: ns per round trip or per message */
	size_t nsamples, samples_cap;
};

struct run {
	/* The bare ping-pong lines first, each on its own line pair. */
	_Alignas(ALIGN) _Atomic uint64_t ping;
	_Alignas(ALIGN) _Atomic uint64_t pong;
	_Alignas(ALIGN) _Atomic int prod_done;
	_Atomic uint64_t sent[MAX_PROD];
	_Atomic uint64_t recvd[MAX_CONS];

	_Alignas(ALIGN) const struct bench_case *c; /* read-only during a run */
	enum impl impl;
	uint64_t dur_ns;
	uint32_t slots;
	bool oversub; /* more threads than CPUs: waits yield */
	struct kaos_ring *kr[2];
	struct rte_ring *rr[2];
	struct ck_ring *cr[2];
	void *cbuf[2];
	pthread_barrier_t start;
	struct worker w[MAX_THREADS];
	int nw;
};

struct result {
	uint64_t msgs, ns, bp;
	double mps;
	double rtt_med_ns, rtt_mean_ns;
	uint64_t trips;
};

static int cpu_a, cpu_b;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Same wait for every ring: spin; with more threads than CPUs, yield now and then. */
static inline void backoff(unsigned *spins, bool oversub)
{
	if (oversub && ++*spins >= YIELD_AFTER) {
		*spins = 0;
		sched_yield();
	} else {
		cpu_relax();
	}
}

/* A broken ring ends the whole benchmark at once: nothing it measured counts. */
static void __attribute__((noreturn, format(printf, 2, 3)))
run_fail(const struct run *run, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	printf("FAIL case=%s impl=%s reason=%s\n", run->c->name, impl_names[run->impl], why);
	fprintf(stderr, "bench_rings: FAIL %s/%s: %s\n", run->c->name, impl_names[run->impl], why);
	fflush(stdout);
	_exit(1);
}

/* ------------------------------------------------------------ messages */

static inline void msg_fill(u64a *m, uint64_t v, uint32_t words)
{
	m[0] = v;
	for (uint32_t k = 1; k + 1 < words; k++)
		m[k] = v + k;
	if (words > 1)
		m[words - 1] = ~v;
}

/* 0 when message m carries v; 64-byte messages are checked at both ends. */
static inline uint64_t msg_check(const u64a *m, uint64_t v, uint32_t words)
{
	uint64_t diff = m[0] ^ v;

	if (words > 1)
		diff |= m[words - 1] ^ ~v;
	return diff;
}

static inline void fill_msgs(u64a *dst, uint64_t seq, uint32_t n, uint32_t words)
{
	for (uint32_t i = 0; i < n; i++)
		msg_fill(dst + (size_t)i * words, seq + i, words);
}

static inline uint64_t check_msgs(const u64a *src, uint64_t seq, uint32_t n, uint32_t words)
{
	uint64_t diff = 0;

	for (uint32_t i = 0; i < n; i++)
		diff |= msg_check(src + (size_t)i * words, seq + i, words);
	return diff;
}

static inline void seqcheck_add(struct seqcheck *chk, uint64_t v, int nprod, uint64_t *bad)
{
	uint64_t p = v >> SEQ_BITS, s = v & SEQ_MASK;
	struct seqcheck *c = &chk[p & (MAX_PROD - 1)];

	*bad |= (uint64_t)(p >= (uint64_t)nprod) | (uint64_t)(s < c->next);
	c->next = s + 1;
	c->n++;
	c->sum += s;
	c->sumsq += s * s;
}

/* ------------------------------------------------------------ one message */

static inline bool kaos_ok(const struct run *run, int rc, int busy, const char *what)
{
	if (rc == 0)
		return true;
	if (rc != -busy)
		run_fail(run, "%s: %s", what, kaos_strerror(-rc));
	return false;
}

static inline __attribute__((always_inline)) bool send8(struct run *run, const enum impl impl,
							const enum mode mode, int ri, uint64_t v)
{
	switch (impl) {
	case IMPL_KAOS:
		return kaos_ok(run, kaos_ring_send(run->kr[ri], &v), KAOS_EFULL, "kaos_ring_send");
	case IMPL_KAOS_INL:
		return kaos_ok(run, kaos_ring_send_inline(run->kr[ri], &v), KAOS_EFULL,
			       "kaos_ring_send_inline");
	case IMPL_RTE:
		if (mode == MODE_SPSC)
			return rte_ring_sp_enqueue(run->rr[ri], (void *)(uintptr_t)v) == 0;
		return rte_ring_mp_enqueue(run->rr[ri], (void *)(uintptr_t)v) == 0;
	case IMPL_CK:
		if (mode == MODE_SPSC)
			return ck_ring_enqueue_spsc(run->cr[ri], run->cbuf[ri],
						    (void *)(uintptr_t)v);
		if (mode == MODE_MPSC)
			return ck_ring_enqueue_mpsc(run->cr[ri], run->cbuf[ri],
						    (void *)(uintptr_t)v);
		return ck_ring_enqueue_mpmc(run->cr[ri], run->cbuf[ri], (void *)(uintptr_t)v);
	default:
		__builtin_unreachable();
	}
}

static inline __attribute__((always_inline)) bool recv8(struct run *run, const enum impl impl,
							const enum mode mode, int ri, uint64_t *v)
{
	void *p;
	bool got;

	switch (impl) {
	case IMPL_KAOS:
		return kaos_ok(run, kaos_ring_recv(run->kr[ri], v), KAOS_EEMPTY, "kaos_ring_recv");
	case IMPL_KAOS_INL:
		return kaos_ok(run, kaos_ring_recv_inline(run->kr[ri], v), KAOS_EEMPTY,
			       "kaos_ring_recv_inline");
	case IMPL_RTE:
		if (mode == MODE_MPMC)
			got = rte_ring_mc_dequeue(run->rr[ri], &p) == 0;
		else
			got = rte_ring_sc_dequeue(run->rr[ri], &p) == 0;
		break;
	case IMPL_CK:
		if (mode == MODE_SPSC)
			got = ck_ring_dequeue_spsc(run->cr[ri], run->cbuf[ri], &p);
		else if (mode == MODE_MPSC)
			got = ck_ring_dequeue_mpsc(run->cr[ri], run->cbuf[ri], &p);
		else
			got = ck_ring_dequeue_mpmc(run->cr[ri], run->cbuf[ri], &p);
		break;
	default:
		__builtin_unreachable();
	}
	if (got)
		*v = (uint64_t)(uintptr_t)p;
	return got;
}

/* 64-byte messages: SPSC only. */
static inline __attribute__((always_inline)) bool send64(struct run *run, const enum impl impl,
							 struct msg64 *m)
{
	switch (impl) {
	case IMPL_KAOS:
		return kaos_ok(run, kaos_ring_send(run->kr[0], m), KAOS_EFULL, "kaos_ring_send");
	case IMPL_KAOS_INL:
		return kaos_ok(run, kaos_ring_send_inline(run->kr[0], m), KAOS_EFULL,
			       "kaos_ring_send_inline");
	case IMPL_RTE:
		return rte_ring_sp_enqueue_elem(run->rr[0], m, sizeof(*m)) == 0;
	case IMPL_CK:
		return ck_ring_enqueue_spsc_msg64(run->cr[0], run->cbuf[0], m);
	default:
		__builtin_unreachable();
	}
}

static inline __attribute__((always_inline)) bool recv64(struct run *run, const enum impl impl,
							 struct msg64 *m)
{
	switch (impl) {
	case IMPL_KAOS:
		return kaos_ok(run, kaos_ring_recv(run->kr[0], m), KAOS_EEMPTY, "kaos_ring_recv");
	case IMPL_KAOS_INL:
		return kaos_ok(run, kaos_ring_recv_inline(run->kr[0], m), KAOS_EEMPTY,
			       "kaos_ring_recv_inline");
	case IMPL_RTE:
		return rte_ring_sc_dequeue_elem(run->rr[0], m, sizeof(*m)) == 0;
	case IMPL_CK:
		return ck_ring_dequeue_spsc_msg64(run->cr[0], run->cbuf[0], m);
	default:
		__builtin_unreachable();
	}
}

/* ------------------------------------------------------------ workers */

static void worker_begin(struct worker *w)
{
	pthread_barrier_wait(&w->run->start);
	w->t0 = now_ns();
}

static void producer_end(struct worker *w, uint64_t sent)
{
	w->t1 = now_ns();
	w->count = sent;
	atomic_store(&w->run->sent[w->idx], sent);
	atomic_fetch_add_explicit(&w->run->prod_done, 1, memory_order_release);
}

/*
 * Called by a consumer that found the ring empty: true once every producer
 * has stopped and the consumers together hold everything sent. A consumer
 * publishes its count only here, so the hot path stores nothing shared; a
 * published count is never above the true one, so nobody stops early.
 */
static bool consumers_done(struct worker *w, uint64_t received)
{
	struct run *run = w->run;
	uint64_t sent = 0, got = 0;

	if (atomic_load_explicit(&run->prod_done, memory_order_acquire) < run->c->nprod)
		return false;
	atomic_store(&run->recvd[w->idx], received);
	for (int p = 0; p < run->c->nprod; p++)
		sent += atomic_load(&run->sent[p]);
	for (int c = 0; c < run->c->ncons; c++)
		got += atomic_load(&run->recvd[c]);
	return got >= sent;
}

static inline __attribute__((always_inline)) void
produce_msgs(struct worker *w, const enum impl impl, const enum mode mode, const uint32_t size)
{
	struct run *run = w->run;
	const uint64_t tag = (uint64_t)w->idx << SEQ_BITS;
	const bool oversub = run->oversub;
	const uint64_t clock_every = oversub ? CLOCK_EVERY_MP : CLOCK_EVERY;
	uint64_t seq = 0, next_check = clock_every;
	struct msg64 m;

	for (;;) {
		unsigned spins = 0;

		if (size == 8) {
			while (!send8(run, impl, mode, 0, tag | seq))
				backoff(&spins, oversub);
		} else {
			msg_fill(m.w, seq, 8);
			while (!send64(run, impl, &m))
				backoff(&spins, oversub);
		}
		if (++seq == next_check) {
			if (now_ns() - w->t0 >= run->dur_ns)
				break;
			next_check += clock_every;
		}
	}
	producer_end(w, seq);
}

static inline __attribute__((always_inline)) void
consume_msgs(struct worker *w, const enum impl impl, const enum mode mode, const uint32_t size)
{
	struct run *run = w->run;
	const bool oversub = run->oversub;
	const int nprod = run->c->nprod;
	struct seqcheck chk[MAX_PROD] = {0};
	uint64_t n = 0, bad = 0;
	unsigned spins = 0;

	for (;;) {
		uint64_t v = 0;
		bool got;

		if (size == 8) {
			got = recv8(run, impl, mode, 0, &v);
		} else {
			struct msg64 m;

			got = recv64(run, impl, &m);
			if (got) {
				v = m.w[0];
				bad |= m.w[7] ^ ~v;
			}
		}
		if (got) {
			if (mode == MODE_SPSC)
				bad |= v ^ n; /* exactly the next sequence number */
			else
				seqcheck_add(chk, v, nprod, &bad);
			n++;
			continue;
		}
		if (consumers_done(w, n))
			break;
		backoff(&spins, oversub);
	}
	w->t1 = now_ns();
	w->count = n;
	w->bad = bad;
	memcpy(w->chk, chk, sizeof(chk));
}

/* Every (ring, mode, size) the per-message cases use, each its own loop. */
#define MSG_VARIANTS(X)       \
	X(KAOS, SPSC, 8)      \
	X(KAOS, SPSC, 64)     \
	X(KAOS_INL, SPSC, 8)  \
	X(KAOS_INL, SPSC, 64) \
	X(RTE, SPSC, 8)       \
	X(RTE, SPSC, 64)      \
	X(CK, SPSC, 8)        \
	X(CK, SPSC, 64)       \
	X(KAOS, MPSC, 8)      \
	X(RTE, MPSC, 8)       \
	X(CK, MPSC, 8)        \
	X(KAOS, MPMC, 8)      \
	X(RTE, MPMC, 8)       \
	X(CK, MPMC, 8)

#define MSG_FN(role, i, m, s)                                \
	static void role##_##i##_##m##_##s(struct worker *w) \
	{                                                    \
		role##_msgs(w, IMPL_##i, MODE_##m, s);       \
	}
#define MSG_PRODUCER(i, m, s) MSG_FN(produce, i, m, s)
#define MSG_CONSUMER(i, m, s) MSG_FN(consume, i, m, s)
MSG_VARIANTS(MSG_PRODUCER)
MSG_VARIANTS(MSG_CONSUMER)

static void *msg_thread(void *arg, bool producer)
{
	struct worker *w = arg;
	const struct run *run = w->run;
	const enum impl impl = run->impl;
	const enum mode mode = run->c->mode;
	const uint32_t size = run->c->size;

	worker_begin(w);
#define MSG_DISPATCH(i, m, s)                                    \
	if (impl == IMPL_##i && mode == MODE_##m && size == s) { \
		if (producer)                                    \
			produce_##i##_##m##_##s(w);              \
		else                                             \
			consume_##i##_##m##_##s(w);              \
		return NULL;                                     \
	}
	MSG_VARIANTS(MSG_DISPATCH)
#undef MSG_DISPATCH
	run_fail(run, "no per-message loop for this ring/mode/size");
}

static void *msg_producer_main(void *arg)
{
	return msg_thread(arg, true);
}

static void *msg_consumer_main(void *arg)
{
	return msg_thread(arg, false);
}

/* ------------------------------------------------------------ batches (SPSC) */

static inline __attribute__((always_inline)) uint32_t
send_burst(struct run *run, const enum impl impl, const uint32_t size, const u64a *m, uint32_t n)
{
	int rc;

	switch (impl) {
	case IMPL_KAOS_COPY:
		rc = kaos_ring_send_batch(run->kr[0], m, n);
		if (rc < 0)
			run_fail(run, "kaos_ring_send_batch: %s", kaos_strerror(-rc));
		return (uint32_t)rc;
	case IMPL_RTE:
		if (size == 8)
			return rte_ring_sp_enqueue_burst(run->rr[0], (void *const *)m, n, NULL);
		return rte_ring_sp_enqueue_burst_elem(run->rr[0], m, size, n, NULL);
	default:
		__builtin_unreachable();
	}
}

static inline __attribute__((always_inline)) uint32_t
recv_burst(struct run *run, const enum impl impl, const uint32_t size, u64a *m, uint32_t max)
{
	int rc;

	switch (impl) {
	case IMPL_KAOS_COPY:
		rc = kaos_ring_recv_batch(run->kr[0], m, max);
		if (rc < 0)
			run_fail(run, "kaos_ring_recv_batch: %s", kaos_strerror(-rc));
		return (uint32_t)rc;
	case IMPL_RTE:
		if (size == 8)
			return rte_ring_sc_dequeue_burst(run->rr[0], (void **)m, max, NULL);
		return rte_ring_sc_dequeue_burst_elem(run->rr[0], m, size, max, NULL);
	default:
		__builtin_unreachable();
	}
}

static inline __attribute__((always_inline)) void
produce_batches(struct worker *w, const enum impl impl, const uint32_t size)
{
	struct run *run = w->run;
	const uint32_t words = size / 8;
	uint64_t seq = 0, next_check = CLOCK_EVERY;

	for (;;) {
		unsigned spins = 0;

		if (impl == IMPL_KAOS_ZC) {
			void *slots;
			int n = kaos_ring_claim(run->kr[0], BATCH, &slots);

			if (n < 0)
				run_fail(run, "kaos_ring_claim: %s", kaos_strerror(-n));
			if (n == 0) {
				cpu_relax();
				continue;
			}
			fill_msgs(slots, seq, (uint32_t)n, words);
			kaos_ring_publish(run->kr[0], (uint32_t)n);
			seq += (uint32_t)n;
		} else {
			uint32_t done = 0;

			fill_msgs(w->buf, seq, BATCH, words);
			while (done < BATCH) {
				uint32_t n =
					send_burst(run, impl, size, w->buf + (size_t)done * words,
						   BATCH - done);
				done += n;
				if (n == 0)
					backoff(&spins, false);
			}
			seq += BATCH;
		}
		if (seq >= next_check) {
			if (now_ns() - w->t0 >= run->dur_ns)
				break;
			next_check = seq + CLOCK_EVERY;
		}
	}
	producer_end(w, seq);
}

static inline __attribute__((always_inline)) void
consume_batches(struct worker *w, const enum impl impl, const uint32_t size)
{
	struct run *run = w->run;
	const uint32_t words = size / 8;
	uint64_t seq = 0, bad = 0;
	unsigned spins = 0;

	for (;;) {
		uint32_t n;

		if (impl == IMPL_KAOS_ZC) {
			const void *slots;
			int rc = kaos_ring_peek(run->kr[0], BATCH, &slots);

			if (rc < 0)
				run_fail(run, "kaos_ring_peek: %s", kaos_strerror(-rc));
			n = (uint32_t)rc;
			if (n) {
				bad |= check_msgs(slots, seq, n, words);
				kaos_ring_release(run->kr[0], n);
			}
		} else {
			n = recv_burst(run, impl, size, w->buf, BATCH);
			bad |= check_msgs(w->buf, seq, n, words);
		}
		if (n) {
			seq += n;
			continue;
		}
		if (consumers_done(w, seq))
			break;
		backoff(&spins, false);
	}
	w->t1 = now_ns();
	w->count = seq;
	w->bad = bad;
}

#define BATCH_VARIANTS(X) \
	X(KAOS_ZC, 8)     \
	X(KAOS_ZC, 64)    \
	X(KAOS_COPY, 8)   \
	X(KAOS_COPY, 64)  \
	X(RTE, 8)         \
	X(RTE, 64)

#define BATCH_FN(role, i, s)                           \
	static void role##_##i##_##s(struct worker *w) \
	{                                              \
		role##_batches(w, IMPL_##i, s);        \
	}
#define BATCH_PRODUCER(i, s) BATCH_FN(produce, i, s)
#define BATCH_CONSUMER(i, s) BATCH_FN(consume, i, s)
BATCH_VARIANTS(BATCH_PRODUCER)
BATCH_VARIANTS(BATCH_CONSUMER)

static void *batch_thread(void *arg, bool producer)
{
	struct worker *w = arg;
	const struct run *run = w->run;
	const enum impl impl = run->impl;
	const uint32_t size = run->c->size;

	worker_begin(w);
#define BATCH_DISPATCH(i, s)                  \
	if (impl == IMPL_##i && size == s) {  \
		if (producer)                 \
			produce_##i##_##s(w); \
		else                          \
			consume_##i##_##s(w); \
		return NULL;                  \
	}
	BATCH_VARIANTS(BATCH_DISPATCH)
#undef BATCH_DISPATCH
	run_fail(run, "no batch loop for this ring/size");
}

static void *batch_producer_main(void *arg)
{
	return batch_thread(arg, true);
}

static void *batch_consumer_main(void *arg)
{
	return batch_thread(arg, false);
}

/* ------------------------------------------------------------ round trips */

static void add_sample(struct worker *w, uint64_t ns, uint64_t units)
{
	if (w->nsamples < w->samples_cap && units)
		w->samples[w->nsamples++] = (double)ns / (double)units;
}

/* Initiator: sends i on ring 0, waits for i ^ ECHO_MASK on ring 1. */
static inline __attribute__((always_inline)) void rtt_initiate(struct worker *w,
							       const enum impl impl)
{
	struct run *run = w->run;
	uint64_t i = 0, bad = 0, t = w->t0;

	for (;;) {
		for (uint32_t k = 0; k < RTT_BATCH; k++, i++) {
			uint64_t v;

			if (impl == IMPL_BARE) {
				atomic_store_explicit(&run->ping, i, memory_order_release);
				while ((v = atomic_load_explicit(&run->pong,
								 memory_order_acquire)) !=
				       (i ^ ECHO_MASK))
					cpu_relax();
			} else {
				while (!send8(run, impl, MODE_SPSC, 0, i))
					cpu_relax();
				while (!recv8(run, impl, MODE_SPSC, 1, &v))
					cpu_relax();
				bad |= v ^ (i ^ ECHO_MASK);
			}
		}
		uint64_t t1 = now_ns();
		add_sample(w, t1 - t, RTT_BATCH);
		t = t1;
		if (t1 - w->t0 >= run->dur_ns || w->nsamples == w->samples_cap)
			break;
	}
	if (impl == IMPL_BARE) {
		atomic_store_explicit(&run->ping, RTT_STOP, memory_order_release);
	} else {
		while (!send8(run, impl, MODE_SPSC, 0, RTT_STOP))
			cpu_relax();
	}
	w->t1 = now_ns();
	w->count = i;
	w->bad = bad;
}

static inline __attribute__((always_inline)) void rtt_echo(struct worker *w, const enum impl impl)
{
	struct run *run = w->run;
	uint64_t n = 0, bad = 0, v;

	for (;;) {
		if (impl == IMPL_BARE) {
			/* ping starts at RTT_STOP (set before the threads), 0 is the first. */
			while ((v = atomic_load_explicit(&run->ping, memory_order_acquire)) != n) {
				if (v == RTT_STOP && n > 0)
					goto out;
				cpu_relax();
			}
			atomic_store_explicit(&run->pong, v ^ ECHO_MASK, memory_order_release);
		} else {
			while (!recv8(run, impl, MODE_SPSC, 0, &v))
				cpu_relax();
			if (v == RTT_STOP)
				break;
			bad |= v ^ n;
			while (!send8(run, impl, MODE_SPSC, 1, v ^ ECHO_MASK))
				cpu_relax();
		}
		n++;
	}
out:
	w->t1 = now_ns();
	w->count = n;
	w->bad = bad;
}

static void *rtt_thread(void *arg, bool initiator)
{
	struct worker *w = arg;
	const enum impl impl = w->run->impl;

	worker_begin(w);
#define RTT_DISPATCH(i)                            \
	if (impl == IMPL_##i) {                    \
		if (initiator)                     \
			rtt_initiate(w, IMPL_##i); \
		else                               \
			rtt_echo(w, IMPL_##i);     \
		return NULL;                       \
	}
	RTT_DISPATCH(KAOS)
	RTT_DISPATCH(KAOS_INL)
	RTT_DISPATCH(RTE)
	RTT_DISPATCH(CK)
	RTT_DISPATCH(BARE)
#undef RTT_DISPATCH
	run_fail(w->run, "no round-trip loop for this ring");
}

static void *rtt_initiator_main(void *arg)
{
	return rtt_thread(arg, true);
}

static void *rtt_echo_main(void *arg)
{
	return rtt_thread(arg, false);
}

/* ------------------------------------------------------------ same thread */

/* Rounds of BATCH messages sent then received by one thread (ring never full). */
static inline __attribute__((always_inline)) void local_loop(struct worker *w, const enum impl impl,
							     const bool batch)
{
	struct run *run = w->run;
	uint64_t sent = 0, got = 0, bad = 0, t = w->t0, got_t = 0;

	for (;;) {
		for (uint32_t rep = 0; rep < LOCAL_REPS; rep++) {
			if (!batch) {
				for (uint32_t k = 0; k < BATCH; k++, sent++)
					if (!send8(run, impl, MODE_SPSC, 0, sent))
						run_fail(run, "send failed on a ring with room");
			} else if (impl == IMPL_KAOS_ZC) {
				void *slots;
				int n = kaos_ring_claim(run->kr[0], BATCH, &slots);

				if (n <= 0)
					run_fail(run, "kaos_ring_claim: %d on a ring with room", n);
				fill_msgs(slots, sent, (uint32_t)n, 1);
				kaos_ring_publish(run->kr[0], (uint32_t)n);
				sent += (uint32_t)n;
			} else {
				fill_msgs(w->buf, sent, BATCH, 1);
				if (send_burst(run, impl, 8, w->buf, BATCH) != BATCH)
					run_fail(run,
						 "batch send stopped short on a ring with room");
				sent += BATCH;
			}
			while (got < sent) {
				uint32_t n = 1;

				if (!batch) {
					uint64_t v;

					if (!recv8(run, impl, MODE_SPSC, 0, &v))
						n = 0;
					else
						bad |= v ^ got;
				} else if (impl == IMPL_KAOS_ZC) {
					const void *slots;
					int rc = kaos_ring_peek(run->kr[0], BATCH, &slots);

					n = rc > 0 ? (uint32_t)rc : 0;
					if (n) {
						bad |= check_msgs(slots, got, n, 1);
						kaos_ring_release(run->kr[0], n);
					}
				} else {
					n = recv_burst(run, impl, 8, w->buf, BATCH);
					bad |= check_msgs(w->buf, got, n, 1);
				}
				if (!n)
					run_fail(run, "ring empty with %llu messages outstanding",
						 (unsigned long long)(sent - got));
				got += n;
			}
		}
		uint64_t t1 = now_ns();
		add_sample(w, t1 - t, got - got_t);
		t = t1;
		got_t = got;
		if (t1 - w->t0 >= run->dur_ns || w->nsamples == w->samples_cap)
			break;
	}
	w->t1 = now_ns();
	w->count = got;
	w->bad = bad;
}

static void *local_main(void *arg)
{
	struct worker *w = arg;
	const enum impl impl = w->run->impl;
	const bool batch = w->run->c->batched;

	worker_begin(w);
#define LOCAL_DISPATCH(i, b)                  \
	if (impl == IMPL_##i && batch == b) { \
		local_loop(w, IMPL_##i, b);   \
		return NULL;                  \
	}
	LOCAL_DISPATCH(KAOS, false)
	LOCAL_DISPATCH(KAOS_INL, false)
	LOCAL_DISPATCH(RTE, false)
	LOCAL_DISPATCH(CK, false)
	LOCAL_DISPATCH(KAOS_ZC, true)
	LOCAL_DISPATCH(KAOS_COPY, true)
	LOCAL_DISPATCH(RTE, true)
#undef LOCAL_DISPATCH
	run_fail(w->run, "no same-thread loop for this ring");
}

/* ------------------------------------------------------------ set-up */

static void *xalloc(const struct run *run, size_t size)
{
	size = (size + ALIGN - 1) / ALIGN * ALIGN;
	void *p = aligned_alloc(ALIGN, size);

	if (!p)
		run_fail(run, "out of memory (%zu bytes)", size);
	memset(p, 0, size); /* fault the pages in before the clock starts */
	return p;
}

static void rings_create(struct run *run)
{
	const struct bench_case *c = run->c;
	int nrings = c->shape == SHAPE_RTT ? 2 : 1;

	for (int i = 0; i < nrings; i++) {
		switch (run->impl) {
		case IMPL_KAOS:
		case IMPL_KAOS_INL:
		case IMPL_KAOS_ZC:
		case IMPL_KAOS_COPY: {
			static const enum kaos_ring_kind kinds[] = {
				[MODE_SPSC] = KAOS_RING_SPSC,
				[MODE_MPSC] = KAOS_RING_MPSC,
				[MODE_MPMC] = KAOS_RING_MPMC,
			};
			struct kaos_ring_config cfg = {
				.kind = kinds[c->mode],
				.slots = run->slots,
				.slot_size = c->size,
				.name = "bench",
				.wait = run->oversub ? KAOS_WAIT_YIELD : KAOS_WAIT_SPIN,
				.spin_limit = YIELD_AFTER,
			};
			int rc = kaos_ring_create(&cfg, &run->kr[i]);

			if (rc < 0)
				run_fail(run, "kaos_ring_create: %s", kaos_strerror(-rc));
			break;
		}
		case IMPL_RTE: {
			static const unsigned flags[] = {
				[MODE_SPSC] = RING_F_SP_ENQ | RING_F_SC_DEQ,
				[MODE_MPSC] = RING_F_SC_DEQ,
				[MODE_MPMC] = 0,
			};
			ssize_t sz = rte_ring_get_memsize_elem(c->size, run->slots);

			if (sz < 0)
				run_fail(run, "rte_ring_get_memsize_elem: %zd", sz);
			run->rr[i] = xalloc(run, (size_t)sz);
			int rc = rte_ring_init(run->rr[i], i ? "bench1" : "bench0", run->slots,
					       flags[c->mode]);
			if (rc < 0)
				run_fail(run, "rte_ring_init: %s", strerror(-rc));
			break;
		}
		case IMPL_CK:
			run->cr[i] = xalloc(run, sizeof(struct ck_ring));
			run->cbuf[i] = xalloc(run, (size_t)run->slots *
							   (c->size == 8 ? sizeof(ck_ring_buffer_t)
									 : sizeof(struct msg64)));
			ck_ring_init(run->cr[i], run->slots);
			break;
		case IMPL_BARE:
			break;
		default:
			run_fail(run, "ring kind not valid here");
		}
	}
}

static void rings_destroy(struct run *run)
{
	for (int i = 0; i < 2; i++) {
		if (run->kr[i])
			kaos_ring_destroy(run->kr[i]);
		free(run->rr[i]);
		free(run->cr[i]);
		free(run->cbuf[i]);
	}
}

static void spawn(struct run *run, struct worker *w, void *(*fn)(void *), int cpu)
{
	pthread_attr_t attr;
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	rc = pthread_create(&w->tid, &attr, fn, w);
	pthread_attr_destroy(&attr);
	if (rc)
		run_fail(run, "pthread_create: %s", strerror(rc));
}

/* Joins a worker; a run that outlives its deadline is a hung ring. */
static void join(struct run *run, struct worker *w, const struct timespec *deadline)
{
	int rc = pthread_timedjoin_np(w->tid, NULL, deadline);

	if (rc == ETIMEDOUT) {
		uint64_t sent = 0, got = 0;

		for (int p = 0; p < run->c->nprod; p++)
			sent += atomic_load(&run->sent[p]);
		for (int c = 0; c < run->c->ncons; c++)
			got += atomic_load(&run->recvd[c]);
		/* consumers publish their count only once the producers are done */
		run_fail(run,
			 "hung: not finished %d s after the run's end (%d/%d producers done, "
			 "%llu sent, %llu received): lost messages or a stuck ring",
			 WATCHDOG_S, atomic_load(&run->prod_done), run->c->nprod,
			 (unsigned long long)sent, (unsigned long long)got);
	}
	if (rc)
		run_fail(run, "pthread_join: %s", strerror(rc));
}

/* ------------------------------------------------------------ verification */

static unsigned __int128 sum_of_squares_below(uint64_t n)
{
	unsigned __int128 m = n;

	return n ? (m - 1) * m * (2 * m - 1) / 6 : 0;
}

static void verify_stream(struct run *run)
{
	const struct bench_case *c = run->c;
	struct worker *cons = &run->w[c->nprod];

	if (c->nprod == 1 && c->ncons == 1 && c->mode == MODE_SPSC) {
		if (cons->bad)
			run_fail(run, "consumer saw a message out of sequence or damaged");
		if (cons->count != run->w[0].count)
			run_fail(run, "sent %llu messages, received %llu",
				 (unsigned long long)run->w[0].count,
				 (unsigned long long)cons->count);
		return;
	}
	for (int k = 0; k < c->ncons; k++)
		if (cons[k].bad)
			run_fail(run,
				 "consumer %d saw a message out of per-producer order or "
				 "from an unknown producer",
				 k);
	for (int p = 0; p < c->nprod; p++) {
		uint64_t n = run->w[p].count, got = 0, sum = 0, sumsq = 0;

		for (int k = 0; k < c->ncons; k++) {
			got += cons[k].chk[p].n;
			sum += cons[k].chk[p].sum;
			sumsq += cons[k].chk[p].sumsq;
		}
		if (got != n)
			run_fail(run, "producer %d sent %llu messages, consumers got %llu", p,
				 (unsigned long long)n, (unsigned long long)got);
		if (sum != (n ? n * (n - 1) / 2 : 0) || sumsq != (uint64_t)sum_of_squares_below(n))
			run_fail(run,
				 "producer %d: checksum mismatch (lost and duplicated messages)",
				 p);
	}
}

static uint64_t verify_kaos_stats(struct run *run, uint64_t msgs)
{
	struct kaos_ring_stats st;

	kaos_ring_stats(run->kr[0], &st);
	if (st.sent_msgs != msgs || st.recv_msgs != msgs)
		run_fail(run,
			 "kaos_ring_stats disagrees: sent_msgs %llu recv_msgs %llu, moved %llu",
			 (unsigned long long)st.sent_msgs, (unsigned long long)st.recv_msgs,
			 (unsigned long long)msgs);
	return st.bp_episodes;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median and mean of a worker's timed samples (sorts them). */
static void sample_stats(struct worker *w, double *median, double *mean)
{
	double total = 0;

	for (size_t k = 0; k < w->nsamples; k++)
		total += w->samples[k];
	qsort(w->samples, w->nsamples, sizeof(*w->samples), cmp_double);
	*median = w->samples[w->nsamples / 2];
	*mean = total / (double)w->nsamples;
}

/* ------------------------------------------------------------ one run */

static void run_once(const struct bench_case *c, enum impl impl, uint64_t dur_ns, uint32_t slots,
		     struct result *res)
{
	struct run *run = aligned_alloc(ALIGN, (sizeof(*run) + ALIGN - 1) / ALIGN * ALIGN);
	int nthreads = c->nprod + c->ncons;

	if (!run) {
		fprintf(stderr, "bench_rings: out of memory\n");
		exit(1);
	}
	memset(run, 0, sizeof(*run));
	run->c = c;
	run->impl = impl;
	run->dur_ns = dur_ns;
	run->slots = slots;
	run->oversub = nthreads > 2;
	run->nw = nthreads;
	atomic_store(&run->ping, RTT_STOP);
	atomic_store(&run->pong, RTT_STOP);
	rings_create(run);
	pthread_barrier_init(&run->start, NULL, (unsigned)nthreads);

	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &run->w[i];

		w->run = run;
		w->idx = i < c->nprod ? i : i - c->nprod;
		if (c->shape == SHAPE_BATCH || c->shape == SHAPE_LOCAL)
			w->buf = xalloc(run, (size_t)BATCH * c->size);
		if ((c->shape == SHAPE_RTT || c->shape == SHAPE_LOCAL) && i == 0) {
			/* room for samples down to 20 ns a round trip, 0.1 ns a message */
			w->samples_cap = c->shape == SHAPE_RTT
						 ? dur_ns / (RTT_BATCH * 20) + 64
						 : dur_ns * 10 / (LOCAL_REPS * BATCH) + 64;
			w->samples = xalloc(run, w->samples_cap * sizeof(*w->samples));
		}
	}
	/*
	 * Threads alternate between the two CPUs, producers first: 1P1C puts
	 * producer and consumer on different CPUs, 2P1C and 2P2C put the two
	 * producers on different CPUs (and a consumer beside each). Two
	 * producers sharing a CPU would measure the scheduler: rte_ring and
	 * ck_ring producers wait for each other's tail update, so one preempted
	 * mid-enqueue stalls the other for a whole time slice (a few hundred
	 * messages a second here).
	 */
	for (int i = 0; i < nthreads; i++) {
		bool prod = i < c->nprod;
		void *(*fn)(void *);

		if (c->shape == SHAPE_LOCAL)
			fn = local_main;
		else if (c->shape == SHAPE_MSG)
			fn = prod ? msg_producer_main : msg_consumer_main;
		else if (c->shape == SHAPE_BATCH)
			fn = prod ? batch_producer_main : batch_consumer_main;
		else
			fn = prod ? rtt_initiator_main : rtt_echo_main;
		spawn(run, &run->w[i], fn, i % 2 ? cpu_b : cpu_a);
	}
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(dur_ns / 1000000000u) + WATCHDOG_S;
	for (int i = 0; i < nthreads; i++)
		join(run, &run->w[i], &deadline);

	memset(res, 0, sizeof(*res));
	uint64_t t0 = UINT64_MAX, t1 = 0;

	for (int i = 0; i < nthreads; i++) {
		t0 = run->w[i].t0 < t0 ? run->w[i].t0 : t0;
		t1 = run->w[i].t1 > t1 ? run->w[i].t1 : t1;
	}
	if (c->shape == SHAPE_RTT) {
		struct worker *a = &run->w[0], *b = &run->w[1];

		if (a->bad || b->bad)
			run_fail(run, "a round trip carried the wrong value");
		if (b->count != a->count || a->nsamples == 0)
			run_fail(run, "initiator made %llu round trips, echo saw %llu",
				 (unsigned long long)a->count, (unsigned long long)b->count);
		res->trips = a->count;
		sample_stats(a, &res->rtt_med_ns, &res->rtt_mean_ns);
		free(a->samples);
	} else if (c->shape == SHAPE_LOCAL) {
		struct worker *a = &run->w[0];
		double med, mean;

		if (a->bad)
			run_fail(run, "received a message out of sequence or damaged");
		if (a->nsamples == 0)
			run_fail(run, "no timed sample");
		sample_stats(a, &med, &mean);
		res->msgs = a->count;
		res->ns = a->t1 - a->t0;
		res->mps = 1e9 / med; /* median sample: robust to preemption */
		if (run->kr[0])
			res->bp = verify_kaos_stats(run, res->msgs);
		free(a->samples);
		free(a->buf);
	} else {
		verify_stream(run);
		for (int k = 0; k < c->ncons; k++)
			res->msgs += run->w[c->nprod + k].count;
		res->ns = t1 - t0;
		res->mps = (double)res->msgs * 1e9 / (double)res->ns;
		if (run->kr[0])
			res->bp = verify_kaos_stats(run, res->msgs);
		for (int i = 0; i < nthreads; i++)
			free(run->w[i].buf);
	}
	pthread_barrier_destroy(&run->start);
	rings_destroy(run);
	free(run);
}

/* Median bare cache-line round trip between the two CPUs right now. */
static double placement_ns(uint64_t dur_ns)
{
	struct result r;

	if (!dur_ns)
		return 0;
	run_once(&placement_case, IMPL_BARE, dur_ns, 2, &r);
	return r.rtt_med_ns;
}

/* ------------------------------------------------------------ main */

static void pick_cpus(const char *spec)
{
	cpu_set_t set;
	int found = 0;

	if (spec) {
		if (sscanf(spec, "%d,%d", &cpu_a, &cpu_b) != 2 || cpu_a < 0 || cpu_b < 0 ||
		    cpu_a >= CPU_SETSIZE || cpu_b >= CPU_SETSIZE) {
			fprintf(stderr, "bench_rings: -c wants two CPU numbers: -c 0,1\n");
			exit(2);
		}
		return;
	}
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		perror("bench_rings: sched_getaffinity");
		exit(2);
	}
	for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (found++ == 0)
			cpu_a = cpu;
		else
			cpu_b = cpu;
	}
	if (found < 2) {
		cpu_b = cpu_a;
		fprintf(stderr, "bench_rings: only one CPU available: both sides share it, "
				"figures are not meaningful\n");
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_rings [options] CASE... | all | list\n"
		   "  -r N      measured runs per ring and case (5)\n"
		   "  -d MS     duration of one run in ms (300)\n"
		   "  -w MS     unrecorded warm-up run per ring and case, ms (100; 0: none)\n"
		   "  -p MS     placement ping-pong before each run, ms (5; 0: none)\n"
		   "  -s SLOTS  ring slots, power of two (4096)\n"
		   "  -i LIST   only these rings: kaos,kaos-zc,kaos-copy,rte,ck,bare\n"
		   "  -c A,B    CPUs for producers / consumers (first two allowed)\n"
		   "  -t TAG    set=TAG on every record (main)\n");
}

static long parse_num(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "bench_rings: %s must be a number in %ld..%ld, not '%s'\n", what,
			lo, hi, s);
		exit(2);
	}
	return v;
}

static unsigned parse_impls(const char *list)
{
	unsigned mask = 0;
	char *copy = strdup(list), *save = NULL;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < IMPL_N && strcmp(t, impl_names[i]); i++)
			;
		if (i == IMPL_N) {
			fprintf(stderr, "bench_rings: unknown ring '%s'\n", t);
			exit(2);
		}
		mask |= 1u << i;
	}
	free(copy);
	return mask;
}

static const struct bench_case *find_case(const char *name)
{
	for (size_t k = 0; k < NCASES; k++)
		if (!strcmp(cases[k].name, name))
			return &cases[k];
	fprintf(stderr, "bench_rings: unknown case '%s' (try: bench_rings list)\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	long runs = 5, dur_ms = 300, warm_ms = 100, pp_ms = 5, slots = 4096;
	unsigned impl_mask = ~0u;
	const char *cpus = NULL, *tag = "main";
	const struct bench_case *todo[NCASES];
	size_t ntodo = 0;
	int opt;

	while ((opt = getopt(argc, argv, "r:d:w:p:s:i:c:t:h")) != -1) {
		switch (opt) {
		case 'r':
			runs = parse_num(optarg, "-r", 1, 1000);
			break;
		case 'd':
			dur_ms = parse_num(optarg, "-d", 1, 60000);
			break;
		case 'w':
			warm_ms = parse_num(optarg, "-w", 0, 60000);
			break;
		case 'p':
			pp_ms = parse_num(optarg, "-p", 0, 10000);
			break;
		case 's':
			slots = parse_num(optarg, "-s", 2, 1L << 24);
			break;
		case 'i':
			impl_mask = parse_impls(optarg);
			break;
		case 'c':
			cpus = optarg;
			break;
		case 't':
			tag = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (slots & (slots - 1) || slots < 2 * (long)BATCH) {
		fprintf(stderr, "bench_rings: -s must be a power of two >= %u\n", 2 * BATCH);
		return 2;
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	for (int a = optind; a < argc; a++) {
		if (!strcmp(argv[a], "list")) {
			for (size_t k = 0; k < NCASES; k++)
				printf("%s\n", cases[k].name);
			return 0;
		}
		if (!strcmp(argv[a], "all")) {
			for (size_t k = 0; k < NCASES; k++)
				todo[ntodo++] = &cases[k];
			break;
		}
		if (ntodo == NCASES) {
			fprintf(stderr, "bench_rings: too many cases\n");
			return 2;
		}
		todo[ntodo++] = find_case(argv[a]);
	}
	pick_cpus(cpus);

	const uint64_t dur_ns = (uint64_t)dur_ms * 1000000u, pp_ns = (uint64_t)pp_ms * 1000000u;

	for (size_t k = 0; k < ntodo; k++) {
		const struct bench_case *c = todo[k];
		enum impl impls[5];
		int n = 0;

		for (int j = 0; j < c->nimpl; j++)
			if (impl_mask & (1u << c->impls[j]))
				impls[n++] = c->impls[j];
		if (c->na_impl != IMPL_N && impl_mask & (1u << c->na_impl))
			printf("NA case=%s impl=%s reason=%s\n", c->name, impl_names[c->na_impl],
			       c->na_reason);
		for (int j = 0; j < n && warm_ms; j++) {
			struct result r;

			run_once(c, impls[j], (uint64_t)warm_ms * 1000000u, (uint32_t)slots, &r);
		}
		/* Rotate the order every run so that no ring always follows another. */
		for (long r = 0; r < runs; r++) {
			for (int j = 0; j < n; j++) {
				enum impl impl = impls[(j + r) % n];
				double pp = placement_ns(pp_ns);
				struct result res;

				run_once(c, impl, dur_ns, (uint32_t)slots, &res);
				printf("R set=%s variant=%s case=%s impl=%s run=%ld ", tag,
				       BENCH_VARIANT, c->name, impl_names[impl], r);
				if (c->shape == SHAPE_RTT)
					printf("rtt_ns=%.1f rtt_mean_ns=%.1f trips=%llu",
					       res.rtt_med_ns, res.rtt_mean_ns,
					       (unsigned long long)res.trips);
				else
					printf("msgs=%llu ns=%llu mps=%.0f bp=%llu",
					       (unsigned long long)res.msgs,
					       (unsigned long long)res.ns, res.mps,
					       (unsigned long long)res.bp);
				printf(" pp_ns=%.1f cpus=%d,%d\n", pp, cpu_a, cpu_b);
				fflush(stdout);
			}
		}
	}
	return 0;
}
