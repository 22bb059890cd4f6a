/* SPDX-License-Identifier: MIT */
/*
 * kt_folded: aggregation, root-first order, the line grammar, merging,
 * weights, determinism, prefixes, zero/empty stacks, with a table
 * symbolizer; and a real frame-pointer stack of this process (a -> b -> c)
 * symbolized by kt_sym.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_folded.h"
#include "kt_sym.h"

/* ------------------------------------------------------------ table symbolizer */

struct fake_fn {
	uint64_t start, end;
	const char *name;
};

static const struct fake_fn fake_fns[] = {
	{0x1000, 0x1100, "leaf"},
	{0x2000, 0x2100, "mid"},
	{0x3000, 0x3100, "root"},
	{0x4000, 0x4100, "operator new(unsigned long)"},
	{0x5000, 0x5100, "semi;colon"},
	{0x6000, 0x6100, "new\nline\ttab"},
	{0x7000, 0x7100, ""},
	{0x8000, 0x8100, "ctl\001char"},
	/* a probe path: the API function, its internals, a second API layer */
	{0x9000, 0x9100, "kaos_ring_send"},
	{0xa000, 0xa100, "fire_send"},
	{0xb000, 0xb100, "send1_probed_spsc.cold"},
	{0xc000, 0xc100, "send_one"},
	{0xd000, 0xd100, "kaos_ipc_send"},
	{0xe000, 0xe100, "kaos_ring_claim.cold"},
	{0xf000, 0xf100, "claim_wait"},
};

struct fake_ctx {
	uint64_t seen[64];
	uint32_t seen_pid[64];
	size_t nseen;
};

static int fake_sym(void *arg, uint32_t pid, uint64_t addr, char *buf, size_t n)
{
	struct fake_ctx *c = arg;

	if (c && c->nseen < 64) {
		c->seen_pid[c->nseen] = pid;
		c->seen[c->nseen++] = addr;
	}
	for (size_t i = 0; i < sizeof(fake_fns) / sizeof(fake_fns[0]); i++) {
		if (addr >= fake_fns[i].start && addr < fake_fns[i].end) {
			snprintf(buf, n, "%s", fake_fns[i].name);
			return 1;
		}
	}
	return -1;
}

/* Runs kt_folded_write into a string (caller frees). */
static char *write_folded(struct kt_folded *f, unsigned int flags, struct fake_ctx *ctx, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	*ret = kt_folded_write(f, out, flags, fake_sym, ctx);
	fclose(out);
	return buf;
}

/* Every line matches ^[^ ]+ [0-9]+$ and has no empty frame; returns the line count. */
static int check_grammar(const char *text)
{
	regex_t re;
	const char *p = text;
	int lines = 0;

	assert_int_equal(regcomp(&re, "^[^ ]+ [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	while (*p) {
		const char *nl = strchr(p, '\n');
		char line[4096];
		size_t len;

		assert_non_null(nl);
		len = (size_t)(nl - p);
		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
		assert_null(strstr(line, ";;"));
		assert_true(line[0] != ';');
		assert_null(strstr(line, "; "));
		lines++;
		p = nl + 1;
	}
	regfree(&re);
	return lines;
}

static void test_aggregate_root_first(void **state)
{
	struct kt_folded *f = kt_folded_new();
	/* bpf order: leaf first; the later entries are return addresses. */
	const uint64_t stack[] = {0x1000, 0x2010, 0x3010};
	struct fake_ctx ctx = {.nseen = 0};
	char *out;
	int ret;

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kt_folded_add(f, 42, "app", "send", stack, 3, 1), 0);
	assert_int_equal(kt_folded_size(f), 1);
	out = write_folded(f, 0, &ctx, &ret);
	assert_int_equal(ret, 1);
	assert_string_equal(out, "root;mid;leaf 3\n");
	assert_int_equal(check_grammar(out), 1);
	/* The leaf is looked up as is, return addresses one byte back (in the call). */
	assert_int_equal(ctx.nseen, 3);
	assert_int_equal(ctx.seen[0], 0x3010 - 1);
	assert_int_equal(ctx.seen[1], 0x2010 - 1);
	assert_int_equal(ctx.seen[2], 0x1000);
	assert_int_equal(ctx.seen_pid[0], 42);
	free(out);
	kt_folded_free(f);
}

