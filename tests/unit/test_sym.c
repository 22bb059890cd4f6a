/* SPDX-License-Identifier: MIT */
/*
 * kt_sym on this very process (a PIE, Debian's default): functions of the
 * test binary (.symtab), of libc and libz (stripped to .dynsym), a code
 * address without a function symbol, unmapped addresses, [vdso], the
 * build-id module cache, a dlopen()ed and then deleted library, and the
 * ELF vaddr -> runtime address translation kaos-trace uses for
 * kaos_probe_control.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kaos/probes.h"
#include "kt_elf.h"
#include "kt_sym.h"

/* Functions the tests resolve; noinline and used so they exist with their own symbols. */
__attribute__((noinline, used)) int kt_test_target_fn(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

__attribute__((noinline, used)) static int kt_test_static_fn(int x)
{
	__asm__ volatile("" ::: "memory");
	return x ^ 0x55;
}

/*
 * Code with no function symbol: a NOTYPE label (kt_sym only takes FUNC and
 * IFUNC symbols), padded so that no neighbouring function covers it.
 */
__asm__(".pushsection .text\n"
	".p2align 6\n"
	".globl kt_test_nofunc_code\n"
	"kt_test_nofunc_code:\n"
	"	nop\n"
	"	nop\n"
	"	ret\n"
	".p2align 6\n"
	".popsection\n");
extern const char kt_test_nofunc_code[];

int main(void);

static const char *build_dir(void)
{
	const char *b = getenv("B");

	return b && *b ? b : "build";
}

static char self_name[PATH_MAX];

static int setup_self_name(void **state)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	(void)state;
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(self_name, sizeof(self_name), "%s", basename(exe));
	return 0;
}

static void resolve_expect(struct kt_sym *s, uint64_t addr, const char *want, int kind)
{
	char buf[256];

	assert_int_equal(kt_sym_resolve(s, getpid(), addr, buf, sizeof(buf)), kind);
	assert_string_equal(buf, want);
}

static void test_self_functions(void **state)
{
	struct kt_sym *s = kt_sym_new();
	uint64_t fn = (uint64_t)(uintptr_t)&kt_test_target_fn;

	(void)state;
	assert_non_null(s);
	assert_int_equal(kt_test_target_fn(1) + kt_test_static_fn(2), 4 + 0x57);
	resolve_expect(s, fn, "kt_test_target_fn", KT_SYM_FUNC);
	resolve_expect(s, fn + 2, "kt_test_target_fn", KT_SYM_FUNC);
	resolve_expect(s, (uint64_t)(uintptr_t)&kt_test_static_fn, "kt_test_static_fn",
		       KT_SYM_FUNC);
	resolve_expect(s, (uint64_t)(uintptr_t)&main, "main", KT_SYM_FUNC);
	kt_sym_set_offsets(s, true);
	resolve_expect(s, fn + 2, "kt_test_target_fn+0x2", KT_SYM_FUNC);
	resolve_expect(s, fn, "kt_test_target_fn+0x0", KT_SYM_FUNC);
	kt_sym_free(s);
}

static void test_libc_function(void **state)
{
	struct kt_sym *s = kt_sym_new();
	void *getpid_addr = dlsym(RTLD_DEFAULT, "getpid");
	void *fopen_addr = dlsym(RTLD_DEFAULT, "fopen");
	struct kt_sym_info info;

	(void)state;
	assert_non_null(s);
	assert_non_null(getpid_addr);
	/* getpid and __getpid share an address: the public alias wins. */
	resolve_expect(s, (uint64_t)(uintptr_t)getpid_addr, "getpid", KT_SYM_FUNC);
	resolve_expect(s, (uint64_t)(uintptr_t)getpid_addr + 2, "getpid", KT_SYM_FUNC);
	assert_non_null(fopen_addr);
	resolve_expect(s, (uint64_t)(uintptr_t)fopen_addr + 1, "fopen", KT_SYM_FUNC);
	assert_int_equal(kt_sym_lookup(s, getpid(), (uint64_t)(uintptr_t)getpid_addr, &info),
			 KT_SYM_FUNC);
	assert_string_equal(info.module, "libc.so.6");
	assert_int_equal(info.func_off, 0);
	kt_sym_free(s);
}

