/* SPDX-License-Identifier: MIT */
/*
 * IPC channels across real processes (fork): order and completeness, MPSC,
 * peer death in both directions, damaged files, reopen after a crash, memfd
 * over SCM_RIGHTS. Children never call cmocka: they report via exit codes.
 *
 * Message counts scale with KAOS_TEST_SCALE (default 1, sized for valgrind;
 * the integration script runs a larger scale).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kaos/crc32c.h"
#include "kaos/ipc.h"
#include "../../core/ipc_layout.h"
#include "../../core/ring_layout.h"

/* A message: sequence number and a check word tying it to its producer. */
struct msg {
	uint64_t seq;
	uint64_t check;
};

static uint64_t check_word(uint32_t producer, uint64_t seq)
{
	return ((uint64_t)producer << 56) ^ (seq * 0x9E3779B97F4A7C15ull >> 8);
}

static uint64_t scale(void)
{
	const char *s = getenv("KAOS_TEST_SCALE");
	long v = s ? atol(s) : 1;
	return v > 0 ? (uint64_t)v : 1;
}

static char names[16][64];
static int nnames;

/* A channel name unique to this test process, removed at teardown. */
static const char *chan_name(const char *tag)
{
	char *n = names[nnames++ % 16];
	snprintf(n, 64, "test-%d-%s", (int)getpid(), tag);
	kaos_ipc_unlink(n);
	return n;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nnames && i < 16; i++)
		kaos_ipc_unlink(names[i]);
	nnames = 0;
	alarm(0);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	/* a hang must fail the test, not stall the suite */
	alarm(120);
	return 0;
}

static int child_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static struct kaos_ipc_config cfg_of(enum kaos_ring_kind kind, uint32_t slots, uint32_t producers,
				     enum kaos_ipc_role role)
{
	struct kaos_ipc_config c = {
		.kind = kind,
		.slots = slots,
		.slot_size = sizeof(struct msg),
		.producers = producers,
		.role = role,
	};
	return c;
}

/* Child body: open NAME as producer `id` and send n messages, singly or in batches. */
static int produce(const char *name, uint32_t id, uint64_t n, uint32_t batch)
{
	struct kaos_ipc *ch;
	struct msg buf[64];
	uint64_t seq = 0;

	if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &ch))
		return 10;
	while (seq < n) {
		uint32_t k = batch;
		if (k > n - seq)
			k = (uint32_t)(n - seq);
		for (uint32_t i = 0; i < k; i++)
			buf[i] = (struct msg){seq + i, check_word(id, seq + i)};
		if (batch == 1) {
			if (kaos_ipc_send(ch, buf, KAOS_IPC_FOREVER))
				return 11;
		} else if (kaos_ipc_send_batch(ch, buf, k, KAOS_IPC_FOREVER) != (int)k) {
			return 12;
		}
		seq += k;
	}
	kaos_ipc_close(ch);
	return 0;
}

static pid_t fork_producer(const char *name, uint32_t id, uint64_t n, uint32_t batch)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(produce(name, id, n, batch));
	return pid;
}

/* --------------------------------------------------------------- streams */

static void spsc_stream(uint32_t batch, int zero_copy)
{
	const char *name = chan_name(zero_copy ? "zc" : batch > 1 ? "batch" : "single");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 1024, 1, KAOS_IPC_CONSUMER);
	uint64_t n = (batch > 1 ? 1000000 : 200000) * scale(), next = 0;
	struct kaos_ipc *ch;
	struct msg in[64];
	int rc;

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	pid_t pid = fork_producer(name, 1, n, batch);
	for (;;) {
		if (zero_copy) {
			const void *slots;
			rc = kaos_ipc_peek(ch, 64, &slots, KAOS_IPC_FOREVER);
			if (rc > 0) {
				const struct msg *m = slots;
				for (int i = 0; i < rc; i++, next++) {
					assert_int_equal(m[i].seq, next);
					assert_int_equal(m[i].check, check_word(1, next));
				}
				kaos_ipc_release(ch, (uint32_t)rc);
			}
		} else if (batch > 1) {
			rc = kaos_ipc_recv_batch(ch, in, 64, KAOS_IPC_FOREVER);
			for (int i = 0; i < rc; i++, next++) {
				assert_int_equal(in[i].seq, next);
				assert_int_equal(in[i].check, check_word(1, next));
			}
		} else {
			rc = kaos_ipc_recv(ch, in, KAOS_IPC_FOREVER);
			if (rc == 0) {
				assert_int_equal(in[0].seq, next);
				assert_int_equal(in[0].check, check_word(1, next));
				next++;
			}
		}
		if (rc == KAOS_IPC_EOF)
			break;
		assert_true(rc >= 0);
	}
	assert_int_equal(next, n);
	assert_int_equal(child_status(pid), 0);
	/* after EOF the ring stays drained */
	assert_int_equal(kaos_ipc_recv(ch, in, 0), KAOS_IPC_EOF);
	struct kaos_ring_stats st;
	kaos_ring_stats(kaos_ipc_ring(ch), &st);
	assert_int_equal(st.recv_msgs, n);
	assert_int_equal(st.sent_msgs, n); /* the producer's counters live in the shared block */
	kaos_ipc_close(ch);
}

