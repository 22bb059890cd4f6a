// SPDX-License-Identifier: MIT
#include "kt_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	int fd;
	uint64_t deadline;
	char req[KT_HTTP_MAX_REQUEST + 1];
	size_t rlen;
	char *out; /* head + body */
	size_t olen, off;
};

struct kt_http {
	int lfd;
	char bound[80];
	kt_http_handler fn;
	void *ctx;
	struct conn *conns[KT_HTTP_MAX_CONNS];
	int nconns;
	uint64_t requests;
};

/* Splits "host:port" / "[v6]:port". */
static int split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon = strrchr(addr, ':');

	if (!colon || !colon[1] || strlen(colon + 1) >= pl)
		return -1;
	size_t n = (size_t)(colon - addr);

	if (addr[0] == '[') {
		if (n < 2 || addr[n - 1] != ']')
			return -1;
		addr++;
		n -= 2;
	}
	if (n == 0 || n >= hl)
		return -1;
	memcpy(host, addr, n);
	host[n] = 0;
	snprintf(port, pl, "%s", colon + 1);
	return 0;
}

struct kt_http *kt_http_listen(const char *addr, kt_http_handler fn, void *ctx, char *err,
			       size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	char host[64], port[8];
	struct kt_http *h;
	int fd = -1, e, one = 1;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "listen: expected ADDR:PORT, got '%s'", addr);
		return NULL;
	}
	e = getaddrinfo(host, port, &hints, &res);
	if (e) {
		snprintf(err, errlen, "listen %s: %s (a numeric address is needed)", addr,
			 gai_strerror(e));
		return NULL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	freeaddrinfo(res);
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->lfd = fd;
	h->fn = fn;
	h->ctx = ctx;

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int bport = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
			bport = ntohs(sin->sin_port);
			snprintf(h->bound, sizeof(h->bound), "%s:%d", ip, bport);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
			bport = ntohs(sin6->sin6_port);
			snprintf(h->bound, sizeof(h->bound), "[%s]:%d", ip, bport);
		}
	}
	return h;
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c->out);
	free(c);
}

void kt_http_close(struct kt_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nconns; i++)
		conn_free(h->conns[i]);
	close(h->lfd);
	free(h);
}

const char *kt_http_bound(const struct kt_http *h)
{
	return h->bound;
}

uint64_t kt_http_requests(const struct kt_http *h)
{
	return h->requests;
}

int kt_http_pollfds(struct kt_http *h, struct pollfd *p, int max)
{
	int n = 0;

	if (max <= 0)
		return 0;
	/* at the connection limit, new ones wait in the backlog */
	p[n++] =
		(struct pollfd){.fd = h->lfd, .events = h->nconns < KT_HTTP_MAX_CONNS ? POLLIN : 0};
	for (int i = 0; i < h->nconns && n < max; i++)
		p[n++] = (struct pollfd){.fd = h->conns[i]->fd,
					 .events = h->conns[i]->out ? POLLOUT : POLLIN};
	return n;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Internal Server Error";
	}
}

/* Builds the response; head_only: HEAD (no body, same headers). */
static void respond(struct conn *c, int status, const char *ctype, const char *body, size_t len,
		    bool head_only)
{
	char head[512];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\nCache-Control: no-store\r\n%s\r\n",
			  status, reason(status), ctype, len,
			  status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t blen = head_only ? 0 : len;

	c->out = malloc((size_t)hl + blen);
	if (!c->out) {
		c->olen = 0;
		return;
	}
	memcpy(c->out, head, (size_t)hl);
	if (blen)
		memcpy(c->out + hl, body, blen);
	c->olen = (size_t)hl + blen;
	c->off = 0;
}

static void simple(struct conn *c, int status, const char *msg)
{
	respond(c, status, "text/plain; charset=utf-8", msg, strlen(msg), false);
}

