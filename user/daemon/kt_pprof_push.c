// SPDX-License-Identifier: MIT
/* kt_pprof_push: profiles pushed to a Pyroscope /ingest (kt_pprof_push.h). */
#include "kt_pprof_push.h"
#include "kt_alloc.h"
#include "kt_clock.h"
#include "kt_engine.h"
#include "kt_folded.h"
#include "kt_log.h"
#include "kt_pprof.h"
#include "kt_pprof_http.h"
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

static const char *const kind_name[KT_PUSH_NKINDS] = {"cpu", "off-cpu", "latency", "alloc"};
/* Pyroscope's application name suffix (its legacy APP.cpu convention) */
static const char *const kind_suffix[KT_PUSH_NKINDS] = {"cpu", "off_cpu", "latency", "alloc"};

static bool app_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

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
		if (!app_char_ok(*c))
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

/* ------------------------------------------------------------- format */

/* s as the inside of a JSON string. */
static void json_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

/* Pyroscope appends display to the app name: app name characters only. */
static void type_entry_as(FILE *f, bool *first, const char *type, const char *units,
			  const char *aggregation, const char *display, bool sampled)
{
	fputs(*first ? "\"" : ",\"", f);
	json_str(f, type);
	fprintf(f, "\":{\"units\":\"%s\",\"aggregation\":\"%s\",\"display-name\":\"", units,
		aggregation);
	for (const char *c = display; *c; c++)
		fputc(app_char_ok(*c) ? *c : '_', f);
	fprintf(f, "\",\"sampled\":%s}", sampled ? "true" : "false");
	*first = false;
}

static void type_entry(FILE *f, bool *first, const char *type, const char *display, bool sampled)
{
	type_entry_as(f, first, type, "samples", "sum", display, sampled);
}

/* alloc_* are sums over the interval, inuse_* a level: averaged across pushes */
static void heap_entries(FILE *f, bool *first, const char *what, const char *aggregation)
{
	char objects[32], space[32];

	snprintf(objects, sizeof(objects), "%s_objects", what);
	snprintf(space, sizeof(space), "%s_space", what);
	type_entry_as(f, first, objects, "objects", aggregation, objects, false);
	type_entry_as(f, first, space, "bytes", aggregation, space, false);
}

