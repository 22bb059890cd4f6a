/* SPDX-License-Identifier: MIT */
/* Unit tests of libkaos rings (core/ring.c): every kind, single-threaded edges. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kaos/ring.h"
#include "../../core/ring_internal.h"
#include "../../core/ring_layout.h"

static const enum kaos_ring_kind kinds[] = {KAOS_RING_SPSC, KAOS_RING_MPSC, KAOS_RING_SPMC,
					    KAOS_RING_MPMC};
#define NKINDS 4

static struct kaos_ring *mk(enum kaos_ring_kind kind, uint32_t slots, uint32_t size,
			    enum kaos_wait_policy wait)
{
	struct kaos_ring_config cfg = {
		.kind = kind, .slots = slots, .slot_size = size, .wait = wait};
	struct kaos_ring *r = NULL;

	assert_int_equal(kaos_ring_create(&cfg, &r), 0);
	assert_non_null(r);
	return r;
}

/* Message i of a test stream: every word distinct, so a torn or misplaced copy shows. */
static void fill(uint64_t *m, uint32_t size, uint64_t i)
{
	for (uint32_t w = 0; w < size / 8; w++)
		m[w] = i * 1000 + w;
}

static void check(const uint64_t *m, uint32_t size, uint64_t i)
{
	for (uint32_t w = 0; w < size / 8; w++)
		assert_int_equal(m[w], i * 1000 + w);
}

/* ------------------------------------------------------------ life cycle, info */

static void test_create_destroy(void **state)
{
	(void)state;
	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring_config cfg = {.kind = kinds[k],
					       .slots = 64,
					       .slot_size = 16,
					       .name = "orders",
					       .wait = KAOS_WAIT_SPIN};
		struct kaos_ring *r = NULL;
		struct kaos_ring_stats st;

		assert_int_equal(kaos_ring_create(&cfg, &r), 0);
		assert_int_equal(kaos_ring_kind(r), kinds[k]);
		assert_int_equal(kaos_ring_capacity(r), 64);
		assert_int_equal(kaos_ring_slot_size(r), 16);
		assert_string_equal(kaos_ring_name(r), "orders");
		assert_int_equal(kaos_ring_count(r), 0);
		assert_true(((uintptr_t)r & 63) == 0);
		memset(&st, 0xff, sizeof(st));
		kaos_ring_stats(r, &st);
		assert_int_equal(st.sent_msgs, 0);
		assert_int_equal(st.recv_msgs, 0);
		assert_int_equal(st.bp_episodes, 0);
		assert_int_equal(st.bp_wait_ns, 0);
		assert_int_equal(st.retransmits, 0);
		kaos_ring_destroy(r);
	}
	kaos_ring_destroy(NULL); /* no-op */
}

static void test_ids_names(void **state)
{
	(void)state;
	struct kaos_ring *a = mk(KAOS_RING_SPSC, 2, 8, KAOS_WAIT_FAIL);
	struct kaos_ring *b = mk(KAOS_RING_MPMC, 2, 8, KAOS_WAIT_FAIL);

	assert_true(kaos_ring_id(a) >= 1);
	assert_true(kaos_ring_id(b) >= 1);
	assert_int_not_equal(kaos_ring_id(a), kaos_ring_id(b));
	assert_string_equal(kaos_ring_name(a), ""); /* no name given */

	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPMC,
				       .slots = 4,
				       .slot_size = 8,
				       .id = 4242,
				       .name = "a-name-that-is-longer-than-thirty-one-bytes"};
	struct kaos_ring *c = NULL;
	assert_int_equal(kaos_ring_create(&cfg, &c), 0);
	assert_int_equal(kaos_ring_id(c), 4242);
	assert_int_equal(strlen(kaos_ring_name(c)), 31);
	assert_memory_equal(kaos_ring_name(c), cfg.name, 31);

	/* NULL ring: neutral answers, no crash */
	assert_int_equal(kaos_ring_id(NULL), 0);
	assert_string_equal(kaos_ring_name(NULL), "");
	assert_int_equal(kaos_ring_capacity(NULL), 0);
	assert_int_equal(kaos_ring_slot_size(NULL), 0);
	assert_int_equal(kaos_ring_count(NULL), 0);
	kaos_ring_destroy(a);
	kaos_ring_destroy(b);
	kaos_ring_destroy(c);
}

