/* SPDX-License-Identifier: MIT */
/*
 * Small libelf helpers shared by the symbolizer (kt_sym), the USDT note
 * reader (kt_usdt) and kaos-trace itself: open an ELF file defensively,
 * read its build-id, walk its sections and symbols, look a symbol up by
 * name and translate between virtual addresses and file offsets.
 *
 * Files are read with ELF_C_READ (pread on demand), not mmap: a file
 * truncated under us then yields an error instead of SIGBUS.
 *
 * All functions return 0 (or a count) on success and a negative KT_ELF_E*
 * code on failure; kt_elf_strerror() names it.
 */
#ifndef KT_ELF_H
#define KT_ELF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <gelf.h>

enum kt_elf_err {
	KT_ELF_OK = 0,
	KT_ELF_EINVAL = 1,	/* bad argument */
	KT_ELF_EOPEN = 2,	/* cannot open/stat the file (errno is kept) */
	KT_ELF_ENOTREG = 3,	/* not a regular file */
	KT_ELF_ENOTELF = 4,	/* not an ELF file */
	KT_ELF_ETRUNC = 5,	/* truncated or malformed ELF */
	KT_ELF_ENOMEM = 6,	/* allocation failed */
	KT_ELF_ENOBUILDID = 7,	/* no NT_GNU_BUILD_ID note */
	KT_ELF_ENOSYMTAB = 8,	/* neither .symtab nor .dynsym */
	KT_ELF_ENOSYM = 9,	/* no such (defined) symbol */
	KT_ELF_ENOSECTION = 10, /* no such section */
	KT_ELF_ENOADDR = 11,	/* address/offset not covered by any PT_LOAD */
	KT_ELF_ENONOTES = 12,	/* no USDT notes (.note.stapsdt) */
	KT_ELF_EBADNOTE = 13,	/* malformed USDT note */
};

const char *kt_elf_strerror(int err);

#define KT_ELF_BUILD_ID_MAX 64 /* bytes; GNU ld emits 20 (sha1) */

/* An open ELF file. Fields are read-only for users. */
struct kt_elf {
	int fd;
	Elf *elf;
	struct stat st; /* fstat of the opened file (cache keys: dev, ino, mtime) */
	GElf_Ehdr ehdr;
	size_t shstrndx;
	size_t phnum;
};

/*
 * Opens path read-only. Rejects non-regular files (FIFOs, directories) and
 * anything whose ELF/section/program headers do not fit in the file.
 */
int kt_elf_open(const char *path, struct kt_elf **out);
void kt_elf_close(struct kt_elf *e);

/* Copies the GNU build-id into buf (cap bytes); returns its length. */
int kt_elf_build_id(struct kt_elf *e, uint8_t *buf, size_t cap);

/*
 * The running program's own GNU build-id (from its loaded notes: no file
 * read), into buf; its length, or a negative error.
 */
int kt_elf_self_build_id(uint8_t *buf, size_t cap);

/* Formats a build-id as lowercase hex into out (2 * len + 1 bytes). */
void kt_elf_hex(const uint8_t *id, size_t len, char *out);

/*
 * Calls cb for every section in order; a non-zero return stops the walk and
 * is returned. name is "" if the section has no valid name.
 */
typedef int (*kt_elf_section_fn)(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr,
				 const char *name, void *ctx);
int kt_elf_for_each_section(struct kt_elf *e, kt_elf_section_fn cb, void *ctx);

/* First section called name: 0 with scn and shdr set, or -KT_ELF_ENOSECTION. */
int kt_elf_find_section(struct kt_elf *e, const char *name, Elf_Scn **scn, GElf_Shdr *shdr);

/*
 * Calls cb for every defined symbol of .symtab, or of .dynsym if there is
 * no (non-empty) .symtab: the case of Debian's stripped libraries.
 * Returns the number of symbols visited, a non-zero cb return, or
 * -KT_ELF_ENOSYMTAB. *table (may be NULL) is set to SHT_SYMTAB/SHT_DYNSYM.
 */
typedef int (*kt_elf_symbol_fn)(const char *name, const GElf_Sym *sym, void *ctx);
int kt_elf_for_each_symbol(struct kt_elf *e, kt_elf_symbol_fn cb, void *ctx, int *table);

/*
 * Looks a defined symbol up by name in .symtab, then .dynsym. A versioned
 * .symtab name ("foo@@VER") matches "foo". addr/size may be NULL.
 */
int kt_elf_find_symbol(struct kt_elf *e, const char *name, uint64_t *addr, uint64_t *size);

/* Copies PT_LOAD program headers into segs (up to cap); returns how many exist. */
int kt_elf_load_segments(struct kt_elf *e, GElf_Phdr *segs, size_t cap);

/*
 * Virtual address -> file offset through the PT_LOAD that holds vaddr
 * ([p_vaddr, p_vaddr + p_memsz): a .bss address gets the offset the kernel
 * would compute for it, as uprobe ref_ctr_offset expects).
 */
int kt_elf_vaddr_to_offset(struct kt_elf *e, uint64_t vaddr, uint64_t *off);

/*
 * File offset -> virtual address over the given PT_LOAD headers: the
 * segment holding off (its page-aligned start included, as the kernel maps
 * whole pages), preferring executable segments. 0 or -KT_ELF_ENOADDR.
 */
int kt_elf_segments_offset_to_vaddr(const GElf_Phdr *segs, size_t n, uint64_t off,
				    uint64_t page_size, uint64_t *vaddr);

/*
 * Resolves the DT_NEEDED entry of path whose name starts with prefix (e.g.
 * "libkaos.so") the way the dynamic linker would: DT_RPATH (without
 * DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH ($ORIGIN expanded), then the
 * standard directories. Writes the path found into out. 0 or -KT_ELF_E*.
 */
int kt_elf_find_needed(const char *path, const char *prefix, char *out, size_t outlen);

/* Copies the DT_SONAME of a shared object into out. 0, -KT_ELF_ENOSECTION or -KT_ELF_ENOSYM. */
int kt_elf_soname(struct kt_elf *e, char *out, size_t outlen);

/*
 * The GOT slot (virtual address) that an R_*_IRELATIVE relocation with
 * addend resolver fills: the dynamic linker calls the IFUNC resolver at
 * load and stores the implementation it returns there, so the slot read in
 * a live process tells which implementation that process uses (x86-64,
 * aarch64). 0, -KT_ELF_ENOSYM (no such relocation: the object never calls
 * the IFUNC itself) or -KT_ELF_ETRUNC.
 */
int kt_elf_find_irelative(struct kt_elf *e, uint64_t resolver, uint64_t *slot);

/*
 * The GOT slots (virtual addresses) that R_*_JUMP_SLOT and R_*_GLOB_DAT
 * relocations against the dynamic symbol name ("name" or "name@VER") fill:
 * where this object keeps the address of a function another object defines.
 * Copies up to cap into slots; returns how many there are, or -KT_ELF_E*.
 */
int kt_elf_find_got_refs(struct kt_elf *e, const char *name, uint64_t *slots, size_t cap);

#endif /* KT_ELF_H */
