/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof_push: [pprof] push_url, the daemon's profiles pushed to a
 * Pyroscope-compatible /ingest endpoint (Pyroscope, Grafana Alloy's
 * pyroscope.receive_http): every push_interval, one POST per kind collected
 * (cpu, off-cpu, latency), as
 *
 *   POST PATH?name=APP.KIND&from=UNIX&until=UNIX&format=pprof|folded
 *        &sampleRate=HZ&spyName=kaos-trace
 *
 * with the profile (gzip profile.proto, or folded text) as the body.
 *
 * The client is a small hand-written HTTP/1.1 one: libcurl would be a new
 * runtime dependency (and its TLS stack) for one POST. Plain http only; the
 * host is resolved when the config is applied (start, SIGHUP), never in
 * the loop. Sockets are non-blocking and driven from the daemon's loop
 * (kt_pprof_push_tick): the engine never waits on the receiver. Each
 * attempt has KT_PUSH_TIMEOUT_NS; a profile is tried KT_PUSH_TRIES times,
 * 1s, 2s apart; at most KT_PUSH_QUEUE_MAX profiles wait, the oldest is
 * dropped to make room. Both are counted (/metrics, kind label).
 */
#ifndef KT_PPROF_PUSH_H
#define KT_PPROF_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_prom.h"

#define KT_PUSH_QUEUE_MAX	    8
#define KT_PUSH_TRIES		    3
#define KT_PUSH_BACKOFF_NS	    1000000000ull /* doubled after each failed try */
#define KT_PUSH_TIMEOUT_NS	    5000000000ull
#define KT_PUSH_DEFAULT_INTERVAL_NS 15000000000ull
#define KT_PUSH_URL_MAX		    512
#define KT_PUSH_APP_MAX		    128

enum kt_push_kind { KT_PUSH_CPU, KT_PUSH_OFFCPU, KT_PUSH_LATENCY, KT_PUSH_NKINDS };

struct kt_push_url {
	char host[256];		    /* a name, an IPv4 address, or an IPv6 one without [] */
	char port[8];		    /* default 80 */
	char path[KT_PUSH_URL_MAX]; /* from '/', query included; default "/ingest" */
};

/* Parses "http://HOST[:PORT][/PATH]". 0, or -1 with a one-line msg. */
int kt_push_url_parse(const char *url, struct kt_push_url *u, char *msg, size_t n);

/* app_name: letters, digits, '.', '_', '-' (it goes into the query as is). */
bool kt_push_app_name_ok(const char *name);

/* One profile waiting to be pushed. */
struct kt_push_item {
	enum kt_push_kind kind;
	void *body; /* malloc'd, owned by the queue */
	size_t len;
	int64_t from, until; /* unix seconds */
	int tries;	     /* attempts made */
	uint64_t not_before; /* CLOCK_MONOTONIC ns: backoff */
};

/* FIFO of waiting profiles (the one being sent is out of it). */
struct kt_push_queue {
	struct kt_push_item item[KT_PUSH_QUEUE_MAX];
	int head, n;
};

/*
 * Appends it (the queue takes body). Full: the oldest is freed first and
 * its kind returned (else -1). at_front: put back first (a retry).
 */
int kt_push_queue_add(struct kt_push_queue *q, const struct kt_push_item *it, bool at_front);
/* The oldest, or NULL; taken out of the queue into *out by _take. */
const struct kt_push_item *kt_push_queue_peek(const struct kt_push_queue *q);
bool kt_push_queue_take(struct kt_push_queue *q, struct kt_push_item *out);
void kt_push_queue_clear(struct kt_push_queue *q);

/* What the daemon's config says (kt_config's [pprof] section). */
struct kt_push_cfg {
	const char *url; /* "" or NULL: no push */
	uint64_t interval_ns;
	bool folded;
	const char *app_name;
	unsigned int profile_hz; /* cpu sampleRate */
};

struct kt_engine;
struct kt_folded;
struct kt_pprof_push;

/* The resolved receiver, prepared before a config is applied (it can fail). */
struct kt_push_target {
	bool on;
	struct kt_push_url url;
	unsigned char addr[128]; /* struct sockaddr_storage */
	unsigned int addrlen;
};

/* Parses and resolves c->url (blocking lookup: at start and SIGHUP only). 0 or -1 with err. */
int kt_push_target_resolve(const struct kt_push_cfg *c, struct kt_push_target *t, char *err,
			   size_t errlen);

struct kt_pprof_push *kt_pprof_push_new(struct kt_engine *e); /* NULL: out of memory */
void kt_pprof_push_free(struct kt_pprof_push *p);

/* Takes the (resolved) config in force; off: what waits is dropped. */
void kt_pprof_push_set(struct kt_pprof_push *p, const struct kt_push_target *t,
		       const struct kt_push_cfg *c, uint64_t now);

/*
 * Where the stacks of each kind go (kt_pprof_http_set_push): NULL where
 * push is off or the engine does not collect that kind.
 */
void kt_pprof_push_sinks(struct kt_pprof_push *p, struct kt_folded *sink[KT_PUSH_NKINDS]);

/* Ends intervals (builds and queues their profiles) and moves the client on. */
void kt_pprof_push_tick(struct kt_pprof_push *p, uint64_t now);

void kt_pprof_push_stats(const struct kt_pprof_push *p, struct kt_prom_push *out);

#endif /* KT_PPROF_PUSH_H */