static void test_strerror(void **state)
{
	(void)state;
	static const int codes[] = {KAOS_OK,	 KAOS_EINVAL,  KAOS_ENOMEM, KAOS_EFULL,
				    KAOS_EEMPTY, KAOS_EKIND,   KAOS_ESYS,   KAOS_ECORRUPT,
				    KAOS_EPEER,	 KAOS_EVERSION};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = kaos_strerror(-codes[i]);
		assert_non_null(s);
		assert_string_equal(s, kaos_strerror(codes[i]));
		assert_string_not_equal(s, "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, kaos_strerror(codes[j]));
	}
	assert_string_equal(kaos_strerror(-KAOS_EFULL), "ring full (backpressure)");
	assert_string_equal(kaos_strerror(999), "unknown error");
	assert_string_equal(kaos_strerror(-999), "unknown error");
}

/* ------------------------------------------------------------ bad arguments */

static void expect_create_einval(struct kaos_ring_config cfg)
{
	struct kaos_ring *r = (struct kaos_ring *)(uintptr_t)0x1;

	assert_int_equal(kaos_ring_create(&cfg, &r), -KAOS_EINVAL);
	assert_null(r);
}

static void test_bad_config(void **state)
{
	(void)state;
	struct kaos_ring_config ok = {.kind = KAOS_RING_SPSC, .slots = 8, .slot_size = 8};
	struct kaos_ring_config c;
	struct kaos_ring *r = NULL;

	assert_int_equal(kaos_ring_create(NULL, &r), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_create(&ok, NULL), -KAOS_EINVAL);

	static const uint32_t bad_slots[] = {0, 1, 3, 6, 100, 0x80000000u, 0xffffffffu};
	for (size_t i = 0; i < sizeof(bad_slots) / sizeof(bad_slots[0]); i++) {
		c = ok;
		c.slots = bad_slots[i];
		expect_create_einval(c);
		assert_int_equal(kaos_ring_mem_size(bad_slots[i], 8), 0);
	}
	static const uint32_t bad_sizes[] = {0, 4, 7, 12, 100, 136, 256, 0xfffffff8u};
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		c = ok;
		c.slot_size = bad_sizes[i];
		expect_create_einval(c);
		assert_int_equal(kaos_ring_mem_size(8, bad_sizes[i]), 0);
	}
	c = ok;
	c.kind = (enum kaos_ring_kind)4;
	expect_create_einval(c);
	c = ok;
	c.kind = (enum kaos_ring_kind) - 1;
	expect_create_einval(c);
	c = ok;
	c.wait = (enum kaos_wait_policy)3;
	expect_create_einval(c);

	/* the extremes that are valid */
	assert_true(kaos_ring_mem_size(2, 8) > 0);
	assert_true(kaos_ring_mem_size(1u << 30, 128) > (size_t)128 << 30);
	c = ok;
	c.slots = 2;
	c.slot_size = 128;
	assert_int_equal(kaos_ring_create(&c, &r), 0);
	kaos_ring_destroy(r);
}

