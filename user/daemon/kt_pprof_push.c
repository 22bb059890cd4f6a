// SPDX-License-Identifier: MIT
/* kt_pprof_push: profiles pushed to a Pyroscope /ingest (kt_pprof_push.h). */
#include "kt_pprof_push.h"
#include "kt_clock.h"
#include "kt_engine.h"
#include "kt_folded.h"
#include "kt_log.h"
#include "kt_pprof.h"
#include "kt_version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const kind_name[KT_PUSH_NKINDS] = {"cpu", "off-cpu", "latency"};
/* Pyroscope's application name suffix (its legacy APP.cpu convention) */
static const char *const kind_suffix[KT_PUSH_NKINDS] = {"cpu", "off_cpu", "latency"};

/* ------------------------------------------------------------- URL */

static int bad(char *msg, size_t n, const char *what, const char *url)
{
	snprintf(msg, n, "push_url '%s': %s", url, what);
	return -1;
}

static bool port_ok(const char *s)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return false;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	return v >= 1 && v <= 65535;
}

/* host[:port] of len bytes at s into u. */
static int parse_authority(const char *s, size_t len, struct kt_push_url *u)
{
	const char *end = s + len, *colon;
	size_t hl;

	if (len && *s == '[') { /* [v6]:port */
		const char *rb = memchr(s, ']', len);

		if (!rb || rb == s + 1)
			return -1;
		hl = (size_t)(rb - s - 1);
		if (hl >= sizeof(u->host))
			return -1;
		memcpy(u->host, s + 1, hl);
		u->host[hl] = 0;
		colon = rb + 1 < end ? rb + 1 : NULL;
		if (colon && *colon != ':')
			return -1;
	} else {
		colon = memchr(s, ':', len);
		hl = colon ? (size_t)(colon - s) : len;
		if (!hl || hl >= sizeof(u->host) || memchr(s, '@', len))
			return -1;
		memcpy(u->host, s, hl);
		u->host[hl] = 0;
	}
	snprintf(u->port, sizeof(u->port), "80");
	if (colon) {
		size_t pl = (size_t)(end - colon - 1);

		if (pl >= sizeof(u->port))
			return -1;
		memcpy(u->port, colon + 1, pl);
		u->port[pl] = 0;
		if (!port_ok(u->port))
			return -1;
	}
	return 0;
}

int kt_push_url_parse(const char *url, struct kt_push_url *u, char *msg, size_t n)
{
	const char *a, *slash;

	memset(u, 0, sizeof(*u));
	if (!strncmp(url, "https://", 8))
		return bad(msg, n,
			   "https is not supported (plain http only: a local agent or proxy "
			   "can forward it)",
			   url);
	if (strncmp(url, "http://", 7))
		return bad(msg, n, "expected http://HOST[:PORT][/PATH]", url);
	a = url + 7;
	slash = strpbrk(a, "/?#");
	if (parse_authority(a, slash ? (size_t)(slash - a) : strlen(a), u))
		return bad(msg, n, "bad host or port (expected http://HOST[:PORT][/PATH])", url);
	if (!slash || *slash != '/') {
		if (slash)
			return bad(msg, n, "expected a path from '/' after the host", url);
		snprintf(u->path, sizeof(u->path), "/ingest");
		return 0;
	}
	if (strlen(slash) >= sizeof(u->path) - 160) /* room for our query */
		return bad(msg, n, "path too long", url);
	for (const char *c = slash; *c; c++)
		if (*c <= ' ' || *c == 127 || *c == '#')
			return bad(msg, n, "blank, control or '#' in the path", url);
	snprintf(u->path, sizeof(u->path), "%s", slash);
	return 0;
}

bool kt_push_app_name_ok(const char *name)
{
	if (!*name || strlen(name) >= KT_PUSH_APP_MAX)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return false;
	return true;
}

/* ------------------------------------------------------------- queue */

int kt_push_queue_add(struct kt_push_queue *q, const struct kt_push_item *it, bool at_front)
{
	int dropped = -1;

	if (q->n == KT_PUSH_QUEUE_MAX) {
		/* the oldest makes room (a retry is the oldest itself) */
		if (at_front) {
			free(it->body);
			return it->kind;
		}
		dropped = q->item[q->head].kind;
		free(q->item[q->head].body);
		q->head = (q->head + 1) % KT_PUSH_QUEUE_MAX;
		q->n--;
	}
	if (at_front) {
		q->head = (q->head + KT_PUSH_QUEUE_MAX - 1) % KT_PUSH_QUEUE_MAX;
		q->item[q->head] = *it;
	} else {
		q->item[(q->head + q->n) % KT_PUSH_QUEUE_MAX] = *it;
	}
	q->n++;
	return dropped;
}

