// SPDX-License-Identifier: MIT
/*
 * libkaos' reliable UDP next to ENet (both reliable, ordered; issue 17):
 *   bench_udp rate kaos|enet SIZE COUNT   COUNT messages of SIZE bytes, one
 *                                          way on loopback, two threads: msgs/s
 *   bench_udp lat both COUNT              ping-pong of 64-byte messages on
 *                                          loopback through both, interleaved:
 *                                          one-way p50/p99 (RTT / 2) of each
 *   bench_udp recv kaos|enet ADDR:PORT BYTES SIZE
 *   bench_udp send kaos|enet ADDR:PORT BYTES SIZE FROM
 *                                          goodput between two processes (the
 *                                          namespaces of bench/bench_udp.sh)
 * One line per run on stdout, "udp <what> <impl> ... key value" (bench_udp.sh
 * reads them); errors on stderr, exit 1.
 */
#include <arpa/inet.h>
#include <enet/enet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kaos/ring.h"
#include "kaos/udp.h"

#define LAT_SIZE      64
#define WAIT_MS	      30000
#define ENET_SLICE_MS 1	   /* enet_host_service() timeout: its timers run only when it wakes */
#define LAT_CHUNK     1000 /* ping pairs per p99 ratio (lat_chunks) */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_udp: %s: %s\n", what, err ? kaos_strerror(err) : "failed");
	exit(1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ kaos */

static struct kaos_udp *kaos_open(const char *addr, uint16_t port)
{
	struct kaos_udp_config c = {.bind_addr = addr,
				    .port = port,
				    .queue_msgs = 4096,
				    .window = 1024,
				    .name = "bench"};
	struct kaos_udp *ep;
	int e = kaos_udp_open(&c, &ep);

	if (e)
		die("kaos_udp_open", e);
	return ep;
}

/* Sends what the windows allow, sleeps on the socket until there is work, does it. */
static void kaos_wait(struct kaos_udp *ep)
{
	struct pollfd p = {.fd = kaos_udp_fd(ep), .events = POLLIN};
	int e;

	if ((e = kaos_udp_poll(ep)) < 0) /* first send what is queued, then sleep */
		die("kaos_udp_poll", e);
	poll(&p, 1, kaos_udp_timeout_ms(ep));
	if ((e = kaos_udp_poll(ep)) < 0)
		die("kaos_udp_poll", e);
}

static void kaos_send_all(struct kaos_udp *ep, const void *msg, size_t size, uint64_t count)
{
	for (uint64_t i = 0; i < count;) {
		int e = kaos_udp_send(ep, msg, size);

		if (e == -KAOS_EFULL)
			kaos_wait(ep);
		else if (e < 0)
			die("kaos_udp_send", e);
		else
			i++;
	}
	int e = kaos_udp_poll(ep);
	if (e < 0)
		die("kaos_udp_poll", e);
}

struct kaos_rx {
	struct kaos_udp *ep;
	uint64_t count, first_ns, last_ns;
};

static void *kaos_rx_thread(void *arg)
{
	struct kaos_rx *r = arg;
	static uint8_t buf[KAOS_UDP_MSG_MAX];

	for (uint64_t n = 0; n < r->count; n++) {
		int m = kaos_udp_recv_wait(r->ep, buf, sizeof(buf), WAIT_MS);

		if (m < 0)
			die("kaos_udp_recv_wait", m);
		if (!n)
			r->first_ns = now_ns();
	}
	r->last_ns = now_ns();
	kaos_udp_flush(r->ep, 1000); /* the acks */
	return NULL;
}

/* A connected pair on loopback, b served by a thread running kaos_rx_thread. */
static struct kaos_udp *kaos_pair(struct kaos_rx *r, pthread_t *t)
{
	struct kaos_udp *a = kaos_open("127.0.0.1", 0);
	int e;

	r->ep = kaos_open("127.0.0.1", 0);
	if ((e = kaos_udp_connect(a, "127.0.0.1", kaos_udp_port(r->ep))))
		die("kaos_udp_connect", e);
	pthread_create(t, NULL, kaos_rx_thread, r);
	if ((e = kaos_udp_wait_connected(a, WAIT_MS)))
		die("connect", e);
	return a;
}

static double kaos_rate(size_t size, uint64_t count)
{
	static uint8_t msg[KAOS_UDP_MSG_MAX];
	struct kaos_rx r = {.count = count};
	pthread_t t;
	struct kaos_udp *a = kaos_pair(&r, &t);
	uint64_t t0 = now_ns();

	kaos_send_all(a, msg, size, count);
	while (!__atomic_load_n(&r.last_ns, __ATOMIC_ACQUIRE))
		kaos_wait(a);
	pthread_join(t, NULL);
	kaos_udp_close(a);
	kaos_udp_close(r.ep);
	return (double)count / ((double)(r.last_ns - t0) / 1e9);
}

/* ------------------------------------------------------------------ ENet */

static ENetHost *enet_open(const char *addr, uint16_t port)
{
	ENetAddress a = {.host = ENET_HOST_ANY, .port = port};
	ENetHost *h;

	if (addr)
		enet_address_set_host_ip(&a, addr);
	h = enet_host_create(addr ? &a : NULL, 1, 1, 0, 0);
	if (!h)
		die("enet_host_create", 0);
	return h;
}

/*
 * Services h until an event of type comes (other events handled: receive
 * counted), at most timeout_ms. In slices of 1 ms: enet_host_service()
 * sleeps on the socket for the whole timeout it is given and runs its
 * retransmission timers only when it wakes. Given 30 s, a sender whose last
 * datagrams or acks were lost slept through every resend, heard nothing and
 * gave up (ENet's "goodput under 1 % loss" was 0 in this harness).
 */
static ENetEvent enet_wait_ms(ENetHost *h, ENetEventType type, int timeout_ms)
{
	uint64_t start = now_ns();
	ENetEvent ev;

	for (;;) {
		int n = enet_host_service(h, &ev, ENET_SLICE_MS);

		if (n < 0)
			die("enet_host_service", 0);
		if (n == 0 && now_ns() - start >= (uint64_t)timeout_ms * 1000000u)
			die("ENet: nothing heard", 0);
		if (n == 0)
			continue;
		if (ev.type == type)
			return ev;
		if (ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
		if (ev.type == ENET_EVENT_TYPE_DISCONNECT)
			die("ENet: peer disconnected", 0);
	}
}

static ENetEvent enet_wait(ENetHost *h, ENetEventType type)
{
	return enet_wait_ms(h, type, WAIT_MS);
}

static void enet_send(ENetPeer *p, const void *msg, size_t size)
{
	ENetPacket *pk = enet_packet_create(msg, size, ENET_PACKET_FLAG_RELIABLE);

	if (!pk || enet_peer_send(p, 0, pk) < 0)
		die("enet_peer_send", 0);
}

struct enet_rx {
	ENetHost *h;
	uint64_t count, first_ns;
	_Atomic uint64_t last_ns;
};

static void *enet_rx_thread(void *arg)
{
	struct enet_rx *r = arg;

	enet_wait(r->h, ENET_EVENT_TYPE_CONNECT);
	for (uint64_t n = 0; n < r->count; n++) {
		ENetEvent ev = enet_wait(r->h, ENET_EVENT_TYPE_RECEIVE);

		if (!n)
			r->first_ns = now_ns();
		enet_packet_destroy(ev.packet);
	}
	atomic_store(&r->last_ns, now_ns());
	for (int i = 0; i < 10; i++) { /* the last acks */
		ENetEvent ev;
		enet_host_service(r->h, &ev, 10);
	}
	return NULL;
}

static ENetHost *enet_pair(struct enet_rx *r, pthread_t *t, ENetPeer **peer)
{
	ENetHost *a = enet_open(NULL, 0);
	ENetAddress to;

	r->h = enet_open("127.0.0.1", 0);
	enet_address_set_host_ip(&to, "127.0.0.1");
	to.port = r->h->address.port;
	*peer = enet_host_connect(a, &to, 1, 0);
	if (!*peer)
		die("enet_host_connect", 0);
	pthread_create(t, NULL, enet_rx_thread, r);
	enet_wait(a, ENET_EVENT_TYPE_CONNECT);
	return a;
}

/* ENet queues without limit: keep about a window queued, service in between. */
static void enet_send_all(ENetHost *h, ENetPeer *p, const void *msg, size_t size, uint64_t count)
{
	ENetEvent ev;

	for (uint64_t i = 0; i < count; i++) {
		enet_send(p, msg, size);
		if (i % 64 == 63)
			while (enet_host_service(h, &ev, 0) > 0)
				if (ev.type == ENET_EVENT_TYPE_RECEIVE)
					enet_packet_destroy(ev.packet);
	}
	enet_host_flush(h);
}

static double enet_rate(size_t size, uint64_t count)
{
	static uint8_t msg[KAOS_UDP_MSG_MAX];
	struct enet_rx r = {.count = count};
	ENetPeer *p;
	pthread_t t;
	ENetHost *a = enet_pair(&r, &t, &p);
	uint64_t t0 = now_ns();
	ENetEvent ev;

	enet_send_all(a, p, msg, size, count);
	while (!atomic_load(&r.last_ns))
		if (enet_host_service(a, &ev, 1) > 0 && ev.type == ENET_EVENT_TYPE_RECEIVE)
			enet_packet_destroy(ev.packet);
	pthread_join(t, NULL);
	enet_host_destroy(a);
	enet_host_destroy(r.h);
	return (double)count / ((double)(r.last_ns - t0) / 1e9);
}

/* ------------------------------------------------------------------ latency */

/*
 * Both ping-pongs: one pinging thread (the caller) and one echoing thread
 * (echo_thread) serve kaos and ENet alike, so both see the same two threads
 * on the same CPUs. With an echo thread each, one transport's echo could sit
 * on a vCPU busy with other work for a whole run: p50 twice the other's, in
 * either direction from run to run; pinned to one CPU the two were level.
 */
struct lat_pair {
	struct kaos_udp *ka, *kb; /* ka pings, kb echoes */
	ENetHost *ea, *eb;
	ENetPeer *ep; /* ea's peer: eb */
	uint64_t count;
	pthread_t t;
};

/* Echoes what kb holds; the number echoed. */
static uint64_t kaos_echo(struct kaos_udp *kb)
{
	uint8_t buf[LAT_SIZE];
	uint64_t n = 0;
	int m, e;

	if ((e = kaos_udp_poll(kb)) < 0)
		die("kaos_udp_poll", e);
	while ((m = kaos_udp_recv(kb, buf, sizeof(buf))) >= 0) {
		if ((e = kaos_udp_send(kb, buf, (size_t)m)) || (e = kaos_udp_poll(kb)) < 0)
			die("kaos echo", e);
		n++;
	}
	if (m != -KAOS_EEMPTY)
		die("kaos_udp_recv", m);
	return n;
}

/* Echoes what eb has received; the number echoed. */
static uint64_t enet_echo(ENetHost *eb)
{
	uint64_t n = 0;
	ENetEvent ev;
	int r;

	while ((r = enet_host_service(eb, &ev, 0)) > 0) {
		if (ev.type != ENET_EVENT_TYPE_RECEIVE)
			continue;
		enet_send(ev.peer, ev.packet->data, ev.packet->dataLength);
		enet_host_flush(eb);
		enet_packet_destroy(ev.packet);
		n++;
	}
	if (r < 0)
		die("enet_host_service", 0);
	return n;
}

/* Serves both echoing ends until each echoed count pings; sleeps on both sockets. */
static void *echo_thread(void *arg)
{
	struct lat_pair *l = arg;
	uint64_t kn = 0, en = 0;

	while (kn < l->count || en < l->count) {
		struct pollfd p[2] = {{.fd = kaos_udp_fd(l->kb), .events = POLLIN},
				      {.fd = l->eb->socket, .events = POLLIN}};
		int wait;

		kn += kaos_echo(l->kb);
		en += enet_echo(l->eb);
		wait = kaos_udp_timeout_ms(l->kb);
		/* ENet runs its timers (resends) only when serviced: every ENET_SLICE_MS */
		poll(p, 2, wait < ENET_SLICE_MS ? wait : ENET_SLICE_MS);
	}
	kaos_udp_flush(l->kb, 1000); /* the last acks */
	for (int i = 0; i < 10; i++) {
		ENetEvent ev;
		enet_host_service(l->eb, &ev, 10);
	}
	return NULL;
}

static void lat_open(struct lat_pair *l, uint64_t count)
{
	ENetAddress to;
	int e;

	l->count = count;
	l->kb = kaos_open("127.0.0.1", 0);
	l->ka = kaos_open("127.0.0.1", 0);
	l->eb = enet_open("127.0.0.1", 0);
	l->ea = enet_open(NULL, 0);
	enet_address_set_host_ip(&to, "127.0.0.1");
	to.port = l->eb->address.port;
	if ((e = kaos_udp_connect(l->ka, "127.0.0.1", kaos_udp_port(l->kb))))
		die("kaos_udp_connect", e);
	if (!(l->ep = enet_host_connect(l->ea, &to, 1, 0)))
		die("enet_host_connect", 0);
	pthread_create(&l->t, NULL, echo_thread, l);
	if ((e = kaos_udp_wait_connected(l->ka, WAIT_MS)))
		die("connect", e);
	enet_wait(l->ea, ENET_EVENT_TYPE_CONNECT);
}

/* One 64-byte message there and back: the round trip in ns. */
static uint64_t kaos_ping(struct lat_pair *l)
{
	uint8_t msg[LAT_SIZE] = {0}, buf[LAT_SIZE];
	uint64_t t0 = now_ns();
	int e = kaos_udp_send(l->ka, msg, sizeof(msg));

	if (e || (e = kaos_udp_poll(l->ka)) < 0 ||
	    (e = kaos_udp_recv_wait(l->ka, buf, sizeof(buf), WAIT_MS)) < 0)
		die("ping", e);
	return now_ns() - t0;
}

static uint64_t enet_ping(struct lat_pair *l)
{
	uint8_t msg[LAT_SIZE] = {0};
	uint64_t t0 = now_ns();

	enet_send(l->ep, msg, sizeof(msg));
	enet_host_flush(l->ea);
	ENetEvent ev = enet_wait(l->ea, ENET_EVENT_TYPE_RECEIVE);
	uint64_t rtt = now_ns() - t0;

	enet_packet_destroy(ev.packet);
	return rtt;
}

/* Ends both pairs; datagrams sent per round trip to dgrams[], kaos' retransmits returned. */
static uint64_t lat_close(struct lat_pair *l, double dgrams[2])
{
	struct kaos_udp_stats a, b;
	int e;

	if ((e = kaos_udp_poll(l->ka)) < 0) /* the last echo's ack (held for a reply) */
		die("kaos_udp_poll", e);
	pthread_join(l->t, NULL);
	kaos_udp_stats(l->ka, &a);
	kaos_udp_stats(l->kb, &b);
	dgrams[0] = (double)(a.dgrams_sent + b.dgrams_sent) / (double)l->count;
	dgrams[1] = (double)(l->ea->totalSentPackets + l->eb->totalSentPackets) / (double)l->count;
	kaos_udp_close(l->ka);
	kaos_udp_close(l->kb);
	enet_host_destroy(l->ea);
	enet_host_destroy(l->eb);
	return a.retransmits + b.retransmits;
}

/* p99 of n round trips (sorts them), one-way in us */
static double p99_us(uint64_t *rtt, uint64_t n)
{
	qsort(rtt, n, sizeof(uint64_t), cmp_u64);
	return rtt[n * 99 / 100] / 2e3;
}

/*
 * The paired statistic: the pings cut in chunks of LAT_CHUNK pairs (a few
 * ms each, as long as one scheduler stall), kaos' p99 over ENet's in each;
 * their median and quartiles. A stall hits both pings of a pair, or
 * neither, whichever transport went first.
 */
static void lat_chunks(const uint64_t *const rtt[2], uint64_t count)
{
	uint64_t n = count / LAT_CHUNK, *r = calloc(n ? n : 1, sizeof(uint64_t)), c[LAT_CHUNK];

	if (!r)
		die("calloc", 0);
	for (uint64_t i = 0; i < n; i++) {
		double p[2];

		for (int w = 0; w < 2; w++) {
			memcpy(c, rtt[w] + i * LAT_CHUNK, sizeof(c));
			p[w] = p99_us(c, LAT_CHUNK);
		}
		r[i] = (uint64_t)(p[0] / p[1] * 1e6); /* ratios in ppm: sorted as integers */
	}
	qsort(r, n, sizeof(uint64_t), cmp_u64);
	if (n)
		printf("udp lat pairs chunks %lu of %u p99_ratio_q1 %.2f p99_ratio_median %.2f "
		       "p99_ratio_q3 %.2f\n",
		       (unsigned long)n, LAT_CHUNK, r[n / 4] / 1e6, r[n / 2] / 1e6,
		       r[n * 3 / 4] / 1e6);
	free(r);
}

/*
 * Ping-pong through both transports at once, one ping of each in turn (which
 * one first: a seeded coin): the same load, the same CPUs, one message in
 * flight for both (the same offered load). Blocks of 100 pings of one, then
 * of the other, let a stall of a few ms fall on one transport's block: a
 * slow ping makes its block last longer, so it takes the whole stall.
 * Prints each one's one-way p50/p99 (RTT / 2), the datagrams each sent per
 * round trip, then the paired statistic (lat_chunks).
 */
static void lat_both(uint64_t count)
{
	uint64_t *rtt[2] = {calloc(count, sizeof(uint64_t)), calloc(count, sizeof(uint64_t))};
	uint64_t coin = 0x9e3779b97f4a7c15ull, retransmits;
	double dgrams[2];
	struct lat_pair l;

	if (!rtt[0] || !rtt[1] || !count)
		die("calloc", 0);
	lat_open(&l, count);
	for (uint64_t i = 0; i < count; i++) {
		coin ^= coin << 13, coin ^= coin >> 7, coin ^= coin << 17;
		if (coin & 1) {
			rtt[0][i] = kaos_ping(&l);
			rtt[1][i] = enet_ping(&l);
		} else {
			rtt[1][i] = enet_ping(&l);
			rtt[0][i] = kaos_ping(&l);
		}
	}
	retransmits = lat_close(&l, dgrams);
	lat_chunks((const uint64_t *const *)rtt, count);
	for (int w = 0; w < 2; w++) {
		double p99 = p99_us(rtt[w], count); /* sorts */

		printf("udp lat %s p50_us %.1f p99_us %.1f dgrams_per_rtt %.2f",
		       w ? "enet" : "kaos", rtt[w][count / 2] / 2e3, p99, dgrams[w]);
		if (!w)
			printf(" retransmits %lu", (unsigned long)retransmits);
		printf("\n");
		free(rtt[w]);
	}
}

/* ------------------------------------------------------------------ goodput */

/* "ADDR:PORT" split in place. */
static uint16_t split(char *s)
{
	char *c = strrchr(s, ':');

	if (!c)
		die("expected ADDR:PORT", 0);
	*c = 0;
	return (uint16_t)atoi(c + 1);
}

/* Receives BYTES in SIZE messages, prints the goodput, answers one "done" message. */
static void goodput_recv(bool kaos, char *at, uint64_t bytes, size_t size)
{
	static uint8_t buf[KAOS_UDP_MSG_MAX];
	uint64_t count = bytes / size, t0 = 0, got = 0;
	uint16_t port = split(at);

	printf("ready\n");
	fflush(stdout);
	if (kaos) {
		struct kaos_udp *ep = kaos_open(at, port);

		for (; got < count; got++) {
			int m = kaos_udp_recv_wait(ep, buf, sizeof(buf), WAIT_MS);
			if (m < 0)
				die("recv", m);
			t0 = t0 ? t0 : now_ns();
		}
		uint64_t t1 = now_ns();
		kaos_udp_send(ep, "d", 1);
		kaos_udp_flush(ep, 5000);
		kaos_udp_close(ep);
		printf("udp goodput kaos size %zu MBps %.2f\n", size,
		       (double)(count - 1) * (double)size / ((double)(t1 - t0) / 1e3));
		return;
	}
	ENetHost *h = enet_open(at, port);
	ENetEvent ev = enet_wait(h, ENET_EVENT_TYPE_CONNECT);
	ENetPeer *p = ev.peer;
	for (; got < count; got++) {
		ev = enet_wait(h, ENET_EVENT_TYPE_RECEIVE);
		t0 = t0 ? t0 : now_ns();
		enet_packet_destroy(ev.packet);
	}
	uint64_t t1 = now_ns();
	enet_send(p, "d", 1);
	for (int i = 0; i < 50; i++)
		enet_host_service(h, &ev, 10);
	enet_host_destroy(h);
	printf("udp goodput enet size %zu MBps %.2f\n", size,
	       (double)(count - 1) * (double)size / ((double)(t1 - t0) / 1e3));
}

/* The sender's view of a goodput run: how loss was recovered. */
static void print_send_stats(const struct kaos_udp *ep)
{
	struct kaos_udp_stats st;

	kaos_udp_stats(ep, &st);
	printf("udp send kaos data %lu retransmits %lu timeout %lu fast %lu probes %lu "
	       "spurious %lu cwnd %u srtt_us %u\n",
	       (unsigned long)st.data_sent, (unsigned long)st.retransmits,
	       (unsigned long)st.retransmits_timeout, (unsigned long)st.retransmits_fast,
	       (unsigned long)st.loss_probes, (unsigned long)st.spurious_retransmits, st.cwnd,
	       st.srtt_us);
}

static void goodput_send(bool kaos, char *to, uint64_t bytes, size_t size, const char *from)
{
	static uint8_t msg[KAOS_UDP_MSG_MAX], buf[16];
	uint64_t count = bytes / size;
	uint16_t port = split(to);
	int e;

	if (kaos) {
		struct kaos_udp *ep = kaos_open(from, 0);

		if ((e = kaos_udp_connect(ep, to, port)) ||
		    (e = kaos_udp_wait_connected(ep, WAIT_MS)))
			die("connect", e);
		kaos_send_all(ep, msg, size, count);
		if ((e = kaos_udp_recv_wait(ep, buf, sizeof(buf), 10 * WAIT_MS)) != 1)
			die("no answer", e);
		print_send_stats(ep);
		kaos_udp_close(ep);
		return;
	}
	ENetHost *h = enet_open(from, 0);
	ENetAddress a = {.port = port};
	enet_address_set_host_ip(&a, to);
	ENetPeer *p = enet_host_connect(h, &a, 1, 0);
	if (!p)
		die("enet_host_connect", 0);
	enet_wait(h, ENET_EVENT_TYPE_CONNECT);
	enet_send_all(h, p, msg, size, count);
	ENetEvent ev = enet_wait_ms(h, ENET_EVENT_TYPE_RECEIVE, 10 * WAIT_MS);
	enet_packet_destroy(ev.packet);
	enet_host_destroy(h);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr, "usage: bench_udp rate kaos|enet SIZE COUNT | lat both COUNT |\n"
			"       recv kaos|enet ADDR:PORT BYTES SIZE | send kaos|enet ADDR:PORT "
			"BYTES SIZE FROM\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 4 ||
	    (strcmp(argv[2], "kaos") && strcmp(argv[2], "enet") && strcmp(argv[2], "both")))
		usage();
	bool kaos = !strcmp(argv[2], "kaos");

	if (enet_initialize())
		die("enet_initialize", 0);
	if (!strcmp(argv[1], "rate") && argc == 5) {
		size_t size = strtoul(argv[3], NULL, 0);
		uint64_t count = strtoull(argv[4], NULL, 0);
		double r = kaos ? kaos_rate(size, count) : enet_rate(size, count);

		printf("udp rate %s size %zu msgs_per_s %.0f\n", argv[2], size, r);
	} else if (!strcmp(argv[1], "lat") && argc == 4) {
		lat_both(strtoull(argv[3], NULL, 0));
	} else if (!strcmp(argv[1], "recv") && argc == 6) {
		goodput_recv(kaos, argv[3], strtoull(argv[4], NULL, 0), strtoul(argv[5], NULL, 0));
	} else if (!strcmp(argv[1], "send") && argc == 7) {
		goodput_send(kaos, argv[3], strtoull(argv[4], NULL, 0), strtoul(argv[5], NULL, 0),
			     argv[6]);
	} else {
		usage();
	}
	enet_deinitialize();
	return 0;
}