static void test_bad_ops(void **state)
{
	(void)state;
	uint64_t m[2] = {0};
	void *slot = NULL;
	const void *cslot = NULL;

	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], 4, 8, KAOS_WAIT_FAIL);

		assert_int_equal(kaos_ring_send(NULL, m), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_send(r, NULL), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_recv(NULL, m), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_recv(r, NULL), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_send_batch(NULL, m, 1), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_send_batch(r, NULL, 1), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_send_batch(r, m, 0), 0);
		assert_int_equal(kaos_ring_recv_batch(NULL, m, 1), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_recv_batch(r, NULL, 1), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_recv_batch(r, m, 0), 0);
		assert_int_equal(kaos_ring_claim(NULL, 1, &slot), -KAOS_EINVAL);
		assert_int_equal(kaos_ring_peek(NULL, 1, &cslot), -KAOS_EINVAL);
		if (kinds[k] == KAOS_RING_SPSC) {
			assert_int_equal(kaos_ring_claim(r, 1, NULL), -KAOS_EINVAL);
			assert_int_equal(kaos_ring_claim(r, 0, &slot), -KAOS_EINVAL);
			assert_int_equal(kaos_ring_peek(r, 1, NULL), -KAOS_EINVAL);
			assert_int_equal(kaos_ring_peek(r, 0, &cslot), -KAOS_EINVAL);
		} else {
			assert_int_equal(kaos_ring_claim(r, 1, &slot), -KAOS_EKIND);
			assert_int_equal(kaos_ring_peek(r, 1, &cslot), -KAOS_EKIND);
		}
		/* publish/release without a claim, or on the wrong kind: ignored */
		kaos_ring_publish(r, 3);
		kaos_ring_release(r, 3);
		kaos_ring_publish(NULL, 1);
		kaos_ring_release(NULL, 1);
		kaos_ring_note_retransmit(NULL, 1);
		kaos_ring_stats(r, NULL);
		assert_int_equal(kaos_ring_count(r), 0);
		assert_int_equal(kaos_ring_recv(r, m), -KAOS_EEMPTY);
		kaos_ring_destroy(r);
	}
	struct kaos_ring_stats st;
	memset(&st, 0xff, sizeof(st));
	kaos_ring_stats(NULL, &st);
	assert_int_equal(st.sent_msgs, 0);
}

/* ------------------------------------------------------------ data path */

static void test_fifo_full_empty(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {8, 24, 128};
	uint64_t m[16];

	for (int k = 0; k < NKINDS; k++) {
		for (size_t s = 0; s < 3; s++) {
			uint32_t size = sizes[s];
			struct kaos_ring *r = mk(kinds[k], 16, size, KAOS_WAIT_FAIL);

			assert_int_equal(kaos_ring_recv(r, m), -KAOS_EEMPTY);
			for (uint64_t i = 0; i < 16; i++) {
				fill(m, size, i);
				assert_int_equal(kaos_ring_send(r, m), 0);
				assert_int_equal(kaos_ring_count(r), i + 1);
			}
			fill(m, size, 99);
			assert_int_equal(kaos_ring_send(r, m), -KAOS_EFULL);
			for (uint64_t i = 0; i < 16; i++) {
				memset(m, 0, sizeof(m));
				assert_int_equal(kaos_ring_recv(r, m), 0);
				check(m, size, i);
			}
			assert_int_equal(kaos_ring_recv(r, m), -KAOS_EEMPTY);
			assert_int_equal(kaos_ring_count(r), 0);

			struct kaos_ring_stats st;
			kaos_ring_stats(r, &st);
			assert_int_equal(st.sent_msgs, 16);
			assert_int_equal(st.recv_msgs, 16);
			assert_int_equal(st.sent_bytes, 16 * size);
			assert_int_equal(st.recv_bytes, 16 * size);
			assert_int_equal(st.bp_episodes, 1);
			assert_int_equal(st.bp_wait_ns, 0);
			kaos_ring_destroy(r);
		}
	}
}

