// SPDX-License-Identifier: MIT
#include "kt_profile.h"
#include "kt_clock.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_profile.skel.h"
#include "kt_array.h"
#include "kt_percpu.h"
#include "kt_proc.h"
#include "kt_profile_abi.h"

#define REFRESH_NS 200000000ull /* kt_profile_refresh: at most every 200 ms */

struct prof_pid {
	uint32_t pid;
	bool sampled;		       /* it has samples: it ran */
	struct kt_sym_program program; /* the program its name and maps were read for */
	char comm[KT_FOLDED_COMM_LEN];
};

struct kt_profile {
	struct kaos_profile_bpf *skel;
	struct bpf_link **links;
	int *fds;
	int ncpus;
	struct kt_sym *sym;
	struct prof_pid *pids;
	size_t npids, cap;
	uint64_t last_refresh;
	char self_exe[PATH_MAX]; /* ours: a -- COMMAND before its exec */
	uint64_t unfolded;	 /* samples whose stack was gone when folded */
};

static struct prof_pid *pid_find(struct kt_profile *p, uint32_t pid)
{
	for (size_t i = 0; i < p->npids; i++)
		if (p->pids[i].pid == pid)
			return &p->pids[i];
	return NULL;
}

static struct prof_pid *pid_get(struct kt_profile *p, uint32_t pid)
{
	struct prof_pid *e = pid_find(p, pid);

	if (e)
		return e;
	if (kt_array_reserve(p->pids, p->cap, p->npids + 1))
		return NULL;
	e = &p->pids[p->npids++];
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	return e;
}

/*
 * The process's name and maps, read while it lives, once it runs its own
 * program, and again after it execs another (kt_sym_follow_program).
 */
static void pid_capture(struct kt_profile *p, struct prof_pid *e)
{
	if (kt_sym_follow_program(p->sym, (pid_t)e->pid, p->self_exe, &e->program))
		kt_proc_comm((pid_t)e->pid, e->comm, sizeof(e->comm));
}

static int perf_open_cpu(unsigned int hz, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.size = sizeof(attr),
		/* a fixed period (cpu-clock counts ns): the same rate on every CPU */
		.sample_period = 1000000000ull / hz,
	};

	return (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* The BPF object, its stack map sized max_stacks (0: KT_PROF_MAX_STACKS). NULL: errno. */
static struct kaos_profile_bpf *load_skel(uint32_t max_stacks)
{
	struct kaos_profile_bpf *skel = kaos_profile_bpf__open();
	int e;

	if (!skel)
		return NULL;
	if (max_stacks && (e = bpf_map__set_max_entries(skel->maps.prof_stacks, max_stacks)))
		goto fail;
	if ((e = kaos_profile_bpf__load(skel)))
		goto fail;
	return skel;
fail:
	kaos_profile_bpf__destroy(skel);
	errno = -e;
	return NULL;
}

int kt_profile_open(struct kt_profile **out, unsigned int hz, struct kt_sym *sym, char *err,
		    size_t n)
{
	return kt_profile_open_sized(out, hz, sym, 0, err, n);
}

int kt_profile_open_sized(struct kt_profile **out, unsigned int hz, struct kt_sym *sym,
			  uint32_t max_stacks, char *err, size_t n)
{
	struct kt_profile *p;
	int e, ncpu = libbpf_num_possible_cpus();

	*out = NULL;
	if (hz == 0 || hz > 1000000000u || ncpu <= 0) {
		snprintf(err, n, "profile: invalid frequency or CPU count");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->links = calloc((size_t)ncpu, sizeof(*p->links))) ||
	    !(p->fds = calloc((size_t)ncpu, sizeof(*p->fds)))) {
		kt_profile_free(p);
		snprintf(err, n, "profile: out of memory");
		return -ENOMEM;
	}
	p->sym = sym;
	ssize_t len = readlink("/proc/self/exe", p->self_exe, sizeof(p->self_exe) - 1);

	p->self_exe[len > 0 ? len : 0] = 0;
	for (int c = 0; c < ncpu; c++)
		p->fds[c] = -1;
	p->skel = load_skel(max_stacks);
	if (!p->skel) {
		e = -errno;
		snprintf(err, n, "profile: cannot load BPF program: %s", strerror(-e));
		kt_profile_free(p);
		return e;
	}
	for (int c = 0; c < ncpu; c++) {
		p->fds[c] = perf_open_cpu(hz, c);
		if (p->fds[c] < 0) {
			if (errno == ENODEV || errno == ENOENT)
				continue; /* possible but offline CPU */
			e = -errno;
			snprintf(err, n, "profile: perf_event_open(cpu-clock, cpu %d): %s", c,
				 strerror(-e));
			kt_profile_free(p);
			return e;
		}
		p->links[c] =
			bpf_program__attach_perf_event(p->skel->progs.kaos_profile, p->fds[c]);
		if (!p->links[c]) {
			e = -errno;
			snprintf(err, n, "profile: cannot attach to cpu %d: %s", c, strerror(-e));
			kt_profile_free(p);
			return e;
		}
		p->ncpus++;
	}
	if (!p->ncpus) {
		snprintf(err, n, "profile: no CPU could be sampled");
		kt_profile_free(p);
		return -ENODEV;
	}
	*out = p;
	return 0;
}

int kt_profile_add_pid(struct kt_profile *p, uint32_t pid)
{
	struct prof_pid *e;
	uint8_t one = 1;

	if (!p || !pid)
		return -EINVAL;
	if (pid_find(p, pid))
		return 0;
	if (!(e = pid_get(p, pid)))
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.prof_pids), &pid, &one, BPF_ANY))
		return -errno;
	/* now, while it lives: a process shorter than a refresh would keep no name */
	pid_capture(p, e);
	return 0;
}

