/* SPDX-License-Identifier: MIT */
/*
 * kt_http: a minimal HTTP/1.1 responder for /metrics, driven by the
 * daemon's own poll() loop (no threads: handlers run on the thread that
 * owns the tracer's state).
 *
 * A scrape must be answered whatever other clients do (issue 11 item 8):
 * connections are served concurrently over non-blocking sockets, each has
 * one deadline from its accept (KT_HTTP_TIMEOUT_NS, not extended by a byte
 * a second), and the number held is capped (kt_http_max_conns: at most
 * KT_HTTP_MAX_CONNS, at most half the open-file limit). At the cap a new
 * connection is still accepted: the oldest one that has not sent a whole
 * request yet is dropped for it. Hence a client holding 1,000 idle
 * sockets delays a scrape by one poll() round, not by the idle timeout.
 *
 * One request per connection (Connection: close), GET and HEAD only,
 * request head at most KT_HTTP_MAX_REQUEST bytes (then 431). The head ends
 * at CRLF CRLF or at a bare LF LF (lines may end in LF alone). A request
 * line that cannot be HTTP (a control byte, a NUL, binary, a method that
 * is not upper-case letters) gets a 400 as soon as the byte arrives.
 */
#ifndef KT_HTTP_H
#define KT_HTTP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define KT_HTTP_MAX_CONNS   4096
#define KT_HTTP_MAX_REQUEST 8192
#define KT_HTTP_TIMEOUT_NS  10000000000ull

struct kt_http_response {
	int status;		  /* 200, 404, ... */
	const char *content_type; /* static string */
	char *body;		  /* malloc'd, freed by kt_http */
	size_t len;
	/* set by kt_http before the handler runs */
	const char *query; /* the target after its '?' ("" if none) */
	uint64_t id;	   /* this request, for kt_http_complete */
	/*
	 * Set by the handler to answer later (a profile of the next N
	 * seconds): the connection waits, without a body, until
	 * kt_http_complete(id) or defer_ns from now (then it is closed).
	 */
	uint64_t defer_ns;
};

/*
 * Fills resp for a request (method "GET" or "HEAD", the path without the
 * query string, the Accept header or ""). Return 0; a negative return
 * gives a 500.
 */
typedef int (*kt_http_handler)(void *ctx, const char *method, const char *path, const char *accept,
			       struct kt_http_response *resp);

struct kt_http;

/*
 * Listens on "ADDR:PORT" ("[::1]:9464", "0.0.0.0:9464"; port 0 picks a
 * free one). NULL with err set.
 */
struct kt_http *kt_http_listen(const char *addr, kt_http_handler fn, void *ctx, char *err,
			       size_t errlen);
void kt_http_close(struct kt_http *h);

/* "127.0.0.1:41234": the address actually bound. */
const char *kt_http_bound(const struct kt_http *h);

/* The fds to poll (listen socket + connections); returns how many were written (<= max). */
int kt_http_pollfds(struct kt_http *h, struct pollfd *p, int max);
/* Handles what poll() reported on those fds, and timeouts at now (CLOCK_MONOTONIC ns). */
void kt_http_service(struct kt_http *h, const struct pollfd *p, int n, uint64_t now_ns);

/*
 * Answers the deferred request id (status, a static content type, body of
 * len bytes, copied). -ENOENT if it is gone (the client closed it, or
 * its time ran out). The response is sent at once as far as the socket
 * takes it, the rest from kt_http_service.
 */
int kt_http_complete(struct kt_http *h, uint64_t id, int status, const char *content_type,
		     const void *body, size_t len);

/* Well-formed GET/HEAD requests handed to the handler so far. */
uint64_t kt_http_requests(const struct kt_http *h);
/* Connections dropped at the cap to make room for a newer one. */
uint64_t kt_http_evicted(const struct kt_http *h);

/* The cap on connections held at once; kt_http_set_max_conns clamps to [1, KT_HTTP_MAX_CONNS]. */
int kt_http_max_conns(const struct kt_http *h);
void kt_http_set_max_conns(struct kt_http *h, int n);

/*
 * Raises this process' soft RLIMIT_NOFILE to its hard limit (a daemon
 * holding many scrape connections needs more than the usual 1,024).
 * Returns the soft limit now in force, or -errno.
 */
long kt_http_raise_nofile(void);

#endif /* KT_HTTP_H */
