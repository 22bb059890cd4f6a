// SPDX-License-Identifier: MIT
#include "kt_timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt_json.h"
#include "kt_outfile.h"
#include "kt_proc.h"

#define NTHREADS 8192 /* threads named in the metadata; more are left unnamed */

/* One event as held: what the trace-event record needs, nothing more. */
struct rec {
	uint64_t start_ns, dur_ns;
	uint64_t count, bytes;
	uint64_t extra; /* recv: sojourn; retransmit: seq; backpressure: the measured wait */
	uint32_t type, pid, tid, ring_id, n, pad;
};
_Static_assert(sizeof(struct rec) == KT_TIMELINE_REC_BYTES, "KT_TIMELINE_REC_BYTES");

/* A counter sample (kt_timeline_add_counter). */
struct counter {
	const char *name;
	uint64_t ts_ns, value;
	uint32_t pid;
};

struct thread {
	uint32_t pid, tid;
	char name[16];
	uint64_t bp_seq; /* 1 + the seq of its latest backpressure record, 0: none */
};

struct kt_timeline {
	char path[4096];
	const struct kt_agg *agg;
	struct kt_timeline_opts o;
	struct rec *recs;	   /* o.max_events of them: a ring when keep_last */
	uint64_t seen;		   /* events added (seq of the next one) */
	uint64_t cap_ts;	   /* first: when the first event over the cap happened, */
	uint32_t cap_pid, cap_tid; /* and where */
	uint64_t last_written;
	pid_t writer;		/* a background write under way (kt_timeline_write_bg), or 0 */
	int writer_fd;		/* its report: "<events>\n" or the error line */
	bool to_stdout;		/* path "-": one document, at the end (kt_outfile) */
	struct thread *threads; /* open addressing, NTHREADS slots */
	uint32_t nthreads;
	struct counter *counters; /* KT_TIMELINE_MAX_COUNTERS, a ring when keep_last */
	uint64_t ncounters;	  /* samples added */
};

uint64_t kt_timeline_mem_bytes(const struct kt_timeline_opts *o)
{
	uint64_t n = o->max_events ? o->max_events : KT_TIMELINE_DEFAULT_MAX;

	return n * sizeof(struct rec) + NTHREADS * sizeof(struct thread);
}

/* Whether a file can be created where path goes: tried now, not at the end of a run. */
static int check_writable(const char *path, char *err, size_t errlen)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fclose(f);
	unlink(tmp);
	return 0;
}

struct kt_timeline *kt_timeline_open(const char *path, const struct kt_timeline_opts *o,
				     const struct kt_agg *agg, char *err, size_t errlen)
{
	struct kt_timeline *t;

	if (strlen(path) >= sizeof(t->path) - 32) {
		snprintf(err, errlen, "timeline path too long");
		return NULL;
	}
	if (strcmp(path, "-") && check_writable(path, err, errlen))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto oom;
	t->o = *o;
	if (!t->o.max_events)
		t->o.max_events = KT_TIMELINE_DEFAULT_MAX;
	/* calloc'd pages are touched as events arrive: memory grows with use, to the bound */
	t->recs = calloc(t->o.max_events, sizeof(*t->recs));
	t->threads = calloc(NTHREADS, sizeof(*t->threads));
	if (!t->recs || !t->threads)
		goto oom;
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->to_stdout = !strcmp(path, "-");
	t->agg = agg;
	return t;
oom:
	kt_timeline_free(t);
	snprintf(err, errlen, "out of memory for a timeline of %llu events",
		 (unsigned long long)(o->max_events ? o->max_events : KT_TIMELINE_DEFAULT_MAX));
	return NULL;
}

void kt_timeline_free(struct kt_timeline *t)
{
	char err[16];

	if (!t)
		return;
	kt_timeline_reap(t, true, err, sizeof(err));
	free(t->recs);
	free(t->threads);
	free(t->counters);
	free(t);
}

static struct thread *note_thread(struct kt_timeline *t, uint32_t pid, uint32_t tid)
{
	uint32_t h = (tid * 2654435761u) % NTHREADS;

	for (;; h = (h + 1) % NTHREADS) {
		struct thread *th = &t->threads[h];

		if (th->tid == tid && th->pid == pid)
			return th;
		if (th->tid)
			continue;
		if (t->nthreads >= NTHREADS / 2)
			return NULL;
		th->pid = pid;
		th->tid = tid;
		/* read while the thread lives: it may be gone by the end */
		kt_proc_thread_comm((pid_t)pid, (pid_t)tid, th->name, sizeof(th->name));
		t->nthreads++;
		return th;
	}
}

