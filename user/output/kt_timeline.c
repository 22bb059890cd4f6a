// SPDX-License-Identifier: MIT
#include "kt_timeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_json.h"
#include "kt_outfile.h"
#include "kt_proc.h"

#define NTHREADS 8192 /* threads named in the metadata; more are left unnamed */

struct thread {
	uint32_t pid, tid;
	char name[16];
};

struct kt_timeline {
	FILE *f;
	char path[4096];
	struct kt_json w;
	const struct kt_agg *agg;
	uint64_t max, written, dropped;
	uint64_t base_ns; /* ts 0 */
	bool have_base;
	struct thread *threads; /* open addressing, NTHREADS slots */
	uint32_t nthreads;
};

struct kt_timeline *kt_timeline_open(const char *path, uint64_t max_events,
				     const struct kt_agg *agg, char *err, size_t errlen)
{
	struct kt_timeline *t = calloc(1, sizeof(*t));

	if (!t || !(t->threads = calloc(NTHREADS, sizeof(*t->threads)))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->f = kt_outfile_open(path); /* "-": stdout */
	if (!t->f) {
		snprintf(err, errlen, "cannot write %s: %s", kt_outfile_name(path),
			 strerror(errno));
		free(t->threads);
		free(t);
		return NULL;
	}
	setvbuf(t->f, NULL, _IOFBF, 1 << 20);
	snprintf(t->path, sizeof(t->path), "%s", kt_outfile_name(path));
	t->agg = agg;
	t->max = max_events;
	kt_json_init_file(&t->w, t->f);
	kt_json_object_begin(&t->w);
	kt_json_key(&t->w, "traceEvents");
	kt_json_array_begin(&t->w);
	return t;
}

static void note_thread(struct kt_timeline *t, uint32_t pid, uint32_t tid)
{
	uint32_t h = (tid * 2654435761u) % NTHREADS;

	if (t->nthreads >= NTHREADS / 2)
		return;
	for (;; h = (h + 1) % NTHREADS) {
		struct thread *th = &t->threads[h];

		if (th->tid == tid && th->pid == pid)
			return;
		if (th->tid == 0) {
			th->pid = pid;
			th->tid = tid;
			/* read while the thread lives: it may be gone by the end */
			kt_proc_thread_comm((pid_t)pid, (pid_t)tid, th->name, sizeof(th->name));
			t->nthreads++;
			return;
		}
	}
}

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

static double us(const struct kt_timeline *t, uint64_t ns)
{
	return ((double)(int64_t)(ns - t->base_ns)) / 1000.0;
}

bool kt_timeline_add(struct kt_timeline *t, const struct kt_event *e, size_t size)
{
	struct kt_json *w = &t->w;
	uint64_t start;

	if (size < KT_EVENT_BASE_SIZE || e->type >= KT_EV_TYPES || e->type == KT_EV_FUNC)
		return false;
	start = e->type == KT_EV_RETRANSMIT || e->type == KT_EV_RING_CLOSE ? e->ts_ns
									   : e->ts_ns - e->dur_ns;
	if (!t->have_base) {
		t->base_ns = start;
		t->have_base = true;
	}
	if (t->written >= t->max) {
		bool first = t->dropped == 0;

		t->dropped++;
		if (first) {
			kt_json_object_begin(w);
			kt_json_kv_string(w, "name", "timeline cap reached");
			kt_json_kv_string(w, "ph", "i");
			kt_json_kv_string(w, "s", "g");
			kt_json_kv_double(w, "ts", us(t, e->ts_ns));
			kt_json_kv_u64(w, "pid", e->pid);
			kt_json_kv_u64(w, "tid", e->tid);
			kt_json_key(w, "args");
			kt_json_object_begin(w);
			kt_json_kv_u64(w, "max_events", t->max);
			kt_json_object_end(w);
			kt_json_object_end(w);
		}
		return first;
	}
	t->written++;
	note_thread(t, e->pid, e->tid);
	const char *name = ring_name(t, e->pid, e->ring_id);
	bool slice = e->type <= KT_EV_BACKPRESSURE;

	kt_json_object_begin(w);
	kt_json_kv_string(w, "name", kt_event_type_name(e->type));
	kt_json_kv_string(w, "cat", "kaos");
	kt_json_kv_string(w, "ph", slice ? "X" : "i");
	if (!slice)
		kt_json_kv_string(w, "s", "t");
	kt_json_kv_double(w, "ts", us(t, start));
	if (slice)
		kt_json_kv_double(w, "dur", (double)e->dur_ns / 1000.0);
	kt_json_kv_u64(w, "pid", e->pid);
	kt_json_kv_u64(w, "tid", e->tid);
	kt_json_key(w, "args");
	kt_json_object_begin(w);
	kt_json_key(w, "ring");
	if (name)
		kt_json_string(w, name);
	else
		kt_json_null(w);
	kt_json_kv_u64(w, "ring_id", e->ring_id);
	switch (e->type) {
	case KT_EV_SEND:
	case KT_EV_RECV:
		kt_json_kv_u64(w, "msgs", e->n);
		kt_json_kv_u64(w, "bytes", e->bytes);
		if (e->type == KT_EV_RECV && e->extra)
			kt_json_kv_u64(w, "sojourn_ns", e->extra);
		break;
	case KT_EV_BACKPRESSURE:
		kt_json_kv_u64(w, "episode", e->count);
		break;
	case KT_EV_RETRANSMIT:
		kt_json_kv_u64(w, "seq", e->extra);
		break;
	default:
		kt_json_kv_u64(w, "sent", e->count);
		kt_json_kv_u64(w, "received", e->extra);
		break;
	}
	kt_json_object_end(w);
	kt_json_object_end(w);
	return false;
}

uint64_t kt_timeline_written(const struct kt_timeline *t)
{
	return t->written;
}

uint64_t kt_timeline_dropped(const struct kt_timeline *t)
{
	return t->dropped;
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

int kt_timeline_close(struct kt_timeline *t, char *err, size_t errlen)
{
	struct kt_json *w = &t->w;
	int rc = 0;

	for (const struct kt_proc *p = t->agg ? t->agg->procs : NULL; p; p = p->next) {
		char name[48];

		snprintf(name, sizeof(name), "%s (%u)", p->comm, p->pid);
		meta(w, "process_name", p->pid, p->pid, name);
	}
	for (uint32_t i = 0; i < NTHREADS; i++)
		if (t->threads[i].tid && t->threads[i].name[0])
			meta(w, "thread_name", t->threads[i].pid, t->threads[i].tid,
			     t->threads[i].name);
	kt_json_array_end(w);
	kt_json_kv_string(w, "displayTimeUnit", "ns");
	kt_json_key(w, "otherData");
	kt_json_object_begin(w);
	kt_json_kv_string(w, "tool", "kaos-trace");
	kt_json_kv_u64(w, "events", t->written);
	kt_json_kv_u64(w, "events_dropped", t->dropped);
	kt_json_kv_u64(w, "max_events", t->max);
	kt_json_object_end(w);
	kt_json_object_end(w);
	kt_json_eol(w);
	if (kt_json_error(w)) {
		snprintf(err, errlen, "writing %s failed: %s", t->path, kt_json_strerror(w));
		rc = -1;
	}
	if (fclose(t->f) && !rc) {
		snprintf(err, errlen, "writing %s failed: %s", t->path, strerror(errno));
		rc = -1;
	}
	free(t->threads);
	free(t);
	return rc;
}