static void test_spsc_single(void **state)
{
	(void)state;
	spsc_stream(1, 0);
}

static void test_spsc_batch(void **state)
{
	(void)state;
	spsc_stream(64, 0);
}

static void test_spsc_zero_copy(void **state)
{
	(void)state;
	spsc_stream(32, 1);
}

static void test_mpsc_two_producers(void **state)
{
	const char *name = chan_name("mpsc");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_MPSC, 512, 2, KAOS_IPC_CONSUMER);
	uint64_t n = 200000 * scale(), next[3] = {0, 0, 0};
	struct kaos_ipc *ch;
	struct msg in[32];
	int rc;
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	/* one producer sends singly, the other in batches */
	pid_t p1 = fork_producer(name, 1, n, 1);
	pid_t p2 = fork_producer(name, 2, n, 16);
	while ((rc = kaos_ipc_recv_batch(ch, in, 32, KAOS_IPC_FOREVER)) > 0) {
		for (int i = 0; i < rc; i++) {
			uint32_t id = (uint32_t)(in[i].check >> 56);
			assert_true(id == 1 || id == 2);
			/* per-producer order is kept; the interleaving is free */
			assert_int_equal(in[i].seq, next[id]);
			assert_int_equal(in[i].check, check_word(id, next[id]));
			next[id]++;
		}
	}
	assert_int_equal(rc, KAOS_IPC_EOF);
	assert_int_equal(next[1], n);
	assert_int_equal(next[2], n);
	assert_int_equal(child_status(p1), 0);
	assert_int_equal(child_status(p2), 0);
	kaos_ipc_close(ch);
}

/*
 * Producers that come one after another: a producer that starts after another
 * has already finished must take a record that was never attached, not the
 * finished one's, or the consumer waits for the last record forever (the
 * test_mpsc_two_producers hang when the second child started late).
 */
static void test_mpsc_late_producer(void **state)
{
	const char *name = chan_name("late");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_MPSC, 64, 2, KAOS_IPC_CONSUMER);
	struct kaos_ipc_endpoint_info ep[3];
	struct kaos_ipc *c, *p;
	struct msg m = {0, 0};
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	/* the first producer sends and closes before the second one exists */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
	kaos_ipc_close(p);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), 0);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EEMPTY); /* one expected producer left */
	assert_int_equal(kaos_ipc_endpoints(c, ep, 3), 3);
	assert_int_equal(ep[1].state, KAOS_IPC_PEER_CLOSED);
	assert_int_equal(ep[2].state, KAOS_IPC_PEER_NONE);

	/* the late one takes the record nobody attached yet */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	assert_int_equal(kaos_ipc_endpoints(c, ep, 3), 3);
	assert_int_equal(ep[1].state, KAOS_IPC_PEER_CLOSED);
	assert_int_equal(ep[2].state, KAOS_IPC_PEER_ALIVE);
	m.seq = 1;
	assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), 0);
	assert_int_equal(m.seq, 1);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EEMPTY);
	kaos_ipc_close(p);
	/* both expected producers came and closed */
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);

	/* once every record was used, a closed one is reused */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	assert_int_equal(kaos_ipc_peer_state(c, 0), KAOS_IPC_PEER_ALIVE);
	kaos_ipc_close(p);
	kaos_ipc_close(c);
}

/* A restarted producer takes over the dead one's record before a never-used one. */
static void test_mpsc_dead_record_taken_over(void **state)
{
	const char *name = chan_name("takeover");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_MPSC, 64, 2, KAOS_IPC_CONSUMER);
	struct kaos_ipc_endpoint_info ep[3];
	struct kaos_ipc *c, *p;
	struct msg m;
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *dead;
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &dead))
			_exit(10);
		raise(SIGKILL);
		_exit(11);
	}
	assert_int_equal(child_status(pid), 128 + SIGKILL);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EPEER);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	assert_int_equal(kaos_ipc_endpoints(c, ep, 3), 3);
	assert_int_equal(ep[1].state, KAOS_IPC_PEER_ALIVE);
	assert_int_equal(ep[1].pid, getpid());
	assert_int_equal(ep[2].state, KAOS_IPC_PEER_NONE);
	/* the death is no longer news: the stream goes on */
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EEMPTY);
	kaos_ipc_close(p);
	kaos_ipc_close(c);
}

/*
 * Child body: attach as producer `id`, send `sent` messages, say so on
 * `ready`, then wait on `hold` (to be killed; it never gets a byte).
 */
