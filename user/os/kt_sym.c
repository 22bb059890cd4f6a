/* SPDX-License-Identifier: MIT */
/* Symbolizer for user addresses of live processes (kt_sym.h). */
#include "kt_sym.h"
#include "kt_clock.h"
#include "kt_debuginfo.h"
#include "kt_elf.h"
#include "kt_array.h"
#include "kt_proc.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define PROC_BUCKETS   256
#define MODULE_BUCKETS 128
#define ENCLOSING_SCAN 16 /* symbols scanned back for one that encloses an address */

/* A function symbol; name is an offset into the module's string pool. */
struct kt_fn {
	uint64_t addr;
	uint64_t size;
	uint32_t name;
	uint32_t rank; /* lower is the better alias (see fn_rank) */
	bool unsized;  /* st_size was 0: size is an upper bound, clamped to the next symbol */
	bool boundary; /* not a function: only ends a preceding size-0 function (load time) */
	bool exported; /* global or weak, default or protected visibility (see kt_sym_info) */
};

/* The function symbols of one ELF file, shared by every mapping of it. */
struct kt_module {
	char *key; /* "b:<build-id>" or "f:<path>:<dev>:<ino>:<mtime>:<size>" */
	struct kt_fn *fns;
	size_t nfns;
	char *names;
	size_t names_len, names_cap;
	GElf_Phdr *segs; /* PT_LOADs: file offset -> virtual address */
	size_t nsegs;
	struct kt_module *next;
};

enum map_kind {
	MAP_FILE,
	MAP_SPECIAL, /* [vdso], [vsyscall] */
	MAP_ANON,
};

/* One executable mapping of a process. */
struct kt_mapping {
	uint64_t start, end, pgoff;
	enum map_kind kind;
	bool bound; /* module lookup done (mod may still be NULL: unreadable) */
	char *path; /* as in maps, " (deleted)" stripped; NULL unless MAP_FILE */
	bool deleted;
	const char *name; /* basename of path, or the [pseudo] name */
	char *special;	  /* storage of a [pseudo] name */
	struct kt_module *mod;
};

struct kt_proc {
	pid_t pid;
	struct kt_mapping *maps; /* sorted by start, non-overlapping */
	size_t n;
	uint64_t read_ns; /* when the maps were last read */
	struct kt_proc *next;
};

struct kt_sym {
	struct kt_proc *procs[PROC_BUCKETS];
	struct kt_module *mods[MODULE_BUCKETS];
	bool offsets;
	uint64_t refresh_ns;
	uint64_t page_size;
	struct kt_sym_stats st;
};

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* ------------------------------------------------------------------ modules */

static void module_free(struct kt_module *m)
{
	if (!m)
		return;
	free(m->key);
	free(m->fns);
	free(m->names);
	free(m->segs);
	free(m);
}

/* Appends name (up to an '@' version suffix) to the pool; returns its offset or -1. */
static int64_t pool_add(struct kt_module *m, const char *name)
{
	size_t len = strcspn(name, "@");
	size_t off = m->names_len;

	if (kt_array_reserve(m->names, m->names_cap, off + len + 1))
		return -1;
	memcpy(m->names + off, name, len);
	m->names[off + len] = '\0';
	m->names_len += len + 1;
	return (int64_t)off;
}

/*
 * Among aliases at one address prefer the public name: fewer leading
 * underscores ("getpid" over "__getpid"), then global over weak over local,
 * then the shorter name.
 */
static uint32_t fn_rank(const char *name, const GElf_Sym *sym)
{
	uint32_t underscores = 0, bind;
	size_t len = strcspn(name, "@");

	while (name[underscores] == '_' && underscores < 15)
		underscores++;
	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		bind = 0;
		break;
	case STB_WEAK:
		bind = 1;
		break;
	default:
		bind = 2;
	}
	return underscores << 28 | bind << 24 | (uint32_t)(len > 0xffffff ? 0xffffff : len);
}

struct fn_collect {
	struct kt_elf *e;
	struct kt_module *m;
	size_t cap;
	int err;
};

/* End address of the section holding sym (bounds a size-0 symbol), or its own address. */
static uint64_t section_end(struct kt_elf *e, const GElf_Sym *sym)
{
	Elf_Scn *scn;
	GElf_Shdr shdr;

	if (sym->st_shndx >= SHN_LORESERVE)
		return sym->st_value;
	scn = elf_getscn(e->elf, sym->st_shndx);
	if (!scn || !gelf_getshdr(scn, &shdr) || !(shdr.sh_flags & SHF_ALLOC) ||
	    sym->st_value < shdr.sh_addr || sym->st_value - shdr.sh_addr >= shdr.sh_size)
		return sym->st_value;
	return shdr.sh_addr + shdr.sh_size;
}

