// SPDX-License-Identifier: MIT
/* kt_func: resolution of [LIB:]GLOB patterns into functions to probe. */
#include "kt_func_internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/uio.h>

#include "kt_debuginfo.h"
#include "kt_elf.h"
#include "kt_proc.h"
#include "kt_sym.h"

/* ---------------------------------------------------------------- pure helpers */

static const char *const kind_names[KT_FUNC_NKINDS] = {
	[KT_FUNC_KIND_STEP] = "step",
	[KT_FUNC_KIND_PUSH] = "push",
	[KT_FUNC_KIND_BRANCH] = "branch",
	[KT_FUNC_KIND_NOP5] = "nop5",
};

const char *kt_func_kind_name(enum kt_func_kind k)
{
	return (unsigned int)k < KT_FUNC_NKINDS ? kind_names[k] : "?";
}

enum kt_func_kind kt_func_classify(const uint8_t *code, size_t n)
{
#if defined(__x86_64__)
	static const uint8_t nop5[] = {0x0f, 0x1f, 0x44, 0x00, 0x00};

	if (n >= 5 && !memcmp(code, nop5, 5))
		return KT_FUNC_KIND_NOP5;
	if (n >= 1 && code[0] >= 0x50 && code[0] <= 0x57)
		return KT_FUNC_KIND_PUSH; /* push %rax..%rdi (%rbp: the frame-pointer prologue) */
	if (n >= 2 && code[0] == 0x41 && code[1] >= 0x50 && code[1] <= 0x57)
		return KT_FUNC_KIND_PUSH; /* push %r8..%r15 */
	if (n >= 1 && (code[0] == 0xe8 || code[0] == 0xe9 || code[0] == 0xeb ||
		       (code[0] >= 0x70 && code[0] <= 0x7f)))
		return KT_FUNC_KIND_BRANCH; /* call, jmp, jcc rel8 */
	if (n >= 2 && code[0] == 0x0f && code[1] >= 0x80 && code[1] <= 0x8f)
		return KT_FUNC_KIND_BRANCH; /* jcc rel32 */
#else
	(void)code;
	(void)n;
#endif
	return KT_FUNC_KIND_STEP;
}

int kt_func_parse_pattern(const char *pattern, char *lib, size_t liblen, char *glob, size_t globlen,
			  char *err, size_t errlen)
{
	const char *colon;
	size_t ll;

	if (!pattern || !*pattern) {
		snprintf(err, errlen, "--func: empty pattern");
		return -1;
	}
	colon = strrchr(pattern, ':');
	if (!colon) {
		lib[0] = 0;
		if (strlen(pattern) >= globlen) {
			snprintf(err, errlen, "--func '%s': pattern too long", pattern);
			return -1;
		}
		snprintf(glob, globlen, "%s", pattern);
		return 0;
	}
	ll = (size_t)(colon - pattern);
	if (ll == 0 || !colon[1]) {
		snprintf(err, errlen, "--func '%s': expected [LIBRARY:]FUNCTION-GLOB", pattern);
		return -1;
	}
	if (ll >= liblen || strlen(colon + 1) >= globlen) {
		snprintf(err, errlen, "--func '%s': pattern too long", pattern);
		return -1;
	}
	memcpy(lib, pattern, ll);
	lib[ll] = 0;
	snprintf(glob, globlen, "%s", colon + 1);
	return 0;
}

/* 2: equal, 1: name starts with lib followed by '.', 0: neither. */
static int name_match(const char *lib, const char *name)
{
	size_t n = strlen(lib);

	if (!name || !*name)
		return 0;
	if (!strcmp(lib, name))
		return 2;
	return !strncmp(lib, name, n) && name[n] == '.';
}

int kt_func_lib_match(const char *lib, const char *base, const char *soname)
{
	int a = name_match(lib, base), b = name_match(lib, soname);

	return a > b ? a : b;
}

const char *kt_func_refusal(const char *name, unsigned int st_type, uint64_t size)
{
	if (st_type == STT_GNU_IFUNC)
		return "IFUNC resolver: it runs once at load, probe the implementation it picks";
	if (size == 0)
		return "size 0: unknown extent, an alias or an assembler label";
	if (strstr(name, ".cold"))
		return ".cold fragment: entered by a jump from its parent, no return of its own";
	if (!strcmp(name, "_start") || !strcmp(name, "__restore_rt") ||
	    !strcmp(name, "_dl_start_user"))
		return "entry point: not entered by a call, no return address to probe";
	return NULL;
}

