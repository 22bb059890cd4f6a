/* SPDX-License-Identifier: MIT */
/*
 * Pipelines: byte-exact round trips through two transforming stages at the
 * edge sizes, ordered output when workers finish out of order, more workers
 * than chunks, bounded memory, and errors reported with stage and chunk.
 * Worker threads never call cmocka: they record problems that the test
 * thread asserts on afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "kaos/pipeline.h"
#include "kaos/ring.h"

struct job {
	const uint8_t *in;
	size_t in_len, in_pos;
	uint8_t *out;
	size_t out_len, out_cap;
	uint64_t next_seq;
	_Atomic int problems;
	_Atomic uint32_t max_in_flight;
	struct kaos_pipeline *p;
	uint32_t pool;
	uint64_t fail_seq; /* stage "fail" returns an error on this chunk (UINT64_MAX: never) */
	int fail_where;	   /* 0 stage, 1 source, 2 sink */
	int jitter;	   /* stages sleep a seq-dependent while, so workers finish out of order */
};

static int src(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	size_t n = j->in_len - j->in_pos;

	if (j->fail_where == 1 && c->seq == j->fail_seq) {
		kaos_chunk_error(c, "source broke at %llu", (unsigned long long)c->seq);
		return -KAOS_ESYS;
	}
	if (n == 0)
		return 0;
	if (n > c->cap)
		n = c->cap;
	memcpy(c->data, j->in + j->in_pos, n);
	j->in_pos += n;
	c->len = n;
	c->meta[0] = c->seq * 3 + 1;
	return 1;
}

static void nap(uint64_t seq, int jitter)
{
	if (!jitter)
		return;
	/* later-numbered chunks are often faster: completions arrive out of order */
	struct timespec ts = {0, (long)((7 - seq % 8) * 150000)};
	nanosleep(&ts, NULL);
}

/* Stage 1: out-of-place transform into scratch (byte + seq), then swap. */
static int scramble(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (c->meta[0] != c->seq * 3 + 1)
		atomic_fetch_add(&j->problems, 1);
	for (size_t i = 0; i < c->len; i++)
		c->scratch[i] = (uint8_t)(c->data[i] + (uint8_t)c->seq + (uint8_t)i);
	kaos_chunk_swap(c);
	c->meta[1] = c->len;
	nap(c->seq, j->jitter);
	return 0;
}

/* Stage 2: undoes it in place. */
static int unscramble(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (c->meta[1] != c->len || c->worker >= 64)
		atomic_fetch_add(&j->problems, 1);
	for (size_t i = 0; i < c->len; i++)
		c->data[i] = (uint8_t)(c->data[i] - (uint8_t)c->seq - (uint8_t)i);
	nap(c->seq * 5, j->jitter);
	return 0;
}

static int failing(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (j->fail_where == 0 && c->seq == j->fail_seq) {
		kaos_chunk_error(c, "refusing chunk %llu", (unsigned long long)c->seq);
		return -KAOS_ECORRUPT;
	}
	return 0;
}

static int sink(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (c->seq != j->next_seq++)
		atomic_fetch_add(&j->problems, 1);
	if (!kaos_pipeline_running(j->p)) /* this very thread is one of its threads */
		atomic_fetch_add(&j->problems, 1);
	if (j->fail_where == 2 && c->seq == j->fail_seq) {
		kaos_chunk_error(c, "disk full");
		return -KAOS_ESYS;
	}
	if (j->out_len + c->len > j->out_cap) {
		atomic_fetch_add(&j->problems, 1);
		return -KAOS_ENOMEM;
	}
	memcpy(j->out + j->out_len, c->data, c->len);
	j->out_len += c->len;
	/* bounded memory: never more chunks read than the pool holds beyond what was written */
	struct kaos_pipeline_stats st;
	kaos_pipeline_stats(j->p, &st);
	uint32_t in_flight = (uint32_t)(st.chunks_in - st.chunks_out);
	if (in_flight > atomic_load(&j->max_in_flight))
		atomic_store(&j->max_in_flight, in_flight);
	return 0;
}

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	uint64_t x = 0x1234567887654321ull + n;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

