/* SPDX-License-Identifier: MIT */
/*
 * kt_func: kaos-trace --func, timing of arbitrary functions with plain
 * uprobes (an entry and a return uprobe per function, bpf/kaos_func.bpf.c).
 *
 * Patterns are "[LIB:]GLOB" (fnmatch(3) over symbol names of .symtab, else
 * of the .symtab of the file's separate debug file (kt_debuginfo), else of
 * .dynsym). Where LIB is looked up:
 *   -p PID   a file the process maps executable, named by its file name or
 *            DT_SONAME ("libz.so.1" finds libz.so.1.2.13); a name followed
 *            by '.' in either also matches ("libkaos.so", "libz"); exact
 *            names win; a path (with '/') matches the same inode. No LIB:
 *            the process's main executable.
 *   -b PATH  a path (with '/'); or PATH itself if LIB names it as above; or
 *            the DT_NEEDED library of PATH whose name starts with LIB,
 *            found as the dynamic linker would. No LIB: PATH itself. A
 *            library function probed by path is traced in every process
 *            that maps the library, now or later (dlopen included).
 *   -- COMMAND  its executable (found on PATH before it runs), as -b PATH;
 *            probes only in the command's process (kt_func_command_pid()),
 *            attached before it execs: its libraries are not mapped yet, so
 *            LIB is found among the program's DT_NEEDED, like ld.so would.
 *
 * Refused (they are listed with the reason by `kaos-trace list --func`):
 * symbols of size 0 (unknown extent), ".cold" fragments and process entry
 * points (entered by a jump, not a call: the return probe would overwrite
 * whatever is on top of the stack), IFUNCs whose implementation cannot be
 * told and symbols outside executable segments. An IFUNC is probed at the
 * implementation its process uses: the GOT slot of the object's IRELATIVE
 * relocation or of a caller's JUMP_SLOT/GLOB_DAT one, read in the -p
 * process (by path: the IRELATIVE slot in kaos-trace itself). A glob skips them with one
 * note; a pattern that matches nothing else is an error.
 *
 * The probes' own cost depends on the function's first instruction (the
 * kernel emulates some, single-steps the others, and turns a 5-byte nop
 * into a call): calibration times one target per kind in kaos-trace itself
 * and applies to each function the figures of its kind.
 */
#ifndef KT_FUNC_H
#define KT_FUNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_agg.h"
#include "kt_note.h"

#define KT_FUNC_MAX_FUNCS_DEFAULT 64
#define KT_FUNC_WARN_PCT_DEFAULT  5.0 /* cost warning threshold without --budget */

/* What the kernel does with a function's first instruction when probed. */
enum kt_func_kind {
	KT_FUNC_KIND_STEP = 0,	 /* single-stepped out of line (the general case) */
	KT_FUNC_KIND_PUSH = 1,	 /* push %reg: emulated (x86-64) */
	KT_FUNC_KIND_BRANCH = 2, /* jmp/call/jcc: emulated (x86-64) */
	KT_FUNC_KIND_NOP5 = 3,	 /* 5-byte nop: optimised into a call (x86-64) */
	KT_FUNC_NKINDS = 4,
};

const char *kt_func_kind_name(enum kt_func_kind k);
/* Kind of the code starting at code[0..n) on this architecture. */
enum kt_func_kind kt_func_classify(const uint8_t *code, size_t n);

/* Splits "LIB:GLOB" at the last ':' (lib = NULL without one). 0 or -1 with err. */
int kt_func_parse_pattern(const char *pattern, char *lib, size_t liblen, char *glob, size_t globlen,
			  char *err, size_t errlen);

/*
 * Does a file named base (with DT_SONAME soname, may be NULL) answer to
 * lib? 2: exactly (file name or soname), 1: lib followed by '.' starts
 * either, 0: no.
 */
int kt_func_lib_match(const char *lib, const char *base, const char *soname);

/* NULL if a function symbol can be probed, else why not ("what: why"). */
const char *kt_func_refusal(const char *name, unsigned int st_type, uint64_t size);

struct kt_func_opts {
	const char *const *patterns;
	int npatterns;
	const pid_t *pids;
	int npids;
	const char *const *paths;
	int npaths;
	const char *command; /* -- COMMAND's executable, or NULL */
	uint32_t max_funcs;  /* 0: KT_FUNC_MAX_FUNCS_DEFAULT */
	uint64_t max_rate;   /* timed calls/s per function (all processes); 0: no limit */
	double warn_pct;     /* warn when probes cost a process more (0: default) */
	bool stacks;
	/* non-fatal notes (skipped functions, cost warnings); NULL: dropped */
	kt_note_fn note;
	void *note_ctx;
};

