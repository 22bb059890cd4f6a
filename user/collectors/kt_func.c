// SPDX-License-Identifier: MIT
#include "kt_func.h"
#include "kt_clock.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_func.skel.h"
#include "kt_debuginfo.h"
#include "kt_elf.h"
#include "kt_hist.h"
#include "kt_percpu.h"
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

/* ---------------------------------------------------------------- state */

/* Attachment pid of the -- COMMAND's functions until kt_func_command_pid(). */
#define PID_COMMAND (-2)

struct attachment {
	uint32_t idx;
	pid_t pid; /* -1: every process; PID_COMMAND: the command's, once known */
};

struct tick_ent {
	uint32_t pid;
	uint32_t idx;
	uint64_t base; /* count at the start of the current window */
};

struct kt_func {
	struct kt_func_opts o;
	FILE *notes;
	struct kt_func_fn *fn;
	uint32_t nfn, capfn;
	struct kt_func_fn *ref; /* refused */
	uint32_t nref, capref;
	struct attachment *att;
	uint32_t natt, capatt;
	struct kt_func_desc *desc;
	bool list_mode;
	char **pending; /* notes printed once resolution succeeded */
	uint32_t npending, cappending;

	struct kaos_func_bpf *skel;
	struct bpf_link **links;
	int nlinks;

	bool calibrated;
	double pair[KT_FUNC_NKINDS], bias[KT_FUNC_NKINDS];

	uint64_t win_start, next_tick;
	struct tick_ent *tk;
	uint32_t ntk, captk;
	uint32_t *warned;
	uint32_t nwarned, capwarned;
};

static int grow(void **v, uint32_t *cap, uint32_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * elem);

	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static void fn_free(struct kt_func_fn *x)
{
	free(x->name);
	free(x->path);
	free(x->attach_path);
	free(x->ifunc);
}

void kt_func_free(struct kt_func *f)
{
	if (!f)
		return;
	kt_func_detach(f);
	if (f->skel)
		kaos_func_bpf__destroy(f->skel);
	for (uint32_t i = 0; i < f->nfn; i++)
		fn_free(&f->fn[i]);
	for (uint32_t i = 0; i < f->nref; i++)
		fn_free(&f->ref[i]);
	free(f->fn);
	free(f->ref);
	free(f->att);
	free(f->desc);
	free(f->links);
	free(f->tk);
	free(f->warned);
	for (uint32_t i = 0; i < f->npending; i++)
		free(f->pending[i]);
	free(f->pending);
	free(f);
}

uint32_t kt_func_count(const struct kt_func *f)
{
	return f ? f->nfn : 0;
}

const struct kt_func_fn *kt_func_get(const struct kt_func *f, uint32_t idx)
{
	return f && idx < f->nfn ? &f->fn[idx] : NULL;
}

