// SPDX-License-Identifier: MIT
/* kt_pprof_http: the daemon's /debug/pprof endpoints (kt_pprof_http.h). */
#include "kt_pprof_http.h"
#include "kt_agg.h"
#include "kt_alloc.h"
#include "kt_clock.h"
#include "kt_engine.h"
#include "kt_folded.h"
#include "kt_log.h"
#include "kt_offcpu.h"
#include "kt_pprof.h"
#include "kt_profile.h"
#include "kt_session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Collectors are read at most this often while requests wait (and when one is due). */
#define DRAIN_NS 200000000ull
/* Without folded files, CPU samples nobody asked for are dropped this often. */
#define IDLE_DRAIN_NS 1000000000ull

enum kind { KIND_CPU, KIND_OFFCPU, KIND_LATENCY, KIND_ALLOC };

struct pending {
	uint64_t id; /* kt_http's request id */
	enum kind kind;
	uint64_t due;	    /* CLOCK_MONOTONIC ns */
	int64_t start_real; /* CLOCK_REALTIME ns at the request */
	uint64_t seconds;
	struct kt_folded *f;	      /* the stacks of its window */
	uint64_t left_out;	      /* stacks beyond KT_PPROF_HTTP_MAX_STACKS */
	struct kt_alloc_data *alloc0; /* KIND_ALLOC: the sums at the request */
};

struct kt_pprof_http {
	struct kt_engine *e;
	struct kt_folded *drain; /* the collectors' counts, moved out, before they are handed on */
	struct pending req[KT_PPROF_HTTP_MAX_PENDING];
	int nreq;
	uint64_t last_drain;
	bool to_folded; /* the daemon writes folded files: drained stacks go there too */
	bool stopping;
	struct kt_folded *push[3]; /* [pprof] push_url: stacks by kind (kt_pprof_push) */
	bool pushing;
};

static const char *const kind_event[] = {[KIND_CPU] = "cpu", [KIND_OFFCPU] = "off-cpu"};

/* ------------------------------------------------------------- stacks */

/* Event stacks of the latency kind: straight into each pending request's stacks. */
static void on_event(void *ctx, const struct kt_event *e, size_t size)
{
	struct kt_pprof_http *p = ctx;
	struct kt_engine *en = p->e;
	char ring[KT_NAME_LEN] = "";

	if (!e->stack_sz || size < sizeof(*e) ||
	    (e->type != KT_EV_SEND && e->type != KT_EV_RECV && e->type != KT_EV_BACKPRESSURE))
		return;
	for (int i = 0; i <= p->nreq; i++) {
		/* last: the push's stacks */
		struct pending push = {.kind = KIND_LATENCY, .f = p->push[KIND_LATENCY]};
		struct pending *q = i < p->nreq ? &p->req[i] : &push;
		struct kt_ring_agg *r = NULL;
		struct kt_proc *proc;
		uint32_t nframes = e->stack_sz / sizeof(e->stack[0]);

		if (!q->f || q->kind != KIND_LATENCY)
			continue;
		if (kt_folded_size(q->f) >= KT_PPROF_HTTP_MAX_STACKS) {
			q->left_out++; /* a new stack, or one held: not told apart, counted */
			continue;
		}
		if (!ring[0] && (r = kt_agg_ring(&en->s.agg, e->pid, e->ring_id)) && r->name[0])
			snprintf(ring, sizeof(ring), "%s", r->name);
		else if (!ring[0] && r)
			snprintf(ring, sizeof(ring), "%u", r->ring_id);
		proc = kt_agg_proc(&en->s.agg, e->pid);
		if (nframes > KT_MAX_STACK)
			nframes = KT_MAX_STACK;
		/* weight: the measured duration, so pprof shows counts and nanoseconds */
		kt_folded_add_probe_ring(q->f, e->pid, proc ? proc->comm : NULL,
					 kt_event_type_name(e->type), ring[0] ? ring : NULL,
					 (const uint64_t *)e->stack, nframes, e->dur_ns);
	}
}

/*
 * Moves what the collectors counted since the last call to the pending
 * requests of its kind and to the daemon's folded stacks (its folded file
 * of the interval), which would have taken it otherwise.
 */
