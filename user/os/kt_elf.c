/* SPDX-License-Identifier: MIT */
/* libelf helpers (kt_elf.h). */
#include "kt_elf.h"

#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *kt_elf_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case KT_ELF_OK:
		return "success";
	case KT_ELF_EINVAL:
		return "invalid argument";
	case KT_ELF_EOPEN:
		return "cannot open file";
	case KT_ELF_ENOTREG:
		return "not a regular file";
	case KT_ELF_ENOTELF:
		return "not an ELF file";
	case KT_ELF_ETRUNC:
		return "truncated or malformed ELF file";
	case KT_ELF_ENOMEM:
		return "out of memory";
	case KT_ELF_ENOBUILDID:
		return "no GNU build-id note";
	case KT_ELF_ENOSYMTAB:
		return "no symbol table (.symtab or .dynsym)";
	case KT_ELF_ENOSYM:
		return "symbol not found";
	case KT_ELF_ENOSECTION:
		return "section not found";
	case KT_ELF_ENOADDR:
		return "address not in any loadable segment";
	case KT_ELF_ENONOTES:
		return "no USDT notes (.note.stapsdt)";
	case KT_ELF_EBADNOTE:
		return "malformed USDT note";
	default:
		return "unknown error";
	}
}

/* Does [off, off + len) lie inside a file of size fsize? (overflow-safe) */
static int in_file(uint64_t off, uint64_t len, uint64_t fsize)
{
	return off <= fsize && len <= fsize - off;
}

/*
 * Reads the ELF and program headers of the open file e->fd, checking that
 * the section and program header tables lie inside the file: 0 or
 * -KT_ELF_ETRUNC.
 */
static int elf_read_headers(struct kt_elf *e)
{
	size_t shnum;

	e->elf = elf_begin(e->fd, ELF_C_READ, NULL);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &e->ehdr))
		return -KT_ELF_ETRUNC;
	if (elf_getshdrnum(e->elf, &shnum) != 0 || elf_getphdrnum(e->elf, &e->phnum) != 0)
		return -KT_ELF_ETRUNC;
	/*
	 * libelf quietly reports 0 sections when the table lies beyond the end
	 * of the file: check the header's own figures too.
	 */
	if (e->ehdr.e_shoff != 0 && e->ehdr.e_shnum > shnum)
		shnum = e->ehdr.e_shnum;
	if (e->ehdr.e_shoff != 0 && shnum == 0)
		shnum = 1; /* extended numbering: entry 0 holds the count */
	if (e->ehdr.e_phnum > e->phnum && e->ehdr.e_phnum != PN_XNUM)
		e->phnum = e->ehdr.e_phnum;
	if ((shnum > 0 && e->ehdr.e_shentsize != gelf_fsize(e->elf, ELF_T_SHDR, 1, EV_CURRENT)) ||
	    (e->phnum > 0 && e->ehdr.e_phentsize != gelf_fsize(e->elf, ELF_T_PHDR, 1, EV_CURRENT)))
		return -KT_ELF_ETRUNC;
	if (shnum > 0 && (!in_file(e->ehdr.e_shoff, (uint64_t)shnum * e->ehdr.e_shentsize,
				   (uint64_t)e->st.st_size) ||
			  elf_getshdrstrndx(e->elf, &e->shstrndx) != 0))
		return -KT_ELF_ETRUNC;
	if (e->phnum > 0 && !in_file(e->ehdr.e_phoff, (uint64_t)e->phnum * e->ehdr.e_phentsize,
				     (uint64_t)e->st.st_size))
		return -KT_ELF_ETRUNC;
	return 0;
}

