/* SPDX-License-Identifier: MIT */
/*
 * kt_func (kaos-trace --func) without BPF: pattern syntax, library names,
 * refusals, first-instruction kinds, resolution over this test binary (by
 * path) and over this process's libraries (by pid), the one-line errors,
 * `list --func`; and kt_agg's KT_EV_FUNC series with the corrected latency
 * and the JSON/text report of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_agg.h"
#include "kt_elf.h"
#include "kt_func.h"
#include "kt_report.h"

/*
 * Functions of this binary the resolver must find, one per kind of first
 * instruction where the architecture has kinds, plus ones it must refuse:
 * a .cold fragment and a symbol without size. Written in assembly so the
 * bytes are known.
 */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".p2align 4\n.globl tfn_push\n.type tfn_push,@function\n"
	"tfn_push:\n\tpush %rbp\n\tmov %rsp,%rbp\n\tpop %rbp\n\tret\n.size tfn_push,.-tfn_push\n"
	".p2align 4\n.globl tfn_step\n.type tfn_step,@function\n"
	"tfn_step:\n\tsub $8,%rsp\n\tadd $8,%rsp\n\tret\n.size tfn_step,.-tfn_step\n"
	".p2align 4\n.globl tfn_branch\n.type tfn_branch,@function\n"
	"tfn_branch:\n\tjmp 1f\n1:\tret\n.size tfn_branch,.-tfn_branch\n"
	".p2align 4\n.globl tfn_nop5\n.type tfn_nop5,@function\n"
	"tfn_nop5:\n\t.byte 0x0f,0x1f,0x44,0x00,0x00\n\tret\n.size tfn_nop5,.-tfn_nop5\n"
	".p2align 4\n.globl tfn_alias\n.type tfn_alias,@function\n"
	".set tfn_alias, tfn_push\n.size tfn_alias, 6\n"
	".popsection\n");
#define NKINDED 4
#else
__asm__(".pushsection .text\n"
	".p2align 4\n.globl tfn_step\n.type tfn_step,%function\n"
	"tfn_step:\n\tret\n.size tfn_step,.-tfn_step\n"
	".popsection\n");
#define NKINDED 1
#endif
__asm__(".pushsection .text\n"
	".p2align 4\n.globl tfn_frag.cold\n.type tfn_frag.cold,%function\n"
	"tfn_frag.cold:\n\tret\n.size tfn_frag.cold,.-tfn_frag.cold\n"
	".p2align 4\n.globl tfn_nosize\n.type tfn_nosize,%function\n"
	"tfn_nosize:\n\tret\n"
	".popsection\n");

static char self_path[PATH_MAX];

