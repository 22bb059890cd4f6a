/* SPDX-License-Identifier: MIT */
/* USDT (.note.stapsdt) reader (kt_usdt.h). */
#include "kt_usdt.h"
#include "kt_elf.h"
#include "kt_array.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define NT_STAPSDT 3

/* Reads an address of the file's class and byte order. */
static uint64_t read_addr(const struct kt_elf *e, const unsigned char *p)
{
	size_t len = e->ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	uint64_t v = 0;

	if (e->ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		for (size_t i = 0; i < len; i++)
			v = v << 8 | p[i];
	else
		for (size_t i = len; i-- > 0;)
			v = v << 8 | p[i];
	return v;
}

/* The section holding a semaphore (libbpf's way to its file offset), else the segments. */
static int sema_offset(struct kt_elf *e, uint64_t sema, uint64_t *off)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC) ||
		    shdr.sh_type == SHT_NOBITS)
			continue;
		if (sema >= shdr.sh_addr && sema - shdr.sh_addr < shdr.sh_size) {
			*off = sema - shdr.sh_addr + shdr.sh_offset;
			return 0;
		}
	}
	return kt_elf_vaddr_to_offset(e, sema, off);
}

struct usdt_ctx {
	struct kt_usdt_list *l;
	size_t cap;
	int have_base;
	uint64_t base_addr; /* address of .stapsdt.base in this file */
	int err;
};

/* Parses one stapsdt note descriptor into a new list entry. */
static int add_probe(struct kt_elf *e, struct usdt_ctx *c, const unsigned char *desc, size_t len)
{
	size_t asz = e->ehdr.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	const char *s, *end, *strs[3];
	struct kt_usdt_probe *p;
	size_t slen;
	char *copy;
	uint64_t delta = 0;

	if (len < 3 * asz + 3)
		return -KT_ELF_EBADNOTE;
	s = (const char *)desc + 3 * asz;
	end = (const char *)desc + len;
	for (int i = 0; i < 3; i++) {
		const char *nul = memchr(s, '\0', (size_t)(end - s));

		if (!nul)
			return -KT_ELF_EBADNOTE;
		strs[i] = s;
		s = nul + 1;
	}
	if (!*strs[0] || !*strs[1])
		return -KT_ELF_EBADNOTE;
	if (kt_array_reserve(c->l->probes, c->cap, c->l->n + 1))
		return -KT_ELF_ENOMEM;
	p = &c->l->probes[c->l->n];
	memset(p, 0, sizeof(*p));
	p->addr = read_addr(e, desc);
	p->base = read_addr(e, desc + asz);
	p->sema_addr = read_addr(e, desc + 2 * asz);
	/* Prelinked: everything moved by .stapsdt.base's displacement. */
	if (c->have_base && p->base)
		delta = c->base_addr - p->base;
	p->addr += delta;
	if (p->sema_addr)
		p->sema_addr += delta;
	if (kt_elf_vaddr_to_offset(e, p->addr, &p->offset) != 0)
		return -KT_ELF_EBADNOTE;
	if (p->sema_addr && sema_offset(e, p->sema_addr, &p->sema_offset) != 0)
		return -KT_ELF_EBADNOTE;
	/* One allocation for the three strings; provider points at its start. */
	slen = (size_t)(s - strs[0]);
	copy = malloc(slen);
	if (!copy)
		return -KT_ELF_ENOMEM;
	memcpy(copy, strs[0], slen);
	p->provider = copy;
	p->name = copy + (strs[1] - strs[0]);
	p->args = copy + (strs[2] - strs[0]);
	c->l->n++;
	return 0;
}

static int notes_cb(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, const char *name,
		    void *arg)
{
	struct usdt_ctx *c = arg;
	Elf_Data *data;
	GElf_Nhdr nh;
	size_t off = 0, next, name_off, desc_off;

	if (shdr->sh_type != SHT_NOTE || strcmp(name, ".note.stapsdt") != 0)
		return 0;
	if (shdr->sh_offset > (uint64_t)e->st.st_size ||
	    shdr->sh_size > (uint64_t)e->st.st_size - shdr->sh_offset) {
		c->err = -KT_ELF_ETRUNC;
		return 1;
	}
	data = elf_getdata(scn, NULL);
	if (!data) {
		c->err = -KT_ELF_EBADNOTE;
		return 1;
	}
	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *owner = (const char *)data->d_buf + name_off;

		if (nh.n_type == NT_STAPSDT && nh.n_namesz == 8 && !memcmp(owner, "stapsdt", 8)) {
			c->err = add_probe(e, c, (const unsigned char *)data->d_buf + desc_off,
					   nh.n_descsz);
			if (c->err)
				return 1;
		}
		off = next;
	}
	/* gelf_getnote stops silently on a bad header: all but padding must parse. */
	if (off > data->d_size || data->d_size - off >= sizeof(Elf32_Nhdr)) {
		c->err = -KT_ELF_EBADNOTE;
		return 1;
	}
	return 0;
}

void kt_usdt_list_free(struct kt_usdt_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->probes[i].provider);
	free(l->probes);
	l->probes = NULL;
	l->n = 0;
}

int kt_usdt_read(const char *path, struct kt_usdt_list *out)
{
	struct kt_elf *e;
	struct usdt_ctx c = {.l = out};
	GElf_Shdr base;
	int ret;

	if (!path || !out)
		return -KT_ELF_EINVAL;
	out->probes = NULL;
	out->n = 0;
	ret = kt_elf_open(path, &e);
	if (ret < 0)
		return ret;
	if (kt_elf_find_section(e, ".stapsdt.base", NULL, &base) == 0) {
		c.have_base = 1;
		c.base_addr = base.sh_addr;
	}
	ret = kt_elf_for_each_section(e, notes_cb, &c);
	kt_elf_close(e);
	if (ret < 0)
		c.err = ret;
	if (!c.err && out->n == 0)
		c.err = -KT_ELF_ENONOTES;
	if (c.err) {
		kt_usdt_list_free(out);
		return c.err;
	}
	return 0;
}

static int probe_matches(const struct kt_usdt_probe *p, const char *provider, const char *name)
{
	return (!provider || !strcmp(p->provider, provider)) && (!name || !strcmp(p->name, name));
}

size_t kt_usdt_count(const struct kt_usdt_list *l, const char *provider, const char *name)
{
	size_t n = 0;

	if (!l)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		n += probe_matches(&l->probes[i], provider, name) ? 1 : 0;
	return n;
}

const struct kt_usdt_probe *kt_usdt_find(const struct kt_usdt_list *l, const char *provider,
					 const char *name)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (probe_matches(&l->probes[i], provider, name))
			return &l->probes[i];
	return NULL;
}

void kt_usdt_print(const struct kt_usdt_list *l, FILE *out)
{
	if (!l || !out)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct kt_usdt_probe *p = &l->probes[i];

		fprintf(out,
			"%s:%s addr=0x%" PRIx64 " off=0x%" PRIx64 " sema=0x%" PRIx64
			" sema_off=0x%" PRIx64 " args=%s\n",
			p->provider, p->name, p->addr, p->offset, p->sema_addr, p->sema_offset,
			p->args);
	}
}