/* Many laps through a tiny ring with varying fill levels. */
static void test_wraparound(void **state)
{
	(void)state;
	uint64_t m[4];

	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], 4, 32, KAOS_WAIT_FAIL);
		uint64_t sent = 0, recvd = 0;

		for (int round = 0; round < 5000; round++) {
			uint32_t burst = 1 + (uint32_t)(round % 4);
			for (uint32_t j = 0; j < burst; j++) {
				fill(m, 32, sent++);
				assert_int_equal(kaos_ring_send(r, m), 0);
			}
			uint32_t take = (round % 3 == 0) ? burst - 1 : burst;
			for (uint32_t j = 0; j < take; j++) {
				assert_int_equal(kaos_ring_recv(r, m), 0);
				check(m, 32, recvd++);
			}
			while (kaos_ring_recv(r, m) == 0) /* drain what was left */
				check(m, 32, recvd++);
		}
		assert_int_equal(sent, recvd);
		assert_true(sent > 1000 * 4); /* many laps */
		struct kaos_ring_stats st;
		kaos_ring_stats(r, &st);
		assert_int_equal(st.sent_msgs, sent);
		assert_int_equal(st.recv_msgs, recvd);
		assert_int_equal(st.bp_episodes, 0);
		kaos_ring_destroy(r);
	}
}

static void test_batches(void **state)
{
	(void)state;
	enum { CAP = 16, SZ = 16 };
	uint64_t in[CAP * 2 * (SZ / 8)], out[CAP * 2 * (SZ / 8)];

	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], CAP, SZ, KAOS_WAIT_FAIL);
		uint64_t sent = 0, recvd = 0;

		/* every batch size, at every offset of the ring (wraps inside batches) */
		for (uint32_t b = 1; b <= CAP; b++) {
			for (uint32_t rep = 0; rep < 3; rep++) {
				for (uint32_t j = 0; j < b; j++)
					fill(in + j * (SZ / 8), SZ, sent + j);
				assert_int_equal(kaos_ring_send_batch(r, in, b), (int)b);
				sent += b;
				memset(out, 0, sizeof(out));
				assert_int_equal(kaos_ring_recv_batch(r, out, CAP * 2), (int)b);
				for (uint32_t j = 0; j < b; j++)
					check(out + j * (SZ / 8), SZ, recvd + j);
				recvd += b;
			}
		}
		/* recv_batch caps at max and on an empty ring returns 0 */
		for (uint32_t j = 0; j < 5; j++)
			fill(in + j * (SZ / 8), SZ, sent + j);
		assert_int_equal(kaos_ring_send_batch(r, in, 5), 5);
		sent += 5;
		assert_int_equal(kaos_ring_recv_batch(r, out, 2), 2);
		check(out, SZ, recvd);
		check(out + SZ / 8, SZ, recvd + 1);
		recvd += 2;
		assert_int_equal(kaos_ring_recv_batch(r, out, CAP), 3);
		check(out, SZ, recvd);
		recvd += 3;
		assert_int_equal(kaos_ring_recv_batch(r, out, CAP), 0);

		/* FAIL policy: a batch sends what fits; partial sends are no episode */
		assert_int_equal(kaos_ring_send_batch(r, in, 10), 10);
		assert_int_equal(kaos_ring_send_batch(r, in, 10), CAP - 10);
		struct kaos_ring_stats st;
		kaos_ring_stats(r, &st);
		assert_int_equal(st.bp_episodes, 0);
		assert_int_equal(kaos_ring_send_batch(r, in, 10), 0);
		assert_int_equal(kaos_ring_send_batch(r, in, 1), 0);
		kaos_ring_stats(r, &st);
		assert_int_equal(st.bp_episodes, 2);
		assert_int_equal(st.bp_wait_ns, 0);
		assert_int_equal(kaos_ring_count(r), CAP);
		assert_int_equal(kaos_ring_recv_batch(r, out, CAP * 2), CAP);
		kaos_ring_destroy(r);
	}
}

