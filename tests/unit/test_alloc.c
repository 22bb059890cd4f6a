/* SPDX-License-Identifier: MIT */
/*
 * kt_alloc's data half (no BPF): sites merged by (pid, stack id) with their
 * stacks copied; outstanding blocks charged as leaks to their site and
 * process; allocations per message charged from the threads seen on each
 * ring only; the [alloc] and [leak] towers; the report (order, symbolized
 * sites, lower bounds, the per-ring line) and the JSON object; --alloc-lib
 * names; allocations inside kaos_ring_* calls found by their stacks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_alloc.h"
#include "kt_folded.h"
#include "kt_json.h"

/* Table symbolizer: 0xN000..0xN0ff is function fn<N>, 0x9000..0x90ff kaos_ring_send. */
static int fake_sym(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n)
{
	(void)ctx;
	(void)pid;
	if (addr < 0x1000 || addr >= 0x10000 || (addr & 0xf00))
		return -1;
	if (addr >> 12 == 9)
		snprintf(buf, n, "kaos_ring_send");
	else
		snprintf(buf, n, "fn%llu", (unsigned long long)(addr >> 12));
	return 1;
}

static void add_site(struct kt_alloc_data *d, uint32_t pid, int32_t sid, uint64_t *stack, size_t nf,
		     uint64_t allocs, uint64_t bytes)
{
	struct kt_alloc_site_rec *s = kt_alloc_data_site(d, pid, sid, stack, nf);

	assert_non_null(s);
	s->allocs += allocs;
	s->bytes += bytes;
}

static void test_sites_and_leaks(void **state)
{
	struct kt_alloc_data d = {0};
	uint64_t st[3] = {0x1010, 0x2020, 0x3030};

	(void)state;
	add_site(&d, 7, 1, st, 3, 10, 1000);
	st[0] = 0xdead; /* the site kept its own copy */
	add_site(&d, 7, 1, st, 3, 5, 500);
	add_site(&d, 8, 1, NULL, 0, 1, 1); /* same stack id, another process: another site */
	assert_int_equal(d.nsites, 2);
	assert_int_equal(d.sites[0].allocs, 15);
	assert_int_equal(d.sites[0].bytes, 1500);
	assert_int_equal(d.sites[0].stack[0], 0x1010);
	/* two blocks outstanding from site 1 of pid 7, one from an unseen site of pid 8 */
	assert_int_equal(kt_alloc_data_add_leak(&d, 7, 1, st, 3, 100), 0);
	assert_int_equal(kt_alloc_data_add_leak(&d, 7, 1, st, 3, 28), 0);
	assert_int_equal(kt_alloc_data_add_leak(&d, 8, 4, NULL, 0, 9), 0);
	assert_int_equal(d.nsites, 3);
	assert_int_equal(d.sites[0].leaked_blocks, 2);
	assert_int_equal(d.sites[0].leaked_bytes, 128);
	assert_int_equal(d.sites[2].allocs, 0); /* known only as a leak */
	assert_int_equal(d.nprocs, 2);
	assert_int_equal(kt_alloc_data_proc(&d, 7)->leaked_bytes, 128);
	assert_int_equal(kt_alloc_data_proc(&d, 8)->leaked_blocks, 1);
	assert_null(kt_alloc_data_site(&d, 9, 2, NULL, 3)); /* frames without a stack */
	kt_alloc_data_free(&d);
	assert_int_equal(d.nsites, 0);
}