const char *kt_func_name(const struct kt_func *f, uint32_t idx)
{
	return f && idx < f->nfn ? f->fn[idx].name : "?";
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
	if (grow((void **)&f->att, &f->capatt, f->natt, sizeof(*f->att)))
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

	if (grow((void **)v, cap, *n, sizeof(**v)))
		return -1;
	x = &(*v)[*n];
	memset(x, 0, sizeof(*x));
	x->name = strdup(name);
	x->path = strdup(s->c->path);
	x->attach_path = strdup(s->c->attach_path);
	if (!x->name || !x->path || !x->attach_path) {
		fn_free(x);
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
	if (grow((void **)&s->ifuncs, &s->capifuncs, s->nifuncs, sizeof(*s->ifuncs)))
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

/* got_choice() over every executable file pid maps (the IFUNC's callers). */
static bool callers_choice(const struct scan *s, pid_t pid, const struct ifunc *ifn, uint64_t base,
			   uint64_t *impl)
{
	char path[64], line[PATH_MAX + 256], last[PATH_MAX] = "";
	bool found = false;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	while (!found && fgets(line, sizeof(line), fp)) {
		char perms[8], file[PATH_MAX], use[PATH_MAX];

		maps_file(line, perms, sizeof(perms), file, sizeof(file));
		if (!file[0] || perms[2] != 'x' || !strcmp(file, last))
			continue;
		snprintf(last, sizeof(last), "%s", file);
		rooted(pid, file, use, sizeof(use));
		found = got_choice(s, pid, use, ifn, base, impl);
	}
	fclose(fp);
	return found;
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
	    grow((void **)&f->pending, &f->cappending, f->npending, sizeof(char *))) {
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

	if (!lib) {
		char exe[PATH_MAX];
		ssize_t l;

		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		l = readlink(path, exe, sizeof(exe) - 1);
		if (l < 0) {
			snprintf(err, errlen,
				 errno == ENOENT ? "no such process: %d"
						 : "pid %d: cannot read its executable",
				 (int)pid);
			return -1;
		}
		exe[l] = 0;
		snprintf(out->path, sizeof(out->path), "%s", exe);
		/* The magic link reaches the exact inode (containers, replaced files). */
		snprintf(out->attach_path, sizeof(out->attach_path), "%s", path);
		out->pid = pid;
		return 1;
	}
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
		char perms[8], file[PATH_MAX], soname[256], use[PATH_MAX];
		bool dup = false;
		int score;

		maps_file(line, perms, sizeof(perms), file, sizeof(file));
		if (!file[0] || perms[2] != 'x')
			continue;
		for (uint32_t i = 0; i < nseen && !dup; i++)
			dup = !strcmp(seen[i], file);
		if (dup)
			continue;
		if (grow((void **)&seen, &capseen, nseen, sizeof(*seen)) ||
		    !(seen[nseen] = strdup(file))) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		nseen++;
		rooted(pid, file, use, sizeof(use));
		if (by_path) {
			struct stat st;

			score = stat(use, &st) == 0 && st.st_ino == lst.st_ino &&
						st.st_dev == lst.st_dev
					? 2
					: 0;
		} else {
			file_soname(use, soname, sizeof(soname));
			score = kt_func_lib_match(lib, base_name(file), soname);
		}
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

static void note(struct kt_func *f, const char *fmt, ...)
{
	va_list ap;

	fputs("kaos-trace: ", f->notes);
	va_start(ap, fmt);
	vfprintf(f->notes, fmt, ap);
	va_end(ap);
	fputc('\n', f->notes);
}

static int resolve_pattern(struct kt_func *f, const char *pattern, char *err, size_t errlen)
{
	char lib[PATH_MAX], glob[512], where[512] = "";
	struct candidate *c;
	int nc = 0, cap = f->o.npids + f->o.npaths + 1;
	uint32_t matched = 0, refused = 0;
	char refused_names[256] = "";

	if (kt_func_parse_pattern(pattern, lib, sizeof(lib), glob, sizeof(glob), err, errlen))
		return -1;
	c = calloc((size_t)cap, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < f->o.npids; i++) {
		int r = pid_candidate(f->o.pids[i], lib[0] ? lib : NULL, pattern, c + nc, err,
				      errlen);

		if (r < 0)
			goto fail;
		nc += r;
	}
	for (int i = 0; i < f->o.npaths; i++) {
		int r = path_candidate(f->o.paths[i], lib[0] ? lib : NULL, pattern, c + nc, err,
				       errlen);

		if (r < 0)
			goto fail;
		nc += r;
	}
	if (f->o.command) {
		int r = path_candidate(f->o.command, lib[0] ? lib : NULL, pattern, c + nc, err,
				       errlen);

		if (r < 0)
			goto fail;
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
		goto fail;
	}
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
	if (refused && !f->list_mode) {
		/* kept until resolution succeeds: an error stays the only line */
		char *n = NULL;

		if (asprintf(&n, "--func '%s': skipping %u function%s that cannot be probed: %s%s",
			     pattern, refused, refused == 1 ? "" : "s", refused_names,
			     strlen(refused_names) >= sizeof(refused_names) - 1 ? "..." : "") < 0 ||
		    grow((void **)&f->pending, &f->cappending, f->npending, sizeof(char *))) {
			free(n);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		f->pending[f->npending++] = n;
	}
	return 0;
fail:
	free(c);
	return -1;
}

static int resolve(const struct kt_func_opts *o, bool list_mode, struct kt_func **out, char *err,
		   size_t errlen)
{
	struct kt_func *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	f->o = *o;
	f->notes = o->notes ? o->notes : stderr;
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
		note(f, "%s", f->pending[i]);
	*out = f;
	return 0;
fail:
	kt_func_free(f);
	return -1;
}

int kt_func_resolve(const struct kt_func_opts *o, struct kt_func **out, char *err, size_t errlen)
{
	return resolve(o, false, out, err, errlen);
}

/* ---------------------------------------------------------------- BPF */

void kt_func_command_pid(struct kt_func *f, pid_t pid)
{
	for (uint32_t i = 0; f && i < f->natt; i++)
		if (f->att[i].pid == PID_COMMAND)
			f->att[i].pid = pid;
}

int kt_func_load(struct kt_func *f, int events_fd, int stats_fd, uint64_t wakeup_bytes, char *err,
		 size_t errlen)
{
	int e;

	f->skel = kaos_func_bpf__open();
	if (!f->skel) {
		snprintf(err, errlen, "cannot open the --func BPF object: %s", strerror(errno));
		return -1;
	}
	f->skel->rodata->want_stacks = f->o.stacks;
	f->skel->rodata->wakeup_bytes = wakeup_bytes;
	e = bpf_map__reuse_fd(f->skel->maps.events, events_fd);
	if (!e)
		e = bpf_map__reuse_fd(f->skel->maps.kt_stats, stats_fd);
	if (e) {
		snprintf(err, errlen, "cannot share the ring buffer with --func: %s", strerror(-e));
		return -1;
	}
	e = kaos_func_bpf__load(f->skel);
	if (e) {
		snprintf(err, errlen, "--func BPF load failed: %s", strerror(-e));
		return -1;
	}
	for (uint32_t i = 0; i < KT_FUNC_MAX; i++)
		f->skel->bss->sample_every[i] = 1;
	return 0;
}

static struct bpf_link *attach_pair_one(struct kt_func *f, bool ret, pid_t pid, const char *path,
					uint64_t offset, uint32_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = cookie);

	return bpf_program__attach_uprobe_opts(ret ? f->skel->progs.kt_func_exit
						   : f->skel->progs.kt_func_entry,
					       pid, path, (size_t)offset, &uo);
}

/* Makes room for n more links (and file descriptors for them). */
static int reserve_links(struct kt_func *f, int n)
{
	struct rlimit rl;
	struct bpf_link **v = realloc(f->links, sizeof(*v) * (size_t)(f->nlinks + n));

	if (!v)
		return -1;
	f->links = v;
	/* One perf event fd per uprobe: raise the soft limit if it would not do. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(f->nlinks + n + 256) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return 0;
}

int kt_func_attach(struct kt_func *f, char *err, size_t errlen)
{
	if (reserve_links(f, 2 * (int)f->natt)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < f->nfn; i++)
		f->skel->bss->pair_cost_ns[i] = (uint32_t)(kt_func_pair_ns(f, f->fn[i].kind) + 0.5);
	for (uint32_t i = 0; i < f->natt; i++) {
		const struct kt_func_fn *x = &f->fn[f->att[i].idx];

		for (int ret = 0; ret < 2; ret++) {
			struct bpf_link *l = attach_pair_one(f, ret, f->att[i].pid, x->attach_path,
							     x->offset, f->att[i].idx);

			if (!l) {
				int e = errno;
				char who[32] = "";

				if (f->att[i].pid > 0)
					snprintf(who, sizeof(who), " in pid %d",
						 (int)f->att[i].pid);
				snprintf(err, errlen, "cannot attach %s uprobe to %s:%s%s: %s",
					 ret ? "return" : "entry", x->path, x->name, who,
					 e == EMFILE ? "too many open files (lower --max-funcs)"
						     : strerror(e));
				return -1;
			}
			f->links[f->nlinks++] = l;
		}
	}
	return 0;
}

int kt_func_nlinks(const struct kt_func *f)
{
	return f ? f->nlinks : 0;
}

struct destroyer {
	struct bpf_link **v;
	int n, stride;
};

static void *destroy_links(void *arg)
{
	struct destroyer *d = arg;

	for (int i = 0; i < d->n; i += d->stride)
		bpf_link__destroy(d->v[i]);
	return NULL;
}

/*
 * Removing a uprobe waits for an RCU grace period (~50 ms here): one after
 * the other, 64 functions would take 6 s to detach. Threads removing them
 * at the same time share the grace periods.
 */
static void destroy_all(struct bpf_link **v, int n)
{
	enum { MAX_THREADS = 32 };
	pthread_t th[MAX_THREADS];
	struct destroyer d[MAX_THREADS];
	bool started[MAX_THREADS];
	int nt = n < MAX_THREADS ? n : MAX_THREADS;

	for (int i = 0; i < nt; i++) {
		d[i] = (struct destroyer){v + i, n - i, nt};
		started[i] = nt > 1 && pthread_create(&th[i], NULL, destroy_links, &d[i]) == 0;
		if (!started[i])
			destroy_links(&d[i]); /* no thread: do it here */
	}
	for (int i = 0; i < nt; i++)
		if (started[i])
			pthread_join(th[i], NULL);
}

void kt_func_detach(struct kt_func *f)
{
	if (!f)
		return;
	destroy_all(f->links, f->nlinks);
	f->nlinks = 0;
}

/* ---------------------------------------------------------------- calibration */

/*
 * Calibration targets: tiny functions inside kaos-trace, one per kind of
 * first instruction, since that decides what a probe costs.
 */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl kt_func_calib_step\n"
	".type kt_func_calib_step,@function\n"
	"kt_func_calib_step:\n"
	"\tsub $8, %rsp\n"
	"\tadd $8, %rsp\n"
	"\tret\n"
	".size kt_func_calib_step, .-kt_func_calib_step\n"
	".p2align 4\n"
	".globl kt_func_calib_push\n"
	".type kt_func_calib_push,@function\n"
	"kt_func_calib_push:\n"
	"\tpush %rbp\n"
	"\tmov %rsp, %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size kt_func_calib_push, .-kt_func_calib_push\n"
	".p2align 4\n"
	".globl kt_func_calib_branch\n"
	".type kt_func_calib_branch,@function\n"
	"kt_func_calib_branch:\n"
	"\tjmp 1f\n"
	"1:\tret\n"
	".size kt_func_calib_branch, .-kt_func_calib_branch\n"
	".p2align 4\n"
	".globl kt_func_calib_nop5\n"
	".type kt_func_calib_nop5,@function\n"
	"kt_func_calib_nop5:\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	".size kt_func_calib_nop5, .-kt_func_calib_nop5\n"
	".popsection\n");
void kt_func_calib_step(void);
void kt_func_calib_push(void);
void kt_func_calib_branch(void);
void kt_func_calib_nop5(void);

static void (*const calib_target[KT_FUNC_NKINDS])(void) = {
	[KT_FUNC_KIND_STEP] = kt_func_calib_step,
	[KT_FUNC_KIND_PUSH] = kt_func_calib_push,
	[KT_FUNC_KIND_BRANCH] = kt_func_calib_branch,
	[KT_FUNC_KIND_NOP5] = kt_func_calib_nop5,
};
#else
__attribute__((noinline)) void kt_func_calib_step(void)
{
	__asm__ volatile("" ::: "memory");
}

static void (*const calib_target[KT_FUNC_NKINDS])(void) = {
	[KT_FUNC_KIND_STEP] = kt_func_calib_step,
};
#endif

#define CALIB_CALLS  250 /* per round */
#define CALIB_ROUNDS 4

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* File offset of code at address addr of this process (through /proc/self/maps). */
static int self_offset(const void *addr, uint64_t *off)
{
	char line[PATH_MAX + 256];
	FILE *fp = fopen("/proc/self/maps", "re");
	uintptr_t a = (uintptr_t)addr;
	int r = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long lo, hi, pgoff;

		if (sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &pgoff) == 3 && a >= lo && a < hi) {
			*off = a - lo + pgoff;
			r = 0;
			break;
		}
	}
	fclose(fp);
	return r;
}

struct calib_sink {
	uint64_t *dur;
	size_t n, cap;
	pid_t self;
};

static int calib_event(void *ctx, void *data, size_t size)
{
	struct calib_sink *s = ctx;
	const struct kt_event *e = data;

	if (size < KT_EVENT_BASE_SIZE || e->type != KT_EV_FUNC || e->ring_id != KT_FUNC_CALIB_IDX ||
	    e->pid != (uint32_t)s->self)
		return 0;
	if (s->n < s->cap)
		s->dur[s->n++] = e->dur_ns;
	return 0;
}

/* One round of calls, each timed on its own: their median. */
static uint64_t timed_round(void (*fn)(void), uint64_t *t, struct ring_buffer *rb)
{
	for (int i = 0; i < CALIB_CALLS; i++) {
		uint64_t t0 = kt_now_ns(CLOCK_MONOTONIC);

		fn();
		t[i] = kt_now_ns(CLOCK_MONOTONIC) - t0;
		if (rb && (i & 7) == 7)
			ring_buffer__consume(rb); /* small ring buffers: drain as we go */
	}
	return median(t, CALIB_CALLS);
}

/*
 * Each figure is the lowest of CALIB_ROUNDS round medians: a round that met
 * contention (other uprobe users, preemption) does not set it.
 */
static int calibrate_kind(struct kt_func *f, struct ring_buffer *rb, struct calib_sink *sink,
			  enum kt_func_kind k, uint64_t *t, struct bpf_link **l)
{
	void (*fn)(void) = calib_target[k];
	uint64_t off, untraced = UINT64_MAX, traced = UINT64_MAX, bias = UINT64_MAX, m;

	if (self_offset((const void *)fn, &off))
		return -1;
	for (int r = 0; r < CALIB_ROUNDS; r++)
		if ((m = timed_round(fn, t, NULL)) < untraced)
			untraced = m;
	l[0] = attach_pair_one(f, false, getpid(), "/proc/self/exe", off, KT_FUNC_CALIB_IDX);
	l[1] = l[0] ? attach_pair_one(f, true, getpid(), "/proc/self/exe", off, KT_FUNC_CALIB_IDX)
		    : NULL;
	if (!l[1])
		return -1;
	/* warm up (a 5-byte nop is optimised after its first hit), then drop those events */
	for (int i = 0; i < 32; i++)
		fn();
	ring_buffer__consume(rb);
	for (int r = 0; r < CALIB_ROUNDS; r++) {
		sink->n = 0;
		if ((m = timed_round(fn, t, rb)) < traced)
			traced = m;
		ring_buffer__consume(rb);
		if (sink->n && (m = median(sink->dur, sink->n)) < bias)
			bias = m;
	}
	ring_buffer__consume(rb);
	if (bias == UINT64_MAX)
		return -1;
	f->pair[k] = traced > untraced ? (double)(traced - untraced) : 0;
	f->bias[k] = (double)bias;
	return 0;
}

int kt_func_calibrate(struct kt_func *f, char *err, size_t errlen)
{
	uint64_t *t = calloc(CALIB_CALLS, sizeof(*t));
	struct calib_sink sink = {.cap = CALIB_CALLS, .self = getpid()};
	struct ring_buffer *rb;
	struct bpf_link *links[2 * KT_FUNC_NKINDS] = {0};
	int ret = 0;

	sink.dur = calloc(CALIB_CALLS, sizeof(uint64_t));
	if (!t || !sink.dur) {
		free(t);
		free(sink.dur);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* A consumer of our own for a moment: the main one has not started yet. */
	rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), calib_event, &sink, NULL);
	if (!rb) {
		snprintf(err, errlen, "--func calibration: cannot read the ring buffer: %s",
			 strerror(errno));
		ret = -1;
	}
	for (int k = 0; !ret && k < KT_FUNC_NKINDS; k++) {
		if (!calib_target[k]) {
			/* other architectures: one kind */
			f->pair[k] = f->pair[KT_FUNC_KIND_STEP];
			f->bias[k] = f->bias[KT_FUNC_KIND_STEP];
			continue;
		}
		if (calibrate_kind(f, rb, &sink, (enum kt_func_kind)k, t, links + 2 * k)) {
			snprintf(err, errlen,
				 "--func calibration failed (%s probe on kaos-trace itself): %s",
				 kt_func_kind_name((enum kt_func_kind)k),
				 errno ? strerror(errno) : "no events");
			ret = -1;
		}
	}
	/* all at once: removals share their RCU grace periods */
	destroy_all(links, 2 * KT_FUNC_NKINDS);
	ring_buffer__free(rb);
	/* Forget our own calls: counts are of the targets only. */
	struct {
		uint32_t pid, idx;
	} key = {(uint32_t)getpid(), KT_FUNC_CALIB_IDX};
	bpf_map_delete_elem(bpf_map__fd(f->skel->maps.func_counts), &key);
	free(t);
	free(sink.dur);
	f->calibrated = ret == 0;
	if (ret)
		memset(f->pair, 0, sizeof(f->pair)), memset(f->bias, 0, sizeof(f->bias));
	return ret;
}

