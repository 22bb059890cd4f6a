/* SPDX-License-Identifier: MIT */
/* kt_elf: bad files, build-id, sections, symbols and address translation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaos/probes.h"
#include "kt_elf.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kt_elf_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* Writes len bytes of data into tmpdir/name; returns the path (static buffer). */
static const char *write_tmp(const char *name, const void *data, size_t len)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void *read_self(size_t *len)
{
	int fd = open("/proc/self/exe", O_RDONLY);
	struct stat st;
	void *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void test_bad_files(void **state)
{
	struct kt_elf *e = (struct kt_elf *)1;
	const char *path;
	size_t len;
	unsigned char *self;
	char fifo[128];

	(void)state;
	path = write_tmp("text.txt", "hello, not an ELF\n", 18);
	assert_int_equal(kt_elf_open(path, &e), -KT_ELF_ENOTELF);
	assert_null(e);
	assert_string_equal(kt_elf_strerror(-KT_ELF_ENOTELF), "not an ELF file");
	unlink(path);

	path = write_tmp("empty", "", 0);
	assert_int_equal(kt_elf_open(path, &e), -KT_ELF_ENOTELF);
	unlink(path);

	/* A real ELF cut after its first 200 bytes: headers point past the end. */
	self = read_self(&len);
	path = write_tmp("truncated", self, 200);
	assert_int_equal(kt_elf_open(path, &e), -KT_ELF_ETRUNC);
	unlink(path);
	/* Only the magic. */
	path = write_tmp("magic", self, 4);
	assert_int_equal(kt_elf_open(path, &e), -KT_ELF_ENOTELF);
	unlink(path);
	/* Whole file but a section header table offset beyond the end. */
	((Elf64_Ehdr *)self)->e_shoff = (Elf64_Off)len;
	path = write_tmp("bad_shoff", self, len);
	assert_int_equal(kt_elf_open(path, &e), -KT_ELF_ETRUNC);
	unlink(path);
	free(self);

	assert_int_equal(kt_elf_open(tmpdir, &e), -KT_ELF_ENOTREG);
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(kt_elf_open(fifo, &e), -KT_ELF_ENOTREG); /* and no hang */
	unlink(fifo);

	errno = 0;
	assert_int_equal(kt_elf_open("/nonexistent/kt_elf", &e), -KT_ELF_EOPEN);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(kt_elf_open(NULL, &e), -KT_ELF_EINVAL);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int i = 0; i <= KT_ELF_EBADNOTE; i++) {
		assert_string_not_equal(kt_elf_strerror(i), "unknown error");
		assert_string_equal(kt_elf_strerror(i), kt_elf_strerror(-i));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(kt_elf_strerror(i), kt_elf_strerror(j));
	}
	assert_string_equal(kt_elf_strerror(9999), "unknown error");
}

struct mem_id {
	uint8_t id[KT_ELF_BUILD_ID_MAX];
	size_t len;
};

/* The build-id of the main program read from its PT_NOTE in memory (independent of libelf). */
static int phdr_build_id_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct mem_id *m = arg;

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*nh);
			const char *desc = name + ((nh->n_namesz + 3) & ~3u);

			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4)) {
				m->len = nh->n_descsz;
				memcpy(m->id, desc, nh->n_descsz);
				return 1;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
	return 1;
}

static void test_build_id(void **state)
{
	struct kt_elf *e;
	struct mem_id mem = {.len = 0};
	uint8_t id[KT_ELF_BUILD_ID_MAX];
	char hex[2 * KT_ELF_BUILD_ID_MAX + 1];
	int len;

	(void)state;
	dl_iterate_phdr(phdr_build_id_cb, &mem);
	assert_int_equal(mem.len, 20); /* GNU ld's sha1 */
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	len = kt_elf_build_id(e, id, sizeof(id));
	assert_int_equal(len, 20);
	assert_memory_equal(id, mem.id, 20);
	assert_int_equal(kt_elf_build_id(e, id, 4), -KT_ELF_EINVAL);
	kt_elf_close(e);
	/* the running program's, from its loaded notes: the file's */
	memset(id, 0, sizeof(id));
	assert_int_equal(kt_elf_self_build_id(id, sizeof(id)), 20);
	assert_memory_equal(id, mem.id, 20);
	assert_true(kt_elf_self_build_id(id, 4) < 0); /* does not fit */

	kt_elf_hex((const uint8_t *)"\x01\xab\xff", 3, hex);
	assert_string_equal(hex, "01abff");
}

struct section_seen {
	int text, build_id, total;
};

static int section_cb(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, const char *name,
		      void *arg)
{
	struct section_seen *seen = arg;

	(void)e;
	(void)scn;
	seen->total++;
	if (!strcmp(name, ".text") && shdr->sh_type == SHT_PROGBITS &&
	    (shdr->sh_flags & SHF_EXECINSTR))
		seen->text++;
	if (!strcmp(name, ".note.gnu.build-id") && shdr->sh_type == SHT_NOTE)
		seen->build_id++;
	return 0;
}