/* ---------------------------------------------------------------- resolution */

/* One file to search: where its symbols are read and where uprobes go. */
struct candidate {
	char path[PATH_MAX];	    /* as the user knows it */
	char attach_path[PATH_MAX]; /* as we open it */
	pid_t pid;		    /* -1: by path, every process; PID_COMMAND */
};

/* An IFUNC matched by the glob, resolved once the symbol walk is over. */
struct ifunc {
	char name[512];
	uint64_t resolver;
	uint64_t size; /* of the resolver */
};

struct scan {
	struct kt_func *f;
	const char *pattern; /* as given, for messages */
	const char *glob;
	const struct candidate *c;
	struct kt_elf *e;     /* the file probed: segments, offsets, code */
	struct kt_elf *sym_e; /* where its symbols are: e, or its separate debug file */
	struct ifunc *ifuncs;
	uint32_t nifuncs, capifuncs;
	GElf_Phdr segs[32];
	int nsegs;
	bool dynsym;
	struct stat st;
	uint32_t matched; /* probeable functions matched (incl. duplicates) */
	uint32_t refused; /* refused matches */
	char refused_names[256];
	int err;
};

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool in_exec_segment(const struct scan *s, uint64_t vaddr)
{
	for (int i = 0; i < s->nsegs && i < 32; i++)
		if ((s->segs[i].p_flags & PF_X) && vaddr >= s->segs[i].p_vaddr &&
		    vaddr - s->segs[i].p_vaddr < s->segs[i].p_memsz)
			return true;
	return false;
}

static int add_attachment(struct kt_func *f, uint32_t idx, pid_t pid)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < f->natt; i++)
		if (f->att[i].idx == idx && (f->att[i].pid == pid || f->att[i].pid == -1))
			return 0; /* already covered */
	if (pid == -1) {
		/* By path covers every process: drop the pid-specific ones. */
		for (uint32_t i = 0; i < f->natt; i++)
			if (f->att[i].idx != idx)
				f->att[j++] = f->att[i];
		f->natt = j;
	}
	if (kt_func_grow((void **)&f->att, &f->capatt, f->natt, sizeof(*f->att)))
		return -1;
	f->att[f->natt++] = (struct attachment){idx, pid};
	return 0;
}

static int read_code(const char *path, uint64_t off, uint8_t *buf, size_t n)
{
	FILE *fp = fopen(path, "rbe");
	size_t got = 0;

	if (!fp)
		return 0;
	if (fseeko(fp, (off_t)off, SEEK_SET) == 0)
		got = fread(buf, 1, n, fp);
	fclose(fp);
	return (int)got;
}

static int push_fn(struct kt_func_fn **v, uint32_t *n, uint32_t *cap, const struct scan *s,
		   const char *name, const GElf_Sym *sym, uint64_t off, const char *why)
{
	struct kt_func_fn *x;
	uint8_t code[16];
	int nc;

	if (kt_func_grow((void **)v, cap, *n, sizeof(**v)))
		return -1;
	x = &(*v)[*n];
	memset(x, 0, sizeof(*x));
	x->name = strdup(name);
	x->path = strdup(s->c->path);
	x->attach_path = strdup(s->c->attach_path);
	if (!x->name || !x->path || !x->attach_path) {
		kt_func_fn_free(x);
		return -1;
	}
	x->module = base_name(x->path);
	x->vaddr = sym->st_value;
	x->size = sym->st_size;
	x->offset = off;
	x->dev = s->st.st_dev;
	x->ino = s->st.st_ino;
	x->dynsym = s->dynsym;
	x->debug_file = s->sym_e != s->e;
	x->refused = why;
	nc = why ? 0 : read_code(s->c->attach_path, off, code, sizeof(code));
	x->kind = kt_func_classify(code, nc > 0 ? (size_t)nc : 0);
	(*n)++;
	return 0;
}

