/* SPDX-License-Identifier: MIT */
/*
 * Workload with known probe counts for tests/integration/test_bpftrace_usdt.sh.
 *
 *   usage: probe_counts [--wait] [N]   (N messages per ring, default 100000)
 *
 * --wait prints "ready pid=P" and waits for a line (or EOF) on stdin before
 * creating any ring, so a tracer can attach to the running process (-p)
 * and set the sampling rate; the program then reads the rate and also
 * prints how many operations must fire with it (sampled_*_ops).
 *
 * An SPSC ring, driven from one thread so every operation's size is known:
 * per-message sends/recvs, copy batches, zero-copy claim/publish and
 * peek/release, then BP_TRIES sends into the full ring (KAOS_WAIT_FAIL:
 * each one a backpressure episode) and RETRANSMITS noted retransmits.
 * An MPMC ring with two producer and two consumer threads, per-message,
 * KAOS_WAIT_YIELD: each time a producer finds it full is one backpressure
 * episode (counted by the ring, reported here, one probe when it ends).
 * Each operation here moves at least one message (nothing is asked of an
 * empty ring), so with sampling off each one fires exactly one probe.
 *
 * The program checks every message (order and content) and the rings'
 * counters, and prints per ring one line the test compares with what the
 * tracer saw:
 *   ring kind=K id=I name=S slot_size=Z sent=N send_ops=A recvd=N recv_ops=B
 *        bp=E retransmits=R retransmit_seq_sum=Q sample_every=S sampled_send_ops=C
 *        sampled_recv_ops=D
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kaos/probes.h"
#include "kaos/ring.h"

#define SLOT_SIZE   16u
#define SPSC_SLOTS  256u
#define MPMC_SLOTS  1024u
#define BP_TRIES    10u
#define RETRANSMITS 5u

struct msg {
	uint64_t seq;
	uint64_t check; /* ~seq ^ producer tag */
};

struct tally {
	uint64_t sent, send_ops, recvd, recv_ops;
	uint64_t sampled_send_ops, sampled_recv_ops; /* ops expected to fire a probe */
};

/*
 * Sampling (docs/probes.md): with kaos_probe_control.sample_every = S (a
 * power of two, others rounded down), an operation on ring positions
 * [pos, pos+n) fires send/recv only if the range holds a multiple of S.
 */
static uint64_t sample_every = 1;

static int op_sampled(uint64_t pos, uint64_t n)
{
	return ((pos + sample_every - 1) & ~(sample_every - 1)) < pos + n;
}

#ifdef PROBE_COUNTS_DIRECT_CONTROL
/* A direct reference: the linker copies the object into this executable (R_X86_64_COPY). */
static const volatile struct kaos_probe_control *control(void)
{
	return &kaos_probe_control;
}
#else
/*
 * Through dlsym, as most programs never name the symbol: the live object is
 * then the library's own (docs/probes.md, "Finding the control").
 */
static const volatile struct kaos_probe_control *control(void)
{
	const volatile struct kaos_probe_control *c =
		dlsym(RTLD_DEFAULT, KAOS_PROBE_CONTROL_SYMBOL);

	if (!c) {
		fprintf(stderr, "probe_counts: dlsym(%s) failed\n", KAOS_PROBE_CONTROL_SYMBOL);
		exit(1);
	}
	return c;
}
#endif

static void read_sample_every(void)
{
	uint32_t v = control()->sample_every;

	sample_every = 1;
	while (v > 1 && sample_every * 2 <= v)
		sample_every *= 2;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "probe_counts: %s: %s\n", what, err < 0 ? kaos_strerror(-err) : "failed");
	exit(1);
}

static void check_msg(const struct msg *m, uint64_t want_seq, uint64_t tag)
{
	if (m->seq != want_seq || m->check != (~m->seq ^ tag)) {
		fprintf(stderr, "probe_counts: bad message: seq %" PRIu64 " (want %" PRIu64 ")\n",
			m->seq, want_seq);
		exit(1);
	}
}

/* ------------------------------------------------------------ SPSC, one thread */

struct spsc_state {
	struct kaos_ring *r;
	struct tally t;
	uint64_t next_send, next_recv;
};

