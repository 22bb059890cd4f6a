/* SPDX-License-Identifier: MIT */
/*
 * Symbolizer for user-space addresses of live processes (the frames of
 * bpf_get_stack(BPF_F_USER_STACK)).
 *
 * Per pid it keeps the executable file mappings of /proc/PID/maps and binds
 * each to a module: the function symbols of its ELF file (.symtab, else
 * the .symtab of its separate debug file (kt_debuginfo), else .dynsym),
 * sorted for binary search. Modules are cached by GNU build-id
 * (fallback: path + device + inode + mtime + size), so a library mapped by
 * many processes is loaded once. Files are read through
 * /proc/PID/map_files (the mapped inode itself; needs CAP_SYS_ADMIN), else
 * /proc/PID/root/PATH (containers), else PATH; a "(deleted)" file only
 * through map_files. A pid's mappings and modules are loaded when it is
 * first seen (kt_sym_add_pid() or the first resolve), so they stay usable
 * after the process exits, until kt_sym_forget_pid().
 *
 * An address in no known mapping triggers one re-read of the maps (the
 * process may have dlopen()ed since), at most once per refresh interval per
 * pid, so garbage frames do not re-read the maps for every event.
 *
 * Frames are formatted as:
 *   "name"            address inside a function (of size > 0, or up to the
 *                     next symbol for size-0 symbols); "name+0xOFF" with
 *                     kt_sym_set_offsets(s, true)
 *   "module+0xOFF"    in a file mapping but in no function symbol; module is
 *                     the file's basename, OFF the ELF virtual address (what
 *                     addr2line -e module expects), or the file offset if the
 *                     ELF could not be read
 *   "[vdso]"          (any "[...]" pseudo mapping keeps its name)
 *   "[unknown]"       anonymous executable memory, or in no executable mapping
 *
 * Not thread-safe: one struct kt_sym per thread.
 */
#ifndef KT_SYM_H
#define KT_SYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kt_sym;

enum kt_sym_kind {
	KT_SYM_UNKNOWN = 0, /* "[unknown]" */
	KT_SYM_FUNC = 1,    /* a function symbol */
	KT_SYM_MODULE = 2,  /* module+0xoff: in a file mapping, no symbol */
	KT_SYM_SPECIAL = 3, /* a [vdso]-like pseudo mapping */
};

/* One resolved address. Pointers stay valid until the next kt_sym_* call. */
struct kt_sym_info {
	enum kt_sym_kind kind;
	const char *func;    /* KT_SYM_FUNC: symbol name */
	uint64_t func_off;   /* KT_SYM_FUNC: address - symbol start */
	const char *module;  /* basename of the mapped file or "[vdso]"; NULL if unknown */
	uint64_t module_off; /* ELF virtual address (file offset if the ELF was unreadable) */
	/*
	 * KT_SYM_FUNC: the symbol is global or weak with default (or
	 * protected) visibility. The linker turns hidden symbols into locals,
	 * so in a linked file this is "exported": in .dynsym of a shared
	 * object, and for a static program the globals of its .symtab.
	 */
	bool exported;
	/*
	 * KT_SYM_FUNC and KT_SYM_MODULE: the mapping the address lies in, as
	 * in /proc/PID/maps (for pprof's mappings). path is NULL and the rest
	 * 0 otherwise; build_id is hex, NULL if the file has none.
	 */
	const char *path;
	const char *build_id;
	uint64_t map_start, map_end, map_pgoff;
};

struct kt_sym_stats {
	uint64_t module_loads;	  /* ELF symbol tables loaded (cache misses) */
	uint64_t module_hits;	  /* mappings bound to an already cached module */
	uint64_t module_failures; /* mappings whose ELF could not be read */
	uint64_t maps_reads;	  /* /proc/PID/maps parses (initial + refreshes) */
	uint64_t modules_cached;  /* distinct modules in the cache */
	uint64_t pids;		  /* pids currently tracked */
};

#define KT_SYM_REFRESH_NS_DEFAULT 100000000ull /* 100 ms */

struct kt_sym *kt_sym_new(void);
void kt_sym_free(struct kt_sym *s);

/* Append "+0xOFF" to function names (default: off, so flame graphs merge). */
void kt_sym_set_offsets(struct kt_sym *s, bool on);
/* Minimum time between two maps re-reads of one pid caused by misses (0: always). */
void kt_sym_set_refresh_interval(struct kt_sym *s, uint64_t ns);

/*
 * Reads /proc/PID/maps and binds its modules now (call it when a pid is
 * first seen, so its frames can still be resolved after it exits).
 * 0, or -errno if the maps cannot be read (the pid is then not tracked).
 * A pid already tracked is read again (call it when the pid is seen
 * running code of a library it may have mapped since it was first seen,
 * e.g. sampled in ld.so before libkaos.so was mapped); if that fails (it
 * exited) its old maps are kept and -errno returned.
 */
int kt_sym_add_pid(struct kt_sym *s, pid_t pid);

/*
 * A sampling collector's view of one pid's program (--profile, --off-cpu):
 * which program its maps were read for.
 */
struct kt_sym_program {
	bool added;
	dev_t dev;
	ino_t ino;
};

/*
 * Reads pid's maps (kt_sym_add_pid) once it runs a program other than
 * self_exe (a -- COMMAND forked by kaos-trace is kaos-trace until its exec),
 * and again after it execs another program (a script's shim execs its
 * interpreter): its stacks are then symbolized with the program it ran
 * last. Returns true when the maps were (re)read now.
 */
bool kt_sym_follow_program(struct kt_sym *s, pid_t pid, const char *self_exe,
			   struct kt_sym_program *seen);

/* Forgets a pid's mappings (it exited; the pid may be reused). Modules stay cached. */
void kt_sym_forget_pid(struct kt_sym *s, pid_t pid);

/* Resolves addr in pid; returns info->kind (>= 0) or -EINVAL. */
int kt_sym_lookup(struct kt_sym *s, pid_t pid, uint64_t addr, struct kt_sym_info *info);

/*
 * Formats the frame for addr (see above) into buf (always NUL-terminated,
 * truncated to n - 1 bytes). Returns the kind (>= 0) or -EINVAL.
 */
int kt_sym_resolve(struct kt_sym *s, pid_t pid, uint64_t addr, char *buf, size_t n);

void kt_sym_get_stats(const struct kt_sym *s, struct kt_sym_stats *st);

/*
 * Runtime address in pid of ELF virtual address vaddr of the file at path
 * (matched against the pid's mappings by device and inode, so symlinks such
 * as libkaos.so -> libkaos.so.0.1 match). With kt_elf_find_symbol() this
 * gives e.g. the address of kaos_probe_control for process_vm_writev().
 * 0, -ENOENT if the file is not mapped in pid, or -errno.
 */
int kt_sym_runtime_addr(pid_t pid, const char *path, uint64_t vaddr, uint64_t *addr);

#endif /* KT_SYM_H */
