/* SPDX-License-Identifier: MIT */
/*
 * The batched probe's buffer (kaos:batch, include/kaos/probes.h,
 * docs/probes.md "Batching"): the one layout libkaos fills and tracers
 * read from the traced process (bpf/kaos_trace.bpf.c includes this file).
 * Fixed-width fields, no pointers: the same on x86_64, arm64 and BPF.
 */
#ifndef KAOS_PROBE_BATCH_H
#define KAOS_PROBE_BATCH_H

#ifndef __VMLINUX_H__
#include <stdint.h>
#endif

#define KAOS_PROBE_BATCH_RECORDS 32
#define KAOS_PROBE_BATCH_AGE_NS	 1000000ull

/* One operation: the seven per-op arguments, the probe (0 send, 1 recv, 2 backpressure), when. */
struct kaos_probe_record {
	uint32_t type;
	uint32_t ring_id; /* arg0 */
	uint64_t count;	  /* arg1 */
	uint64_t n;	  /* arg2 */
	uint64_t bytes;	  /* arg3 */
	uint64_t dur_ns;  /* arg4 */
	uint64_t extra;	  /* arg5 */
	uint64_t name;	  /* arg6 */
	uint64_t ts_ns;	  /* CLOCK_MONOTONIC at the operation's end */
};

struct kaos_probe_batch {
	uint32_t n;	    /* records pending in rec[] */
	int32_t pid;	    /* getpid() of the filling process: a raw clone's copy is not ours */
	uint64_t gen;	    /* generation of the pending records: +1 at every fire */
	uint64_t oldest_ns; /* ts_ns of rec[0] */
	uint32_t epoch;	    /* kaos_probe_control.batch_epoch this buffer was announced under */
	uint32_t reserved;
	struct kaos_probe_record rec[KAOS_PROBE_BATCH_RECORDS];
};

#endif /* KAOS_PROBE_BATCH_H */