double kt_func_pair_ns(const struct kt_func *f, enum kt_func_kind k)
{
	return f && (unsigned int)k < KT_FUNC_NKINDS ? f->pair[k] : 0;
}

double kt_func_bias_ns(const struct kt_func *f, enum kt_func_kind k)
{
	return f && (unsigned int)k < KT_FUNC_NKINDS ? f->bias[k] : 0;
}

bool kt_func_calibrated(const struct kt_func *f)
{
	return f && f->calibrated;
}

/* Functions named one by one at start; the rest are counted (list --func shows all). */
#define DESCRIBE_MAX_FNS 16

/* "--func: probing NAME at 0xVADDR (file offset 0xOFF, .symtab) in PATH". */
static void describe_fn(const struct kt_func_fn *x, FILE *out)
{
	fprintf(out,
		"kaos-trace: --func: probing %s at 0x%" PRIx64 " (file offset 0x%" PRIx64
		", %s) in %s",
		x->name, x->vaddr, x->offset,
		x->dynsym	? ".dynsym"
		: x->debug_file ? "its separate debug file"
				: ".symtab",
		x->path);
	if (x->ifunc)
		fprintf(out, ", the implementation of IFUNC %s in use", x->ifunc);
	fputc('\n', out);
}

static void describe_fns(const struct kt_func *f, FILE *out)
{
	for (uint32_t i = 0; i < f->nfn && i < DESCRIBE_MAX_FNS; i++)
		describe_fn(&f->fn[i], out);
	if (f->nfn > DESCRIBE_MAX_FNS)
		fprintf(out,
			"kaos-trace: --func: and %u more (kaos-trace list --func shows them)\n",
			f->nfn - DESCRIBE_MAX_FNS);
}