int kt_elf_open(const char *path, struct kt_elf **out)
{
	struct kt_elf *e;
	unsigned char ident[EI_NIDENT];
	int err, saved_errno;

	if (!path || !out)
		return -KT_ELF_EINVAL;
	*out = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -KT_ELF_ENOTELF;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -KT_ELF_ENOMEM;
	/* O_NONBLOCK: opening a FIFO must not hang; it is rejected below. */
	e->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (e->fd < 0) {
		err = -KT_ELF_EOPEN;
		goto fail_errno;
	}
	if (fstat(e->fd, &e->st) < 0) {
		err = -KT_ELF_EOPEN;
		goto fail_errno;
	}
	if (!S_ISREG(e->st.st_mode)) {
		err = -KT_ELF_ENOTREG;
		goto fail;
	}
	/* Decide "not ELF" from the magic ourselves: libelf calls anything ELF_K_NONE. */
	if (pread(e->fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG) != 0) {
		err = -KT_ELF_ENOTELF;
		goto fail;
	}
	err = elf_read_headers(e);
	if (err)
		goto fail;
	*out = e;
	return 0;

fail_errno:
	saved_errno = errno;
	kt_elf_close(e);
	errno = saved_errno;
	return err;
fail:
	kt_elf_close(e);
	return err;
}

void kt_elf_close(struct kt_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

/* Section data, refusing sections that claim bytes beyond the end of the file. */
static Elf_Data *section_data(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr)
{
	if (shdr->sh_type != SHT_NOBITS &&
	    !in_file(shdr->sh_offset, shdr->sh_size, (uint64_t)e->st.st_size))
		return NULL;
	return elf_getdata(scn, NULL);
}

/* Searches a note buffer for the GNU build-id. */
static int build_id_in_notes(Elf_Data *data, uint8_t *buf, size_t cap)
{
	GElf_Nhdr nh;
	size_t off = 0, next, name_off, desc_off;

	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)data->d_buf + name_off;

		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(name, "GNU", 4) &&
		    nh.n_descsz > 0) {
			if (nh.n_descsz > cap)
				return -KT_ELF_EINVAL;
			memcpy(buf, (const char *)data->d_buf + desc_off, nh.n_descsz);
			return (int)nh.n_descsz;
		}
		off = next;
	}
	return -KT_ELF_ENOBUILDID;
}

int kt_elf_build_id(struct kt_elf *e, uint8_t *buf, size_t cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	int ret;

	if (!e || !buf)
		return -KT_ELF_EINVAL;
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		data = section_data(e, scn, &shdr);
		if (!data)
			continue;
		ret = build_id_in_notes(data, buf, cap);
		if (ret != -KT_ELF_ENOBUILDID)
			return ret;
	}
	/* No section headers (or no note section): try the PT_NOTE segments. */
	for (size_t i = 0; i < e->phnum; i++) {
		GElf_Phdr ph;
		Elf_Data *data;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_NOTE ||
		    !in_file(ph.p_offset, ph.p_filesz, (uint64_t)e->st.st_size))
			continue;
		data = elf_getdata_rawchunk(e->elf, (int64_t)ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (!data)
			continue;
		ret = build_id_in_notes(data, buf, cap);
		if (ret != -KT_ELF_ENOBUILDID)
			return ret;
	}
	return -KT_ELF_ENOBUILDID;
}

struct self_build_id {
	uint8_t *buf;
	size_t cap;
	int len;
};

/* The GNU build-id note of the main program, read from its loaded PT_NOTE segments. */
static int self_build_id_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct self_build_id *id = ctx;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		size_t align = ph->p_align == 8 ? 8 : 4, off = 0;

		while (ph->p_type == PT_NOTE && off + sizeof(ElfW(Nhdr)) <= ph->p_memsz) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
			size_t name = off + sizeof(*nh);
			size_t desc = name + ((nh->n_namesz + align - 1) & ~(align - 1));

			if (desc + nh->n_descsz > ph->p_memsz)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(p + name, "GNU", 4) && nh->n_descsz <= id->cap) {
				memcpy(id->buf, p + desc, nh->n_descsz);
				id->len = (int)nh->n_descsz;
				return 1;
			}
			off = desc + ((nh->n_descsz + align - 1) & ~(align - 1));
		}
	}
	return 1; /* the first object is the main program: stop there */
}

int kt_elf_self_build_id(uint8_t *buf, size_t cap)
{
	struct self_build_id id = {buf, cap, 0};

	dl_iterate_phdr(self_build_id_cb, &id);
	return id.len > 0 ? id.len : -KT_ELF_ENOBUILDID;
}

void kt_elf_hex(const uint8_t *id, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[2 * len] = '\0';
}