/* Raw stacks that differ (offsets, pids) but symbolize alike merge; weights add. */
static void test_merge_and_weights(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t s1[] = {0x1000, 0x2010, 0x3010};
	const uint64_t s2[] = {0x1004, 0x2020, 0x3020};
	const uint64_t s3[] = {0x1000, 0x3010}; /* leaf called straight from root */
	char *out;
	int ret;

	(void)state;
	assert_int_equal(kt_folded_add(f, 1, "app", "recv", s1, 3, 1000), 0);
	assert_int_equal(kt_folded_add(f, 1, "app", "recv", s2, 3, 234), 0);
	assert_int_equal(kt_folded_add(f, 2, "app", "recv", s1, 3, 5), 0);
	assert_int_equal(kt_folded_add(f, 2, "app", "recv", s3, 2, 7), 0);
	assert_int_equal(kt_folded_size(f), 4);
	out = write_folded(f, 0, NULL, &ret);
	assert_int_equal(ret, 2);
	assert_string_equal(out, "root;leaf 7\n"
				 "root;mid;leaf 1239\n");
	free(out);

	/* Per process: comm-pid roots keep pids apart. */
	out = write_folded(f, KT_FOLDED_COMM | KT_FOLDED_PID, NULL, &ret);
	assert_int_equal(ret, 3);
	assert_string_equal(out, "app-1;root;mid;leaf 1234\n"
				 "app-2;root;leaf 7\n"
				 "app-2;root;mid;leaf 5\n");
	assert_int_equal(check_grammar(out), 3);
	free(out);

	/* u64 weights saturate instead of wrapping. */
	kt_folded_clear(f);
	assert_int_equal(kt_folded_size(f), 0);
	assert_int_equal(kt_folded_add(f, 1, NULL, NULL, s1, 3, UINT64_MAX - 1), 0);
	assert_int_equal(kt_folded_add(f, 1, NULL, NULL, s1, 3, 5), 0);
	assert_int_equal(kt_folded_add(f, 1, NULL, NULL, s2, 3, UINT64_MAX), 0);
	out = write_folded(f, 0, NULL, &ret);
	assert_string_equal(out, "root;mid;leaf 18446744073709551615\n");
	free(out);
	kt_folded_free(f);
}

/* Insertion order does not change the output; lines come sorted. */
static void test_deterministic(void **state)
{
	const uint64_t stacks[][3] = {
		{0x1000, 0x2010, 0x3010}, {0x2000, 0x3010, 0}, {0x3000, 0, 0},
		{0x4000, 0x3010, 0},	  {0x1000, 0x5010, 0}, {0x9999, 0x3010, 0},
	};
	const size_t ns = sizeof(stacks) / sizeof(stacks[0]);
	struct kt_folded *a = kt_folded_new(), *b = kt_folded_new();
	char *oa, *ob;
	int ra, rb;

	(void)state;
	for (size_t i = 0; i < ns; i++) {
		assert_int_equal(kt_folded_add(a, 7, "p", "send", stacks[i], 3, i + 1), 0);
		assert_int_equal(kt_folded_add(b, 7, "p", "send", stacks[ns - 1 - i], 3, ns - i),
				 0);
	}
	oa = write_folded(a, KT_FOLDED_EVENT_ROOT, NULL, &ra);
	ob = write_folded(b, KT_FOLDED_EVENT_ROOT, NULL, &rb);
	assert_int_equal(ra, (int)ns);
	assert_int_equal(rb, ra);
	assert_string_equal(oa, ob);
	assert_int_equal(check_grammar(oa), (int)ns);
	assert_string_equal(oa, "[send];root 3\n"
				"[send];root;[unknown] 6\n"
				"[send];root;mid 2\n"
				"[send];root;mid;leaf 1\n"
				"[send];root;operator_new(unsigned_long) 4\n"
				"[send];semi:colon;leaf 5\n");
	free(oa);
	free(ob);
	kt_folded_free(a);
	kt_folded_free(b);
}

