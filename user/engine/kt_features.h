/* SPDX-License-Identifier: MIT */
/*
 * kt_features: what the running kernel offers kaos-trace, probed once at
 * start, so that a kernel without something kaos-trace needs gets one line
 * naming it (never a bare verifier dump), and one that merely lacks an
 * optimisation gets a fallback or a note.
 *
 *   needed:   kernel BTF (CO-RE relocations), the uprobe perf PMU (attach),
 *             the BPF ring buffer (the event channel)
 *   optional: BPF cookies (libbpf's USDT support falls back to an
 *             address-to-spec map without them), a fast path for uprobes
 *             on nops (x86-64)
 *
 * And where kaos-trace attaches on libkaos' combined probe sites (a 1-byte
 * nop then a 10-byte nop, the note at the 1-byte one: include/kaos/probes.h):
 * +0 or +1. No kernel flag says whether a nop is optimised, nor whether the
 * optimisation is safe across fork (Linux 6.18's nop5 path is not: issue
 * 11), so a self-test decides, in a child of kaos-trace on sites in its own
 * text (perf uprobe events, no BPF), never in a traced process: see
 * kt_features.c. +1 is chosen only if it is safe and clearly cheaper.
 */
#ifndef KT_FEATURES_H
#define KT_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the kernel does with a uprobe on a 5-byte nop, compared with a 1-byte one. */
enum kt_nop5 {
	KT_NOP5_UNKNOWN = 0, /* not measured (or the measurement failed) */
	KT_NOP5_NOT_X86,     /* no 5-byte nop probe sites on this architecture */
	KT_NOP5_OPTIMISED,   /* clearly cheaper: turned into a CALL (Linux 6.18+) */
	KT_NOP5_EMULATED,    /* about the same cost as a 1-byte nop */
	KT_NOP5_SLOW,	     /* clearly dearer: single-stepped out of line */
};

/* What the probe instruction of a kaos probe site is. */
enum kt_site {
	KT_SITE_UNKNOWN = 0,
	KT_SITE_NOP1, /* x86 0x90 (libkaos built with PROBE_NOP=1) */
	KT_SITE_NOP5, /* x86 0f 1f 44 00 00 (old libkaos default; forked children crash on 6.18) */
	KT_SITE_COMBINED, /* x86 90 + 66 2e 0f 1f 84 00 00 00 00 00 (libkaos' default) */
	KT_SITE_OTHER	  /* another architecture's nop (arm64: one fixed-size nop) */
};

struct kt_features {
	char release[65]; /* uname -r */
	char machine[65]; /* uname -m */
	int btf;	  /* 1 yes, 0 no */
	int uprobe_pmu;	  /* 1 yes, 0 no: /sys/bus/event_source/devices/uprobe */
	int ringbuf;	  /* 1 yes, 0 no, < 0 could not tell (-errno) */
	int cookie;	  /* 1 yes, 0 no, < 0 could not tell */
	enum kt_nop5 nop5;
	double nop1_ns; /* one uprobe hit on a 1-byte nop site (x86 only) */
	double nop5_ns; /* ... on a 5-byte nop site */
	/* the combined-site self-test (x86 only) */
	bool site_cached;	  /* the self-test's report came from this boot's cache */
	bool site_tested;	  /* it ran and reported */
	int at1_err;		  /* 0, or -errno: the kernel refused a uprobe at +1 */
	int at1_fork_status;	  /* wait status of a child forked after hits at +1; -1 none */
	unsigned at1_redzone_bad; /* red-zone calls over a probed +1 that lost data */
	double at0_ns, at1_ns;	  /* a hit at +0 and at +1 */
	/* the choice (kt_features_choose_site) */
	int site_at;	    /* 0 or 1: the attach offset on a combined site */
	char site_why[192]; /* why, one clause */
};

/* What kt_features_probe also measures (x86-64; each costs a child and uprobes). */
#define KT_PROBE_SITES 1u /* the combined-site self-test: where to attach */
#define KT_PROBE_NOP5  2u /* with it, price a 5-byte nop (targets built with one) */
#define KT_PROBE_ALL   4u /* with it, price every site (`kaos-trace features`) */
/* Probes the running kernel; tests: KT_PROBE_* flags. */
void kt_features_probe(struct kt_features *f, unsigned tests);
/* The same in steps: what is there (fast), then the tests started in a
 * child and collected later, so that start-up goes on meanwhile. */