/* Lists a refused match (why) or adds a probeable one, once per address. */
static int consider(struct scan *s, const char *name, const GElf_Sym *sym, const char *why)
{
	struct kt_func *f = s->f;
	uint64_t off = 0;

	if (!why && !in_exec_segment(s, sym->st_value))
		why = "not in an executable segment";
	if (!why && kt_elf_vaddr_to_offset(s->e, sym->st_value, &off) != 0)
		why = "no file offset (not in a loadable segment)";
	if (why) {
		s->refused++;
		size_t l = strlen(s->refused_names);

		if (l < sizeof(s->refused_names) - 1 &&
		    snprintf(s->refused_names + l, sizeof(s->refused_names) - l, "%s%s [%s]",
			     l ? ", " : "", name, why) >= (int)(sizeof(s->refused_names) - l))
			s->refused_names[sizeof(s->refused_names) - 1] = 0;
		/* list shows refusals; dedupe by address like the functions */
		if (f->list_mode) {
			for (uint32_t i = 0; i < f->nref; i++)
				if (f->ref[i].ino == s->st.st_ino &&
				    f->ref[i].dev == s->st.st_dev &&
				    f->ref[i].vaddr == sym->st_value &&
				    !strcmp(f->ref[i].name, name))
					return 0;
			if (push_fn(&f->ref, &f->nref, &f->capref, s, name, sym, off, why))
				return s->err = -ENOMEM, 1;
		}
		return 0;
	}
	s->matched++;
	/* The same code once, however many names, patterns or processes reach it. */
	for (uint32_t i = 0; i < f->nfn; i++) {
		if (f->fn[i].ino == s->st.st_ino && f->fn[i].dev == s->st.st_dev &&
		    f->fn[i].vaddr == sym->st_value) {
			if (add_attachment(f, i, s->c->pid))
				return s->err = -ENOMEM, 1;
			return 0;
		}
	}
	if (push_fn(&f->fn, &f->nfn, &f->capfn, s, name, sym, off, NULL) ||
	    add_attachment(f, f->nfn - 1, s->c->pid))
		return s->err = -ENOMEM, 1;
	return 0;
}

/* Keeps an IFUNC for resolution after the walk (once per resolver). */
static int defer_ifunc(struct scan *s, const char *name, const GElf_Sym *sym)
{
	uint64_t resolver = sym->st_value;

	for (uint32_t i = 0; i < s->nifuncs; i++)
		if (s->ifuncs[i].resolver == resolver)
			return 0;
	if (kt_func_grow((void **)&s->ifuncs, &s->capifuncs, s->nifuncs, sizeof(*s->ifuncs)))
		return s->err = -ENOMEM, 1;
	snprintf(s->ifuncs[s->nifuncs].name, sizeof(s->ifuncs[0].name), "%s", name);
	s->ifuncs[s->nifuncs].size = sym->st_size;
	s->ifuncs[s->nifuncs++].resolver = resolver;
	return 0;
}

static int scan_symbol(const char *raw, const GElf_Sym *sym, void *ctx)
{
	struct scan *s = ctx;
	unsigned int type = GELF_ST_TYPE(sym->st_info);
	const char *at = strchr(raw, '@');
	char name[512];

	if (type != STT_FUNC && type != STT_GNU_IFUNC)
		return 0;
	/*
	 * .symtab may carry "name@@VERSION" (the default version, what a
	 * program linked today calls): match and show the plain name. A
	 * "name@VERSION" is a compatibility version kept for old binaries
	 * (memcpy@GLIBC_2.2.5): it keeps its version, so "memcpy" does not
	 * reach it and "memcpy@*" does.
	 */
	if (at && at[1] != '@')
		snprintf(name, sizeof(name), "%s", raw);
	else
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(raw, "@"), raw);
	if (!name[0] || fnmatch(s->glob, name, 0) != 0)
		return 0;
	if (type == STT_GNU_IFUNC && sym->st_size > 0)
		return defer_ifunc(s, name, sym);
	return consider(s, name, sym, kt_func_refusal(name, type, sym->st_size));
}

/* The public-looking name of the function at vaddr: fewest leading '_', then shortest. */
struct name_at {
	uint64_t vaddr;
	uint64_t size;
	char name[256];
	bool found;
};

static int name_at_cb(const char *raw, const GElf_Sym *sym, void *ctx)
{
	struct name_at *n = ctx;
	size_t len = strcspn(raw, "@"), u = strspn(raw, "_");

	if (GELF_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_value != n->vaddr || !len)
		return 0;
	if (n->found) {
		size_t nlen = strlen(n->name), nu = strspn(n->name, "_");

		if (u > nu || (u == nu && len >= nlen))
			return 0;
	}
	snprintf(n->name, sizeof(n->name), "%.*s", (int)len, raw);
	n->size = sym->st_size;
	n->found = true;
	return 0;
}

