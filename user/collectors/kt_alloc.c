// SPDX-License-Identifier: MIT
/*
 * kt_alloc's BPF side: finds the allocator of each traced process, attaches
 * the uprobes of bpf/kaos_alloc.bpf.c per process, and at the end reads the
 * kernel's sums into a struct kt_alloc_data (kt_alloc_data.c).
 *
 * Processes come and go (a daemon runs for days): when a traced process's
 * last thread exits, the kernel stamps it (exit_ns, group_exits) and the
 * next tick moves its totals, sites, outstanding blocks (its leaks at exit)
 * and threads out of the maps into a->data, detaches its probes and frees
 * its slots. a->data then holds the gone processes, the maps the live ones:
 * every reader joins the two. The daemon drops a gone process for good with
 * kt_alloc_forget_pid when it retires the process. Threads come and go in
 * a live process too: the kernel queues an exiting thread's sums
 * (alloc_thread_exits), and each tick moves them into a->data's threads.
 */
#include "kt_alloc.h"
#include "kt_array.h"
#include "kt_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_alloc.skel.h"
#include "kt_agg.h"
#include "kt_alloc_abi.h"
#include "kt_elf.h"
#include "kt_json.h"
#include "kt_link_closer.h"
#include "kt_percpu.h"
#include "kt_proc.h"
#include "kt_sym.h"

#define REFRESH_NS     200000000ull /* kt_alloc_tick: symbols at most every 200 ms */
#define JSON_TOP_SITES 10
#define RESOLVE_TRIES  20 /* kt_alloc_tick: polls a process's allocator is looked for */

/* The entry points, in kt_alloc_target.off order. */
enum entry {
	E_MALLOC,
	E_CALLOC,
	E_REALLOC,
	E_REALLOCARRAY,
	E_FREE,
	E_POSIX_MEMALIGN,
	E_ALIGNED_ALLOC,
	E_MEMALIGN,
	E_VALLOC,
	E_PVALLOC,
};
_Static_assert(E_PVALLOC + 1 == KT_ALLOC_NFUNCS, "entry points");

static const char *const entry_names[KT_ALLOC_NFUNCS] = {
	"malloc",	  "calloc",	   "realloc",  "reallocarray", "free",
	"posix_memalign", "aligned_alloc", "memalign", "valloc",       "pvalloc",
};

/* The allocator's file, by the start of its name, and its symbols' prefixes to try. */
static const struct lib_set {
	const char *file_prefix;
	const char *sym_prefix[2];
} lib_sets[] = {
	[KT_ALLOC_LIB_GLIBC] = {"libc.so", {"", NULL}},
	[KT_ALLOC_LIB_JEMALLOC] = {"libjemalloc.so", {"", "je_"}},
	[KT_ALLOC_LIB_TCMALLOC] = {"libtcmalloc", {"tc_", ""}},
};

struct alloc_pid {
	pid_t pid;
	bool failed;  /* could not be attached: not retried */
	bool symbols; /* maps read after its first allocation (its libraries are mapped) */
	struct kt_sym_program program;
	char comm[16]; /* read with its maps: the process may be gone at the report */
	struct bpf_link *links[2 * KT_ALLOC_NFUNCS]; /* returns first, then entries */
	size_t nlinks;
	struct kt_alloc_target target; /* kept to re-attach (--budget duty cycle) */
	/* --budget duty cycle (CLOCK_MONOTONIC ns) */
	double duty;			   /* fraction of each cycle attached (1: always) */
	uint64_t cycle_start, attached_at; /* attached_at: 0 while detached */
	uint64_t attached_ns;		   /* in total, for the report */
	uint64_t t0, t_end;		   /* first attached, detached for good (0: not yet) */
	uint64_t window_allocs;		   /* allocs when this attached window began */
	uint64_t detach_ticket;		   /* its links queued to the closer (kt_link_closer) */
	bool sampled;			   /* ever detached by the budget */
	uint64_t execs;			   /* execs followed (kt_alloc_proc.execs) */
	unsigned int exec_tries;	   /* polls its new image's allocator was looked for */
};

struct resolve_try {
	pid_t pid;
	unsigned int tries;
};

struct kt_alloc {
	struct kaos_alloc_bpf *skel;
	struct kt_alloc_opts o;
	struct kt_sym *sym;
	struct kt_link_closer *closer; /* detaches off the event loop (NULL: here) */
	const struct kt_agg *agg;      /* the rings charged at the end (borrowed) */
	struct alloc_pid *pids;
	size_t npids, cappids;
	struct resolve_try *tries; /* pids whose allocator was not found yet */
	size_t ntries, captries;
	uint64_t last_refresh, t_start_ns;
	char self_exe[PATH_MAX];
	struct kt_alloc_data data;
	struct kt_alloc_data folded; /* kt_alloc_fold_since: bytes per site folded so far */
	struct bpf_link *exec_link;  /* sched_process_exec: an exec releases the image's blocks */
	struct bpf_link *exit_link;  /* sched_process_exit: a gone process's slots are freed */
	bool collected;
	int collect_err;
	uint64_t exits_seen;	    /* group_exits at the last harvest */
	uint64_t thread_exits_seen; /* thread_exits when the queue was last drained */
	/*
	 * Exited threads read from the queue, charged at the next tick: their
	 * ring events, sent before they exited, have been consumed by then.
	 */
	struct kt_alloc_thread_rec *exited;
	size_t nexited, capexited;
	uint64_t procs_untracked;   /* no room in alloc_procs */
	bool gone_sampled;	    /* a harvested process was duty-cycled (--budget) */
	uint64_t execs_seen;	    /* execs_total when the execs were last followed */
	size_t exec_pending;	    /* execs whose new image has no allocator mapped yet */
	uint64_t moved, moved_said; /* processes whose exec mapped another allocator */
	pid_t moved_pid;
	char moved_path[PATH_MAX];
	double gone_fraction; /* the least attached fraction of those */
	double cost_ns; /* one traced allocation with its free, measured at open (0: unknown) */
	bool cost_cached;
};

/* ---------------------------------------------------------------- resolving */

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* 1 when path is a program without an interpreter (static), 0 if not, -1 unreadable. */
static int is_static_program(const char *path)
{
	struct kt_elf *e;
	int r;

	if (kt_elf_open(path, &e))
		return -1;
	r = e->ehdr.e_type == ET_EXEC || e->ehdr.e_type == ET_DYN;
	for (size_t i = 0; i < e->phnum && r; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e->elf, (int)i, &ph) &&
		    (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC))
			r = 0;
	}
	kt_elf_close(e);
	return r;
}

/* Fills t->off from the symbols of t->path. The number found, or -errno. */
static int find_entries(enum kt_alloc_lib lib, struct kt_alloc_target *t)
{
	struct kt_elf *e;
	int found = 0;

	if (kt_elf_open(t->path, &e))
		return -ENOENT;
	for (int i = 0; i < KT_ALLOC_NFUNCS; i++) {
		t->off[i] = 0;
		for (int k = 0; k < 2 && !t->off[i] && lib_sets[lib].sym_prefix[k]; k++) {
			char name[64];
			uint64_t addr, off;

			snprintf(name, sizeof(name), "%s%s", lib_sets[lib].sym_prefix[k],
				 entry_names[i]);
			if (!kt_elf_find_symbol(e, name, &addr, NULL) && addr &&
			    !kt_elf_vaddr_to_offset(e, addr, &off) && off) {
				t->off[i] = off;
				found++;
			}
		}
	}
	kt_elf_close(e);
	return found;
}

struct map_search {
	const char *prefix;
	char path[PATH_MAX];
};

