/* SPDX-License-Identifier: MIT */
/*
 * A program built outside the tree against an installed libkaos, with
 * nothing but `pkg-config --cflags --libs kaos` (tests/integration/
 * test_install.sh). It uses only the public API, so it carries no probe
 * sites of its own; the library's fire.
 *
 *   kaos_app N   sends and receives N messages one at a time on the SPSC
 *                ring "install.ring", then fills the ring and tries once
 *                more (one backpressure episode); prints the versions and
 *                "sent S received R".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kaos/crc32c.h>
#include <kaos/ring.h>
#include <kaos/version.h>

#define SLOTS 16u

static int fail(const char *what, int err)
{
	fprintf(stderr, "kaos_app: %s: %s\n", what, kaos_strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = SLOTS,
				       .slot_size = 8,
				       .name = "install.ring",
				       .wait = KAOS_WAIT_FAIL};
	struct kaos_ring *r;
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000, sent = 0, got = 0, sum = 0, v;
	int err;

	printf("headers %s library %s\n", KAOS_VERSION, kaos_version());
	if (kaos_crc32c(0, "123456789", 9) != 0xE3069283u)
		return fail("crc32c", -KAOS_EINVAL);
	if ((err = kaos_ring_create(&cfg, &r)))
		return fail("ring", err);
	for (uint64_t i = 1; i <= n; i++) {
		if ((err = kaos_ring_send(r, &i)))
			return fail("send", err);
		sent++;
		if ((err = kaos_ring_recv(r, &v)))
			return fail("recv", err);
		got++;
		sum += v;
	}
	/* fill the ring, then one send that finds it full: one backpressure episode */
	for (v = 0; v < kaos_ring_capacity(r); v++) {
		if ((err = kaos_ring_send(r, &v)))
			return fail("fill", err);
		sent++;
	}
	if (kaos_ring_send(r, &v) != -KAOS_EFULL)
		return fail("full ring", -KAOS_EINVAL);
	kaos_ring_destroy(r);
	if (sum != n * (n + 1) / 2)
		return fail("message contents", -KAOS_ECORRUPT);
	printf("sent %llu received %llu\n", (unsigned long long)sent, (unsigned long long)got);
	return 0;
}