static int collect_fn_cb(const char *name, const GElf_Sym *sym, void *arg)
{
	struct fn_collect *c = arg;
	struct kt_module *m = c->m;
	int type = GELF_ST_TYPE(sym->st_info);
	int64_t off;

	bool boundary = type != STT_FUNC && type != STT_GNU_IFUNC;

	if (sym->st_value == 0 || !*name || type == STT_SECTION || type == STT_FILE ||
	    type == STT_TLS)
		return 0;
	if (kt_array_reserve(m->fns, c->cap, m->nfns + 1)) {
		c->err = -ENOMEM;
		return 1;
	}
	off = boundary ? 0 : pool_add(m, name);
	if (off < 0 || off > UINT32_MAX) {
		c->err = -ENOMEM;
		return 1;
	}
	m->fns[m->nfns].addr = sym->st_value;
	m->fns[m->nfns].size = sym->st_size;
	m->fns[m->nfns].name = (uint32_t)off;
	m->fns[m->nfns].rank = fn_rank(name, sym);
	m->fns[m->nfns].unsized = sym->st_size == 0;
	m->fns[m->nfns].boundary = boundary;
	m->fns[m->nfns].exported = GELF_ST_BIND(sym->st_info) != STB_LOCAL &&
				   (GELF_ST_VISIBILITY(sym->st_other) == STV_DEFAULT ||
				    GELF_ST_VISIBILITY(sym->st_other) == STV_PROTECTED);
	if (sym->st_size == 0 && !boundary)
		m->fns[m->nfns].size = section_end(c->e, sym) - sym->st_value;
	m->nfns++;
	return 0;
}

/* By address, best alias first; names make the order total (deterministic output). */
static int fn_cmp(const void *a, const void *b, void *names)
{
	const struct kt_fn *x = a, *y = b;
	const char *sort_names = names;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->boundary != y->boundary)
		return x->boundary ? 1 : -1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return strcmp(sort_names + x->name, sort_names + y->name);
}

/*
 * Loads the function symbols and load segments of an open ELF; the symbols
 * of its separate debug file when it has no .symtab (path: where the
 * process sees it, for the .gnu_debuglink search).
 */
static int module_load(struct kt_module *m, struct kt_elf *e, const char *path)
{
	struct kt_elf *dbg = NULL;
	struct fn_collect c = {.e = e, .m = m};
	size_t out = 0;
	int ret;

	ret = kt_elf_load_segments(e, NULL, 0);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		m->segs = calloc((size_t)ret, sizeof(*m->segs));
		if (!m->segs)
			return -ENOMEM;
		m->nsegs = (size_t)kt_elf_load_segments(e, m->segs, (size_t)ret);
	}
	ret = kt_debuginfo_open(e, path, &dbg);
	if (ret == -KT_ELF_ENOMEM)
		return ret;
	if (dbg)
		c.e = dbg; /* its section headers bound its size-0 symbols */
	ret = kt_elf_for_each_symbol(c.e, collect_fn_cb, &c, NULL);
	kt_elf_close(dbg);
	if (c.err)
		return c.err;
	if (ret < 0 && ret != -KT_ELF_ENOSYMTAB)
		return ret;
	if (m->nfns == 0)
		return 0;
	qsort_r(m->fns, m->nfns, sizeof(*m->fns), fn_cmp, m->names);
	/*
	 * One entry per address: the best-ranked alias, with the largest real
	 * size. Functions sort before boundaries at the same address.
	 */
	for (size_t i = 0; i < m->nfns; i++) {
		struct kt_fn *f = &m->fns[i], *prev = out > 0 ? &m->fns[out - 1] : NULL;

		if (prev && prev->addr == f->addr) {
			if (f->boundary)
				continue;
			if (prev->unsized && !f->unsized) {
				prev->size = f->size;
				prev->unsized = false;
			} else if (prev->unsized == f->unsized && f->size > prev->size) {
				prev->size = f->size;
			}
			continue;
		}
		m->fns[out++] = *f;
	}
	m->nfns = out;
	/*
	 * A size-0 function (hand-written assembly, crtstuff) extends to the
	 * next symbol of any type, within its section. Then drop the boundaries.
	 */
	for (size_t i = 0; i + 1 < m->nfns; i++) {
		struct kt_fn *f = &m->fns[i];

		if (f->unsized && m->fns[i + 1].addr - f->addr < f->size)
			f->size = m->fns[i + 1].addr - f->addr;
	}
	out = 0;
	for (size_t i = 0; i < m->nfns; i++)
		if (!m->fns[i].boundary)
			m->fns[out++] = m->fns[i];
	m->nfns = out;
	return 0;
}