void kt_func_describe(const struct kt_func *f, FILE *out)
{
	bool used[KT_FUNC_NKINDS] = {0};
	char b[2][16];

	for (uint32_t i = 0; i < f->nfn; i++)
		used[f->fn[i].kind] = true;
	fprintf(out, "kaos-trace: --func: %u function%s, %d uprobes; ", f->nfn,
		f->nfn == 1 ? "" : "s", f->nlinks);
	if (!f->calibrated) {
		fprintf(out, "probe cost not measured: corrected latency = raw\n");
		describe_fns(f, out);
		return;
	}
	fprintf(out, "a probed call costs");
	for (int k = 0, n = 0; k < KT_FUNC_NKINDS; k++) {
		if (!used[k])
			continue;
		fprintf(out, "%s %s (first instruction %s; %s of it inside the measured latency)",
			n++ ? "," : "", kt_fmt_ns(b[0], sizeof(b[0]), (uint64_t)f->pair[k]),
			kind_names[k], kt_fmt_ns(b[1], sizeof(b[1]), (uint64_t)f->bias[k]));
	}
	fputc('\n', out);
	describe_fns(f, out);
}

/* ---------------------------------------------------------------- counts, sampling, cost */

void kt_func_bind(struct kt_func *f, struct kt_agg *agg)
{
	for (uint32_t i = 0; i < f->nfn; i++) {
		f->desc[i].bias_ns = kt_func_bias_ns(f, f->fn[i].kind);
		f->desc[i].pair_ns = kt_func_pair_ns(f, f->fn[i].kind);
	}
	kt_agg_set_funcs(agg, f->desc, f->nfn);
}