const struct kt_push_item *kt_push_queue_peek(const struct kt_push_queue *q)
{
	return q->n ? &q->item[q->head] : NULL;
}

bool kt_push_queue_take(struct kt_push_queue *q, struct kt_push_item *out)
{
	if (!q->n)
		return false;
	*out = q->item[q->head];
	q->head = (q->head + 1) % KT_PUSH_QUEUE_MAX;
	q->n--;
	return true;
}

void kt_push_queue_clear(struct kt_push_queue *q)
{
	struct kt_push_item it;

	while (kt_push_queue_take(q, &it))
		free(it.body);
	q->head = 0;
}

/* ------------------------------------------------------------- target */

int kt_push_target_resolve(const struct kt_push_cfg *c, struct kt_push_target *t, char *err,
			   size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int e;

	memset(t, 0, sizeof(*t));
	if (!c->url || !c->url[0])
		return 0;
	if (kt_push_url_parse(c->url, &t->url, err, errlen))
		return -1;
	e = getaddrinfo(t->url.host, t->url.port, &hints, &res);
	if (e || !res || res->ai_addrlen > sizeof(t->addr)) {
		snprintf(err, errlen, "push_url '%s': cannot resolve '%s': %s", c->url, t->url.host,
			 e ? gai_strerror(e) : "no address");
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	memcpy(t->addr, res->ai_addr, res->ai_addrlen);
	t->addrlen = (unsigned int)res->ai_addrlen;
	t->on = true;
	freeaddrinfo(res);
	return 0;
}

/* ------------------------------------------------------------- client */

enum conn_state { IDLE, CONNECTING, SENDING, RECEIVING };

struct kt_pprof_push {
	struct kt_engine *e;
	struct kt_push_target t;
	bool folded;
	char app[KT_PUSH_APP_MAX];
	unsigned int hz;
	uint64_t interval_ns, interval_end;
	int64_t interval_start_real; /* unix ns */
	struct kt_folded *stacks[KT_PUSH_NKINDS];
	struct kt_push_queue q;
	/* the profile being sent */
	struct kt_push_item cur;
	enum conn_state state;
	int fd;
	uint64_t deadline;
	char *req; /* header + body */
	size_t req_len, req_off;
	char resp[256];
	size_t resp_len;
	uint64_t sent[KT_PUSH_NKINDS], failed[KT_PUSH_NKINDS], dropped[KT_PUSH_NKINDS];
};

static void count_dropped(struct kt_pprof_push *p, int kind)
{
	if (kind < 0)
		return;
	p->dropped[kind]++;
	kt_log(KT_LOG_WARN, "push", "%s profile dropped (queue of %d full)", kind_name[kind],
	       KT_PUSH_QUEUE_MAX);
}

static void close_conn(struct kt_pprof_push *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->req);
	p->req = NULL;
	p->state = IDLE;
}

/* The attempt on cur ended: counted, cur retried later or given up. */
static void finish(struct kt_pprof_push *p, bool ok, const char *why, uint64_t now)
{
	struct kt_push_item it = p->cur;

	close_conn(p);
	if (ok) {
		p->sent[it.kind]++;
		free(it.body);
		return;
	}
	p->failed[it.kind]++;
	if (it.tries >= KT_PUSH_TRIES) {
		p->dropped[it.kind]++;
		kt_log(KT_LOG_WARN, "push", "%s profile dropped after %d tries: %s",
		       kind_name[it.kind], it.tries, why);
		free(it.body);
		return;
	}
	kt_log(KT_LOG_DEBUG, "push", "%s profile, try %d: %s", kind_name[it.kind], it.tries, why);
	it.not_before = now + (KT_PUSH_BACKOFF_NS << (it.tries - 1));
	count_dropped(p, kt_push_queue_add(&p->q, &it, true));
}

static int build_request(struct kt_pprof_push *p, const struct kt_push_item *it)
{
	char head[1024 + KT_PUSH_URL_MAX];
	const char *sep = strchr(p->t.url.path, '?') ? "&" : "?";
	int hl;

	hl = snprintf(head, sizeof(head),
		      "POST %s%sname=%s.%s&from=%" PRId64 "&until=%" PRId64
		      "&format=%s&sampleRate=%u&spyName=kaos-trace HTTP/1.1\r\n"
		      "Host: %s%s%s:%s\r\nUser-Agent: kaos-trace/%s\r\n"
		      "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		      p->t.url.path, sep, p->app, kind_suffix[it->kind], it->from, it->until,
		      p->folded ? "folded" : "pprof",
		      it->kind == KT_PUSH_CPU && p->hz ? p->hz : 100,
		      strchr(p->t.url.host, ':') ? "[" : "", p->t.url.host,
		      strchr(p->t.url.host, ':') ? "]" : "", p->t.url.port, kt_version(),
		      p->folded ? "text/plain" : "application/octet-stream", it->len);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		return -1;
	p->req = malloc((size_t)hl + it->len);
	if (!p->req)
		return -1;
	memcpy(p->req, head, (size_t)hl);
	memcpy(p->req + hl, it->body, it->len);
	p->req_len = (size_t)hl + it->len;
	p->req_off = 0;
	p->resp_len = 0;
	return 0;
}