static void produce_and_hold(const char *name, uint32_t id, uint64_t sent, int ready, int hold)
{
	struct kaos_ipc *p;
	char byte = 1;

	alarm(60); /* not left behind if the test fails before killing it */
	if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p))
		_exit(10);
	for (uint64_t i = 0; i < sent; i++) {
		struct msg o = {i, check_word(id, i)};
		if (kaos_ipc_send(p, &o, KAOS_IPC_FOREVER))
			_exit(11);
	}
	if (write(ready, &byte, 1) != 1 || read(hold, &byte, 1) < 0)
		_exit(13);
	_exit(14);
}

/*
 * Each producer's death is reported once; after that the consumer blocks
 * for the producers still alive (it used to get -KAOS_EPEER at once on
 * every empty ring, busy-polling, and never saw end-of-stream), and the
 * stream ends when the live one closes.
 */
static void test_mpsc_death_told_once(void **state)
{
	const char *name = chan_name("toldonce");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_MPSC, 64, 3, KAOS_IPC_CONSUMER);
	uint64_t n = 1000 * scale(), next = 0;
	int attached[2], go[2], rc;
	struct kaos_ipc *c;
	struct msg m;
	char byte = 1;
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	assert_int_equal(pipe(attached), 0);
	assert_int_equal(pipe(go), 0);
	/* the live producer attaches first, then two that are killed while attached */
	pid_t live = fork();
	assert_true(live >= 0);
	if (live == 0) {
		struct kaos_ipc *p;
		alarm(60); /* not left behind if the test fails before "go" */
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p))
			_exit(10);
		if (write(attached[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1)
			_exit(13);
		for (uint64_t i = 0; i < n; i++) {
			struct msg o = {i, check_word(3, i)};
			if (kaos_ipc_send(p, &o, KAOS_IPC_FOREVER))
				_exit(11);
		}
		kaos_ipc_close(p);
		_exit(0);
	}
	assert_int_equal(read(attached[0], &byte, 1), 1);
	pid_t doomed[2];
	for (uint32_t k = 0; k < 2; k++) { /* the first sends one message */
		doomed[k] = fork();
		assert_true(doomed[k] >= 0);
		if (doomed[k] == 0)
			produce_and_hold(name, 1 + k, k == 0, attached[1], go[0]);
		assert_int_equal(read(attached[0], &byte, 1), 1);
	}
	for (uint32_t k = 0; k < 2; k++) {
		kill(doomed[k], SIGKILL);
		assert_int_equal(child_status(doomed[k]), 128 + SIGKILL);
	}

	/* the dead one's message first, then each death once */
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), 0);
	assert_int_equal(m.check, check_word(1, 0));
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), -KAOS_EPEER);
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), -KAOS_EPEER);
	/* no more news: a poll finds the ring empty, a wait ends by its timeout */
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EEMPTY);
	assert_int_equal(kaos_ipc_recv(c, &m, 20), -KAOS_EEMPTY);
	struct msg four[4];
	assert_int_equal(kaos_ipc_recv_batch(c, four, 4, 0), -KAOS_EEMPTY);
	assert_int_equal(kaos_ipc_peer_state(c, 0), KAOS_IPC_PEER_DEAD); /* still the fact */

	/* the live producer's stream, then end-of-stream, with no death reported again */
	assert_int_equal(write(go[1], &byte, 1), 1);
	while ((rc = kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER)) == 0) {
		assert_int_equal(m.seq, next);
		assert_int_equal(m.check, check_word(3, next));
		next++;
	}
	assert_int_equal(rc, KAOS_IPC_EOF);
	assert_int_equal(next, n);
	assert_int_equal(child_status(live), 0);
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);
	for (int i = 0; i < 2; i++) {
		close(attached[i]);
		close(go[i]);
	}
	kaos_ipc_close(c);

	/* a new consumer handle has not been told: it hears of both deaths */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &c), 0);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EPEER);
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), -KAOS_EPEER);
	assert_int_equal(kaos_ipc_recv(c, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);
	kaos_ipc_close(c);
}

/* --------------------------------------------------------------- probes */

/* Set by the kernel while a tracer is attached; a test sets them itself. */
extern volatile unsigned short kaos_send_semaphore;
extern volatile unsigned short kaos_recv_semaphore;

/*
 * The SPSC channel calls have their own inlined fast path: it must still
 * hand every message that the probe gate wants to the ring, which stamps
 * it (the stamps are the visible side of a traced send; sampling every
 * message stamps every one), and the counts must stay exact.
 */
