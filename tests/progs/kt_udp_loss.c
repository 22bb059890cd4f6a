// SPDX-License-Identifier: MIT
/*
 * Reliable UDP under seeded loss, for kaos-trace's retransmit view:
 *   kt_udp_loss [--msgs N] [--max-len BYTES] [--window W] [--drop-ppm P] [--seed S]
 *   kt_udp_loss --recv ADDR:PORT [--msgs N] [--progress K]
 *   kt_udp_loss --send ADDR:PORT --from ADDR [--msgs N]
 * Default: two endpoints on loopback in this process; "udpl" sends N
 * messages (up to 3000 bytes, --max-len) to "udpr", which checks order and contents.
 * --recv/--send: one side each, for two processes (network namespaces).
 * The sender prints its own counters at the end:
 *   udp udpl.tx sent S retransmits R timeout T fast F dropped D data N cwnd C
 *       cuts K rto_undos U probes P spurious X srtt_us T
 * the receiver "udp udpr.rx received N duplicates D garbage G" once all N
 * arrived intact (with --progress K, "got N" every K messages before).
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kaos/ring.h"
#include "kaos/udp.h"

static uint32_t msgs = 10000;
static uint32_t window;		/* --window: receive window in datagrams (0: the default) */
static uint32_t max_len = 3000; /* message i is (i * 2654435761) % (max_len + 1) bytes */
static uint32_t progress;	/* --progress K: the receiver prints "got N" every K messages */

static void fail(const char *what, int err)
{
	fprintf(stderr, "kt_udp_loss: %s: %s\n", what, kaos_strerror(err));
	exit(1);
}

static size_t msg_len(uint32_t i)
{
	return (i * 2654435761u) % (max_len + 1);
}

static int check_msg(const uint8_t *buf, int n, uint32_t i);

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
		while ((n = kaos_udp_recv(b, buf, sizeof(buf))) >= 0)
			got += (uint32_t)check_msg(buf, n, got);
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

static int check_msg(const uint8_t *buf, int n, uint32_t i)
{
	if ((size_t)n != msg_len(i) || (n && (buf[0] != (uint8_t)i || buf[n - 1] != (uint8_t)i)))
		fail("message out of order or damaged", -KAOS_ECORRUPT);
	return 1;
}

static void print_sender(struct kaos_udp *a)
{
	struct kaos_udp_stats st;

	kaos_udp_stats(a, &st);
	printf("udp udpl.tx sent %llu retransmits %llu timeout %llu fast %llu dropped %llu"
	       " data %llu cwnd %u cuts %llu rto_undos %llu probes %llu spurious %llu srtt_us %u\n",
	       (unsigned long long)st.msgs_sent, (unsigned long long)st.retransmits,
	       (unsigned long long)st.retransmits_timeout, (unsigned long long)st.retransmits_fast,
	       (unsigned long long)st.dropped_by_test, (unsigned long long)st.data_sent, st.cwnd,
	       (unsigned long long)st.congestion_cuts, (unsigned long long)st.rto_undos,
	       (unsigned long long)st.loss_probes, (unsigned long long)st.spurious_retransmits,
	       st.srtt_us);
}

/* "ADDR:PORT" split in place. */
static uint16_t split_port(char *addr)
{
	char *colon = strrchr(addr, ':');

	if (!colon)
		fail("expected ADDR:PORT", -KAOS_EINVAL);
	*colon = 0;
	return (uint16_t)strtoul(colon + 1, NULL, 0);
}

/* Waits on the socket until kaos_udp_poll() has work (no busy loop between processes). */
static void wait_socket(struct kaos_udp *ep)
{
	struct pollfd p = {.fd = kaos_udp_fd(ep), .events = POLLIN};
	int e;

	if ((e = kaos_udp_poll(ep)) < 0) /* send what is queued first: else nothing comes back */
		fail("poll", e);
	poll(&p, 1, kaos_udp_timeout_ms(ep));
	if ((e = kaos_udp_poll(ep)) < 0)
		fail("poll", e);
}