static void test_allocs_per_message(void **state)
{
	struct kt_alloc_data d = {0};

	(void)state;
	/* pid 5: tids 50 (producer of ring 1) and 51 (consumer of rings 1 and 2) */
	assert_int_equal(kt_alloc_data_ring_thread(&d, 5, 50, 1), 0);
	assert_int_equal(kt_alloc_data_ring_thread(&d, 5, 51, 1), 0);
	assert_int_equal(kt_alloc_data_ring_thread(&d, 5, 50, 1), 0); /* once */
	assert_int_equal(kt_alloc_data_ring_thread(&d, 5, 51, 2), 0);
	assert_int_equal(kt_alloc_data_ring_thread(&d, 6, 50, 1), 0); /* another process */
	assert_int_equal(d.nring_threads, 4);
	assert_int_equal(kt_alloc_data_add_thread(&d, 5, 50, 1000, 8000), 0);
	assert_int_equal(kt_alloc_data_add_thread(&d, 5, 51, 2, 64), 0);
	assert_int_equal(kt_alloc_data_add_thread(&d, 5, 52, 777, 777), 0); /* on no ring */
	assert_int_equal(kt_alloc_data_add_thread(&d, 6, 50, 99, 99), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 5, 1, "in", 1000), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 5, 2, "out", 1000), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 5, 3, NULL, 0), 0);
	assert_int_equal(d.nrings, 3);
	assert_int_equal(d.rings[0].allocs, 1002);
	assert_int_equal(d.rings[0].bytes, 8064);
	assert_int_equal(d.rings[0].nthreads, 2);
	assert_int_equal(d.rings[1].allocs, 2);
	assert_int_equal(d.rings[1].nthreads, 1);
	assert_int_equal(d.rings[2].allocs, 0);
	assert_string_equal(d.rings[2].name, "?");
	kt_alloc_data_free(&d);
}

/* Exited threads: a ring thread stays itself (its ring's figure), the rest fold into tid 0. */
static void test_exited_threads(void **state)
{
	struct kt_alloc_data d = {0};

	(void)state;
	assert_int_equal(kt_alloc_data_ring_thread(&d, 5, 50, 1), 0);
	assert_int_equal(kt_alloc_data_add_exited_thread(&d, 5, 50, 10, 100), 0);
	for (uint32_t tid = 100; tid < 2100; tid++) /* 2000 threads on no ring: one record */
		assert_int_equal(kt_alloc_data_add_exited_thread(&d, 5, tid, 2, 16), 0);
	assert_int_equal(kt_alloc_data_add_exited_thread(&d, 6, 50, 1, 1), 0); /* not pid 5's */
	assert_int_equal(kt_alloc_data_add_thread(&d, 5, 50, 5, 50), 0); /* live, at the end */
	assert_int_equal(d.nthreads, 3);
	assert_int_equal(d.threads[0].tid, 50);
	assert_int_equal(d.threads[0].allocs, 15);
	assert_int_equal(d.threads[1].tid, 0);
	assert_int_equal(d.threads[1].allocs, 4000);
	assert_int_equal(d.threads[1].bytes, 32000);
	assert_int_equal(d.threads[2].tgid, 6);
	assert_int_equal(d.threads[2].tid, 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 5, 1, "in", 15), 0);
	assert_int_equal(d.rings[0].allocs, 15); /* the folded threads are on no ring */
	kt_alloc_data_free(&d);
}

static void test_fold_towers(void **state)
{
	struct kt_alloc_data d = {0};
	struct kt_folded *f = kt_folded_new();
	uint64_t st[2] = {0x1010, 0x2020};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	add_site(&d, 7, 1, st, 2, 3, 300);
	st[0] = 0x3010;
	add_site(&d, 7, 2, st, 2, 1, 50);
	assert_int_equal(kt_alloc_data_add_leak(&d, 7, 2, st, 2, 50), 0);
	assert_int_equal(kt_alloc_data_fold(&d, f), 2);
	assert_true(kt_folded_write(f, out, KT_FOLDED_EVENT_ROOT, fake_sym, NULL) > 0);
	fclose(out);
	assert_non_null(strstr(buf, "[alloc];fn2;fn1 300\n"));
	assert_non_null(strstr(buf, "[alloc];fn2;fn3 50\n"));
	assert_non_null(strstr(buf, "[leak];fn2;fn3 50\n"));
	assert_null(strstr(buf, "[leak];fn2;fn1"));
	free(buf);
	kt_folded_free(f);
	kt_alloc_data_free(&d);
}