static void spsc_send1(struct spsc_state *s)
{
	struct msg m = {s->next_send, ~s->next_send};
	int rc = kaos_ring_send(s->r, &m);

	if (rc)
		die("spsc send", rc);
	s->t.sampled_send_ops += op_sampled(s->next_send, 1);
	s->next_send++, s->t.sent++, s->t.send_ops++;
}

static void spsc_recv1(struct spsc_state *s)
{
	struct msg m;
	int rc = kaos_ring_recv(s->r, &m);

	if (rc)
		die("spsc recv", rc);
	s->t.sampled_recv_ops += op_sampled(s->next_recv, 1);
	check_msg(&m, s->next_recv++, 0);
	s->t.recvd++, s->t.recv_ops++;
}

static void spsc_send_batch(struct spsc_state *s, uint32_t n)
{
	struct msg m[64];
	int rc;

	for (uint32_t i = 0; i < n; i++)
		m[i] = (struct msg){s->next_send + i, ~(s->next_send + i)};
	rc = kaos_ring_send_batch(s->r, m, n);
	if (rc != (int)n)
		die("spsc send_batch", rc < 0 ? rc : 0);
	s->t.sampled_send_ops += op_sampled(s->next_send, n);
	s->next_send += n, s->t.sent += n, s->t.send_ops++;
}

static void spsc_recv_batch(struct spsc_state *s, uint32_t n)
{
	struct msg m[64];
	int rc = kaos_ring_recv_batch(s->r, m, n);

	if (rc != (int)n)
		die("spsc recv_batch", rc < 0 ? rc : 0);
	s->t.sampled_recv_ops += op_sampled(s->next_recv, n);
	for (uint32_t i = 0; i < n; i++)
		check_msg(&m[i], s->next_recv++, 0);
	s->t.recvd += n, s->t.recv_ops++;
}

/* Zero-copy: claim may return fewer slots than asked (never across the ring's end). */
static uint32_t spsc_claim_publish(struct spsc_state *s, uint32_t want)
{
	void *slots;
	int got = kaos_ring_claim(s->r, want, &slots);

	if (got <= 0)
		die("spsc claim", got);
	for (int i = 0; i < got; i++) {
		struct msg m = {s->next_send + (uint64_t)i, ~(s->next_send + (uint64_t)i)};
		memcpy((char *)slots + (size_t)i * SLOT_SIZE, &m, sizeof(m));
	}
	kaos_ring_publish(s->r, (uint32_t)got);
	s->t.sampled_send_ops += op_sampled(s->next_send, (uint64_t)got);
	s->next_send += (uint64_t)got, s->t.sent += (uint64_t)got, s->t.send_ops++;
	return (uint32_t)got;
}

