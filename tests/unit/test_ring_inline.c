/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the header-inline send/recv (include/kaos/ring_inline.h):
 * same results as the library calls on every kind, the probe gate still
 * taken through the inline path, and the `limit` invariant it relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kaos/probes.h"
#include "kaos/ring.h"
#include "kaos/ring_inline.h"
#include "../../core/ring_internal.h"
#include "../../core/ring_layout.h"

static const enum kaos_ring_kind kinds[] = {KAOS_RING_SPSC, KAOS_RING_MPSC, KAOS_RING_SPMC,
					    KAOS_RING_MPMC};
#define NKINDS 4

static struct kaos_ring *mk(enum kaos_ring_kind kind, uint32_t slots, uint32_t size)
{
	struct kaos_ring_config cfg = {
		.kind = kind, .slots = slots, .slot_size = size, .wait = KAOS_WAIT_FAIL};
	struct kaos_ring *r = NULL;

	assert_int_equal(kaos_ring_create(&cfg, &r), 0);
	return r;
}

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

/*
 * Fill to full, drain to empty, several laps, every slot size class and kind;
 * inline and library calls alternate per lap on both sides, so each picks up
 * where the other left the cursors and cached limits.
 */
static void test_inline_fifo_full_empty(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {8, 16, 64, 128};
	uint64_t m[16];

	for (int k = 0; k < NKINDS; k++) {
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			uint32_t size = sizes[z];
			struct kaos_ring *r = mk(kinds[k], 8, size);
			uint64_t sent = 0, got = 0;

			for (int lap = 0; lap < 5; lap++) {
				int inl = lap % 2 == 0;
				for (int i = 0; i < 8; i++) {
					fill(m, size, sent);
					int rc = inl ? kaos_ring_send_inline(r, m)
						     : kaos_ring_send(r, m);
					assert_int_equal(rc, 0);
					sent++;
				}
				fill(m, size, 999);
				assert_int_equal(kaos_ring_send_inline(r, m), -KAOS_EFULL);
				assert_int_equal(kaos_ring_count(r), 8);
				for (int i = 0; i < 8; i++) {
					memset(m, 0xee, sizeof(m));
					int rc = inl ? kaos_ring_recv(r, m)
						     : kaos_ring_recv_inline(r, m);
					assert_int_equal(rc, 0);
					check(m, size, got);
					got++;
				}
				assert_int_equal(kaos_ring_recv_inline(r, m), -KAOS_EEMPTY);
			}
			struct kaos_ring_stats st;
			kaos_ring_stats(r, &st);
			assert_int_equal(st.sent_msgs, 40);
			assert_int_equal(st.recv_msgs, 40);
			assert_int_equal(st.sent_bytes, 40 * size);
			assert_int_equal(st.bp_episodes, 5); /* one EFULL per lap */
			kaos_ring_destroy(r);
		}
	}
}

/* Interleaved one-by-one traffic: the consumer's cached limit must follow the producer. */
static void test_inline_interleaved(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 16, 8);
	uint64_t v = 0, sent = 0, got = 0;

	for (int round = 0; round < 1000; round++) {
		uint64_t n = (uint64_t)(round % 7) + 1;
		for (uint64_t i = 0; i < n; i++, sent++)
			assert_int_equal(kaos_ring_send_inline(r, &sent), 0);
		for (uint64_t i = 0; i < n; i++, got++) {
			assert_int_equal(kaos_ring_recv_inline(r, &v), 0);
			assert_int_equal(v, got);
		}
		assert_int_equal(kaos_ring_recv_inline(r, &v), -KAOS_EEMPTY);
	}
	kaos_ring_destroy(r);
}

static void test_inline_bad_args(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 8, 8);
	uint64_t m = 1;

	assert_int_equal(kaos_ring_send_inline(NULL, &m), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_send_inline(r, NULL), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_recv_inline(NULL, &m), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_recv_inline(r, NULL), -KAOS_EINVAL);
	assert_int_equal(kaos_ring_count(r), 0);
	kaos_ring_destroy(r);
}