static int match_map(const struct kt_proc_map *m, void *arg)
{
	struct map_search *s = arg;

	if (!kt_proc_map_file(m) || strncmp(base_name(m->path), s->prefix, strlen(s->prefix)))
		return 0;
	snprintf(s->path, sizeof(s->path), "%s", m->path);
	return 1;
}

/* The allocator's file for pid (its maps) or exe (DT_NEEDED) into t->path; 0 or -ENOENT. */
static int find_file(enum kt_alloc_lib lib, pid_t pid, const char *exe, struct kt_alloc_target *t)
{
	struct map_search s = {.prefix = lib_sets[lib].file_prefix};

	if (pid <= 0)
		return kt_elf_find_needed(exe, s.prefix, t->path, sizeof(t->path)) ? -ENOENT : 0;
	if (kt_proc_files_each(pid, true, match_map, &s) <= 0 || !s.path[0])
		return -ENOENT;
	return kt_proc_root_path(pid, s.path, t->path, sizeof(t->path)) ? -ENAMETOOLONG : 0;
}

/* ---------------------------------------------------------------- preloaded allocators */

#if defined(__x86_64__)
#define MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define MULTIARCH "aarch64-linux-gnu"
#else
#define MULTIARCH "."
#endif

/* Appends the value of LD_PRELOAD in pid's initial environment (pid <= 0: ours) to buf. */
static void preload_env(pid_t pid, char *buf, size_t n)
{
	char path[64], env[65536];
	const char *v = NULL;
	ssize_t len;
	int fd;

	if (pid <= 0) {
		v = getenv("LD_PRELOAD"); /* the command inherits our environment */
	} else {
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		len = fd < 0 ? -1 : read(fd, env, sizeof(env) - 1);
		if (fd >= 0)
			close(fd);
		if (len > 0)
			env[len] = '\0';
		for (ssize_t i = 0; len > 0 && i < len; i += (ssize_t)strlen(env + i) + 1) {
			if (!strncmp(env + i, "LD_PRELOAD=", 11))
				v = env + i + 11;
		}
	}
	if (v)
		snprintf(buf + strlen(buf), n - strlen(buf), "%s ", v);
}

/* Appends /etc/ld.so.preload (as pid sees it) to buf. */
static void preload_file(pid_t pid, char *buf, size_t n)
{
	char path[PATH_MAX];
	size_t used = strlen(buf);
	ssize_t len;
	int fd;

	if (pid > 0 ? kt_proc_root_path(pid, "/etc/ld.so.preload", path, sizeof(path))
		    : snprintf(path, sizeof(path), "/etc/ld.so.preload") < 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = read(fd, buf + used, n - used - 1);
	close(fd);
	buf[used + (len > 0 ? (size_t)len : 0)] = '\0';
}

struct map_name {
	const char *base;
	char path[PATH_MAX];
};

static int match_base(const struct kt_proc_map *m, void *arg)
{
	struct map_name *s = arg;

	if (!kt_proc_map_file(m) || strcmp(base_name(m->path), s->base))
		return 0;
	snprintf(s->path, sizeof(s->path), "%s", m->path);
	return 1;
}

/*
 * The file a preload entry names, as ld.so finds it: in pid's maps (pid >
 * 0), else the path itself or, for a bare name, the library directories.
 * 0 or -ENOENT.
 */
static int preload_path(pid_t pid, const char *name, char *out, size_t n)
{
	static const char dirs[] = "/lib/" MULTIARCH ":/usr/lib/" MULTIARCH ":/lib:/usr/lib";
	const char *lp = getenv("LD_LIBRARY_PATH");
	char list[8192];

	if (pid > 0) {
		struct map_name s = {.base = base_name(name)};

		if (kt_proc_files_each(pid, true, match_base, &s) <= 0 || !s.path[0])
			return -ENOENT;
		return kt_proc_root_path(pid, s.path, out, n) ? -ENOENT : 0;
	}
	if (strchr(name, '/'))
		return snprintf(out, n, "%s", name) >= (int)n || access(out, R_OK) ? -ENOENT : 0;
	snprintf(list, sizeof(list), "%s%s%s", lp ? lp : "", lp ? ":" : "", dirs);
	for (char *save = NULL, *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if (snprintf(out, n, "%s/%s", d, name) < (int)n && !access(out, R_OK))
			return 0;
	return -ENOENT;
}

/*
 * The allocator a preload puts in front of the program's own: ld.so binds
 * malloc to the first object defining it, and LD_PRELOAD's, then
 * /etc/ld.so.preload's objects come before the program's libraries. glibc
 * (the default): the first preload defining malloc and free (a wrapper or
 * an allocator of its own); jemalloc, tcmalloc: the first preload of that
 * name. 0 with t->path set, or -ENOENT (none: the program's own).
 */
static int find_preload(enum kt_alloc_lib lib, pid_t pid, struct kt_alloc_target *t)
{
	const char *prefix = lib_sets[lib].file_prefix;
	char list[16384] = "";

	preload_env(pid, list, sizeof(list));
	preload_file(pid, list, sizeof(list));
	for (char *save = NULL, *tok = strtok_r(list, " :\t\n", &save); tok;
	     tok = strtok_r(NULL, " :\t\n", &save)) {
		if (preload_path(pid, tok, t->path, sizeof(t->path)))
			continue;
		if (lib != KT_ALLOC_LIB_GLIBC) {
			if (!strncmp(base_name(t->path), prefix, strlen(prefix)))
				return 0;
		} else if (find_entries(lib, t) > 0 && t->off[E_MALLOC] && t->off[E_FREE]) {
			return 0;
		}
	}
	t->path[0] = '\0';
	return -ENOENT;
}

/*
 * A script's interpreter ("#!/usr/bin/env bash" -> /usr/bin/env) into buf:
 * true if path is a script. The command's allocator is that of the program
 * the kernel runs: pyenv's python3 is a shell script whose env, bash and
 * python all map the same libc, which the probes follow across the execs.
 */
static bool script_interpreter(const char *path, char *buf, size_t n)
{
	char line[PATH_MAX];
	ssize_t len;
	size_t i = 2, j = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	len = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (len < 3 || line[0] != '#' || line[1] != '!')
		return false;
	line[len] = '\0';
	while (line[i] == ' ' || line[i] == '\t')
		i++;
	while (line[i] && line[i] != ' ' && line[i] != '\t' && line[i] != '\n' && j + 1 < n)
		buf[j++] = line[i++];
	buf[j] = '\0';
	return j > 0;
}

int kt_alloc_resolve(enum kt_alloc_lib lib, pid_t pid, const char *exe, struct kt_alloc_target *t,
		     char *err, size_t n)
{
	char who[PATH_MAX + 32], pexe[64], interp[4][PATH_MAX];
	const char *prog = exe, *named = exe;
	int r;

	memset(t, 0, sizeof(*t));
	/* a script runs its interpreter (at most 4 deep, as the kernel allows) */
	for (int depth = 0; pid <= 0 && exe && depth < 4; depth++) {
		if (!script_interpreter(exe, interp[depth], sizeof(interp[depth])))
			break;
		exe = prog = interp[depth];
	}
	if (pid > 0) {
		snprintf(who, sizeof(who), "pid %d", (int)pid);
		snprintf(pexe, sizeof(pexe), "/proc/%d/exe", (int)pid);
		prog = pexe;
	} else if (named != exe) {
		/* bounded: who names a file in a one-line error */
		snprintf(who, sizeof(who), "%.2000s (a script run by %.2000s)", named, exe);
	} else {
		snprintf(who, sizeof(who), "%.4000s", exe);
	}
	if (is_static_program(prog) == 1) {
		snprintf(err, n, "--alloc: %s: static binary: no allocator to probe", who);
		return -ENOEXEC;
	}
	if (find_preload(lib, pid, t) && find_file(lib, pid, exe, t)) {
		/* jemalloc and tcmalloc may be linked into the program itself */
		if (lib == KT_ALLOC_LIB_GLIBC ||
		    snprintf(t->path, sizeof(t->path), "%s", prog) >= (int)sizeof(t->path) ||
		    find_entries(lib, t) <= 0) {
			snprintf(err, n, "--alloc: %s: no %s allocator found (no %s* loaded)", who,
				 kt_alloc_lib_name(lib), lib_sets[lib].file_prefix);
			return -ENOENT;
		}
	}
	r = find_entries(lib, t);
	if (r < 0 || !t->off[E_MALLOC] || !t->off[E_FREE]) {
		snprintf(err, n, "--alloc-lib %s: %s has no %smalloc and %sfree to probe",
			 kt_alloc_lib_name(lib), t->path, lib_sets[lib].sym_prefix[0],
			 lib_sets[lib].sym_prefix[0]);
		return -ENOENT;
	}
	return 0;
}

/* ---------------------------------------------------------------- attaching */

/*
 * alloc_procs' size, load-time: KAOS_TRACE_ALLOC_MAX_PROCS (default
 * KT_ALLOC_MAX_PIDS) bounds the processes traced at once (gone ones leave).
 */
static int set_max_procs(struct kt_alloc *a, char *err, size_t n)
{
	const char *s = getenv("KAOS_TRACE_ALLOC_MAX_PROCS");
	unsigned long v = KT_ALLOC_MAX_PIDS;
	char *end;

	if (s) {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || *end || v < 1 || v > 1048576) {
			snprintf(err, n,
				 "KAOS_TRACE_ALLOC_MAX_PROCS=%.32s: not a count from 1 to 1048576",
				 s);
			return -EINVAL;
		}
	}
	return bpf_map__set_max_entries(a->skel->maps.alloc_procs, (uint32_t)v);
}

int kt_alloc_open(struct kt_alloc **out, const struct kt_alloc_opts *o, struct kt_sym *sym,
		  char *err, size_t n)
{
	struct kt_alloc *a;
	int e;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, n, "alloc: out of memory");
		return -ENOMEM;
	}
	a->o = *o;
	if (!a->o.short_ns)
		a->o.short_ns = KT_ALLOC_SHORT_NS_DEFAULT;
	a->sym = sym;
	a->t_start_ns = kt_now_ns(CLOCK_MONOTONIC);
	kt_proc_exe(getpid(), a->self_exe, sizeof(a->self_exe));
	a->skel = kaos_alloc_bpf__open();
	if (!a->skel) {
		e = -errno;
		snprintf(err, n, "alloc: cannot open BPF object: %s", strerror(-e));
		kt_alloc_free(a);
		return e;
	}
	a->skel->rodata->short_ns = a->o.short_ns;
	if ((e = set_max_procs(a, err, n))) {
		kt_alloc_free(a);
		return e;
	}
	e = kaos_alloc_bpf__load(a->skel);
	if (e) {
		snprintf(err, n, "alloc: cannot load the allocator probes: %s", strerror(-e));
		kt_alloc_free(a);
		return e;
	}
	a->exec_link = bpf_program__attach(a->skel->progs.kaos_alloc_exec);
	if (!a->exec_link) {
		e = -errno;
		snprintf(err, n, "alloc: cannot attach to sched_process_exec: %s", strerror(-e));
		kt_alloc_free(a);
		return e;
	}
	a->exit_link = bpf_program__attach(a->skel->progs.kaos_alloc_exit);
	if (!a->exit_link) {
		e = -errno;
		snprintf(err, n, "alloc: cannot attach to sched_process_exit: %s", strerror(-e));
		kt_alloc_free(a);
		return e;
	}
	if (!a->o.no_cost)
		a->cost_ns = kt_alloc_cost(&a->cost_cached);
	kt_link_closer_open(&a->closer); /* none: links are destroyed here, slower */
	*out = a;
	return 0;
}