static void rooted(pid_t pid, const char *path, char *out, size_t n);
static void maps_file(const char *line, char *perms, size_t plen, char *file, size_t flen);

/* One pointer of pid's memory at addr (the tracer's own when pid is ours). 0 or -1. */
static int read_word(pid_t pid, uint64_t addr, uint64_t *word)
{
	struct iovec local = {word, sizeof(*word)};
	struct iovec remote = {(void *)(uintptr_t)addr, sizeof(*word)};

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(*word) ? 0 : -1;
}

/*
 * The implementation in the GOT slots that the file use, mapped by pid,
 * keeps for name (JUMP_SLOT, GLOB_DAT): an address in the IFUNC's file
 * (load bias base) other than the resolver. A lazily bound JUMP_SLOT still
 * points into its own object's PLT until the first call: not an answer.
 */
static bool got_choice(const struct scan *s, pid_t pid, const char *use, const struct ifunc *ifn,
		       uint64_t base, uint64_t *impl)
{
	uint64_t slots[16], rt, target;
	struct kt_elf *e;
	int n;

	if (kt_elf_open(use, &e))
		return false;
	n = kt_elf_find_got_refs(e, ifn->name, slots, 16);
	kt_elf_close(e);
	for (int i = 0; i < n && i < 16; i++) {
		if (kt_sym_runtime_addr(pid, use, slots[i], &rt) || read_word(pid, rt, &target))
			continue;
		if (target - base != ifn->resolver && in_exec_segment(s, target - base)) {
			*impl = target - base;
			return true;
		}
	}
	return false;
}

struct callers {
	const struct scan *s;
	pid_t pid;
	const struct ifunc *ifn;
	uint64_t base, *impl;
};

/* 1 (stop) once this executable file's GOT holds the choice. */
static int caller_choice(const struct kt_proc_map *m, void *arg)
{
	struct callers *c = arg;
	char use[PATH_MAX];

	if (!kt_proc_map_file(m))
		return 0;
	rooted(c->pid, m->path, use, sizeof(use));
	return got_choice(c->s, c->pid, use, c->ifn, c->base, c->impl);
}

/* got_choice() over every executable file pid maps (the IFUNC's callers). */
static bool callers_choice(const struct scan *s, pid_t pid, const struct ifunc *ifn, uint64_t base,
			   uint64_t *impl)
{
	struct callers c = {s, pid, ifn, base, impl};

	return kt_proc_files_each(pid, true, caller_choice, &c) == 1;
}

/*
 * The implementation an IFUNC resolved to, as a virtual address of the same
 * file. The dynamic linker runs the resolver at load and stores its answer
 * in GOT slots, so the slots, read in a live process, are the choice that
 * process made (-p PID): the slot of the object's own IRELATIVE relocation
 * (its own calls), else the JUMP_SLOT/GLOB_DAT slots of the objects that
 * call it. By path (-b) the process may not exist yet: the choice
 * kaos-trace's own loader made for the same file on this CPU stands in for
 * it (IRELATIVE only). Calling the resolver ourselves would run code of the
 * target in the tracer, and its answer depends on the loader's state
 * (hwcaps, tunables). NULL with *impl and *who, or why not.
 */
static const char *ifunc_target(const struct scan *s, const struct ifunc *ifn, pid_t *who,
				uint64_t *impl)
{
	pid_t pid = s->c->pid > 0 ? s->c->pid : getpid();
	uint64_t slot, rt, base, target = 0;
	bool own = kt_elf_find_irelative(s->e, ifn->resolver, &slot) == 0;

	if (s->e->ehdr.e_ident[EI_CLASS] != ELFCLASS64)
		return "IFUNC in a 32-bit object: not supported, probe its implementation by name";
	if (!own && s->c->pid <= 0)
		return "IFUNC its own object never calls (no IRELATIVE slot records the choice): "
		       "give -p PID of a process calling it, or probe its implementation by name";
	if (kt_sym_runtime_addr(pid, s->c->attach_path, ifn->resolver, &rt))
		return s->c->pid > 0
			       ? "IFUNC: the file is not mapped by the process"
			       : "IFUNC of a file kaos-trace does not map itself: give -p PID "
				 "of a process using it, or probe its implementation by name";
	base = rt - ifn->resolver;
	if (own) {
		if (read_word(pid, base + slot, &target))
			return "IFUNC: cannot read the process's choice (process_vm_readv failed)";
		*impl = target - base;
	} else if (!callers_choice(s, pid, ifn, base, impl)) {
		return "IFUNC that the process has not bound yet (no GOT slot holds an "
		       "implementation: lazily bound until its first call)";
	}
	if (!in_exec_segment(s, *impl))
		return "IFUNC not resolved yet in the process, or to code outside its file";
	*who = pid;
	return NULL;
}