/* Calls cb for every (pid, function) count the kernel holds (not our own). */
static void for_each_count(struct kt_func *f,
			   void (*cb)(struct kt_func *, uint32_t, uint32_t, uint64_t, void *),
			   void *ctx)
{
	struct {
		uint32_t pid, idx;
	} key, next;
	int fd = bpf_map__fd(f->skel->maps.func_counts);
	uint32_t self = (uint32_t)getpid();
	void *prev = NULL;
	uint64_t v;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (key.pid == self || key.idx >= f->nfn)
			continue;
		if (bpf_map_lookup_elem(fd, &key, &v) == 0)
			cb(f, key.pid, key.idx, v, ctx);
	}
}

static void sync_one(struct kt_func *f, uint32_t pid, uint32_t idx, uint64_t v, void *ctx)
{
	(void)f;
	kt_agg_func_count(ctx, pid, idx, v);
}

void kt_func_sync(struct kt_func *f, struct kt_agg *agg)
{
	if (f && f->skel)
		for_each_count(f, sync_one, agg);
}

void kt_func_stats(struct kt_func *f, uint64_t out[KT_FSTAT_NR])
{
	memset(out, 0, sizeof(uint64_t) * KT_FSTAT_NR);
	if (!f || !f->skel)
		return;
	kt_percpu_sum_u64(bpf_map__fd(f->skel->maps.func_stats), KT_FSTAT_NR, out);
}