static uint32_t spsc_peek_release(struct spsc_state *s, uint32_t max)
{
	const void *slots;
	int got = kaos_ring_peek(s->r, max, &slots);

	if (got <= 0)
		die("spsc peek", got);
	s->t.sampled_recv_ops += op_sampled(s->next_recv, (uint64_t)got);
	for (int i = 0; i < got; i++) {
		struct msg m;

		memcpy(&m, (const char *)slots + (size_t)i * SLOT_SIZE, sizeof(m));
		check_msg(&m, s->next_recv++, 0);
	}
	kaos_ring_release(s->r, (uint32_t)got);
	s->t.recvd += (uint64_t)got, s->t.recv_ops++;
	return (uint32_t)got;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void run_spsc(uint64_t n, struct tally *out, uint32_t *id, uint64_t *bp, uint64_t *rt_sum)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = SPSC_SLOTS,
				       .slot_size = SLOT_SIZE,
				       .name = "counts-spsc",
				       .wait = KAOS_WAIT_FAIL};
	struct spsc_state s = {0};
	struct kaos_ring_stats st;
	uint64_t quarter = n / 4;
	struct msg m = {0};
	int rc;

	rc = kaos_ring_create(&cfg, &s.r);
	if (rc)
		die("spsc create", rc);
	/* per message, in rounds of up to 100 */
	while (s.t.sent < quarter) {
		uint64_t k = min_u64(100, quarter - s.t.sent);

		for (uint64_t i = 0; i < k; i++)
			spsc_send1(&s);
		for (uint64_t i = 0; i < k; i++)
			spsc_recv1(&s);
	}
	/* copy batches of up to 64 */
	while (s.t.sent < 2 * quarter) {
		uint32_t k = (uint32_t)min_u64(64, 2 * quarter - s.t.sent);

		spsc_send_batch(&s, k);
		spsc_recv_batch(&s, k);
	}
	/* zero copy, up to 32 at a time, consumed in pieces of up to 8 */
	while (s.t.sent < 3 * quarter) {
		uint32_t k = spsc_claim_publish(&s, (uint32_t)min_u64(32, 3 * quarter - s.t.sent));

		while (k)
			k -= spsc_peek_release(&s, k < 8 ? k : 8);
	}
	/* the rest: batches of 7 out, single messages in */
	while (s.t.sent < n) {
		uint32_t k = (uint32_t)min_u64(7, n - s.t.sent);

		spsc_send_batch(&s, k);
		for (uint32_t i = 0; i < k; i++)
			spsc_recv1(&s);
	}
	/* fill the ring, then BP_TRIES sends that find it full (fail fast) */
	while (s.t.sent - s.t.recvd < kaos_ring_capacity(s.r))
		spsc_send1(&s);
	for (uint32_t i = 0; i < BP_TRIES; i++) {
		rc = kaos_ring_send(s.r, &m);
		if (rc != -KAOS_EFULL)
			die("send to a full ring did not fail with EFULL", rc);
	}
	while (s.t.recvd < s.t.sent)
		spsc_recv1(&s);
	*rt_sum = 0;
	for (uint64_t i = 0; i < RETRANSMITS; i++) {
		kaos_ring_note_retransmit(s.r, 1000 + i);
		*rt_sum += 1000 + i;
	}

	kaos_ring_stats(s.r, &st);
	if (st.sent_msgs != s.t.sent || st.recv_msgs != s.t.recvd ||
	    st.sent_bytes != s.t.sent * SLOT_SIZE || st.bp_episodes != BP_TRIES ||
	    st.retransmits != RETRANSMITS) {
		fprintf(stderr, "probe_counts: spsc stats disagree with the program's counts\n");
		exit(1);
	}
	*id = kaos_ring_id(s.r);
	*bp = st.bp_episodes;
	*out = s.t;
	kaos_ring_destroy(s.r);
}

/* ------------------------------------------------------------ MPMC, 2 + 2 threads */

struct mpmc_shared {
	struct kaos_ring *r;
	uint64_t per_producer;
	atomic_uint_fast64_t received;
	uint64_t total;
};

struct mpmc_worker {
	struct mpmc_shared *sh;
	uint64_t tag; /* producer: its tag; consumer: unused */
	struct tally t;
	uint64_t last_seq[2]; /* consumer: per-producer order check */
	int err;
};

static void *mpmc_producer(void *arg)
{
	struct mpmc_worker *w = arg;

	for (uint64_t i = 0; i < w->sh->per_producer; i++) {
		struct msg m = {i, ~i ^ w->tag};
		int rc = kaos_ring_send(w->sh->r, &m);

		if (rc) {
			w->err = rc;
			return NULL;
		}
		w->t.sent++, w->t.send_ops++;
	}
	return NULL;
}

static void *mpmc_consumer(void *arg)
{
	struct mpmc_worker *w = arg;
	uint64_t seen[2] = {0, 0};

	while (atomic_load(&w->sh->received) < w->sh->total) {
		struct msg m;
		int rc = kaos_ring_recv(w->sh->r, &m);
		int p;

		if (rc == -KAOS_EEMPTY)
			continue;
		if (rc) {
			w->err = rc;
			return NULL;
		}
		/* tag 1 or 2 identifies the producer; its messages arrive in order */
		p = (m.check ^ ~m.seq) == 1 ? 0 : (m.check ^ ~m.seq) == 2 ? 1 : -1;
		if (p < 0 || (seen[p] && m.seq <= w->last_seq[p])) {
			w->err = -KAOS_ECORRUPT;
			return NULL;
		}
		seen[p] = 1, w->last_seq[p] = m.seq;
		w->t.recvd++, w->t.recv_ops++;
		atomic_fetch_add(&w->sh->received, 1);
	}
	return NULL;
}

