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
 *             address-to-spec map without them), the x86-64 uprobe nop5
 *             optimisation (a 5-byte nop probe site becomes a CALL; without
 *             it such a site may be single-stepped and cost more than a
 *             1-byte nop: see docs/kernels.md)
 *
 * The nop5 optimisation has no feature flag: it is measured, by timing
 * uprobe hits (perf uprobe events, no BPF) on a 5-byte and a 1-byte nop
 * site inside this module.
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
	KT_SITE_NOP5, /* x86 0f 1f 44 00 00 (libkaos' default on x86-64) */
	KT_SITE_OTHER /* another architecture's nop (arm64: one fixed-size nop) */
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
};

/* Probes the running kernel. time_nops: also measure the nop5 optimisation (x86-64). */
void kt_features_probe(struct kt_features *f, bool time_nops);

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

/* The report of `kaos-trace features`: one "name: value" line each. */
void kt_features_print(FILE *out, const struct kt_features *f);

/*
 * kaos-trace's start: probes the kernel (timing nops only if time_sites and
 * some target has x86 nop sites), prints notes and per-target advice on stderr, and
 * returns -1 with err naming what is missing if kaos-trace cannot run here.
 */
struct kt_targets;
int kt_features_check(const struct kt_targets *ts, bool time_sites, char *err, size_t errlen);
/* After a failed BPF load: one line of what the kernel offers, for context. */
void kt_features_explain(FILE *out);
/* `kaos-trace features`: probe, print, exit status 0 if nothing needed is missing. */
int kt_features_cmd(void);

#endif /* KT_FEATURES_H */