/* Names that would break the format are sanitized; prefixes go where documented. */
static void test_sanitize_and_prefixes(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t s[] = {0x8000, 0x7010, 0x6010, 0x5010, 0x4010};
	char *out;
	int ret;

	(void)state;
	assert_int_equal(kt_folded_add(f, 9, "my prog;x", "backpressure", s, 5, 2), 0);
	out = write_folded(f, KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, NULL, &ret);
	assert_int_equal(ret, 1);
	assert_string_equal(out, "[backpressure];my_prog:x;operator_new(unsigned_long);semi:colon;"
				 "new_line_tab;[unknown];ctl?char 2\n");
	assert_int_equal(check_grammar(out), 1);
	free(out);
	out = write_folded(f, KT_FOLDED_EVENT_LEAF, NULL, &ret);
	assert_string_equal(out, "operator_new(unsigned_long);semi:colon;new_line_tab;[unknown];"
				 "ctl?char;[backpressure] 2\n");
	free(out);
	out = write_folded(f, 0x100, NULL, &ret);
	assert_int_equal(ret, -EINVAL);
	free(out);
	kt_folded_free(f);
}

/* bpf_get_stack zero-fills: a 0 ends the stack; no frames at all is "[no-stack]". */
static void test_zero_and_empty_stacks(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t s1[] = {0x1000, 0x2010, 0, 0x3010, 0};
	const uint64_t s2[] = {0x1000, 0x2010};
	const uint64_t s3[] = {0x3000};
	const uint64_t zeros[4] = {0};
	uint64_t big[KT_FOLDED_MAX_FRAMES + 1] = {0};
	char *out;
	int ret;

	(void)state;
	assert_int_equal(kt_folded_add(f, 1, "app", "send", s1, 5, 1), 0);
	assert_int_equal(kt_folded_add(f, 1, "app", "send", s2, 2, 1), 0);
	assert_int_equal(kt_folded_size(f), 1); /* same stack once truncated */
	assert_int_equal(kt_folded_add(f, 1, "app", "send", zeros, 4, 1), 0);
	assert_int_equal(kt_folded_add(f, 1, "app", "send", NULL, 0, 2), 0);
	assert_int_equal(kt_folded_size(f), 2);
	/* A zero weight alone produces no line. */
	assert_int_equal(kt_folded_add(f, 1, "app", "recv", s3, 1, 0), 0);
	assert_int_equal(kt_folded_size(f), 3);
	out = write_folded(f, KT_FOLDED_COMM, NULL, &ret);
	assert_int_equal(ret, 2);
	assert_string_equal(out, "app;[no-stack] 3\n"
				 "app;mid;leaf 2\n");
	free(out);

	assert_int_equal(kt_folded_add(f, 1, "app", "send", NULL, 3, 1), -EINVAL);
	assert_int_equal(kt_folded_add(f, 1, "app", "send", big, KT_FOLDED_MAX_FRAMES + 1, 1),
			 -EINVAL);
	assert_int_equal(kt_folded_add(NULL, 1, "app", "send", s2, 2, 1), -EINVAL);
	assert_int_equal(kt_folded_write(f, NULL, 0, fake_sym, NULL), -EINVAL);
	assert_int_equal(kt_folded_write(f, stdout, 0, NULL, NULL), -EINVAL);
	kt_folded_free(f);
	kt_folded_free(NULL);
}

/* Many distinct stacks: the table grows and keeps every weight. */
/*
 * KT_FOLDED_WEIGHT_ADDS: a probe stack weighs its number of adds (events,
 * while the weights added are latencies, as --pprof has them); other
 * stacks (CPU samples, added in batches) keep their weight.
 */