static int count_symbol_cb(const char *name, const GElf_Sym *sym, void *ctx)
{
	(void)name;
	(void)sym;
	(*(int *)ctx)++;
	return 0;
}

/* libz ships stripped to .dynsym: its exported functions still resolve. */
static void test_dynsym_fallback(void **state)
{
	struct kt_sym *s = kt_sym_new();
	void *h = dlopen("libz.so.1", RTLD_NOW);
	void *crc;
	Dl_info dli;
	struct kt_elf *e;
	int table = 0, n = 0;
	Elf_Scn *scn;

	(void)state;
	assert_non_null(s);
	assert_non_null(h);
	crc = dlsym(h, "crc32");
	assert_non_null(crc);
	assert_int_not_equal(dladdr(crc, &dli), 0);
	/* Precondition of this test: the library really has no .symtab. */
	assert_int_equal(kt_elf_open(dli.dli_fname, &e), 0);
	assert_int_equal(kt_elf_find_section(e, ".symtab", &scn, NULL), -KT_ELF_ENOSECTION);
	assert_true(kt_elf_for_each_symbol(e, count_symbol_cb, &n, &table) > 0);
	assert_int_equal(table, SHT_DYNSYM);
	assert_true(n > 10);
	kt_elf_close(e);

	resolve_expect(s, (uint64_t)(uintptr_t)crc, "crc32", KT_SYM_FUNC);
	resolve_expect(s, (uint64_t)(uintptr_t)crc + 3, "crc32", KT_SYM_FUNC);
	dlclose(h);
	kt_sym_free(s);
}

/* Code covered by no function symbol: module basename + ELF virtual address. */
static void test_module_offset(void **state)
{
	struct kt_sym *s = kt_sym_new();
	struct kt_elf *e;
	uint64_t vaddr, base;
	char want[PATH_MAX + 32];
	extern const char __executable_start[];

	(void)state;
	assert_non_null(s);
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, "kt_test_nofunc_code", &vaddr, NULL), 0);
	kt_elf_close(e);
	/* PIE: vaddr 0 is the load base, which the linker names __executable_start. */
	base = (uint64_t)(uintptr_t)__executable_start;
	assert_int_equal((uint64_t)(uintptr_t)kt_test_nofunc_code - base, vaddr);

	snprintf(want, sizeof(want), "%s+0x%lx", self_name, (unsigned long)vaddr + 1);
	resolve_expect(s, (uint64_t)(uintptr_t)kt_test_nofunc_code + 1, want, KT_SYM_MODULE);
	kt_sym_free(s);
}

static void test_unknown(void **state)
{
	/* Anonymous executable memory (a JIT's): no module to name. */
	void *anon = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kt_sym *s = kt_sym_new();
	char *heap = malloc(64);
	int on_stack = 0;

	(void)state;
	assert_non_null(s);
	assert_non_null(heap);
	assert_true(anon != MAP_FAILED);
	resolve_expect(s, (uint64_t)(uintptr_t)anon + 16, "[unknown]", KT_SYM_UNKNOWN);
	munmap(anon, 4096);
	resolve_expect(s, 0, "[unknown]", KT_SYM_UNKNOWN);
	resolve_expect(s, 0x10, "[unknown]", KT_SYM_UNKNOWN);
	/* Mapped but not executable. */
	resolve_expect(s, (uint64_t)(uintptr_t)heap, "[unknown]", KT_SYM_UNKNOWN);
	resolve_expect(s, (uint64_t)(uintptr_t)&on_stack, "[unknown]", KT_SYM_UNKNOWN);
	resolve_expect(s, 0xffffffffffff0000ull, "[unknown]", KT_SYM_UNKNOWN);
	free(heap);
	kt_sym_free(s);
}