static struct bpf_program *entry_prog(struct kt_alloc *a, int i)
{
	switch (i) {
	case E_CALLOC:
		return a->skel->progs.kaos_alloc_calloc;
	case E_REALLOC:
		return a->skel->progs.kaos_alloc_realloc;
	case E_REALLOCARRAY:
		return a->skel->progs.kaos_alloc_reallocarray;
	case E_FREE:
		return a->skel->progs.kaos_alloc_free;
	case E_POSIX_MEMALIGN:
		return a->skel->progs.kaos_alloc_posix_memalign;
	case E_ALIGNED_ALLOC:
	case E_MEMALIGN:
		return a->skel->progs.kaos_alloc_memalign;
	default: /* malloc, valloc, pvalloc: (size) */
		return a->skel->progs.kaos_alloc_malloc;
	}
}

/* Entry points sharing an address (glibc's aligned_alloc is memalign) are probed once. */
static bool first_at(const struct kt_alloc_target *t, int i)
{
	for (int k = 0; k < i; k++)
		if (t->off[k] == t->off[i])
			return false;
	return t->off[i] != 0;
}

static int attach_one(struct kt_alloc *a, struct alloc_pid *ap, int i, bool ret, char *err,
		      size_t n)
{
	struct bpf_program *p = ret ? a->skel->progs.kaos_alloc_return : entry_prog(a, i);
	const struct kt_alloc_target *t = &ap->target;
	pid_t pid = ap->pid;
	struct bpf_link *l;
	int e;

	if (ap->nlinks >= 2 * KT_ALLOC_NFUNCS)
		return -ENOSPC;
	l = bpf_program__attach_uprobe(p, ret, pid, t->path, t->off[i]);
	if (!l) {
		e = -errno;
		snprintf(err, n, "--alloc: pid %d: cannot attach to %s in %s: %s", (int)pid,
			 entry_names[i], t->path, strerror(-e));
		return e;
	}
	ap->links[ap->nlinks++] = l;
	return 0;
}

/* Entries first: a call whose entry was seen keeps its return probe to the last. */
static void detach_pid(struct alloc_pid *ap)
{
	while (ap->nlinks)
		bpf_link__destroy(ap->links[--ap->nlinks]);
}

/*
 * The same, on the closer's thread: a uprobe link takes ~70 ms to go, and a
 * process has up to 17. The caller does not attach pid again before
 * detach_ticket is done (two sets of probes would count calls twice).
 */
static void detach_pid_later(struct kt_alloc *a, struct alloc_pid *ap)
{
	for (size_t i = 0, j = ap->nlinks; i + 1 < j; i++, j--) { /* newest first */
		struct bpf_link *l = ap->links[i];

		ap->links[i] = ap->links[j - 1];
		ap->links[j - 1] = l;
	}
	ap->detach_ticket = kt_link_closer_put(a->closer, ap->links, ap->nlinks);
	ap->nlinks = 0;
}

/* Returns first: a call whose entry is seen is then always seen returning. */
static int attach_pid(struct kt_alloc *a, struct alloc_pid *ap, char *err, size_t n)
{
	const struct kt_alloc_target *t = &ap->target;
	int e = 0;

	for (int i = 0; !e && i < KT_ALLOC_NFUNCS; i++)
		if (i != E_FREE && first_at(t, i))
			e = attach_one(a, ap, i, true, err, n);
	for (int i = 0; !e && i < KT_ALLOC_NFUNCS; i++)
		if (first_at(t, i))
			e = attach_one(a, ap, i, false, err, n);
	if (e)
		detach_pid(ap);
	return e;
}