int kt_elf_for_each_section(struct kt_elf *e, kt_elf_section_fn cb, void *ctx)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	int ret;

	if (!e || !cb)
		return -KT_ELF_EINVAL;
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		const char *name;

		if (!gelf_getshdr(scn, &shdr))
			return -KT_ELF_ETRUNC;
		name = elf_strptr(e->elf, e->shstrndx, shdr.sh_name);
		ret = cb(e, scn, &shdr, name ? name : "", ctx);
		if (ret)
			return ret;
	}
	return 0;
}

struct find_section_ctx {
	const char *name;
	Elf_Scn *scn;
	GElf_Shdr shdr;
};

static int find_section_cb(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, const char *name,
			   void *arg)
{
	struct find_section_ctx *c = arg;

	(void)e;
	if (strcmp(name, c->name) != 0)
		return 0;
	c->scn = scn;
	c->shdr = *shdr;
	return 1;
}

int kt_elf_find_section(struct kt_elf *e, const char *name, Elf_Scn **scn, GElf_Shdr *shdr)
{
	struct find_section_ctx c = {.name = name};
	int ret;

	if (!e || !name)
		return -KT_ELF_EINVAL;
	ret = kt_elf_for_each_section(e, find_section_cb, &c);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -KT_ELF_ENOSECTION;
	if (scn)
		*scn = c.scn;
	if (shdr)
		*shdr = c.shdr;
	return 0;
}

/* Walks the first non-empty section of type `type`; -KT_ELF_ENOSYMTAB if none. */
/* The version name of index ndx in .gnu.version_d (NULL if none). */
static const char *verdef_name(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr,
			       unsigned int ndx)
{
	Elf_Data *d = section_data(e, scn, shdr);
	size_t off = 0;

	for (GElf_Word i = 0; d && i < shdr->sh_info; i++) {
		GElf_Verdef vd;
		GElf_Verdaux va;

		if (!gelf_getverdef(d, (int)off, &vd))
			break;
		if (vd.vd_ndx == ndx && gelf_getverdaux(d, (int)(off + vd.vd_aux), &va))
			return elf_strptr(e->elf, shdr->sh_link, va.vda_name);
		if (!vd.vd_next)
			break;
		off += vd.vd_next;
	}
	return NULL;
}

/* .dynsym's symbol versions: .gnu.version and .gnu.version_d. */
struct dyn_versions {
	Elf_Data *versym;
	Elf_Scn *verdef;
	GElf_Shdr verdef_sh;
};

static void find_versions(struct kt_elf *e, size_t dynsym_ndx, struct dyn_versions *v)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	memset(v, 0, sizeof(*v));
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_GNU_versym && sh.sh_link == dynsym_ndx)
			v->versym = section_data(e, scn, &sh);
		else if (sh.sh_type == SHT_GNU_verdef) { /* its link is the string table */
			v->verdef = scn;
			v->verdef_sh = sh;
		}
	}
}

/*
 * The name .symtab would give symbol i of .dynsym: "name@VERSION" for a
 * non-default (hidden) version, kept for old binaries (memcpy@GLIBC_2.2.5
 * beside memcpy@@GLIBC_2.14); else the plain name.
 */
static const char *dynsym_name(struct kt_elf *e, const struct dyn_versions *v, size_t i,
			       const char *name, char *buf, size_t n)
{
	GElf_Versym ver;
	const char *vname;

	if (!v->versym || !v->verdef || !gelf_getversym(v->versym, (int)i, &ver) ||
	    !(ver & 0x8000) || (ver & 0x7fff) <= 1)
		return name;
	vname = verdef_name(e, v->verdef, &v->verdef_sh, ver & 0x7fff);
	if (!vname || (size_t)snprintf(buf, n, "%s@%s", name, vname) >= n)
		return name;
	return buf;
}