/* A complete request head is in c->req: parse and answer. */
static void handle(struct kt_http *h, struct conn *c)
{
	char method[16], target[1024], version[16], accept[512] = "";
	char *eol = strstr(c->req, "\r\n");

	if (!eol || sscanf(c->req, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		simple(c, 400, "bad request\n");
		return;
	}
	/* headers: only Accept matters */
	for (char *l = eol + 2, *e; *l && strncmp(l, "\r\n", 2); l = e + 2) {
		e = strstr(l, "\r\n");
		if (!e)
			break;
		if (!strncasecmp(l, "Accept:", 7)) {
			char *v = l + 7;

			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = (size_t)(e - v) < sizeof(accept) - 1 ? (size_t)(e - v)
									: sizeof(accept) - 1;
			memcpy(accept, v, n);
			accept[n] = 0;
		}
	}
	bool head = !strcmp(method, "HEAD");

	if (strcmp(method, "GET") && !head) {
		simple(c, 405, "only GET and HEAD\n");
		return;
	}
	char *q = strchr(target, '?');

	if (q)
		*q = 0;
	struct kt_http_response r = {.status = 500, .content_type = "text/plain; charset=utf-8"};

	h->requests++;
	if (h->fn(h->ctx, method, target, accept, &r) < 0 || (!r.body && r.len)) {
		free(r.body);
		simple(c, 500, "internal error\n");
		return;
	}
	respond(c, r.status, r.content_type, r.body ? r.body : "", r.len, head);
	free(r.body);
}

static void accept_new(struct kt_http *h, uint64_t now)
{
	while (h->nconns < KT_HTTP_MAX_CONNS) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or an error the next poll reports again */
		struct conn *c = calloc(1, sizeof(*c));

		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->deadline = now + KT_HTTP_TIMEOUT_NS;
		h->conns[h->nconns++] = c;
	}
}

/* Returns false when the connection is done. */
static bool conn_step(struct kt_http *h, struct conn *c, short revents)
{
	if (revents & (POLLERR | POLLNVAL))
		return false;
	if (!c->out && (revents & (POLLIN | POLLHUP))) {
		ssize_t r = recv(c->fd, c->req + c->rlen, KT_HTTP_MAX_REQUEST - c->rlen, 0);

		if (r == 0)
			return false;
		if (r < 0)
			return errno == EAGAIN || errno == EINTR;
		c->rlen += (size_t)r;
		c->req[c->rlen] = 0;
		if (strstr(c->req, "\r\n\r\n"))
			handle(h, c);
		else if (c->rlen == KT_HTTP_MAX_REQUEST)
			simple(c, 431, "request head too large\n");
		else
			return true;
		if (!c->out)
			return false;
	}
	if (c->out && (revents & POLLOUT || c->off == 0)) {
		while (c->off < c->olen) {
			ssize_t w = send(c->fd, c->out + c->off, c->olen - c->off, MSG_NOSIGNAL);

			if (w < 0)
				return errno == EAGAIN || errno == EINTR;
			c->off += (size_t)w;
		}
		shutdown(c->fd, SHUT_WR);
		return false;
	}
	return true;
}

void kt_http_service(struct kt_http *h, const struct pollfd *p, int n, uint64_t now)
{
	for (int k = 1; k < n; k++) {
		for (int i = 0; i < h->nconns; i++) {
			struct conn *c = h->conns[i];

			if (c->fd != p[k].fd || !p[k].revents)
				continue;
			if (!conn_step(h, c, p[k].revents)) {
				conn_free(c);
				h->conns[i] = h->conns[--h->nconns];
			}
			break;
		}
	}
	for (int i = 0; i < h->nconns;) {
		if (now >= h->conns[i]->deadline) {
			conn_free(h->conns[i]);
			h->conns[i] = h->conns[--h->nconns];
			continue;
		}
		i++;
	}
	if (n > 0 && p[0].fd == h->lfd && (p[0].revents & POLLIN))
		accept_new(h, now);
}