static void test_vdso(void **state)
{
	struct kt_sym *s = kt_sym_new();
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vdso;
	char buf[64];

	(void)state;
	if (!vdso) { /* valgrind hides the vDSO */
		kt_sym_free(s);
		skip();
	}
	/* The vDSO image is mapped r-x as a whole; its entry point is relative to it. */
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(kt_sym_resolve(s, getpid(), vdso + eh->e_entry, buf, sizeof(buf)),
			 KT_SYM_SPECIAL);
	assert_string_equal(buf, "[vdso]");
	kt_sym_free(s);
}

/* The module cache: by build-id, across lookups, forgotten pids and other processes. */
static void test_build_id_cache(void **state)
{
	struct kt_sym *s = kt_sym_new();
	struct kt_sym_stats st0, st1, st2;
	uint64_t fn = (uint64_t)(uintptr_t)&kt_test_target_fn;
	char buf[128];
	pid_t child;
	int status;

	(void)state;
	assert_non_null(s);
	assert_int_equal(kt_sym_add_pid(s, getpid()), 0);
	kt_sym_get_stats(s, &st0);
	assert_int_equal(st0.maps_reads, 1);
	assert_int_equal(st0.pids, 1);
	/* This binary, libc, ld.so at least; every module read once. */
	assert_true(st0.module_loads >= 3);
	assert_int_equal(st0.module_loads, st0.modules_cached);

	resolve_expect(s, fn, "kt_test_target_fn", KT_SYM_FUNC);
	resolve_expect(s, fn, "kt_test_target_fn", KT_SYM_FUNC);
	kt_sym_get_stats(s, &st1);
	assert_int_equal(st1.module_loads, st0.module_loads);
	assert_int_equal(st1.maps_reads, 1);

	/* Forgetting the pid drops the maps, not the modules. */
	kt_sym_forget_pid(s, getpid());
	kt_sym_get_stats(s, &st1);
	assert_int_equal(st1.pids, 0);
	resolve_expect(s, fn, "kt_test_target_fn", KT_SYM_FUNC);
	kt_sym_get_stats(s, &st1);
	assert_int_equal(st1.maps_reads, 2);
	assert_int_equal(st1.module_loads, st0.module_loads);
	assert_true(st1.module_hits >= st0.module_loads);

	/* Another process mapping the same files shares the cached modules. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(kt_sym_resolve(s, child, fn, buf, sizeof(buf)), KT_SYM_FUNC);
	assert_string_equal(buf, "kt_test_target_fn");
	kt_sym_get_stats(s, &st2);
	assert_int_equal(st2.pids, 2);
	assert_int_equal(st2.maps_reads, 3);
	assert_int_equal(st2.module_loads, st0.module_loads);
	assert_true(st2.module_hits > st1.module_hits);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);

	/* Resolution still works from the cached maps after the process is gone. */
	assert_int_equal(kt_sym_resolve(s, child, fn, buf, sizeof(buf)), KT_SYM_FUNC);
	assert_string_equal(buf, "kt_test_target_fn");
	kt_sym_forget_pid(s, child);
	/* A pid that does not exist (pid_max is below 2^22 by default). */
	assert_true(kt_sym_add_pid(s, 0x7ffffff0) < 0);
	resolve_expect(s, fn, "kt_test_target_fn", KT_SYM_FUNC);
	kt_sym_free(s);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	}
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/*
 * A library dlopen()ed after the maps were read (found by the refresh on a
 * miss, rate-limited) and deleted from disk (read through map_files).
 */
