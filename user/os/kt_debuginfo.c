// SPDX-License-Identifier: MIT
/*
 * kt_debuginfo: finds an ELF file's separate debug file (see kt_debuginfo.h).
 * Owns the libdwfl session used for the search; reads no DWARF.
 *
 * libdw is opened with dlopen() the first time a file without .symtab is
 * met, not linked: with its compression libraries it cost every start of
 * kaos-trace ~1.8 ms of CPU (measured on this project's VM), and most runs
 * (USDT counting, no stacks) never need it. A static kaos-trace (the VM
 * guests) does not load it: a shared libdw would bring a second C library
 * into the process; there, files without .symtab keep their .dynsym.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "kt_debuginfo.h"

bool kt_debuginfo_has_symtab(struct kt_elf *e)
{
	GElf_Shdr sh;

	return kt_elf_find_section(e, ".symtab", NULL, &sh) == 0 && sh.sh_type == SHT_SYMTAB &&
	       sh.sh_size > 0;
}

/* The libdwfl calls we make, resolved from libdw.so.1 at first use. */
static struct {
	__typeof__(&dwfl_begin) begin;
	__typeof__(&dwfl_report_offline) report_offline;
	__typeof__(&dwfl_report_end) report_end;
	__typeof__(&dwfl_module_getsymtab) getsymtab;
	__typeof__(&dwfl_module_info) info;
	__typeof__(&dwfl_end) end;
	Dwfl_Callbacks callbacks;
	bool ok;
} dw;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;
/* NULL: libdwfl's default path (":.debug:/usr/lib/debug"). */
static char *debuginfo_path;

#define DW_SYM(field, name) (*(void **)&(field) = dlsym(lib, name)) != NULL

static void dw_load(void)
{
	void *lib;

	/* no program interpreter: a static executable (see the top) */
	if (getauxval(AT_BASE) == 0)
		return;
	lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return;
	dw.ok = DW_SYM(dw.begin, "dwfl_begin") &&
		DW_SYM(dw.report_offline, "dwfl_report_offline") &&
		DW_SYM(dw.report_end, "dwfl_report_end") &&
		DW_SYM(dw.getsymtab, "dwfl_module_getsymtab") &&
		DW_SYM(dw.info, "dwfl_module_info") && DW_SYM(dw.end, "dwfl_end") &&
		DW_SYM(dw.callbacks.find_elf, "dwfl_build_id_find_elf") &&
		DW_SYM(dw.callbacks.find_debuginfo, "dwfl_standard_find_debuginfo") &&
		DW_SYM(dw.callbacks.section_address, "dwfl_offline_section_address");
	dw.callbacks.debuginfo_path = &debuginfo_path;
	/*
	 * Kept until exit: its functions are in use (valgrind sees the
	 * loader's blocks as still reachable: tests/valgrind/dlopen.supp).
	 * A dlclose() from a destructor would not help, glibc unloads nothing
	 * while it runs the finalizers.
	 */
	if (!dw.ok)
		dlclose(lib);
}

/* Can the file named by the format be read? */
__attribute__((format(printf, 1, 2))) static bool readable(const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	return n > 0 && (size_t)n < sizeof(p) && access(p, R_OK) == 0;
}

/*
 * Could a debug file of e be found: its build-id file, or its
 * .gnu_debuglink name in one of the places libdwfl looks (the file's
 * directory, its .debug/, /usr/lib/debug/DIR/)? Checked by hand first
 * because libdwfl (0.188), when it finds nothing, loads libdebuginfod and
 * its ~40 libraries (curl, TLS, Kerberos) even without DEBUGINFOD_URLS:
 * 40-60 ms measured here, in every run meeting a file without debug file.
 * With DEBUGINFOD_URLS set the search is libdwfl's alone (it may download).
 */
static bool may_have_debug_file(struct kt_elf *e, const char *path)
{
	uint8_t id[KT_ELF_BUILD_ID_MAX];
	char hex[2 * KT_ELF_BUILD_ID_MAX + 1];
	const char *urls = getenv("DEBUGINFOD_URLS"), *slash, *link;
	Elf_Scn *scn;
	GElf_Shdr sh;
	Elf_Data *d;
	int n, dlen;

	if (urls && *urls)
		return true;
	n = kt_elf_build_id(e, id, sizeof(id));
	if (n > 1) {
		kt_elf_hex(id, (size_t)n, hex);
		if (readable("/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2))
			return true;
	}
	if (kt_elf_find_section(e, ".gnu_debuglink", &scn, &sh) || !(d = elf_getdata(scn, NULL)) ||
	    !d->d_buf || !memchr(d->d_buf, 0, d->d_size))
		return false;
	link = d->d_buf;
	slash = strrchr(path, '/');
	dlen = slash ? (int)(slash - path) : 0;
	if (!slash)
		path = ".", dlen = 1;
	return readable("%.*s/%s", dlen, path, link) ||
	       readable("%.*s/.debug/%s", dlen, path, link) ||
	       readable("/usr/lib/debug%.*s/%s", dlen, path, link);
}

/*
 * The path of e's debug file through libdwfl, or NULL. The module is
 * reported from a duplicate of e's descriptor (libdwfl closes it), so it is
 * the very inode e was opened from; path only places the debuglink search.
 * The search runs inside dwfl_module_getsymtab(), which records the file it
 * found in the module: calling dwfl_standard_find_debuginfo() directly
 * leaves the module's debug descriptor unset and dwfl_end() then closes
 * descriptor 0 (elfutils 0.188).
 */
static char *find_debug_file(struct kt_elf *e, const char *path)
{
	const char *debugfile = NULL;
	Dwfl_Module *mod;
	char *found = NULL;
	Dwfl *dwfl;
	int fd;

	pthread_once(&dw_once, dw_load);
	if (!dw.ok || !(dwfl = dw.begin(&dw.callbacks)))
		return NULL;
	fd = dup(e->fd);
	mod = fd < 0 ? NULL : dw.report_offline(dwfl, "", path, fd);
	if (!mod) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	dw.report_end(dwfl, NULL, NULL);
	if (dw.getsymtab(mod) > 0 && dw.info(mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile) &&
	    debugfile)
		found = strdup(debugfile);
out:
	dw.end(dwfl);
	return found;
}

int kt_debuginfo_open(struct kt_elf *e, const char *path, struct kt_elf **dbg)
{
	char *found;
	int ret;

	*dbg = NULL;
	if (!e || !path)
		return -KT_ELF_EINVAL;
	if (kt_debuginfo_has_symtab(e))
		return -KT_ELF_ENOSYMTAB;
	found = may_have_debug_file(e, path) ? find_debug_file(e, path) : NULL;
	if (!found)
		return -KT_ELF_ENOSYMTAB;
	ret = kt_elf_open(found, dbg);
	free(found);
	if (ret == -KT_ELF_ENOMEM)
		return ret;
	if (ret || !kt_debuginfo_has_symtab(*dbg)) {
		kt_elf_close(*dbg);
		*dbg = NULL;
		return -KT_ELF_ENOSYMTAB;
	}
	return 0;
}