static void test_weight_adds(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t stack[] = {0x1000, 0x3010};
	struct fake_ctx ctx = {.nseen = 0};
	char *text;
	int ret;

	(void)state;
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "send", stack, 2, 100), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "send", stack, 2, 50), 0);
	assert_int_equal(kt_folded_add(f, 1, "app", "cpu", stack, 2, 7), 0);
	text = write_folded(f, KT_FOLDED_EVENT_ROOT | KT_FOLDED_WEIGHT_ADDS, &ctx, &ret);
	assert_int_equal(ret, 2);
	assert_string_equal(text, "[cpu];root;leaf 7\n[send];root;leaf 2\n");
	free(text);
	text = write_folded(f, KT_FOLDED_EVENT_ROOT, &ctx, &ret);
	assert_string_equal(text, "[cpu];root;leaf 7\n[send];root;leaf 150\n");
	free(text);
	kt_folded_free(f);
}

static void test_many_stacks(void **state)
{
	struct kt_folded *f = kt_folded_new();
	uint64_t total = 0;
	char *out, *p;
	int ret;

	(void)state;
	for (uint64_t i = 0; i < 3000; i++) {
		uint64_t s[2] = {0x1000 + (i % 0x100), 0x10000 + i};

		assert_int_equal(kt_folded_add(f, 1, "p", "e", s, 2, i + 1), 0);
		assert_int_equal(kt_folded_add(f, 1, "p", "e", s, 2, 1), 0);
	}
	assert_int_equal(kt_folded_size(f), 3000);
	out = write_folded(f, 0, NULL, &ret);
	/* Every caller is unknown to the table: all fold into one line. */
	assert_int_equal(ret, 1);
	p = strrchr(out, ' ');
	assert_non_null(p);
	total = strtoull(p + 1, NULL, 10);
	assert_int_equal(total, 3000ull * 3001 / 2 + 3000);
	assert_true(!strncmp(out, "[unknown];leaf ", 15));
	free(out);
	kt_folded_free(f);
}

/* ------------------------------------------------------------ probe stacks */

static uint64_t api_leaf_seen;

/* The table's "public API": its kaos_* names; internals: the probe path's 0x9000-0xffff. */
static enum kt_folded_frame fake_api(void *ctx, uint32_t pid, uint64_t leaf, uint64_t addr)
{
	char name[64] = "";

	(void)ctx;
	api_leaf_seen = leaf;
	if (fake_sym(NULL, pid, addr, name, sizeof(name)) < 0)
		return KT_FRAME_OTHER;
	if (!strncmp(name, "kaos_", 5))
		return KT_FRAME_API;
	return addr >= 0x9000 && addr < 0x10000 ? KT_FRAME_INTERNAL : KT_FRAME_OTHER;
}

/*
 * Probe stacks only: the probe path below the API frame is left out; an
 * outer API frame reached through internal frames is the call (an API
 * function built on another); a frame of the caller between them is not.
 */
static void test_probe_stack_trimmed_at_api(void **state)
{
	struct kt_folded *f = kt_folded_new();
	const uint64_t path[] = {0xa010, 0xb010, 0x9010, 0x2010, 0x3010};
	const uint64_t no_api[] = {0xa010, 0xb010, 0x2010, 0x3010};
	const uint64_t layered[] = {0xa010, 0xb010, 0x9010, 0xc010, 0xd010, 0x3010};
	const uint64_t fragment[] = {0xf010, 0xe010, 0x2010, 0x3010};
	const uint64_t apart[] = {0xa010, 0x9010, 0x2010, 0xd010, 0x3010};
	/* an unknown frame on the probe path: the API frame above it is no proof */
	const uint64_t gap[] = {0xa010, 0x123, 0x9010, 0x3010};
	char *out;
	int ret;

	(void)state;
	assert_non_null(f);
	kt_folded_set_frame_fn(f, fake_api);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "send", path, 5, 2), 0);
	assert_int_equal(kt_folded_add(f, 1, "app", "cpu", path, 5, 3), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "recv", no_api, 4, 5), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "ipc", layered, 6, 7), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "bp", fragment, 4, 11), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "two", apart, 5, 13), 0);
	assert_int_equal(kt_folded_add_probe(f, 1, "app", "gap", gap, 4, 17), 0);
	out = write_folded(f, KT_FOLDED_EVENT_ROOT, NULL, &ret);
	assert_int_equal(ret, 7);
	/* the API frame is named for the user's call, not its .cold fragment */
	assert_string_equal(out,
			    "[bp];root;mid;kaos_ring_claim 11\n"
			    "[cpu];root;mid;kaos_ring_send;send1_probed_spsc.cold;fire_send 3\n"
			    "[gap];root;kaos_ring_send;[unknown];fire_send 17\n"
			    "[ipc];root;kaos_ipc_send 7\n"
			    "[recv];root;mid;send1_probed_spsc.cold;fire_send 5\n"
			    "[send];root;mid;kaos_ring_send 2\n"
			    "[two];root;kaos_ipc_send;mid;kaos_ring_send 13\n");
	assert_int_equal(api_leaf_seen, 0xa010);
	free(out);
	/* Without an API test nothing is trimmed. */
	kt_folded_set_frame_fn(f, NULL);
	out = write_folded(f, KT_FOLDED_EVENT_ROOT, NULL, &ret);
	assert_non_null(
		strstr(out, "[send];root;mid;kaos_ring_send;send1_probed_spsc.cold;fire_send 2\n"));
	free(out);
	kt_folded_free(f);
}