/* Exact episode counts with KAOS_WAIT_FAIL, mixed single and batch sends. */
static void test_backpressure_fail(void **state)
{
	(void)state;
	uint64_t m[8] = {0};

	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], 8, 8, KAOS_WAIT_FAIL);
		struct kaos_ring_stats st;

		for (int i = 0; i < 8; i++)
			assert_int_equal(kaos_ring_send(r, m), 0);
		for (int i = 0; i < 37; i++)
			assert_int_equal(kaos_ring_send(r, m), -KAOS_EFULL);
		for (int i = 0; i < 5; i++)
			assert_int_equal(kaos_ring_send_batch(r, m, 3), 0);
		kaos_ring_stats(r, &st);
		assert_int_equal(st.bp_episodes, 42);
		assert_int_equal(st.bp_wait_ns, 0);
		assert_int_equal(st.sent_msgs, 8);
		/* one slot frees: the next send succeeds, the one after is an episode again */
		assert_int_equal(kaos_ring_recv(r, m), 0);
		assert_int_equal(kaos_ring_send(r, m), 0);
		assert_int_equal(kaos_ring_send(r, m), -KAOS_EFULL);
		kaos_ring_stats(r, &st);
		assert_int_equal(st.bp_episodes, 43);
		assert_int_equal(st.sent_msgs, 9);
		assert_int_equal(st.recv_msgs, 1);
		kaos_ring_destroy(r);
	}
}

static void test_claim_publish_peek_release(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 8, 16, KAOS_WAIT_FAIL);
	uint64_t m[2];
	void *w = NULL;
	const void *rd = NULL;

	/* move both cursors to position 5 */
	for (uint64_t i = 0; i < 5; i++) {
		fill(m, 16, i);
		assert_int_equal(kaos_ring_send(r, m), 0);
		assert_int_equal(kaos_ring_recv(r, m), 0);
	}
	/* 8 free, but only 3 contiguous before the ring's end */
	assert_int_equal(kaos_ring_claim(r, 8, &w), 3);
	for (uint64_t j = 0; j < 3; j++)
		fill((uint64_t *)w + j * 2, 16, 100 + j);
	kaos_ring_publish(r, 2); /* partial publish; one stays claimed */
	assert_int_equal(kaos_ring_count(r), 2);
	kaos_ring_publish(r, 5); /* more than claimed: clamped to the one left */
	assert_int_equal(kaos_ring_count(r), 3);
	kaos_ring_publish(r, 1); /* nothing claimed: ignored */
	assert_int_equal(kaos_ring_count(r), 3);

	/* the next claim starts at slot 0 */
	assert_int_equal(kaos_ring_claim(r, 8, &w), 5);
	assert_ptr_equal(w, (uint8_t *)(r) + sizeof(struct kaos_ring));
	for (uint64_t j = 0; j < 5; j++)
		fill((uint64_t *)w + j * 2, 16, 103 + j);
	kaos_ring_publish(r, 5);
	assert_int_equal(kaos_ring_count(r), 8);
	assert_int_equal(kaos_ring_claim(r, 1, &w), 0); /* full: FAIL policy returns 0 */
	assert_int_equal(kaos_ring_send(r, m), -KAOS_EFULL);

	/* peek also stops at the ring's end */
	assert_int_equal(kaos_ring_peek(r, 8, &rd), 3);
	for (uint64_t j = 0; j < 3; j++)
		check((const uint64_t *)rd + j * 2, 16, 100 + j);
	kaos_ring_release(r, 1);
	kaos_ring_release(r, 9); /* clamped to the 2 left */
	assert_int_equal(kaos_ring_count(r), 5);
	kaos_ring_release(r, 1); /* nothing peeked: ignored */
	assert_int_equal(kaos_ring_count(r), 5);
	assert_int_equal(kaos_ring_peek(r, 2, &rd), 2);
	check(rd, 16, 103);
	kaos_ring_release(r, 2);
	/* plain recv continues where release stopped */
	assert_int_equal(kaos_ring_recv(r, m), 0);
	check(m, 16, 105);
	assert_int_equal(kaos_ring_peek(r, 8, &rd), 2);
	kaos_ring_release(r, 2);
	assert_int_equal(kaos_ring_peek(r, 8, &rd), 0); /* empty */

	struct kaos_ring_stats st;
	kaos_ring_stats(r, &st);
	assert_int_equal(st.sent_msgs, 13);
	assert_int_equal(st.recv_msgs, 13);
	assert_int_equal(st.bp_episodes, 2);
	kaos_ring_destroy(r);
}

