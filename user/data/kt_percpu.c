// SPDX-License-Identifier: MIT
#include "kt_percpu.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <string.h>

int kt_percpu_sum_u64(int map_fd, uint32_t nkeys, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	int ret = ncpu > 0 ? 0 : ncpu;

	for (uint32_t k = 0; k < nkeys; k++) {
		out[k] = 0;
		/* valgrind marks only one CPU's value as written by the lookup */
		memset(vals, 0, sizeof(vals));
		if (bpf_map_lookup_elem(map_fd, &k, vals)) {
			ret = ret ? ret : -errno;
			continue;
		}
		for (int c = 0; c < ncpu; c++)
			out[k] += vals[c];
	}
	return ret;
}