static struct alloc_pid *pid_find(struct kt_alloc *a, pid_t pid)
{
	for (size_t i = 0; i < a->npids; i++)
		if (a->pids[i].pid == pid)
			return &a->pids[i];
	return NULL;
}

/* pid is not traced, and not tried again. */
static void give_up_pid(struct kt_alloc *a, pid_t pid)
{
	if (pid_find(a, pid) || kt_array_reserve(a->pids, a->cappids, a->npids + 1))
		return;
	a->pids[a->npids++] = (struct alloc_pid){.pid = pid, .failed = true};
}

int kt_alloc_attach(struct kt_alloc *a, pid_t pid, const struct kt_alloc_target *t, char *err,
		    size_t n)
{
	struct kt_alloc_proc zero = {0};
	uint32_t key = (uint32_t)pid;
	struct alloc_pid *ap;
	int e = 0;

	if (pid <= 0 || a->collected)
		return -EINVAL;
	if (pid_find(a, pid))
		return 0;
	if (kt_array_reserve(a->pids, a->cappids, a->npids + 1))
		return -ENOMEM;
	ap = &a->pids[a->npids++];
	*ap = (struct alloc_pid){.pid = pid, .target = *t, .duty = 1.0};
	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.alloc_procs), &key, &zero, BPF_NOEXIST)) {
		e = -errno;
		snprintf(err, n, "--alloc: pid %d: cannot trace more processes (%u at once)",
			 (int)pid, bpf_map__max_entries(a->skel->maps.alloc_procs));
		ap->failed = true;
		a->procs_untracked++; /* said in the report: never silently untracked */
		return e;
	}
	e = attach_pid(a, ap, err, n);
	if (e)
		ap->failed = true;
	else
		ap->t0 = ap->cycle_start = ap->attached_at = kt_now_ns(CLOCK_MONOTONIC);
	return e;
}

/*
 * A process's maps as soon as it has allocated (every poll: a short command
 * may be gone by the next refresh): its allocator, so its libraries, are
 * mapped by then.
 */
static void capture_first(struct kt_alloc *a)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_procs);

	for (size_t i = 0; i < a->npids; i++) {
		struct alloc_pid *p = &a->pids[i];
		uint32_t key = (uint32_t)p->pid;
		struct kt_alloc_proc v;

		if (p->failed || p->symbols || bpf_map_lookup_elem(fd, &key, &v) || !v.allocs)
			continue;
		p->symbols = true;
		kt_sym_add_pid(a->sym, p->pid);
		kt_proc_comm(p->pid, p->comm, sizeof(p->comm));
	}
}

/* pid was traced and is gone: its sums were moved out of the maps (harvest). */
static bool gone(const struct kt_alloc *a, pid_t pid)
{
	for (size_t i = 0; i < a->data.nprocs; i++)
		if (a->data.procs[i].tgid == (uint32_t)pid)
			return true;
	return false;
}

/* A pid whose allocator was not found yet (seen at its exec: ld.so maps libc after). */
static struct resolve_try *try_get(struct kt_alloc *a, pid_t pid)
{
	for (size_t i = 0; i < a->ntries; i++)
		if (a->tries[i].pid == pid)
			return &a->tries[i];
	if (kt_array_reserve(a->tries, a->captries, a->ntries + 1))
		return NULL;
	a->tries[a->ntries] = (struct resolve_try){.pid = pid};
	return &a->tries[a->ntries++];
}

/* -b processes once they are known (from then on: not exact), each attached once. */
static void follow_procs(struct kt_alloc *a, const struct kt_agg *agg)
{
	for (const struct kt_proc *p = agg ? agg->procs : NULL; p; p = p->next) {
		struct kt_alloc_target t;
		struct resolve_try *r;
		char err[256];

		if (p->exited || pid_find(a, (pid_t)p->pid) || gone(a, (pid_t)p->pid))
			continue;
		if (!kt_alloc_resolve(a->o.lib, (pid_t)p->pid, NULL, &t, err, sizeof(err))) {
			kt_alloc_attach(a, (pid_t)p->pid, &t, err,
					sizeof(err)); /* failed: marked */
			continue;
		}
		r = try_get(a, (pid_t)p->pid);
		if (!r ||
		    ++r->tries >= RESOLVE_TRIES) /* no allocator (a static program): given up */
			give_up_pid(a, (pid_t)p->pid);
	}
}

bool kt_alloc_pid_allocated(struct kt_alloc *a, pid_t pid)
{
	struct alloc_pid *p = a ? pid_find(a, pid) : NULL;

	if (p)
		return p->symbols;
	for (size_t i = 0; a && i < a->data.nprocs; i++) /* gone, harvested */
		if (a->data.procs[i].tgid == (uint32_t)pid)
			return a->data.procs[i].allocs > 0;
	return false;
}

static uint64_t pid_allocs(struct kt_alloc *a, pid_t pid)
{
	uint32_t key = (uint32_t)pid;
	struct kt_alloc_proc v;

	if (bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.alloc_procs), &key, &v))
		return 0;
	return v.allocs;
}

/* End of an attached window: the duty for the next cycles, from this window's rate. */
static void window_end(struct kt_alloc *a, struct alloc_pid *ap, uint64_t now)
{
	uint64_t allocs = pid_allocs(a, ap->pid), win = now - ap->attached_at;

	ap->duty = kt_alloc_duty(allocs - ap->window_allocs, win, a->cost_ns, a->o.budget_pct);
	ap->attached_ns += win;
	if (ap->duty >= 1.0) { /* under the budget: stay attached, a new cycle */
		ap->cycle_start = ap->attached_at = now;
		ap->window_allocs = allocs;
		return;
	}
	detach_pid_later(a, ap);
	ap->attached_at = 0;
	ap->sampled = true;
	/* the detached rest of a cycle in which this window was the attached part */
	ap->cycle_start = now - (uint64_t)(ap->duty * (double)KT_ALLOC_DUTY_CYCLE_NS);
}

/*
 * --budget: attached duty x each cycle, detached for the rest. A process
 * that cannot be attached again (gone) stays detached.
 */
static void duty_step(struct kt_alloc *a, struct alloc_pid *ap, uint64_t now)
{
	uint64_t in_cycle = now - ap->cycle_start;
	char err[256];

	if (ap->failed || !ap->target.path[0] || !ap->t0)
		return;
	if (ap->attached_at) {
		if (in_cycle >= (ap->duty < 1.0
					 ? (uint64_t)(ap->duty * (double)KT_ALLOC_DUTY_CYCLE_NS)
					 : KT_ALLOC_DUTY_CHECK_NS))
			window_end(a, ap, now);
		return;
	}
	if (in_cycle < KT_ALLOC_DUTY_CYCLE_NS || !kt_link_closer_done(a->closer, ap->detach_ticket))
		return;
	if (attach_pid(a, ap, err, sizeof(err))) {
		ap->target.path[0] = '\0';
		return;
	}
	ap->cycle_start = ap->attached_at = now;
	ap->window_allocs = pid_allocs(a, ap->pid);
}

/* The same allocator: the same file (by inode: paths differ through /proc/PID/root) and entries. */
static bool same_target(const struct kt_alloc_target *x, const struct kt_alloc_target *y)
{
	struct stat sx, sy;

	if (memcmp(x->off, y->off, sizeof(x->off)) || stat(x->path, &sx) || stat(y->path, &sy))
		return !memcmp(x->off, y->off, sizeof(x->off)) && !strcmp(x->path, y->path);
	return sx.st_dev == sy.st_dev && sx.st_ino == sy.st_ino;
}

