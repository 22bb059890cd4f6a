/* SPDX-License-Identifier: MIT */
/*
 * The reliable-UDP datagram codec (layout in include/kaos/udp.h). Pure: no
 * I/O, no state. kaos_udp_wire_parse() trusts nothing in its input; every
 * field is checked before the caller sees it.
 */
#ifndef KAOS_UDP_WIRE_H
#define KAOS_UDP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define KAOS_UDP_WIRE_MAGIC   0x554bu
#define KAOS_UDP_WIRE_VERSION 2u /* 2 = 1 + the ACK flag DSACK */
#define KAOS_UDP_WIRE_HDR     36u
#define KAOS_UDP_WIRE_SACK    8u /* bytes per SACK block */
#define KAOS_UDP_WIRE_NSACK   4u
#define KAOS_UDP_WIRE_MAX     (KAOS_UDP_WIRE_HDR + KAOS_UDP_WIRE_NSACK * KAOS_UDP_WIRE_SACK + 1200u)
#define KAOS_UDP_WIRE_MAXFRAG 1200u
#define KAOS_UDP_WIRE_MAXMSG  65536u
#define KAOS_UDP_WIRE_MAXWND  1024u /* window and SACK reach, datagrams */

enum kaos_udp_type {
	KAOS_UDP_T_SYN = 1,
	KAOS_UDP_T_SYNACK = 2,
	KAOS_UDP_T_DATA = 3,
	KAOS_UDP_T_ACK = 4,
	KAOS_UDP_T_PING = 5,
	KAOS_UDP_T_FIN = 6,
};

/* Why a datagram was refused (returned negated). */
enum kaos_udp_wire_err {
	KAOS_UDP_W_SHORT = 1,	 /* shorter than the header */
	KAOS_UDP_W_MAGIC = 2,	 /* not ours */
	KAOS_UDP_W_VERSION = 3,	 /* another version */
	KAOS_UDP_W_TYPE = 4,	 /* unknown type or flags set */
	KAOS_UDP_W_LENGTH = 5,	 /* lengths do not add up to the datagram's size */
	KAOS_UDP_W_FRAGMENT = 6, /* fragment fields inconsistent with the message length */
	KAOS_UDP_W_SACK = 7,	 /* empty, reversed or out-of-reach SACK block */
	KAOS_UDP_W_CHECKSUM = 8, /* crc32c mismatch */
	KAOS_UDP_W_WINDOW = 9,	 /* window above KAOS_UDP_WIRE_MAXWND */
};

struct kaos_udp_sack {
	uint32_t start, end; /* [start, end) received above ack */
};

/*
 * flags: PACKED marks a DATA datagram carrying several small messages: its
 * payload is records { u16 length, bytes }, msg_len counts them (>= 2), and
 * it is fragment 0 of 1. The records must fill the payload exactly.
 */
#define KAOS_UDP_F_PACKED 0x01u
/*
 * DSACK (version 2, ACK only): sack[0] names data received twice (RFC 2883),
 * below or above ack, 1 to KAOS_UDP_WIRE_MAXWND datagrams; the other blocks
 * are ordinary SACKs. It lets the sender find its retransmits spurious.
 */
#define KAOS_UDP_F_DSACK 0x02u

struct kaos_udp_hdr { /* no padding: tests compare it with memcmp */
	uint8_t type;
	uint8_t flags;
	uint16_t payload_len;
	uint32_t conn_id;
	uint32_t seq;
	uint32_t ack;
	uint32_t window;
	uint32_t msg_len;
	uint16_t frag_index;
	uint16_t frag_count;
	uint16_t nsack;
	uint16_t v1; /* a version 1 datagram (0: the current version) */
	struct kaos_udp_sack sack[KAOS_UDP_WIRE_NSACK];
};

/* Internal to libkaos: not exported from libkaos.so. */
#define KAOS_UDP_INTERNAL __attribute__((visibility("hidden")))

/* Fragments a message of msg_len bytes is cut into (1 for an empty one). */
KAOS_UDP_INTERNAL uint32_t kaos_udp_wire_frags(uint32_t msg_len);

/*
 * Writes h and payload (h->payload_len bytes) into out (cap bytes) with the
 * checksum. Returns the datagram's length, or -KAOS_UDP_W_* if h would not
 * parse (the serialiser refuses what the parser would refuse) or cap is short.
 */
KAOS_UDP_INTERNAL int kaos_udp_wire_write(const struct kaos_udp_hdr *h, const void *payload,
					  void *out, size_t cap);

/* Parses len bytes: 0 with *h and *payload (into buf), or -KAOS_UDP_W_*. */
KAOS_UDP_INTERNAL int kaos_udp_wire_parse(const void *buf, size_t len, struct kaos_udp_hdr *h,
					  const uint8_t **payload);

KAOS_UDP_INTERNAL const char *kaos_udp_wire_strerror(int err);

#endif /* KAOS_UDP_WIRE_H */
