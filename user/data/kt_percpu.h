/* SPDX-License-Identifier: MIT */
/* Reading per-CPU BPF array maps of u64 counters. */
#ifndef KT_PERCPU_H
#define KT_PERCPU_H

#include <stdint.h>

/*
 * out[k] = the sum over every possible CPU of key k, for k < nkeys, of the
 * BPF_MAP_TYPE_PERCPU_ARRAY map_fd whose values are one u64. A key that
 * cannot be read counts 0. Returns 0, or -errno of the first failed lookup.
 */
int kt_percpu_sum_u64(int map_fd, uint32_t nkeys, uint64_t *out);

#endif