/*
 * After an exec: the new image's allocator (its LD_PRELOAD may differ, or
 * the program links another). Another one: the probes move there, from
 * then on (the calls between the exec and now are not seen: not exact).
 * -EAGAIN while ld.so has not mapped it yet.
 */
static int follow_exec(struct kt_alloc *a, struct alloc_pid *ap)
{
	struct kt_alloc_target t;
	char err[256];
	int e = kt_alloc_resolve(a->o.lib, ap->pid, NULL, &t, err, sizeof(err));

	if (e && e != -ENOEXEC && ++ap->exec_tries < RESOLVE_TRIES)
		return -EAGAIN;
	ap->exec_tries = 0;
	if (e || same_target(&t, &ap->target))
		return 0; /* a static image, or none found: the probes stay */
	detach_pid(ap);
	ap->target = t;
	if (ap->attached_at && attach_pid(a, ap, err, sizeof(err))) {
		ap->failed = true;
		a->procs_untracked++;
	}
	a->moved++;
	a->moved_pid = ap->pid;
	snprintf(a->moved_path, sizeof(a->moved_path), "%s", t.path);
	return 0;
}

/* The traced processes that exec'd since the last poll (execs_total moved), or still pending. */
static void follow_execs(struct kt_alloc *a)
{
	uint64_t execs = __atomic_load_n(&a->skel->bss->execs_total, __ATOMIC_RELAXED);
	int fd = bpf_map__fd(a->skel->maps.alloc_procs);

	if (execs == a->execs_seen && !a->exec_pending)
		return;
	a->execs_seen = execs;
	a->exec_pending = 0;
	for (size_t i = 0; i < a->npids; i++) {
		struct alloc_pid *ap = &a->pids[i];
		uint32_t key = (uint32_t)ap->pid;
		struct kt_alloc_proc v;

		if (ap->failed || !ap->t0 || bpf_map_lookup_elem(fd, &key, &v) ||
		    v.execs == ap->execs)
			continue;
		if (follow_exec(a, ap) == -EAGAIN)
			a->exec_pending++;
		else
			ap->execs = v.execs;
	}
}

bool kt_alloc_next_move(struct kt_alloc *a, pid_t *pid, char *path, size_t n)
{
	if (!a || a->moved == a->moved_said)
		return false;
	a->moved_said = a->moved;
	*pid = a->moved_pid;
	snprintf(path, n, "%s", a->moved_path);
	return true;
}

static void harvest(struct kt_alloc *a);
static void drain_thread_exits(struct kt_alloc *a, bool all);

void kt_alloc_tick(struct kt_alloc *a, const struct kt_agg *agg)
{
	uint64_t now;

	if (!a || a->collected)
		return;
	follow_procs(a, agg);
	capture_first(a);
	follow_execs(a);
	drain_thread_exits(a, false); /* first: a gone process's threads are all read after */
	harvest(a);
	now = kt_now_ns(CLOCK_MONOTONIC);
	if (a->o.budget_pct > 0 && a->cost_ns > 0)
		for (size_t i = 0; i < a->npids; i++)
			duty_step(a, &a->pids[i], now);
	if (now - a->last_refresh < REFRESH_NS)
		return;
	a->last_refresh = now;
	for (size_t i = 0; i < a->npids; i++)
		if (!a->pids[i].failed)
			kt_sym_follow_program(a->sym, a->pids[i].pid, a->self_exe,
					      &a->pids[i].program);
}

/* ---------------------------------------------------------------- collecting */

/* The stack of id, zero-trimmed; 0 frames if it is gone or -1. */
static size_t read_stack(struct kt_alloc *a, int32_t id, uint64_t *stack)
{
	size_t nf = 0;

	if (id < 0 || bpf_map_lookup_elem(bpf_map__fd(a->skel->maps.alloc_stacks), &id, stack))
		return 0;
	while (nf < KT_ALLOC_STACK_DEPTH && stack[nf])
		nf++;
	/*
	 * Taken at the return: even the leaf is a return address. Its call
	 * (addr - 1) is what symbolizes right, as kt_folded expects of a leaf.
	 */
	if (nf)
		stack[0]--;
	return nf;
}

/*
 * Its name read at its first allocation (the pid may be reused by the
 * report), else now.
 */
static void proc_comm(const struct kt_alloc *a, pid_t pid, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < a->npids; i++)
		if (a->pids[i].pid == pid && a->pids[i].comm[0]) {
			snprintf(buf, n, "%s", a->pids[i].comm);
			return;
		}
	if (kt_proc_comm(pid, buf, n))
		buf[0] = '\0';
}

/* The kernel's totals of pid into its record of a->data (its leaks are added apart). */
static int fill_proc(struct kt_alloc *a, uint32_t key, const struct kt_alloc_proc *pv)
{
	struct kt_alloc_proc_rec *r = kt_alloc_data_proc(&a->data, key);
	struct kt_alloc_proc v = *pv;

	if (!r)
		return -ENOMEM;
	r->allocs = v.allocs;
	r->frees = v.frees;
	r->bytes_allocated = v.bytes_allocated;
	r->bytes_freed = v.bytes_freed;
	r->cur_bytes = v.cur_bytes;
	r->peak_bytes = v.peak_bytes;
	r->peak_ns = v.peak_ns;
	r->freed_before = v.freed_before;
	r->short_lived = v.short_lived;
	r->failed = v.failed;
	r->free_calls = v.free_calls;
	r->exec_blocks = v.exec_blocks;
	r->exec_bytes = v.exec_bytes;
	proc_comm(a, (pid_t)key, r->comm, sizeof(r->comm));
	return 0;
}

static int collect_procs(struct kt_alloc *a)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_procs);
	uint32_t key, next, *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_proc v;
		int e;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if ((e = fill_proc(a, key, &v)))
			return e;
	}
	return 0;
}

static int collect_sites(struct kt_alloc *a, struct kt_alloc_data *d, uint64_t *stack)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_sites);
	struct kt_alloc_site_key key, next, *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_site v;
		struct kt_alloc_site_rec *s;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		s = kt_alloc_data_site(d, key.tgid, key.stack_id, stack,
				       read_stack(a, key.stack_id, stack));
		if (!s)
			return -ENOMEM;
		s->allocs += v.allocs;
		s->bytes += v.bytes;
	}
	return 0;
}

/* Every block still outstanding: a leak candidate of its site. */
static int collect_leaks(struct kt_alloc *a, struct kt_alloc_data *d, uint64_t *stack)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_blocks);
	struct kt_alloc_block_key key, next, *prev = NULL;
	int e;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_block b;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &b))
			continue;
		e = kt_alloc_data_add_leak(d, key.tgid, b.stack_id, stack,
					   read_stack(a, b.stack_id, stack), b.size);
		if (e)
			return e;
	}
	return 0;
}

static int collect_threads(struct kt_alloc *a)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_threads);
	struct kt_alloc_thread_key key, next, *prev = NULL;
	int e;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_thread v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if ((e = kt_alloc_data_add_thread(&a->data, key.tgid, key.tid, v.allocs, v.bytes)))
			return e;
	}
	return 0;
}

/* ---------------------------------------------------------------- gone processes */

struct pid_set {
	uint32_t *v;
	size_t n, cap;
};

static bool set_has(const struct pid_set *s, uint32_t x)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == x)
			return true;
	return false;
}

