/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof: the encoding of a small profile byte for byte (worked out by
 * hand from profile.proto, annotated below), the value columns of several
 * towers, gzip framing, and the output file: renamed into place whole,
 * no temporary left, errors (a full device, a missing directory) returned.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "kt_folded.h"
#include "kt_pprof.h"

/* One mapping /x [0x1000, 0x3000) with build-id "ab": leaf, then root. */
static int fake_sym(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc)
{
	(void)ctx;
	(void)pid;
	if (addr >= 0x1000 && addr < 0x2000)
		loc->func = "leaf";
	else if (addr >= 0x2000 && addr < 0x3000)
		loc->func = "root";
	else
		return -1;
	loc->file = "/x";
	loc->build_id = "ab";
	loc->map_start = 0x1000;
	loc->map_limit = 0x3000;
	return 0;
}

static const uint8_t expected[] = {
	0x0a, 0x04, 0x08, 0x09, 0x10, 0x0a, /* sample_type samples(9)/count(10) */
	0x0a, 0x04, 0x08, 0x01, 0x10, 0x0b, /* sample_type cpu(1)/nanoseconds(11) */
	0x48, 0x05,			    /* time_nanos 5 */
	0x50, 0x06,			    /* duration_nanos 6 */
	0x5a, 0x04, 0x08, 0x01, 0x10, 0x0b, /* period_type cpu/nanoseconds */
	0x60, 0x0a,			    /* period 10 */
	0x70, 0x01,			    /* default_sample_type cpu */
	0x12, 0x14,			    /* sample, 20 bytes: */
	0x0a, 0x02, 0x01, 0x02,		    /*   location_id [1, 2] (packed) */
	0x1a, 0x04, 0x08, 0x06, 0x18, 0x07, /*   label pid(6) num 7 */
	0x1a, 0x04, 0x08, 0x07, 0x10, 0x08, /*   label comm(7) str "a"(8) */
	0x12, 0x02, 0x03, 0x1e,		    /*   value [3, 30] (packed) */
	0x1a, 0x0e, 0x08, 0x01,		    /* mapping 1 */
	0x10, 0x80, 0x20,		    /*   memory_start 0x1000 */
	0x18, 0x80, 0x60,		    /*   memory_limit 0x3000 */
	0x28, 0x02, 0x30, 0x03, 0x38, 0x01, /*   filename "/x", build_id "ab", has_functions */
	0x22, 0x0b, 0x08, 0x01, 0x10, 0x01, /* location 1, mapping 1, */
	0x18, 0x90, 0x20,		    /*   address 0x1010 */
	0x22, 0x02, 0x08, 0x01,		    /*   line function 1 */
	0x22, 0x0b, 0x08, 0x02, 0x10, 0x01, /* location 2, mapping 1, */
	0x18, 0x8f, 0x40,		    /*   address 0x200f (the call, return address - 1) */
	0x22, 0x02, 0x08, 0x02,		    /*   line function 2 */
	0x2a, 0x06, 0x08, 0x01, 0x10, 0x04, 0x18, 0x04, /* function 1 leaf(4) */
	0x2a, 0x06, 0x08, 0x02, 0x10, 0x05, 0x18, 0x05, /* function 2 root(5) */
	0x32, 0x00,					/* string_table: "" */
	0x32, 0x03, 'c',  'p',	'u',  0x32, 0x02, '/',	'x',  0x32, 0x02, 'a',	'b',  0x32,
	0x04, 'l',  'e',  'a',	'f',  0x32, 0x04, 'r',	'o',  'o',  't',  0x32, 0x03, 'p',
	'i',  'd',  0x32, 0x04, 'c',  'o',  'm',  'm',	0x32, 0x01, 'a',  0x32, 0x07, 's',
	'a',  'm',  'p',  'l',	'e',  's',  0x32, 0x05, 'c',  'o',  'u',  'n',	't',  0x32,
	0x0b, 'n',  'a',  'n',	'o',  's',  'e',  'c',	'o',  'n',  'd',  's'};

static const struct kt_pprof_opts opts = {
	.cpu_period_ns = 10, .time_ns = 5, .duration_ns = 6, .raw = true};

static void test_known_bytes(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010, 0x2010, 0}; /* ip, return address, end */
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_folded_add(f, 7, "a", "cpu", stack, 3, 3), 0);
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_int_equal(len, sizeof(expected));
	assert_memory_equal(buf, expected, sizeof(expected));
	free(buf);
	kt_folded_free(f);
}

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return true;
	return false;
}