/* The function containing vaddr, or NULL. */
static const struct kt_fn *module_find_fn(const struct kt_module *m, uint64_t vaddr)
{
	size_t lo = 0, hi = m->nfns;
	size_t i, stop;

	/* Last symbol starting at or below vaddr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->fns[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	i = lo - 1;
	stop = i >= ENCLOSING_SCAN ? i - ENCLOSING_SCAN : 0;
	for (;;) {
		const struct kt_fn *f = &m->fns[i];

		if (vaddr - f->addr < f->size)
			return f;
		if (i == stop)
			return NULL;
		i--;
	}
}

static struct kt_module *cache_find(struct kt_sym *s, const char *key)
{
	struct kt_module *m;

	for (m = s->mods[str_hash(key) % MODULE_BUCKETS]; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

/*
 * Opens the file behind a mapping. /proc/PID/map_files/START-END is the
 * mapped inode itself (right even if the path was replaced or deleted, or
 * lives in another mount namespace) but needs CAP_SYS_ADMIN; then the path
 * as the process sees it (/proc/PID/root), then the path as we see it. A
 * deleted file is read only through map_files: whatever now sits at its
 * path is another file.
 */
static int open_mapping_elf(pid_t pid, const struct kt_mapping *mp, struct kt_elf **e)
{
	char path[4096 + 64];
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, mp->start,
		 mp->end);
	ret = kt_elf_open(path, e);
	if (ret == 0 || mp->deleted)
		return ret;
	if (kt_proc_root_path(pid, mp->path, path, sizeof(path)) == 0) {
		ret = kt_elf_open(path, e);
		if (ret == 0)
			return 0;
	}
	return kt_elf_open(mp->path, e);
}

/* Finds or loads the module of a file mapping; NULL if its ELF cannot be read. */
static struct kt_module *bind_module(struct kt_sym *s, pid_t pid, const struct kt_mapping *mp)
{
	struct kt_elf *e = NULL;
	struct kt_module *m;
	uint8_t id[KT_ELF_BUILD_ID_MAX];
	char buf[4096 + 160];
	int len, ret;
	uint32_t h;

	if (open_mapping_elf(pid, mp, &e) != 0) {
		s->st.module_failures++;
		return NULL;
	}
	len = kt_elf_build_id(e, id, sizeof(id));
	if (len > 0) {
		memcpy(buf, "b:", 2);
		kt_elf_hex(id, (size_t)len, buf + 2);
	} else {
		snprintf(buf, sizeof(buf), "f:%s:%ju:%ju:%jd.%09ld:%jd", mp->path,
			 (uintmax_t)e->st.st_dev, (uintmax_t)e->st.st_ino,
			 (intmax_t)e->st.st_mtim.tv_sec, e->st.st_mtim.tv_nsec,
			 (intmax_t)e->st.st_size);
	}
	m = cache_find(s, buf);
	if (m) {
		s->st.module_hits++;
		kt_elf_close(e);
		return m;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->key = strdup(buf))) {
		free(m);
		kt_elf_close(e);
		s->st.module_failures++;
		return NULL;
	}
	/* (a path cut short, never seen: its debug file is not found) */
	kt_proc_root_path(pid, mp->path, buf, sizeof(buf));
	ret = module_load(m, e, buf);
	kt_elf_close(e);
	if (ret < 0) {
		module_free(m);
		s->st.module_failures++;
		return NULL;
	}
	h = str_hash(m->key) % MODULE_BUCKETS;
	m->next = s->mods[h];
	s->mods[h] = m;
	s->st.module_loads++;
	s->st.modules_cached++;
	return m;
}

/* ------------------------------------------------------------------ maps */

static void mapping_clear(struct kt_mapping *mp)
{
	free(mp->path);
	free(mp->special);
}

static void maps_free(struct kt_mapping *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mapping_clear(&maps[i]);
	free(maps);
}