static void test_dlopen_deleted(void **state)
{
	struct kt_sym *s = kt_sym_new();
	char dir[] = "/tmp/kt_sym_XXXXXX";
	char src[PATH_MAX], lib[PATH_MAX + 32];
	struct kt_sym_info info;
	void *h, *fn;
	char buf[128];

	(void)state;
	assert_non_null(s);
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/libkaos.so", build_dir());
	snprintf(lib, sizeof(lib), "%s/libkt_deleted.so", dir);
	assert_int_equal(copy_file(src, lib), 0);

	kt_sym_set_refresh_interval(s, UINT64_MAX);
	assert_int_equal(kt_sym_add_pid(s, getpid()), 0);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_int_equal(unlink(lib), 0);
	assert_int_equal(rmdir(dir), 0);
	fn = dlsym(h, "kaos_strerror");
	assert_non_null(fn);

	/* Maps read before the dlopen and no refresh allowed yet. */
	resolve_expect(s, (uint64_t)(uintptr_t)fn, "[unknown]", KT_SYM_UNKNOWN);
	kt_sym_set_refresh_interval(s, 0);
	assert_int_equal(kt_sym_resolve(s, getpid(), (uint64_t)(uintptr_t)fn, buf, sizeof(buf)),
			 KT_SYM_FUNC);
	assert_string_equal(buf, "kaos_strerror");
	assert_int_equal(kt_sym_lookup(s, getpid(), (uint64_t)(uintptr_t)fn, &info), KT_SYM_FUNC);
	assert_string_equal(info.module, "libkt_deleted.so");
	dlclose(h);
	kt_sym_free(s);
}

/*
 * kt_sym_add_pid on a pid already known re-reads its maps: a library mapped
 * since resolves without waiting for a miss refresh (which an exited
 * process no longer allows), and its mapping (path, range, build-id) is
 * told.
 */
static void test_add_pid_rereads(void **state)
{
	struct kt_sym *s = kt_sym_new();
	char dir[] = "/tmp/kt_sym_XXXXXX";
	char src[PATH_MAX], lib[PATH_MAX + 32];
	struct kt_sym_info info;
	void *h, *fn;

	(void)state;
	assert_non_null(s);
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/libkaos.so", build_dir());
	snprintf(lib, sizeof(lib), "%s/libkt_later.so", dir);
	assert_int_equal(copy_file(src, lib), 0);

	kt_sym_set_refresh_interval(s, UINT64_MAX);
	assert_int_equal(kt_sym_add_pid(s, getpid()), 0);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	fn = dlsym(h, "kaos_strerror");
	assert_non_null(fn);
	resolve_expect(s, (uint64_t)(uintptr_t)fn, "[unknown]", KT_SYM_UNKNOWN);
	assert_int_equal(kt_sym_add_pid(s, getpid()), 0);
	resolve_expect(s, (uint64_t)(uintptr_t)fn, "kaos_strerror", KT_SYM_FUNC);
	assert_int_equal(kt_sym_lookup(s, getpid(), (uint64_t)(uintptr_t)fn, &info), KT_SYM_FUNC);
	assert_string_equal(info.path, lib);
	assert_non_null(info.build_id);
	assert_true(strlen(info.build_id) >= 16);
	assert_true(info.map_start <= (uint64_t)(uintptr_t)fn);
	assert_true((uint64_t)(uintptr_t)fn < info.map_end);
	dlclose(h);
	unlink(lib);
	rmdir(dir);
	kt_sym_free(s);
}

