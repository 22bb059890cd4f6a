/* SPDX-License-Identifier: MIT */
/*
 * The reliable UDP's message buffers (core/udp_pool.c): buffers of
 * messages that fill a fragment of their own are recycled, newest first,
 * up to KAOS_UDP_POOL_KEEP; smaller and larger ones are not kept. Under ASan a buffer used after it
 * was freed, or one never freed, fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../core/udp_pool.h"

static void small_buffers_recycled(void **state)
{
	struct kaos_udp_pool p = {0};
	uint8_t *a = kaos_udp_pool_get(&p, KAOS_UDP_POOL_MIN + 1);
	uint8_t *b = kaos_udp_pool_get(&p, KAOS_UDP_POOL_SIZE);

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	memset(a, 1, KAOS_UDP_POOL_SIZE); /* any pooled message gets a whole buffer */
	memset(b, 2, KAOS_UDP_POOL_SIZE);
	kaos_udp_pool_put(&p, a, KAOS_UDP_POOL_MIN + 1);
	kaos_udp_pool_put(&p, b, KAOS_UDP_POOL_SIZE);
	assert_int_equal(p.count, 2);
	assert_ptr_equal(kaos_udp_pool_get(&p, 1000), b); /* newest first: still in cache */
	assert_ptr_equal(kaos_udp_pool_get(&p, 1024), a);
	assert_int_equal(p.count, 0);
	kaos_udp_pool_put(&p, a, 1000);
	kaos_udp_pool_put(&p, b, 1024);
	kaos_udp_pool_put(&p, NULL, 1000); /* ignored */
	assert_int_equal(p.count, 2);
	kaos_udp_pool_drain(&p);
	assert_int_equal(p.count, 0);
	assert_null(p.free);
}

static void small_and_large_buffers_not_kept(void **state)
{
	struct kaos_udp_pool p = {0};
	uint8_t *big = kaos_udp_pool_get(&p, 65536), *small = kaos_udp_pool_get(&p, 64);
	uint8_t *empty = kaos_udp_pool_get(&p, 0);

	(void)state;
	assert_non_null(big);
	assert_non_null(small);
	assert_non_null(empty);
	memset(big, 3, 65536);
	memset(small, 4, 64);
	kaos_udp_pool_put(&p, big, 65536);
	kaos_udp_pool_put(&p, small, 64);
	kaos_udp_pool_put(&p, empty, 0);
	assert_int_equal(p.count, 0);
	assert_null(p.free);
}

static void keeps_at_most_a_window(void **state)
{
	static void *bufs[KAOS_UDP_POOL_KEEP + 10];
	struct kaos_udp_pool p = {0};

	(void)state;
	for (unsigned i = 0; i < KAOS_UDP_POOL_KEEP + 10; i++)
		assert_non_null(bufs[i] = kaos_udp_pool_get(&p, 1000));
	for (unsigned i = 0; i < KAOS_UDP_POOL_KEEP + 10; i++)
		kaos_udp_pool_put(&p, bufs[i], 1000);
	assert_int_equal(p.count, KAOS_UDP_POOL_KEEP); /* the other 10 freed */
	kaos_udp_pool_drain(&p);
	assert_int_equal(p.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_buffers_recycled),
		cmocka_unit_test(small_and_large_buffers_not_kept),
		cmocka_unit_test(keeps_at_most_a_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
