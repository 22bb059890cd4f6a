/* SPDX-License-Identifier: MIT */
/*
 * kt_usdt: the notes of build/libkaos.so (provider "kaos") and of the test
 * program build/tests/progs/kt_callchain (a PIE with kt_test:tick), checked
 * against the bytes of the files: the probe offset holds the probe's nop,
 * the semaphore address is the semaphore symbol. Plus the prelink
 * (.stapsdt.base) adjustment and the error cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_elf.h"
#include "kt_usdt.h"

static char libkaos[512], callchain[512], tmpdir[64];

static int setup(void **state)
{
	const char *b = getenv("B");

	(void)state;
	if (!b || !*b)
		b = "build";
	snprintf(libkaos, sizeof(libkaos), "%s/libkaos.so", b);
	snprintf(callchain, sizeof(callchain), "%s/tests/progs/kt_callchain", b);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kt_usdt_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* The probe site at a file offset: the combined site (1-byte + 10-byte nop), or PROBE_NOP=1's nop.
 */
static void assert_nop_at(const char *path, uint64_t off)
{
	static const unsigned char nop10[10] = {0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0};
	unsigned char buf[11];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	close(fd);
	assert_int_equal(buf[0], 0x90); /* the note's address is always the 1-byte nop */
#if defined(__x86_64__) && !defined(KAOS_PROBE_NOP1)
	assert_memory_equal(buf + 1, nop10, sizeof(nop10));
#endif
	(void)nop10;
}

static unsigned short read_u16_at(const char *path, uint64_t off)
{
	unsigned short v = 0xffff;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, sizeof(v), (off_t)off), (ssize_t)sizeof(v));
	close(fd);
	return v;
}

/* Every kaos probe: in the notes, 7 register arguments, semaphore = its symbol. */
static void test_libkaos_notes(void **state)
{
	static const char *const names[] = {"send", "recv", "backpressure", "retransmit",
					    "ring_close"};
	struct kt_usdt_list l;
	struct kt_elf *e;
	GElf_Shdr base;

	(void)state;
	assert_int_equal(kt_usdt_read(libkaos, &l), 0);
	assert_true(l.n >= 5);
	assert_int_equal(kt_usdt_count(&l, "kaos", NULL), l.n);
	assert_int_equal(kt_elf_open(libkaos, &e), 0);
	assert_int_equal(kt_elf_find_section(e, ".stapsdt.base", NULL, &base), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char sema_name[64];
		uint64_t sema_sym;
		size_t sites = kt_usdt_count(&l, "kaos", names[i]);

		assert_true(sites >= 1);
		snprintf(sema_name, sizeof(sema_name), "kaos_%s_semaphore", names[i]);
		assert_int_equal(kt_elf_find_symbol(e, sema_name, &sema_sym, NULL), 0);
		for (size_t j = 0; j < l.n; j++) {
			const struct kt_usdt_probe *p = &l.probes[j];
			const char *a = p->args;
			int nargs = 1;

			if (strcmp(p->name, names[i]) != 0)
				continue;
			assert_int_equal(p->sema_addr, sema_sym);
			assert_int_not_equal(p->sema_offset, 0);
			/* Not prelinked: the recorded base is where .stapsdt.base is. */
			assert_int_equal(p->base, base.sh_addr);
			/* The semaphore's bytes in the file: zero until a tracer attaches. */
			assert_int_equal(read_u16_at(libkaos, p->sema_offset), 0);
			assert_nop_at(libkaos, p->offset);
			assert_true(!strncmp(a, "8@%", 3));
			while ((a = strchr(a, ' ')) != NULL) {
				a++;
				assert_true(!strncmp(a, "8@%", 3));
				nargs++;
			}
			assert_int_equal(nargs, 7);
		}
	}
	assert_non_null(kt_usdt_find(&l, "kaos", "send"));
	assert_null(kt_usdt_find(&l, "kaos", "no_such_probe"));
	assert_null(kt_usdt_find(&l, "other", NULL));
	kt_elf_close(e);
	kt_usdt_list_free(&l);
	assert_null(l.probes);
	assert_int_equal(l.n, 0);
}