static void round_trip(size_t len, size_t chunk, uint32_t w1, uint32_t w2, uint32_t pool,
		       int jitter)
{
	struct job j = {0};
	uint8_t *in = pattern(len);
	struct kaos_stage_def stages[2] = {
		{.name = "scramble", .fn = scramble, .arg = &j, .workers = w1},
		{.name = "unscramble", .fn = unscramble, .arg = &j, .workers = w2},
	};
	struct kaos_pipeline_config cfg = {
		.chunk_size = chunk,
		.chunks = pool,
		.source = src,
		.source_arg = &j,
		.stages = stages,
		.nstages = 2,
		.sink = sink,
		.sink_arg = &j,
	};

	j.in = in;
	j.in_len = len;
	j.out_cap = len;
	j.out = malloc(len ? len : 1);
	j.fail_seq = UINT64_MAX;
	j.fail_where = -1;
	j.jitter = jitter;
	assert_int_equal(kaos_pipeline_create(&cfg, &j.p), 0);
	assert_int_equal(kaos_pipeline_running(j.p), 0);
	assert_int_equal(kaos_pipeline_run(j.p), 0);
	assert_int_equal(kaos_pipeline_running(j.p), 0);
	assert_int_equal(atomic_load(&j.problems), 0);
	assert_int_equal(j.out_len, len);
	assert_memory_equal(j.out, in, len ? len : 0);
	assert_int_equal(j.next_seq, (len + chunk - 1) / chunk);

	struct kaos_pipeline_stats st;
	kaos_pipeline_stats(j.p, &st);
	assert_int_equal(st.bytes_in, len);
	assert_int_equal(st.bytes_out, len);
	assert_int_equal(st.chunks_out, j.next_seq);
	assert_int_equal(st.stage[0].chunks, j.next_seq);
	assert_int_equal(st.stage[1].chunks, j.next_seq);
	assert_string_equal(st.stage[0].name, "scramble");
	assert_string_equal(st.stage[2].name, "sink");
	assert_int_equal(st.free_chunks, st.chunks); /* every chunk came back */
	assert_true(atomic_load(&j.max_in_flight) <= st.chunks);
	assert_int_equal(kaos_pipeline_error(j.p)->code, 0);
	kaos_pipeline_destroy(j.p);
	free(in);
	free(j.out);
}

static void test_edge_sizes(void **state)
{
	const size_t chunk = 4096;
	const size_t sizes[] = {0, 1, chunk - 1, chunk, chunk + 1};
	(void)state;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		round_trip(sizes[i], chunk, 1, 1, 0, 0);
		round_trip(sizes[i], chunk, 3, 2, 0, 0);
	}
	/* large: a few MB through 4 KiB chunks (~750 of them) */
	round_trip(3 * 1024 * 1024 + 123, chunk, 2, 3, 0, 0);
}

static void test_ordered_with_jitter(void **state)
{
	(void)state;
	/* workers finish out of order; the sink still sees 0, 1, 2, ... */
	round_trip(100 * 1000 + 17, 1000, 4, 3, 0, 1);
	/* a pool barely larger than one worker's share */
	round_trip(64 * 1000, 1000, 4, 4, 3, 1);
}

static void test_more_workers_than_chunks(void **state)
{
	(void)state;
	round_trip(2 * 4096, 4096, 6, 6, 2, 0);
	round_trip(10, 4096, 9, 1, 0, 0);
	round_trip(0, 4096, 5, 5, 1, 0);
}

static void test_no_stages(void **state)
{
	struct job j = {0};
	uint8_t *in = pattern(50000);
	struct kaos_pipeline_config cfg = {
		.chunk_size = 333,
		.source = src,
		.source_arg = &j,
		.sink = sink,
		.sink_arg = &j,
	};
	(void)state;

	j.in = in;
	j.in_len = 50000;
	j.out = malloc(50000);
	j.out_cap = 50000;
	j.fail_seq = UINT64_MAX;
	j.fail_where = -1;
	assert_int_equal(kaos_pipeline_create(&cfg, &j.p), 0);
	assert_int_equal(kaos_pipeline_run(j.p), 0);
	assert_int_equal(j.out_len, 50000);
	assert_memory_equal(j.out, in, 50000);
	assert_int_equal(atomic_load(&j.problems), 0);
	kaos_pipeline_destroy(j.p);
	free(in);
	free(j.out);
}