void kt_features_probe_now(struct kt_features *f);

/* Is the running kernel release (uname) at least major.minor? */
bool kt_kernel_at_least(int major, int minor);
void kt_features_probe_start(struct kt_features *f, unsigned tests);
void kt_features_probe_finish(struct kt_features *f);

/*
 * Chooses the attach offset on combined sites from the self-test results
 * in f (site_at, site_why): +1 only if the kernel probes it, a child forked
 * after hits survives, the red zone survives, and a hit costs <= 0.7x one
 * at +0 -- and kaos-trace can attach there (it attaches through libbpf's
 * USDT support, which uses the note's address: +0).
 */
void kt_features_choose_site(struct kt_features *f);

/*
 * For tests: the same self-test with a plain 5-byte nop in place of +1 (the
 * site Linux 6.18 turns into a CALL that crashes forked children), to show
 * that its fork and red-zone checks catch such a site (x86-64).
 */
void kt_features_test_nop5_as_at1(struct kt_features *f);

/* Classifies measured hit costs (ns) of a nop5 and a nop1 site; UNKNOWN if either is <= 0. */
enum kt_nop5 kt_features_classify_nop5(double nop5_ns, double nop1_ns);
const char *kt_nop5_name(enum kt_nop5 n);

/*
 * Names what kaos-trace needs and this kernel lacks, in one line (several
 * missing things joined with "; "). Returns the number of missing things
 * (0: buf is "").
 */
int kt_features_missing(const struct kt_features *f, char *buf, size_t len);

/* Optional things missing: notes for stderr ("" if none). Returns how many. */
int kt_features_notes(const struct kt_features *f, char *buf, size_t len);

/* The probe instruction at a site from its first bytes. */
enum kt_site kt_site_from_bytes(const uint8_t *b, size_t n);
/* The probe instruction of the first provider:name site in the ELF file path. */
enum kt_site kt_site_of(const char *path, const char *provider, const char *name);
const char *kt_site_name(enum kt_site s);

/*
 * Advice for tracing probe sites of kind `site` on this kernel: a rebuild
 * with the other instruction is clearly cheaper here. Returns 1 with a
 * sentence in buf, or 0 ("" in buf) when the build suits the kernel.
 */
int kt_features_site_advice(const struct kt_features *f, enum kt_site site, char *buf, size_t len);

/* One line: where kaos-trace attaches on combined sites and why (no newline). */
void kt_features_site_line(const struct kt_features *f, char *buf, size_t len);

/* The report of `kaos-trace features`: one "name: value" line each. */
void kt_features_print(FILE *out, const struct kt_features *f);

/* Receives kaos-trace's start-up notes, one line each ("note: ...", no newline). */
typedef void (*kt_features_note_fn)(void *ctx, const char *line);

/*
 * kaos-trace's start: probes the kernel, gives notes to note (NULL: none),
 * returns -1 with err naming what is missing if kaos-trace cannot run here.
 * If time_sites and a target has combined (or nop5) sites on x86-64, starts
 * the site self-test, which kt_features_site_finish() collects. ts must
 * outlive that call.
 */
struct kt_targets;
int kt_features_check(const struct kt_targets *ts, bool time_sites, kt_features_note_fn note,
		      void *ctx, char *err, size_t errlen);
/*
 * Before attaching: collects the self-test, gives note where kaos-trace
 * attaches on combined sites and why (one line, if a target has them) and
 * advice per target. Returns the attach offset on combined sites (0 or 1),
 * or -1 with err set when a target has plain 5-byte nop sites (the fork
 * hazard on kernels that optimise them) and allow_nop5 is false.
 */
int kt_features_site_finish(bool allow_nop5, kt_features_note_fn note, void *ctx, char *err,
			    size_t errlen);
/* After a failed BPF load: one line of what the kernel offers, for context. */
void kt_features_explain(FILE *out);
/* `kaos-trace features`: probe, print to out, exit status 0 if nothing needed is missing. */
int kt_features_cmd(FILE *out);

#endif /* KT_FEATURES_H */