static void test_spsc_fast_path_keeps_probes(void **state)
{
	const char *name = chan_name("probed");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 64, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc *c, *p;
	struct msg m;
	const uint64_t n = 1000; /* over 15 laps of the ring */
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	struct kaos_ring *r = kaos_ipc_ring(c);
	const struct kaos_ring_stamp *stamps =
		(const struct kaos_ring_stamp *)((const char *)r + r->hdr.stamp_off);

	/* untraced: nothing stamped */
	for (uint64_t i = 0; i < 32; i++) {
		m = (struct msg){i, check_word(1, i)};
		assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
		assert_int_equal(kaos_ipc_recv(c, &m, 0), 0);
		assert_int_equal(m.seq, i);
	}
	for (uint32_t i = 0; i < 64; i++)
		assert_int_equal(stamps[i].seq, UINT64_MAX);

	/* traced from here: the semaphores are re-read at least every 4096 messages */
	kaos_send_semaphore = 1;
	kaos_recv_semaphore = 1;
	uint64_t stamped = 0;
	for (uint64_t i = 32; i < 32 + 4096 + n; i++) {
		m = (struct msg){i, check_word(1, i)};
		assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
		const struct kaos_ring_stamp *st = &stamps[i & 63];
		if (st->seq == i) {
			assert_true(st->ts > 0);
			stamped++;
		} else {
			assert_int_equal(stamped,
					 0); /* once tracing was seen, every one is stamped */
		}
		assert_int_equal(kaos_ipc_recv(c, &m, 0), 0);
		assert_int_equal(m.seq, i);
		assert_int_equal(m.check, check_word(1, i));
	}
	kaos_send_semaphore = 0;
	kaos_recv_semaphore = 0;
	assert_true(stamped >= n);

	struct kaos_ring_stats st;
	kaos_ring_stats(r, &st);
	assert_int_equal(st.sent_msgs, 32 + 4096 + n);
	assert_int_equal(st.recv_msgs, 32 + 4096 + n);
	kaos_ipc_close(p);
	kaos_ipc_close(c);
}

/* Heartbeats: a busy SPSC endpoint beats every 4096 operations, fast path or not. */
static void test_spsc_heartbeat_counts(void **state)
{
	const char *name = chan_name("beats");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 128, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc_endpoint_info ep[2];
	struct kaos_ipc *c, *p;
	struct msg m = {0, 0}, batch[8];
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	assert_int_equal(kaos_ipc_endpoints(c, ep, 2), 2);
	uint64_t c0 = ep[0].heartbeats, p0 = ep[1].heartbeats;
	for (int i = 0; i < 4 * 4096; i++) {
		assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
		assert_int_equal(kaos_ipc_recv(c, &m, 0), 0);
	}
	assert_int_equal(kaos_ipc_endpoints(c, ep, 2), 2);
	assert_int_equal(ep[0].heartbeats - c0, 4);
	assert_int_equal(ep[1].heartbeats - p0, 4);
	/* batches count every message they move */
	for (int i = 0; i < 4096 / 8; i++) {
		assert_int_equal(kaos_ipc_send_batch(p, batch, 8, 0), 8);
		assert_int_equal(kaos_ipc_recv_batch(c, batch, 8, 0), 8);
	}
	assert_int_equal(kaos_ipc_endpoints(c, ep, 2), 2);
	assert_int_equal(ep[0].heartbeats - c0, 5);
	assert_int_equal(ep[1].heartbeats - p0, 5);
	kaos_ipc_close(p);
	kaos_ipc_close(c);
}

/* --------------------------------------------------------------- peer death */

static void test_producer_death_detected(void **state)
{
	const char *name = chan_name("pdeath");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 256, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc *ch;
	struct msg m;
	uint64_t next = 0;
	int rc;
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	assert_int_equal(kaos_ipc_peer_state(ch, 0), KAOS_IPC_PEER_NONE);
	pid_t pid = fork_producer(name, 1, UINT64_MAX, 1); /* never stops on its own */
	while (next < 10000) {
		assert_int_equal(kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER), 0);
		assert_int_equal(m.seq, next++);
	}
	assert_int_equal(kaos_ipc_peer_alive(ch, 0), 1);
	kill(pid, SIGKILL);
	/* not reaped: a zombie must count as dead. Buffered messages come first, in order. */
	while ((rc = kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER)) == 0)
		assert_int_equal(m.seq, next++);
	assert_int_equal(rc, -KAOS_EPEER);
	assert_int_equal(kaos_ipc_peer_state(ch, 0), KAOS_IPC_PEER_DEAD);
	struct kaos_ipc_endpoint_info ep[2];
	assert_int_equal(kaos_ipc_endpoints(ch, ep, 2), 2);
	assert_int_equal(ep[0].role, KAOS_IPC_CONSUMER);
	assert_int_equal(ep[0].state, KAOS_IPC_PEER_ALIVE);
	assert_int_equal(ep[1].state, KAOS_IPC_PEER_DEAD);
	assert_int_equal(ep[1].pid, pid);
	assert_true(ep[1].heartbeats >= 1);
	/* the death was told once: the only producer is done, so the stream has ended */
	assert_int_equal(kaos_ipc_recv(ch, &m, 0), KAOS_IPC_EOF);
	assert_int_equal(child_status(pid), 128 + SIGKILL);
	assert_int_equal(kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);
	kaos_ipc_close(ch);
}