static int set_add(struct pid_set *s, uint32_t x)
{
	if (kt_array_reserve(s->v, s->cap, s->n + 1))
		return -ENOMEM;
	s->v[s->n++] = x;
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/* The processes whose last thread exited, their totals copied into a->data. */
static int find_dead(struct kt_alloc *a, struct pid_set *dead)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_procs), e;
	uint32_t key, next, *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_proc v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || !v.exit_ns)
			continue;
		if ((e = fill_proc(a, key, &v)) || (e = set_add(dead, key)))
			return e;
	}
	return 0;
}

struct site_kv {
	struct kt_alloc_site_key k;
	struct kt_alloc_site v;
};

/*
 * The dead's sites into a->data, out of the map; the stacks only they used
 * leave alloc_stacks (the stack map is shared: a live site's stack stays).
 */
static int harvest_sites(struct kt_alloc *a, const struct pid_set *dead, uint64_t *stack)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_sites), e = 0;
	struct kt_alloc_site_key key, next, *prev = NULL;
	struct pid_set live = {0};
	struct site_kv *kv = NULL;
	size_t nkv = 0, cap = 0;

	while (!e && bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_site v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if (!set_has(dead, key.tgid))
			e = key.stack_id >= 0 ? set_add(&live, (uint32_t)key.stack_id) : 0;
		else if (!(e = kt_array_reserve(kv, cap, nkv + 1) ? -ENOMEM : 0))
			kv[nkv++] = (struct site_kv){key, v};
	}
	qsort(live.v, live.n, sizeof(*live.v), cmp_u32);
	for (size_t i = 0; !e && i < nkv; i++) {
		int32_t id = kv[i].k.stack_id;
		struct kt_alloc_site_rec *s = kt_alloc_data_site(&a->data, kv[i].k.tgid, id, stack,
								 read_stack(a, id, stack));

		if (!s) {
			e = -ENOMEM;
			break;
		}
		s->allocs += kv[i].v.allocs;
		s->bytes += kv[i].v.bytes;
		bpf_map_delete_elem(fd, &kv[i].k);
		if (id >= 0 && !bsearch(&id, live.v, live.n, sizeof(*live.v), cmp_u32))
			bpf_map_delete_elem(bpf_map__fd(a->skel->maps.alloc_stacks), &id);
	}
	free(live.v);
	free(kv);
	return e;
}

struct block_kv {
	struct kt_alloc_block_key k;
	struct kt_alloc_block v;
};

/* The dead's outstanding blocks: their leaks at exit, into a->data (before their stacks go). */
#define BLOCK_BATCH 1024

/*
 * The blocks of the dead into kv: read BLOCK_BATCH at a time (a long-lived
 * process may hold 100,000s of blocks: one syscall per batch, not two per
 * block, each time a process exits).
 */
static int dead_blocks(int fd, const struct pid_set *dead, struct block_kv **kv, size_t *nkv)
{
	struct kt_alloc_block_key keys[BLOCK_BATCH];
	struct kt_alloc_block vals[BLOCK_BATCH];
	uint64_t in = 0, out = 0; /* the kernel's cursor (a hash bucket) */
	size_t cap = 0;
	bool first = true;
	int r;

	do {
		__u32 count = BLOCK_BATCH;

		r = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);
		first = false;
		if (r < 0 && r != -ENOENT)
			return r;
		for (__u32 i = 0; i < count; i++) {
			if (!set_has(dead, keys[i].tgid))
				continue;
			if (kt_array_reserve(*kv, cap, *nkv + 1))
				return -ENOMEM;
			(*kv)[(*nkv)++] = (struct block_kv){keys[i], vals[i]};
		}
		in = out;
	} while (!r);
	return 0;
}

/* The dead's outstanding blocks: their leaks at exit, into a->data (before their stacks go). */
static int harvest_blocks(struct kt_alloc *a, const struct pid_set *dead, uint64_t *stack)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_blocks), e;
	struct block_kv *kv = NULL;
	size_t nkv = 0;

	e = dead_blocks(fd, dead, &kv, &nkv);
	for (size_t i = 0; !e && i < nkv; i++) {
		e = kt_alloc_data_add_leak(&a->data, kv[i].k.tgid, kv[i].v.stack_id, stack,
					   read_stack(a, kv[i].v.stack_id, stack), kv[i].v.size);
		if (!e)
			bpf_map_delete_elem(fd, &kv[i].k);
	}
	free(kv);
	return e;
}

static int harvest_threads(struct kt_alloc *a, const struct pid_set *dead)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_threads), e = 0;
	struct kt_alloc_thread_key key, next, *prev = NULL, *keys = NULL;
	size_t nkeys = 0, cap = 0;

	while (!e && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (!set_has(dead, key.tgid))
			continue;
		if (kt_array_reserve(keys, cap, nkeys + 1))
			e = -ENOMEM;
		else
			keys[nkeys++] = key;
	}
	for (size_t i = 0; !e && i < nkeys; i++) {
		struct kt_alloc_thread v;

		if (bpf_map_lookup_elem(fd, &keys[i], &v))
			continue;
		e = kt_alloc_data_add_thread(&a->data, keys[i].tgid, keys[i].tid, v.allocs,
					     v.bytes);
		if (!e)
			bpf_map_delete_elem(fd, &keys[i]);
	}
	free(keys);
	return e;
}

/* The exited threads read at an earlier tick into a->data; on -ENOMEM the rest wait. */
static void charge_exited(struct kt_alloc *a)
{
	size_t i = 0;

	for (; i < a->nexited; i++) {
		const struct kt_alloc_thread_rec *t = &a->exited[i];

		if (kt_alloc_data_add_exited_thread(&a->data, t->tgid, t->tid, t->allocs, t->bytes))
			break;
	}
	memmove(a->exited, a->exited + i, (a->nexited - i) * sizeof(*a->exited));
	a->nexited -= i;
}

/*
 * The exited threads' sums the kernel queued (all, or only when
 * thread_exits moved: no syscall per tick otherwise), after charging those
 * read before. Each is peeked, kept, then popped: without memory it stays
 * queued for the next call.
 */
static void drain_thread_exits(struct kt_alloc *a, bool all)
{
	uint64_t n = __atomic_load_n(&a->skel->bss->thread_exits, __ATOMIC_RELAXED);
	int fd = bpf_map__fd(a->skel->maps.alloc_thread_exits);
	struct kt_alloc_thread_exit x;

	charge_exited(a);
	if (n == a->thread_exits_seen && !all)
		return;
	while (!bpf_map_lookup_elem(fd, NULL, &x)) {
		if (kt_array_reserve(a->exited, a->capexited, a->nexited + 1))
			return;
		a->exited[a->nexited++] = (struct kt_alloc_thread_rec){
			.tgid = x.tgid, .tid = x.tid, .allocs = x.allocs, .bytes = x.bytes};
		bpf_map_lookup_and_delete_elem(fd, NULL, &x);
	}
	a->thread_exits_seen = n;
}

/* The fraction of its traced time pid was attached (--budget), or -1 if never detached. */
static double pid_fraction(const struct alloc_pid *ap, uint64_t now)
{
	uint64_t end = ap->t_end ? ap->t_end : now;
	uint64_t on = ap->attached_ns + (ap->attached_at ? now - ap->attached_at : 0);

	if (!ap->sampled || end <= ap->t0)
		return -1;
	return (double)on / (double)(end - ap->t0);
}

/*
 * pid's probes and bookkeeping go (the daemon's forgetting, a harvested
 * process); its duty cycle still says the counts were sampled.
 */
