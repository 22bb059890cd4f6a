/* SPDX-License-Identifier: MIT */
/*
 * USDT probe notes (.note.stapsdt) of an ELF file, read with libelf: what
 * `kaos-trace list PATH` prints and how kaos-trace tells "an ELF without
 * kaos probes" apart from a wrong path.
 *
 * Each note (type 3, owner "stapsdt") holds the probe address, the link-time
 * address of .stapsdt.base, the semaphore address (0: none) and three
 * strings: provider, name, argument spec ("8@%rdi 8@%rsi ..."). If the file
 * was moved after linking (prelink), the section .stapsdt.base no longer sits
 * at the recorded base: probe and semaphore addresses are shifted by the
 * difference, as SystemTap and libbpf do.
 *
 * Errors are negative KT_ELF_E* codes (kt_elf_strerror()): -KT_ELF_ENOTELF,
 * -KT_ELF_ENONOTES ("no USDT notes"), -KT_ELF_EBADNOTE, ...
 */
#ifndef KT_USDT_H
#define KT_USDT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kt_usdt_probe {
	const char *provider;
	const char *name;
	const char *args;     /* argument spec, "" if none */
	uint64_t addr;	      /* probe site (ELF virtual address, base-adjusted) */
	uint64_t offset;      /* its file offset: the uprobe offset */
	uint64_t base;	      /* .stapsdt.base address recorded in the note */
	uint64_t sema_addr;   /* semaphore (virtual address, base-adjusted); 0: none */
	uint64_t sema_offset; /* its file offset: uprobe ref_ctr_offset; 0: none */
};

struct kt_usdt_list {
	struct kt_usdt_probe *probes; /* in note order */
	size_t n;
};

/* Reads every USDT note of path into *out (free with kt_usdt_list_free). */
int kt_usdt_read(const char *path, struct kt_usdt_list *out);
void kt_usdt_list_free(struct kt_usdt_list *l);

/* Probe sites matching provider and name (either may be NULL: any). */
size_t kt_usdt_count(const struct kt_usdt_list *l, const char *provider, const char *name);
/* The first matching site, or NULL. */
const struct kt_usdt_probe *kt_usdt_find(const struct kt_usdt_list *l, const char *provider,
					 const char *name);

/*
 * Prints one line per site, in note order:
 *   provider:name addr=0x... off=0x... sema=0x... sema_off=0x... args=SPEC
 * (sema=0x0 sema_off=0x0 without a semaphore; args= with nothing if none).
 */
void kt_usdt_print(const struct kt_usdt_list *l, FILE *out);

#endif /* KT_USDT_H */