static void test_consumer_death_detected(void **state)
{
	const char *name = chan_name("cdeath");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 128, 1, KAOS_IPC_PRODUCER);
	struct kaos_ipc *ch;
	struct msg m = {0, 0};
	int sync[2], rc;
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	assert_int_equal(pipe(sync), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *c;
		struct msg r;
		char one = 1;
		if (kaos_ipc_open(name, KAOS_IPC_CONSUMER, &c))
			_exit(10);
		for (int i = 0; i < 100; i++)
			if (kaos_ipc_recv(c, &r, KAOS_IPC_FOREVER) || r.seq != (uint64_t)i)
				_exit(11);
		if (write(sync[1], &one, 1) != 1)
			_exit(12);
		pause(); /* alive, attached, not reading */
		_exit(13);
	}
	for (m.seq = 0; m.seq < 100; m.seq++)
		assert_int_equal(kaos_ipc_send(ch, &m, KAOS_IPC_FOREVER), 0);
	char byte;
	assert_int_equal(read(sync[0], &byte, 1), 1);
	/* a live consumer that does not read: the send times out */
	uint32_t sent = 0;
	while ((rc = kaos_ipc_send(ch, &m, 50)) == 0)
		sent++;
	assert_int_equal(rc, -KAOS_EFULL);
	assert_int_equal(sent, 128);
	assert_int_equal(kaos_ipc_peer_alive(ch, 0), 1);
	kill(pid, SIGKILL);
	rc = kaos_ipc_send(ch, &m, KAOS_IPC_FOREVER);
	assert_int_equal(rc, -KAOS_EPEER);
	assert_int_equal(kaos_ipc_peer_state(ch, 0), KAOS_IPC_PEER_DEAD);
	assert_int_equal(child_status(pid), 128 + SIGKILL);
	assert_int_equal(kaos_ipc_send_batch(ch, &m, 1, KAOS_IPC_FOREVER), -KAOS_EPEER);
	close(sync[0]);
	close(sync[1]);
	kaos_ipc_close(ch);
}

static void test_stale_heartbeat(void **state)
{
	const char *name = chan_name("stale");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 64, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc *ch;
	struct kaos_ipc_endpoint_info ep[2];
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *p;
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p))
			_exit(10);
		raise(SIGSTOP); /* hung: alive but silent */
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
	assert_true(WIFSTOPPED(st));
	/* wait until its heartbeat is visibly old, then judge with a shorter limit */
	do {
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		assert_int_equal(kaos_ipc_endpoints(ch, ep, 2), 2);
	} while (ep[1].heartbeat_age_ns < 100000000ull);
	assert_int_equal(kaos_ipc_peer_state(ch, 0), KAOS_IPC_PEER_ALIVE);
	assert_int_equal(kaos_ipc_peer_state(ch, 50), KAOS_IPC_PEER_DEAD);
	assert_int_equal(kaos_ipc_peer_alive(ch, 50), 0);
	kill(pid, SIGKILL);
	assert_int_equal(child_status(pid), 128 + SIGKILL);
	kaos_ipc_close(ch);
}

/* --------------------------------------------------------------- damaged files */

static void write_at(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void read_hdr(const char *path, struct kaos_ipc_hdr *h)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(*h), 0), (ssize_t)sizeof(*h));
	close(fd);
}

static void write_hdr(const char *path, struct kaos_ipc_hdr *h, int fix_crc)
{
	if (fix_crc)
		h->hdr_crc = kaos_crc32c(0, h, offsetof(struct kaos_ipc_hdr, hdr_crc));
	write_at(path, 0, h, offsetof(struct kaos_ipc_hdr, consumer));
}

static void fresh_channel(const char *name, char *path)
{
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 64, 1, KAOS_IPC_NONE);
	struct kaos_ipc *ch;

	kaos_ipc_unlink(name);
	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	kaos_ipc_close(ch);
	assert_int_equal(kaos_ipc_path(name, path, 256), 0);
}

static void expect_refused(const char *name, int code, const char *why)
{
	struct kaos_ipc *ch = (struct kaos_ipc *)&ch;

	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch), code);
	assert_null(ch);
	assert_non_null(strstr(kaos_ipc_last_error(), why));
}