static void drop_pid(struct kt_alloc *a, pid_t pid)
{
	for (size_t i = 0; i < a->npids; i++)
		if (a->pids[i].pid == pid) {
			double f = pid_fraction(&a->pids[i], kt_now_ns(CLOCK_MONOTONIC));

			if (f >= 0 && (!a->gone_sampled || f < a->gone_fraction))
				a->gone_fraction = f;
			a->gone_sampled |= f >= 0;
			detach_pid_later(a, &a->pids[i]);
			a->pids[i] = a->pids[--a->npids];
			break;
		}
	for (size_t i = 0; i < a->ntries; i++)
		if (a->tries[i].pid == pid) {
			a->tries[i] = a->tries[--a->ntries];
			break;
		}
}

/*
 * Moves the processes that exited out of the kernel's maps into a->data
 * (kt_alloc_tick): their slots are free for new processes. Only when
 * group_exits moved (read from the mmapped .bss: no syscall per tick). On
 * an error, retried at the next tick: nothing is deleted before it is copied.
 */
static void harvest(struct kt_alloc *a)
{
	uint64_t exits = __atomic_load_n(&a->skel->bss->group_exits, __ATOMIC_RELAXED);
	uint64_t stack[KT_ALLOC_STACK_DEPTH];
	struct pid_set dead = {0};
	int e;

	if (exits == a->exits_seen)
		return;
	if (!(e = find_dead(a, &dead)) && dead.n && !(e = harvest_blocks(a, &dead, stack)) &&
	    !(e = harvest_sites(a, &dead, stack)))
		e = harvest_threads(a, &dead);
	if (e) {
		free(dead.v);
		return;
	}
	for (size_t i = 0; i < dead.n; i++) {
		bpf_map_delete_elem(bpf_map__fd(a->skel->maps.alloc_procs), &dead.v[i]);
		drop_pid(a, (pid_t)dead.v[i]);
	}
	a->exits_seen = exits;
	free(dead.v);
}

void kt_alloc_forget_pid(struct kt_alloc *a, uint32_t pid)
{
	if (!a || a->collected)
		return;
	drop_pid(a, (pid_t)pid);
	for (size_t i = a->nexited; i-- > 0;) /* its exited threads not charged yet */
		if (a->exited[i].tgid == pid)
			a->exited[i] = a->exited[--a->nexited];
	kt_alloc_data_forget_pid(&a->data, pid);
	kt_alloc_data_forget_pid(&a->folded, pid);
}

void kt_alloc_on_event(void *ctx, const struct kt_event *ev, size_t size)
{
	struct kt_alloc *a = ctx;

	(void)size;
	if (a && !a->collected && (ev->type == KT_EV_SEND || ev->type == KT_EV_RECV))
		kt_alloc_data_ring_thread(&a->data, ev->pid, ev->tid, ev->ring_id);
}

void kt_alloc_bind(struct kt_alloc *a, const struct kt_agg *agg)
{
	if (a)
		a->agg = agg;
}

/* Every ring of a traced process, with its messages and its threads' allocations. */
static int collect_rings(struct kt_alloc *a)
{
	for (const struct kt_ring_agg *r = a->agg ? a->agg->rings : NULL; r; r = r->next) {
		int e;

		if (!pid_find(a, (pid_t)r->pid) && !gone(a, (pid_t)r->pid))
			continue;
		e = kt_alloc_data_add_ring(&a->data, r->pid, r->ring_id, r->name,
					   kt_series_count(&r->s[KT_EV_SEND]));
		if (e)
			return e;
	}
	return 0;
}

/*
 * Newest first: each pid's entry probes go before its return probes, so no
 * call is entered without a return probe to close it (a stashed call left
 * open would make the thread's next calls look nested). The pids' batches
 * go on the closer's threads at once, and are waited for (with whatever
 * was queued before them): the sums stop moving.
 */
static void detach_all(struct kt_alloc *a)
{
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	for (size_t i = 0; i < a->npids; i++) {
		struct alloc_pid *ap = &a->pids[i];

		if (ap->attached_at)
			ap->attached_ns += now - ap->attached_at;
		ap->attached_at = 0;
		if (!ap->t_end)
			ap->t_end = now;
		if (ap->nlinks)
			detach_pid_later(a, ap);
	}
	for (size_t i = 0; i < a->npids; i++)
		kt_link_closer_wait(a->closer, a->pids[i].detach_ticket);
}

int kt_alloc_collect(struct kt_alloc *a)
{
	uint64_t stack[KT_ALLOC_STACK_DEPTH];
	int e;

	if (a->collected)
		return a->collect_err ? a->collect_err : (int)a->data.nsites;
	a->collected = true;
	/* detach first: the sums stop moving while they are read */
	detach_all(a);
	bpf_link__destroy(a->exec_link);
	a->exec_link = NULL;
	bpf_link__destroy(a->exit_link);
	a->exit_link = NULL;
	for (size_t i = 0; i < a->npids; i++)
		if (!a->pids[i].failed)
			kt_sym_follow_program(a->sym, a->pids[i].pid, a->self_exe,
					      &a->pids[i].program);
	drain_thread_exits(a, true); /* the hook is gone: whatever is queued is read now */
	charge_exited(a);
	if ((e = collect_procs(a)) || (e = collect_sites(a, &a->data, stack)) ||
	    (e = collect_leaks(a, &a->data, stack)) || (e = collect_threads(a)) ||
	    (e = collect_rings(a)))
		return a->collect_err = e;
	return (int)a->data.nsites;
}

const struct kt_alloc_data *kt_alloc_data(const struct kt_alloc *a)
{
	return &a->data;
}

void kt_alloc_set_start(struct kt_alloc *a, uint64_t t_start_ns)
{
	if (a)
		a->t_start_ns = t_start_ns;
}

/* The least attached of the duty-cycled processes: what the report's fraction means. */
static void sampled_stats(const struct kt_alloc *a, struct kt_alloc_stats *st)
{
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	st->sampled = a->gone_sampled;
	st->attached_fraction = a->gone_sampled ? a->gone_fraction : 1.0;
	for (size_t i = 0; i < a->npids; i++) {
		double f = pid_fraction(&a->pids[i], now);

		if (f < 0)
			continue;
		st->sampled = true;
		if (f < st->attached_fraction)
			st->attached_fraction = f;
	}
	if (st->sampled || a->moved)
		st->exact = false; /* a moved process's calls between its exec and the move were not
				      seen */
}

void kt_alloc_get_stats(const struct kt_alloc *a, struct kt_alloc_stats *st)
{
	uint64_t v[KT_ALLOC_STAT_NR];

	kt_percpu_sum_u64(bpf_map__fd(a->skel->maps.alloc_stats), KT_ALLOC_STAT_NR, v);
	memset(st, 0, sizeof(*st));
	st->call_lost = v[KT_ALLOC_STAT_CALL_LOST];
	st->block_lost = v[KT_ALLOC_STAT_BLOCK_LOST];
	st->site_lost = v[KT_ALLOC_STAT_SITE_LOST];
	st->stack_err = v[KT_ALLOC_STAT_STACK_ERR];
	st->proc_lost = v[KT_ALLOC_STAT_PROC_LOST];
	st->nested = v[KT_ALLOC_STAT_NESTED];
	st->thread_lost = v[KT_ALLOC_STAT_THREAD_LOST];
	st->stale = v[KT_ALLOC_STAT_STALE];
	st->thread_kept = v[KT_ALLOC_STAT_THREAD_KEPT];
	st->procs_untracked = a->procs_untracked;
	st->moved = a->moved;
	st->t_start_ns = a->t_start_ns;
	st->short_ns = a->o.short_ns;
	st->exact = a->o.exact;
	st->lib = kt_alloc_lib_name(a->o.lib);
	st->cost_ns = a->cost_ns;
	st->cost_cached = a->cost_cached;
	sampled_stats(a, st);
}