/* An executable's own probe (PIE): one site, register argument, semaphore in .probes. */
static void test_program_notes(void **state)
{
	struct kt_usdt_list l;
	const struct kt_usdt_probe *p;
	struct kt_elf *e;
	uint64_t sema_sym, fn, fn_size;

	(void)state;
	assert_int_equal(kt_usdt_read(callchain, &l), 0);
	assert_int_equal(l.n, 1);
	p = kt_usdt_find(&l, "kt_test", "tick");
	assert_non_null(p);
	assert_true(!strncmp(p->args, "8@%", 3));
	assert_null(strchr(p->args, ' '));
	assert_int_equal(kt_elf_open(callchain, &e), 0);
	assert_int_equal(e->ehdr.e_type, ET_DYN);
	assert_int_equal(kt_elf_find_symbol(e, "kt_test_tick_semaphore", &sema_sym, NULL), 0);
	assert_int_equal(p->sema_addr, sema_sym);
	/* The site is inside kt_chain_inner. */
	assert_int_equal(kt_elf_find_symbol(e, "kt_chain_inner", &fn, &fn_size), 0);
	assert_true(p->addr >= fn && p->addr < fn + fn_size);
	kt_elf_close(e);
	assert_nop_at(callchain, p->offset);
	kt_usdt_list_free(&l);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/*
 * Prelink moved .stapsdt.base: probe and semaphore addresses shift by the
 * same amount. Simulated by moving the section header's sh_addr in a copy.
 */
static void test_prelink_base_adjustment(void **state)
{
	/* Down, not up: the semaphores sit at the very end of libkaos' data segment. */
	const uint64_t delta = (uint64_t)-0x10;
	struct kt_usdt_list orig, moved;
	struct kt_elf *e;
	Elf_Scn *scn;
	GElf_Shdr shdr;
	char copy[128];
	uint64_t shdr_off, new_addr;
	int fd;

	(void)state;
	assert_int_equal(kt_usdt_read(libkaos, &orig), 0);
	assert_int_equal(kt_elf_open(libkaos, &e), 0);
	assert_int_equal(kt_elf_find_section(e, ".stapsdt.base", &scn, &shdr), 0);
	assert_int_equal(e->ehdr.e_ident[EI_CLASS], ELFCLASS64);
	shdr_off = e->ehdr.e_shoff + elf_ndxscn(scn) * e->ehdr.e_shentsize +
		   offsetof(Elf64_Shdr, sh_addr);
	kt_elf_close(e);

	snprintf(copy, sizeof(copy), "%s/prelinked.so", tmpdir);
	assert_int_equal(copy_file(libkaos, copy), 0);
	fd = open(copy, O_WRONLY);
	assert_true(fd >= 0);
	new_addr = shdr.sh_addr + delta;
	assert_int_equal(pwrite(fd, &new_addr, sizeof(new_addr), (off_t)shdr_off),
			 (ssize_t)sizeof(new_addr));
	close(fd);

	assert_int_equal(kt_usdt_read(copy, &moved), 0);
	assert_int_equal(moved.n, orig.n);
	for (size_t i = 0; i < orig.n; i++) {
		assert_string_equal(moved.probes[i].name, orig.probes[i].name);
		assert_int_equal(moved.probes[i].base, orig.probes[i].base);
		assert_int_equal(moved.probes[i].addr, orig.probes[i].addr + delta);
		assert_int_equal(moved.probes[i].offset, orig.probes[i].offset + delta);
		assert_int_equal(moved.probes[i].sema_addr, orig.probes[i].sema_addr + delta);
		assert_int_equal(moved.probes[i].sema_offset, orig.probes[i].sema_offset + delta);
	}
	kt_usdt_list_free(&moved);
	kt_usdt_list_free(&orig);
	unlink(copy);
}

static void test_print(void **state)
{
	struct kt_usdt_list l;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	char want[256];
	const struct kt_usdt_probe *p;

	(void)state;
	assert_int_equal(kt_usdt_read(callchain, &l), 0);
	p = &l.probes[0];
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	kt_usdt_print(&l, f);
	fclose(f);
	snprintf(want, sizeof(want),
		 "kt_test:tick addr=0x%lx off=0x%lx sema=0x%lx sema_off=0x%lx "
		 "args=%s\n",
		 (unsigned long)p->addr, (unsigned long)p->offset, (unsigned long)p->sema_addr,
		 (unsigned long)p->sema_offset, p->args);
	assert_string_equal(buf, want);
	free(buf);
	kt_usdt_list_free(&l);
}

static void test_errors(void **state)
{
	struct kt_usdt_list l = {(struct kt_usdt_probe *)1, 7};
	char path[128];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/notes.txt", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "provider:name\n", 14), 14);
	close(fd);
	assert_int_equal(kt_usdt_read(path, &l), -KT_ELF_ENOTELF);
	assert_null(l.probes);
	assert_int_equal(l.n, 0);
	unlink(path);

	/* An ELF without probes. */
	assert_int_equal(kt_usdt_read("/bin/true", &l), -KT_ELF_ENONOTES);
	assert_string_equal(kt_elf_strerror(-KT_ELF_ENONOTES), "no USDT notes (.note.stapsdt)");
	assert_int_equal(kt_usdt_read("/nonexistent/kt_usdt", &l), -KT_ELF_EOPEN);
	assert_int_equal(kt_usdt_read(NULL, &l), -KT_ELF_EINVAL);
	assert_int_equal(kt_usdt_count(NULL, NULL, NULL), 0);
	assert_null(kt_usdt_find(NULL, "kaos", "send"));
	kt_usdt_list_free(NULL);
}

/* A note whose strings run past its descriptor is rejected, not read out of bounds. */
static void test_bad_note(void **state)
{
	struct kt_usdt_list l;
	struct kt_elf *e;
	GElf_Shdr shdr;
	char copy[128];
	unsigned char *sec;
	uint32_t descsz;
	int fd;

	(void)state;
	assert_int_equal(kt_elf_open(callchain, &e), 0);
	assert_int_equal(kt_elf_find_section(e, ".note.stapsdt", NULL, &shdr), 0);
	kt_elf_close(e);
	snprintf(copy, sizeof(copy), "%s/badnote", tmpdir);
	assert_int_equal(copy_file(callchain, copy), 0);
	fd = open(copy, O_RDWR);
	assert_true(fd >= 0);
	sec = malloc(shdr.sh_size);
	assert_non_null(sec);
	assert_int_equal(pread(fd, sec, shdr.sh_size, (off_t)shdr.sh_offset),
			 (ssize_t)shdr.sh_size);
	/* Cut the descriptor to the three addresses: no room for the strings. */
	descsz = 24;
	memcpy(sec + 4, &descsz, 4);
	assert_int_equal(pwrite(fd, sec, shdr.sh_size, (off_t)shdr.sh_offset),
			 (ssize_t)shdr.sh_size);
	close(fd);
	free(sec);
	assert_int_equal(kt_usdt_read(copy, &l), -KT_ELF_EBADNOTE);
	assert_null(l.probes);
	unlink(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libkaos_notes),
		cmocka_unit_test(test_program_notes),
		cmocka_unit_test(test_prelink_base_adjustment),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_note),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