char *kt_push_type_config(const char *const *events, size_t n, bool cpu_ns, bool weight_latency)
{
	char *buf = NULL, t[KT_FOLDED_EVENT_LEN + 16];
	size_t len;
	bool first = true;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(events[i], "cpu")) {
			type_entry(f, &first, "samples", cpu_ns ? "cpu_samples" : "cpu", true);
			if (cpu_ns)
				type_entry(f, &first, "cpu", "cpu", true);
		} else if (!strcmp(events[i], "off-cpu")) {
			type_entry(f, &first, "off-cpu", "off_cpu", false);
		} else if (!strcmp(events[i], "alloc")) {
			heap_entries(f, &first, "alloc", "sum");
		} else if (!strcmp(events[i], "leak")) {
			heap_entries(f, &first, "inuse", "average");
		} else {
			snprintf(t, sizeof(t), "%s_count", events[i]);
			type_entry(f, &first, events[i], t, false);
			snprintf(t, sizeof(t), "%s_latency", events[i]);
			if (weight_latency)
				type_entry(f, &first, t, t, false);
		}
	}
	fputc('}', f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

int kt_push_multipart(const void *profile, size_t len, const char *config,
		      char boundary[KT_PUSH_BOUNDARY_LEN + 1], void **out, size_t *outlen)
{
	/* fixed start (reproducible requests), moved on while it occurs in a part */
	uint64_t seed = 0x6b616f732d747263ull;
	char *buf = NULL;
	size_t blen;
	FILE *f;

	for (;; seed = seed * 6364136223846793005ull + 1442695040888963407ull) {
		snprintf(boundary, KT_PUSH_BOUNDARY_LEN + 1, "kaos-trace-%016" PRIx64, seed);
		if (!memmem(profile, len, boundary, KT_PUSH_BOUNDARY_LEN) &&
		    !strstr(config, boundary))
			break;
	}
	f = open_memstream(&buf, &blen);
	if (!f)
		return -ENOMEM;
	fprintf(f,
		"--%s\r\nContent-Disposition: form-data; name=\"profile\"; "
		"filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n",
		boundary);
	fwrite(profile, 1, len, f);
	fprintf(f,
		"\r\n--%s\r\nContent-Disposition: form-data; name=\"sample_type_config\"; "
		"filename=\"sample_type_config.json\"\r\nContent-Type: application/json\r\n\r\n"
		"%s\r\n--%s--\r\n",
		boundary, config, boundary);
	if (fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*outlen = blen;
	return 0;
}

int kt_push_request_head(char *buf, size_t n, const struct kt_push_url *u, const char *app,
			 unsigned int hz, const struct kt_push_item *it)
{
	const char *sep = strchr(u->path, '?') ? "&" : "?";
	bool v6 = strchr(u->host, ':');
	char query[KT_PUSH_APP_MAX + 192], ctype[64 + KT_PUSH_BOUNDARY_LEN];
	int hl;

	if (it->boundary[0]) { /* name: Pyroscope's prefix APP{labels} */
		snprintf(query, sizeof(query),
			 "name=%s%%7B%%7D&from=%" PRId64 "&until=%" PRId64 "&format=pprof", app,
			 it->from, it->until);
		snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", it->boundary);
	} else if (it->kind == KT_PUSH_ALLOC) { /* the alloc_space tower only */
		snprintf(query, sizeof(query),
			 "name=%s.%s&from=%" PRId64 "&until=%" PRId64
			 "&format=folded&units=bytes&aggregationType=sum",
			 app, kind_suffix[it->kind], it->from, it->until);
		snprintf(ctype, sizeof(ctype), "text/plain");
	} else { /* ns weights: samples at 1e9/s, shown as seconds */
		snprintf(query, sizeof(query),
			 "name=%s.%s&from=%" PRId64 "&until=%" PRId64
			 "&format=folded&units=samples&aggregationType=sum&sampleRate=%u",
			 app, kind_suffix[it->kind], it->from, it->until,
			 it->kind != KT_PUSH_CPU ? 1000000000u
			 : hz			 ? hz
						 : 100);
		snprintf(ctype, sizeof(ctype), "text/plain");
	}
	hl = snprintf(buf, n,
		      "POST %s%s%s&spyName=kaos-trace HTTP/1.1\r\n"
		      "Host: %s%s%s:%s\r\nUser-Agent: kaos-trace/%s\r\n"
		      "Content-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		      u->path, sep, query, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
		      kt_version(), ctype, it->len);
	return hl < 0 || (size_t)hl >= n ? -1 : hl;
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
	struct kt_alloc_data *alloc0; /* --alloc's sums at the previous push, NULL: none read */
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
	int hl = kt_push_request_head(head, sizeof(head), &p->t.url, p->app, p->hz, it);

	if (hl < 0)
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

/* The distinct events of a kind's stacks (kt_pprof's towers). */
struct events {
	char name[64][KT_FOLDED_EVENT_LEN];
	const char *ptr[64];
	size_t n;
};

static int add_event(void *ctx, const struct kt_folded_stack *st)
{
	struct events *ev = ctx;

	for (size_t i = 0; i < ev->n; i++)
		if (!strcmp(ev->name[i], st->event))
			return 0;
	if (ev->n == sizeof(ev->name) / sizeof(ev->name[0]))
		return -E2BIG; /* kt_pprof_build refuses it too */
	snprintf(ev->name[ev->n], sizeof(ev->name[0]), "%s", st->event);
	ev->ptr[ev->n] = ev->name[ev->n];
	ev->n++;
	return 0;
}

static void *encode_folded(struct kt_pprof_push *p, int kind, size_t *len)
{
	void *buf = NULL;
	FILE *f = open_memstream((char **)&buf, len);
	int ret;

	if (!f)
		return NULL;
	ret = kt_folded_write(p->stacks[kind], f, KT_FOLDED_COMM, kt_folded_sym_kt, p->e->s.sym);
	if (fclose(f) || ret < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The multipart body of kind's profile and its sample_type_config, or NULL. */
static void *encode_pprof(struct kt_pprof_push *p, int kind, uint64_t now, size_t *len,
			  char *boundary)
{
	struct kt_pprof_opts o = {.cpu_period_ns = p->hz ? 1000000000ull / p->hz : 0,
				  .weight_latency = kind == KT_PUSH_LATENCY,
				  .time_ns = p->interval_start_real,
				  .duration_ns =
					  (int64_t)(now - (p->interval_end - p->interval_ns))};
	struct events *ev = calloc(1, sizeof(*ev));
	void *gz = NULL, *out = NULL;
	char *config = NULL;
	size_t gzlen;

	if (ev && !kt_folded_foreach(p->stacks[kind], p->e->s.sym, add_event, ev) &&
	    !kt_pprof_build(p->stacks[kind], &o, kt_pprof_sym_kt, p->e->s.sym, &gz, &gzlen) &&
	    (config = kt_push_type_config(ev->ptr, ev->n, o.cpu_period_ns, o.weight_latency)) &&
	    kt_push_multipart(gz, gzlen, config, boundary, &out, len))
		out = NULL;
	free(config);
	free(gz);
	free(ev);
	return out;
}

/* The alloc sums now, kept for the next push. NULL: not read (logged). */
static struct kt_alloc_data *read_alloc(struct kt_pprof_push *p)
{
	struct kt_alloc_data *d = calloc(1, sizeof(*d));
	int e = d ? kt_alloc_read_sites(p->e->alloc, d) : -ENOMEM;

	if (e >= 0)
		return d;
	kt_log(KT_LOG_WARN, "push", "alloc: reading the sums: %s", strerror(-e));
	if (d)
		kt_alloc_data_free(d);
	free(d);
	return NULL;
}

static void free_alloc0(struct kt_pprof_push *p)
{
	if (p->alloc0)
		kt_alloc_data_free(p->alloc0);
	free(p->alloc0);
	p->alloc0 = NULL;
}

/* The alloc stacks of the interval: the sums now less those of the last push. */
static void fold_alloc(struct kt_pprof_push *p)
{
	struct kt_alloc_data *now = read_alloc(p);
	uint64_t left_out = 0;

	if (!now)
		return;
	/* no baseline (it could not be read): the interval is unknown, only the next one counts */
	if (p->alloc0 && kt_pprof_alloc_diff(p->e, now, p->alloc0, !p->folded,
					     p->stacks[KT_PUSH_ALLOC], &left_out))
		kt_log(KT_LOG_WARN, "push", "alloc: folding the sums failed");
	if (left_out)
		kt_log(KT_LOG_WARN, "push", "alloc profile: %llu stacks left out",
		       (unsigned long long)left_out);
	free_alloc0(p);
	p->alloc0 = now;
}

static void end_interval(struct kt_pprof_push *p, uint64_t now)
{
	int64_t until = (int64_t)kt_now_ns(CLOCK_REALTIME);

	if (p->stacks[KT_PUSH_ALLOC])
		fold_alloc(p);

	for (int k = 0; k < KT_PUSH_NKINDS; k++) {
		struct kt_push_item it = {.kind = k,
					  .from = p->interval_start_real / 1000000000,
					  .until = until / 1000000000};

		if (!p->stacks[k] || !kt_folded_size(p->stacks[k]))
			continue;
		it.body = p->folded ? encode_folded(p, k, &it.len)
				    : encode_pprof(p, k, now, &it.len, it.boundary);
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
		free_alloc0(p);
		return;
	}
	if (!was_on) {
		p->interval_start_real = (int64_t)kt_now_ns(CLOCK_REALTIME);
		p->interval_end = now + p->interval_ns;
	}
	bool want[KT_PUSH_NKINDS] = {p->e->prof != NULL, p->e->offcpu != NULL, p->e->o.stacks,
				     p->e->alloc != NULL};

	if (want[KT_PUSH_ALLOC] && !p->alloc0) /* the first interval's baseline */
		p->alloc0 = read_alloc(p);
	if (!want[KT_PUSH_ALLOC])
		free_alloc0(p);

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
		sink[k] = p && p->t.on && k != KT_PUSH_ALLOC ? p->stacks[k] : NULL;
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
	free_alloc0(p);
	free(p);
}