/* A pipeline with a "fail" stage between two workers-heavy stages; fails at chunk 5. */
static void run_failing(int where, int want_code, int want_stage, const char *want_name,
			const char *want_msg)
{
	struct job j = {0};
	size_t len = 100 * 512;
	uint8_t *in = pattern(len);
	struct kaos_stage_def stages[3] = {
		{.name = "scramble", .fn = scramble, .arg = &j, .workers = 2},
		{.name = "fail", .fn = failing, .arg = &j, .workers = 3},
		{.name = "unscramble", .fn = unscramble, .arg = &j, .workers = 2},
	};
	struct kaos_pipeline_config cfg = {
		.chunk_size = 512,
		.source_name = "read",
		.source = src,
		.source_arg = &j,
		.stages = stages,
		.nstages = 3,
		.sink_name = "write",
		.sink = sink,
		.sink_arg = &j,
	};

	j.in = in;
	j.in_len = len;
	j.out = malloc(len);
	j.out_cap = len;
	j.fail_seq = 5;
	j.fail_where = where;
	assert_int_equal(kaos_pipeline_create(&cfg, &j.p), 0);
	assert_int_equal(kaos_pipeline_run(j.p), want_code);
	const struct kaos_pipeline_error *e = kaos_pipeline_error(j.p);
	assert_int_equal(e->code, want_code);
	assert_int_equal(e->stage, want_stage);
	assert_string_equal(e->stage_name, want_name);
	assert_int_equal(e->seq, 5);
	assert_string_equal(e->msg, want_msg);
	/* it stopped: not everything came out, and what did is in order and correct */
	assert_true(j.out_len < len);
	assert_memory_equal(j.out, in, j.out_len);
	assert_int_equal(atomic_load(&j.problems), 0);
	/* a pipeline runs once */
	assert_int_equal(kaos_pipeline_start(j.p), -KAOS_EINVAL);
	kaos_pipeline_destroy(j.p);
	free(in);
	free(j.out);
}

static void test_failing_stage_reported(void **state)
{
	(void)state;
	run_failing(0, -KAOS_ECORRUPT, 1, "fail", "refusing chunk 5");
	run_failing(1, -KAOS_ESYS, -1, "read", "source broke at 5");
	run_failing(2, -KAOS_ESYS, 3, "write", "disk full");
}

static int nop_stage(void *arg, struct kaos_chunk *c)
{
	(void)arg;
	(void)c;
	return 0;
}

static int overflow_stage(void *arg, struct kaos_chunk *c)
{
	(void)arg;
	c->len = c->cap + 1; /* claims more than the buffer holds */
	return 0;
}

static void test_bad_configs(void **state)
{
	struct kaos_pipeline *p = NULL;
	struct job j = {0};
	struct kaos_stage_def st = {.name = "s", .fn = nop_stage, .workers = 1};
	struct kaos_pipeline_config ok = {
		.chunk_size = 64,
		.source = src,
		.source_arg = &j,
		.stages = &st,
		.nstages = 1,
		.sink = sink,
		.sink_arg = &j,
	};
	struct kaos_pipeline_config c;
	(void)state;

	assert_int_equal(kaos_pipeline_create(NULL, &p), -KAOS_EINVAL);
	assert_int_equal(kaos_pipeline_create(&ok, NULL), -KAOS_EINVAL);
	c = ok;
	c.chunk_size = 0;
	assert_int_equal(kaos_pipeline_create(&c, &p), -KAOS_EINVAL);
	c = ok;
	c.source = NULL;
	assert_int_equal(kaos_pipeline_create(&c, &p), -KAOS_EINVAL);
	c = ok;
	c.nstages = KAOS_PIPELINE_MAX_STAGES + 1;
	assert_int_equal(kaos_pipeline_create(&c, &p), -KAOS_EINVAL);
	struct kaos_stage_def many = st;
	many.workers = KAOS_PIPELINE_MAX_WORKERS + 1;
	c = ok;
	c.stages = &many;
	assert_int_equal(kaos_pipeline_create(&c, &p), -KAOS_EINVAL);
	assert_null(p);
	assert_int_equal(kaos_pipeline_run(NULL), -KAOS_EINVAL);
	assert_int_equal(kaos_pipeline_wait(NULL), -KAOS_EINVAL);

	/* a stage that claims more bytes than the buffer has is an error, not an overflow */
	uint8_t *in = pattern(1000);
	struct kaos_stage_def bad = {.name = "liar", .fn = overflow_stage, .workers = 2};
	c = ok;
	c.stages = &bad;
	j.in = in;
	j.in_len = 1000;
	j.out = malloc(1000);
	j.out_cap = 1000;
	j.fail_seq = UINT64_MAX;
	j.fail_where = -1;
	assert_int_equal(kaos_pipeline_create(&c, &p), 0);
	j.p = p;
	assert_int_equal(kaos_pipeline_run(p), -KAOS_EINVAL);
	assert_string_equal(kaos_pipeline_error(p)->stage_name, "liar");
	assert_non_null(strstr(kaos_pipeline_error(p)->msg, "exceeds"));
	kaos_pipeline_destroy(p);
	free(in);
	free(j.out);

	/* destroyed without running, and before wait: both clean */
	assert_int_equal(kaos_pipeline_create(&ok, &p), 0);
	kaos_pipeline_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_sizes),
		cmocka_unit_test(test_ordered_with_jitter),
		cmocka_unit_test(test_more_workers_than_chunks),
		cmocka_unit_test(test_no_stages),
		cmocka_unit_test(test_failing_stage_reported),
		cmocka_unit_test(test_bad_configs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