/* The record of seq, or NULL if it is no longer (or never was) held. */
static struct rec *held(struct kt_timeline *t, uint64_t seq)
{
	if (seq >= t->seen)
		return NULL;
	if (!t->o.keep_last)
		return seq < t->o.max_events ? &t->recs[seq] : NULL;
	return t->seen - seq <= t->o.max_events ? &t->recs[seq % t->o.max_events] : NULL;
}

/* A send ends the thread's pending wait: if the two overlap, the wait starts inside it. */
static void nest_wait(struct kt_timeline *t, struct thread *th, const struct rec *send)
{
	struct rec *bp = th->bp_seq ? held(t, th->bp_seq - 1) : NULL;

	th->bp_seq = 0;
	if (!bp || bp->ring_id != send->ring_id)
		return;
	uint64_t bp_end = bp->start_ns + bp->dur_ns;

	/* no overlap: an earlier call's wait (a failed send), or a send timed after its claim */
	if (bp_end <= send->start_ns || bp->start_ns >= send->start_ns)
		return;
	bp->start_ns = send->start_ns;
	bp->dur_ns = bp_end - send->start_ns;
}

static void fill(struct rec *r, const struct kt_event *e)
{
	bool instant = e->type == KT_EV_RETRANSMIT || e->type == KT_EV_RING_CLOSE;

	*r = (struct rec){
		.start_ns = instant ? e->ts_ns : e->ts_ns - e->dur_ns,
		.dur_ns = instant ? 0 : e->dur_ns,
		.count = e->count,
		.bytes = e->bytes,
		.extra = e->type == KT_EV_BACKPRESSURE ? e->dur_ns : e->extra,
		.type = e->type,
		.pid = e->pid,
		.tid = e->tid,
		.ring_id = e->ring_id,
		.n = e->n,
	};
}

bool kt_timeline_add(struct kt_timeline *t, const struct kt_event *e, size_t size)
{
	struct rec r;
	struct thread *th;
	uint64_t seq = t->seen;

	if (size < KT_EVENT_BASE_SIZE || e->type >= KT_EV_TYPES || e->type == KT_EV_FUNC)
		return false;
	fill(&r, e);
	t->seen++;
	if (!t->o.keep_last && seq >= t->o.max_events) {
		if (seq == t->o.max_events) {
			t->cap_ts = e->ts_ns;
			t->cap_pid = e->pid;
			t->cap_tid = e->tid;
		}
		return seq == t->o.max_events;
	}
	th = note_thread(t, e->pid, e->tid);
	if (th && r.type == KT_EV_SEND)
		nest_wait(t, th, &r);
	t->recs[seq % t->o.max_events] = r;
	if (th && r.type == KT_EV_BACKPRESSURE)
		th->bp_seq = seq + 1;
	return t->o.keep_last && seq == t->o.max_events;
}

bool kt_timeline_to_stdout(const struct kt_timeline *t)
{
	return t->to_stdout;
}

bool kt_timeline_keeps_last(const struct kt_timeline *t)
{
	return t->o.keep_last;
}

uint64_t kt_timeline_written(const struct kt_timeline *t)
{
	return t->seen < t->o.max_events ? t->seen : t->o.max_events;
}

uint64_t kt_timeline_dropped(const struct kt_timeline *t)
{
	return t->seen - kt_timeline_written(t);
}

uint64_t kt_timeline_last_written(const struct kt_timeline *t)
{
	return t->last_written;
}

/* ---------------------------------------------------------------- writing */

/* The ring's name in the process's current image (the last one listed: after an exec). */
static const char *ring_name(const struct kt_timeline *t, uint32_t pid, uint32_t ring_id)
{
	const char *name = NULL;

	if (!t->agg)
		return NULL;
	for (const struct kt_ring_agg *r = t->agg->rings; r; r = r->next)
		if (r->pid == pid && r->ring_id == ring_id)
			name = r->name[0] ? r->name : NULL;
	return name;
}

void kt_timeline_add_counter(struct kt_timeline *t, const char *name, uint32_t pid, uint64_t ts_ns,
			     uint64_t value)
{
	if (!t->counters && !(t->counters = calloc(KT_TIMELINE_MAX_COUNTERS, sizeof(*t->counters))))
		return; /* not held: counted as dropped below */
	if (t->ncounters < KT_TIMELINE_MAX_COUNTERS || t->o.keep_last)
		t->counters[t->ncounters % KT_TIMELINE_MAX_COUNTERS] =
			(struct counter){.name = name, .ts_ns = ts_ns, .value = value, .pid = pid};
	t->ncounters++;
}

