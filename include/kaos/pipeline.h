/* SPDX-License-Identifier: MIT */
/*
 * libkaos pipelines: source -> stage -> ... -> stage -> sink, connected by
 * libkaos rings.
 *
 *  - Memory is bounded: a fixed pool of chunks (each a data buffer and a
 *    scratch buffer of chunk_size bytes). The rings carry 16-byte
 *    descriptors (sequence number, chunk index, length), never data.
 *  - Each stage runs a function over one chunk on one or more worker
 *    threads. The source (one thread) fills chunks in order; the sink (one
 *    thread) gets them back in order: chunks carry sequence numbers and the
 *    sink reorders what parallel workers finished out of order.
 *  - Backpressure: the source needs a free chunk to read into, and chunks
 *    come back only after the sink consumed them; a slow stage or sink
 *    therefore stops the source instead of letting memory grow.
 *  - Rings are named "STAGE.in" (each stage's input, e.g. "compress.in"),
 *    "SINK.in" and "SOURCE.free" (chunks going back to the source), so
 *    kaos-trace shows every queue of the pipeline by name.
 *  - Errors: a source, stage or sink returning a negative code stops the
 *    whole pipeline (every thread notices within one chunk) and
 *    kaos_pipeline_wait() returns that code; kaos_pipeline_error() says which
 *    stage failed on which chunk, with the stage's own message.
 */
#ifndef KAOS_PIPELINE_H
#define KAOS_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KAOS_PIPELINE_MAX_STAGES  8u
#define KAOS_PIPELINE_MAX_WORKERS 64u /* per stage */
#define KAOS_PIPELINE_MAX_CHUNK	  (1u << 30)
#define KAOS_PIPELINE_MAX_CHUNKS  4096u

/* One unit of work. Stages may change len, data (swap with scratch) and meta. */
struct kaos_chunk {
	uint64_t seq;	 /* position in the stream: 0, 1, 2, ... */
	uint32_t index;	 /* pool slot */
	uint32_t worker; /* index of the worker making this call (for per-worker state) */
	size_t len;	 /* bytes valid in data */
	size_t cap;	 /* capacity of data and of scratch */
	uint8_t *data;
	uint8_t *scratch; /* for stages that cannot work in place; see kaos_chunk_swap() */
	uint64_t meta[4]; /* values a stage leaves for later stages (lengths, checksums) */
};

static inline void kaos_chunk_swap(struct kaos_chunk *c)
{
	uint8_t *t = c->data;
	c->data = c->scratch;
	c->scratch = t;
}

/* Attaches a one-line message to the error the caller is about to return. */
void kaos_chunk_error(struct kaos_chunk *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fills c->data (at most c->cap bytes) and sets c->len: 1 = a chunk, 0 = end of input, < 0 error.
 */
typedef int (*kaos_source_fn)(void *arg, struct kaos_chunk *c);
/* Transforms (stage) or consumes (sink) one chunk: 0, or a negative code that stops the pipeline.
 */
typedef int (*kaos_chunk_fn)(void *arg, struct kaos_chunk *c);

struct kaos_stage_def {
	const char *name; /* names the stage's input ring "NAME.in" */
	kaos_chunk_fn fn; /* called concurrently by the stage's workers */
	void *arg;
	uint32_t workers; /* 1..KAOS_PIPELINE_MAX_WORKERS (0 means 1) */
};

struct kaos_pipeline_config {
	size_t chunk_size;	 /* bytes per buffer, 1..KAOS_PIPELINE_MAX_CHUNK */
	uint32_t chunks;	 /* pool size (0: 2 x all workers + 2) */
	const char *source_name; /* default "source" */
	kaos_source_fn source;
	void *source_arg;
	const struct kaos_stage_def *stages;
	uint32_t nstages;      /* 0..KAOS_PIPELINE_MAX_STAGES */
	const char *sink_name; /* default "sink" */
	kaos_chunk_fn sink;    /* called in sequence order, on one thread */
	void *sink_arg;
};

struct kaos_pipeline_error {
	int code;  /* what the failing function returned (0: no error) */
	int stage; /* -1 source, 0..nstages-1 a stage, nstages the sink */
	const char *stage_name;
	uint64_t seq;  /* the chunk it failed on */
	char msg[160]; /* kaos_chunk_error() text, or empty */
};

struct kaos_pipeline_stage_stats {
	const char *name;
	uint32_t workers;
	uint32_t queued; /* descriptors waiting in the stage's input ring */
	uint32_t busy;	 /* workers inside the stage function now */
	uint64_t chunks; /* chunks this stage finished */
};

struct kaos_pipeline_stats {
	uint64_t chunks_in, bytes_in;	/* produced by the source */
	uint64_t chunks_out, bytes_out; /* consumed by the sink, in order */
	uint32_t chunks;		/* pool size */
	uint32_t free_chunks;		/* waiting for the source */
	uint32_t reorder_held;		/* arrived at the sink ahead of their turn */
	uint32_t nstages;		/* stage[] entries: the stages, then the sink */
	struct kaos_pipeline_stage_stats stage[KAOS_PIPELINE_MAX_STAGES + 1];
};

struct kaos_pipeline;

/* Allocates the pool and the rings. 0, -KAOS_EINVAL, -KAOS_ENOMEM. */
int kaos_pipeline_create(const struct kaos_pipeline_config *cfg, struct kaos_pipeline **out);
/* Starts the threads. 0 or -KAOS_ESYS; a pipeline runs once. */
int kaos_pipeline_start(struct kaos_pipeline *p);
/* Joins the threads: 0 when the sink consumed the whole stream, else the first error's code. */
int kaos_pipeline_wait(struct kaos_pipeline *p);
/* 1 while any of the pipeline's threads is still running (poll it, e.g. for progress). */
int kaos_pipeline_running(const struct kaos_pipeline *p);
/* start + wait. */
int kaos_pipeline_run(struct kaos_pipeline *p);
/* May be called from any thread while running (progress displays). */
void kaos_pipeline_stats(const struct kaos_pipeline *p, struct kaos_pipeline_stats *out);
const struct kaos_pipeline_error *kaos_pipeline_error(const struct kaos_pipeline *p);
void kaos_pipeline_destroy(struct kaos_pipeline *p);

#ifdef __cplusplus
}
#endif
#endif /* KAOS_PIPELINE_H */
