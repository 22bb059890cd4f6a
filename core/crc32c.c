/* SPDX-License-Identifier: MIT */
/* CRC32C: run-time dispatch between CPU instructions and a slicing-by-8 table. */
#include "kaos/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
/* arm_acle.h only declares __crc32c* when the whole file targets +crc: use the builtins. */
#if defined(__clang__)
#define ARM_CRC_TARGET __attribute__((target("crc")))
#define arm_crc32cb    __builtin_arm_crc32cb
#define arm_crc32cd    __builtin_arm_crc32cd
#else
#define ARM_CRC_TARGET __attribute__((target("+crc")))
#define arm_crc32cb    __builtin_aarch64_crc32cb
#define arm_crc32cd    __builtin_aarch64_crc32cx
#endif
#endif

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

/* tab[0] is the classic byte table; tab[k][b] advances b by k more zero bytes. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_tab_once = PTHREAD_ONCE_INIT;

static void crc_tab_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] =
				(crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

/* Little-endian load whatever the host order (compiles to one load on LE). */
static inline uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

uint32_t kaos_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc_tab_once, crc_tab_init);
	while (len && ((uintptr_t)p & 7)) {
		c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v = load_le64(p) ^ c;
		c = crc_tab[7][v & 0xff] ^ crc_tab[6][(v >> 8) & 0xff] ^
		    crc_tab[5][(v >> 16) & 0xff] ^ crc_tab[4][(v >> 24) & 0xff] ^
		    crc_tab[3][(v >> 32) & 0xff] ^ crc_tab[2][(v >> 40) & 0xff] ^
		    crc_tab[1][(v >> 48) & 0xff] ^ crc_tab[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *buf,
							       size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static int cpu_has_crc32c(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") != 0;
}
#define crc32c_insn	 crc32c_sse42
#define CRC32C_INSN_NAME "sse4.2"
#elif defined(__aarch64__)
ARM_CRC_TARGET static uint32_t crc32c_armv8(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = arm_crc32cb(c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = arm_crc32cd(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = arm_crc32cb(c, *p++);
	return ~c;
}

static int cpu_has_crc32c(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#define crc32c_insn	 crc32c_armv8
#define CRC32C_INSN_NAME "armv8-crc"
#endif

typedef uint32_t (*crc32c_fn)(uint32_t, const void *, size_t);

struct crc32c_impl {
	crc32c_fn fn;
	const char *name;
};

static const struct crc32c_impl *crc32c_pick(void)
{
	static const struct crc32c_impl table = {kaos_crc32c_sw, "table"};
#ifdef CRC32C_INSN_NAME
	static const struct crc32c_impl insn = {crc32c_insn, CRC32C_INSN_NAME};
	const char *force = getenv("KAOS_CRC32C");

	if (cpu_has_crc32c() && !(force && strcmp(force, "table") == 0))
		return &insn;
#endif
	return &table;
}

/* Resolved once; racing first callers pick the same entry, so relaxed is enough. */
static _Atomic(const struct crc32c_impl *) crc32c_active;

static const struct crc32c_impl *crc32c_get(void)
{
	const struct crc32c_impl *impl = atomic_load_explicit(&crc32c_active, memory_order_relaxed);

	if (!impl) {
		impl = crc32c_pick();
		atomic_store_explicit(&crc32c_active, impl, memory_order_relaxed);
	}
	return impl;
}

uint32_t kaos_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return crc32c_get()->fn(crc, buf, len);
}

const char *kaos_crc32c_impl(void)
{
	return crc32c_get()->name;
}

int kaos_crc32c_hw_available(void)
{
#ifdef CRC32C_INSN_NAME
	return cpu_has_crc32c();
#else
	return 0;
#endif
}

uint32_t kaos_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#ifdef CRC32C_INSN_NAME
	if (cpu_has_crc32c())
		return crc32c_insn(crc, buf, len);
#endif
	return kaos_crc32c_sw(crc, buf, len);
}