/* One resolved function. */
struct kt_func_fn {
	char *name;	    /* symbol name (without @VERSION) */
	char *path;	    /* file as the user knows it (maps path or given path) */
	char *attach_path;  /* file the uprobes go on (may be /proc/PID/root/...) */
	const char *module; /* basename of path */
	uint64_t vaddr;
	uint64_t size;
	uint64_t offset; /* file offset of the entry */
	dev_t dev;
	ino_t ino;
	enum kt_func_kind kind;
	bool dynsym;	     /* found in .dynsym (no .symtab) */
	bool debug_file;     /* symbol from the file's separate debug file */
	char *ifunc;	     /* reached through this IFUNC (its implementation); or NULL */
	const char *refused; /* list only: why it cannot be probed */
};

struct kt_func;

/*
 * Resolves every pattern against the targets (no BPF yet): errors for a
 * pattern that matches nothing, an unknown library, more functions than
 * max_funcs. 0 or -1 with a one-line err.
 */
int kt_func_resolve(const struct kt_func_opts *o, struct kt_func **out, char *err, size_t errlen);
/* The -- COMMAND's pid (forked, not yet exec'd): its functions are probed in it only. */
void kt_func_command_pid(struct kt_func *f, pid_t pid);
void kt_func_free(struct kt_func *f);

uint32_t kt_func_count(const struct kt_func *f);
const struct kt_func_fn *kt_func_get(const struct kt_func *f, uint32_t idx);
/* Symbol name of function idx ("?" if out of range). */
const char *kt_func_name(const struct kt_func *f, uint32_t idx);

/*
 * Opens and loads bpf/kaos_func.bpf.c with the given ringbuf and kt_stats
 * fds of the main object (one ring buffer, one set of counters). 0 or -1.
 */
int kt_func_load(struct kt_func *f, int events_fd, int stats_fd, uint64_t wakeup_bytes, char *err,
		 size_t errlen);

/*
 * Measures, per first-instruction kind, what a probed call costs (traced
 * minus untraced, per call, median) and how much of it lands inside the
 * measured latency (median latency reported for an empty function), on
 * targets inside kaos-trace itself. Call after load, before attach, while
 * nothing else writes KT_EV_FUNC events. 0 or -1 with err.
 */
int kt_func_calibrate(struct kt_func *f, char *err, size_t errlen);
/* Calibrated figures of a kind (0 if not calibrated). */
double kt_func_pair_ns(const struct kt_func *f, enum kt_func_kind k);
double kt_func_bias_ns(const struct kt_func *f, enum kt_func_kind k);
/* The part of the pair a tail call adds (its caller's return trap serves both). */
double kt_func_tail_ns(const struct kt_func *f, enum kt_func_kind k);
bool kt_func_calibrated(const struct kt_func *f);
/*
 * One line: functions, uprobes, calibrated costs of the kinds in use; then
 * one line per function (the first 16): symbol, address, file offset,
 * where the symbol was found, file, and the IFUNC it implements. Each line
 * goes to note (no prefix, no newline).
 */
void kt_func_describe(const struct kt_func *f, kt_note_fn note, void *ctx);

/* Attaches every function to every target. 0 or -1 with err naming the function. */
int kt_func_attach(struct kt_func *f, char *err, size_t errlen);
int kt_func_nlinks(const struct kt_func *f);
void kt_func_detach(struct kt_func *f);

/* Tells agg the functions' names and calibrated costs (borrowed by agg). */
void kt_func_bind(struct kt_func *f, struct kt_agg *agg);
/* Copies the kernel's exact call counts into agg. */
void kt_func_sync(struct kt_func *f, struct kt_agg *agg);
/* Kernel-side anomaly counters (enum kt_func_stat), summed over CPUs. */
void kt_func_stats(struct kt_func *f, uint64_t out[KT_FSTAT_NR]);
/*
 * Periodic work (call often; it keeps its own clock): --max-rate sampling
 * periods and the once-per-process cost warning.
 */
void kt_func_tick(struct kt_func *f, struct kt_agg *agg, uint64_t now_ns);

/* kaos-trace list --func PATTERN [--func PATTERN...] PID|PATH: prints, returns exit status. */
int kt_func_cmd_list(int argc, char **argv, FILE *out, FILE *errf);

#endif /* KT_FUNC_H */
