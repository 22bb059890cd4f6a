/* SPDX-License-Identifier: MIT */
/*
 * kt_debuginfo: Debian's stripped libc finds its separate debug file
 * (libc6-dbg, by build-id) and the static functions in it; a file with its
 * own .symtab needs none; the search leaves the process's descriptors as
 * they were (elfutils closed descriptor 0 when driven the wrong way).
 * kt_elf_find_irelative: the GOT slot of libc's strlen IFUNC holds, in this
 * very process, the implementation dlsym() gives for libc's strlen.
 * A file with no debug file anywhere is answered without libdwfl's
 * fallback, which loads libdebuginfod and ~40 libraries (40-60 ms).
 * kt_elf_find_got_refs: this program's GOT slot for fcntl, once called,
 * holds fcntl's address.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_debuginfo.h"
#include "kt_elf.h"

struct libc_info {
	char path[4096];
	uintptr_t base;
};

static int find_libc_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct libc_info *l = arg;
	const char *b = strrchr(info->dlpi_name, '/');

	(void)size;
	if (!b || strcmp(b + 1, "libc.so.6"))
		return 0;
	snprintf(l->path, sizeof(l->path), "%s", info->dlpi_name);
	l->base = info->dlpi_addr;
	return 1;
}

static void find_libc(struct libc_info *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(dl_iterate_phdr(find_libc_cb, l), 1);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_libc_debug_file(void **state)
{
	struct libc_info l;
	struct kt_elf *e, *dbg;
	uint64_t addr;
	int before;

	(void)state;
	/* descriptor 0 open, so that closing it by mistake shows in the count */
	if (fcntl(0, F_GETFD) < 0)
		assert_int_equal(open("/dev/null", O_RDONLY), 0);
	find_libc(&l);
	before = count_fds();
	for (int round = 0; round < 2; round++) {
		assert_int_equal(kt_elf_open(l.path, &e), 0);
		assert_false(kt_debuginfo_has_symtab(e)); /* Debian strips it */
		assert_int_not_equal(kt_elf_find_symbol(e, "start_thread", NULL, NULL), 0);
		assert_int_equal(kt_debuginfo_open(e, l.path, &dbg), 0);
		assert_true(kt_debuginfo_has_symtab(dbg));
		assert_int_equal(kt_elf_find_symbol(dbg, "start_thread", &addr, NULL), 0);
		assert_true(addr > 0);
		/* e still reads its own file after the search */
		assert_int_equal(kt_elf_find_symbol(e, "strlen", &addr, NULL), 0);
		kt_elf_close(dbg);
		kt_elf_close(e);
		assert_int_equal(count_fds(), before);
		assert_true(fcntl(0, F_GETFD) >= 0);
	}
}

static bool mapped(const char *name)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

static int find_libz_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	if (!strstr(info->dlpi_name, "/libz.so"))
		return 0;
	snprintf(arg, 4096, "%s", info->dlpi_name);
	return 1;
}

static void test_no_debug_file_no_debuginfod(void **state)
{
	char path[4096] = "";
	struct kt_elf *e, *dbg;

	(void)state;
	unsetenv("DEBUGINFOD_URLS");
	assert_int_equal(dl_iterate_phdr(find_libz_cb, path), 1); /* linked for libelf */
	assert_int_equal(kt_elf_open(path, &e), 0);
	assert_false(kt_debuginfo_has_symtab(e));
	assert_int_equal(kt_debuginfo_open(e, path, &dbg), -KT_ELF_ENOSYMTAB);
	assert_null(dbg);
	assert_false(mapped("libdebuginfod"));
	kt_elf_close(e);
}

static void test_own_symtab_needs_none(void **state)
{
	struct kt_elf *e, *dbg = (struct kt_elf *)1;

	(void)state;
	/* this test program is linked with its .symtab */
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	assert_true(kt_debuginfo_has_symtab(e));
	assert_int_equal(kt_debuginfo_open(e, "/proc/self/exe", &dbg), -KT_ELF_ENOSYMTAB);
	assert_null(dbg);
	kt_elf_close(e);
}

static void test_irelative_slot_holds_the_choice(void **state)
{
	struct libc_info l;
	struct kt_elf *e;
	uint64_t resolver, slot;
	uintptr_t chosen;
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);

	(void)state;
	find_libc(&l);
	assert_int_equal(kt_elf_open(l.path, &e), 0);
	/* .dynsym's strlen is the IFUNC: its value is the resolver */
	assert_int_equal(kt_elf_find_symbol(e, "strlen", &resolver, NULL), 0);
	assert_int_equal(kt_elf_find_irelative(e, resolver, &slot), 0);
	memcpy(&chosen, (const void *)(l.base + slot), sizeof(chosen));
	/* from libc's handle: under ASan the global strlen is its interceptor */
	assert_non_null(libc);
	assert_true(chosen == (uintptr_t)dlsym(libc, "strlen"));
	dlclose(libc);
	assert_true(chosen != l.base + resolver);
	assert_int_equal(kt_elf_find_irelative(e, resolver + 1, &slot), -KT_ELF_ENOSYM);
	kt_elf_close(e);
}

static int exe_base_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uintptr_t *)arg = info->dlpi_addr; /* the first object is the executable */
	return 1;
}

static void test_got_slot_of_a_called_function(void **state)
{
	struct kt_elf *e;
	uint64_t slots[8];
	uintptr_t base = 0, bound;
	int n;

	(void)state;
	assert_true(fcntl(1, F_GETFD) >= -1); /* binds a lazy PLT slot */
	dl_iterate_phdr(exe_base_cb, &base);
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	n = kt_elf_find_got_refs(e, "fcntl", slots, 8);
	assert_true(n >= 1 && n <= 8);
	memcpy(&bound, (const void *)(base + slots[0]), sizeof(bound));
	assert_true(bound == (uintptr_t)dlsym(RTLD_DEFAULT, "fcntl"));
	assert_int_equal(kt_elf_find_got_refs(e, "no_such_function_kt", slots, 8), 0);
	assert_int_equal(kt_elf_find_got_refs(e, "", slots, 8), -KT_ELF_EINVAL);
	kt_elf_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_debug_file),
		cmocka_unit_test(test_own_symtab_needs_none),
		cmocka_unit_test(test_no_debug_file_no_debuginfod),
		cmocka_unit_test(test_irelative_slot_holds_the_choice),
		cmocka_unit_test(test_got_slot_of_a_called_function),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