void kt_profile_refresh(struct kt_profile *p)
{
	int fd = bpf_map__fd(p->skel->maps.prof_counts);
	struct kt_prof_key key, next, *prev = NULL;
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	if (now - p->last_refresh < REFRESH_NS)
		return;
	p->last_refresh = now;
	/*
	 * A pid that has been sampled has run: capture its maps while it lives,
	 * and again after an exec (pid_capture compares the program).
	 */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct prof_pid *e = pid_find(p, next.pid);

		if (e)
			e->sampled = true;
		key = next;
		prev = &key;
	}
	for (size_t i = 0; i < p->npids; i++)
		if (p->pids[i].sampled)
			pid_capture(p, &p->pids[i]);
}

static void stop_sampling(struct kt_profile *p)
{
	for (int c = 0; p->links && p->fds && c < libbpf_num_possible_cpus(); c++) {
		bpf_link__destroy(p->links[c]);
		p->links[c] = NULL;
		if (p->fds[c] >= 0)
			close(p->fds[c]);
		p->fds[c] = -1;
	}
}

/* Adds the stack of one (pid, stack id) key with cnt samples to f. 0 or -errno. */
static int fold_key(struct kt_profile *p, struct kt_folded *f, const struct kt_prof_key *key,
		    uint64_t cnt)
{
	int sfd = bpf_map__fd(p->skel->maps.prof_stacks);
	struct prof_pid *e = pid_find(p, key->pid);
	uint64_t stack[KT_PROF_STACK_DEPTH];
	size_t nframes = 0;

	if (key->stack_id >= 0 && bpf_map_lookup_elem(sfd, &key->stack_id, stack) == 0)
		nframes = KT_PROF_STACK_DEPTH; /* zero-filled past the last frame */
	else if (key->stack_id >= 0)
		p->unfolded += cnt; /* freed by a fold while the sample was being counted */
	return kt_folded_add(f, key->pid, e && e->comm[0] ? e->comm : NULL, "cpu", stack, nframes,
			     cnt);
}

int kt_profile_collect(struct kt_profile *p, struct kt_folded *f)
{
	int cfd = bpf_map__fd(p->skel->maps.prof_counts);
	struct kt_prof_key key, next, *prev = NULL;
	int lines = 0;

	stop_sampling(p);
	p->last_refresh = 0;
	kt_profile_refresh(p);
	while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
		uint64_t cnt;
		int err;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(cfd, &key, &cnt) || !cnt)
			continue;
		if ((err = fold_key(p, f, &key, cnt)))
			return err;
		lines++;
	}
	return lines;
}

/* Frees the stack ids folded, so that a long run does not fill the stack map. */
static void free_stacks(struct kt_profile *p, const int32_t *ids, size_t n)
{
	int sfd = bpf_map__fd(p->skel->maps.prof_stacks);

	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(sfd, &ids[i]); /* ENOENT: a duplicate, freed already */
}

/*
 * Each key is taken out of the map as it is read (lookup and delete in one
 * call): a sample counted meanwhile starts a new key for the next interval.
 * The pass is bounded by the map's size: new keys keep coming while it runs.
 * The stack ids are freed after the pass (two pids may share one); a sample
 * counted meanwhile on a freed id is folded next time as [no-stack] and
 * counted in kt_profile_stats.unfolded.
 */
int kt_profile_fold_since(struct kt_profile *p, struct kt_folded *f)
{
	int cfd = bpf_map__fd(p->skel->maps.prof_counts);
	uint32_t max = bpf_map__max_entries(p->skel->maps.prof_counts);
	struct kt_prof_key key;
	int32_t *ids = NULL;
	size_t nids = 0, cap = 0;
	int lines = 0, err = 0;

	p->last_refresh = 0;
	kt_profile_refresh(p);
	for (uint32_t i = 0; i < max && bpf_map_get_next_key(cfd, NULL, &key) == 0; i++) {
		uint64_t cnt;

		if (bpf_map_lookup_and_delete_elem(cfd, &key, &cnt)) {
			err = -errno;
			break;
		}
		if (key.stack_id >= 0 && !kt_array_reserve(ids, cap, nids + 1))
			ids[nids++] = key.stack_id; /* no room: it stays until the next pass */
		if (!cnt)
			continue;
		if ((err = fold_key(p, f, &key, cnt)))
			break;
		lines++;
	}
	free_stacks(p, ids, nids);
	free(ids);
	return err ? err : lines;
}

void kt_profile_get_stats(const struct kt_profile *p, struct kt_profile_stats *st)
{
	uint64_t v[KT_PROF_STAT_NR];

	kt_percpu_sum_u64(bpf_map__fd(p->skel->maps.prof_stats), KT_PROF_STAT_NR, v);
	memset(st, 0, sizeof(*st));
	st->ncpus = p->ncpus;
	st->samples = v[KT_PROF_STAT_SAMPLES];
	st->stack_err = v[KT_PROF_STAT_STACK_ERR];
	st->lost = v[KT_PROF_STAT_LOST];
	st->unfolded = p->unfolded;
}

void kt_profile_free(struct kt_profile *p)
{
	if (!p)
		return;
	stop_sampling(p);
	kaos_profile_bpf__destroy(p->skel);
	free(p->links);
	free(p->fds);
	free(p->pids);
	free(p);
}
