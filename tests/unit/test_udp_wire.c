/* SPDX-License-Identifier: MIT */
/* The reliable-UDP datagram codec: round trips, and every kind of bad input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../core/udp_wire.h"

static uint8_t payload[KAOS_UDP_WIRE_MAXFRAG];

static struct kaos_udp_hdr data_hdr(uint32_t msg_len, uint16_t index)
{
	struct kaos_udp_hdr h = {.type = KAOS_UDP_T_DATA,
				 .conn_id = 0xdeadbeef,
				 .seq = 100,
				 .ack = 7,
				 .window = 64,
				 .msg_len = msg_len};
	uint32_t frags = kaos_udp_wire_frags(msg_len);

	h.frag_count = (uint16_t)frags;
	h.frag_index = index;
	h.payload_len = (uint16_t)(index + 1u == frags ? msg_len - (frags - 1) * 1200u : 1200u);
	return h;
}

static void roundtrip_data(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h = data_hdr(3000, 2), back;
	const uint8_t *pl;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	n = kaos_udp_wire_write(&h, payload, dg, sizeof(dg));
	assert_int_equal(n, KAOS_UDP_WIRE_HDR + 600);
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	assert_memory_equal(pl, payload, 600);
}

static void roundtrip_ack_with_sacks(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX];
	/* ack near the wrap: SACK arithmetic is modulo 2^32 */
	struct kaos_udp_hdr h = {.type = KAOS_UDP_T_ACK,
				 .nsack = 2,
				 .conn_id = 1,
				 .ack = 0xfffffff0u,
				 .window = 1024,
				 .sack = {{0xfffffff2u, 0xfffffff5u}, {3, 9}}},
			    back;
	const uint8_t *pl;
	int n;

	(void)state;
	n = kaos_udp_wire_write(&h, NULL, dg, sizeof(dg));
	assert_int_equal(n, KAOS_UDP_WIRE_HDR + 16);
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), 0);
	assert_memory_equal(&back, &h, sizeof(h));
}

static void empty_message_is_one_fragment(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h = data_hdr(0, 0), back;
	const uint8_t *pl;

	(void)state;
	assert_int_equal(h.frag_count, 1);
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), KAOS_UDP_WIRE_HDR);
	assert_int_equal(kaos_udp_wire_parse(dg, KAOS_UDP_WIRE_HDR, &back, &pl), 0);
	assert_int_equal(kaos_udp_wire_frags(65536), 55);
}

/* Each byte flipped, each truncation: refused, never read past the end (ASan build too). */
static void every_flip_and_truncation_refused(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX], bad[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h = data_hdr(1300, 1), back;
	const uint8_t *pl;
	int n;

	(void)state;
	h.type = KAOS_UDP_T_DATA;
	n = kaos_udp_wire_write(&h, payload, dg, sizeof(dg));
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		memcpy(bad, dg, (size_t)n);
		bad[i] ^= 0x20;
		assert_true(kaos_udp_wire_parse(bad, (size_t)n, &back, &pl) < 0);
	}
	for (int len = 0; len < n; len++)
		assert_true(kaos_udp_wire_parse(dg, (size_t)len, &back, &pl) < 0);
	memcpy(bad, dg, (size_t)n);
	bad[n] = 0;
	assert_int_equal(kaos_udp_wire_parse(bad, (size_t)n + 1, &back, &pl), -KAOS_UDP_W_LENGTH);
}

/* A forged header with a correct checksum is still refused for what it says. */
static void forged_fields_refused(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h;

	(void)state;
	h = data_hdr(5000, 0);
	h.frag_count = 3; /* 5000 bytes are 5 fragments */
	assert_int_equal(kaos_udp_wire_write(&h, payload, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h = data_hdr(5000, 4);
	h.payload_len = 1200; /* the last fragment carries 200 */
	assert_int_equal(kaos_udp_wire_write(&h, payload, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h = data_hdr(65537, 0);
	assert_int_equal(kaos_udp_wire_write(&h, payload, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h = (struct kaos_udp_hdr){.type = KAOS_UDP_T_ACK, .ack = 10, .nsack = 1};
	h.sack[0] = (struct kaos_udp_sack){10, 12}; /* starts at the ack: no hole */
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_SACK);
	h.sack[0] = (struct kaos_udp_sack){12, 11};
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_SACK);
	h.sack[0] = (struct kaos_udp_sack){12, 10 + 1025};
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_SACK);
	h.nsack = 0;
	h.window = 1025;
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_WINDOW);
	h.window = 0;
	h.payload_len = 1; /* only DATA carries payload */
	assert_int_equal(kaos_udp_wire_write(&h, payload, dg, sizeof(dg)), -KAOS_UDP_W_LENGTH);
	h.payload_len = 0;
	h.type = 7;
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
	h.type = KAOS_UDP_T_PING;
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, 10), -KAOS_UDP_W_LENGTH);
}

