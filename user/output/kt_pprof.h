/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof: the stacks of a struct kt_folded as a pprof profile
 * (gzip-compressed profile.proto, github.com/google/pprof), what Go's
 * pprof, Grafana Pyroscope, Parca and Grafana Alloy read.
 *
 * One sample type per tower (folded event) present, in order of first
 * appearance:
 *   cpu       samples/count and cpu/nanoseconds (count x cpu_period_ns);
 *             the default sample type when present
 *   off-cpu   off-cpu/nanoseconds
 *   any other (send, recv, a --func function...) EVENT/count, and with
 *             weight_latency EVENT_latency/nanoseconds too
 * A sample carries its tower's values and 0 for the others; labels pid
 * (numeric), comm, ring (its name, or its id until the name is known; the
 * stacks of kt_folded_add_probe_ring) and op (the event, but for cpu and
 * off-cpu samples). Locations are per (pid, address): a function
 * symbolized by the caller's kt_pprof_sym_fn and, where the address lies in
 * a file mapping, that mapping (path, range, file offset, build-id) with
 * has_functions set, so that pprof does not try to symbolize it again.
 *
 * The encoder is hand-written, not protobuf-c: kaos-trace writes six small
 * messages of one schema and reads none, a few varint and length-delimited
 * helpers. protobuf-c would add a code generator (protoc-c) to the build,
 * a runtime library to the static binary, and a vendored profile.proto
 * (Apache-2.0, in a MIT tree) for no gain. The field numbers below are
 * profile.proto's; tests/unit/test_pprof.c checks the bytes and
 * tests/fuzz/fuzz_pprof.c the encoding's structure.
 */
#ifndef KT_PPROF_H
#define KT_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_folded;

/* What a symbolizer tells about one lookup address. */
struct kt_pprof_loc {
	const char *func;     /* NULL or "": "[unknown]" */
	const char *file;     /* the mapped file; NULL: no mapping */
	const char *build_id; /* hex, NULL if none */
	uint64_t map_start, map_limit, map_offset;
	char buf[512]; /* the symbolizer's, for func */
};

/*
 * Fills loc (zeroed by the caller) for addr in pid; the strings must stay
 * valid until the next call. Negative: the frame is "[unknown]".
 */
typedef int (*kt_pprof_sym_fn)(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc);

/* kt_pprof_sym_fn over a struct kt_sym (ctx), names as in folded output. */
int kt_pprof_sym_kt(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc);

struct kt_pprof_opts {
	uint64_t cpu_period_ns; /* ns per cpu sample (1e9 / HZ); 0: samples/count only */
	/* events other than cpu and off-cpu weigh latency ns: their adds count them */
	bool weight_latency;
	int64_t time_ns; /* wall-clock start of the profile (0: unknown) */
	int64_t duration_ns;
	bool raw; /* the bare profile.proto, not gzip-compressed (tests) */
};

/*
 * Builds the profile of f's stacks into *out (malloc'd, *len bytes).
 * sym_ctx also goes to f's frame classifier. 0, -EINVAL, -ENOMEM or
 * -EIO (zlib).
 */
int kt_pprof_build(struct kt_folded *f, const struct kt_pprof_opts *o, kt_pprof_sym_fn sym,
		   void *sym_ctx, void **out, size_t *len);

/*
 * The output file: "-" is stdout; a path that exists and is no regular
 * file (a pipe, /dev/null, /dev/full) is written in place; any other path
 * through an unnamed file (O_TMPFILE; else a named temporary file) in its
 * directory, named and renamed over it by commit, so that a full disk or a
 * killed tracer never leaves a truncated profile (or a temporary file).
 */
struct kt_pprof_file {
	int fd;
	char *path; /* rename target; NULL when written in place */
	char *tmp;  /* the temporary name, once it has one */
};

/* Opens it (now, so that an unwritable path fails before tracing). 0 or -errno. */
int kt_pprof_file_open(struct kt_pprof_file *pf, const char *path);

/* Writes buf, closes and renames. 0 or -errno; the file is closed either way. */
int kt_pprof_file_commit(struct kt_pprof_file *pf, const void *buf, size_t len);

/* Closes and removes the temporary file (nothing written). */
void kt_pprof_file_abort(struct kt_pprof_file *pf);

#endif /* KT_PPROF_H */
