/* SPDX-License-Identifier: MIT */
/* CRC32C: published vectors, and every path against a bit-at-a-time reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kaos/crc32c.h"

/* The definition itself, one bit at a time: slow and obviously right. */
static uint32_t crc32c_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return ~crc;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static const crc_fn paths[] = {kaos_crc32c, kaos_crc32c_sw, kaos_crc32c_hw};

static void check_vector(const void *buf, size_t len, uint32_t want)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(paths[i](0, buf, len), want);
	assert_int_equal(crc32c_bitwise(0, buf, len), want);
}

static void test_known_vectors(void **state)
{
	unsigned char b[32];
	(void)state;

	check_vector("123456789", 9, 0xE3069283u);
	check_vector("", 0, 0);
	check_vector("a", 1, 0xC1D04330u);
	check_vector("The quick brown fox jumps over the lazy dog", 43, 0x22620404u);
	/* RFC 3720 (iSCSI) appendix B.4 */
	memset(b, 0, sizeof(b));
	check_vector(b, 32, 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	check_vector(b, 32, 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	check_vector(b, 32, 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	check_vector(b, 32, 0x113FDB5Cu);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_paths_agree_random(void **state)
{
	enum { MAXLEN = 4200 };
	unsigned char *buf = malloc(MAXLEN + 16);
	(void)state;

	assert_non_null(buf);
	for (size_t i = 0; i < MAXLEN + 16; i++)
		buf[i] = (unsigned char)rng();
	/* every alignment, short lengths densely, long ones sparsely */
	for (size_t off = 0; off < 16; off++) {
		for (size_t len = 0; len + off <= MAXLEN;
		     len += (len < 80 ? 1 : 97 + (rng() & 63))) {
			uint32_t seed = (uint32_t)rng();
			uint32_t want = crc32c_bitwise(seed, buf + off, len);
			assert_int_equal(kaos_crc32c_sw(seed, buf + off, len), want);
			assert_int_equal(kaos_crc32c_hw(seed, buf + off, len), want);
			assert_int_equal(kaos_crc32c(seed, buf + off, len), want);
		}
	}
	free(buf);
}

static void test_chaining(void **state)
{
	unsigned char buf[1000];
	(void)state;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	uint32_t whole = kaos_crc32c(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 37) {
		assert_int_equal(
			kaos_crc32c(kaos_crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut), whole);
		assert_int_equal(
			kaos_crc32c_hw(kaos_crc32c_sw(0, buf, cut), buf + cut, sizeof(buf) - cut),
			whole);
	}
	/* a flipped bit changes the checksum */
	buf[500] ^= 0x10;
	assert_int_not_equal(kaos_crc32c(0, buf, sizeof(buf)), whole);
}

static void test_dispatch_matches_cpu(void **state)
{
	const char *impl = kaos_crc32c_impl();
	const char *force = getenv("KAOS_CRC32C");
	(void)state;

	if (kaos_crc32c_hw_available() && !(force && strcmp(force, "table") == 0))
		assert_string_not_equal(impl, "table");
	else
		assert_string_equal(impl, "table");
#if defined(__x86_64__)
	assert_int_equal(kaos_crc32c_hw_available(), __builtin_cpu_supports("sse4.2") != 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_paths_agree_random),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_dispatch_matches_cpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