static void drain(struct kt_pprof_http *p, uint64_t now)
{
	struct kt_engine *e = p->e;
	int n;

	p->last_drain = now;
	if (e->prof && (n = kt_profile_fold_since(e->prof, p->drain)) < 0)
		kt_log(KT_LOG_WARN, "pprof", "cpu profile: %s, some samples left out",
		       strerror(-n));
	if (e->offcpu && (n = kt_offcpu_fold_since(e->offcpu, p->drain)) < 0)
		kt_log(KT_LOG_WARN, "pprof", "off-cpu: %s, some blocks left out", strerror(-n));
	if (!kt_folded_size(p->drain))
		return;
	for (int i = 0; i < p->nreq; i++) {
		struct pending *q = &p->req[i];

		if (q->kind == KIND_LATENCY || q->kind == KIND_ALLOC)
			continue;
		n = kt_folded_merge(q->f, p->drain, kind_event[q->kind], KT_PPROF_HTTP_MAX_STACKS);
		q->left_out += n > 0 ? (uint64_t)n : 0;
	}
	for (int k = KIND_CPU; k <= KIND_OFFCPU; k++)
		if (p->push[k])
			kt_folded_merge(p->push[k], p->drain, kind_event[k],
					KT_PPROF_HTTP_MAX_STACKS);
	if (p->to_folded && e->s.folded)
		kt_folded_merge(e->s.folded, p->drain, NULL, 0);
	kt_folded_clear(p->drain);
}

/* -------------------------------------------------------------- alloc */

/* KIND_ALLOC: the sums at the request, subtracted at the answer. 0 or -errno. */
static int alloc_start(struct kt_pprof_http *p, struct pending *q)
{
	int n;

	q->alloc0 = calloc(1, sizeof(*q->alloc0));
	if (!q->alloc0)
		return -ENOMEM;
	n = kt_alloc_read_sites(p->e->alloc, q->alloc0);
	if (n >= 0)
		return 0;
	kt_log(KT_LOG_WARN, "pprof", "alloc: reading the sums: %s", strerror(-n));
	kt_alloc_data_free(q->alloc0);
	free(q->alloc0);
	q->alloc0 = NULL;
	return n;
}

/* The site of s's stack in d, NULL if it was not there. */
static const struct kt_alloc_site_rec *site_in(const struct kt_alloc_data *d,
					       const struct kt_alloc_site_rec *s)
{
	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].tgid == s->tgid && d->sites[i].stack_id == s->stack_id)
			return &d->sites[i];
	return NULL;
}

/*
 * Adds one site's towers to f: [alloc] the window's bytes of its calls,
 * [leak] its blocks outstanding now (kt_pprof: Go's alloc_* and inuse_*).
 */
static int alloc_site_fold(struct kt_engine *eng, struct kt_folded *f,
			   const struct kt_alloc_site_rec *s, const struct kt_alloc_site_rec *s0,
			   bool with_leak)
{
	struct kt_proc *proc = kt_agg_proc(&eng->s.agg, s->tgid);
	const char *comm = proc && proc->comm[0] ? proc->comm : NULL;
	uint64_t calls = s->allocs, bytes = s->bytes;
	int e = 0;

	/* a site that shrank: its pid reused, the sums restarted */
	if (s0 && s0->allocs <= calls && s0->bytes <= bytes) {
		calls -= s0->allocs;
		bytes -= s0->bytes;
	}
	if (bytes)
		e = kt_folded_add_counted(f, s->tgid, comm, "alloc", s->stack, s->nframes, bytes,
					  calls);
	if (!e && with_leak && s->leaked_bytes)
		e = kt_folded_add_counted(f, s->tgid, comm, "leak", s->stack, s->nframes,
					  s->leaked_bytes, s->leaked_blocks);
	return e;
}

int kt_pprof_alloc_diff(struct kt_engine *e, const struct kt_alloc_data *now,
			const struct kt_alloc_data *then, bool with_leak, struct kt_folded *f,
			uint64_t *left_out)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < now->nsites; i++) {
		if (kt_folded_size(f) >= KT_PPROF_HTTP_MAX_STACKS) {
			*left_out += now->nsites - i;
			break;
		}
		ret = alloc_site_fold(e, f, &now->sites[i],
				      then ? site_in(then, &now->sites[i]) : NULL, with_leak);
	}
	return ret < 0 ? ret : 0;
}

/* KIND_ALLOC: the sums now less those at the request, into q's stacks. 0 or -errno. */
static int alloc_fold(struct kt_pprof_http *p, struct pending *q)
{
	struct kt_alloc_data now = {0};
	int e = kt_alloc_read_sites(p->e->alloc, &now);

	if (e >= 0)
		e = kt_pprof_alloc_diff(p->e, &now, q->alloc0, true, q->f, &q->left_out);
	kt_alloc_data_free(&now);
	return e < 0 ? e : 0;
}

static void respond_text(struct kt_http_response *r, int status, const char *msg)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup(msg);
	r->len = r->body ? strlen(r->body) : 0;
}