static void run_mpmc(uint64_t n, struct tally *out, uint32_t *id, uint64_t *bp)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_MPMC,
				       .slots = MPMC_SLOTS,
				       .slot_size = SLOT_SIZE,
				       .name = "counts-mpmc",
				       .wait = KAOS_WAIT_YIELD};
	struct mpmc_shared sh = {.per_producer = n / 2, .total = n / 2 * 2};
	struct mpmc_worker w[4];
	pthread_t th[4];
	struct kaos_ring_stats st;
	int rc;

	rc = kaos_ring_create(&cfg, &sh.r);
	if (rc)
		die("mpmc create", rc);
	atomic_init(&sh.received, 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct mpmc_worker){.sh = &sh, .tag = (uint64_t)(i + 1)};
		if (pthread_create(&th[i], NULL, i < 2 ? mpmc_producer : mpmc_consumer, &w[i]))
			die("pthread_create", 0);
	}
	*out = (struct tally){0};
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (w[i].err)
			die(i < 2 ? "mpmc send" : "mpmc recv", w[i].err);
		out->sent += w[i].t.sent, out->send_ops += w[i].t.send_ops;
		out->recvd += w[i].t.recvd, out->recv_ops += w[i].t.recv_ops;
	}
	kaos_ring_stats(sh.r, &st);
	if (out->sent != sh.total || out->recvd != sh.total || st.sent_msgs != sh.total ||
	    st.recv_msgs != sh.total) {
		fprintf(stderr, "probe_counts: mpmc counts disagree\n");
		exit(1);
	}
	*id = kaos_ring_id(sh.r);
	*bp = st.bp_episodes; /* the producers may have found the ring full */
	/* per message: the ops holding positions 0, S, 2S, ... */
	out->sampled_send_ops = out->sampled_recv_ops =
		(sh.total + sample_every - 1) / sample_every;
	kaos_ring_destroy(sh.r);
}

static void report(const char *kind, uint32_t id, const char *name, const struct tally *t,
		   uint64_t bp, uint64_t rt, uint64_t rt_sum)
{
	printf("ring kind=%s id=%" PRIu32 " name=%s slot_size=%u sent=%" PRIu64 " send_ops=%" PRIu64
	       " recvd=%" PRIu64 " recv_ops=%" PRIu64 " bp=%" PRIu64 " retransmits=%" PRIu64
	       " retransmit_seq_sum=%" PRIu64 " sample_every=%" PRIu64 " sampled_send_ops=%" PRIu64
	       " sampled_recv_ops=%" PRIu64 "\n",
	       kind, id, name, SLOT_SIZE, t->sent, t->send_ops, t->recvd, t->recv_ops, bp, rt,
	       rt_sum, sample_every, t->sampled_send_ops, t->sampled_recv_ops);
}

int main(int argc, char **argv)
{
	unsigned long long n = 100000;
	struct tally spsc, mpmc;
	uint32_t spsc_id, mpmc_id;
	uint64_t bp, rt_sum;
	int wait = 0, a = 1;

	if (a < argc && !strcmp(argv[a], "--wait"))
		wait = 1, a++;
	if (argc - a > 1) {
		fprintf(stderr, "usage: %s [--wait] [N]\n", argv[0]);
		return 2;
	}
	if (a < argc) {
		char *end;

		errno = 0;
		n = strtoull(argv[a], &end, 10);
		if (errno || *end || end == argv[a] || n < 8 || n > 1000000000ull) {
			fprintf(stderr,
				"probe_counts: N must be an integer in 8..1000000000, "
				"got '%s'\n",
				argv[a]);
			return 2;
		}
	}
	if (wait) {
		char line[64];

		printf("ready pid=%ld\n", (long)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin) && ferror(stdin)) {
			fprintf(stderr, "probe_counts: reading stdin failed\n");
			return 1;
		}
	}
	read_sample_every(); /* a tracer may have set it while we waited */
	run_spsc(n, &spsc, &spsc_id, &bp, &rt_sum);
	report("spsc", spsc_id, "counts-spsc", &spsc, bp, RETRANSMITS, rt_sum);
	run_mpmc(n, &mpmc, &mpmc_id, &bp);
	report("mpmc", mpmc_id, "counts-mpmc", &mpmc, bp, 0, 0);
	return 0;
}
