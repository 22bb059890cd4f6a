/* SPDX-License-Identifier: MIT */
/*
 * Folded-stack aggregation for flamegraph.pl (and speedscope, inferno...).
 *
 * Events are aggregated by their raw user stack (addresses leaf first, as
 * bpf_get_stack() returns them), pid, comm and event name; nothing is
 * symbolized until kt_folded_write(), which emits one line per distinct
 * symbolized stack:
 *
 *   [event];comm;root;...;leaf WEIGHT
 *
 * root first, frames separated by ';', weights summed over every raw stack
 * that symbolizes to the same line (u64, saturating), lines sorted bytewise
 * so the output is deterministic. Every line matches ^[^ ]+ [0-9]+$: frame
 * names are sanitized (';' -> ':', whitespace -> '_', other control
 * characters -> '?', empty -> "[unknown]").
 *
 * Prefix frames (flags of kt_folded_write):
 *   KT_FOLDED_EVENT_ROOT  "[event]" as the outermost frame: events with
 *                         different weights (counts, sojourn ns, wait ns)
 *                         then never share a tower of the graph
 *   KT_FOLDED_EVENT_LEAF  "[event]" on top of the frame that fired it instead
 *   KT_FOLDED_COMM        the process name as the root of its stacks
 *                         (after the event root, if any)
 *   KT_FOLDED_PID         with KT_FOLDED_COMM: "comm-PID" (one tower per process)
 *   KT_FOLDED_WEIGHT_ADDS the weight of a probe stack is the number of
 *                         kt_folded_add_probe calls: event counts when the
 *                         weights added are latencies (--pprof keeps both)
 * kaos-trace uses KT_FOLDED_EVENT_ROOT | KT_FOLDED_COMM.
 *
 * Frames: the first address is the probe's instruction pointer and is
 * symbolized as is; the others are return addresses and are symbolized at
 * address - 1, inside the call instruction, so that a call ending a
 * function (noreturn) is charged to its caller. A 0 address ends the stack
 * (bpf_get_stack zero-fills); a stack with no frames yields "[no-stack]".
 *
 * Probe stacks (kt_folded_add_probe, the USDT events) end at the call the
 * user made. The frame classifier (kt_folded_set_frame_fn) sorts frames into
 * public API, the library's internals and others. From the leaf, up
 * through API and internal frames only: the outermost API frame
 * (kaos_ipc_send calls kaos_ring_send through send_one). The frames below
 * it are libkaos' own path (fire_send, send1_probed_spsc.cold...) and are
 * left out:
 *   [send];app;main;producer;kaos_ring_send
 *   [send];app;main;client;kaos_ipc_send
 * (the API frame's name cut at its first '.': kaos_ring_claim.cold is
 * written kaos_ring_claim). A probe stack without an API frame is written
 * whole. Stacks added with kt_folded_add (CPU and off-CPU samples) are
 * never trimmed.
 */
#ifndef KT_FOLDED_H
#define KT_FOLDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kt_folded;

#define KT_FOLDED_MAX_FRAMES 1024
#define KT_FOLDED_COMM_LEN   16 /* TASK_COMM_LEN: longer names are truncated */
#define KT_FOLDED_EVENT_LEN  32
#define KT_FOLDED_RING_LEN   32 /* KT_NAME_LEN, as libkaos stores ring names */

enum kt_folded_flags {
	KT_FOLDED_EVENT_ROOT = 1u << 0,
	KT_FOLDED_EVENT_LEAF = 1u << 1,
	KT_FOLDED_COMM = 1u << 2,
	KT_FOLDED_PID = 1u << 3,
	KT_FOLDED_WEIGHT_ADDS = 1u << 4, /* probe stacks: the number of adds, not their sum */
};

/*
 * Symbolizer: writes the frame name of addr in pid into buf (n bytes,
 * NUL-terminated). A negative return or an empty name gives "[unknown]".
 */
typedef int (*kt_folded_sym_fn)(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n);

/* kt_folded_sym_fn over a struct kt_sym (ctx): kt_sym_resolve(). */
int kt_folded_sym_kt(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n);

/* What a frame of a probe stack is, relative to the library of the probe site. */
enum kt_folded_frame {
	KT_FRAME_OTHER = 0,    /* another file's, an exported non-API function, unknown */
	KT_FRAME_INTERNAL = 1, /* a non-exported function of the probe site's file */
	KT_FRAME_API = 2,      /* a public API function of the probe site's file */
};