/* A mapped path with spaces (maps pads and separates fields with spaces too). */
static void test_path_with_spaces(void **state)
{
	struct kt_sym *s = kt_sym_new();
	char dir[] = "/tmp/kt sym XXXXXX";
	char src[PATH_MAX], lib[PATH_MAX + 32];
	struct kt_sym_info info;
	void *h, *fn;

	(void)state;
	assert_non_null(s);
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/libkaos.so", build_dir());
	snprintf(lib, sizeof(lib), "%s/lib kt space.so", dir);
	assert_int_equal(copy_file(src, lib), 0);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	fn = dlsym(h, "kaos_ring_create");
	assert_non_null(fn);
	assert_int_equal(kt_sym_lookup(s, getpid(), (uint64_t)(uintptr_t)fn + 1, &info),
			 KT_SYM_FUNC);
	assert_string_equal(info.func, "kaos_ring_create");
	assert_string_equal(info.module, "lib kt space.so");
	assert_int_equal(info.func_off, 1);
	dlclose(h);
	assert_int_equal(unlink(lib), 0);
	assert_int_equal(rmdir(dir), 0);
	kt_sym_free(s);
}

/* kaos_probe_control: ELF symbol -> runtime address, as kaos-trace writes it. */
static void test_runtime_addr(void **state)
{
	char lib[PATH_MAX];
	struct kt_elf *e;
	uint64_t vaddr, size, addr;
	void *h, *ctl;

	(void)state;
	/* In this executable (libkaos.a linked in). */
	assert_int_equal(kaos_probe_control.magic, KAOS_PROBE_CONTROL_MAGIC);
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, KAOS_PROBE_CONTROL_SYMBOL, &vaddr, &size), 0);
	assert_int_equal(size, sizeof(struct kaos_probe_control));
	kt_elf_close(e);
	assert_int_equal(kt_sym_runtime_addr(getpid(), "/proc/self/exe", vaddr, &addr), 0);
	assert_ptr_equal((void *)(uintptr_t)addr, &kaos_probe_control);

	/* In libkaos.so, through its symlink. */
	snprintf(lib, sizeof(lib), "%s/libkaos.so", build_dir());
	assert_int_equal(kt_elf_open(lib, &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, KAOS_PROBE_CONTROL_SYMBOL, &vaddr, NULL), 0);
	kt_elf_close(e);
	assert_int_equal(kt_sym_runtime_addr(getpid(), lib, vaddr, &addr), -ENOENT);
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	ctl = dlsym(h, KAOS_PROBE_CONTROL_SYMBOL);
	assert_non_null(ctl);
	assert_int_equal(kt_sym_runtime_addr(getpid(), lib, vaddr, &addr), 0);
	assert_ptr_equal((void *)(uintptr_t)addr, ctl);
	assert_int_equal(((struct kaos_probe_control *)ctl)->magic, KAOS_PROBE_CONTROL_MAGIC);
	dlclose(h);

	assert_int_equal(kt_sym_runtime_addr(getpid(), "/nonexistent/lib.so", 0, &addr), -ENOENT);
	assert_int_equal(kt_sym_runtime_addr(0, lib, 0, &addr), -EINVAL);
}