static struct kt_alloc_data sample_data(void)
{
	struct kt_alloc_data d = {0};
	uint64_t a[2] = {0x1010, 0x2020}, b[1] = {0x4010}, r[3] = {0x5010, 0x9020, 0x2020};
	struct kt_alloc_proc_rec *p;

	add_site(&d, 7, 1, a, 2, 100, 800);   /* many small */
	add_site(&d, 7, 2, b, 1, 2, 1 << 20); /* few big */
	add_site(&d, 7, 3, r, 3, 3, 24);      /* inside kaos_ring_send (its caller) */
	assert_int_equal(kt_alloc_data_add_leak(&d, 7, 2, b, 1, 1 << 19), 0);
	p = kt_alloc_data_proc(&d, 7);
	p->allocs = 102;
	p->bytes_allocated = 800 + (1 << 20);
	p->frees = 101;
	p->free_calls = 101;
	p->peak_bytes = 1 << 20;
	p->peak_ns = 1500000000;
	p->freed_before = 3;
	assert_int_equal(kt_alloc_data_ring_thread(&d, 7, 70, 1), 0);
	assert_int_equal(kt_alloc_data_add_thread(&d, 7, 70, 1, 8), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 7, 1, "compress.in", 20000), 0);
	return d;
}

static void test_report(void **state)
{
	struct kt_alloc_data d = sample_data();
	struct kt_alloc_stats st = {.t_start_ns = 1000000000,
				    .short_ns = 1000000,
				    .exact = true,
				    .lib = "glibc",
				    .cost_ns = 21000};
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	char *calls, *bytes, *leaks;

	(void)state;
	assert_int_equal(kt_alloc_data_print(&d, &st, out, 10, fake_sym, NULL), 0);
	st.block_lost = 1;
	assert_int_equal(kt_alloc_data_print(&d, &st, out, 10, fake_sym, NULL), 0);
	fclose(out);
	assert_non_null(strstr(buf, "(glibc allocator), exact: traced from the start\n"));
	assert_non_null(strstr(buf, "LOWER BOUNDS: events were dropped"));
	assert_non_null(strstr(buf, "pid 7: 102 allocations, 1049376 bytes allocated, 101 frees"));
	assert_non_null(strstr(buf, "peak heap: 1048576 bytes outstanding, 500.00ms after"));
	assert_non_null(strstr(buf, "1 blocks, 524288 bytes"));
	assert_non_null(strstr(buf, "freed, allocated before tracing: 3"));
	assert_non_null(
		strstr(buf, "inside kaos_ring_*/kaos_ipc_* calls (their stacks): 3 allocations"));
	assert_non_null(strstr(buf, "cost to the process: ~21 us per allocation"));
	calls = strstr(buf, "top allocators by calls");
	bytes = strstr(buf, "top allocators by bytes");
	leaks = strstr(buf, "top leaks");
	assert_true(calls && bytes && leaks && calls < bytes && bytes < leaks);
	/* by calls the small site first (leaf: the call, fn1, then its caller fn2), by bytes the
	 * big */
	assert_true(strstr(calls, "fn1 < fn2") < strstr(calls, "fn4"));
	assert_true(strstr(bytes, "fn4") < strstr(bytes, "fn1 < fn2"));
	assert_non_null(strstr(leaks, "1         524288  fn4\n"));
	assert_non_null(strstr(buf, "ring compress.in (pid 7): 0.00 allocations per message (1 "));
	free(buf);
	kt_alloc_data_free(&d);
}