/* PACKED: records { u16 len, bytes } filling the payload exactly, msg_len of them. */
static void packed_records_checked(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX], back_pl[16];
	const uint8_t recs[] = {3, 0, 'a', 'b', 'c', 0, 0, 1, 0, 'z'}; /* "abc", "", "z" */
	struct kaos_udp_hdr h = {.type = KAOS_UDP_T_DATA,
				 .flags = KAOS_UDP_F_PACKED,
				 .seq = 5,
				 .msg_len = 3,
				 .frag_count = 1,
				 .payload_len = sizeof(recs)},
			    back;
	const uint8_t *pl;
	int n;

	(void)state;
	n = kaos_udp_wire_write(&h, recs, dg, sizeof(dg));
	assert_int_equal(n, KAOS_UDP_WIRE_HDR + sizeof(recs));
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	memcpy(back_pl, pl, sizeof(recs));
	assert_memory_equal(back_pl, recs, sizeof(recs));
	h.msg_len = 2; /* three records */
	assert_int_equal(kaos_udp_wire_write(&h, recs, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h.msg_len = 3;
	h.payload_len = sizeof(recs) - 1; /* the last record runs past the end */
	assert_int_equal(kaos_udp_wire_write(&h, recs, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h.payload_len = 5; /* one record: not packed */
	h.msg_len = 1;
	assert_int_equal(kaos_udp_wire_write(&h, recs, dg, sizeof(dg)), -KAOS_UDP_W_FRAGMENT);
	h = (struct kaos_udp_hdr){.type = KAOS_UDP_T_ACK, .flags = KAOS_UDP_F_PACKED};
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
	h.flags = 0x80;
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
}

static void garbage_refused(void **state)
{
	uint8_t junk[200];
	struct kaos_udp_hdr back;
	const uint8_t *pl;

	(void)state;
	memset(junk, 0, sizeof(junk));
	assert_int_equal(kaos_udp_wire_parse(junk, sizeof(junk), &back, &pl), -KAOS_UDP_W_MAGIC);
	junk[0] = 0x4b, junk[1] = 0x55, junk[2] = 3; /* versions 1 and 2 are known */
	assert_int_equal(kaos_udp_wire_parse(junk, sizeof(junk), &back, &pl), -KAOS_UDP_W_VERSION);
	junk[2] = 1, junk[3] = KAOS_UDP_T_PING, junk[5] = 200;
	assert_int_equal(kaos_udp_wire_parse(junk, sizeof(junk), &back, &pl), -KAOS_UDP_W_SACK);
	assert_string_equal(kaos_udp_wire_strerror(-KAOS_UDP_W_CHECKSUM), "checksum mismatch");
}

/*
 * Version 2's DSACK: the first block may lie below the ack (data received
 * twice); version 1 datagrams still parse (and say so), but carry no DSACK.
 */
static void dsack_version_2_only(void **state)
{
	uint8_t dg[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h = {.type = KAOS_UDP_T_ACK,
				 .flags = KAOS_UDP_F_DSACK,
				 .nsack = 2,
				 .conn_id = 1,
				 .ack = 3,
				 .window = 64,
				 .sack = {{0xfffffffeu, 1}, {5, 7}}},
			    back;
	const uint8_t *pl;
	int n;

	(void)state;
	n = kaos_udp_wire_write(&h, NULL, dg, sizeof(dg));
	assert_int_equal(n, KAOS_UDP_WIRE_HDR + 2 * KAOS_UDP_WIRE_SACK);
	assert_int_equal(dg[2], 2);
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	h.sack[0] = (struct kaos_udp_sack){4, 4}; /* empty */
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_SACK);
	h.sack[0] = (struct kaos_udp_sack){4, 4 + 1025}; /* beyond any window */
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_SACK);
	h.sack[0] = (struct kaos_udp_sack){1, 2};
	h.v1 = 1; /* version 1 has no DSACK */
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
	h.v1 = 0;
	h.nsack = 0; /* the flag without its block */
	assert_int_equal(kaos_udp_wire_write(&h, NULL, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
	h = data_hdr(10, 0);
	h.flags = KAOS_UDP_F_DSACK; /* DATA never */
	assert_int_equal(kaos_udp_wire_write(&h, payload, dg, sizeof(dg)), -KAOS_UDP_W_TYPE);
	h.flags = 0;
	h.v1 = 1; /* a version 1 peer's datagram round-trips as version 1 */
	n = kaos_udp_wire_write(&h, payload, dg, sizeof(dg));
	assert_true(n > 0);
	assert_int_equal(dg[2], 1);
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), 0);
	assert_memory_equal(&back, &h, sizeof(h));
	dg[2] = 3; /* a later version is refused */
	assert_int_equal(kaos_udp_wire_parse(dg, (size_t)n, &back, &pl), -KAOS_UDP_W_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip_data),
		cmocka_unit_test(roundtrip_ack_with_sacks),
		cmocka_unit_test(dsack_version_2_only),
		cmocka_unit_test(empty_message_is_one_fragment),
		cmocka_unit_test(every_flip_and_truncation_refused),
		cmocka_unit_test(forged_fields_refused),
		cmocka_unit_test(packed_records_checked),
		cmocka_unit_test(garbage_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