static int stop_at_third_cb(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, const char *name,
			    void *arg)
{
	(void)e;
	(void)scn;
	(void)shdr;
	(void)name;
	return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_sections(void **state)
{
	struct kt_elf *e;
	struct section_seen seen = {0};
	GElf_Shdr shdr;
	Elf_Scn *scn;
	int calls = 0;

	(void)state;
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	assert_int_equal(kt_elf_for_each_section(e, section_cb, &seen), 0);
	assert_int_equal(seen.text, 1);
	assert_int_equal(seen.build_id, 1);
	assert_true(seen.total > 20);
	assert_int_equal(kt_elf_for_each_section(e, stop_at_third_cb, &calls), 42);
	assert_int_equal(calls, 3);
	assert_int_equal(kt_elf_find_section(e, ".probes", &scn, &shdr), 0);
	assert_non_null(scn);
	assert_true(shdr.sh_size >= 5 * sizeof(unsigned short)); /* the five kaos semaphores */
	assert_int_equal(kt_elf_find_section(e, ".no.such.section", &scn, &shdr),
			 -KT_ELF_ENOSECTION);
	kt_elf_close(e);
}

/* kaos_probe_control: symbol -> file offset -> the bytes of the initialised struct. */
static void test_symbol_and_offsets(void **state)
{
	struct kt_elf *e;
	uint64_t vaddr, size, off, back;
	struct kaos_probe_control ctl;
	GElf_Phdr segs[16];
	int nsegs;

	(void)state;
	assert_int_equal(kaos_probe_control.version, KAOS_PROBE_CONTROL_VERSION);
	assert_int_equal(kt_elf_open("/proc/self/exe", &e), 0);
	assert_int_equal(kt_elf_find_symbol(e, KAOS_PROBE_CONTROL_SYMBOL, &vaddr, &size), 0);
	assert_int_equal(size, sizeof(ctl));
	assert_int_equal(kt_elf_vaddr_to_offset(e, vaddr, &off), 0);
	assert_int_equal(pread(e->fd, &ctl, sizeof(ctl), (off_t)off), (ssize_t)sizeof(ctl));
	assert_int_equal(ctl.magic, KAOS_PROBE_CONTROL_MAGIC);
	assert_int_equal(ctl.version, KAOS_PROBE_CONTROL_VERSION);

	nsegs = kt_elf_load_segments(e, segs, 16);
	assert_true(nsegs >= 2 && nsegs <= 16);
	assert_int_equal(kt_elf_load_segments(e, NULL, 0), nsegs);
	assert_int_equal(kt_elf_segments_offset_to_vaddr(segs, (size_t)nsegs, off, 4096, &back), 0);
	assert_int_equal(back, vaddr);
	assert_int_equal(
		kt_elf_segments_offset_to_vaddr(segs, (size_t)nsegs, 1ull << 40, 4096, &back),
		-KT_ELF_ENOADDR);
	assert_int_equal(kt_elf_segments_offset_to_vaddr(segs, (size_t)nsegs, off, 3000, &back),
			 -KT_ELF_EINVAL);
	assert_int_equal(kt_elf_vaddr_to_offset(e, 1ull << 46, &off), -KT_ELF_ENOADDR);

	assert_int_equal(kt_elf_find_symbol(e, "kt_no_such_symbol_anywhere", NULL, NULL),
			 -KT_ELF_ENOSYM);
	/* A prefix of a real name is not a match. */
	assert_int_equal(kt_elf_find_symbol(e, "kaos_probe_contro", NULL, NULL), -KT_ELF_ENOSYM);
	/* Undefined references (resolved in libc) are not definitions. */
	assert_int_equal(kt_elf_find_symbol(e, "pread", NULL, NULL), -KT_ELF_ENOSYM);
	kt_elf_close(e);
}

struct versions_seen {
	int compat_memcpy; /* memcpy@GLIBC_2.2.5, the FUNC kept for old binaries */
	int plain_memcpy;  /* memcpy, the default version (an IFUNC) */
	int other;
};

static int versions_cb(const char *name, const GElf_Sym *sym, void *arg)
{
	struct versions_seen *v = arg;

	if (!strcmp(name, "memcpy@GLIBC_2.2.5"))
		v->compat_memcpy += GELF_ST_TYPE(sym->st_info) == STT_FUNC;
	else if (!strcmp(name, "memcpy"))
		v->plain_memcpy += GELF_ST_TYPE(sym->st_info) == STT_GNU_IFUNC;
	else
		v->other++;
	return 0;
}

static int libc_path_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *b = strrchr(info->dlpi_name, '/');

	(void)size;
	if (!b || strcmp(b + 1, "libc.so.6"))
		return 0;
	snprintf(arg, 4096, "%s", info->dlpi_name);
	return 1;
}

/* .dynsym names a hidden (non-default) version "name@VERSION", as .symtab does. */
static void test_dynsym_compat_versions(void **state)
{
	struct versions_seen v = {0};
	char path[4096] = "";
	struct kt_elf *e;
	int table = 0;

	(void)state;
	assert_int_equal(dl_iterate_phdr(libc_path_cb, path), 1);
	assert_int_equal(kt_elf_open(path, &e), 0);
	assert_true(kt_elf_for_each_symbol(e, versions_cb, &v, &table) > 0);
	assert_int_equal(table, SHT_DYNSYM); /* Debian strips libc's .symtab */
	assert_true(v.other > 1000);
#if defined(__x86_64__)
	/* x86-64's memcpy changed in glibc 2.14; the old one stays for old binaries */
	assert_int_equal(v.compat_memcpy, 1);
	assert_int_equal(v.plain_memcpy, 1);
#endif
	kt_elf_close(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dynsym_compat_versions),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_symbol_and_offsets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