/* Starts sending the oldest profile if its backoff is over. */
static void start(struct kt_pprof_push *p, uint64_t now)
{
	const struct kt_push_item *front = kt_push_queue_peek(&p->q);
	const struct sockaddr *sa = (const struct sockaddr *)p->t.addr;

	if (!front || now < front->not_before || !p->t.on)
		return;
	kt_push_queue_take(&p->q, &p->cur);
	p->cur.tries++;
	p->deadline = now + KT_PUSH_TIMEOUT_NS;
	if (build_request(p, &p->cur)) {
		finish(p, false, "out of memory", now);
		return;
	}
	p->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		finish(p, false, strerror(errno), now);
		return;
	}
	p->state = CONNECTING;
	if (connect(p->fd, sa, p->t.addrlen) && errno != EINPROGRESS)
		finish(p, false, strerror(errno), now);
}

/* The status line once it is in: ok (2xx) or not. 0: done, 1: wait for more. */
static int read_status(struct kt_pprof_push *p, uint64_t now)
{
	ssize_t r = recv(p->fd, p->resp + p->resp_len, sizeof(p->resp) - 1 - p->resp_len, 0);
	char *eol;
	int code = 0;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (r < 0) {
		finish(p, false, strerror(errno), now);
		return 0;
	}
	p->resp_len += (size_t)r;
	p->resp[p->resp_len] = 0;
	eol = strstr(p->resp, "\r\n");
	if (!eol && r && p->resp_len < sizeof(p->resp) - 1)
		return 1;
	if (sscanf(p->resp, "HTTP/1.%*d %d", &code) != 1) {
		finish(p, false, r ? "not an HTTP answer" : "connection closed", now);
		return 0;
	}
	if (code >= 200 && code < 300) {
		finish(p, true, NULL, now);
	} else {
		char why[64];

		snprintf(why, sizeof(why), "HTTP %d", code);
		finish(p, false, why, now);
	}
	return 0;
}

/* Moves the connection on as far as it goes without waiting. */
static void step(struct kt_pprof_push *p, uint64_t now)
{
	struct pollfd pfd = {.fd = p->fd, .events = p->state == RECEIVING ? POLLIN : POLLOUT};
	int err = 0;
	socklen_t elen = sizeof(err);

	if (now >= p->deadline) {
		finish(p, false, "timed out", now);
		return;
	}
	if (poll(&pfd, 1, 0) <= 0)
		return;
	if (p->state == CONNECTING) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &elen) || err) {
			finish(p, false, strerror(err ? err : errno), now);
			return;
		}
		p->state = SENDING;
	}
	while (p->state == SENDING) {
		ssize_t w = send(p->fd, p->req + p->req_off, p->req_len - p->req_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (w < 0) {
			finish(p, false, strerror(errno), now);
			return;
		}
		p->req_off += (size_t)w;
		if (p->req_off == p->req_len)
			p->state = RECEIVING;
	}
	while (p->state == RECEIVING && read_status(p, now))
		if (poll(&(struct pollfd){.fd = p->fd, .events = POLLIN}, 1, 0) <= 0)
			return;
}

/* ------------------------------------------------------------- intervals */

/* The profile of kind's stacks, or NULL (none, or it could not be built). */
static void *encode(struct kt_pprof_push *p, int kind, uint64_t now, size_t *len)
{
	struct kt_engine *e = p->e;
	void *buf = NULL;
	int ret;

	if (p->folded) {
		FILE *f = open_memstream((char **)&buf, len);

		if (!f)
			return NULL;
		ret = kt_folded_write(p->stacks[kind], f, KT_FOLDED_COMM, kt_folded_sym_kt,
				      e->s.sym);
		if (fclose(f) || ret < 0) {
			free(buf);
			return NULL;
		}
		return buf;
	}
	struct kt_pprof_opts o = {.cpu_period_ns = p->hz ? 1000000000ull / p->hz : 0,
				  .weight_latency = kind == KT_PUSH_LATENCY,
				  .time_ns = p->interval_start_real,
				  .duration_ns =
					  (int64_t)(now - (p->interval_end - p->interval_ns))};

	ret = kt_pprof_build(p->stacks[kind], &o, kt_pprof_sym_kt, e->s.sym, &buf, len);
	return ret ? NULL : buf;
}