/* The executable mapping m as mp: 1 if kept, 0 if not, -ENOMEM. */
static int mapping_from(const struct kt_proc_map *m, struct kt_mapping *mp)
{
	memset(mp, 0, sizeof(*mp));
	if (!kt_proc_map_exec(m) || m->end <= m->start)
		return 0;
	mp->start = m->start;
	mp->end = m->end;
	mp->pgoff = m->offset;
	if (!m->path[0] || !strncmp(m->path, "[anon", 5)) {
		mp->kind = MAP_ANON;
		mp->bound = true;
		return 1;
	}
	if (m->path[0] == '[') {
		mp->kind = MAP_SPECIAL;
		mp->bound = true;
		mp->special = strdup(m->path);
		mp->name = mp->special;
		return mp->special ? 1 : -ENOMEM;
	}
	mp->kind = MAP_FILE;
	mp->deleted = m->deleted;
	mp->path = strdup(m->path);
	if (!mp->path)
		return -ENOMEM;
	mp->name = strrchr(mp->path, '/') ? strrchr(mp->path, '/') + 1 : mp->path;
	return 1;
}

/* The executable mappings of a process, being read. */
struct maps_walk {
	struct kt_mapping *maps;
	size_t n, cap;
	bool read; /* the maps could be opened */
};

static int maps_collect(const struct kt_proc_map *m, void *arg)
{
	struct maps_walk *w = arg;
	struct kt_mapping mp;
	int kept = mapping_from(m, &mp);

	w->read = true;
	if (kept <= 0) {
		mapping_clear(&mp);
		return kept;
	}
	/* The kernel lists mappings in address order; keep the array sorted anyway. */
	if (w->n > 0 && mp.start < w->maps[w->n - 1].end) {
		mapping_clear(&mp);
		return 0;
	}
	if (kt_array_reserve(w->maps, w->cap, w->n + 1)) {
		mapping_clear(&mp);
		return -ENOMEM;
	}
	w->maps[w->n++] = mp;
	return 0;
}

/* Index of the mapping containing addr, or -1. */
static ssize_t maps_find(const struct kt_mapping *maps, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < maps[mid].start)
			hi = mid;
		else if (addr >= maps[mid].end)
			lo = mid + 1;
		else
			return (ssize_t)mid;
	}
	return -1;
}

/* The same file mapping in the previous generation of maps (to keep its module). */
static const struct kt_mapping *maps_same(const struct kt_proc *p, const struct kt_mapping *mp)
{
	ssize_t i = maps_find(p->maps, p->n, mp->start);
	const struct kt_mapping *o;

	if (i < 0)
		return NULL;
	o = &p->maps[i];
	if (o->start != mp->start || o->end != mp->end || o->pgoff != mp->pgoff ||
	    o->kind != mp->kind || o->deleted != mp->deleted || !o->bound)
		return NULL;
	if (mp->kind == MAP_FILE && strcmp(o->path, mp->path) != 0)
		return NULL;
	return o;
}

/*
 * (Re-)reads /proc/PID/maps into p, binding each file mapping to its module
 * (reused from the previous generation when the mapping is unchanged).
 */
static int proc_read_maps(struct kt_sym *s, struct kt_proc *p)
{
	struct maps_walk w = {0};
	struct kt_mapping *maps;
	size_t n;
	int ret;

	p->read_ns = kt_now_ns(CLOCK_MONOTONIC);
	ret = kt_proc_maps_each(p->pid, maps_collect, &w);
	/* an exited process not yet reaped has empty maps: a read all the same */
	if (w.read || !ret)
		s->st.maps_reads++;
	/* a live process has mappings: none means it exited (a zombie), keep the old ones */
	if (ret < 0 || (!w.n && p->n)) {
		maps_free(w.maps, w.n);
		return ret < 0 ? ret : -ESRCH;
	}
	maps = w.maps;
	n = w.n;
	for (size_t i = 0; i < n; i++) {
		struct kt_mapping *mp = &maps[i];
		const struct kt_mapping *old;

		if (mp->bound)
			continue;
		old = maps_same(p, mp);
		mp->mod = old ? old->mod : bind_module(s, p->pid, mp);
		mp->bound = true;
	}
	maps_free(p->maps, p->n);
	p->maps = maps;
	p->n = n;
	return 0;
}

static struct kt_proc *proc_find(struct kt_sym *s, pid_t pid)
{
	struct kt_proc *p;