static int setup(void **state)
{
	/* valgrind answers /proc/self/exe with the test binary, not itself */
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	self_path[n] = 0;
	return 0;
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* The notes as the CLI prints them, one "kaos-trace: ..." line each on the FILE. */
static void note_to_file(void *f, bool warning, const char *line)
{
	(void)warning;
	fprintf(f, "kaos-trace: %s\n", line);
}

/* Resolves patterns against this binary by path; returns 0 or -1 (err filled). */
static int resolve_self(const char *const *pat, int n, uint32_t max, struct kt_func **f, char *err,
			size_t errlen, FILE *notes)
{
	const char *paths[1] = {self_path};
	struct kt_func_opts o = {.patterns = pat,
				 .npatterns = n,
				 .paths = paths,
				 .npaths = 1,
				 .max_funcs = max,
				 .note = notes ? note_to_file : NULL,
				 .note_ctx = notes};

	return kt_func_resolve(&o, f, err, errlen);
}

static const struct kt_func_fn *find_fn(const struct kt_func *f, const char *name)
{
	for (uint32_t i = 0; i < kt_func_count(f); i++)
		if (!strcmp(kt_func_get(f, i)->name, name))
			return kt_func_get(f, i);
	return NULL;
}

/* ---------------------------------------------------------------- pure helpers */

static void test_parse_pattern(void **state)
{
	char lib[64], glob[64], err[256];

	(void)state;
	assert_int_equal(kt_func_parse_pattern("libz.so.1:crc32*", lib, sizeof(lib), glob,
					       sizeof(glob), err, sizeof(err)),
			 0);
	assert_string_equal(lib, "libz.so.1");
	assert_string_equal(glob, "crc32*");
	assert_int_equal(kt_func_parse_pattern("compress_*", lib, sizeof(lib), glob, sizeof(glob),
					       err, sizeof(err)),
			 0);
	assert_string_equal(lib, "");
	assert_string_equal(glob, "compress_*");
	/* a path may hold ':'; the function part never does */
	assert_int_equal(kt_func_parse_pattern("/opt/a:b/libx.so:f", lib, sizeof(lib), glob,
					       sizeof(glob), err, sizeof(err)),
			 0);
	assert_string_equal(lib, "/opt/a:b/libx.so");
	assert_string_equal(glob, "f");
	assert_int_equal(
		kt_func_parse_pattern(":f", lib, sizeof(lib), glob, sizeof(glob), err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "expected [LIBRARY:]FUNCTION-GLOB"));
	assert_int_equal(kt_func_parse_pattern("libz:", lib, sizeof(lib), glob, sizeof(glob), err,
					       sizeof(err)),
			 -1);
	assert_int_equal(
		kt_func_parse_pattern("", lib, sizeof(lib), glob, sizeof(glob), err, sizeof(err)),
		-1);
	assert_int_equal(kt_func_parse_pattern("x:0123456789012345678901234567890123456789"
					       "0123456789012345678901234567890123456789",
					       lib, sizeof(lib), glob, sizeof(glob), err,
					       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "too long"));
}

static void test_lib_match(void **state)
{
	(void)state;
	assert_int_equal(kt_func_lib_match("libz.so.1", "libz.so.1.2.13", "libz.so.1"), 2);
	assert_int_equal(kt_func_lib_match("libz.so.1.2.13", "libz.so.1.2.13", "libz.so.1"), 2);
	assert_int_equal(kt_func_lib_match("libz", "libz.so.1.2.13", "libz.so.1"), 1);
	assert_int_equal(kt_func_lib_match("libkaos.so", "libkaos.so.0.1", "libkaos.so.0"), 1);
	assert_int_equal(kt_func_lib_match("pipeline", "pipeline", NULL), 2);
	assert_int_equal(kt_func_lib_match("libc", "libcap.so.2", "libcap.so.2"), 0);
	assert_int_equal(kt_func_lib_match("libz.so.1", "libz.so.10", "libz.so.10"), 0);
	assert_int_equal(kt_func_lib_match("pipe", "pipeline", ""), 0);
}

static void test_refusal(void **state)
{
	(void)state;
	assert_null(kt_func_refusal("compress_block", STT_FUNC, 120));
	assert_null(kt_func_refusal("f.part.0", STT_FUNC, 10));
	assert_non_null(strstr(kt_func_refusal("f", STT_FUNC, 0), "size 0"));
	assert_non_null(strstr(kt_func_refusal("f.cold", STT_FUNC, 40), ".cold fragment:"));
	assert_non_null(strstr(kt_func_refusal("f.cold.3", STT_FUNC, 40), ".cold fragment"));
	assert_non_null(strstr(kt_func_refusal("memcpy", STT_GNU_IFUNC, 40), "IFUNC"));
	assert_non_null(strstr(kt_func_refusal("_start", STT_FUNC, 38), "entry point"));
}

static void test_classify(void **state)
{
	static const uint8_t push_rbp[] = {0x55, 0x48, 0x89, 0xe5};
	static const uint8_t push_r12[] = {0x41, 0x54};
	static const uint8_t endbr[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x55};
	static const uint8_t sub_rsp[] = {0x48, 0x83, 0xec, 0x08};
	static const uint8_t jmp32[] = {0xe9, 1, 2, 3, 4};
	static const uint8_t jcc32[] = {0x0f, 0x84, 1, 2, 3, 4};
	static const uint8_t nop5[] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
	static const uint8_t nop4[] = {0x0f, 0x1f, 0x40, 0x00};

	(void)state;
	assert_int_equal(kt_func_classify(NULL, 0), KT_FUNC_KIND_STEP);
#if defined(__x86_64__)
	assert_int_equal(kt_func_classify(push_rbp, sizeof(push_rbp)), KT_FUNC_KIND_PUSH);
	assert_int_equal(kt_func_classify(push_r12, sizeof(push_r12)), KT_FUNC_KIND_PUSH);
	assert_int_equal(kt_func_classify(push_r12, 1), KT_FUNC_KIND_STEP); /* truncated */
	assert_int_equal(kt_func_classify(endbr, sizeof(endbr)), KT_FUNC_KIND_STEP);
	assert_int_equal(kt_func_classify(sub_rsp, sizeof(sub_rsp)), KT_FUNC_KIND_STEP);
	assert_int_equal(kt_func_classify(jmp32, sizeof(jmp32)), KT_FUNC_KIND_BRANCH);
	assert_int_equal(kt_func_classify(jcc32, sizeof(jcc32)), KT_FUNC_KIND_BRANCH);
	assert_int_equal(kt_func_classify(nop5, sizeof(nop5)), KT_FUNC_KIND_NOP5);
	assert_int_equal(kt_func_classify(nop4, sizeof(nop4)), KT_FUNC_KIND_STEP);
#else
	assert_int_equal(kt_func_classify(push_rbp, sizeof(push_rbp)), KT_FUNC_KIND_STEP);
	(void)push_r12, (void)endbr, (void)sub_rsp, (void)jmp32, (void)jcc32, (void)nop5,
		(void)nop4;
#endif
	assert_string_equal(kt_func_kind_name(KT_FUNC_KIND_PUSH), "push");
	assert_string_equal(kt_func_kind_name(KT_FUNC_NKINDS), "?");
}

/* ---------------------------------------------------------------- resolution */

static void test_resolve_self(void **state)
{
	const char *pat[] = {"tfn_*"};
	struct kt_func *f;
	char err[1024];
	FILE *notes = tmpfile();
	char line[1024] = "";

	(void)state;
	assert_non_null(notes);
	assert_int_equal(resolve_self(pat, 1, 0, &f, err, sizeof(err), notes), 0);
	/* the alias shares tfn_push's address: one function */
	assert_int_equal(kt_func_count(f), NKINDED);
	assert_null(find_fn(f, "tfn_frag.cold"));
	assert_null(find_fn(f, "tfn_nosize"));
#if defined(__x86_64__)
	/* one of the two names of the same code, whichever the symbol table lists first */
	const struct kt_func_fn *push = find_fn(f, "tfn_push");

	assert_true(!push != !find_fn(f, "tfn_alias"));
	if (!push)
		push = find_fn(f, "tfn_alias");
	assert_int_equal(push->kind, KT_FUNC_KIND_PUSH);
	assert_int_equal(find_fn(f, "tfn_branch")->kind, KT_FUNC_KIND_BRANCH);
	assert_int_equal(find_fn(f, "tfn_nop5")->kind, KT_FUNC_KIND_NOP5);
#endif
	const struct kt_func_fn *x = find_fn(f, "tfn_step");

	assert_non_null(x);
	assert_int_equal(x->kind, KT_FUNC_KIND_STEP);
	assert_string_equal(x->module, base(self_path));
	assert_false(x->dynsym);
	/* the offset is the file offset of the symbol's address */
	struct kt_elf *e;
	uint64_t addr, off;

	assert_int_equal(kt_elf_open(self_path, &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, "tfn_step", &addr, NULL), 0);
	assert_int_equal(kt_elf_vaddr_to_offset(e, addr, &off), 0);
	kt_elf_close(e);
	assert_int_equal(x->vaddr, addr);
	assert_int_equal(x->offset, off);
	assert_string_equal(kt_func_name(f, 0), kt_func_get(f, 0)->name);
	assert_string_equal(kt_func_name(f, 9999), "?");
	assert_null(kt_func_get(f, kt_func_count(f)));
	/* one note names what the glob skipped, and why */
	rewind(notes);
	assert_non_null(fgets(line, sizeof(line), notes));
	assert_non_null(strstr(line, "skipping 2 functions that cannot be probed"));
	assert_non_null(strstr(line, "tfn_frag.cold [.cold fragment: entered by a jump"));
	assert_non_null(strstr(line, "tfn_nosize [size 0: unknown extent"));
	assert_null(fgets(line, sizeof(line), notes));
	fclose(notes);
	kt_func_free(f);
}

static void test_resolve_dedupe(void **state)
{
	/* the same function through two patterns, with and without the library part */
	char lib_pat[PATH_MAX + 16];
	const char *pat[] = {"tfn_step", lib_pat};
	struct kt_func *f;
	char err[1024];

	(void)state;
	snprintf(lib_pat, sizeof(lib_pat), "%s:tfn_st*", base(self_path));
	assert_int_equal(resolve_self(pat, 2, 0, &f, err, sizeof(err), NULL), 0);
	assert_int_equal(kt_func_count(f), 1);
	kt_func_free(f);
	snprintf(lib_pat, sizeof(lib_pat), "%s:tfn_step", self_path);
	assert_int_equal(resolve_self(pat, 2, 0, &f, err, sizeof(err), NULL), 0);
	assert_int_equal(kt_func_count(f), 1);
	kt_func_free(f);
}

static void test_resolve_errors(void **state)
{
	const char *nomatch[] = {"tfn_no_such_function_*"};
	const char *refused[] = {"tfn_frag*"};
	const char *many[] = {"tfn_*"};
	const char *badlib[] = {"libnosuchlib.so.7:f*"};
	const char *badpath[] = {"/nonexistent/libx.so:f"};
	const char *badpat[] = {"lib:"};
	struct kt_func *f = (struct kt_func *)&f;
	char err[1024];
	FILE *quiet = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(quiet);
	assert_int_equal(resolve_self(nomatch, 1, 0, &f, err, sizeof(err), NULL), -1);
	assert_null(f);
	assert_non_null(strstr(err, "no function matches 'tfn_no_such_function_*' in"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(resolve_self(refused, 1, 0, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "matches only functions that cannot be probed: tfn_frag.cold"));
	assert_int_equal(resolve_self(many, 1, 1, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "more than --max-funcs 1"));
	assert_int_equal(resolve_self(many, 1, NKINDED, &f, err, sizeof(err), quiet), 0);
	kt_func_free(f);
	fclose(quiet);
	assert_int_equal(resolve_self(many, 1, KT_FUNC_MAX, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "above the limit"));
	assert_int_equal(resolve_self(badlib, 1, 0, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "'libnosuchlib.so.7' is not"));
	assert_int_equal(resolve_self(badpath, 1, 0, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "/nonexistent/libx.so: No such file or directory"));
	assert_int_equal(resolve_self(badpat, 1, 0, &f, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "expected [LIBRARY:]FUNCTION-GLOB"));

	struct kt_func_opts none = {.patterns = many, .npatterns = 1};

	assert_int_equal(kt_func_resolve(&none, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs a target"));
}

/* By pid: libraries by soname, by prefix, by path; the executable without one. */
static void test_resolve_pid(void **state)
{
	pid_t self = getpid();
	const char *libc_exact[] = {"libc.so.6:getpid"};
	const char *libc_prefix[] = {"libc:getpid"};
	const char *exe[] = {"tfn_step"};
	const char *nolib[] = {"libnosuchlib.so:f"};
	struct kt_func_opts o = {.pids = &self, .npids = 1, .npatterns = 1};
	struct kt_func *f;
	char err[1024], soname[64];

	(void)state;
	o.patterns = libc_exact;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(kt_func_count(f), 1);
	assert_string_equal(kt_func_name(f, 0), "getpid");
	/* Debian's libc has no .symtab: the symbol came from .dynsym, the file has the soname */
	struct kt_elf *e;

	assert_int_equal(kt_elf_open(kt_func_get(f, 0)->attach_path, &e), 0);
	assert_int_equal(kt_elf_soname(e, soname, sizeof(soname)), 0);
	kt_elf_close(e);
	assert_string_equal(soname, "libc.so.6");
	char first[PATH_MAX];

	snprintf(first, sizeof(first), "%s", kt_func_get(f, 0)->path);
	kt_func_free(f);

	o.patterns = libc_prefix;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_string_equal(kt_func_get(f, 0)->path, first);
	kt_func_free(f);

	char by_path[PATH_MAX + 16];
	const char *p[] = {by_path};

	snprintf(by_path, sizeof(by_path), "%s:getpid", first);
	o.patterns = p;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(kt_func_count(f), 1);
	kt_func_free(f);

	o.patterns = exe;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(kt_func_count(f), 1);
	kt_func_free(f);

	o.patterns = nolib;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no file named 'libnosuchlib.so' is mapped by pid"));
}

/* A library dlopen()ed from a directory with a space in its name: by path and by name. */
static void test_resolve_pid_spaces(void **state)
{
	const char *b = getenv("B") && *getenv("B") ? getenv("B") : "build";
	char dir[] = "/tmp/kt func XXXXXX", src[PATH_MAX], dst[PATH_MAX + 32], cmd[3 * PATH_MAX];
	char by_path[PATH_MAX + 64];
	const char *pat[1];
	pid_t self = getpid();
	struct kt_func_opts o = {.pids = &self, .npids = 1, .patterns = pat, .npatterns = 1};
	struct kt_func *f;
	char err[1024];
	void *h;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/tests/progs/libkt_funcs_dl.so", b);
	snprintf(dst, sizeof(dst), "%s/libkt sp.so", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
	h = dlopen(dst, RTLD_NOW);
	assert_non_null(h);
	snprintf(by_path, sizeof(by_path), "%s:dl_*", dst);
	pat[0] = by_path;
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_int_equal(kt_func_count(f), 1);
	assert_string_equal(kt_func_get(f, 0)->path, dst);
	assert_string_equal(kt_func_get(f, 0)->module, "libkt sp.so");
	kt_func_free(f);
	pat[0] = "libkt sp.so:dl_busy_20us";
	assert_int_equal(kt_func_resolve(&o, &f, err, sizeof(err)), 0);
	assert_string_equal(kt_func_name(f, 0), "dl_busy_20us");
	kt_func_free(f);
	dlclose(h);
	assert_int_equal(unlink(dst), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_cmd_list(void **state)
{
	char pat[PATH_MAX + 16];
	char *argv[] = {"--func", pat, self_path};
	char *bad[] = {"--func", pat};
	FILE *out = tmpfile(), *errf = tmpfile();
	char buf[8192];
	size_t n;

	(void)state;
	assert_non_null(out);
	assert_non_null(errf);
	snprintf(pat, sizeof(pat), "tfn_*");
	assert_int_equal(kt_func_cmd_list(3, argv, out, errf), 0);
	rewind(out);
	n = fread(buf, 1, sizeof(buf) - 1, out);
	buf[n] = 0;
	assert_non_null(strstr(buf, "tfn_step"));
	assert_non_null(strstr(buf, "refused: .cold fragment"));
	assert_non_null(strstr(buf, "refused: size 0"));
	char summary[64];

	snprintf(summary, sizeof(summary), "%d function%s would be probed, 2 refused", NKINDED,
		 NKINDED == 1 ? "" : "s");
	assert_non_null(strstr(buf, summary));
	snprintf(pat, sizeof(pat), "tfn_nothing_*");
	assert_int_equal(kt_func_cmd_list(3, argv, out, errf), 1);
	assert_int_equal(kt_func_cmd_list(2, bad, out, errf), 2);
	fclose(out);
	fclose(errf);
}

/* ---------------------------------------------------------------- kt_agg / kt_report */

static struct kt_event func_event(uint32_t pid, uint32_t idx, uint64_t count, uint64_t dur,
				  uint32_t inner, uint64_t inner_cost)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_FUNC;
	e.pid = pid;
	e.tid = pid;
	e.ring_id = idx;
	e.n = inner;
	e.count = count;
	e.bytes = inner_cost;
	e.dur_ns = dur;
	return e;
}

static void test_corrected(void **state)
{
	(void)state;
	assert_int_equal(kt_func_corrected_ns(21600, 1600, 0), 20000);
	assert_int_equal(kt_func_corrected_ns(48300, 1600, 6700), 40000);
	assert_int_equal(kt_func_corrected_ns(1000, 1600, 0), 0);    /* floored */
	assert_int_equal(kt_func_corrected_ns(1000, 0, 5000), 0);    /* floored */
	assert_int_equal(kt_func_corrected_ns(1000, -5.0, 0), 1000); /* no negative bias */
}

static void test_agg_func(void **state)
{
	static const struct kt_func_desc desc[2] = {
		{.name = "busy",
		 .module = "prog",
		 .bias_ns = 1500,
		 .pair_ns = 6500,
		 .sample_every = 1},
		{.name = "rec",
		 .module = "prog",
		 .bias_ns = 1500,
		 .pair_ns = 6500,
		 .sample_every = 4},
	};
	uint32_t pid = (uint32_t)getpid(); /* a live pid: kt_agg reads its comm */
	struct kt_agg a;
	struct kt_event e;

	(void)state;
	kt_agg_init(&a, 0);
	/* without the table, function events are malformed */
	e = func_event(pid, 0, 1, 21500, 0, 0);
	assert_null(kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE));
	assert_int_equal(a.bad_events, 1);
	kt_agg_set_funcs(&a, desc, 2);
	for (int i = 1; i <= 10; i++) {
		e = func_event(pid, 0, (uint64_t)i, 21500, 0, 0);
		kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE);
	}
	/* a recursive call: two probed calls inside, 13 us of their probes */
	e = func_event(pid, 1, 3, 61500 + 13000, 2, 13000);
	kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE);
	e = func_event(pid, 2, 1, 100, 0, 0); /* index out of the table */
	assert_null(kt_agg_add(&a, &e, KT_EVENT_BASE_SIZE));
	assert_int_equal(a.bad_events, 2);
	assert_int_equal(a.events, 11);

	struct kt_func_agg *busy = kt_agg_func(&a, pid, 0), *rec = kt_agg_func(&a, pid, 1);

	assert_int_equal(kt_series_count(&busy->s), 10);
	assert_int_equal(kt_hist_count(busy->s.dur), 10);
	assert_int_equal(kt_hist_min(busy->s.dur), 21500);
	assert_int_equal(kt_hist_min(busy->corr), 20000);
	assert_int_equal(kt_hist_max(rec->corr), 60000);
	/* the kernel's exact count wins over what events carried (sampling) */
	kt_agg_func_count(&a, pid, 1, 4000);
	kt_agg_func_count(&a, pid, 1, 3999); /* never backwards */
	kt_agg_func_count(&a, pid, 7, 5);    /* unknown function: ignored */
	assert_int_equal(kt_series_count(&rec->s), 4000);
	assert_int_equal(kt_series_count_iv(&rec->s), 4000);
	kt_agg_interval_reset(&a);
	assert_int_equal(kt_series_count_iv(&rec->s), 0);
	assert_int_equal(kt_hist_count(rec->corr_iv), 0);
	assert_int_equal(kt_hist_count(rec->corr), 1);
	kt_agg_func_count(&a, pid, 1, 4100);
	assert_int_equal(kt_series_count_iv(&rec->s), 100);

	/* reports: raw and corrected side by side, labelled, in text and JSON */
	struct kt_report_totals t = {.elapsed_s = 2, .interval_s = 1, .func_calibrated = true};
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	kt_report_json(m, &a, &t, false);
	kt_report_text(m, &a, &t, true, false);
	fclose(m);
	assert_non_null(strstr(buf, "\"functions\":[{\"index\":0,\"name\":\"busy\",\"module\":"
				    "\"prog\",\"calls\":10,"));
	assert_non_null(strstr(buf, "\"calls\":4100,"));
	assert_non_null(strstr(buf, "\"sample_every\":4,"));
	assert_non_null(strstr(buf, "\"latency_raw\":{\"count\":10,"));
	assert_non_null(strstr(buf, "\"latency_corrected\":{\"count\":10,"));
	assert_non_null(strstr(buf, "\"probe_bias_ns\":1500,"));
	assert_non_null(strstr(buf, "\"func\":{\"calibrated\":true,"));
	assert_non_null(strstr(buf, "4110 probed function calls"));
	assert_non_null(strstr(buf, "prog:busy"));
	assert_non_null(strstr(buf, " raw "));
	assert_non_null(strstr(buf, " corrected "));
	assert_non_null(strstr(buf, "20.00us")); /* busy's corrected latency */
	assert_non_null(strstr(buf, "21.50us")); /* and its raw one */
	assert_non_null(strstr(buf, "1/4"));	 /* rec's samples: 1 of its 1-in-4 */
	free(buf);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pattern),
		cmocka_unit_test(test_lib_match),
		cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_resolve_self),
		cmocka_unit_test(test_resolve_dedupe),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_resolve_pid),
		cmocka_unit_test(test_resolve_pid_spaces),
		cmocka_unit_test(test_cmd_list),
		cmocka_unit_test(test_corrected),
		cmocka_unit_test(test_agg_func),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