/* seconds=N in the query (default 30): N, or 0 if it is not 1..max. */
static uint64_t parse_seconds(const char *query)
{
	const char *q = query;

	while (q && *q) {
		if (!strncmp(q, "seconds=", 8)) {
			char *end;
			unsigned long long v;

			q += 8;
			if (*q < '0' || *q > '9')
				return 0;
			errno = 0;
			v = strtoull(q, &end, 10);
			if (errno || (*end && *end != '&') || v < 1 ||
			    v > KT_PPROF_HTTP_MAX_SECONDS)
				return 0;
			return v;
		}
		q = strchr(q, '&');
		q = q ? q + 1 : NULL;
	}
	return KT_PPROF_HTTP_DEFAULT_SECONDS;
}

/* The kind of path, or -1 with the response filled (not available here). */
static int path_kind(struct kt_pprof_http *p, const char *name, struct kt_http_response *r)
{
	if (!strcmp(name, "profile")) {
		if (p->e->prof)
			return KIND_CPU;
		respond_text(r, 503,
			     "no CPU profile: the daemon runs without the profile collector "
			     "([daemon] profile = HZ, or --profile HZ)\n");
	} else if (!strcmp(name, "off-cpu") || !strcmp(name, "offcpu")) {
		if (p->e->offcpu)
			return KIND_OFFCPU;
		respond_text(r, 503,
			     "no off-CPU profile: the daemon runs without off-CPU tracing "
			     "([daemon] off_cpu = yes, or --off-cpu)\n");
	} else if (!strcmp(name, "latency")) {
		if (p->e->o.stacks)
			return KIND_LATENCY;
		respond_text(r, 503,
			     "no latency profile: event stacks are off (they are captured with "
			     "[folded] dir, or --folded-dir DIR)\n");
	} else if (!strcmp(name, "alloc")) {
		if (p->e->alloc)
			return KIND_ALLOC;
		respond_text(r, 503,
			     "no alloc profile: the daemon runs without heap profiling "
			     "([daemon] alloc = yes, or --alloc)\n");
	} else {
		respond_text(r, 404, "unknown profile: profile, off-cpu, latency (and alloc)\n");
	}
	return -1;
}

static const char index_page[] =
	"kaos-trace /debug/pprof: the profile of the next N seconds (seconds=1..300, default 30)\n"
	"  /debug/pprof/profile?seconds=N  CPU\n"
	"  /debug/pprof/off-cpu?seconds=N  off-CPU time\n"
	"  /debug/pprof/latency?seconds=N  send, recv, backpressure stacks\n"
	"  /debug/pprof/alloc?seconds=N    allocations (alloc_*), outstanding at the end "
	"(inuse_*)\n";

bool kt_pprof_http_handle(struct kt_pprof_http *p, const char *path, uint64_t now,
			  struct kt_http_response *r)
{
	struct pending *q;
	uint64_t seconds;
	int kind;

	if (strncmp(path, "/debug/pprof", 12) || (path[12] && path[12] != '/'))
		return false;
	if (!path[12] || !path[13]) {
		char page[sizeof(index_page) + 64];

		snprintf(page, sizeof(page), "%s%d of at most %d profiles being taken\n",
			 index_page, p->nreq, KT_PPROF_HTTP_MAX_PENDING);
		respond_text(r, 200, page);
		return true;
	}
	if (p->stopping) {
		respond_text(r, 503, "kaos-trace is shutting down: no profile\n");
		return true;
	}
	kind = path_kind(p, path + 13, r);
	if (kind < 0)
		return true;
	seconds = parse_seconds(r->query);
	if (!seconds) {
		respond_text(r, 400, "seconds must be an integer from 1 to 300\n");
		return true;
	}
	if (p->nreq == KT_PPROF_HTTP_MAX_PENDING) {
		respond_text(r, 429,
			     "too many profiles being taken (at most 4 at once): retry later\n");
		return true;
	}
	q = &p->req[p->nreq];
	*q = (struct pending){.id = r->id, .kind = kind, .seconds = seconds};
	q->f = kt_folded_new();
	if (!q->f) {
		respond_text(r, 503, "out of memory\n");
		return true;
	}
	kt_folded_set_frame_fn(q->f, kt_folded_frame_kt);
	if (kind == KIND_ALLOC && alloc_start(p, q)) {
		kt_folded_free(q->f);
		respond_text(r, 503, "cannot read the heap profiler's sums\n");
		return true;
	}
	/* the window starts now: what was counted before goes elsewhere */
	drain(p, now);
	p->nreq++;
	q->due = now + seconds * 1000000000ull;
	q->start_real = (int64_t)kt_now_ns(CLOCK_REALTIME);
	r->defer_ns = seconds * 1000000000ull + KT_HTTP_TIMEOUT_NS;
	return true;
}

