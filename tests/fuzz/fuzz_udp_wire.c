/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the reliable-UDP datagram codec (core/udp_wire.c):
 * besides memory safety, a datagram that parses must serialise back to the
 * same bytes (nothing accepted that the writer would not produce), and a
 * refused one must be refused with a known reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/udp_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[KAOS_UDP_WIRE_MAX];
	struct kaos_udp_hdr h;
	const uint8_t *payload = NULL;
	int e = kaos_udp_wire_parse(data, size, &h, &payload);

	if (e) {
		if (e < -KAOS_UDP_W_WINDOW || e > -KAOS_UDP_W_SHORT)
			abort();
		return 0;
	}
	if (payload < data || payload + h.payload_len != data + size)
		abort();
	if (kaos_udp_wire_write(&h, payload, again, sizeof(again)) != (int)size ||
	    memcmp(again, data, size))
		abort();
	return 0;
}