static int run_receiver(char *where)
{
	struct kaos_udp_config cfg = {.name = "udpr", .bind_addr = where, .window = window};
	static uint8_t buf[KAOS_UDP_MSG_MAX];
	struct kaos_udp_stats st;
	struct kaos_udp *b;
	uint32_t got = 0;
	int n;

	cfg.port = split_port(where);
	if ((n = kaos_udp_open(&cfg, &b)))
		fail("open", n);
	printf("ready\n");
	fflush(stdout);
	while (got < msgs) {
		n = kaos_udp_recv_wait(b, buf, sizeof(buf), 60000);
		if (n < 0)
			fail("recv", n);
		got += (uint32_t)check_msg(buf, n, got);
		if (progress && got % progress == 0) {
			printf("got %u\n", got);
			fflush(stdout);
		}
	}
	kaos_udp_stats(b, &st);
	printf("udp udpr.rx received %u duplicates %llu garbage %llu\n", got,
	       (unsigned long long)st.duplicates, (unsigned long long)st.garbage);
	fflush(stdout);
	/* keep acking until the sender is done: its FIN, or silence if the FIN was lost */
	while ((n = kaos_udp_recv_wait(b, buf, sizeof(buf), 60000)) >= 0 || n == -KAOS_EEMPTY)
		if (n >= 0)
			fail("a message beyond the last", -KAOS_EINVAL);
	kaos_udp_close(b);
	return n == -KAOS_ECLOSED || n == -KAOS_ETIMEDOUT ? 0 : 1;
}

static int run_sender(char *to, const char *from, const struct kaos_udp_config *base)
{
	struct kaos_udp_config cfg = *base;
	static uint8_t buf[KAOS_UDP_MSG_MAX];
	struct kaos_udp *a;
	uint16_t port = split_port(to);
	int e;

	cfg.bind_addr = from;
	cfg.window = window;
	cfg.rto_min_ms = 0; /* the default floor: a real link */
	if ((e = kaos_udp_open(&cfg, &a)) || (e = kaos_udp_connect(a, to, port)) ||
	    (e = kaos_udp_wait_connected(a, 30000)))
		fail("connect", e);
	for (uint32_t i = 0; i < msgs;) {
		memset(buf, (int)(i & 0xff), msg_len(i));
		e = kaos_udp_send(a, buf, msg_len(i));
		if (e == -KAOS_EFULL)
			wait_socket(a);
		else if (e < 0)
			fail("send", e);
		else
			i++;
	}
	if ((e = kaos_udp_flush(a, 120000)))
		fail("flush", e);
	print_sender(a);
	kaos_udp_close(a);
	return 0;
}

int main(int argc, char **argv)
{
	struct kaos_udp_config ca = {.name = "udpl", .rto_min_ms = 20}, cb = {.name = "udpr"};
	struct kaos_udp *a, *b;
	char *recv_at = NULL, *send_to = NULL;
	const char *from = "127.0.0.1";
	int e;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--recv"))
			recv_at = argv[i + 1];
		else if (!strcmp(argv[i], "--send"))
			send_to = argv[i + 1];
		else if (!strcmp(argv[i], "--from"))
			from = argv[i + 1];
		else if (!strcmp(argv[i], "--msgs"))
			msgs = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--window"))
			window = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--max-len"))
			max_len = (uint32_t)strtoul(argv[i + 1], NULL, 0) % (KAOS_UDP_MSG_MAX + 1);
		else if (!strcmp(argv[i], "--progress"))
			progress = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--drop-ppm"))
			ca.drop_ppm = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--seed"))
			ca.drop_seed = strtoull(argv[i + 1], NULL, 0);
		else {
			fprintf(stderr, "kt_udp_loss: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (recv_at)
		return run_receiver(recv_at);
	if (send_to)
		return run_sender(send_to, from, &ca);
	if ((e = kaos_udp_open(&cb, &b)) || (e = kaos_udp_open(&ca, &a)) ||
	    (e = kaos_udp_connect(a, "127.0.0.1", kaos_udp_port(b))))
		fail("open", e);
	while (kaos_udp_state(a) != KAOS_UDP_ESTABLISHED)
		pump(a, b);
	transfer(a, b, msgs);
	print_sender(a);
	kaos_udp_close(a);
	kaos_udp_close(b);
	return 0;
}