/* Three towers, four columns: each sample fills its own, 0 elsewhere. */
static void test_towers_columns(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010};
	const uint8_t cpu[] = {0x12, 0x04, 0x02, 0x14, 0x00, 0x00};    /* 2 samples, 20 ns */
	const uint8_t offcpu[] = {0x12, 0x04, 0x00, 0x00, 0x63, 0x00}; /* 99 ns */
	const uint8_t send[] = {0x12, 0x04, 0x00, 0x00, 0x00, 0x04};   /* 4 sends */
	const uint8_t off_ns[] = {0x32, 0x07, 'o', 'f', 'f', '-', 'c', 'p', 'u'};
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_folded_add(f, 7, "a", "cpu", stack, 1, 2), 0);
	assert_int_equal(kt_folded_add(f, 7, "a", "off-cpu", stack, 1, 99), 0);
	assert_int_equal(kt_folded_add_probe(f, 7, "a", "send", stack, 1, 4), 0);
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_true(contains(buf, len, cpu, sizeof(cpu)));
	assert_true(contains(buf, len, offcpu, sizeof(offcpu)));
	assert_true(contains(buf, len, send, sizeof(send)));
	assert_true(contains(buf, len, off_ns, sizeof(off_ns)));
	free(buf);
	kt_folded_free(f);
}

/*
 * Latency weights: an event has two columns, its count (the adds) and its
 * latency ns (the weight), types EVENT/count and EVENT_latency/nanoseconds.
 */
static void test_latency_columns(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010};
	const uint8_t values[] = {0x12, 0x03, 0x02, 0x96, 0x01}; /* [2, 150] */
	const uint8_t latency[] = {0x32, 0x0c, 's', 'e', 'n', 'd', '_',
				   'l',	 'a',  't', 'e', 'n', 'c', 'y'};
	struct kt_pprof_opts o = opts;
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	o.weight_latency = true;
	assert_int_equal(kt_folded_add_probe(f, 7, "a", "send", stack, 1, 100), 0);
	assert_int_equal(kt_folded_add_probe(f, 7, "a", "send", stack, 1, 50), 0);
	assert_int_equal(kt_pprof_build(f, &o, fake_sym, NULL, &buf, &len), 0);
	assert_true(contains(buf, len, values, sizeof(values)));
	assert_true(contains(buf, len, latency, sizeof(latency)));
	free(buf);
	kt_folded_free(f);
}

/*
 * --alloc's towers as Go's heap profile: alloc_objects/count and
 * alloc_space/bytes, inuse_objects and inuse_space for the leaks; the
 * objects are the blocks summed into the stack, not the one add.
 */
static void test_heap_columns(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010};
	const uint8_t alloc[] = {0x12, 0x05, 0x05, 0xd0, 0x0f, 0x00, 0x00}; /* 5 blocks, 2000 B */
	const uint8_t leak[] = {0x12, 0x05, 0x00, 0x00, 0x02, 0x90, 0x03};  /* 2 blocks, 400 B */
	const uint8_t space[] = {0x32, 0x0b, 'a', 'l', 'l', 'o', 'c', '_', 's', 'p', 'a', 'c', 'e'};
	const uint8_t inuse[] = {0x32, 0x0d, 'i', 'n', 'u', 's', 'e', '_',
				 'o',  'b',  'j', 'e', 'c', 't', 's'};
	const uint8_t bytes[] = {0x32, 0x05, 'b', 'y', 't', 'e', 's'};
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_folded_add_counted(f, 7, "a", "alloc", stack, 1, 2000, 5), 0);
	assert_int_equal(kt_folded_add_counted(f, 7, "a", "leak", stack, 1, 400, 2), 0);
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_true(contains(buf, len, alloc, sizeof(alloc)));
	assert_true(contains(buf, len, leak, sizeof(leak)));
	assert_true(contains(buf, len, space, sizeof(space)));
	assert_true(contains(buf, len, inuse, sizeof(inuse)));
	assert_true(contains(buf, len, bytes, sizeof(bytes)));
	free(buf);
	kt_folded_free(f);
}

/*
 * Labels ring and op (pprof -tagfocus=ring=jobs): one sample per ring even
 * where the stacks are the same; no ring label on a stack without a ring.
 */
static void test_ring_op_labels(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010};
	const uint8_t ring_jobs[] = {0x32, 0x04, 'j', 'o', 'b', 's'};
	const uint8_t ring_acks[] = {0x32, 0x04, 'a', 'c', 'k', 's'};
	const uint8_t key_ring[] = {0x32, 0x04, 'r', 'i', 'n', 'g'};
	const uint8_t key_op[] = {0x32, 0x02, 'o', 'p'};
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_folded_add_probe_ring(f, 7, "a", "send", "jobs", stack, 1, 1), 0);
	assert_int_equal(kt_folded_add_probe_ring(f, 7, "a", "send", "acks", stack, 1, 1), 0);
	assert_int_equal(kt_folded_add_probe_ring(f, 7, "a", "send", "jobs", stack, 1, 1), 0);
	assert_int_equal(kt_folded_size(f), 2);
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_true(contains(buf, len, ring_jobs, sizeof(ring_jobs)));
	assert_true(contains(buf, len, ring_acks, sizeof(ring_acks)));
	assert_true(contains(buf, len, key_ring, sizeof(key_ring)));
	assert_true(contains(buf, len, key_op, sizeof(key_op)));
	free(buf);
	kt_folded_free(f);
	/* a cpu sample: neither label */
	f = kt_folded_new();
	assert_int_equal(kt_folded_add(f, 7, "a", "cpu", stack, 1, 1), 0);
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_false(contains(buf, len, key_ring, sizeof(key_ring)));
	assert_false(contains(buf, len, key_op, sizeof(key_op)));
	free(buf);
	kt_folded_free(f);
}