static void test_json(void **state)
{
	struct kt_alloc_data d = sample_data();
	struct kt_alloc_stats st = {.t_start_ns = 1000000000, .short_ns = 1000000, .exact = true};
	struct kt_json w;
	const char *s;

	(void)state;
	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	st.call_lost = 2; /* a drop: not exact, whatever the start */
	assert_int_equal(kt_alloc_data_json(&d, &st, &w, 1, fake_sym, NULL), 0);
	kt_json_object_end(&w);
	s = kt_json_buf(&w, NULL);
	assert_non_null(
		strstr(s, "\"alloc\":{\"allocator\":\"glibc\",\"exact\":false,\"dropped\":true"));
	assert_non_null(strstr(s, "\"calls_lost\":2"));
	assert_non_null(strstr(s, "\"name\":\"compress.in\",\"messages\":20000,\"allocs\":1"));
	assert_non_null(strstr(s,
			       "\"pid\":7,\"allocs\":102,\"frees\":101,\"bytes_allocated\":1049376,"
			       "\"free_calls\":101"));
	assert_non_null(strstr(s, "\"peak_bytes\":1048576,\"peak_time_ns\":500000000"));
	assert_non_null(strstr(
		s, "\"leaked_blocks\":1,\"leaked_bytes\":524288,\"freed_before_tracing\":3"));
	assert_non_null(strstr(s, "\"allocs_in_ring_calls\":3,"));
	/* top 1 by bytes: the big site; its stack root first */
	assert_non_null(strstr(s, "\"top_sites\":[{\"allocs\":2,\"bytes\":1048576"));
	assert_null(strstr(s, "\"bytes\":800,"));
	assert_non_null(strstr(s, "\"top_leaks\":[{\"allocs\":2,"));
	kt_json_free(&w);
	kt_alloc_data_free(&d);
}

/* The member of one process's entry: its figures only; nothing for a pid not traced. */
static void test_json_proc(void **state)
{
	struct kt_alloc_data d = sample_data();
	struct kt_alloc_stats st = {.exact = true, .lib = "jemalloc"};
	struct kt_json w;
	const char *s;

	(void)state;
	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	assert_int_equal(kt_alloc_data_json_proc(&d, &st, &w, 99, 10, fake_sym, NULL), 0);
	assert_int_equal(kt_alloc_data_json_proc(&d, &st, &w, 7, 10, fake_sym, NULL), 0);
	kt_json_object_end(&w);
	s = kt_json_buf(&w, NULL);
	assert_non_null(strstr(s, "{\"alloc\":{\"allocator\":\"jemalloc\",\"exact\":true,"
				  "\"dropped\":false,\"sampled\":false,\"attached_fraction\":1,"
				  "\"pid\":7,\"allocs\":102,"));
	assert_null(strstr(s, "\"rings\"")); /* the rings are the top-level object's */
	st.stale = 1;			     /* a call never seen returning: lower bounds */
	assert_true(kt_alloc_stats_dropped(&st));
	assert_non_null(strstr(s, "\"top_leaks\":[{"));
	kt_json_free(&w);
	kt_alloc_data_free(&d);
}

static void test_lib_names(void **state)
{
	enum kt_alloc_lib lib;

	(void)state;
	assert_int_equal(kt_alloc_lib_parse("jemalloc", &lib), 0);
	assert_int_equal(lib, KT_ALLOC_LIB_JEMALLOC);
	assert_int_equal(kt_alloc_lib_parse("tcmalloc", &lib), 0);
	assert_string_equal(kt_alloc_lib_name(lib), "tcmalloc");
	assert_int_equal(kt_alloc_lib_parse("glibc", &lib), 0);
	assert_int_equal(kt_alloc_lib_parse("mimalloc", &lib), -EINVAL);
	assert_int_equal(kt_alloc_lib_parse(NULL, &lib), -EINVAL);
}

/* --budget: the attached share fits the budget, never above 1 or below the floor. */
static void test_duty(void **state)
{
	(void)state;
	/* 1000 allocs/s x 10 us = 1 % of the time: exactly at a 1 % budget */
	assert_true(kt_alloc_duty(1000, 1000000000ull, 10000.0, 1.0) == 1.0);
	/* 100000 allocs/s x 10 us = 100 %: attached 1 % keeps it to 1 % */
	assert_true(fabs(kt_alloc_duty(100000, 1000000000ull, 10000.0, 1.0) - 0.01) < 1e-9);
	/* 20000 allocs/s x 10 us = 20 %: 5 % of the time */
	assert_true(fabs(kt_alloc_duty(20000, 1000000000ull, 10000.0, 1.0) - 0.05) < 1e-9);
	/* far over: the floor */
	assert_true(kt_alloc_duty(1000000, 1000000000ull, 10000.0, 1.0) == KT_ALLOC_DUTY_FLOOR);
	/* unknown cost, no budget or no window: always attached */
	assert_true(kt_alloc_duty(100000, 1000000000ull, 0.0, 1.0) == 1.0);
	assert_true(kt_alloc_duty(100000, 1000000000ull, 10000.0, 0.0) == 1.0);
	assert_true(kt_alloc_duty(100000, 0, 10000.0, 1.0) == 1.0);
}

