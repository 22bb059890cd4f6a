/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof_push: [pprof] push_url, the daemon's profiles pushed to a
 * Pyroscope-compatible /ingest endpoint (Pyroscope, Grafana Alloy's
 * pyroscope.receive_http): every push_interval, one POST per kind collected
 * (cpu, off-cpu, latency, alloc), as
 *
 *   pprof:  POST PATH?name=APP%7B%7D&from=UNIX&until=UNIX&format=pprof
 *                &spyName=kaos-trace
 *           multipart/form-data: "profile" (gzip profile.proto) and
 *           "sample_type_config" (JSON naming each of its sample types)
 *   folded: POST PATH?name=APP.KIND&from=UNIX&until=UNIX&format=folded
 *                &units=samples&aggregationType=sum&sampleRate=HZ
 *                &spyName=kaos-trace
 *           the folded text as the body
 *
 * Pyroscope's pprof ingestion takes name as a prefix (APP{labels}) and
 * appends each sample type's display-name itself; it only knows Go's
 * sample types, so ours (off-cpu ns, event counts and latencies) come with
 * a sample_type_config. Folded has no nanoseconds unit: off-cpu and
 * latency weights (ns) go as samples at sampleRate 1000000000, which
 * Pyroscope shows as seconds.
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

/* alloc: --alloc's sums, the difference since the previous push (kt_pprof_alloc_diff) */
enum kt_push_kind { KT_PUSH_CPU, KT_PUSH_OFFCPU, KT_PUSH_LATENCY, KT_PUSH_ALLOC, KT_PUSH_NKINDS };

struct kt_push_url {
	char host[256];		    /* a name, an IPv4 address, or an IPv6 one without [] */
	char port[8];		    /* default 80 */
	char path[KT_PUSH_URL_MAX]; /* from '/', query included; default "/ingest" */
};

/* Parses "http://HOST[:PORT][/PATH]". 0, or -1 with a one-line msg. */
int kt_push_url_parse(const char *url, struct kt_push_url *u, char *msg, size_t n);

/* app_name: letters, digits, '.', '_', '-' (it goes into the query as is). */
bool kt_push_app_name_ok(const char *name);

/* Boundary of a multipart body: "kaos-trace-" and 16 hex digits. */
#define KT_PUSH_BOUNDARY_LEN 27

/* One profile waiting to be pushed. */
struct kt_push_item {
	enum kt_push_kind kind;
	void *body; /* malloc'd, owned by the queue */
	/* multipart (pprof) body's boundary; "": a folded body */
	char boundary[KT_PUSH_BOUNDARY_LEN + 1];
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

/*
 * Pyroscope's sample_type_config for a profile of kt_pprof_build (the same
 * rules, kt_pprof.h) holding the events given: cpu -> samples (and cpu, ns,
 * with cpu_ns), off-cpu, alloc -> alloc_objects, alloc_space (summed),
 * leak -> inuse_objects, inuse_space (averaged), any other EVENT (and
 * EVENT_latency, ns, with weight_latency). malloc'd JSON, NULL: out of memory.
 */
char *kt_push_type_config(const char *const *events, size_t n, bool cpu_ns, bool weight_latency);

/*
 * The multipart/form-data body of a pprof push: part "profile" (profile.gz)
 * and part "sample_type_config" (config.json). The boundary (written to
 * boundary) is one that occurs in neither. 0 or -ENOMEM.
 */
int kt_push_multipart(const void *profile, size_t len, const char *config,
		      char boundary[KT_PUSH_BOUNDARY_LEN + 1], void **out, size_t *outlen);

/*
 * The request line and headers of it to u for app (folded: with it->boundary
 * ""); hz: the cpu sampling rate. Its length, or -1 if it does not fit.
 */
int kt_push_request_head(char *buf, size_t n, const struct kt_push_url *u, const char *app,
			 unsigned int hz, const struct kt_push_item *it);

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
 * push is off or the engine does not collect that kind (always for alloc:
 * its sums are read at each push, not streamed).
 */
void kt_pprof_push_sinks(struct kt_pprof_push *p, struct kt_folded *sink[KT_PUSH_NKINDS]);

/* Ends intervals (builds and queues their profiles) and moves the client on. */
void kt_pprof_push_tick(struct kt_pprof_push *p, uint64_t now);

void kt_pprof_push_stats(const struct kt_pprof_push *p, struct kt_prom_push *out);

#endif /* KT_PPROF_PUSH_H */