/* The other kinds keep limit at 0, so that the inline compare sends them to the library. */
static void test_inline_limit_zero_for_multi_kinds(void **state)
{
	(void)state;
	uint64_t m[2] = {0};

	for (int k = 1; k < NKINDS; k++) {
		struct kaos_ring *r = mk(kinds[k], 8, 16);
		for (int i = 0; i < 20; i++) {
			kaos_ring_send_inline(r, m);
			kaos_ring_send_batch(r, m, 1);
			kaos_ring_recv_inline(r, m);
		}
		assert_int_equal(r->prod.limit, 0);
		assert_int_equal(r->cons.limit, 0);
		kaos_ring_destroy(r);
	}
}

static const struct kaos_ring_stamp *stamp_of(const struct kaos_ring *r, uint64_t seq)
{
	const struct kaos_ring_stamp *st =
		(const struct kaos_ring_stamp *)((const uint8_t *)r + r->hdr.stamp_off);
	return &st[seq & r->hdr.mask];
}

/*
 * Traced (semaphores up, sample_every 8): inline sends stamp exactly the
 * sampled messages, i.e. every sampled message left the inline path for the
 * library's probe gate; untraced again, no stamps.
 */
static void test_inline_probe_gate(void **state)
{
	(void)state;
	struct kaos_ring *r = mk(KAOS_RING_SPSC, 64, 8);
	uint64_t m = 0;

	KAOS_PROBE_SEMA(kaos, send)++;
	KAOS_PROBE_SEMA(kaos, recv)++;
	kaos_probe_control.sample_every = 8;
	for (int i = 0; i < 40; i++) {
		assert_int_equal(kaos_ring_send_inline(r, &m), 0);
		/* the next sampled position is never beyond the inline path's limit */
		assert_true(r->prod.limit <= ((uint64_t)i + 1 + 7) / 8 * 8);
	}
	for (uint64_t seq = 0; seq < 40; seq++) {
		if (seq % 8 == 0)
			assert_int_equal(stamp_of(r, seq)->seq, seq);
		else
			assert_int_not_equal(stamp_of(r, seq)->seq, seq);
	}
	for (int i = 0; i < 40; i++)
		assert_int_equal(kaos_ring_recv_inline(r, &m), 0);
	KAOS_PROBE_SEMA(kaos, send)--;
	KAOS_PROBE_SEMA(kaos, recv)--;
	kaos_probe_control.sample_every = 1;
	for (int i = 0; i < 40; i++)
		assert_int_equal(kaos_ring_send_inline(r, &m), 0);
	for (uint64_t seq = 40; seq < 80; seq++)
		assert_int_not_equal(stamp_of(r, seq)->seq, seq);
	kaos_ring_destroy(r);
}

/* A placed block of another kind that claims a nonzero limit is refused. */
static void test_validate_limit(void **state)
{
	(void)state;
	struct kaos_ring_config cfg = {.slots = 8, .slot_size = 16};
	size_t size = kaos_ring_mem_size(8, 16);

	for (int k = 0; k < NKINDS; k++) {
		for (int side = 0; side < 2; side++) {
			void *mem = aligned_alloc(128, size);
			assert_non_null(mem);
			cfg.kind = kinds[k];
			assert_int_equal(kaos_ring_init_at(mem, size, &cfg), 0);
			struct kaos_ring *r = mem;
			if (side)
				r->cons.limit = 3;
			else
				r->prod.limit = 3;
			/* SPSC: a limit is normal state (at worst stale: it is private to a side)
			 */
			assert_int_equal(kaos_ring_validate_at(mem, size),
					 kinds[k] == KAOS_RING_SPSC ? 0 : -KAOS_ECORRUPT);
			free(mem);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_fifo_full_empty),
		cmocka_unit_test(test_inline_interleaved),
		cmocka_unit_test(test_inline_bad_args),
		cmocka_unit_test(test_inline_limit_zero_for_multi_kinds),
		cmocka_unit_test(test_inline_probe_gate),
		cmocka_unit_test(test_validate_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