static void test_corrupt_files_refused(void **state)
{
	const char *name = chan_name("corrupt");
	struct kaos_ipc_hdr h, good;
	struct kaos_ipc *ch;
	char path[256];
	(void)state;

	fresh_channel(name, path);
	read_hdr(path, &good);
	/* sanity: the untouched file opens */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch), 0);
	kaos_ipc_close(ch);

	/* garbage over the magic */
	write_at(path, 0, "garbage!", 8);
	expect_refused(name, -KAOS_ECORRUPT, "magic");

	/* a newer layout version (checksum fixed so only the version is wrong) */
	h = good;
	h.version = KAOS_IPC_VERSION + 1;
	write_hdr(path, &h, 1);
	expect_refused(name, -KAOS_EVERSION, "version");

	/* one flipped geometry bit, checksum left alone */
	h = good;
	h.slots ^= 1u << 10;
	write_hdr(path, &h, 0);
	expect_refused(name, -KAOS_ECORRUPT, "checksum");

	/* a consistent-looking header whose geometry does not add up */
	h = good;
	h.slots = 128;
	write_hdr(path, &h, 1);
	expect_refused(name, -KAOS_ECORRUPT, "geometry");
	h = good;
	h.file_size += 4096;
	write_hdr(path, &h, 1);
	expect_refused(name, -KAOS_ECORRUPT, "geometry needs");

	/* the file shorter than the header says: refused before the ring is touched */
	write_hdr(path, &good, 0);
	assert_int_equal(truncate(path, (off_t)(good.file_size - 512)), 0);
	expect_refused(name, -KAOS_ECORRUPT, "header says");
	/* or longer */
	assert_int_equal(truncate(path, (off_t)(good.file_size + 4096)), 0);
	expect_refused(name, -KAOS_ECORRUPT, "header says");
	/* shorter than the header itself, and empty */
	assert_int_equal(truncate(path, 100), 0);
	expect_refused(name, -KAOS_ECORRUPT, "smaller than");
	assert_int_equal(truncate(path, 0), 0);
	expect_refused(name, -KAOS_ECORRUPT, "smaller than");

	/* a damaged ring block behind a good header */
	fresh_channel(name, path);
	write_at(path, KAOS_IPC_HDR_SIZE, "XXXXXXXX", 8);
	expect_refused(name, -KAOS_ECORRUPT, "ring block");

	/* a foreign file of plausible size */
	{
		unsigned char junk[8192];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (unsigned char)(i * 131 + 7);
		int fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		close(fd);
		expect_refused(name, -KAOS_ECORRUPT, "magic");
	}

	/* not a regular file */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	{
		/* O_RDWR on a FIFO does not block on Linux */
		expect_refused(name, -KAOS_ECORRUPT, "regular");
	}
	assert_int_equal(unlink(path), 0);

	/* missing */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch), -KAOS_ESYS);
	assert_int_equal(errno, ENOENT);
}

/* --------------------------------------------------------------- crash and reopen */

static void test_reopen_after_crash(void **state)
{
	const char *name = chan_name("crash");
	struct kaos_ipc *ch;
	struct msg m;
	uint64_t next = 0;
	(void)state;

	/* a producer creates the channel, sends 100 messages and is killed */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 256, 1, KAOS_IPC_PRODUCER);
		struct kaos_ipc *p;
		if (kaos_ipc_create(name, &cfg, &p))
			_exit(10);
		for (uint64_t i = 0; i < 100; i++) {
			struct msg o = {i, check_word(1, i)};
			if (kaos_ipc_send(p, &o, KAOS_IPC_FOREVER))
				_exit(11);
		}
		raise(SIGKILL);
		_exit(12);
	}
	assert_int_equal(child_status(pid), 128 + SIGKILL);

	/* the file it left behind opens, its messages are there, its death is reported */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch), 0);
	struct kaos_ipc_info info;
	kaos_ipc_info(ch, &info);
	assert_int_equal(info.creator_pid, pid);
	assert_string_equal(info.name, name);
	int rc;
	while ((rc = kaos_ipc_recv(ch, &m, 0)) == 0) {
		assert_int_equal(m.seq, next);
		assert_int_equal(m.check, check_word(1, next));
		next++;
	}
	assert_int_equal(next, 100);
	assert_int_equal(rc, -KAOS_EPEER);
	/* told once; with its only producer dead the stream has ended, until another attaches */
	assert_int_equal(kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);

	/* a new producer takes over the dead one's place and the stream goes on */
	int sync[2];
	char byte = 1;
	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *p;
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p))
			_exit(10);
		if (write(sync[1], &byte, 1) != 1)
			_exit(14);
		for (uint64_t i = 100; i < 200; i++) {
			struct msg o = {i, check_word(1, i)};
			if (kaos_ipc_send(p, &o, KAOS_IPC_FOREVER))
				_exit(11);
		}
		kaos_ipc_close(p);
		_exit(0);
	}
	assert_int_equal(read(sync[0], &byte, 1), 1);
	close(sync[0]);
	close(sync[1]);
	while ((rc = kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER)) == 0) {
		assert_int_equal(m.seq, next);
		next++;
	}
	assert_int_equal(rc, KAOS_IPC_EOF);
	assert_int_equal(next, 200);
	assert_int_equal(child_status(pid), 0);

	/* removed cleanly; the mapping stays usable until closed */
	assert_int_equal(kaos_ipc_unlink(name), 0);
	assert_int_equal(kaos_ipc_recv(ch, &m, 0), KAOS_IPC_EOF);
	kaos_ipc_close(ch);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_NONE, &ch), -KAOS_ESYS);
	assert_int_equal(kaos_ipc_unlink(name), -KAOS_ESYS);
}