/* Mixing the copy and zero-copy APIs wrongly must not push a cursor past its peer. */
static void test_zero_copy_misuse(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 4, 8, KAOS_WAIT_FAIL);
	uint64_t m = 1;
	void *w;
	const void *rd;

	assert_int_equal(kaos_ring_claim(r, 4, &w), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(kaos_ring_send(r, &m), 0); /* fills the claimed slots */
	kaos_ring_publish(r, 4);			    /* nothing left to publish */
	assert_int_equal(kaos_ring_count(r), 4);

	assert_int_equal(kaos_ring_peek(r, 4, &rd), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(kaos_ring_recv(r, &m), 0); /* consumes the peeked slots */
	kaos_ring_release(r, 4);			    /* nothing left to release */
	assert_int_equal(kaos_ring_count(r), 0);
	struct kaos_ring_stats st;
	kaos_ring_stats(r, &st);
	assert_int_equal(st.sent_msgs, 4);
	assert_int_equal(st.recv_msgs, 4);
	assert_int_equal(kaos_ring_send(r, &m), 0); /* still a working ring */
	assert_int_equal(kaos_ring_recv(r, &m), 0);
	assert_int_equal(kaos_ring_recv(r, &m), -KAOS_EEMPTY);
	kaos_ring_destroy(r);
}

static void test_stats_retransmit(void **state)
{
	(void)state;
	for (int k = 0; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], 32, 40, KAOS_WAIT_FAIL);
		uint64_t m[5] = {0}, big[5 * 20];
		struct kaos_ring_stats st;

		for (int i = 0; i < 7; i++)
			assert_int_equal(kaos_ring_send(r, m), 0);
		assert_int_equal(kaos_ring_send_batch(r, big, 20), 20);
		assert_int_equal(kaos_ring_recv_batch(r, big, 11), 11);
		assert_int_equal(kaos_ring_recv(r, m), 0);
		kaos_ring_note_retransmit(r, 5);
		kaos_ring_note_retransmit(r, 6);
		kaos_ring_stats(r, &st);
		assert_int_equal(st.sent_msgs, 27);
		assert_int_equal(st.sent_bytes, 27 * 40);
		assert_int_equal(st.recv_msgs, 12);
		assert_int_equal(st.recv_bytes, 12 * 40);
		assert_int_equal(st.retransmits, 2);
		assert_int_equal(kaos_ring_count(r), 15);
		kaos_ring_destroy(r);
	}
}

/* ------------------------------------------------------------ waiting policies */

struct drain_arg {
	struct kaos_ring *r;
	uint64_t got;
	int bad; /* cmocka asserts only in the main thread */
};

/* Waits until the producer is stalled (an episode is counted), then drains everything. */
static void *drain_after_stall(void *p)
{
	struct drain_arg *a = p;
	struct kaos_ring_stats st;
	uint64_t m;

	do {
		kaos_ring_stats(a->r, &st);
	} while (st.bp_episodes == 0);
	while (a->got < 5) {
		if (kaos_ring_recv(a->r, &m) == 0) {
			a->bad |= m != a->got;
			a->got++;
		}
	}
	return NULL;
}

static void test_wait_policies(void **state)
{
	(void)state;
	static const enum kaos_wait_policy pol[] = {KAOS_WAIT_SPIN, KAOS_WAIT_YIELD};

	for (int k = 0; k < NKINDS; k++) {
		for (int p = 0; p < 2; p++) {
			struct kaos_ring_config cfg = {.kind = kinds[k],
						       .slots = 4,
						       .slot_size = 8,
						       .wait = pol[p],
						       .spin_limit = 8};
			struct kaos_ring *r = NULL;
			struct drain_arg a = {0};
			struct kaos_ring_stats st;
			pthread_t t;

			assert_int_equal(kaos_ring_create(&cfg, &r), 0);
			for (uint64_t i = 0; i < 4; i++)
				assert_int_equal(kaos_ring_send(r, &i), 0);
			a.r = r;
			assert_int_equal(pthread_create(&t, NULL, drain_after_stall, &a), 0);
			uint64_t v = 4;
			assert_int_equal(kaos_ring_send(r, &v), 0); /* waits for the drain */
			assert_int_equal(pthread_join(t, NULL), 0);
			assert_int_equal(a.got, 5);
			assert_int_equal(a.bad, 0);
			kaos_ring_stats(r, &st);
			assert_int_equal(st.bp_episodes, 1);
			assert_true(st.bp_wait_ns > 0);
			assert_int_equal(st.sent_msgs, 5);
			assert_int_equal(st.recv_msgs, 5);
			kaos_ring_destroy(r);
		}
	}
}

