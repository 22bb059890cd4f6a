// SPDX-License-Identifier: MIT
/*
 * Reliable UDP under seeded loss, for kaos-trace's retransmit view:
 *   kt_udp_loss [--msgs N] [--drop-ppm P] [--seed S]
 * Two endpoints on loopback in this process; "udpl" sends N messages (up to
 * 3000 bytes) to "udpr", which checks order and contents. Prints the
 * sender's own counters at the end:
 *   udp udpl.tx sent S retransmits R timeout T fast F dropped D
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaos/ring.h"
#include "kaos/udp.h"

static void fail(const char *what, int err)
{
	fprintf(stderr, "kt_udp_loss: %s: %s\n", what, kaos_strerror(err));
	exit(1);
}

static size_t msg_len(uint32_t i)
{
	return (i * 2654435761u) % 3001;
}

static void pump(struct kaos_udp *a, struct kaos_udp *b)
{
	int e;

	if ((e = kaos_udp_poll(a)) < 0)
		fail("sender", e);
	if ((e = kaos_udp_poll(b)) < 0)
		fail("receiver", e);
}

static void transfer(struct kaos_udp *a, struct kaos_udp *b, uint32_t count)
{
	static uint8_t buf[KAOS_UDP_MSG_MAX];
	uint32_t sent = 0, got = 0;
	int n;

	while (got < count) {
		while (sent < count) {
			memset(buf, (int)(sent & 0xff), msg_len(sent));
			n = kaos_udp_send(a, buf, msg_len(sent));
			if (n == -KAOS_EFULL)
				break;
			if (n < 0)
				fail("send", n);
			sent++;
		}
		pump(a, b);
		while ((n = kaos_udp_recv(b, buf, sizeof(buf))) >= 0) {
			if ((size_t)n != msg_len(got) || (n && buf[n - 1] != (uint8_t)got))
				fail("message out of order or damaged", -KAOS_ECORRUPT);
			got++;
		}
		if (n != -KAOS_EEMPTY)
			fail("recv", n);
	}
	for (int i = 0; i < 100000; i++) { /* until every ack is in */
		struct kaos_udp_stats st;

		kaos_udp_stats(a, &st);
		if (!st.in_flight)
			return;
		pump(a, b);
	}
	fail("acks never came", -KAOS_ETIMEDOUT);
}

int main(int argc, char **argv)
{
	struct kaos_udp_config ca = {.name = "udpl", .rto_min_ms = 20}, cb = {.name = "udpr"};
	struct kaos_udp *a, *b;
	struct kaos_udp_stats st;
	uint32_t msgs = 10000;
	int e;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--msgs"))
			msgs = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--drop-ppm"))
			ca.drop_ppm = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--seed"))
			ca.drop_seed = strtoull(argv[i + 1], NULL, 0);
		else {
			fprintf(stderr, "kt_udp_loss: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if ((e = kaos_udp_open(&cb, &b)) || (e = kaos_udp_open(&ca, &a)) ||
	    (e = kaos_udp_connect(a, "127.0.0.1", kaos_udp_port(b))))
		fail("open", e);
	while (kaos_udp_state(a) != KAOS_UDP_ESTABLISHED)
		pump(a, b);
	transfer(a, b, msgs);
	kaos_udp_stats(a, &st);
	printf("udp udpl.tx sent %llu retransmits %llu timeout %llu fast %llu dropped %llu\n",
	       (unsigned long long)st.msgs_sent, (unsigned long long)st.retransmits,
	       (unsigned long long)st.retransmits_timeout, (unsigned long long)st.retransmits_fast,
	       (unsigned long long)st.dropped_by_test);
	kaos_udp_close(a);
	kaos_udp_close(b);
	return 0;
}