/* --------------------------------------------------------------- memfd */

static void test_memfd_scm_rights(void **state)
{
	uint64_t n = 100000 * scale(), next = 0;
	struct kaos_ipc *ch;
	struct msg in[16];
	int sv[2], rc;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* fork first, so the child can only get the channel through the socket */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *p;
		int fd;
		close(sv[0]);
		if (kaos_ipc_recv_fd(sv[1], &fd))
			_exit(10);
		if (kaos_ipc_open_fd(fd, KAOS_IPC_PRODUCER, &p))
			_exit(11);
		close(fd);
		if (strcmp(kaos_ring_name(kaos_ipc_ring(p)), "ipc:memchan") != 0)
			_exit(12);
		/* zero-copy send: claim slots in the shared ring, fill, publish */
		while (next < n) {
			void *slots;
			uint32_t want = n - next < 16 ? (uint32_t)(n - next) : 16;
			int k = kaos_ring_claim(kaos_ipc_ring(p), want, &slots);
			if (k < 0)
				_exit(13);
			if (k == 0) { /* full: the ring never blocks in a channel */
				kaos_ipc_heartbeat(p);
				sched_yield();
				continue;
			}
			struct msg *m = slots;
			for (int i = 0; i < k; i++, next++)
				m[i] = (struct msg){next, check_word(1, next)};
			kaos_ring_publish(kaos_ipc_ring(p), (uint32_t)k);
		}
		kaos_ipc_close(p);
		_exit(0);
	}
	close(sv[1]);
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 256, 1, KAOS_IPC_CONSUMER);
	assert_int_equal(kaos_ipc_create_memfd("memchan", &cfg, &ch), 0);
	/* the memfd is sealed against resizing */
	int seals = fcntl(kaos_ipc_fd(ch), F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_int_equal(ftruncate(kaos_ipc_fd(ch), 4096), -1);
	assert_int_equal(kaos_ipc_send_fd(sv[0], kaos_ipc_fd(ch)), 0);
	while ((rc = kaos_ipc_recv_batch(ch, in, 16, KAOS_IPC_FOREVER)) > 0) {
		for (int i = 0; i < rc; i++, next++) {
			assert_int_equal(in[i].seq, next);
			assert_int_equal(in[i].check, check_word(1, next));
		}
	}
	assert_int_equal(rc, KAOS_IPC_EOF);
	assert_int_equal(next, n);
	assert_int_equal(child_status(pid), 0);
	close(sv[0]);
	kaos_ipc_close(ch);
}

static void test_recv_fd_errors(void **state)
{
	int sv[2], fd = 123;
	char byte = 0;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* a plain byte without a descriptor */
	assert_int_equal(write(sv[0], &byte, 1), 1);
	assert_int_equal(kaos_ipc_recv_fd(sv[1], &fd), -KAOS_EINVAL);
	assert_int_equal(fd, -1);
	/* the peer hung up */
	close(sv[0]);
	assert_int_equal(kaos_ipc_recv_fd(sv[1], &fd), -KAOS_EPEER);
	close(sv[1]);
	assert_int_equal(kaos_ipc_send_fd(-1, 0), -KAOS_EINVAL);
	/* a descriptor that is not a channel */
	struct kaos_ipc *ch;
	int devnull = open("/dev/null", O_RDWR);
	assert_int_equal(kaos_ipc_open_fd(devnull, KAOS_IPC_CONSUMER, &ch), -KAOS_ECORRUPT);
	close(devnull);
}

/* --------------------------------------------------------------- API rules */