static int walk_symbols(struct kt_elf *e, Elf64_Word type, kt_elf_symbol_fn cb, void *ctx)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	size_t entsz = gelf_fsize(e->elf, ELF_T_SYM, 1, EV_CURRENT);
	struct dyn_versions v = {0};
	char buf[1024];

	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		Elf_Data *data;
		size_t n;
		int visited = 0;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != type || shdr.sh_size == 0)
			continue;
		data = section_data(e, scn, &shdr);
		if (!data || !entsz)
			return -KT_ELF_ETRUNC;
		if (type == SHT_DYNSYM)
			find_versions(e, elf_ndxscn(scn), &v);
		n = data->d_size / entsz;
		for (size_t i = 1; i < n; i++) { /* entry 0 is the null symbol */
			GElf_Sym sym;
			const char *name;
			int ret;

			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(e->elf, shdr.sh_link, sym.st_name);
			if (name && type == SHT_DYNSYM)
				name = dynsym_name(e, &v, i, name, buf, sizeof(buf));
			ret = cb(name ? name : "", &sym, ctx);
			if (ret)
				return ret;
			visited++;
		}
		return visited;
	}
	return -KT_ELF_ENOSYMTAB;
}

int kt_elf_for_each_symbol(struct kt_elf *e, kt_elf_symbol_fn cb, void *ctx, int *table)
{
	int ret;

	if (!e || !cb)
		return -KT_ELF_EINVAL;
	ret = walk_symbols(e, SHT_SYMTAB, cb, ctx);
	if (ret != -KT_ELF_ENOSYMTAB) {
		if (table)
			*table = SHT_SYMTAB;
		return ret;
	}
	if (table)
		*table = SHT_DYNSYM;
	return walk_symbols(e, SHT_DYNSYM, cb, ctx);
}

struct find_symbol_ctx {
	const char *name;
	size_t len;
	int found;
	GElf_Sym sym;
};

static int find_symbol_cb(const char *name, const GElf_Sym *sym, void *arg)
{
	struct find_symbol_ctx *c = arg;

	if (strncmp(name, c->name, c->len) != 0 || (name[c->len] != '\0' && name[c->len] != '@'))
		return 0;
	c->sym = *sym;
	c->found = 1;
	return 1;
}

int kt_elf_find_symbol(struct kt_elf *e, const char *name, uint64_t *addr, uint64_t *size)
{
	struct find_symbol_ctx c;
	int ret;

	if (!e || !name || !*name)
		return -KT_ELF_EINVAL;
	c.name = name;
	c.len = strlen(name);
	c.found = 0;
	ret = walk_symbols(e, SHT_SYMTAB, find_symbol_cb, &c);
	if (!c.found)
		ret = walk_symbols(e, SHT_DYNSYM, find_symbol_cb, &c);
	if (!c.found)
		return ret == -KT_ELF_ETRUNC ? ret : -KT_ELF_ENOSYM;
	if (addr)
		*addr = c.sym.st_value;
	if (size)
		*size = c.sym.st_size;
	return 0;
}

int kt_elf_load_segments(struct kt_elf *e, GElf_Phdr *segs, size_t cap)
{
	size_t n = 0;

	if (!e || (cap && !segs))
		return -KT_ELF_EINVAL;
	for (size_t i = 0; i < e->phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph))
			return -KT_ELF_ETRUNC;
		if (ph.p_type != PT_LOAD)
			continue;
		if (n < cap)
			segs[n] = ph;
		n++;
	}
	return (int)n;
}

int kt_elf_vaddr_to_offset(struct kt_elf *e, uint64_t vaddr, uint64_t *off)
{
	if (!e || !off)
		return -KT_ELF_EINVAL;
	for (size_t i = 0; i < e->phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph))
			return -KT_ELF_ETRUNC;
		if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr - ph.p_vaddr < ph.p_memsz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -KT_ELF_ENOADDR;
}

int kt_elf_segments_offset_to_vaddr(const GElf_Phdr *segs, size_t n, uint64_t off,
				    uint64_t page_size, uint64_t *vaddr)
{
	if ((n && !segs) || !vaddr || !page_size || (page_size & (page_size - 1)))
		return -KT_ELF_EINVAL;
	/* Pages of a text segment may also hold the end of the previous one: code first. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const GElf_Phdr *ph = &segs[i];
			uint64_t start = ph->p_offset & ~(page_size - 1);

			if (pass == 0 && !(ph->p_flags & PF_X))
				continue;
			if (off >= start && off < ph->p_offset + ph->p_filesz) {
				/* Unsigned wrap is fine: p_vaddr and p_offset agree modulo the
				 * page. */
				*vaddr = off - ph->p_offset + ph->p_vaddr;
				return 0;
			}
		}
	}
	return -KT_ELF_ENOADDR;
}

