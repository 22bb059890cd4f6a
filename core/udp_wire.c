/* SPDX-License-Identifier: MIT */
/* The reliable-UDP datagram codec (core/udp_wire.h): explicit little-endian bytes, no casts. */
#include "udp_wire.h"

#include <stdbool.h>
#include <string.h>

#include "kaos/crc32c.h"

#define OFF_CSUM 32u

_Static_assert(sizeof(struct kaos_udp_hdr) ==
		       4 * 6 + 2 * 2 + 2 * 2 + KAOS_UDP_WIRE_NSACK * sizeof(struct kaos_udp_sack),
	       "struct kaos_udp_hdr has no padding");

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | ((uint32_t)get16(p + 2) << 16);
}

uint32_t kaos_udp_wire_frags(uint32_t msg_len)
{
	return msg_len ? (msg_len + KAOS_UDP_WIRE_MAXFRAG - 1) / KAOS_UDP_WIRE_MAXFRAG : 1;
}

/* Records of a PACKED payload: exactly msg_len of them (>= 2), filling it. */
static int check_packed(const struct kaos_udp_hdr *h, const uint8_t *payload)
{
	uint32_t off = 0, n = 0;

	if (h->frag_count != 1 || h->frag_index || h->msg_len < 2)
		return -KAOS_UDP_W_FRAGMENT;
	while (off < h->payload_len) {
		if (h->payload_len - off < 2u)
			return -KAOS_UDP_W_FRAGMENT;
		off += 2u + get16(payload + off);
		n++;
	}
	return off == h->payload_len && n == h->msg_len ? 0 : -KAOS_UDP_W_FRAGMENT;
}

static int check_fragment(const struct kaos_udp_hdr *h)
{
	uint32_t last;

	if (h->type != KAOS_UDP_T_DATA)
		return h->msg_len || h->frag_index || h->frag_count ? -KAOS_UDP_W_FRAGMENT : 0;
	if (h->flags & KAOS_UDP_F_PACKED)
		return 0; /* check_packed(), which needs the payload */
	if (h->msg_len > KAOS_UDP_WIRE_MAXMSG || h->frag_count != kaos_udp_wire_frags(h->msg_len) ||
	    h->frag_index >= h->frag_count)
		return -KAOS_UDP_W_FRAGMENT;
	last = h->msg_len - (uint32_t)(h->frag_count - 1) * KAOS_UDP_WIRE_MAXFRAG;
	if (h->payload_len != (h->frag_index + 1u == h->frag_count ? last : KAOS_UDP_WIRE_MAXFRAG))
		return -KAOS_UDP_W_FRAGMENT;
	return 0;
}

/*
 * A block names datagrams received beyond a hole: [start, end) strictly after
 * ack, in reach. A DSACK block (the first) may lie anywhere: only its length is checked.
 */
static int check_sacks(const struct kaos_udp_hdr *h)
{
	for (unsigned i = 0; i < h->nsack; i++) {
		uint32_t from = h->sack[i].start - h->ack, to = h->sack[i].end - h->ack;
		uint32_t len = h->sack[i].end - h->sack[i].start;

		if (i == 0 && (h->flags & KAOS_UDP_F_DSACK)) {
			if (len == 0 || len > KAOS_UDP_WIRE_MAXWND)
				return -KAOS_UDP_W_SACK;
		} else if (from == 0 || to <= from || to > KAOS_UDP_WIRE_MAXWND) {
			return -KAOS_UDP_W_SACK;
		}
	}
	return 0;
}

/* PACKED on DATA; DSACK on a version 2 ACK with its block; nothing else. */
static bool flags_valid(const struct kaos_udp_hdr *h)
{
	if (h->v1 > 1)
		return false;
	if (h->type == KAOS_UDP_T_DATA)
		return !(h->flags & ~KAOS_UDP_F_PACKED);
	if (h->type == KAOS_UDP_T_ACK && !h->v1)
		return !(h->flags & ~KAOS_UDP_F_DSACK) && (!h->flags || h->nsack);
	return !h->flags;
}

/* Every check but the checksum; len is the whole datagram's size. */
static int check_header(const struct kaos_udp_hdr *h, size_t len, const uint8_t *payload)
{
	if (h->nsack > KAOS_UDP_WIRE_NSACK)
		return -KAOS_UDP_W_SACK;
	if (h->type < KAOS_UDP_T_SYN || h->type > KAOS_UDP_T_FIN || !flags_valid(h))
		return -KAOS_UDP_W_TYPE;
	if (h->payload_len > KAOS_UDP_WIRE_MAXFRAG ||
	    (h->type != KAOS_UDP_T_DATA && h->payload_len) ||
	    len != KAOS_UDP_WIRE_HDR + h->nsack * KAOS_UDP_WIRE_SACK + (size_t)h->payload_len)
		return -KAOS_UDP_W_LENGTH;
	if (h->window > KAOS_UDP_WIRE_MAXWND)
		return -KAOS_UDP_W_WINDOW;
	if (check_fragment(h) || ((h->flags & KAOS_UDP_F_PACKED) && check_packed(h, payload)))
		return -KAOS_UDP_W_FRAGMENT;
	return check_sacks(h);
}

