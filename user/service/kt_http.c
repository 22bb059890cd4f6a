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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kt_array.h"

/* Accepts per service call: the listen socket cannot starve the rest of the loop. */
#define ACCEPT_BATCH 256

/* Request ids, unique in the process: a listener replaced on reload reuses none. */
static uint64_t next_request_id;

struct conn {
	int fd;
	uint64_t deadline;
	char *req; /* grown on demand: an idle connection holds no buffer */
	size_t rlen, rcap;
	char *out; /* head + body */
	size_t olen, off;
	bool done;
	bool head_only;	   /* HEAD: a deferred response goes without its body */
	uint64_t deferred; /* the id of the request waiting for kt_http_complete, 0: none */
};

/* conns[] is kept in accept order: the first without a response is the oldest idle one. */
struct kt_http {
	int lfd;
	char bound[80];
	kt_http_handler fn;
	void *ctx;
	struct conn **conns;
	int nconns, max_conns;
	uint64_t requests, evicted;
	uint64_t now;		      /* of the current (or last) kt_http_service call */
	uint64_t accept_paused_until; /* out of fds with nothing to drop */
};

/* The cap that fits the open-file limit: half of it, the rest is the tracer's. */
static int default_max_conns(void)
{
	struct rlimit rl;
	rlim_t half;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return KT_HTTP_MAX_CONNS;
	half = rl.rlim_cur / 2;
	if (half < 16)
		return 16;
	return half > KT_HTTP_MAX_CONNS ? KT_HTTP_MAX_CONNS : (int)half;
}

long kt_http_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			return -errno;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (long)INT32_MAX : (long)rl.rlim_cur;
}

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
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, SOMAXCONN)) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	freeaddrinfo(res);
	h = calloc(1, sizeof(*h));
	if (h)
		h->conns = calloc(KT_HTTP_MAX_CONNS, sizeof(*h->conns));
	if (!h || !h->conns) {
		free(h);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->lfd = fd;
	h->fn = fn;
	h->ctx = ctx;
	h->max_conns = default_max_conns();

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
	free(c->req);
	free(c->out);
	free(c);
}

void kt_http_close(struct kt_http *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nconns; i++)
		conn_free(h->conns[i]);
	free(h->conns);
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

uint64_t kt_http_evicted(const struct kt_http *h)
{
	return h->evicted;
}

int kt_http_max_conns(const struct kt_http *h)
{
	return h->max_conns;
}

void kt_http_set_max_conns(struct kt_http *h, int n)
{
	h->max_conns = n < 1 ? 1 : n > KT_HTTP_MAX_CONNS ? KT_HTTP_MAX_CONNS : n;
}

/*
 * p[0] is the listen socket, p[1 + i] is conns[i]: kt_http_service relies
 * on that order (nothing changes conns[] in between).
 */
int kt_http_pollfds(struct kt_http *h, struct pollfd *p, int max)
{
	int n = 0;

	if (max <= 0)
		return 0;
	p[n++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
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
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
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
		c->done = true;
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

/* The next line of the head at *pos, its CR LF or bare LF cut off; NULL at the end. */
static char *next_line(char **pos)
{
	char *l = *pos, *nl = strchr(l, '\n');

	if (!nl)
		return NULL;
	*nl = 0;
	if (nl > l && nl[-1] == '\r')
		nl[-1] = 0;
	*pos = nl + 1;
	return l;
}

/* The Accept header's value among the header lines at pos ("" if none). */
static void find_accept(char *pos, char *accept, size_t n)
{
	char *l;

	accept[0] = 0;
	while ((l = next_line(&pos)) && *l) {
		if (strncasecmp(l, "Accept:", 7))
			continue;
		l += 7;
		while (*l == ' ' || *l == '\t')
			l++;
		snprintf(accept, n, "%s", l);
	}
}

/* A complete request head is in c->req: parse and answer. */
static void handle(struct kt_http *h, struct conn *c)
{
	char method[16], target[1024], version[16], accept[512];
	char *pos = c->req, *line = next_line(&pos);

	if (!line || sscanf(line, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7)) {
		simple(c, 400, "bad request\n");
		return;
	}
	find_accept(pos, accept, sizeof(accept));
	bool head = !strcmp(method, "HEAD");

	if (strcmp(method, "GET") && !head) {
		simple(c, 405, "only GET and HEAD\n");
		return;
	}
	char *q = strchr(target, '?');

	if (q)
		*q++ = 0;
	struct kt_http_response r = {.status = 500,
				     .content_type = "text/plain; charset=utf-8",
				     .query = q ? q : "",
				     .id = ++next_request_id};

	h->requests++;
	if (h->fn(h->ctx, method, target, accept, &r) < 0 || (!r.body && r.len)) {
		free(r.body);
		simple(c, 500, "internal error\n");
		return;
	}
	if (r.defer_ns && !r.body) {
		c->deferred = r.id;
		c->head_only = head;
		c->deadline = h->now + r.defer_ns;
		return;
	}
	respond(c, r.status, r.content_type, r.body ? r.body : "", r.len, head);
	free(r.body);
}

/*
 * Whether the bytes from..rlen can still be the start of an HTTP head: no
 * NUL or control byte but CR, LF and TAB anywhere, and a request line that
 * starts with an upper-case method followed by a space. Checked as bytes
 * arrive, so that garbage gets its 400 at once, not at the timeout.
 */
static bool plausible(const struct conn *c, size_t from)
{
	for (size_t i = from; i < c->rlen; i++) {
		unsigned char b = (unsigned char)c->req[i];

		if ((b < 0x20 && b != '\r' && b != '\n' && b != '\t') || b == 0x7f)
			return false;
	}
	for (size_t i = 0; i < c->rlen && c->req[i] != ' '; i++)
		if (c->req[i] < 'A' || c->req[i] > 'Z' || i >= 15)
			return false;
	return c->rlen == 0 || c->req[0] != ' ';
}

/* Whether the head is complete: a blank line, CR LF or bare LF. */
static bool head_complete(const struct conn *c)
{
	return strstr(c->req, "\n\r\n") || strstr(c->req, "\n\n");
}

/* Reads what is there; false when the connection is done (closed or failed). */
static bool conn_read(struct kt_http *h, struct conn *c)
{
	if (c->rcap < KT_HTTP_MAX_REQUEST + 1 && c->rcap - c->rlen < 2) {
		size_t want = c->rcap ? c->rcap * 4 : 1024;

		if (want > KT_HTTP_MAX_REQUEST + 1)
			want = KT_HTTP_MAX_REQUEST + 1;
		if (kt_array_reserve(c->req, c->rcap, want))
			return false;
	}
	ssize_t r = recv(c->fd, c->req + c->rlen, c->rcap - 1 - c->rlen, 0);

	if (r == 0)
		return false;
	if (r < 0)
		return errno == EAGAIN || errno == EINTR;
	size_t from = c->rlen;

	c->rlen += (size_t)r;
	c->req[c->rlen] = 0;
	if (!plausible(c, from))
		simple(c, 400, "bad request\n");
	else if (head_complete(c))
		handle(h, c);
	else if (c->rlen == KT_HTTP_MAX_REQUEST)
		simple(c, 431, "request head too large\n");
	return !c->done;
}

/* Sends what the socket takes; false when the connection is done. */
static bool conn_write(struct conn *c)
{
	while (c->off < c->olen) {
		ssize_t w = send(c->fd, c->out + c->off, c->olen - c->off, MSG_NOSIGNAL);

		if (w < 0)
			return errno == EAGAIN || errno == EINTR;
		c->off += (size_t)w;
	}
	shutdown(c->fd, SHUT_WR);
	return false;
}

/* A deferred request's client may only close: false then; other bytes are dropped. */
static bool conn_wait(struct conn *c)
{
	char buf[512];
	ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

	return r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR));
}