/* The counter samples held: [from, to) of t->ncounters. */
static uint64_t counters_held(const struct kt_timeline *t)
{
	if (!t->counters)
		return 0;
	return t->ncounters < KT_TIMELINE_MAX_COUNTERS ? t->ncounters : KT_TIMELINE_MAX_COUNTERS;
}

static const struct counter *counter_at(const struct kt_timeline *t, uint64_t i)
{
	uint64_t first = t->o.keep_last ? t->ncounters - counters_held(t) : 0;

	return &t->counters[(first + i) % KT_TIMELINE_MAX_COUNTERS];
}

/* What a write covers: seqs [from, to) that start at or after min_start. */
struct span {
	uint64_t from, to, min_start, base_ns;
};

static struct span span_of(const struct kt_timeline *t)
{
	struct span sp = {0, kt_timeline_written(t), 0, 0};
	uint64_t newest_end = 0;

	if (t->o.keep_last) {
		sp.to = t->seen;
		sp.from = t->seen - kt_timeline_written(t);
	}
	for (uint64_t s = sp.from; s < sp.to; s++) {
		const struct rec *r = &t->recs[s % t->o.max_events];

		if (r->start_ns + r->dur_ns > newest_end)
			newest_end = r->start_ns + r->dur_ns;
	}
	if (t->o.keep_last && t->o.last_ns && newest_end > t->o.last_ns)
		sp.min_start = newest_end - t->o.last_ns;
	sp.base_ns = UINT64_MAX;
	for (uint64_t s = sp.from; s < sp.to; s++) {
		const struct rec *r = &t->recs[s % t->o.max_events];

		if (r->start_ns >= sp.min_start && r->start_ns < sp.base_ns)
			sp.base_ns = r->start_ns;
	}
	for (uint64_t i = 0; i < counters_held(t); i++) {
		const struct counter *c = counter_at(t, i);

		if (c->ts_ns >= sp.min_start && c->ts_ns < sp.base_ns)
			sp.base_ns = c->ts_ns;
	}
	return sp;
}

static double us(const struct span *sp, uint64_t ns)
{
	return ((double)(int64_t)(ns - sp->base_ns)) / 1000.0;
}

static void write_args(struct kt_json *w, const struct kt_timeline *t, const struct rec *r)
{
	const char *name = ring_name(t, r->pid, r->ring_id);

	kt_json_key(w, "args");
	kt_json_object_begin(w);
	kt_json_key(w, "ring");
	if (name)
		kt_json_string(w, name);
	else
		kt_json_null(w);
	kt_json_kv_u64(w, "ring_id", r->ring_id);
	switch (r->type) {
	case KT_EV_SEND:
	case KT_EV_RECV:
		kt_json_kv_u64(w, "msgs", r->n);
		kt_json_kv_u64(w, "bytes", r->bytes);
		if (r->type == KT_EV_RECV && r->extra)
			kt_json_kv_u64(w, "sojourn_ns", r->extra);
		break;
	case KT_EV_BACKPRESSURE:
		kt_json_kv_u64(w, "episode", r->count);
		kt_json_kv_u64(w, "wait_ns", r->extra);
		break;
	case KT_EV_RETRANSMIT:
		kt_json_kv_u64(w, "seq", r->extra);
		break;
	default:
		kt_json_kv_u64(w, "sent", r->count);
		kt_json_kv_u64(w, "received", r->extra);
		break;
	}
	kt_json_object_end(w);
}

static void write_rec(struct kt_json *w, const struct kt_timeline *t, const struct span *sp,
		      const struct rec *r)
{
	bool slice = r->type <= KT_EV_BACKPRESSURE;

	kt_json_object_begin(w);
	kt_json_kv_string(w, "name", kt_event_type_name(r->type));
	kt_json_kv_string(w, "cat", "kaos");
	kt_json_kv_string(w, "ph", slice ? "X" : "i");
	if (!slice)
		kt_json_kv_string(w, "s", "t");
	kt_json_kv_double(w, "ts", us(sp, r->start_ns));
	if (slice)
		kt_json_kv_double(w, "dur", (double)r->dur_ns / 1000.0);
	kt_json_kv_u64(w, "pid", r->pid);
	kt_json_kv_u64(w, "tid", r->tid);
	write_args(w, t, r);
	kt_json_object_end(w);
}