struct tick_ctx {
	double *fn_calls; /* per function: calls this window (all processes) */
	struct {
		uint32_t pid;
		double cost_ns; /* probe cost this window */
		double calls;
	} * proc;
	uint32_t nproc, capproc;
	bool oom;
};

static void tick_one(struct kt_func *f, uint32_t pid, uint32_t idx, uint64_t v, void *arg)
{
	struct tick_ctx *c = arg;
	struct tick_ent *t = NULL;
	uint64_t d;
	uint32_t i;

	for (i = 0; i < f->ntk; i++)
		if (f->tk[i].pid == pid && f->tk[i].idx == idx) {
			t = &f->tk[i];
			break;
		}
	if (!t) {
		if (grow((void **)&f->tk, &f->captk, f->ntk, sizeof(*f->tk))) {
			c->oom = true;
			return;
		}
		t = &f->tk[f->ntk++];
		*t = (struct tick_ent){pid, idx, 0};
	}
	d = v > t->base ? v - t->base : 0;
	t->base = v;
	c->fn_calls[idx] += (double)d;
	for (i = 0; i < c->nproc && c->proc[i].pid != pid; i++)
		;
	if (i == c->nproc) {
		if (grow((void **)&c->proc, &c->capproc, c->nproc, sizeof(*c->proc))) {
			c->oom = true;
			return;
		}
		c->proc[c->nproc++] = (typeof(c->proc[0])){pid, 0, 0};
	}
	c->proc[i].cost_ns += (double)d * f->desc[idx].pair_ns;
	c->proc[i].calls += (double)d;
}