/* Builds q's profile and answers it on h. */
static void answer(struct kt_pprof_http *p, struct pending *q, struct kt_http *h, uint64_t now)
{
	struct kt_engine *e = p->e;
	struct kt_pprof_opts o = {
		.cpu_period_ns = e->o.profile_hz ? 1000000000ull / e->o.profile_hz : 0,
		.weight_latency = q->kind == KIND_LATENCY,
		.time_ns = q->start_real,
		.duration_ns = (int64_t)(now - (q->due - q->seconds * 1000000000ull))};
	void *buf = NULL;
	size_t len = 0;
	int ret = q->kind == KIND_ALLOC ? alloc_fold(p, q) : 0;

	if (!ret)
		ret = kt_pprof_build(q->f, &o, kt_pprof_sym_kt, e->s.sym, &buf, &len);

	if (q->left_out)
		kt_log(KT_LOG_WARN, "pprof", "%s profile of %llus: %llu stacks left out (over %d)",
		       q->kind == KIND_CPU	? "cpu"
		       : q->kind == KIND_OFFCPU ? "off-cpu"
		       : q->kind == KIND_ALLOC	? "alloc"
						: "latency",
		       (unsigned long long)q->seconds, (unsigned long long)q->left_out,
		       KT_PPROF_HTTP_MAX_STACKS);
	if (ret) {
		static const char msg[] = "cannot build the profile\n";

		kt_log(KT_LOG_ERROR, "pprof", "building a profile: %s", strerror(-ret));
		if (h)
			kt_http_complete(h, q->id, 500, "text/plain; charset=utf-8", msg,
					 sizeof(msg) - 1);
	} else if (h) {
		kt_http_complete(h, q->id, 200, "application/octet-stream", buf, len);
	}
	free(buf);
}

static void drop(struct kt_pprof_http *p, int i)
{
	kt_folded_free(p->req[i].f);
	if (p->req[i].alloc0)
		kt_alloc_data_free(p->req[i].alloc0);
	free(p->req[i].alloc0);
	p->req[i] = p->req[--p->nreq];
}

void kt_pprof_http_tick(struct kt_pprof_http *p, struct kt_http *h, uint64_t now)
{
	bool due = false;

	if (!p->nreq && !p->pushing && !p->to_folded && p->e->prof &&
	    now - p->last_drain >= IDLE_DRAIN_NS) {
		/* no folded files: the counts nobody asked for are dropped, the map kept free */
		p->last_drain = now;
		if (kt_profile_fold_since(p->e->prof, p->drain) >= 0)
			kt_folded_clear(p->drain);
	}
	if (!p->nreq && !p->pushing)
		return;
	for (int i = 0; i < p->nreq; i++)
		due |= now >= p->req[i].due;
	if (!due && now - p->last_drain < DRAIN_NS)
		return;
	drain(p, now);
	for (int i = 0; i < p->nreq;) {
		if (now < p->req[i].due) {
			i++;
			continue;
		}
		answer(p, &p->req[i], h, now);
		drop(p, i);
	}
}

void kt_pprof_http_set_push(struct kt_pprof_http *p, struct kt_folded *sink[3])
{
	p->pushing = false;
	for (int k = 0; k < 3; k++) {
		p->push[k] = sink[k];
		p->pushing |= sink[k] != NULL;
	}
}

void kt_pprof_http_shutdown(struct kt_pprof_http *p, struct kt_http *h)
{
	static const char msg[] = "kaos-trace is shutting down: no profile\n";

	p->stopping = true;
	while (p->nreq) {
		if (h)
			kt_http_complete(h, p->req[0].id, 503, "text/plain; charset=utf-8", msg,
					 sizeof(msg) - 1);
		drop(p, 0);
	}
}

struct kt_pprof_http *kt_pprof_http_new(struct kt_engine *e, bool to_folded)
{
	struct kt_pprof_http *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->e = e;
	p->to_folded = to_folded;
	p->drain = kt_folded_new();
	if (!p->drain || kt_session_add_hook(&e->s, on_event, p)) {
		kt_folded_free(p->drain);
		free(p);
		return NULL;
	}
	return p;
}

void kt_pprof_http_free(struct kt_pprof_http *p)
{
	if (!p)
		return;
	while (p->nreq)
		drop(p, 0);
	kt_folded_free(p->drain);
	free(p);
}