/* A retired process leaves every table; the others' records stay whole. */
static void test_forget_pid(void **state)
{
	struct kt_alloc_data d = {0};
	uint64_t st[2] = {0x1010, 0x2020};

	(void)state;
	add_site(&d, 7, 1, st, 2, 3, 300);
	add_site(&d, 8, 1, st, 2, 4, 400);
	add_site(&d, 7, 2, st, 1, 5, 500);
	assert_int_equal(kt_alloc_data_add_leak(&d, 7, 1, st, 2, 64), 0);
	assert_int_equal(kt_alloc_data_add_leak(&d, 8, 1, st, 2, 32), 0);
	assert_int_equal(kt_alloc_data_add_thread(&d, 7, 70, 3, 300), 0);
	assert_int_equal(kt_alloc_data_add_thread(&d, 8, 80, 4, 400), 0);
	assert_int_equal(kt_alloc_data_ring_thread(&d, 7, 70, 1), 0);
	assert_int_equal(kt_alloc_data_ring_thread(&d, 8, 80, 1), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 7, 1, "r7", 10), 0);
	assert_int_equal(kt_alloc_data_add_ring(&d, 8, 1, "r8", 10), 0);
	kt_alloc_data_forget_pid(&d, 7);
	assert_int_equal(d.nsites, 1);
	assert_int_equal(d.sites[0].tgid, 8);
	assert_int_equal(d.sites[0].allocs, 4);
	assert_int_equal(d.sites[0].leaked_bytes, 32);
	assert_int_equal(d.sites[0].nframes, 2);
	assert_int_equal(d.sites[0].stack[1], 0x2020);
	assert_int_equal(d.nprocs, 1);
	assert_int_equal(d.procs[0].tgid, 8);
	assert_int_equal(d.nthreads, 1);
	assert_int_equal(d.threads[0].tid, 80);
	assert_int_equal(d.nring_threads, 1);
	assert_int_equal(d.ring_threads[0].pid, 8);
	assert_int_equal(d.nrings, 1);
	assert_string_equal(d.rings[0].name, "r8");
	kt_alloc_data_forget_pid(&d, 8);
	assert_int_equal(d.nsites + d.nprocs + d.nthreads + d.nring_threads + d.nrings, 0);
	kt_alloc_data_free(&d);
}

/* Processes that found no slot make the figures lower bounds; moved probes are said. */
static void test_untracked_said(void **state)
{
	struct kt_alloc_data d = {0};
	struct kt_alloc_stats st = {
		.lib = "glibc", .exact = true, .procs_untracked = 3, .moved = 2};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_true(kt_alloc_stats_dropped(&st));
	assert_int_equal(kt_alloc_data_print(&d, &st, f, 10, NULL, NULL), 0);
	fclose(f);
	assert_non_null(strstr(buf, "3 processes not traced: no room in the map"));
	assert_non_null(strstr(buf, "LOWER BOUNDS"));
	assert_non_null(
		strstr(buf, "2 processes exec'd into another allocator: probed from then on"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sites_and_leaks),
		cmocka_unit_test(test_allocs_per_message),
		cmocka_unit_test(test_exited_threads),
		cmocka_unit_test(test_fold_towers),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_lib_names),
		cmocka_unit_test(test_json_proc),
		cmocka_unit_test(test_duty),
		cmocka_unit_test(test_forget_pid),
		cmocka_unit_test(test_untracked_said),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