/* Queues the line that says which implementation of an IFUNC is probed. */
static int note_ifunc(struct scan *s, const char *ifunc, const struct kt_func_fn *x, pid_t who)
{
	struct kt_func *f = s->f;
	char *n = NULL;

	if (f->list_mode)
		return 0; /* list shows it in the function's row */
	if (asprintf(&n,
		     "--func '%s': %s is an IFUNC: probing %s at %s+0x%" PRIx64
		     " (file offset 0x%" PRIx64 "), the implementation %s%d%s uses%s",
		     s->pattern, ifunc, x->name, x->module, x->vaddr, x->offset,
		     who == getpid() ? "kaos-trace itself (pid " : "pid ", (int)who,
		     who == getpid() ? ")" : "", who == getpid() ? " on this CPU" : "") < 0 ||
	    kt_func_grow((void **)&f->pending, &f->cappending, f->npending, sizeof(char *))) {
		free(n);
		return s->err = -ENOMEM, 1;
	}
	f->pending[f->npending++] = n;
	return 0;
}

/* Probes (or refuses) the implementation of every IFUNC the glob matched. */
static int resolve_ifuncs(struct scan *s)
{
	for (uint32_t i = 0; i < s->nifuncs && !s->err; i++) {
		const struct ifunc *ifn = &s->ifuncs[i];
		GElf_Sym sym = {.st_info = GELF_ST_INFO(STB_GLOBAL, STT_FUNC)};
		struct name_at na = {0};
		uint32_t before = s->f->nfn;
		const char *why;
		pid_t who = 0;

		why = ifunc_target(s, ifn, &who, &na.vaddr);
		if (why) {
			sym.st_value = ifn->resolver;
			sym.st_size = ifn->size;
			consider(s, ifn->name, &sym, why);
			continue;
		}
		kt_elf_for_each_symbol(s->sym_e, name_at_cb, &na, NULL);
		sym.st_value = na.vaddr;
		sym.st_size = na.size;
		if (consider(s, na.found ? na.name : ifn->name, &sym, NULL) || s->f->nfn == before)
			continue; /* error, or the implementation is already probed */
		struct kt_func_fn *x = &s->f->fn[s->f->nfn - 1];

		x->ifunc = strdup(ifn->name);
		if (!x->ifunc)
			return s->err = -ENOMEM, 1;
		note_ifunc(s, ifn->name, x, who);
	}
	return s->err ? 1 : 0;
}

/* Matches glob in one file; counts what matched in *s. 0 or -1 with err. */
static int scan_file(struct kt_func *f, const char *pattern, const char *glob,
		     const struct candidate *c, struct scan *s, char *err, size_t errlen)
{
	struct kt_elf *dbg = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	s->f = f;
	s->pattern = pattern;
	s->glob = glob;
	s->c = c;
	r = kt_elf_open(c->attach_path, &s->e);
	if (r) {
		snprintf(err, errlen, "--func '%s': %s: %s", pattern, c->path, kt_elf_strerror(r));
		return -1;
	}
	s->st = s->e->st;
	s->nsegs = kt_elf_load_segments(s->e, s->segs, 32);
	/* a stripped file's static functions are in its separate debug file */
	s->sym_e = s->e;
	if (kt_debuginfo_open(s->e, c->path[0] == '/' ? c->path : c->attach_path, &dbg) == 0)
		s->sym_e = dbg;
	s->dynsym = !kt_debuginfo_has_symtab(s->sym_e);
	r = kt_elf_for_each_symbol(s->sym_e, scan_symbol, s, NULL);
	if (r >= 0 && !s->err)
		resolve_ifuncs(s);
	kt_elf_close(dbg);
	kt_elf_close(s->e);
	s->e = s->sym_e = NULL;
	free(s->ifuncs);
	s->ifuncs = NULL;
	if (s->err) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (r < 0) {
		snprintf(err, errlen, "--func '%s': %s: %s", pattern, c->path, kt_elf_strerror(r));
		return -1;
	}
	return 0;
}