#if defined(__x86_64__)
#define KT_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define KT_MULTIARCH "aarch64-linux-gnu"
#else
#define KT_MULTIARCH "."
#endif

/* Tries each ':'-separated directory of list for name; $ORIGIN is origin. */
static int search_dirs(const char *list, const char *origin, const char *name, char *out,
		       size_t outlen)
{
	char dir[PATH_MAX];

	while (list && *list) {
		size_t len = strcspn(list, ":");

		if (len && len < sizeof(dir)) {
			memcpy(dir, list, len);
			dir[len] = 0;
			if (!strncmp(dir, "$ORIGIN", 7) || !strncmp(dir, "${ORIGIN}", 9)) {
				const char *rest = dir + (dir[1] == '{' ? 9 : 7);

				snprintf(out, outlen, "%s%s/%s", origin, rest, name);
			} else {
				snprintf(out, outlen, "%s/%s", dir, name);
			}
			if (access(out, R_OK) == 0)
				return 0;
		}
		list += len;
		if (*list == ':')
			list++;
	}
	return -1;
}

int kt_elf_find_needed(const char *path, const char *prefix, char *out, size_t outlen)
{
	char needed[256] = "", rpath[1024] = "", runpath[1024] = "", origin[PATH_MAX];
	struct kt_elf *e;
	Elf_Scn *scn;
	GElf_Shdr sh;
	Elf_Data *data;
	int err;

	err = kt_elf_open(path, &e);
	if (err)
		return err;
	err = kt_elf_find_section(e, ".dynamic", &scn, &sh);
	if (err) {
		kt_elf_close(e);
		return err;
	}
	data = elf_getdata(scn, NULL);
	for (size_t i = 0; data && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Dyn dyn;
		const char *s;

		if (!gelf_getdyn(data, (int)i, &dyn))
			break;
		if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH && dyn.d_tag != DT_RUNPATH)
			continue;
		s = elf_strptr(e->elf, sh.sh_link, dyn.d_un.d_val);
		if (!s)
			continue;
		if (dyn.d_tag == DT_NEEDED && !needed[0] && !strncmp(s, prefix, strlen(prefix)))
			snprintf(needed, sizeof(needed), "%s", s);
		else if (dyn.d_tag == DT_RPATH)
			snprintf(rpath, sizeof(rpath), "%s", s);
		else if (dyn.d_tag == DT_RUNPATH)
			snprintf(runpath, sizeof(runpath), "%s", s);
	}
	kt_elf_close(e);
	if (!needed[0])
		return -KT_ELF_ENOSYM;
	if (!realpath(path, origin))
		snprintf(origin, sizeof(origin), "%s", path);
	char *slash = strrchr(origin, '/');

	if (slash)
		*slash = 0;
	else
		snprintf(origin, sizeof(origin), ".");
	if ((!runpath[0] && !search_dirs(rpath, origin, needed, out, outlen)) ||
	    !search_dirs(getenv("LD_LIBRARY_PATH"), origin, needed, out, outlen) ||
	    !search_dirs(runpath, origin, needed, out, outlen) ||
	    !search_dirs("/lib/" KT_MULTIARCH ":/usr/lib/" KT_MULTIARCH
			 ":/usr/local/lib:/lib:/usr/lib",
			 origin, needed, out, outlen))
		return 0;
	return -KT_ELF_EOPEN;
}

int kt_elf_soname(struct kt_elf *e, char *out, size_t outlen)
{
	Elf_Scn *scn;
	GElf_Shdr sh;
	Elf_Data *data;
	int err;

	if (!e || !out || !outlen)
		return -KT_ELF_EINVAL;
	err = kt_elf_find_section(e, ".dynamic", &scn, &sh);
	if (err)
		return err;
	data = section_data(e, scn, &sh);
	for (size_t i = 0; data && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Dyn dyn;
		const char *s;

		if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_SONAME)
			continue;
		s = elf_strptr(e->elf, sh.sh_link, dyn.d_un.d_val);
		if (!s)
			return -KT_ELF_ETRUNC;
		snprintf(out, outlen, "%s", s);
		return 0;
	}
	return -KT_ELF_ENOSYM;
}

