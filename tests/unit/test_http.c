/* SPDX-License-Identifier: MIT */
/* kt_http: real sockets on loopback, driven like the daemon drives it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_http.h"

static char last_accept[256];

static int handler(void *ctx, const char *method, const char *path, const char *accept,
		   struct kt_http_response *r)
{
	int *calls = ctx;

	(*calls)++;
	snprintf(last_accept, sizeof(last_accept), "%s", accept);
	if (!strcmp(path, "/fail"))
		return -1;
	if (strcmp(path, "/metrics")) {
		r->status = 404;
		r->body = strdup("no\n");
		r->len = 3;
		return 0;
	}
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4";
	if (asprintf(&r->body, "m{method=\"%s\"} 1\n", method) < 0)
		return -1;
	r->len = strlen(r->body);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int port_of(struct kt_http *h)
{
	const char *b = kt_http_bound(h);
	return atoi(strrchr(b, ':') + 1);
}

/* Sends req (len bytes), serves until the server closes, returns what came back. */
static char *exchange(struct kt_http *h, const char *req, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(h))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	static char resp[65536];
	size_t got = 0;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (len)
		assert_int_equal(send(fd, req, len, 0), (ssize_t)len);
	for (int i = 0; i < 200; i++) {
		struct pollfd p[KT_HTTP_MAX_CONNS + 2];
		int n = kt_http_pollfds(h, p, KT_HTTP_MAX_CONNS + 1);
		struct pollfd cp = {.fd = fd, .events = POLLIN};

		poll(p, (nfds_t)n, 10);
		kt_http_service(h, p, n, now_ns());
		if (poll(&cp, 1, 0) == 1) {
			ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
	}
	close(fd);
	resp[got] = 0;
	return resp;
}

static void test_requests(void **state)
{
	(void)state;
	int calls = 0;
	char err[256];
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));

	assert_non_null(h);
	assert_true(port_of(h) > 0);
	assert_int_equal(strncmp(kt_http_bound(h), "127.0.0.1:", 10), 0);

	const char *get = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\naccept: "
			  "application/openmetrics-text\r\n\r\n";
	char *r = exchange(h, get, strlen(get));

	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4\r\n"));
	assert_non_null(strstr(r, "Content-Length: 18\r\n"));
	assert_non_null(strstr(r, "\r\n\r\nm{method=\"GET\"} 1\n"));
	assert_string_equal(last_accept, "application/openmetrics-text");
	assert_int_equal(calls, 1);

	const char *head = "HEAD /metrics HTTP/1.0\r\n\r\n";
	r = exchange(h, head, strlen(head));
	assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(r, "Content-Length: 19\r\n"));
	assert_null(strstr(r, "m{"));
	assert_string_equal(last_accept, "");

	r = exchange(h, "GET /nope HTTP/1.1\r\n\r\n", 22);
	assert_non_null(strstr(r, "HTTP/1.1 404 Not Found"));
	r = exchange(h, "GET /fail HTTP/1.1\r\n\r\n", 22);
	assert_non_null(strstr(r, "HTTP/1.1 500"));
	r = exchange(h, "POST /metrics HTTP/1.1\r\n\r\n", 26);
	assert_non_null(strstr(r, "HTTP/1.1 405"));
	assert_non_null(strstr(r, "Allow: GET, HEAD"));
	r = exchange(h, "hello\r\n\r\n", 9);
	assert_non_null(strstr(r, "HTTP/1.1 400"));
	r = exchange(h, "GET / SMTP/1.0\r\n\r\n", 18);
	assert_non_null(strstr(r, "HTTP/1.1 400"));
	/* a head that never ends */
	char *big = malloc(KT_HTTP_MAX_REQUEST + 100);

	assert_non_null(big);
	memcpy(big, "GET /metrics HTTP/1.1\r\n", 23);
	memset(big + 23, 'a', KT_HTTP_MAX_REQUEST + 77);
	r = exchange(h, big, KT_HTTP_MAX_REQUEST + 100);
	assert_non_null(strstr(r, "HTTP/1.1 431"));
	free(big);
	/* a client that connects and says nothing is dropped at the timeout, others go on */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(h))};
	int idle = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(idle, (struct sockaddr *)&sa, sizeof(sa)), 0);
	r = exchange(h, get, strlen(get));
	assert_non_null(strstr(r, "200 OK"));
	struct pollfd p[KT_HTTP_MAX_CONNS + 1];
	int n = kt_http_pollfds(h, p, KT_HTTP_MAX_CONNS + 1);

	assert_int_equal(n, 2); /* listen + the idle one */
	kt_http_service(h, p, 0, now_ns() + KT_HTTP_TIMEOUT_NS + 1);
	assert_int_equal(kt_http_pollfds(h, p, KT_HTTP_MAX_CONNS + 1), 1);
	char c;
	assert_int_equal(recv(idle, &c, 1, 0), 0); /* closed by the server */
	close(idle);
	assert_int_equal(kt_http_requests(h), 5); /* those that reached the handler */
	kt_http_close(h);
}