	for (p = s->procs[(uint32_t)pid % PROC_BUCKETS]; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* Creates and reads a pid's entry; *err gets the maps read error (the entry is kept). */
static struct kt_proc *proc_add(struct kt_sym *s, pid_t pid, int *err)
{
	struct kt_proc *p = calloc(1, sizeof(*p));
	uint32_t h = (uint32_t)pid % PROC_BUCKETS;

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->pid = pid;
	*err = proc_read_maps(s, p);
	p->next = s->procs[h];
	s->procs[h] = p;
	s->st.pids++;
	return p;
}

/* ------------------------------------------------------------------ API */

struct kt_sym *kt_sym_new(void)
{
	struct kt_sym *s = calloc(1, sizeof(*s));
	long pg = sysconf(_SC_PAGESIZE);

	if (!s)
		return NULL;
	s->refresh_ns = KT_SYM_REFRESH_NS_DEFAULT;
	s->page_size = pg > 0 ? (uint64_t)pg : 4096;
	return s;
}

void kt_sym_free(struct kt_sym *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < PROC_BUCKETS; i++) {
		while (s->procs[i]) {
			struct kt_proc *p = s->procs[i];

			s->procs[i] = p->next;
			maps_free(p->maps, p->n);
			free(p);
		}
	}
	for (size_t i = 0; i < MODULE_BUCKETS; i++) {
		while (s->mods[i]) {
			struct kt_module *m = s->mods[i];

			s->mods[i] = m->next;
			module_free(m);
		}
	}
	free(s);
}

void kt_sym_set_offsets(struct kt_sym *s, bool on)
{
	if (s)
		s->offsets = on;
}

void kt_sym_set_refresh_interval(struct kt_sym *s, uint64_t ns)
{
	if (s)
		s->refresh_ns = ns;
}

int kt_sym_add_pid(struct kt_sym *s, pid_t pid)
{
	int err;

	struct kt_proc *p;

	if (!s || pid <= 0)
		return -EINVAL;
	p = proc_find(s, pid);
	if (p) /* seen before: re-read, it may have mapped libraries since (kt_sym.h) */
		return proc_read_maps(s, p);
	if (!proc_add(s, pid, &err))
		return err;
	if (err < 0) {
		kt_sym_forget_pid(s, pid);
		return err;
	}
	return 0;
}

bool kt_sym_follow_program(struct kt_sym *s, pid_t pid, const char *self_exe,
			   struct kt_sym_program *seen)
{
	char path[64], exe[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (!s || stat(path, &st))
		return false; /* gone: keep what was read */
	if (seen->added && st.st_dev == seen->dev && st.st_ino == seen->ino)
		return false;
	if (kt_proc_exe(pid, exe, sizeof(exe)) == 0 && !strcmp(exe, self_exe))
		return false; /* still ours: a command before its exec */
	if (kt_sym_add_pid(s, pid))
		return false;
	seen->added = true;
	seen->dev = st.st_dev;
	seen->ino = st.st_ino;
	return true;
}

void kt_sym_forget_pid(struct kt_sym *s, pid_t pid)
{
	struct kt_proc **pp;

	if (!s)
		return;
	for (pp = &s->procs[(uint32_t)pid % PROC_BUCKETS]; *pp; pp = &(*pp)->next) {
		struct kt_proc *p = *pp;

		if (p->pid != pid)
			continue;
		*pp = p->next;
		maps_free(p->maps, p->n);
		free(p);
		s->st.pids--;
		return;
	}
}

int kt_sym_lookup(struct kt_sym *s, pid_t pid, uint64_t addr, struct kt_sym_info *info)
{
	struct kt_proc *p;
	const struct kt_mapping *mp;
	const struct kt_fn *fn;
	ssize_t i;
	uint64_t off, vaddr;
	int err;

	if (!s || !info || pid <= 0)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->kind = KT_SYM_UNKNOWN;
	p = proc_find(s, pid);
	if (!p) {
		p = proc_add(s, pid, &err);
		if (!p)
			return KT_SYM_UNKNOWN;
	}
	i = maps_find(p->maps, p->n, addr);
	if (i < 0 && kt_now_ns(CLOCK_MONOTONIC) - p->read_ns >= s->refresh_ns) {
		/* On failure (the pid exited) keep what we had. */
		proc_read_maps(s, p);
		i = maps_find(p->maps, p->n, addr);
	}
	if (i < 0)
		return KT_SYM_UNKNOWN;
	mp = &p->maps[i];
	if (mp->kind == MAP_ANON)
		return KT_SYM_UNKNOWN;
	info->module = mp->name;
	if (mp->kind == MAP_SPECIAL) {
		info->kind = KT_SYM_SPECIAL;
		info->module_off = addr - mp->start;
		return info->kind;
	}
	off = addr - mp->start + mp->pgoff;
	info->kind = KT_SYM_MODULE;
	info->path = mp->path;
	info->map_start = mp->start;
	info->map_end = mp->end;
	info->map_pgoff = mp->pgoff;
	if (mp->mod && !strncmp(mp->mod->key, "b:", 2))
		info->build_id = mp->mod->key + 2;
	info->module_off = off;
	if (!mp->mod || kt_elf_segments_offset_to_vaddr(mp->mod->segs, mp->mod->nsegs, off,
							s->page_size, &vaddr) != 0)
		return info->kind;
	info->module_off = vaddr;
	fn = module_find_fn(mp->mod, vaddr);
	if (fn) {
		info->kind = KT_SYM_FUNC;
		info->func = mp->mod->names + fn->name;
		info->func_off = vaddr - fn->addr;
		info->exported = fn->exported;
	}
	return info->kind;
}

int kt_sym_resolve(struct kt_sym *s, pid_t pid, uint64_t addr, char *buf, size_t n)
{
	struct kt_sym_info info;
	int kind;

	if (!buf || n == 0)
		return -EINVAL;
	kind = kt_sym_lookup(s, pid, addr, &info);
	if (kind < 0) {
		buf[0] = '\0';
		return kind;
	}
	switch (info.kind) {
	case KT_SYM_FUNC:
		if (s->offsets)
			snprintf(buf, n, "%s+0x%" PRIx64, info.func, info.func_off);
		else
			snprintf(buf, n, "%s", info.func);
		break;
	case KT_SYM_MODULE:
		snprintf(buf, n, "%s+0x%" PRIx64, info.module, info.module_off);
		break;
	case KT_SYM_SPECIAL:
		snprintf(buf, n, "%s", info.module);
		break;
	default:
		snprintf(buf, n, "[unknown]");
	}
	return kind;
}

void kt_sym_get_stats(const struct kt_sym *s, struct kt_sym_stats *st)
{
	if (s && st)
		*st = s->st;
}

/* Looking for where a file's segments are mapped in a process. */
struct bias_walk {
	const struct kt_elf *e;
	const GElf_Phdr *segs;
	size_t nsegs;
	uint64_t page, vaddr, addr;
};

static int bias_match(const struct kt_proc_map *m, void *arg)
{
	struct bias_walk *w = arg;

	if (m->inode != w->e->st.st_ino || m->dev != w->e->st.st_dev)
		return 0;
	/*
	 * The kernel maps each PT_LOAD from its page-aligned offset to its
	 * page-aligned address: the segment mapped here gives the load bias.
	 */
	for (size_t i = 0; i < w->nsegs; i++) {
		if ((w->segs[i].p_offset & ~(w->page - 1)) != m->offset)
			continue;
		w->addr = m->start - (w->segs[i].p_vaddr & ~(w->page - 1)) + w->vaddr;
		return 1;
	}
	return 0;
}

int kt_sym_runtime_addr(pid_t pid, const char *path, uint64_t vaddr, uint64_t *addr)
{
	struct kt_elf *e = NULL;
	GElf_Phdr segs[32];
	long pg = sysconf(_SC_PAGESIZE);
	struct bias_walk w = {.segs = segs, .page = pg > 0 ? (uint64_t)pg : 4096, .vaddr = vaddr};
	int ret;

	if (pid <= 0 || !path || !addr)
		return -EINVAL;
	ret = kt_elf_open(path, &e);
	if (ret < 0)
		return ret == -KT_ELF_EOPEN ? -errno : -EINVAL;
	ret = kt_elf_load_segments(e, segs, sizeof(segs) / sizeof(segs[0]));
	if (ret < 0 || (size_t)ret > sizeof(segs) / sizeof(segs[0])) {
		kt_elf_close(e);
		return -EINVAL;
	}
	w.e = e;
	w.nsegs = (size_t)ret;
	ret = kt_proc_maps_each(pid, bias_match, &w);
	kt_elf_close(e);
	if (ret == 1)
		*addr = w.addr;
	return ret == 1 ? 0 : ret < 0 ? ret : -ENOENT;
}