static void end_interval(struct kt_pprof_push *p, uint64_t now)
{
	int64_t until = (int64_t)kt_now_ns(CLOCK_REALTIME);

	for (int k = 0; k < KT_PUSH_NKINDS; k++) {
		struct kt_push_item it = {.kind = k,
					  .from = p->interval_start_real / 1000000000,
					  .until = until / 1000000000};

		if (!p->stacks[k] || !kt_folded_size(p->stacks[k]))
			continue;
		it.body = encode(p, k, now, &it.len);
		kt_folded_clear(p->stacks[k]);
		if (!it.body) {
			p->dropped[k]++;
			kt_log(KT_LOG_ERROR, "push", "cannot build the %s profile", kind_name[k]);
			continue;
		}
		count_dropped(p, kt_push_queue_add(&p->q, &it, false));
	}
	p->interval_start_real = until;
	p->interval_end = now + p->interval_ns;
}

void kt_pprof_push_tick(struct kt_pprof_push *p, uint64_t now)
{
	if (!p || !p->t.on)
		return;
	if (now >= p->interval_end)
		end_interval(p, now);
	if (p->state == IDLE)
		start(p, now);
	if (p->state != IDLE)
		step(p, now);
}

/* ------------------------------------------------------------- setup */

static void free_stacks(struct kt_pprof_push *p)
{
	for (int k = 0; k < KT_PUSH_NKINDS; k++) {
		kt_folded_free(p->stacks[k]);
		p->stacks[k] = NULL;
	}
}

void kt_pprof_push_set(struct kt_pprof_push *p, const struct kt_push_target *t,
		       const struct kt_push_cfg *c, uint64_t now)
{
	bool was_on = p->t.on;

	if (p->state != IDLE && memcmp(&p->t, t, sizeof(*t))) { /* to the old receiver: given up */
		p->dropped[p->cur.kind]++;
		free(p->cur.body);
		close_conn(p);
	}
	p->t = *t;
	p->folded = c->folded;
	snprintf(p->app, sizeof(p->app), "%s", c->app_name ? c->app_name : "kaos-trace");
	p->hz = c->profile_hz;
	p->interval_ns = c->interval_ns ? c->interval_ns : KT_PUSH_DEFAULT_INTERVAL_NS;
	if (!t->on) {
		struct kt_push_item it;

		while (kt_push_queue_take(&p->q, &it)) {
			p->dropped[it.kind]++;
			free(it.body);
		}
		free_stacks(p);
		return;
	}
	if (!was_on) {
		p->interval_start_real = (int64_t)kt_now_ns(CLOCK_REALTIME);
		p->interval_end = now + p->interval_ns;
	}
	bool want[KT_PUSH_NKINDS] = {p->e->prof != NULL, p->e->offcpu != NULL, p->e->o.stacks};

	for (int k = 0; k < KT_PUSH_NKINDS; k++) {
		if (want[k] && !p->stacks[k] && (p->stacks[k] = kt_folded_new()))
			kt_folded_set_frame_fn(p->stacks[k], kt_folded_frame_kt);
		if (!want[k]) {
			kt_folded_free(p->stacks[k]);
			p->stacks[k] = NULL;
		}
	}
}

void kt_pprof_push_sinks(struct kt_pprof_push *p, struct kt_folded *sink[KT_PUSH_NKINDS])
{
	for (int k = 0; k < KT_PUSH_NKINDS; k++)
		sink[k] = p && p->t.on ? p->stacks[k] : NULL;
}

void kt_pprof_push_stats(const struct kt_pprof_push *p, struct kt_prom_push *out)
{
	for (int k = 0; k < KT_PUSH_NKINDS; k++) {
		out->kind[k] = kind_name[k];
		out->sent[k] = p->sent[k];
		out->failed[k] = p->failed[k];
		out->dropped[k] = p->dropped[k];
	}
}

struct kt_pprof_push *kt_pprof_push_new(struct kt_engine *e)
{
	struct kt_pprof_push *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->e = e;
	p->fd = -1;
	return p;
}

void kt_pprof_push_free(struct kt_pprof_push *p)
{
	if (!p)
		return;
	if (p->state != IDLE)
		free(p->cur.body);
	close_conn(p);
	kt_push_queue_clear(&p->q);
	free_stacks(p);
	free(p);
}