static void test_names_roles_and_identity(void **state)
{
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 64, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc *ch, *other;
	char path[256], longname[80];
	(void)state;

	assert_int_equal(kaos_ipc_create("", &cfg, &ch), -KAOS_EINVAL);
	assert_int_equal(kaos_ipc_create("a/b", &cfg, &ch), -KAOS_EINVAL);
	assert_int_equal(kaos_ipc_create("..", &cfg, &ch), -KAOS_EINVAL);
	assert_int_equal(kaos_ipc_create(NULL, &cfg, &ch), -KAOS_EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(kaos_ipc_create(longname, &cfg, &ch), -KAOS_EINVAL);
	assert_int_equal(kaos_ipc_path("ok", path, 4), -KAOS_EINVAL);

	const char *name = chan_name("rules");
	struct kaos_ipc_config bad = cfg;
	bad.kind = KAOS_RING_MPMC;
	assert_int_equal(kaos_ipc_create(name, &bad, &ch), -KAOS_EKIND);
	bad = cfg;
	bad.slots = 100;
	assert_int_equal(kaos_ipc_create(name, &bad, &ch), -KAOS_EINVAL);
	bad = cfg;
	bad.producers = 2; /* SPSC */
	assert_int_equal(kaos_ipc_create(name, &bad, &ch), -KAOS_EINVAL);

	assert_int_equal(kaos_ipc_create(name, &cfg, &ch), 0);
	assert_int_equal(kaos_ipc_create(name, &cfg, &other), -KAOS_ESYS);
	assert_int_equal(errno, EEXIST);
	/* one live consumer at a time; this process is alive */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &other), -KAOS_EINVAL);
	assert_non_null(strstr(kaos_ipc_last_error(), "live consumer"));
	/* wrong-role calls */
	struct msg m = {0, 0};
	assert_int_equal(kaos_ipc_send(ch, &m, 0), -KAOS_EINVAL);
	assert_int_equal(kaos_ipc_recv(ch, &m, 0), -KAOS_EEMPTY);

	/* the same ring id and name in another process; the probes fire with them */
	struct kaos_ipc_info info;
	kaos_ipc_info(ch, &info);
	assert_true(info.ring_id & 0x80000000u);
	assert_int_equal(kaos_ring_id(kaos_ipc_ring(ch)), info.ring_id);
	char want[64];
	snprintf(want, sizeof(want), "ipc:%s", name);
	want[KAOS_RING_NAME_MAX - 1] = 0;
	assert_string_equal(kaos_ring_name(kaos_ipc_ring(ch)), want);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kaos_ipc *p, *p2;
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p))
			_exit(10);
		if (kaos_ring_id(kaos_ipc_ring(p)) != info.ring_id ||
		    strcmp(kaos_ring_name(kaos_ipc_ring(p)), want) != 0)
			_exit(11);
		/* SPSC: a second live producer is refused */
		if (kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p2) != -KAOS_EINVAL)
			_exit(12);
		struct msg o = {42, 43};
		if (kaos_ipc_send(p, &o, KAOS_IPC_FOREVER) ||
		    kaos_ipc_recv(p, &o, 0) != -KAOS_EINVAL)
			_exit(13);
		kaos_ipc_close(p);
		_exit(0);
	}
	assert_int_equal(kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER), 0);
	assert_int_equal(m.seq, 42);
	assert_int_equal(kaos_ipc_recv(ch, &m, KAOS_IPC_FOREVER), KAOS_IPC_EOF);
	assert_int_equal(child_status(pid), 0);
	assert_int_equal(kaos_ipc_peer_state(ch, 0), KAOS_IPC_PEER_CLOSED);

	/* an observer handle attaches to nothing */
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_NONE, &other), 0);
	assert_int_equal(kaos_ipc_recv(other, &m, 0), -KAOS_EINVAL);
	kaos_ipc_close(other);
	/* after the consumer closes, another can attach */
	kaos_ipc_close(ch);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_CONSUMER, &ch), 0);
	assert_int_equal(kaos_ipc_recv(ch, &m, 0), KAOS_IPC_EOF);
	kaos_ipc_close(ch);
}

static void test_timeouts(void **state)
{
	const char *name = chan_name("timeout");
	struct kaos_ipc_config cfg = cfg_of(KAOS_RING_SPSC, 4, 1, KAOS_IPC_CONSUMER);
	struct kaos_ipc *c, *p;
	struct msg m = {1, 2};
	(void)state;

	assert_int_equal(kaos_ipc_create(name, &cfg, &c), 0);
	/* nobody attached yet: a wait ends by timeout, not as EOF or EPEER */
	assert_int_equal(kaos_ipc_recv(c, &m, 20), -KAOS_EEMPTY);
	assert_int_equal(kaos_ipc_recv(c, &m, 0), -KAOS_EEMPTY);
	assert_int_equal(kaos_ipc_open(name, KAOS_IPC_PRODUCER, &p), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(kaos_ipc_send(p, &m, 0), 0);
	assert_int_equal(kaos_ipc_send(p, &m, 0), -KAOS_EFULL);
	assert_int_equal(kaos_ipc_send(p, &m, 20), -KAOS_EFULL);
	struct msg four[4] = {{0, 0}};
	assert_int_equal(kaos_ipc_recv_batch(c, four, 4, 0), 4);
	assert_int_equal(kaos_ipc_recv_batch(c, four, 4, 20), -KAOS_EEMPTY);
	kaos_ipc_close(p);
	assert_int_equal(kaos_ipc_recv_batch(c, four, 4, KAOS_IPC_FOREVER), KAOS_IPC_EOF);
	kaos_ipc_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spsc_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spsc_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spsc_zero_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mpsc_two_producers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mpsc_late_producer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mpsc_dead_record_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mpsc_death_told_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spsc_fast_path_keeps_probes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spsc_heartbeat_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_death_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_consumer_death_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_scm_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recv_fd_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_roles_and_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