/* The soname of an ELF file ("" if none or unreadable). */
static void file_soname(const char *path, char *out, size_t n)
{
	struct kt_elf *e;

	out[0] = 0;
	if (kt_elf_open(path, &e))
		return;
	if (kt_elf_soname(e, out, n))
		out[0] = 0;
	kt_elf_close(e);
}

static void rooted(pid_t pid, const char *path, char *out, size_t n)
{
	char r[PATH_MAX + 32];

	snprintf(r, sizeof(r), "/proc/%d/root%s", (int)pid, path);
	if (snprintf(out, n, "%s", access(r, R_OK) == 0 ? r : path) >= (int)n)
		snprintf(out, n, "%s", path); /* too long with the prefix: the plain path */
}

/* The file of a /proc/PID/maps line ("" for none); keeps spaces, drops " (deleted)". */
static void maps_file(const char *line, char *perms, size_t plen, char *file, size_t flen)
{
	int pos = 0;

	file[0] = perms[0] = 0;
	if (sscanf(line, "%*x-%*x %7s %*x %*s %*u %n", perms, &pos) < 1 || !pos ||
	    line[pos] != '/' || strlen(perms) >= plen)
		return;
	snprintf(file, flen, "%.*s", (int)strcspn(line + pos, "\n"), line + pos);
	char *d = strstr(file, " (deleted)");

	if (d && !d[10])
		*d = 0;
}

/* pid's main executable in *out: 1, or -1 with err. */
static int pid_exe_candidate(pid_t pid, struct candidate *out, char *err, size_t errlen)
{
	int e = kt_proc_exe(pid, out->path, sizeof(out->path));

	if (e) {
		snprintf(err, errlen,
			 e == -ENOENT ? "no such process: %d"
				      : "pid %d: cannot read its executable",
			 (int)pid);
		return -1;
	}
	/* The magic link reaches the exact inode (containers, replaced files). */
	snprintf(out->attach_path, sizeof(out->attach_path), "/proc/%d/exe", (int)pid);
	out->pid = pid;
	return 1;
}

/*
 * How well a file pid maps (file, opened as use) answers to lib: 2 exactly,
 * 1 by prefix, 0 not (kt_func_lib_match); a lib path (lst: its stat) only
 * by inode.
 */
static int lib_score(const char *lib, const struct stat *lst, const char *file, const char *use)
{
	char soname[256];
	struct stat st;

	if (lst)
		return stat(use, &st) == 0 && st.st_ino == lst->st_ino && st.st_dev == lst->st_dev
			       ? 2
			       : 0;
	file_soname(use, soname, sizeof(soname));
	return kt_func_lib_match(lib, base_name(file), soname);
}

/*
 * The file of pid answering to lib (NULL: its main executable) in *out.
 * Returns 1, 0 (no such file mapped), or -1 with err (ambiguous, no process).
 */