static int connect_lo(struct kt_http *h)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(h))};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Lines ending in a bare LF are a request like any other. */
static void test_bare_lf(void **state)
{
	(void)state;
	int calls = 0;
	char err[256];
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));
	const char *get = "GET /metrics HTTP/1.1\nHost: a\nAccept: text/plain\n\n";

	assert_non_null(h);
	char *r = exchange(h, get, strlen(get));

	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_string_equal(last_accept, "text/plain");
	/* mixed endings */
	get = "GET /metrics HTTP/1.1\r\nHost: a\n\r\n";
	r = exchange(h, get, strlen(get));
	assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(calls, 2);
	kt_http_close(h);
}

/*
 * Bytes that cannot start an HTTP request get a 400 at once, without a
 * blank line and long before the idle timeout (exchange() gives up after
 * about 2 s; the timeout is 10 s).
 */
static void test_garbage_is_rejected_at_once(void **state)
{
	(void)state;
	int calls = 0;
	char err[256];
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));
	static const char nul[] = "GET /metrics\0 HTTP/1.1";
	static const char bin[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	static const char lower[] = "get /metrics HTTP/1.1";
	static const char ctl[] = "GET /m\x1b[31m";
	const struct {
		const char *b;
		size_t n;
	} cases[] = {{nul, sizeof(nul) - 1},
		     {bin, sizeof(bin) - 1},
		     {lower, sizeof(lower) - 1},
		     {ctl, sizeof(ctl) - 1}};

	assert_non_null(h);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t t0 = now_ns();
		char *r = exchange(h, cases[i].b, cases[i].n);

		assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request"));
		assert_true(now_ns() - t0 < KT_HTTP_TIMEOUT_NS / 2);
	}
	assert_int_equal(calls, 0);
	kt_http_close(h);
}

/*
 * Idle and half-sent connections, more than the old limit of 16, do not
 * keep a scrape waiting: it is answered in the same rounds as if alone.
 */
static void test_idle_connections_do_not_block(void **state)
{
	(void)state;
	int calls = 0, idle[40];
	char err[256];
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));
	const char *get = "GET /metrics HTTP/1.1\r\n\r\n";

	assert_non_null(h);
	for (int i = 0; i < 40; i++) {
		idle[i] = connect_lo(h);
		if (i % 2) /* a slow client: part of a request line */
			assert_int_equal(send(idle[i], "GET /met", 8, 0), 8);
	}
	char *r = exchange(h, get, strlen(get));

	assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
	assert_int_equal(kt_http_evicted(h), 0);
	for (int i = 0; i < 40; i++)
		close(idle[i]);
	kt_http_close(h);
}

/* Whether the i-th idle connection (from 0) was taken in, cap 4. */
static bool held(struct kt_http *h, int i)
{
	struct pollfd p[8];

	if (i < 4)
		return kt_http_pollfds(h, p, 8) == 2 + i;
	return kt_http_evicted(h) == (uint64_t)(i - 3);
}

/* At the cap the oldest idle connections are dropped for new ones; a scrape gets in. */
static void test_cap_drops_oldest_idle(void **state)
{
	(void)state;
	int calls = 0, idle[6];
	char err[256], c;
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));
	const char *get = "GET /metrics HTTP/1.1\r\n\r\n";
	struct pollfd p[8];
	int n;

	assert_non_null(h);
	assert_true(kt_http_max_conns(h) >= 16);
	kt_http_set_max_conns(h, 4);
	assert_int_equal(kt_http_max_conns(h), 4);
	for (int i = 0; i < 6; i++) {
		idle[i] = connect_lo(h);
		/* one at a time, so that the accept order is the connect order */
		for (int k = 0; k < 100 && !held(h, i); k++) {
			n = kt_http_pollfds(h, p, 8);
			poll(p, (nfds_t)n, 10);
			kt_http_service(h, p, n, now_ns());
		}
	}
	assert_int_equal(kt_http_pollfds(h, p, 8), 5); /* listen + the cap */
	assert_int_equal(kt_http_evicted(h), 2);
	/* the first two were closed by the server, the last four are held */
	assert_int_equal(recv(idle[0], &c, 1, 0), 0);
	assert_int_equal(recv(idle[1], &c, 1, 0), 0);
	assert_int_equal(recv(idle[5], &c, 1, MSG_DONTWAIT), -1);
	char *r = exchange(h, get, strlen(get));

	assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
	assert_int_equal(kt_http_evicted(h), 3);
	for (int i = 0; i < 6; i++)
		close(idle[i]);
	kt_http_close(h);
}