/* ------------------------------------------------------------ placement */

struct placed {
	void *mem;
	size_t size;
	struct kaos_ring *r;
};

static void place(struct placed *p, enum kaos_ring_kind kind)
{
	struct kaos_ring_config cfg = {
		.kind = kind, .slots = 8, .slot_size = 16, .name = "shm", .id = 7};

	p->size = kaos_ring_mem_size(8, 16);
	assert_true(p->size >= sizeof(struct kaos_ring) + 8 * (16 + 8 + 16));
	assert_int_equal(p->size % 64, 0);
	p->mem = aligned_alloc(64, p->size);
	assert_non_null(p->mem);
	assert_int_equal(kaos_ring_init_at(p->mem, p->size, &cfg), 0);
	assert_int_equal(kaos_ring_validate_at(p->mem, p->size), 0);
	p->r = p->mem;
}

static void test_init_at_validate(void **state)
{
	(void)state;
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC, .slots = 8, .slot_size = 16};
	size_t size = kaos_ring_mem_size(8, 16);
	uint8_t *buf = aligned_alloc(64, size + 64);

	assert_non_null(buf);
	assert_int_equal(kaos_ring_init_at(NULL, size, &cfg), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_init_at(buf + 8, size, &cfg), -KAOS_EINVAL); /* misaligned */
	assert_int_equal(kaos_ring_init_at(buf, size - 1, &cfg), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_init_at(buf, size, NULL), -KAOS_EINVAL);
	cfg.slots = 6;
	assert_int_equal(kaos_ring_init_at(buf, size, &cfg), -KAOS_EINVAL);
	cfg.slots = 8;
	assert_int_equal(kaos_ring_validate_at(NULL, size), -KAOS_ECORRUPT);
	memset(buf, 0, size);
	assert_int_equal(kaos_ring_validate_at(buf, size), -KAOS_ECORRUPT); /* never formatted */
	free(buf);

	for (int k = 0; k < NKINDS; k++) {
		struct placed p;
		uint64_t m[2];

		place(&p, kinds[k]);
		assert_int_equal(kaos_ring_id(p.r), 7);
		assert_string_equal(kaos_ring_name(p.r), "shm");
		for (uint64_t i = 0; i < 20; i++) {
			fill(m, 16, i);
			assert_int_equal(kaos_ring_send(p.r, m), 0);
			assert_int_equal(kaos_ring_recv(p.r, m), 0);
			check(m, 16, i);
		}
		for (uint64_t i = 0; i < 5; i++)
			assert_int_equal(kaos_ring_send(p.r, m), 0);
		/* a live block with messages in flight still validates */
		assert_int_equal(kaos_ring_validate_at(p.mem, p.size), 0);
		assert_int_equal(kaos_ring_validate_at(p.mem, p.size - 1), -KAOS_ECORRUPT);
		assert_int_equal(kaos_ring_validate_at((uint8_t *)p.mem + 64, p.size),
				 -KAOS_ECORRUPT);
		/* destroy of a placed ring frees nothing (ASan/valgrind would see a double free) */
		kaos_ring_destroy(p.r);
		assert_int_equal(kaos_ring_validate_at(p.mem, p.size), 0);
		free(p.mem);
	}
}