/* first mode: where the events over the cap began */
static void write_cap_mark(struct kt_json *w, const struct kt_timeline *t, const struct span *sp)
{
	kt_json_object_begin(w);
	kt_json_kv_string(w, "name", "timeline cap reached");
	kt_json_kv_string(w, "ph", "i");
	kt_json_kv_string(w, "s", "g");
	kt_json_kv_double(w, "ts", us(sp, t->cap_ts));
	kt_json_kv_u64(w, "pid", t->cap_pid);
	kt_json_kv_u64(w, "tid", t->cap_tid);
	kt_json_key(w, "args");
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "max_events", t->o.max_events);
	kt_json_object_end(w);
	kt_json_object_end(w);
}

/* The counter tracks: one "C" event per sample, {"NAME": value} (Perfetto draws a track per pid and
 * name). */
static void write_counters(struct kt_json *w, const struct kt_timeline *t, const struct span *sp)
{
	for (uint64_t i = 0; i < counters_held(t); i++) {
		const struct counter *c = counter_at(t, i);

		if (c->ts_ns < sp->min_start)
			continue;
		kt_json_object_begin(w);
		kt_json_kv_string(w, "name", c->name);
		kt_json_kv_string(w, "cat", "kaos");
		kt_json_kv_string(w, "ph", "C");
		kt_json_kv_double(w, "ts", us(sp, c->ts_ns));
		kt_json_kv_u64(w, "pid", c->pid);
		kt_json_key(w, "args");
		kt_json_object_begin(w);
		kt_json_kv_u64(w, c->name, c->value);
		kt_json_object_end(w);
		kt_json_object_end(w);
	}
}

static void meta(struct kt_json *w, const char *what, uint32_t pid, uint32_t tid, const char *name)
{
	kt_json_object_begin(w);
	kt_json_kv_string(w, "name", what);
	kt_json_kv_string(w, "ph", "M");
	kt_json_kv_u64(w, "pid", pid);
	kt_json_kv_u64(w, "tid", tid);
	kt_json_key(w, "args");
	kt_json_object_begin(w);
	kt_json_kv_string(w, "name", name);
	kt_json_object_end(w);
	kt_json_object_end(w);
}

static void write_names(struct kt_json *w, const struct kt_timeline *t)
{
	for (const struct kt_proc *p = t->agg ? t->agg->procs : NULL; p; p = p->next) {
		char name[48];

		snprintf(name, sizeof(name), "%s (%u)", p->comm, p->pid);
		meta(w, "process_name", p->pid, p->pid, name);
	}
	for (uint32_t i = 0; i < NTHREADS; i++)
		if (t->threads[i].tid && t->threads[i].name[0])
			meta(w, "thread_name", t->threads[i].pid, t->threads[i].tid,
			     t->threads[i].name);
}

static void write_other(struct kt_json *w, const struct kt_timeline *t, uint64_t n)
{
	kt_json_key(w, "otherData");
	kt_json_object_begin(w);
	kt_json_kv_string(w, "tool", "kaos-trace");
	kt_json_kv_u64(w, "events", n);
	kt_json_kv_u64(w, "events_dropped", t->seen - n);
	kt_json_kv_u64(w, "max_events", t->o.max_events);
	if (t->o.keep_last) {
		kt_json_kv_string(w, "keep", "last");
		kt_json_kv_double(w, "last_s", (double)t->o.last_ns / 1e9);
	}
	if (t->ncounters)
		kt_json_kv_u64(w, "counters_dropped", t->ncounters - counters_held(t));
	kt_json_object_end(w);
}

/* The whole document; returns the count of events in it. */
static uint64_t write_doc(struct kt_json *w, const struct kt_timeline *t)
{
	struct span sp = span_of(t);
	uint64_t n = 0;

	kt_json_object_begin(w);
	kt_json_key(w, "traceEvents");
	kt_json_array_begin(w);
	for (uint64_t s = sp.from; s < sp.to; s++) {
		const struct rec *r = &t->recs[s % t->o.max_events];

		if (r->start_ns < sp.min_start)
			continue;
		write_rec(w, t, &sp, r);
		n++;
	}
	if (!t->o.keep_last && t->seen > t->o.max_events)
		write_cap_mark(w, t, &sp);
	write_counters(w, t, &sp);
	write_names(w, t);
	kt_json_array_end(w);
	kt_json_kv_string(w, "displayTimeUnit", "ns");
	write_other(w, t, n);
	kt_json_object_end(w);
	kt_json_eol(w);
	return n;
}