/* The machine's R_*_IRELATIVE type, or 0 where we do not know it. */
static unsigned int irelative_type(const GElf_Ehdr *eh)
{
	switch (eh->e_machine) {
	case EM_X86_64:
		return R_X86_64_IRELATIVE;
	case EM_AARCH64:
		return R_AARCH64_IRELATIVE;
	default:
		return 0;
	}
}

int kt_elf_find_irelative(struct kt_elf *e, uint64_t resolver, uint64_t *slot)
{
	unsigned int type;
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;

	if (!e || !slot)
		return -KT_ELF_EINVAL;
	type = irelative_type(&e->ehdr);
	while (type && (scn = elf_nextscn(e->elf, scn)) != NULL) {
		size_t entsz = gelf_fsize(e->elf, ELF_T_RELA, 1, EV_CURRENT);
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !entsz)
			continue;
		data = section_data(e, scn, &shdr);
		if (!data)
			return -KT_ELF_ETRUNC;
		for (size_t i = 0; i < data->d_size / entsz; i++) {
			GElf_Rela r;

			if (gelf_getrela(data, (int)i, &r) && GELF_R_TYPE(r.r_info) == type &&
			    (uint64_t)r.r_addend == resolver) {
				*slot = r.r_offset;
				return 0;
			}
		}
	}
	return -KT_ELF_ENOSYM;
}

/* The machine's R_*_JUMP_SLOT and R_*_GLOB_DAT types (0 where unknown). */
static void got_types(const GElf_Ehdr *eh, unsigned int *jump_slot, unsigned int *glob_dat)
{
	*jump_slot = *glob_dat = 0;
	if (eh->e_machine == EM_X86_64) {
		*jump_slot = R_X86_64_JUMP_SLOT;
		*glob_dat = R_X86_64_GLOB_DAT;
	} else if (eh->e_machine == EM_AARCH64) {
		*jump_slot = R_AARCH64_JUMP_SLOT;
		*glob_dat = R_AARCH64_GLOB_DAT;
	}
}

/* Appends to slots the GOT slots of one SHT_RELA section that name binds. */
static int got_refs_in(struct kt_elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, const char *name,
		       uint64_t *slots, size_t cap, size_t *n)
{
	size_t entsz = gelf_fsize(e->elf, ELF_T_RELA, 1, EV_CURRENT), len = strlen(name);
	Elf_Scn *symscn = elf_getscn(e->elf, shdr->sh_link);
	GElf_Shdr symsh;
	Elf_Data *data = section_data(e, scn, shdr), *syms;
	unsigned int js, gd;

	got_types(&e->ehdr, &js, &gd);
	if (!data || !entsz || !symscn || !gelf_getshdr(symscn, &symsh) ||
	    symsh.sh_type != SHT_DYNSYM || !(syms = section_data(e, symscn, &symsh)))
		return -KT_ELF_ETRUNC;
	for (size_t i = 0; i < data->d_size / entsz; i++) {
		unsigned int type;
		const char *sname;
		GElf_Rela r;
		GElf_Sym sym;

		if (!gelf_getrela(data, (int)i, &r))
			continue;
		type = (unsigned int)GELF_R_TYPE(r.r_info);
		if ((type != js && type != gd) || !GELF_R_SYM(r.r_info) ||
		    !gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
			continue;
		sname = elf_strptr(e->elf, symsh.sh_link, sym.st_name);
		if (!sname || strncmp(sname, name, len) || (sname[len] && sname[len] != '@'))
			continue;
		if (*n < cap)
			slots[*n] = r.r_offset;
		(*n)++;
	}
	return 0;
}

int kt_elf_find_got_refs(struct kt_elf *e, const char *name, uint64_t *slots, size_t cap)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr shdr;
	size_t n = 0;

	if (!e || !name || !*name)
		return -KT_ELF_EINVAL;
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_RELA || !shdr.sh_link)
			continue;
		int ret = got_refs_in(e, scn, &shdr, name, slots, cap, &n);

		if (ret)
			return ret;
	}
	return n > INT32_MAX ? INT32_MAX : (int)n;
}
