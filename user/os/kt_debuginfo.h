/* SPDX-License-Identifier: MIT */
/*
 * kt_debuginfo: the symbols of an ELF file that carries none of its own.
 *
 * Distributions strip .symtab from what they ship and keep it in a separate
 * debug file (Debian's -dbgsym and libc6-dbg packages): the function names
 * of static functions, of IFUNC implementations (__memmove_avx_unaligned_erms)
 * and of libc's thread roots (start_thread, clone3) live only there. The
 * file is found the way gdb and elfutils find it: by the GNU build-id under
 * /usr/lib/debug/.build-id/xx/yyyy.debug, or by the .gnu_debuglink name next
 * to the file, in its .debug/ directory or under /usr/lib/debug/DIR; the
 * search is elfutils' libdwfl (dwfl_standard_find_debuginfo), which also
 * checks that the build-id (or the debuglink CRC) matches. With
 * DEBUGINFOD_URLS set in the environment libdwfl may also download the file
 * (elfutils' documented behaviour): unset it for a tracer that must not wait
 * on the network.
 *
 * A debug file made by objcopy --only-keep-debug keeps the section and
 * program headers of its original, so its symbol values are the original's
 * virtual addresses; file offsets must still come from the original (the
 * debug file's code sections are SHT_NOBITS).
 */
#ifndef KT_DEBUGINFO_H
#define KT_DEBUGINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "kt_elf.h"

/* Does e have a non-empty .symtab of its own? */
bool kt_debuginfo_has_symtab(struct kt_elf *e);

/*
 * Opens the separate debug file of e when e has no .symtab and the debug
 * file has one. path names e as the process or user knows it: its
 * directory is where a .gnu_debuglink name is looked up (e may have been
 * opened through /proc/PID/map_files). 0 with *dbg (close with
 * kt_elf_close), -KT_ELF_ENOSYMTAB if there is nothing better than e's
 * own symbols (it has .symtab, or no debug file with one was found), or
 * -KT_ELF_ENOMEM.
 */
int kt_debuginfo_open(struct kt_elf *e, const char *path, struct kt_elf **dbg);

#endif /* KT_DEBUGINFO_H */