static bool warned(struct kt_func *f, uint32_t pid)
{
	for (uint32_t i = 0; i < f->nwarned; i++)
		if (f->warned[i] == pid)
			return true;
	if (!grow((void **)&f->warned, &f->capwarned, f->nwarned, sizeof(*f->warned)))
		f->warned[f->nwarned++] = pid;
	return false;
}

static uint32_t pow2_ceil(double x)
{
	uint32_t p = 1;

	while (p < x && p < (1u << 30))
		p <<= 1;
	return p;
}

#define TICK_WINDOW_NS 250000000ull /* rates over a quarter of a second */

void kt_func_tick(struct kt_func *f, struct kt_agg *agg, uint64_t now_ns)
{
	struct tick_ctx c = {0};
	double secs;

	if (!f || !f->skel || (f->win_start && now_ns - f->win_start < TICK_WINDOW_NS))
		return;
	c.fn_calls = calloc(f->nfn ? f->nfn : 1, sizeof(double));
	if (!c.fn_calls)
		return;
	for_each_count(f, tick_one, &c);
	if (!f->win_start || c.oom) {
		/* first window: baselines only */
		f->win_start = now_ns;
		free(c.fn_calls);
		free(c.proc);
		return;
	}
	secs = (double)(now_ns - f->win_start) / 1e9;
	f->win_start = now_ns;
	if (f->o.max_rate) {
		for (uint32_t i = 0; i < f->nfn; i++) {
			uint32_t want = pow2_ceil(c.fn_calls[i] / secs / (double)f->o.max_rate);

			/* come back down only when well under the cap: no flapping */
			if (want < f->desc[i].sample_every &&
			    c.fn_calls[i] / secs > (double)f->o.max_rate * want / 2)
				want = f->desc[i].sample_every;
			if (want != f->desc[i].sample_every) {
				f->desc[i].sample_every = want;
				f->skel->bss->sample_every[i] = want;
			}
		}
	}
	double budget = f->o.warn_pct > 0 ? f->o.warn_pct : KT_FUNC_WARN_PCT_DEFAULT;

	for (uint32_t i = 0; i < c.nproc; i++) {
		double pct = c.proc[i].cost_ns / (secs * 1e9) * 100.0;
		char b[16];

		if (pct <= budget || warned(f, c.proc[i].pid))
			continue;
		struct kt_proc *p = kt_agg_proc(agg, c.proc[i].pid);

		note(f,
		     "warning: pid %u (%s): probed functions run %.0f calls/s; at %s per probed "
		     "call (measured) tracing takes %.0f%% of its time, over the %.1f%% budget; "
		     "every call traps to count it exactly (--max-rate thins the timed samples, "
		     "not the traps): narrow --func to lower the cost",
		     c.proc[i].pid, p ? p->comm : "?", c.proc[i].calls / secs,
		     kt_fmt_ns(b, sizeof(b), (uint64_t)(c.proc[i].cost_ns / c.proc[i].calls)), pct,
		     budget);
	}
	free(c.fn_calls);
	free(c.proc);
}