static int pid_candidate(pid_t pid, const char *lib, const char *pattern, struct candidate *out,
			 char *err, size_t errlen)
{
	char path[64], line[PATH_MAX + 256], best_file[PATH_MAX] = "";
	struct stat lst;
	bool by_path = lib && strchr(lib, '/');
	char **seen = NULL;
	uint32_t nseen = 0, capseen = 0;
	int best = 0, nbest = 0, ret = -1;
	FILE *fp;

	if (!lib)
		return pid_exe_candidate(pid, out, err, errlen);
	if (by_path && stat(lib, &lst) != 0) {
		snprintf(err, errlen, "--func '%s': %s: %s", pattern, lib, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	if (!fp) {
		snprintf(err, errlen,
			 errno == ENOENT ? "no such process: %d" : "cannot read maps of pid %d",
			 (int)pid);
		return -1;
	}
	while (fgets(line, sizeof(line), fp)) {
		char perms[8], file[PATH_MAX], use[PATH_MAX];
		bool dup = false;
		int score;

		maps_file(line, perms, sizeof(perms), file, sizeof(file));
		if (!file[0] || perms[2] != 'x')
			continue;
		for (uint32_t i = 0; i < nseen && !dup; i++)
			dup = !strcmp(seen[i], file);
		if (dup)
			continue;
		if (kt_func_grow((void **)&seen, &capseen, nseen, sizeof(*seen)) ||
		    !(seen[nseen] = strdup(file))) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		nseen++;
		rooted(pid, file, use, sizeof(use));
		score = lib_score(lib, by_path ? &lst : NULL, file, use);
		if (!score || score < best)
			continue;
		if (score > best)
			nbest = 0;
		if (nbest == 1) {
			snprintf(err, errlen, "--func '%s': '%s' is ambiguous in pid %d: %s, %s",
				 pattern, lib, (int)pid, best_file, file);
			goto out;
		}
		best = score;
		nbest = 1;
		snprintf(best_file, sizeof(best_file), "%s", file);
	}
	ret = 0;
	if (nbest) {
		snprintf(out->path, sizeof(out->path), "%s", best_file);
		rooted(pid, best_file, out->attach_path, sizeof(out->attach_path));
		out->pid = pid;
		ret = 1;
	}
out:
	fclose(fp);
	for (uint32_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	return ret;
}

/* The file of -b path answering to lib (NULL: path itself). 1, 0 (none) or -1. */
static int path_candidate(const char *path, const char *lib, const char *pattern,
			  struct candidate *out, char *err, size_t errlen)
{
	char soname[256], found[PATH_MAX];
	const char *use = path;
	struct stat st;

	if (lib && strchr(lib, '/')) {
		use = lib;
	} else if (lib) {
		file_soname(path, soname, sizeof(soname));
		if (!kt_func_lib_match(lib, base_name(path), soname)) {
			if (kt_elf_find_needed(path, lib, found, sizeof(found)) != 0)
				return 0;
			use = found;
		}
	}
	if (stat(use, &st) != 0) {
		snprintf(err, errlen, "--func '%s': %s: %s", pattern, use, strerror(errno));
		return -1;
	}
	char real[PATH_MAX];

	/* found through $ORIGIN: show it without "dir/../.." */
	if (use == found && realpath(found, real))
		use = real;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "--func '%s': %s: not a regular file", pattern, use);
		return -1;
	}
	snprintf(out->path, sizeof(out->path), "%s", use);
	snprintf(out->attach_path, sizeof(out->attach_path), "%s", use);
	out->pid = -1;
	return 1;
}

/*
 * The files of every target answering to lib (c: room for npids + npaths +
 * 1). How many (at least one), or -1 with err.
 */
static int find_candidates(struct kt_func *f, const char *pattern, const char *lib,
			   struct candidate *c, char *err, size_t errlen)
{
	int nc = 0;

	for (int i = 0; i < f->o.npids; i++) {
		int r = pid_candidate(f->o.pids[i], lib, pattern, c + nc, err, errlen);

		if (r < 0)
			return -1;
		nc += r;
	}
	for (int i = 0; i < f->o.npaths; i++) {
		int r = path_candidate(f->o.paths[i], lib, pattern, c + nc, err, errlen);

		if (r < 0)
			return -1;
		nc += r;
	}
	if (f->o.command) {
		int r = path_candidate(f->o.command, lib, pattern, c + nc, err, errlen);

		if (r < 0)
			return -1;
		if (r)
			c[nc++].pid = PID_COMMAND;
	}
	if (nc == 0) {
		if (f->o.npids && !f->o.npaths)
			snprintf(err, errlen,
				 "--func '%s': no file named '%s' is mapped by %s %d%s", pattern,
				 lib, "pid", (int)f->o.pids[0],
				 f->o.npids > 1 ? " (or the other pids)" : "");
		else
			snprintf(err, errlen,
				 "--func '%s': '%s' is not %s nor a library it needs (give the "
				 "library's path)",
				 pattern, lib,
				 f->o.npaths	? f->o.paths[0]
				 : f->o.command ? f->o.command
						: "a target");
		return -1;
	}
	return nc;
}

/* Keeps the "skipping N functions" note until resolution succeeds (an error stays the only line).
 */
static int defer_refused_note(struct kt_func *f, const char *pattern, uint32_t refused,
			      const char *names, size_t names_size, char *err, size_t errlen)
{
	char *n = NULL;

	if (asprintf(&n, "--func '%s': skipping %u function%s that cannot be probed: %s%s", pattern,
		     refused, refused == 1 ? "" : "s", names,
		     strlen(names) >= names_size - 1 ? "..." : "") < 0 ||
	    kt_func_grow((void **)&f->pending, &f->cappending, f->npending, sizeof(char *))) {
		free(n);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->pending[f->npending++] = n;
	return 0;
}

static int resolve_pattern(struct kt_func *f, const char *pattern, char *err, size_t errlen)
{
	char lib[PATH_MAX], glob[512], where[512] = "";
	struct candidate *c;
	int nc;
	uint32_t matched = 0, refused = 0;
	char refused_names[256] = "";

	if (kt_func_parse_pattern(pattern, lib, sizeof(lib), glob, sizeof(glob), err, errlen))
		return -1;
	c = calloc((size_t)(f->o.npids + f->o.npaths + 1), sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nc = find_candidates(f, pattern, lib[0] ? lib : NULL, c, err, errlen);
	if (nc < 0)
		goto fail;
	for (int i = 0; i < nc; i++) {
		struct scan s;
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= c[j].pid == c[i].pid && !strcmp(c[j].attach_path, c[i].attach_path);
		if (dup)
			continue;
		if (scan_file(f, pattern, glob, &c[i], &s, err, errlen))
			goto fail;
		matched += s.matched;
		refused += s.refused;
		if (s.refused_names[0] && !refused_names[0])
			snprintf(refused_names, sizeof(refused_names), "%s", s.refused_names);
		size_t l = strlen(where);

		if (l < sizeof(where) - 1 && !strstr(where, c[i].path) &&
		    snprintf(where + l, sizeof(where) - l, "%s%s", l ? ", " : "", c[i].path) >=
			    (int)(sizeof(where) - l))
			where[sizeof(where) - 1] = 0;
	}
	free(c);
	if (matched == 0 && refused == 0) {
		snprintf(err, errlen, "--func '%s': no function matches '%s' in %s", pattern, glob,
			 where);
		return -1;
	}
	if (matched == 0 && !f->list_mode) {
		snprintf(err, errlen,
			 "--func '%s': matches only functions that cannot be probed: %s", pattern,
			 refused_names);
		return -1;
	}
	if (refused && !f->list_mode)
		return defer_refused_note(f, pattern, refused, refused_names, sizeof(refused_names),
					  err, errlen);
	return 0;
fail:
	free(c);
	return -1;
}

int kt_func_resolve_mode(const struct kt_func_opts *o, bool list_mode, struct kt_func **out,
			 char *err, size_t errlen)
{
	struct kt_func *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->o = *o;
	f->list_mode = list_mode;
	if (!f->o.max_funcs)
		f->o.max_funcs = KT_FUNC_MAX_FUNCS_DEFAULT;
	if (f->o.max_funcs > KT_FUNC_MAX - 1) {
		snprintf(err, errlen, "--max-funcs %u is above the limit of %u", f->o.max_funcs,
			 KT_FUNC_MAX - 1);
		goto fail;
	}
	if (!o->npids && !o->npaths && !o->command) {
		snprintf(err, errlen, "--func needs a target: -p PID, -b PATH or -- COMMAND");
		goto fail;
	}
	for (int i = 0; i < o->npatterns; i++)
		if (resolve_pattern(f, o->patterns[i], err, errlen))
			goto fail;
	if (!list_mode && f->nfn > f->o.max_funcs) {
		snprintf(
			err, errlen,
			"--func matches %u functions, more than --max-funcs %u (narrow the pattern "
			"or raise --max-funcs)",
			f->nfn, f->o.max_funcs);
		goto fail;
	}
	f->desc = calloc(f->nfn ? f->nfn : 1, sizeof(*f->desc));
	if (!f->desc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < f->nfn; i++) {
		f->desc[i].name = f->fn[i].name;
		f->desc[i].module = f->fn[i].module;
		f->desc[i].sample_every = 1;
	}
	for (uint32_t i = 0; i < f->npending; i++)
		kt_func_note(f, false, "%s", f->pending[i]);
	*out = f;
	return 0;
fail:
	kt_func_free(f);
	return -1;
}

int kt_func_resolve(const struct kt_func_opts *o, struct kt_func **out, char *err, size_t errlen)
{
	return kt_func_resolve_mode(o, false, out, err, errlen);
}
