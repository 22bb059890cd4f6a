// SPDX-License-Identifier: MIT
/*
 * kt_debuginfo: finds an ELF file's separate debug file (see kt_debuginfo.h).
 * Owns the libdwfl session used for the search; reads no DWARF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "kt_debuginfo.h"

bool kt_debuginfo_has_symtab(struct kt_elf *e)
{
	GElf_Shdr sh;

	return kt_elf_find_section(e, ".symtab", NULL, &sh) == 0 && sh.sh_type == SHT_SYMTAB &&
	       sh.sh_size > 0;
}

/* NULL: libdwfl's default path (":.debug:/usr/lib/debug"). */
static char *debuginfo_path;

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

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
	Dwfl *dwfl = dwfl_begin(&offline_callbacks);
	const char *debugfile = NULL;
	Dwfl_Module *mod;
	char *found = NULL;
	int fd;

	if (!dwfl)
		return NULL;
	fd = dup(e->fd);
	mod = fd < 0 ? NULL : dwfl_report_offline(dwfl, "", path, fd);
	if (!mod) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	dwfl_report_end(dwfl, NULL, NULL);
	if (dwfl_module_getsymtab(mod) > 0 &&
	    dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, &debugfile) && debugfile)
		found = strdup(debugfile);
out:
	dwfl_end(dwfl);
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
	found = find_debug_file(e, path);
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