static uint32_t checksum(const uint8_t *p, size_t len)
{
	static const uint8_t zero[4];
	uint32_t c = kaos_crc32c(0, p, OFF_CSUM);

	c = kaos_crc32c(c, zero, sizeof(zero));
	return kaos_crc32c(c, p + OFF_CSUM + 4, len - OFF_CSUM - 4);
}

int kaos_udp_wire_write(const struct kaos_udp_hdr *h, const void *payload, void *out, size_t cap)
{
	size_t len = KAOS_UDP_WIRE_HDR + (size_t)h->nsack * KAOS_UDP_WIRE_SACK + h->payload_len;
	uint8_t *p = out;
	int e = check_header(h, len, payload);

	if (e)
		return e;
	if (cap < len)
		return -KAOS_UDP_W_LENGTH;
	put16(p, KAOS_UDP_WIRE_MAGIC);
	p[2] = h->v1 ? 1u : KAOS_UDP_WIRE_VERSION;
	p[3] = h->type;
	p[4] = h->flags;
	p[5] = (uint8_t)h->nsack;
	put16(p + 6, h->payload_len);
	put32(p + 8, h->conn_id);
	put32(p + 12, h->seq);
	put32(p + 16, h->ack);
	put32(p + 20, h->window);
	put32(p + 24, h->msg_len);
	put16(p + 28, h->frag_index);
	put16(p + 30, h->frag_count);
	for (unsigned i = 0; i < h->nsack; i++) {
		put32(p + KAOS_UDP_WIRE_HDR + 8 * i, h->sack[i].start);
		put32(p + KAOS_UDP_WIRE_HDR + 8 * i + 4, h->sack[i].end);
	}
	if (h->payload_len)
		memcpy(p + len - h->payload_len, payload, h->payload_len);
	put32(p + OFF_CSUM, checksum(p, len));
	return (int)len;
}

int kaos_udp_wire_parse(const void *buf, size_t len, struct kaos_udp_hdr *h,
			const uint8_t **payload)
{
	const uint8_t *p = buf;
	int e;

	if (len < KAOS_UDP_WIRE_HDR)
		return -KAOS_UDP_W_SHORT;
	if (get16(p) != KAOS_UDP_WIRE_MAGIC)
		return -KAOS_UDP_W_MAGIC;
	if (p[2] != 1u && p[2] != KAOS_UDP_WIRE_VERSION)
		return -KAOS_UDP_W_VERSION;
	memset(h, 0, sizeof(*h));
	h->v1 = p[2] == 1u;
	h->type = p[3];
	h->flags = p[4];
	h->nsack = p[5];
	h->payload_len = get16(p + 6);
	h->conn_id = get32(p + 8);
	h->seq = get32(p + 12);
	h->ack = get32(p + 16);
	h->window = get32(p + 20);
	h->msg_len = get32(p + 24);
	h->frag_index = get16(p + 28);
	h->frag_count = get16(p + 30);
	if (h->nsack > KAOS_UDP_WIRE_NSACK)
		return -KAOS_UDP_W_SACK;
	if (len < KAOS_UDP_WIRE_HDR + (size_t)h->nsack * KAOS_UDP_WIRE_SACK)
		return -KAOS_UDP_W_LENGTH;
	for (unsigned i = 0; i < h->nsack; i++) {
		h->sack[i].start = get32(p + KAOS_UDP_WIRE_HDR + 8 * i);
		h->sack[i].end = get32(p + KAOS_UDP_WIRE_HDR + 8 * i + 4);
	}
	/* the payload's start, once check_header() has seen that it fits */
	e = check_header(h, len, len >= h->payload_len ? p + len - h->payload_len : p);
	if (e)
		return e;
	if (get32(p + OFF_CSUM) != checksum(p, len))
		return -KAOS_UDP_W_CHECKSUM;
	*payload = p + len - h->payload_len;
	return 0;
}

const char *kaos_udp_wire_strerror(int err)
{
	static const char *const why[] = {
		[KAOS_UDP_W_SHORT] = "shorter than the header",
		[KAOS_UDP_W_MAGIC] = "bad magic",
		[KAOS_UDP_W_VERSION] = "unknown version",
		[KAOS_UDP_W_TYPE] = "unknown type or flags",
		[KAOS_UDP_W_LENGTH] = "lengths do not add up",
		[KAOS_UDP_W_FRAGMENT] = "inconsistent fragment fields",
		[KAOS_UDP_W_SACK] = "bad SACK block",
		[KAOS_UDP_W_CHECKSUM] = "checksum mismatch",
		[KAOS_UDP_W_WINDOW] = "window too large",
	};

	if (err < 0)
		err = -err;
	return err > 0 && err <= KAOS_UDP_W_WINDOW ? why[err] : "unknown";
}