/* Each corruption is applied to a fresh, valid block. */
enum corruption {
	C_MAGIC,
	C_VERSION,
	C_KIND,
	C_WAIT,
	C_SLOTS_NPOW2,
	C_SLOTS_BIG,
	C_SLOTS_ZERO,
	C_MASK,
	C_SLOT_SIZE,
	C_SLOT_SIZE_ODD,
	C_MEM_SIZE,
	C_SEQ_OFF,
	C_STAMP_OFF,
	C_FLAGS_OWNED,
	C_NAME_UNTERMINATED,
	C_HEAD_AHEAD,
	C_TAIL_AHEAD,
	C_PENDING,
	C_COUNT
};

static void corrupt(struct kaos_ring *r, enum corruption c)
{
	switch (c) {
	case C_MAGIC:
		r->hdr.magic ^= 1;
		break;
	case C_VERSION:
		r->hdr.version++;
		break;
	case C_KIND:
		r->hdr.kind = 4;
		break;
	case C_WAIT:
		r->hdr.wait = 77;
		break;
	case C_SLOTS_NPOW2:
		r->hdr.slots = 6;
		break;
	case C_SLOTS_BIG:
		r->hdr.slots = 1u << 20; /* valid geometry, but larger than the block */
		r->hdr.mask = (1u << 20) - 1;
		break;
	case C_SLOTS_ZERO:
		r->hdr.slots = 0;
		r->hdr.mask = UINT32_MAX;
		break;
	case C_MASK:
		r->hdr.mask = 15;
		break;
	case C_SLOT_SIZE:
		r->hdr.slot_size = 256;
		break;
	case C_SLOT_SIZE_ODD:
		r->hdr.slot_size = 12;
		break;
	case C_MEM_SIZE:
		r->hdr.mem_size += 128;
		break;
	case C_SEQ_OFF:
		r->hdr.seq_off = 1u << 30;
		break;
	case C_STAMP_OFF:
		r->hdr.stamp_off -= 8;
		break;
	case C_FLAGS_OWNED:
		r->hdr.flags = KAOS_RING_F_OWNED;
		break;
	case C_NAME_UNTERMINATED:
		memset(r->hdr.name, 'x', sizeof(r->hdr.name));
		break;
	case C_HEAD_AHEAD: /* more than one lap ahead of the consumer */
		atomic_store(&r->prod.pos, atomic_load(&r->cons.pos) + r->hdr.slots + 1);
		break;
	case C_TAIL_AHEAD: /* consumer ahead of the producer */
		atomic_store(&r->cons.pos, atomic_load(&r->prod.pos) + 1);
		break;
	case C_PENDING:
		r->prod.pending = 1000;
		break;
	case C_COUNT:
		break;
	}
}

static void test_validate_corrupt(void **state)
{
	(void)state;
	for (int k = 0; k < NKINDS; k++) {
		for (int c = 0; c < C_COUNT; c++) {
			struct placed p;
			uint64_t m[2] = {1, 2};

			place(&p, kinds[k]);
			assert_int_equal(kaos_ring_send(p.r, m), 0);
			corrupt(p.r, (enum corruption)c);
			int rc = kaos_ring_validate_at(p.mem, p.size);
			if (c == C_VERSION)
				assert_int_equal(rc, -KAOS_EVERSION);
			else
				assert_int_equal(rc, -KAOS_ECORRUPT);
			free(p.mem);
		}
	}
}

/* A created (malloc-owned) ring is not a valid placed block. */
static void test_validate_owned(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 8, 16, KAOS_WAIT_FAIL);

	assert_int_equal(kaos_ring_validate_at(r, kaos_ring_mem_size(8, 16)), -KAOS_ECORRUPT);
	kaos_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_ids_names),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_bad_ops),
		cmocka_unit_test(test_fifo_full_empty),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_backpressure_fail),
		cmocka_unit_test(test_claim_publish_peek_release),
		cmocka_unit_test(test_zero_copy_misuse),
		cmocka_unit_test(test_stats_retransmit),
		cmocka_unit_test(test_wait_policies),
		cmocka_unit_test(test_init_at_validate),
		cmocka_unit_test(test_validate_corrupt),
		cmocka_unit_test(test_validate_owned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