/* Returns false when the connection is done. */
static bool conn_step(struct kt_http *h, struct conn *c, short revents)
{
	if (revents & (POLLERR | POLLNVAL))
		return false;
	if (c->deferred)
		return !(revents & (POLLIN | POLLHUP)) || conn_wait(c);
	if (!c->out && (revents & (POLLIN | POLLHUP)) && !conn_read(h, c))
		return false;
	/* a response just built is tried at once: most fit the socket buffer */
	if (c->out && (revents & POLLOUT || c->off == 0))
		return conn_write(c);
	return true;
}

/* The oldest connection that has not sent a whole request, or -1. */
static int oldest_idle(const struct kt_http *h)
{
	for (int i = 0; i < h->nconns; i++)
		if (!h->conns[i]->out && !h->conns[i]->deferred)
			return i;
	return -1;
}

static void drop_conn(struct kt_http *h, int i)
{
	conn_free(h->conns[i]);
	memmove(&h->conns[i], &h->conns[i + 1], sizeof(h->conns[0]) * (size_t)(h->nconns - i - 1));
	h->nconns--;
}

static void accept_new(struct kt_http *h, uint64_t now)
{
	if (now < h->accept_paused_until)
		return;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		bool full = h->nconns >= h->max_conns;

		if (full && oldest_idle(h) < 0)
			return; /* every one is being answered: the rest wait in the backlog */
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* out of fds: free one, else leave the backlog alone for a while */
			if (oldest_idle(h) >= 0) {
				drop_conn(h, oldest_idle(h));
				h->evicted++;
				continue;
			}
			h->accept_paused_until = now + 100000000ull;
			return;
		}
		if (fd < 0)
			return; /* EAGAIN, or an error the next poll reports again */
		struct conn *c = calloc(1, sizeof(*c));

		if (!c) {
			close(fd);
			return;
		}
		if (full) {
			drop_conn(h, oldest_idle(h));
			h->evicted++;
		}
		c->fd = fd;
		c->deadline = now + KT_HTTP_TIMEOUT_NS;
		h->conns[h->nconns++] = c;
	}
}

void kt_http_service(struct kt_http *h, const struct pollfd *p, int n, uint64_t now)
{
	int kept = 0;

	h->now = now;
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];
		int k = i + 1; /* see kt_http_pollfds */
		bool alive = now < c->deadline && !c->done;

		if (alive && k < n && p[k].fd == c->fd && p[k].revents)
			alive = conn_step(h, c, p[k].revents);
		if (alive)
			h->conns[kept++] = c; /* order kept: oldest first */
		else
			conn_free(c);
	}
	h->nconns = kept;
	if (n > 0 && p[0].fd == h->lfd && (p[0].revents & POLLIN))
		accept_new(h, now);
}

int kt_http_complete(struct kt_http *h, uint64_t id, int status, const char *content_type,
		     const void *body, size_t len)
{
	if (!id)
		return -ENOENT;
	for (int i = 0; i < h->nconns; i++) {
		struct conn *c = h->conns[i];

		if (c->deferred != id || c->done)
			continue;
		c->deferred = 0;
		respond(c, status, content_type, body, len, c->head_only);
		/* the rest of a big body: from the service loop, in the usual time */
		if (c->deadline < h->now + KT_HTTP_TIMEOUT_NS)
			c->deadline = h->now + KT_HTTP_TIMEOUT_NS;
		if (!c->done && !conn_write(c))
			c->done = true;
		return 0;
	}
	return -ENOENT;
}
