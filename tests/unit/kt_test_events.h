/* SPDX-License-Identifier: MIT */
/* Synthetic kt_events for unit tests of the modules that sit on kt_agg. */
#ifndef KT_TEST_EVENTS_H
#define KT_TEST_EVENTS_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "kt_agg.h"
#include "kt_proc.h"

/* Ring names live in this process: kt_agg reads them through its lookup, as the session sets it. */
static char kt_test_names[4][KT_NAME_LEN] = {"work.0", "work.1", "compress.in", "other"};
static const struct kt_agg_lookup kt_test_lookup = {kt_proc_comm, kt_proc_start_ns,
						    kt_proc_read_mem};

/* One operation of type on ring (0..3) of this process: count is the ring's cumulative counter. */
static inline void kt_test_event(struct kt_agg *a, uint32_t type, uint32_t ring, uint64_t count,
				 uint64_t dur_ns, uint64_t extra)
{
	struct kt_event e;

	if (!a->lookup)
		a->lookup = &kt_test_lookup;
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.pid = (uint32_t)getpid();
	e.tid = e.pid;
	e.ring_id = ring + 1;
	e.n = 1;
	e.count = count;
	e.bytes = 8;
	e.dur_ns = dur_ns;
	e.extra = extra;
	e.name_ptr = (uint64_t)(uintptr_t)kt_test_names[ring];
	kt_agg_add(a, &e, KT_EVENT_BASE_SIZE);
}

#endif /* KT_TEST_EVENTS_H */