int kt_alloc_json(struct kt_json *w, void *alloc)
{
	struct kt_alloc *a = alloc;
	struct kt_alloc_stats st;
	int n = kt_alloc_collect(a);

	if (n < 0)
		return n;
	kt_alloc_get_stats(a, &st);
	return kt_alloc_data_json(&a->data, &st, w, JSON_TOP_SITES,
				  a->sym ? kt_folded_sym_kt : NULL, a->sym);
}

int kt_alloc_json_proc(struct kt_json *w, uint32_t pid, void *alloc)
{
	struct kt_alloc *a = alloc;
	struct kt_alloc_stats st;
	int n = kt_alloc_collect(a);

	if (n < 0)
		return n;
	kt_alloc_get_stats(a, &st);
	return kt_alloc_data_json_proc(&a->data, &st, w, pid, JSON_TOP_SITES,
				       a->sym ? kt_folded_sym_kt : NULL, a->sym);
}

/* One process's heap in the interval JSON's alloc_heap array. */
static void json_heap(struct kt_json *w, uint32_t pid, uint64_t bytes, uint64_t peak,
		      uint64_t allocs, uint64_t frees)
{
	kt_json_object_begin(w);
	kt_json_kv_u64(w, "pid", pid);
	kt_json_kv_u64(w, "bytes", bytes);
	kt_json_kv_u64(w, "peak_bytes", peak);
	kt_json_kv_u64(w, "allocs", allocs);
	kt_json_kv_u64(w, "frees", frees);
	kt_json_object_end(w);
}

int kt_alloc_json_interval(struct kt_json *w, void *alloc)
{
	struct kt_alloc *a = alloc;
	int fd = bpf_map__fd(a->skel->maps.alloc_procs);
	uint32_t key, next, *prev = NULL;

	kt_json_key(w, "alloc_heap");
	kt_json_array_begin(w);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_proc v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		json_heap(w, key, v.cur_bytes, v.peak_bytes, v.allocs, v.frees);
	}
	for (size_t i = 0; !a->collected && i < a->data.nprocs; i++) {
		const struct kt_alloc_proc_rec *r = &a->data.procs[i]; /* gone: at its exit */

		json_heap(w, r->tgid, r->cur_bytes, r->peak_bytes, r->allocs, r->frees);
	}
	kt_json_array_end(w);
	return kt_json_error(w);
}

/* The gone processes' sites (a->data, before the collection) joined to live ones in d. */
static int join_gone_sites(const struct kt_alloc *a, struct kt_alloc_data *d)
{
	for (size_t i = 0; !a->collected && i < a->data.nsites; i++) {
		const struct kt_alloc_site_rec *g = &a->data.sites[i];
		struct kt_alloc_site_rec *s =
			kt_alloc_data_site(d, g->tgid, g->stack_id, g->stack, g->nframes);

		if (!s)
			return -ENOMEM;
		s->allocs += g->allocs;
		s->bytes += g->bytes;
		s->leaked_blocks += g->leaked_blocks;
		s->leaked_bytes += g->leaked_bytes;
	}
	return 0;
}

/* The [alloc] bytes of each live site since the last call, and the [leak] bytes now. */
static int fold_live(struct kt_alloc *a, const struct kt_alloc_data *live, struct kt_folded *f)
{
	int e = 0;

	for (size_t i = 0; !e && i < live->nsites; i++) {
		const struct kt_alloc_site_rec *s = &live->sites[i];
		struct kt_alloc_site_rec *done =
			kt_alloc_data_site(&a->folded, s->tgid, s->stack_id, s->stack, s->nframes);

		if (!done)
			return -ENOMEM;
		if (s->bytes > done->bytes)
			e = kt_folded_add(f, s->tgid, NULL, "alloc", s->stack, s->nframes,
					  s->bytes - done->bytes);
		done->bytes = s->bytes;
		if (!e && s->leaked_bytes)
			e = kt_folded_add(f, s->tgid, NULL, "leak", s->stack, s->nframes,
					  s->leaked_bytes);
	}
	return e;
}

int kt_alloc_fold_since(struct kt_alloc *a, struct kt_folded *f)
{
	uint64_t stack[KT_ALLOC_STACK_DEPTH];
	struct kt_alloc_data live = {0};
	int e;

	if (!(e = collect_sites(a, &live, stack)) && !(e = collect_leaks(a, &live, stack)) &&
	    !(e = join_gone_sites(a, &live)))
		e = fold_live(a, &live, f);
	kt_alloc_data_free(&live);
	return e;
}

static int live_add(struct kt_alloc_live **out, size_t *n, size_t *cap, uint32_t pid,
		    const struct kt_alloc_proc_rec *r)
{
	if (kt_array_reserve(*out, *cap, *n + 1))
		return -ENOMEM;
	(*out)[(*n)++] = (struct kt_alloc_live){.pid = pid,
						.cur_bytes = r->cur_bytes,
						.peak_bytes = r->peak_bytes,
						.allocs = r->allocs,
						.frees = r->frees,
						.bytes_allocated = r->bytes_allocated};
	return 0;
}

int kt_alloc_live_procs(struct kt_alloc *a, bool with_gone, struct kt_alloc_live **out)
{
	int fd = bpf_map__fd(a->skel->maps.alloc_procs);
	uint32_t key, next, *prev = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	while (!a->collected && bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct kt_alloc_proc v;
		struct kt_alloc_proc_rec r;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v) || (v.exit_ns && !with_gone))
			continue;
		r = (struct kt_alloc_proc_rec){.cur_bytes = v.cur_bytes,
					       .peak_bytes = v.peak_bytes,
					       .allocs = v.allocs,
					       .frees = v.frees,
					       .bytes_allocated = v.bytes_allocated};
		if (live_add(out, &n, &cap, key, &r))
			goto nomem;
	}
	/* collected: a->data holds every process; else the gone ones */
	for (size_t i = 0; (with_gone || a->collected) && i < a->data.nprocs; i++)
		if (live_add(out, &n, &cap, a->data.procs[i].tgid, &a->data.procs[i]))
			goto nomem;
	return (int)n;
nomem:
	free(*out);
	*out = NULL;
	return -ENOMEM;
}

int kt_alloc_finish(struct kt_alloc *a, struct kt_folded *f, struct kt_alloc_stats *st)
{
	int n = kt_alloc_collect(a);

	if (n >= 0 && f)
		n = kt_alloc_data_fold(&a->data, f);
	kt_alloc_get_stats(a, st);
	return n;
}

int kt_alloc_read_sites(struct kt_alloc *a, struct kt_alloc_data *d)
{
	uint64_t stack[KT_ALLOC_STACK_DEPTH];
	int e;

	if (a->collected)
		return -ESRCH; /* detached: the sums no longer move */
	if ((e = collect_sites(a, d, stack)) || (e = collect_leaks(a, d, stack)) ||
	    (e = join_gone_sites(a, d)))
		return e;
	return (int)d->nsites;
}

void kt_alloc_free(struct kt_alloc *a)
{
	if (!a)
		return;
	detach_all(a);
	kt_link_closer_close(a->closer); /* gone processes' links still queued */
	bpf_link__destroy(a->exec_link);
	bpf_link__destroy(a->exit_link);
	kaos_alloc_bpf__destroy(a->skel);
	kt_alloc_data_free(&a->data);
	kt_alloc_data_free(&a->folded);
	free(a->pids);
	free(a->tries);
	free(a->exited);
	free(a);
}
