/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory layout of an IPC channel (private to core/ipc.c; tests
 * include it to damage headers on purpose). All fields are fixed-width.
 *
 *   offset 0       immutable header (192 B; hdr_crc covers it)
 *   offset 192     consumer endpoint record (64 B)
 *   offset 256     producer endpoint records (32 x 64 B)
 *   offset 4096    the ring block (kaos_ring_mem_size(slots, slot_size) B)
 */
#ifndef KAOS_IPC_LAYOUT_H
#define KAOS_IPC_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#include "kaos/ipc.h"

#define KAOS_IPC_MAGIC	  0x0043504953414f4bull /* "KAOSIPC\0" little-endian */
#define KAOS_IPC_HDR_SIZE 4096u

/* Endpoint owner word: pid << 8 | state. One atomic word, so a record is claimed in one CAS. */
#define KAOS_IPC_EP_FREE	     0u /* never attached */
#define KAOS_IPC_EP_ALIVE	     1u
#define KAOS_IPC_EP_CLOSED	     2u
#define KAOS_IPC_EP_DEAD	     3u /* an observer found the owner gone */
#define KAOS_IPC_EP_STATE(w)	     ((uint32_t)((w)&0xff))
#define KAOS_IPC_EP_PID(w)	     ((int32_t)(uint32_t)((w) >> 8))
#define KAOS_IPC_EP_WORD(pid, state) (((uint64_t)(uint32_t)(pid) << 8) | (state))

struct kaos_ipc_ep {
	_Atomic uint64_t owner;
	_Atomic uint64_t start_ticks; /* owner's start time (/proc/PID/stat field 22) */
	_Atomic uint64_t beats;	      /* heartbeat counter */
	_Atomic uint64_t beat_ns;     /* CLOCK_MONOTONIC of the last heartbeat */
	_Atomic uint64_t attach_ns;
	uint8_t pad[24];
};

struct kaos_ipc_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size; /* offset of the ring block */
	uint64_t file_size;
	uint64_t ring_size;
	uint32_t kind;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t ring_id;
	uint32_t producers;
	int32_t creator_pid;
	uint64_t created_ns; /* CLOCK_REALTIME */
	char name[64];
	uint32_t hdr_crc; /* crc32c of the bytes before it */
	uint8_t pad[192 - 132];
	struct kaos_ipc_ep consumer;
	struct kaos_ipc_ep producer[KAOS_IPC_MAX_PRODUCERS];
};

_Static_assert(sizeof(struct kaos_ipc_ep) == 64, "endpoint record is one cache line");
_Static_assert(__builtin_offsetof(struct kaos_ipc_hdr, hdr_crc) == 128, "crc covers 128 bytes");
_Static_assert(__builtin_offsetof(struct kaos_ipc_hdr, consumer) == 192, "records at 192");
_Static_assert(sizeof(struct kaos_ipc_hdr) <= KAOS_IPC_HDR_SIZE, "header fits its page");

#endif /* KAOS_IPC_LAYOUT_H */