/* ------------------------------------------------------------ a real stack */

/*
 * Walks the frame-pointer chain like the kernel's user stack walker behind
 * bpf_get_stack(BPF_F_USER_STACK): leaf first, return addresses, only
 * within this thread's stack.
 */
__attribute__((noinline)) static size_t capture_fp_stack(uint64_t *out, size_t max)
{
	pthread_attr_t attr;
	void *stack_addr;
	size_t stack_size, n = 0;
	uintptr_t lo, hi;
	uintptr_t *fp = __builtin_frame_address(0);

	assert_int_equal(pthread_getattr_np(pthread_self(), &attr), 0);
	assert_int_equal(pthread_attr_getstack(&attr, &stack_addr, &stack_size), 0);
	pthread_attr_destroy(&attr);
	lo = (uintptr_t)stack_addr;
	hi = lo + stack_size;
	while (n < max && (uintptr_t)fp >= lo && (uintptr_t)fp + 16 <= hi && !((uintptr_t)fp & 7)) {
		uintptr_t *next = (uintptr_t *)fp[0];

		out[n++] = fp[1];
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

/* The chain; the empty asm after each call prevents tail calls (lost frames). */
__attribute__((noinline)) size_t kt_fold_c(uint64_t *out, size_t max)
{
	size_t n = capture_fp_stack(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline)) size_t kt_fold_b(uint64_t *out, size_t max)
{
	size_t n = kt_fold_c(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline)) size_t kt_fold_a(uint64_t *out, size_t max)
{
	size_t n = kt_fold_b(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

/*
 * A probe path of this program: an exported kaos_* function (as libkaos'
 * API is in a program linked with libkaos.a: globals of .symtab) calling a
 * static internal one, where the "probe" captures the stack. noipa: else
 * identical code folding merges them with the kt_fold_* chain below.
 */
__attribute__((noinline, noipa)) static size_t kt_fold_probe_internal(uint64_t *out, size_t max)
{
	size_t n = capture_fp_stack(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline, noipa)) size_t kaos_fold_test_api(uint64_t *out, size_t max)
{
	size_t n = kt_fold_probe_internal(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

/* An API function built on another one through an internal step. */
__attribute__((noinline, noipa)) static size_t kt_fold_outer_step(uint64_t *out, size_t max)
{
	size_t n = kaos_fold_test_api(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

__attribute__((noinline, noipa)) size_t kaos_fold_test_outer(uint64_t *out, size_t max)
{
	size_t n = kt_fold_outer_step(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

/* A compiler fragment of an API function, as GCC names them (local). */
__attribute__((noinline, noipa)) static size_t frag(uint64_t *out,
						    size_t max) __asm__("kaos_fold_test_frag.cold");
static size_t frag(uint64_t *out, size_t max)
{
	size_t n = kt_fold_probe_internal(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

/* Not exported: its kaos_ name alone does not make it API. */
__attribute__((noinline, noipa)) static size_t kaos_fold_test_local(uint64_t *out, size_t max)
{
	size_t n = kt_fold_probe_internal(out, max);

	__asm__ volatile("" ::: "memory");
	return n;
}

static char *fold_real(struct kt_folded *f, struct kt_sym *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	assert_int_equal(kt_folded_write(f, out, KT_FOLDED_EVENT_ROOT, kt_folded_sym_kt, s), 1);
	fclose(out);
	return buf;
}

static void test_real_probe_stack_trimmed(void **state)
{
	struct kt_folded *f = kt_folded_new();
	struct kt_sym *s = kt_sym_new();
	uint64_t stack[32];
	size_t n;
	char *buf;

	(void)state;
	assert_non_null(f);
	assert_non_null(s);
	kt_folded_set_frame_fn(f, kt_folded_frame_kt);
	n = kaos_fold_test_api(stack, 32);
	assert_true(n >= 3);
	assert_int_equal(kt_folded_add_probe(f, (uint32_t)getpid(), "t", "send", stack, n, 1), 0);
	buf = fold_real(f, s);
	assert_non_null(strstr(buf, ";test_real_probe_stack_trimmed;kaos_fold_test_api 1\n"));
	assert_null(strstr(buf, "kt_fold_probe_internal"));
	free(buf);
	kt_folded_clear(f);
	n = kaos_fold_test_outer(stack, 32);
	assert_int_equal(kt_folded_add_probe(f, (uint32_t)getpid(), "t", "send", stack, n, 1), 0);
	buf = fold_real(f, s);
	assert_non_null(strstr(buf, ";test_real_probe_stack_trimmed;kaos_fold_test_outer 1\n"));
	free(buf);
	kt_folded_clear(f);
	n = frag(stack, 32);
	assert_int_equal(kt_folded_add_probe(f, (uint32_t)getpid(), "t", "send", stack, n, 1), 0);
	buf = fold_real(f, s);
	assert_non_null(strstr(buf, ";test_real_probe_stack_trimmed;kaos_fold_test_frag 1\n"));
	free(buf);
	kt_folded_clear(f);
	/* A local kaos_* function is no API frame: the stack stays whole. */
	n = kaos_fold_test_local(stack, 32);
	assert_int_equal(kt_folded_add_probe(f, (uint32_t)getpid(), "t", "send", stack, n, 1), 0);
	buf = fold_real(f, s);
	assert_non_null(strstr(buf, ";kaos_fold_test_local;kt_fold_probe_internal 1\n"));
	free(buf);
	/* An API frame of another file than the probe site's is not it either. */
	assert_int_equal(kt_folded_frame_kt(s, (uint32_t)getpid(), stack[0],
					    (uint64_t)(uintptr_t)kaos_fold_test_api + 1),
			 KT_FRAME_API);
	assert_int_equal(kt_folded_frame_kt(s, (uint32_t)getpid(), stack[0],
					    (uint64_t)(uintptr_t)kt_fold_outer_step + 1),
			 KT_FRAME_INTERNAL);
	assert_int_equal(kt_folded_frame_kt(s, (uint32_t)getpid(), stack[0],
					    (uint64_t)(uintptr_t)kt_fold_a + 1),
			 KT_FRAME_OTHER); /* exported, not kaos_* */
	assert_int_equal(kt_folded_frame_kt(s, (uint32_t)getpid(), (uint64_t)(uintptr_t)getpid + 1,
					    (uint64_t)(uintptr_t)kaos_fold_test_api + 1),
			 KT_FRAME_OTHER);
	kt_sym_free(s);
	kt_folded_free(f);
}

static void test_real_call_chain(void **state)
{
	struct kt_folded *f = kt_folded_new();
	struct kt_sym *s = kt_sym_new();
	uint64_t stack[32];
	char *buf = NULL, *line, *end;
	size_t len = 0, n = 0;
	FILE *out;
	int ret;

	(void)state;
	assert_non_null(f);
	assert_non_null(s);
	/* One call site, three times: identical raw stacks. */
	for (int i = 0; i < 3; i++) {
		n = kt_fold_a(stack, 32);
		assert_true(n >= 4);
		assert_int_equal(
			kt_folded_add(f, (uint32_t)getpid(), "test_folded", "send", stack, n, 1),
			0);
	}
	assert_int_equal(kt_folded_size(f), 1);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	ret = kt_folded_write(f, out, KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM, kt_folded_sym_kt, s);
	fclose(out);
	assert_int_equal(ret, 1);
	assert_int_equal(check_grammar(buf), 1);
	/* Root first, ending in the known chain, called from this test function. */
	assert_true(!strncmp(buf, "[send];test_folded;", 19));
	end = strstr(buf, ";test_real_call_chain;kt_fold_a;kt_fold_b;kt_fold_c 3\n");
	assert_non_null(end);
	assert_string_equal(end, ";test_real_call_chain;kt_fold_a;kt_fold_b;kt_fold_c 3\n");
	/*
	 * Above the test function sits cmocka, built without frame pointers:
	 * the walk (like the kernel's) stops in or after it; that frame
	 * resolves to cmocka's library, by symbol or as module+0xoff.
	 */
	line = strstr(buf, "libcmocka.so");
	assert_non_null(line);
	assert_true(line < end);
	free(buf);
	kt_sym_free(s);
	kt_folded_free(f);
}

/* kt_folded_foreach callback: sums weights and adds, counts stacks with a ring. */
struct sums {
	uint64_t weight, adds;
	int stacks, with_ring;
};

static int sum_stack(void *ctx, const struct kt_folded_stack *st)
{
	struct sums *s = ctx;

	s->weight += st->weight;
	s->adds += st->adds;
	s->stacks++;
	s->with_ring += st->ring[0] != 0;
	return 0;
}

/*
 * kt_folded_merge: weights and adds summed into dst, rings kept, only the
 * event asked for, and no new stack past max (counted as left out).
 */
static void test_folded_merge(void **state)
{
	struct kt_folded *src = kt_folded_new(), *dst = kt_folded_new();
	const uint64_t a[] = {0x1000}, b[] = {0x2000}, c[] = {0x3000};
	struct sums s = {0};

	(void)state;
	assert_int_equal(kt_folded_add(src, 1, "x", "cpu", a, 1, 5), 0);
	assert_int_equal(kt_folded_add(src, 1, "x", "cpu", a, 1, 5), 0);
	assert_int_equal(kt_folded_add(src, 1, "x", "cpu", b, 1, 7), 0);
	assert_int_equal(kt_folded_add(src, 1, "x", "off-cpu", c, 1, 100), 0);
	assert_int_equal(kt_folded_add_probe_ring(src, 1, "x", "send", "r", a, 1, 3), 0);
	assert_int_equal(kt_folded_add(dst, 1, "x", "cpu", a, 1, 1), 0);
	/* cpu only, room for 1 stack: a (held) is summed, b is left out */
	assert_int_equal(kt_folded_merge(dst, src, "cpu", 1), 1);
	assert_int_equal(kt_folded_foreach(dst, NULL, sum_stack, &s), 0);
	assert_int_equal(s.stacks, 1);
	assert_int_equal(s.weight, 11);
	assert_int_equal(s.adds, 3);
	/* everything, no cap */
	assert_int_equal(kt_folded_merge(dst, src, NULL, 0), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(kt_folded_foreach(dst, NULL, sum_stack, &s), 0);
	assert_int_equal(s.stacks, 4);
	assert_int_equal(s.weight, 11 + 10 + 7 + 100 + 3);
	assert_int_equal(s.with_ring, 1);
	assert_int_equal(kt_folded_merge(NULL, src, NULL, 0), -EINVAL);
	kt_folded_free(src);
	kt_folded_free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregate_root_first),
		cmocka_unit_test(test_merge_and_weights),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_sanitize_and_prefixes),
		cmocka_unit_test(test_zero_and_empty_stacks),
		cmocka_unit_test(test_many_stacks),
		cmocka_unit_test(test_weight_adds),
		cmocka_unit_test(test_real_call_chain),
		cmocka_unit_test(test_probe_stack_trimmed_at_api),
		cmocka_unit_test(test_real_probe_stack_trimmed),
		cmocka_unit_test(test_folded_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
