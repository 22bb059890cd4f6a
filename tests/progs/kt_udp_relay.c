// SPDX-License-Identifier: MIT
/*
 * A UDP impairment relay for the reliable-UDP tests (this kernel has no
 * netem): delay, jitter and reordering, seeded so a failure reproduces.
 *   kt_udp_relay --listen ADDR:PORT --to ADDR:PORT [--delay-ms D]
 *                [--jitter-ms J] [--reorder-pct R] [--seed S]
 * Datagrams to --listen go to --to, and the answers from --to go back to
 * whoever last sent to --listen. Each datagram waits D +- J ms (uniform),
 * but never overtakes the one before it in its direction (jitter without
 * reordering, as a link queue), except that R % of them are sent at once,
 * ahead of everything queued: those are the reordered ones. Prints "ready"
 * once bound; on SIGTERM/SIGINT it prints its counts and exits 0:
 *   relay fwd N back M reordered R overflow O fwd_bytes B fwd_span_us S
 * (overflow: dropped because the delay queue was full, counted; B bytes
 * came in to --listen between the first and the last, S us apart: the rate
 * a bottleneck before the relay let through).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QLEN   32768u /* datagrams waiting per direction */
#define DG_MAX 2048u

struct held {
	uint64_t due_ns;
	uint16_t len;
	uint8_t bytes[DG_MAX];
};

struct dir { /* one direction's delay queue, a FIFO: due times never decrease */
	struct held *q;
	uint32_t head, tail;
	uint64_t last_due, count;
	int out_fd; /* the socket it leaves by */
	struct sockaddr_in *to;
};

static volatile sig_atomic_t stop;
static uint64_t prng, delay_ns, jitter_ns, reorder_ppm, reordered, overflow;
static uint64_t fwd_bytes, fwd_first_ns, fwd_last_ns;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "kt_udp_relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t n) /* xorshift64*, uniform enough in [0, n) */
{
	prng ^= prng >> 12;
	prng ^= prng << 25;
	prng ^= prng >> 27;
	return n ? (prng * 0x2545f4914f6cdd1dull >> 11) % n : 0;
}

static struct sockaddr_in parse_addr(const char *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "kt_udp_relay: '%s' is not ADDR:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "kt_udp_relay: '%s' is not an IPv4 address\n", host);
		exit(2);
	}
	a.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	return a;
}

static int udp_socket(const struct sockaddr_in *bind_to)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int big = 8 << 20;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0)
		die("bind");
	return fd;
}

static void send_now(struct dir *d, const void *bytes, size_t len)
{
	/* a full socket buffer loses it, as a link would; the transport recovers */
	if (d->to->sin_port &&
	    sendto(d->out_fd, bytes, len, 0, (struct sockaddr *)d->to, sizeof(*d->to)) >= 0)
		d->count++;
}

/* One datagram in: sent at once (reordered) or queued until its due time. */
static void admit(struct dir *d, const uint8_t *bytes, size_t len, uint64_t now)
{
	struct held *h;
	uint64_t due;

	if (rnd(1000000) < reorder_ppm) {
		reordered++;
		send_now(d, bytes, len);
		return;
	}
	if (d->tail - d->head == QLEN) {
		overflow++;
		return;
	}
	due = now + delay_ns - jitter_ns + rnd(2 * jitter_ns + 1);
	d->last_due = due > d->last_due ? due : d->last_due;
	h = &d->q[d->tail++ % QLEN];
	h->due_ns = d->last_due;
	h->len = (uint16_t)len;
	memcpy(h->bytes, bytes, len);
}

/* Sends what is due; returns ns until the next due datagram (or a second). */
static uint64_t release(struct dir *d, uint64_t now)
{
	while (d->head != d->tail) {
		struct held *h = &d->q[d->head % QLEN];

		if (h->due_ns > now)
			return h->due_ns - now;
		send_now(d, h->bytes, h->len);
		d->head++;
	}
	return 1000000000ull;
}

/* Reads every waiting datagram on fd into d; from: the sender's address (or NULL). */
static void drain(int fd, struct dir *d, struct sockaddr_in *from)
{
	static uint8_t buf[DG_MAX];

	for (;;) {
		struct sockaddr_in a;
		socklen_t alen = sizeof(a);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&a, &alen);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			die("recvfrom");
		uint64_t now = now_ns();

		if (from) { /* the forward direction: what the link before us let through */
			*from = a;
			fwd_bytes += (uint64_t)n;
			fwd_first_ns = fwd_first_ns ? fwd_first_ns : now;
			fwd_last_ns = now;
		}
		admit(d, buf, (size_t)n, now);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in listen_at = {0}, to = {0}, client = {0}, any = {.sin_family = AF_INET};
	struct dir fwd = {0}, back = {0};
	int have_listen = 0, have_to = 0;

	prng = 0x9e3779b97f4a7c15ull;
	delay_ns = 10000000ull;
	jitter_ns = 5000000ull;
	reorder_ppm = 100000;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];

		if (!strcmp(o, "--listen"))
			listen_at = parse_addr(v), have_listen = 1;
		else if (!strcmp(o, "--to"))
			to = parse_addr(v), have_to = 1;
		else if (!strcmp(o, "--delay-ms"))
			delay_ns = strtoull(v, NULL, 10) * 1000000ull;
		else if (!strcmp(o, "--jitter-ms"))
			jitter_ns = strtoull(v, NULL, 10) * 1000000ull;
		else if (!strcmp(o, "--reorder-pct"))
			reorder_ppm = strtoull(v, NULL, 10) * 10000ull;
		else if (!strcmp(o, "--seed"))
			prng = strtoull(v, NULL, 0) | 1;
		else {
			fprintf(stderr, "kt_udp_relay: unknown option %s\n", o);
			return 2;
		}
	}
	if (!have_listen || !have_to || jitter_ns > delay_ns) {
		fprintf(stderr, "kt_udp_relay: needs --listen and --to; jitter <= delay\n");
		return 2;
	}
	any.sin_addr = to.sin_addr; /* the inner socket lives on --to's side */
	int lfd = udp_socket(&listen_at), ifd = udp_socket(&any);
	fwd = (struct dir){.q = malloc(QLEN * sizeof(struct held)), .out_fd = ifd, .to = &to};
	back = (struct dir){.q = malloc(QLEN * sizeof(struct held)), .out_fd = lfd, .to = &client};
	if (!fwd.q || !back.q)
		die("malloc");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = ifd, .events = POLLIN}};
		uint64_t now = now_ns(), a = release(&fwd, now), b = release(&back, now);
		uint64_t wait = a < b ? a : b;
		struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};

		if (ppoll(p, 2, &ts, NULL) < 0 && errno != EINTR)
			die("ppoll");
		drain(lfd, &fwd, &client);
		drain(ifd, &back, NULL); /* before anyone spoke: nowhere to go, dropped */
	}
	printf("relay fwd %llu back %llu reordered %llu overflow %llu fwd_bytes %llu fwd_span_us "
	       "%llu\n",
	       (unsigned long long)fwd.count, (unsigned long long)back.count,
	       (unsigned long long)reordered, (unsigned long long)overflow,
	       (unsigned long long)fwd_bytes,
	       (unsigned long long)(fwd_last_ns - fwd_first_ns) / 1000);
	return 0;
}