/* ---------------------------------------------------------------- list */

int kt_func_cmd_list(int argc, char **argv, FILE *out, FILE *errf)
{
	const char *patterns[64];
	int np = 0;
	const char *spec = NULL;
	struct kt_func_opts o = {.notes = errf};
	struct kt_func *f;
	char err[1024];
	pid_t pid;

	/* argv: --func PATTERN [--func PATTERN...] PID|PATH */
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--func") && i + 1 < argc && np < 64) {
			patterns[np++] = argv[++i];
		} else if (!strncmp(argv[i], "--func=", 7) && np < 64) {
			patterns[np++] = argv[i] + 7;
		} else if (!spec && argv[i][0] != '-') {
			spec = argv[i];
		} else {
			fprintf(errf,
				"kaos-trace: usage: kaos-trace list --func PATTERN PID|PATH\n");
			return 2;
		}
	}
	if (!np || !spec) {
		fprintf(errf, "kaos-trace: usage: kaos-trace list --func PATTERN PID|PATH\n");
		return 2;
	}
	char *end;
	long v = strtol(spec, &end, 10);

	o.patterns = patterns;
	o.npatterns = np;
	if (*spec && !*end) {
		if (v <= 0 || v > INT_MAX) {
			fprintf(errf, "kaos-trace: invalid pid '%s'\n", spec);
			return 2;
		}
		pid = (pid_t)v;
		o.pids = &pid;
		o.npids = 1;
	} else {
		o.paths = &spec;
		o.npaths = 1;
	}
	if (resolve(&o, true, &f, err, sizeof(err))) {
		fprintf(errf, "kaos-trace: %s\n", err);
		return 1;
	}
	const char *last = NULL;

	for (uint32_t pass = 0; pass < 2; pass++) {
		uint32_t n = pass ? f->nref : f->nfn;

		for (uint32_t i = 0; i < n; i++) {
			const struct kt_func_fn *x = pass ? &f->ref[i] : &f->fn[i];

			if (!last || strcmp(last, x->path)) {
				fprintf(out, "%s (%s)\n", x->path,
					x->dynsym	? ".dynsym"
					: x->debug_file ? ".symtab of its separate debug file"
							: ".symtab");
				fprintf(out, "  %-36s %-18s %-10s %8s  %-6s %s\n", "FUNCTION",
					"ADDRESS", "OFFSET", "SIZE", "PROBE", "STATUS");
				last = x->path;
			}
			char off[32] = "-";

			if (!x->refused)
				snprintf(off, sizeof(off), "0x%" PRIx64, x->offset);
			fprintf(out, "  %-36s 0x%016" PRIx64 " %-10s %8" PRIu64 "  %-6s %s%s",
				x->name, x->vaddr, off, x->size,
				x->refused ? "-" : kt_func_kind_name(x->kind),
				x->refused ? "refused: " : "ok", x->refused ? x->refused : "");
			if (x->ifunc)
				fprintf(out, " (the implementation of IFUNC %s in use)", x->ifunc);
			fputc('\n', out);
		}
	}
	fprintf(out, "%u function%s would be probed, %u refused\n", f->nfn, f->nfn == 1 ? "" : "s",
		f->nref);
	kt_func_free(f);
	return 0;
}