/* A library above the program: /lib at 0x7000. */
static int lib_sym(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc)
{
	if (addr < 0x7000)
		return fake_sym(ctx, pid, addr, loc);
	loc->func = "libfn";
	loc->file = "/lib";
	loc->map_start = 0x7000;
	loc->map_limit = 0x8000;
	return 0;
}

static long find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return (long)i;
	return -1;
}

/* Mappings sorted by address: the program (mapped lowest) first, as pprof's main binary. */
static void test_mappings_by_address(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x7010, 0x2010};	/* the leaf in the library */
	const uint8_t prog[] = {0x10, 0x80, 0x20};	/* memory_start 0x1000 */
	const uint8_t lib[] = {0x10, 0x80, 0xe0, 0x01}; /* memory_start 0x7000 */
	void *buf = NULL;
	size_t len = 0;
	long at_prog, at_lib;

	(void)state;
	assert_int_equal(kt_folded_add(f, 7, "a", "cpu", stack, 2, 1), 0);
	assert_int_equal(kt_pprof_build(f, &opts, lib_sym, NULL, &buf, &len), 0);
	at_prog = find(buf, len, prog, sizeof(prog));
	at_lib = find(buf, len, lib, sizeof(lib));
	assert_true(at_prog >= 0 && at_lib >= 0);
	assert_true(at_prog < at_lib);
	free(buf);
	kt_folded_free(f);
}

/* No stacks: a valid profile, its times and the empty string only. */
static void test_empty(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint8_t only[] = {0x48, 0x05, 0x50, 0x06, 0x32, 0x00};
	void *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kt_pprof_build(f, &opts, fake_sym, NULL, &buf, &len), 0);
	assert_int_equal(len, sizeof(only));
	assert_memory_equal(buf, only, sizeof(only));
	free(buf);
	kt_folded_free(f);
}

/* Without raw: a gzip stream that inflates to the same bytes. */
static void test_gzip(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1010, 0x2010};
	struct kt_pprof_opts o = opts;
	uint8_t out[sizeof(expected) + 16];
	void *buf = NULL;
	size_t len = 0;
	z_stream z = {0};

	(void)state;
	o.raw = false;
	assert_int_equal(kt_folded_add(f, 7, "a", "cpu", stack, 2, 3), 0);
	assert_int_equal(kt_pprof_build(f, &o, fake_sym, NULL, &buf, &len), 0);
	assert_true(len > 2 && ((uint8_t *)buf)[0] == 0x1f && ((uint8_t *)buf)[1] == 0x8b);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = buf;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = sizeof(out);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, sizeof(expected));
	assert_memory_equal(out, expected, sizeof(expected));
	inflateEnd(&z);
	free(buf);
	kt_folded_free(f);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_file_replaced_whole(void **state)
{
	char dir[] = "/tmp/kt_pprof_XXXXXX", path[64], got[16] = {0};
	struct kt_pprof_file pf;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.pb.gz", dir);
	fp = fopen(path, "w");
	fputs("old", fp);
	fclose(fp);
	assert_int_equal(kt_pprof_file_open(&pf, path), 0);
	/* until committed the old file stays, whole */
	fp = fopen(path, "r");
	assert_int_equal(fread(got, 1, sizeof(got), fp), 3);
	fclose(fp);
	assert_int_equal(kt_pprof_file_commit(&pf, "new!", 4), 0);
	fp = fopen(path, "r");
	assert_int_equal(fread(got, 1, sizeof(got), fp), 4);
	fclose(fp);
	assert_memory_equal(got, "new!", 4);
	assert_int_equal(count_entries(dir), 1); /* no temporary left */
	/* aborted: nothing changes, nothing left */
	assert_int_equal(kt_pprof_file_open(&pf, path), 0);
	kt_pprof_file_abort(&pf);
	assert_int_equal(count_entries(dir), 1);
	unlink(path);
	rmdir(dir);
}

static void test_file_errors(void **state)
{
	struct kt_pprof_file pf;
	char big[8192] = {0};

	(void)state;
	assert_int_equal(kt_pprof_file_open(&pf, "/nonexistent-dir/p.pb.gz"), -ENOENT);
	/* a full device: written in place, the error comes back */
	assert_int_equal(kt_pprof_file_open(&pf, "/dev/full"), 0);
	assert_int_equal(kt_pprof_file_commit(&pf, big, sizeof(big)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_bytes),
		cmocka_unit_test(test_towers_columns),
		cmocka_unit_test(test_latency_columns),
		cmocka_unit_test(test_heap_columns),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_file_replaced_whole),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_mappings_by_address),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_ring_op_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
