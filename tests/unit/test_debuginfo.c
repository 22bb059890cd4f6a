/* SPDX-License-Identifier: MIT */
/*
 * kt_debuginfo: Debian's stripped libc finds its separate debug file
 * (libc6-dbg, by build-id) and the static functions in it; a file with its
 * own .symtab needs none; the search leaves the process's descriptors as
 * they were (elfutils closed descriptor 0 when driven the wrong way).
 * kt_elf_find_irelative: the GOT slot of libc's strlen IFUNC holds, in this
 * very process, the implementation that a pointer to strlen points to.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../user/kt_debuginfo.h"
#include "../../user/kt_elf.h"

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

static size_t (*volatile strlen_ptr)(const char *) = strlen;

static void test_irelative_slot_holds_the_choice(void **state)
{
	struct libc_info l;
	struct kt_elf *e;
	uint64_t resolver, slot;
	uintptr_t chosen;

	(void)state;
	find_libc(&l);
	assert_int_equal(kt_elf_open(l.path, &e), 0);
	/* .dynsym's strlen is the IFUNC: its value is the resolver */
	assert_int_equal(kt_elf_find_symbol(e, "strlen", &resolver, NULL), 0);
	assert_int_equal(kt_elf_find_irelative(e, resolver, &slot), 0);
	memcpy(&chosen, (const void *)(l.base + slot), sizeof(chosen));
	assert_true(chosen == (uintptr_t)strlen_ptr);
	assert_true(chosen != l.base + resolver);
	assert_int_equal(kt_elf_find_irelative(e, resolver + 1, &slot), -KT_ELF_ENOSYM);
	kt_elf_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_debug_file),
		cmocka_unit_test(test_own_symtab_needs_none),
		cmocka_unit_test(test_irelative_slot_holds_the_choice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