/* Starts a kt_callchain build that waits; returns its pid once it is ready. */
static pid_t spawn_waiting(const char *prog)
{
	char line[128] = "";
	int fds[2];
	pid_t pid;
	FILE *in;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Dies with this test process even if an assertion skips the kill. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(prog, prog, "1", "60000", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	assert_true(!strncmp(line, "kt_callchain: ready pid=", 24));
	assert_int_equal(atoi(line + 24), pid);
	return pid;
}

/*
 * Another process, as kaos-trace sees them: the same program built as a PIE
 * (loaded at a random base) and as a fixed-address ET_EXEC, plus the
 * libkaos.so it maps. Runtime addresses come from kt_sym_runtime_addr(),
 * the expected names from the ELF files.
 */
static void check_other_process(const char *prog, bool pie)
{
	struct kt_sym *s = kt_sym_new();
	struct kt_elf *e;
	uint64_t inner, inner_size, outer, send_vaddr, rt, lib_rt;
	char lib[PATH_MAX], buf[128];
	pid_t pid;
	int status;

	assert_non_null(s);
	assert_int_equal(kt_elf_open(prog, &e), 0);
	assert_int_equal(e->ehdr.e_type, pie ? ET_DYN : ET_EXEC);
	assert_int_equal(kt_elf_find_symbol(e, "kt_chain_inner", &inner, &inner_size), 0);
	assert_int_equal(kt_elf_find_symbol(e, "kt_chain_outer", &outer, NULL), 0);
	kt_elf_close(e);
	assert_true(inner_size > 4);
	snprintf(lib, sizeof(lib), "%s/libkaos.so", build_dir());
	assert_int_equal(kt_elf_open(lib, &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, "kaos_ring_send", &send_vaddr, NULL), 0);
	kt_elf_close(e);

	pid = spawn_waiting(prog);
	assert_int_equal(kt_sym_runtime_addr(pid, prog, inner, &rt), 0);
	if (pie)
		assert_int_not_equal(rt, inner);
	else
		assert_int_equal(rt, inner); /* ET_EXEC runs at its link-time addresses */
	assert_int_equal(kt_sym_resolve(s, pid, rt, buf, sizeof(buf)), KT_SYM_FUNC);
	assert_string_equal(buf, "kt_chain_inner");
	assert_int_equal(kt_sym_resolve(s, pid, rt + inner_size - 1, buf, sizeof(buf)),
			 KT_SYM_FUNC);
	assert_string_equal(buf, "kt_chain_inner");
	assert_int_equal(kt_sym_runtime_addr(pid, prog, outer, &rt), 0);
	assert_int_equal(kt_sym_resolve(s, pid, rt + 1, buf, sizeof(buf)), KT_SYM_FUNC);
	assert_string_equal(buf, "kt_chain_outer");
	assert_int_equal(kt_sym_runtime_addr(pid, lib, send_vaddr, &lib_rt), 0);
	assert_int_equal(kt_sym_resolve(s, pid, lib_rt, buf, sizeof(buf)), KT_SYM_FUNC);
	assert_string_equal(buf, "kaos_ring_send");
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	kt_sym_free(s);
}

static void test_other_process_pie(void **state)
{
	char prog[PATH_MAX];

	(void)state;
	snprintf(prog, sizeof(prog), "%s/tests/progs/kt_callchain", build_dir());
	check_other_process(prog, true);
}

static void test_other_process_nopie(void **state)
{
	char prog[PATH_MAX];

	(void)state;
	snprintf(prog, sizeof(prog), "%s/tests/progs/kt_callchain_nopie", build_dir());
	check_other_process(prog, false);
}

static void test_bad_args(void **state)
{
	struct kt_sym *s = kt_sym_new();
	char buf[8];

	(void)state;
	assert_non_null(s);
	assert_int_equal(kt_sym_resolve(NULL, getpid(), 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kt_sym_resolve(s, getpid(), 0, NULL, 8), -EINVAL);
	assert_int_equal(kt_sym_resolve(s, 0, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(kt_sym_add_pid(s, -1), -EINVAL);
	/* Truncation keeps the buffer terminated. */
	assert_int_equal(kt_sym_resolve(s, getpid(), (uint64_t)(uintptr_t)&kt_test_target_fn, buf,
					sizeof(buf)),
			 KT_SYM_FUNC);
	assert_string_equal(buf, "kt_test");
	kt_sym_forget_pid(s, 12345678); /* unknown pid: no-op */
	kt_sym_free(s);
	kt_sym_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_functions),
		cmocka_unit_test(test_libc_function),
		cmocka_unit_test(test_dynsym_fallback),
		cmocka_unit_test(test_module_offset),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_vdso),
		cmocka_unit_test(test_build_id_cache),
		cmocka_unit_test(test_dlopen_deleted),
		cmocka_unit_test(test_add_pid_rereads),
		cmocka_unit_test(test_path_with_spaces),
		cmocka_unit_test(test_runtime_addr),
		cmocka_unit_test(test_other_process_pie),
		cmocka_unit_test(test_other_process_nopie),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, setup_self_name, NULL);
}