/*
 * Classifies the frame at addr (already the call site for return
 * addresses) of a stack whose probe site is leaf (the first frame). ctx is
 * the symbolizer's.
 */
typedef enum kt_folded_frame (*kt_folded_frame_fn)(void *ctx, uint32_t pid, uint64_t leaf,
						   uint64_t addr);

/*
 * kt_folded_frame_fn over a struct kt_sym (ctx): API = an exported kaos_*
 * function of the probe site's own file (kt_folded.c says why).
 */
enum kt_folded_frame kt_folded_frame_kt(void *ctx, uint32_t pid, uint64_t leaf, uint64_t addr);

struct kt_folded *kt_folded_new(void);
void kt_folded_free(struct kt_folded *f);

/*
 * Adds weight (1 to count events, or e.g. a latency in ns) to the stack.
 * comm and event may be NULL. 0, -EINVAL (NULL stack with nframes > 0,
 * nframes > KT_FOLDED_MAX_FRAMES) or -ENOMEM.
 */
int kt_folded_add(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
		  const uint64_t *stack, size_t nframes, uint64_t weight);

/*
 * kt_folded_add of a sum made elsewhere: weight (e.g. bytes) of count
 * events (e.g. allocations) at once, so that formats with a count column
 * (pprof's alloc_objects beside alloc_space) show the events, not 1. Same
 * returns.
 */
int kt_folded_add_counted(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			  const uint64_t *stack, size_t nframes, uint64_t weight, uint64_t count);

/*
 * kt_folded_add for a stack taken at a libkaos probe site: written from
 * its public API frame up (see above). Same returns.
 */
int kt_folded_add_probe(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			const uint64_t *stack, size_t nframes, uint64_t weight);

/*
 * kt_folded_add_probe for an event of a ring: ring (its name, or NULL) is
 * part of the key, so that other formats can label stacks by ring (pprof);
 * the folded lines do not show it, and merge across rings.
 */
int kt_folded_add_probe_ring(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			     const char *ring, const uint64_t *stack, size_t nframes,
			     uint64_t weight);

/* The frame classifier of probe stacks (NULL, the default: never trimmed). */
void kt_folded_set_frame_fn(struct kt_folded *f, kt_folded_frame_fn fn);

/*
 * Adds src's stacks (of event only; NULL: all) to dst, weights and adds
 * summed; with max > 0, a stack new to a dst holding max is left out.
 * The number left out, or -EINVAL, -ENOMEM.
 */
int kt_folded_merge(struct kt_folded *dst, const struct kt_folded *src, const char *event,
		    size_t max);

/* Distinct raw stacks held. */
size_t kt_folded_size(const struct kt_folded *f);

/* Drops all stacks (e.g. after a periodic write). */
void kt_folded_clear(struct kt_folded *f);

/*
 * Symbolizes and writes the folded lines (lines whose total weight is 0
 * are left out). Returns the number of lines, -EINVAL, -ENOMEM or -EIO.
 */
int kt_folded_write(struct kt_folded *f, FILE *out, unsigned int flags, kt_folded_sym_fn sym,
		    void *ctx);

/*
 * One raw stack as kt_folded_foreach() hands it out (for other formats:
 * pprof). addrs are lookup addresses, leaf first: the probe's IP, then
 * return addresses - 1 (the call); a probe stack starts at its API frame,
 * whose name is cut at its first '.' (api_leaf). Valid during the call.
 */
struct kt_folded_stack {
	uint32_t pid;
	const char *comm;  /* "" if unknown */
	const char *event; /* "" if none */
	const char *ring;  /* the ring's name, "" if none (kt_folded_add_probe_ring) */
	const uint64_t *addrs;
	size_t naddrs;
	bool api_leaf;
	uint64_t weight;
	uint64_t adds; /* the kt_folded_add calls summed into weight */
};

typedef int (*kt_folded_stack_fn)(void *ctx, const struct kt_folded_stack *st);

/*
 * Calls fn for every raw stack (weights 0 too), in no particular order;
 * sym_ctx is the frame classifier's (see kt_folded_set_frame_fn). Stops at
 * fn's first negative return and returns it; else 0, -EINVAL or -ENOMEM.
 */
int kt_folded_foreach(struct kt_folded *f, void *sym_ctx, kt_folded_stack_fn fn, void *ctx);

#endif /* KT_FOLDED_H */
