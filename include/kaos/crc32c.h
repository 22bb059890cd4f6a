/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * iSCSI, ext4 and SCTP: kaos_crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * kaos_crc32c() picks the fastest implementation once, at first use: the
 * SSE4.2 crc32 instruction on x86-64, the ARMv8 CRC32C instructions on
 * arm64 (both detected at run time), else a slicing-by-8 table. Setting
 * KAOS_CRC32C=table in the environment forces the table path.
 *
 * The crc argument is the previous result (0 to start), so a buffer may be
 * checksummed in pieces: crc(a||b) == kaos_crc32c(kaos_crc32c(0, a), b).
 */
#ifndef KAOS_CRC32C_H
#define KAOS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t kaos_crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven path, always available. */
uint32_t kaos_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if this CPU has CRC32C instructions that kaos_crc32c_hw() uses. */
int kaos_crc32c_hw_available(void);

/* The instruction path; falls back to the table when the CPU lacks it. */
uint32_t kaos_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* Name of the path kaos_crc32c() uses: "sse4.2", "armv8-crc" or "table". */
const char *kaos_crc32c_impl(void);

#ifdef __cplusplus
}
#endif
#endif /* KAOS_CRC32C_H */
