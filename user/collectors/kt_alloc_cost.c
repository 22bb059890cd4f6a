// SPDX-License-Identifier: MIT
/*
 * What --alloc costs a traced process, measured on this machine at start:
 * a child of kaos-trace runs the same malloc+free loop untraced, then with
 * the allocator probes of a separate instance of the BPF object attached
 * to it (the real sums stay untouched). The difference per iteration is
 * the cost of one traced allocation with its free: an entry and a return
 * uprobe on malloc, an entry uprobe on free. Each iteration is timed and the
 * medians are compared: a loaded machine preempts some iterations, not
 * most. ~2 x 150 iterations of tens of microseconds, but with the second
 * BPF object's load and the probes' detach (RCU grace periods) ~330 ms of
 * start-up here: the figure is kept for the boot (kt_bootcache, the lowest
 * of the runs that measured it, as the probe cost), per build of
 * kaos-trace.
 */
#include "kt_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/kaos_alloc.skel.h"
#include "kt_alloc_abi.h"
#include "kt_bootcache.h"
#include "kt_clock.h"
#include "kt_elf.h"

#define COST_LOOPS 150

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The child: per byte read from `go`, a loop whose median iteration (ns) goes to `out`. */
static void cost_child(int go, int out)
{
	void *volatile sink; /* the pointer escapes: the compiler keeps each call */
	uint64_t ns[COST_LOOPS];

	for (int round = 0; round < 2; round++) {
		char c;

		if (read(go, &c, 1) != 1)
			_exit(1);
		for (int i = 0; i < COST_LOOPS; i++) {
			uint64_t t0 = kt_now_ns(CLOCK_MONOTONIC);

			sink = malloc(64);
			free(sink);
			ns[i] = kt_now_ns(CLOCK_MONOTONIC) - t0;
		}
		qsort(ns, COST_LOOPS, sizeof(ns[0]), cmp_u64);
		if (write(out, &ns[COST_LOOPS / 2], sizeof(ns[0])) != sizeof(ns[0]))
			_exit(1);
	}
	_exit(0);
}

/* One round of the child: its median iteration's ns, or 0. */
static uint64_t cost_round(int go, int in)
{
	uint64_t ns = 0;

	if (write(go, "g", 1) != 1 || read(in, &ns, sizeof(ns)) != sizeof(ns))
		return 0;
	return ns;
}

/* Attaches the probes of skel to pid (malloc entry/return, free entry). 0 or -errno. */
static int cost_attach(struct kaos_alloc_bpf *skel, pid_t pid, struct bpf_link **links)
{
	struct kt_alloc_target t;
	struct kt_alloc_proc zero = {0};
	uint32_t key = (uint32_t)pid;
	char err[256];

	if (kt_alloc_resolve(KT_ALLOC_LIB_GLIBC, pid, NULL, &t, err, sizeof(err)) ||
	    bpf_map__update_elem(skel->maps.alloc_procs, &key, sizeof(key), &zero, sizeof(zero),
				 BPF_NOEXIST))
		return -ENOENT;
	links[0] = bpf_program__attach_uprobe(skel->progs.kaos_alloc_return, true, pid, t.path,
					      t.off[0]);
	links[1] = bpf_program__attach_uprobe(skel->progs.kaos_alloc_malloc, false, pid, t.path,
					      t.off[0]);
	links[2] = bpf_program__attach_uprobe(skel->progs.kaos_alloc_free, false, pid, t.path,
					      t.off[4]);
	return links[0] && links[1] && links[2] ? 0 : -EIO;
}

static double measure_cost(void)
{
	struct kaos_alloc_bpf *skel = kaos_alloc_bpf__open_and_load();
	struct bpf_link *links[3] = {0};
	int go[2] = {-1, -1}, back[2] = {-1, -1};
	uint64_t plain = 0, traced = 0;
	pid_t pid = -1;

	if (!skel || pipe(go) || pipe(back))
		goto out;
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		close(back[0]);
		cost_child(go[0], back[1]);
	}
	if (pid < 0)
		goto out;
	plain = cost_round(go[1], back[0]);
	if (plain && !cost_attach(skel, pid, links))
		traced = cost_round(go[1], back[0]);
out:
	for (int i = 0; i < 3; i++)
		bpf_link__destroy(links[i]);
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (back[i] >= 0)
			close(back[i]);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	kaos_alloc_bpf__destroy(skel);
	return traced > plain ? (double)(traced - plain) : 0.0;
}

double kt_alloc_duty(uint64_t allocs, uint64_t attached_ns, double cost_ns, double budget_pct)
{
	double frac, duty;

	if (!allocs || !attached_ns || !(cost_ns > 0) || !(budget_pct > 0))
		return 1.0;
	/* the share of the process's wall time the probes take while attached */
	frac = (double)allocs * cost_ns / (double)attached_ns;
	duty = budget_pct / 100.0 / frac;
	return duty >= 1.0 ? 1.0 : duty < KT_ALLOC_DUTY_FLOOR ? KT_ALLOC_DUTY_FLOOR : duty;
}

#define COST_RECORDS_KEPT 4 /* the newest records: one per build of kaos-trace */
double kt_alloc_cost(bool *cached)
{
	struct {
		uint8_t build_id[KT_ELF_BUILD_ID_MAX];
		uint32_t len;
	} k;
	char hex[2 * KT_ELF_BUILD_ID_MAX + 1], name[sizeof(hex) + 16];
	int len;
	double ns;

	*cached = false;
	memset(&k, 0, sizeof(k));
	len = kt_elf_self_build_id(k.build_id, sizeof(k.build_id));
	if (len <= 0)
		return measure_cost();
	k.len = (uint32_t)len;
	kt_elf_hex(k.build_id, (size_t)len, hex);
	snprintf(name, sizeof(name), "alloc-cost-%s", hex);
	if (kt_bootcache_min_get(name, &k, sizeof(k), &ns)) {
		*cached = true;
		return ns;
	}
	ns = measure_cost();
	if (ns <= 0)
		return ns;
	ns = kt_bootcache_min_put(name, &k, sizeof(k), ns);
	kt_bootcache_prune("alloc-cost-", COST_RECORDS_KEPT);
	return ns;
}