/* "-": the document on stdout (a duplicate of fd 1: fclose reports its errors). */
static int write_stdout(struct kt_timeline *t, char *err, size_t errlen)
{
	FILE *f = kt_outfile_open("-");
	struct kt_json w;
	uint64_t n;

	if (!f) {
		snprintf(err, errlen, "cannot write stdout: %s", strerror(errno));
		return -1;
	}
	kt_json_init_file(&w, f);
	errno = 0;
	n = write_doc(&w, t);
	if (kt_json_error(&w) || fclose(f)) {
		snprintf(err, errlen, "writing stdout failed: %s",
			 errno ? strerror(errno) : kt_json_strerror(&w));
		if (kt_json_error(&w))
			fclose(f);
		return -1;
	}
	t->last_written = n;
	return 0;
}

int kt_timeline_write(struct kt_timeline *t, char *err, size_t errlen)
{
	char tmp[4200];
	struct kt_json w;
	uint64_t n;
	FILE *f;

	if (t->to_stdout)
		return write_stdout(t, err, errlen);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", t->path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", t->path, strerror(errno));
		return -1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	kt_json_init_file(&w, f);
	errno = 0;
	n = write_doc(&w, t);
	/* a full disk shows at a write, the flush or, with delayed allocation, only at fsync */
	if (kt_json_error(&w)) {
		snprintf(err, errlen, "writing %s failed: %s", t->path,
			 ferror(f) && errno ? strerror(errno) : kt_json_strerror(&w));
		goto fail;
	}
	if (fflush(f) || fsync(fileno(f))) {
		snprintf(err, errlen, "writing %s failed: %s", t->path, strerror(errno));
		goto fail;
	}
	if (fclose(f)) {
		f = NULL;
		snprintf(err, errlen, "writing %s failed: %s", t->path, strerror(errno));
		goto fail;
	}
	f = NULL;
	if (rename(tmp, t->path)) {
		snprintf(err, errlen, "cannot replace %s: %s", t->path, strerror(errno));
		goto fail;
	}
	t->last_written = n;
	return 0;
fail:
	if (f)
		fclose(f);
	unlink(tmp);
	return -1;
}

int kt_timeline_set_path(struct kt_timeline *t, const char *path)
{
	if (t->to_stdout || !strcmp(path, "-") || strlen(path) >= sizeof(t->path) - 32)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s", path);
	return 0;
}

const char *kt_timeline_path(const struct kt_timeline *t)
{
	return t->path;
}

int kt_timeline_write_bg(struct kt_timeline *t, char *err, size_t errlen)
{
	int fds[2];
	pid_t pid;

	if (t->writer)
		return 1;
	if (t->to_stdout) {
		snprintf(err, errlen, "the timeline goes to stdout: written once, at exit");
		return -2;
	}
	if (pipe2(fds, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot start writing %s: %s", t->path, strerror(errno));
		return -1;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start writing %s: %s", t->path, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		char msg[600];
		int rc = kt_timeline_write(t, msg, sizeof(msg));
		int n;

		if (!rc)
			snprintf(msg, sizeof(msg), "%llu\n", (unsigned long long)t->last_written);
		n = (int)strlen(msg);
		_exit(write(fds[1], msg, (size_t)n) == n && !rc ? 0 : 1);
	}
	close(fds[1]);
	t->writer = pid;
	t->writer_fd = fds[0];
	return 0;
}

int kt_timeline_reap(struct kt_timeline *t, bool wait, char *err, size_t errlen)
{
	char msg[600] = "";
	int status = 0;
	ssize_t n;
	pid_t w;

	if (!t->writer)
		return 0;
	while ((w = waitpid(t->writer, &status, wait ? 0 : WNOHANG)) < 0 && errno == EINTR)
		;
	if (w == 0)
		return 1;
	n = read(t->writer_fd, msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	close(t->writer_fd);
	t->writer = 0;
	if (w > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		t->last_written = strtoull(msg, NULL, 10);
		return 2;
	}
	msg[strcspn(msg, "\n")] = 0;
	snprintf(err, errlen, "%s", msg[0] ? msg : "the background write of the timeline failed");
	return -1;
}

int kt_timeline_close(struct kt_timeline *t, char *err, size_t errlen)
{
	int rc = kt_timeline_write(t, err, errlen);

	kt_timeline_free(t);
	return rc;
}