static void test_listen_errors(void **state)
{
	(void)state;
	char err[256];
	int calls = 0;
	struct kt_http *h = kt_http_listen("127.0.0.1:0", handler, &calls, err, sizeof(err));
	char addr[64];

	assert_non_null(h);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port_of(h));
	assert_null(kt_http_listen(addr, handler, &calls, err, sizeof(err)));
	assert_non_null(strstr(err, "Address already in use"));
	kt_http_close(h);
	assert_null(kt_http_listen("localhost:80", handler, &calls, err, sizeof(err)));
	assert_non_null(strstr(err, "numeric address"));
	assert_null(kt_http_listen("9464", handler, &calls, err, sizeof(err)));
	assert_non_null(strstr(err, "expected ADDR:PORT"));
	h = kt_http_listen("[::1]:0", handler, &calls, err, sizeof(err));
	if (h) { /* IPv6 loopback may be disabled */
		assert_int_equal(strncmp(kt_http_bound(h), "[::1]:", 6), 0);
		kt_http_close(h);
	}
}

/* /later?x=1 is deferred: the handler keeps its id and query. */
static uint64_t deferred_id;
static char deferred_query[64];

static int defer_handler(void *ctx, const char *method, const char *path, const char *accept,
			 struct kt_http_response *r)
{
	(void)ctx;
	(void)method;
	(void)accept;
	if (strcmp(path, "/later"))
		return handler(ctx, method, path, accept, r);
	deferred_id = r->id;
	snprintf(deferred_query, sizeof(deferred_query), "%s", r->query);
	r->defer_ns = 60000000000ull;
	return 0;
}

static void serve_once(struct kt_http *h, uint64_t now)
{
	struct pollfd p[KT_HTTP_MAX_CONNS + 1];
	int n = kt_http_pollfds(h, p, KT_HTTP_MAX_CONNS + 1);

	poll(p, (nfds_t)n, 10);
	kt_http_service(h, p, n, now);
}

/*
 * A deferred request waits past the usual timeout (its own deadline),
 * is not dropped at the cap as an idle one, is answered by
 * kt_http_complete, and a client that closed it first makes complete fail.
 */
static void test_deferred(void **state)
{
	(void)state;
	int calls = 0;
	char err[256], buf[512] = "";
	struct kt_http *h = kt_http_listen("127.0.0.1:0", defer_handler, &calls, err, sizeof(err));
	const char *req = "GET /later?seconds=2 HTTP/1.1\r\n\r\n";
	int fd;
	ssize_t got = 0;

	assert_non_null(h);
	kt_http_set_max_conns(h, 1);
	fd = connect_lo(h);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	for (int i = 0; i < 50 && !deferred_id; i++)
		serve_once(h, now_ns());
	assert_true(deferred_id > 0);
	assert_string_equal(deferred_query, "seconds=2");
	/* past the usual timeout, and a new connection at the cap: still held */
	serve_once(h, now_ns() + KT_HTTP_TIMEOUT_NS + 1);
	int other = connect_lo(h);

	for (int i = 0; i < 5; i++)
		serve_once(h, now_ns() + KT_HTTP_TIMEOUT_NS + 1);
	assert_int_equal(kt_http_complete(h, deferred_id, 503, "text/plain", "bye\n", 4), 0);
	for (int i = 0; i < 50; i++) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - (size_t)got, MSG_DONTWAIT);

		if (r == 0)
			break;
		if (r > 0)
			got += r;
		serve_once(h, now_ns() + KT_HTTP_TIMEOUT_NS + 1);
	}
	buf[got] = 0;
	assert_non_null(strstr(buf, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\nbye\n"));
	assert_int_equal(kt_http_complete(h, deferred_id, 200, "text/plain", "", 0), -ENOENT);
	close(fd);
	close(other);
	/* the client goes away while it waits: the request is dropped */
	deferred_id = 0;
	fd = connect_lo(h);
	assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	for (int i = 0; i < 50 && !deferred_id; i++)
		serve_once(h, now_ns());
	assert_true(deferred_id > 0);
	close(fd);
	for (int i = 0; i < 5; i++)
		serve_once(h, now_ns());
	assert_int_equal(kt_http_complete(h, deferred_id, 200, "text/plain", "", 0), -ENOENT);
	kt_http_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_garbage_is_rejected_at_once),
		cmocka_unit_test(test_idle_connections_do_not_block),
		cmocka_unit_test(test_cap_drops_oldest_idle),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_deferred),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
