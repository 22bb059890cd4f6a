/* SPDX-License-Identifier: MIT */
/*
 * Pipeline under ThreadSanitizer: many workers on MPMC rings, tiny pools
 * (constant backpressure), repeated runs, and runs stopped by an error
 * while every thread is busy. Worker threads only record; the test thread
 * asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kaos/crc32c.h"
#include "kaos/pipeline.h"
#include "kaos/ring.h"

struct job {
	const uint8_t *in;
	size_t len, pos;
	uint8_t *out;
	size_t out_len;
	uint64_t next;
	uint64_t fail_at;
	_Atomic int problems;
};

static int src(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	size_t n = j->len - j->pos;

	if (!n)
		return 0;
	if (n > c->cap)
		n = c->cap;
	memcpy(c->data, j->in + j->pos, n);
	j->pos += n;
	c->len = n;
	return 1;
}

static int crc_stage(void *arg, struct kaos_chunk *c)
{
	(void)arg;
	c->meta[0] = kaos_crc32c(0, c->data, c->len);
	return 0;
}

static int invert(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (c->seq == j->fail_at)
		return -KAOS_ECORRUPT;
	for (size_t i = 0; i < c->len; i++)
		c->scratch[i] = (uint8_t)~c->data[i];
	kaos_chunk_swap(c);
	return 0;
}

static int check(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	for (size_t i = 0; i < c->len; i++)
		c->data[i] = (uint8_t)~c->data[i];
	if (kaos_crc32c(0, c->data, c->len) != c->meta[0])
		atomic_fetch_add(&j->problems, 1);
	return 0;
}

static int sink(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (c->seq != j->next++)
		atomic_fetch_add(&j->problems, 1);
	memcpy(j->out + j->out_len, c->data, c->len);
	j->out_len += c->len;
	return 0;
}

static void run(size_t len, size_t chunk, uint32_t pool, uint32_t w, uint64_t fail_at)
{
	uint8_t *in = malloc(len), *out = malloc(len);
	struct job j = {.in = in, .len = len, .out = out, .fail_at = fail_at};
	struct kaos_stage_def st[3] = {
		{.name = "crc", .fn = crc_stage, .arg = &j, .workers = w},
		{.name = "invert", .fn = invert, .arg = &j, .workers = w},
		{.name = "check", .fn = check, .arg = &j, .workers = w},
	};
	struct kaos_pipeline_config cfg = {
		.chunk_size = chunk,
		.chunks = pool,
		.source = src,
		.source_arg = &j,
		.stages = st,
		.nstages = 3,
		.sink = sink,
		.sink_arg = &j,
	};
	struct kaos_pipeline *p;

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < len; i++)
		in[i] = (uint8_t)(i * 31 + (i >> 9));
	assert_int_equal(kaos_pipeline_create(&cfg, &p), 0);
	int rc = kaos_pipeline_run(p);
	if (fail_at == UINT64_MAX) {
		assert_int_equal(rc, 0);
		assert_int_equal(j.out_len, len);
		assert_memory_equal(out, in, len);
	} else {
		assert_int_equal(rc, -KAOS_ECORRUPT);
		assert_int_equal(kaos_pipeline_error(p)->seq, fail_at);
		assert_true(j.out_len <= fail_at * chunk);
	}
	assert_int_equal(atomic_load(&j.problems), 0);
	kaos_pipeline_destroy(p);
	free(in);
	free(out);
}

static void test_many_workers_small_pool(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++)
		run(256 * 1024 + (size_t)i * 13, 1024, 3 + (uint32_t)i % 5, 4, UINT64_MAX);
}

static void test_stopped_by_error(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++)
		run(256 * 1024, 1024, 8, 3, 17 + (uint64_t)i * 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_workers_small_pool),
		cmocka_unit_test(test_stopped_by_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
