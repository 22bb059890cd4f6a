// SPDX-License-Identifier: MIT
#include "kt_control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kaos/probe_batch.h"
#include "kaos/probes.h"
#include "kt_elf.h"
#include "kt_sym.h"

uint32_t kt_pow2_floor(uint64_t n)
{
	uint32_t p = 1;

	while ((uint64_t)p * 2 <= n && p < (1u << 30))
		p *= 2;
	return p;
}

double kt_price_cost_ns(const struct kt_price *pr, uint64_t hits, uint64_t batched, uint64_t traps)
{
	if (batched > hits)
		batched = hits;
	if (!(pr->record_ns > 0)) /* the batch path was not measured: every record a hit */
		return (double)hits * pr->hit_ns;
	return (double)(hits - batched) * pr->hit_ns + (double)traps * pr->trap_ns +
	       (double)batched * pr->record_ns;
}

double kt_price_op_ns(const struct kt_price *pr, bool batched, double ops_per_s)
{
	double per_trap;

	if (!batched || !(pr->record_ns > 0))
		return pr->hit_ns;
	/* a fire when the buffer is full, or at the first record past the oldest's age */
	per_trap = 1.0 + ops_per_s * (double)KAOS_PROBE_BATCH_AGE_NS / 1e9;
	if (per_trap > KAOS_PROBE_BATCH_RECORDS)
		per_trap = KAOS_PROBE_BATCH_RECORDS;
	return pr->record_ns + pr->trap_ns / per_trap;
}

uint32_t kt_budget_period(double ops_per_s, const struct kt_budget_price *bp, double budget_pct)
{
	double allowed_ns = budget_pct / 100.0 * 1e9; /* per second of wall time */
	uint64_t n = 1;

	if (ops_per_s <= 0 || !(kt_price_op_ns(bp->price, bp->batched, ops_per_s) > 0))
		return 1;
	if (budget_pct <= 0)
		return 1u << 30;
	while (ops_per_s / (double)n *
			       kt_price_op_ns(bp->price, bp->batched, ops_per_s / (double)n) >
		       allowed_ns &&
	       n < (1u << 30))
		n *= 2;
	return (uint32_t)n;
}

uint32_t kt_budget_step(struct kt_budget *b, uint32_t cur, uint64_t ops_total, uint64_t now_ns,
			uint64_t cpu_ns, const struct kt_budget_price *bp, double budget_pct)
{
	uint64_t ops, wall, cpu;
	uint32_t want;
	double rate;

	if (!cur)
		cur = KT_BUDGET_START_PERIOD;
	if (!b->wall_ns || now_ns < b->wall_ns || ops_total < b->ops0) {
		*b = (struct kt_budget){ops_total, now_ns, cpu_ns};
		return cur;
	}
	ops = ops_total - b->ops0;
	wall = now_ns - b->wall_ns;
	/* Counts arrive with sampled events only: wait for about two periods' worth, or 1 s. */
	if (wall < KT_BUDGET_MIN_NS || (ops < 2ull * cur && wall < KT_BUDGET_MAX_NS))
		return cur;
	cpu = cpu_ns && b->cpu_ns && cpu_ns > b->cpu_ns ? cpu_ns - b->cpu_ns : 0;
	rate = (double)ops * 1e9 / (double)(cpu && cpu < wall ? cpu : wall);
	*b = (struct kt_budget){ops_total, now_ns, cpu_ns};
	if (!ops) {
		/*
		 * No event for a second: each ring moved fewer than cur messages (one
		 * in cur fires), so its rate is below cur per second. Price that bound,
		 * falling by at most KT_BUDGET_IDLE_FALL a step: a process too slow to
		 * show up at the sparse start period is not left unsampled.
		 */
		want = kt_budget_period((double)cur * 1e9 / (double)wall, bp, budget_pct);
		return want < cur / KT_BUDGET_IDLE_FALL ? cur / KT_BUDGET_IDLE_FALL
		       : want < cur			? want
							: cur;
	}
	want = kt_budget_period(rate, bp, budget_pct);
	return want < cur / 2 ? cur / 2 : want;
}

static int write_remote(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = {(void *)buf, len}, r = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_writev(pid, &l, 1, &r, 1, 0);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

/*
 * One aligned 4-byte word. A torn write (the copy is not atomic) would only
 * show the hot path another power of two for a moment (it rounds down).
 */
static int write_sample_every(pid_t pid, uint64_t ctl_addr, uint32_t every)
{
	uint32_t v = kt_pow2_floor(every ? every : 1);

	return write_remote(pid, ctl_addr + offsetof(struct kaos_probe_control, sample_every), &v,
			    sizeof(v));
}

/* The walk over a process's mapped files looking for its kaos_probe_control. */
struct control_walk {
	pid_t pid;
	uint64_t addr, size;
	char *msg;
	size_t msglen;
	const uint64_t *hints; /* inodes of the objects to look in (and the program) */
	int nhints;
	bool past_program, skipped, rest;
};

/* The control's address in the process if file defines it (0 if not). */
static uint64_t control_in_file(struct control_walk *w, const char *file, uint64_t *objsize)
{
	struct kaos_probe_control ctl;
	struct kt_elf *elf;
	uint64_t vaddr, size, addr;
	int found;

	if (kt_elf_open(file, &elf) != 0)
		return 0;
	found = kt_elf_find_symbol(elf, KAOS_PROBE_CONTROL_SYMBOL, &vaddr, &size) == 0 &&
		size >= KAOS_PROBE_CONTROL_V1_SIZE;
	kt_elf_close(elf);
	if (!found || kt_sym_runtime_addr(w->pid, file, vaddr, &addr) != 0)
		return 0;
	if (kt_proc_read_mem(w->pid, addr, &ctl, KAOS_PROBE_CONTROL_V1_SIZE) ||
	    ctl.magic != KAOS_PROBE_CONTROL_MAGIC) {
		snprintf(w->msg, w->msglen, "%s in pid %d has a bad magic",
			 KAOS_PROBE_CONTROL_SYMBOL, (int)w->pid);
		return 0;
	}
	*objsize = size;
	return addr;
}

/*
 * With hints, the first walk looks in the program (the first file mapped)
 * and the hinted objects only, the second (rest) in the others only.
 */
static bool control_may_define(struct control_walk *w, const struct kt_proc_map *m)
{
	bool hinted = !w->past_program;

	w->past_program = true;
	if (!w->hints)
		return true;
	for (int i = 0; i < w->nhints && !hinted; i++)
		hinted = w->hints[i] == m->inode;
	if (w->rest)
		return !hinted;
	w->skipped |= !hinted;
	return hinted;
}

static int control_search(const struct kt_proc_map *m, void *arg)
{
	struct control_walk *w = arg;

	if (!control_may_define(w, m))
		return 0;
	w->addr = control_in_file(w, m->path, &w->size);
	return w->addr != 0;
}

static uint64_t control_walk(struct control_walk *w)
{
	int e = kt_proc_files_each(w->pid, false, control_search, w);
	if (e < 0) {
		snprintf(w->msg, w->msglen, "cannot read /proc/%d/maps: %s", (int)w->pid,
			 strerror(-e));
		return 0;
	}
	return w->addr;
}

uint64_t kt_control_find(pid_t pid, const uint64_t *hints, int nhints, uint64_t *objsize, char *msg,
			 size_t msglen)
{
	struct control_walk w = {
		.pid = pid, .msg = msg, .msglen = msglen, .hints = hints, .nhints = nhints};

	snprintf(msg, msglen, "no mapped object of pid %d defines %s", (int)pid,
		 KAOS_PROBE_CONTROL_SYMBOL);
	/*
	 * Looking the symbol up in every mapped object cost ~1 ms of each start
	 * (libc's 3,000 dynamic symbols read and compared): the objects the
	 * probes are in come first. The program is looked in first as ld.so
	 * does (a copy relocation puts the live control there); the others
	 * only if those lack it.
	 */
	if (!control_walk(&w) && w.skipped) {
		w = (struct control_walk){.pid = pid,
					  .msg = msg,
					  .msglen = msglen,
					  .hints = hints,
					  .nhints = nhints,
					  .rest = true};
		control_walk(&w);
	}
	if (w.addr)
		*objsize = w.size;
	return w.addr;
}

/* ---------------------------------------------------------------- identity */

static bool request_live(const struct kaos_probe_request *r)
{
	return r->tracer_pid > 0 && r->tracer_start &&
	       kt_proc_start_time((pid_t)r->tracer_pid) == r->tracer_start;
}

static bool request_is_self(const struct kt_control *c, const struct kaos_probe_request *r)
{
	return r->tracer_pid == c->self_pid && r->tracer_start == c->self_start;
}

/* Slots an object of objsize bytes (st_size) holds. */
static uint32_t slots_that_fit(uint64_t objsize)
{
	uint64_t head = offsetof(struct kaos_probe_control, slots);

	return objsize < head ? 0
			      : (uint32_t)((objsize - head) / sizeof(struct kaos_probe_request));
}

int kt_control_open_at(struct kt_control *c, pid_t pid, uint64_t addr, uint64_t objsize, char *msg,
		       size_t msglen)
{
	struct kaos_probe_control ctl;

	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->addr = addr;
	c->lock_dir = KT_CONTROL_LOCK_DIR;
	c->self_pid = (int32_t)getpid();
	c->self_start = kt_proc_start_time(getpid());
	c->proc_start = kt_proc_start_time(pid);
	if (kt_proc_read_mem(pid, addr, &ctl, KAOS_PROBE_CONTROL_V1_SIZE) ||
	    ctl.magic != KAOS_PROBE_CONTROL_MAGIC) {
		snprintf(msg, msglen, "%s in pid %d cannot be read", KAOS_PROBE_CONTROL_SYMBOL,
			 (int)pid);
		return -1;
	}
	if (!c->self_start || !c->proc_start) {
		snprintf(msg, msglen, "cannot read the start time of pid %d or of this tracer",
			 (int)pid);
		return -1;
	}
	c->version = ctl.version;
	/* a version-2 layout (slots) from any later version; version 1 has none */
	c->nslots = ctl.version >= 2 ? ctl.nslots : 0;
	if (c->nslots > KAOS_PROBE_CONTROL_SLOTS)
		c->nslots = KAOS_PROBE_CONTROL_SLOTS;
	/*
	 * Never past the object: a program built against version 1 that names the
	 * symbol has a 16-byte copy of it (copy relocation) with version 2's first
	 * bytes in it, and the bytes after it are the program's own data.
	 */
	if (c->nslots > slots_that_fit(objsize))
		c->nslots = slots_that_fit(objsize);
	return 0;
}

int kt_control_open(struct kt_control *c, pid_t pid, const uint64_t *hints, int nhints, char *msg,
		    size_t msglen)
{
	uint64_t objsize = 0;
	uint64_t addr = kt_control_find(pid, hints, nhints, &objsize, msg, msglen);

	if (!addr) {
		memset(c, 0, sizeof(*c));
		/* no libkaos in it (e.g. a --func target) is not a failure to say */
		return strncmp(msg, "no mapped object", 16) ? -1 : -ENOENT;
	}
	return kt_control_open_at(c, pid, addr, objsize, msg, msglen);
}

/* ---------------------------------------------------------------- the lock */

static void lock_path(const struct kt_control *c, char *path, size_t len)
{
	snprintf(path, len, "%s/control-%d-%llu.lock", c->lock_dir, (int)c->pid,
		 (unsigned long long)c->proc_start);
}

/*
 * Locks the lock file of c's process: its fd, or -errno. Gives up after
 * about a second rather than block a tracer behind a stopped one.
 */
static int lock_take(const struct kt_control *c, const char *path)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct stat held, named;
		int fd;

		if (mkdir(c->lock_dir, 0700) && errno != EEXIST)
			return -errno;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd < 0)
			return -errno;
		/*
		 * Whoever can enter the directory (0700: its owner, root) may lock:
		 * a root one-shot tracer's file must stay usable by the daemon's
		 * service user (deploy/kaos-trace.service), whatever the umask.
		 */
		(void)fchmod(fd, 0666);
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			int e = errno;

			close(fd);
			if (e != EWOULDBLOCK && e != EINTR)
				return -e;
			usleep(1000);
			continue;
		}
		/* the last tracer may have removed this file before we locked it */
		if (fstat(fd, &held) == 0 && held.st_nlink > 0 && stat(path, &named) == 0 &&
		    named.st_ino == held.st_ino && named.st_dev == held.st_dev)
			return fd;
		close(fd);
	}
	return -EWOULDBLOCK;
}

/*
 * Removes lock files of processes that no longer exist (pid gone, or reused
 * with another start time): left when a tracer was SIGKILLed and its
 * process then exited with no other tracer to clean up. Nobody can need
 * them: they name a process that cannot be traced any more.
 */
static void sweep_dead_locks(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned long long start;
		char path[PATH_MAX];
		int pid, n = 0;

		if (sscanf(e->d_name, "control-%d-%llu.lock%n", &pid, &start, &n) != 2 ||
		    e->d_name[n] || pid <= 0 || kt_proc_start_time(pid) == start)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Unlocks; removes the file first (still locked) when no request is left. */
static void lock_drop(int fd, const char *path, bool remove)
{
	if (remove)
		unlink(path);
	close(fd);
}

/* ---------------------------------------------------------------- requests */

/* Bytes of the control this tracer reads: version 1's, or up to the last slot. */
static size_t control_len(const struct kt_control *c)
{
	if (!c->nslots)
		return KAOS_PROBE_CONTROL_V1_SIZE;
	return offsetof(struct kaos_probe_control, slots) +
	       c->nslots * sizeof(struct kaos_probe_request);
}

/* The slots were written for another process: its parent, before a fork. */
static bool inherited(const struct kt_control *c, const struct kaos_probe_control *ctl)
{
	return ctl->owner_start != c->proc_start || ctl->owner_pid != (int32_t)c->pid;
}

/* Fills st from a control read from the process (st->nreclaimed etc. untouched). */
static void summarize(const struct kt_control *c, const struct kaos_probe_control *ctl,
		      struct kt_control_state *st)
{
	uint32_t finest = 0;

	st->effective = ctl->sample_every ? ctl->sample_every : 1;
	st->finest_pid = 0;
	st->nlive = st->nstale = 0;
	for (uint32_t i = 0; i < c->nslots; i++) {
		const struct kaos_probe_request *r = &ctl->slots[i];

		if (!r->tracer_pid)
			continue;
		if (inherited(c, ctl) || (!request_is_self(c, r) && !request_live(r))) {
			st->nstale++;
			continue;
		}
		st->nlive++;
		if (!finest || r->every < finest) {
			finest = r->every;
			st->finest_pid = r->tracer_pid;
		}
	}
}

/* Reads the control into st's summary, keeping what st says about the last change. */
static int read_summary(const struct kt_control *c, struct kt_control_state *st)
{
	struct kaos_probe_control ctl = {0};
	size_t len = control_len(c);
	int e = kt_proc_read_mem(c->pid, c->addr, &ctl, len);

	if (e)
		return e;
	if (ctl.magic != KAOS_PROBE_CONTROL_MAGIC)
		return -EIO;
	summarize(c, &ctl, st);
	return 0;
}

int kt_control_read(const struct kt_control *c, struct kt_control_state *st)
{
	memset(st, 0, sizeof(*st));
	return read_summary(c, st);
}

/* The finest period the slots ask for (0: no request). */
static uint32_t finest_request(const struct kaos_probe_control *ctl, uint32_t nslots)
{
	uint32_t eff = 0;

	for (uint32_t i = 0; i < nslots; i++)
		if (ctl->slots[i].tracer_pid && (!eff || ctl->slots[i].every < eff))
			eff = ctl->slots[i].every;
	return eff;
}

/*
 * The read-modify-write itself, under the lock: drop stale requests, set
 * ours (every 0: none), and write the finest live one into sample_every.
 */
static int update_slots(struct kt_control *c, uint32_t every, struct kaos_probe_control *ctl,
			struct kt_control_state *st)
{
	size_t len = control_len(c);
	int mine = -1, free_slot = -1, e;
	uint32_t eff = 0;

	if ((e = kt_proc_read_mem(c->pid, c->addr, ctl, len)))
		return e;
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct kaos_probe_request *r = &ctl->slots[i];

		if (r->tracer_pid && request_is_self(c, r) && !inherited(c, ctl)) {
			mine = (int)i;
		} else if (r->tracer_pid && (inherited(c, ctl) || !request_live(r))) {
			st->inherited |= inherited(c, ctl);
			st->reclaimed_pid[st->nreclaimed] = r->tracer_pid;
			st->reclaimed_every[st->nreclaimed++] = r->every;
			memset(r, 0, sizeof(*r));
		}
		if (!r->tracer_pid && free_slot < 0)
			free_slot = (int)i;
	}
	/* a period nobody asks for: left by a tracer without a slot (version 1, a debugger) */
	if (!finest_request(ctl, c->nslots) && !st->nreclaimed && ctl->sample_every > 1)
		st->orphan_every = ctl->sample_every;
	if (mine < 0 && every) {
		if (free_slot < 0)
			return -ENOSPC;
		mine = free_slot;
	}
	if (mine >= 0)
		ctl->slots[mine] =
			every ? (struct kaos_probe_request){c->self_pid, every, c->self_start}
			      : (struct kaos_probe_request){0};
	eff = finest_request(ctl, c->nslots);
	/* the slots first, then the one word the hot path reads */
	ctl->owner_start = c->proc_start;
	ctl->owner_pid = (int32_t)c->pid;
	if ((e = write_remote(c->pid, c->addr + KAOS_PROBE_CONTROL_V1_SIZE, &ctl->owner_start,
			      len - KAOS_PROBE_CONTROL_V1_SIZE)))
		return e;
	return write_sample_every(c->pid, c->addr, eff ? eff : 1);
}

int kt_control_request(struct kt_control *c, uint32_t every, struct kt_control_state *st, char *msg,
		       size_t msglen)
{
	struct kaos_probe_control ctl = {0};
	char path[PATH_MAX];
	int fd, e;

	memset(st, 0, sizeof(*st));
	every = every ? kt_pow2_floor(every) : 0;
	if (every && !c->requested)
		sweep_dead_locks(c->lock_dir); /* once per registration: rare, and cheap */
	lock_path(c, path, sizeof(path));
	fd = lock_take(c, path);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot lock %s: %s", path, strerror(-fd));
		return fd;
	}
	if (c->nslots)
		e = update_slots(c, every, &ctl, st);
	else /* version 1: one writer */
		e = write_sample_every(c->pid, c->addr, every ? every : 1);
	if (!e) {
		c->requested = every;
		e = read_summary(c, st);
	}
	/* the last one out removes the lock file, as does the one who finds the process gone */
	lock_drop(fd, path, e == -ESRCH || (!e && !st->nlive && !st->nstale));
	if (e)
		snprintf(msg, msglen, "sampling control of pid %d: %s", (int)c->pid, strerror(-e));
	return e;
}

int kt_control_release(struct kt_control *c, struct kt_control_state *st, char *msg, size_t msglen)
{
	if (!c->addr) {
		memset(st, 0, sizeof(*st));
		return 0;
	}
	return kt_control_request(c, 0, st, msg, msglen);
}

/* ---------------------------------------------------------------- policy */

struct kt_sampling kt_sampling_from_flags(uint32_t sample, double budget_pct)
{
	if (sample)
		return (struct kt_sampling){KT_SAMPLING_FIXED, kt_pow2_floor(sample), 0};
	if (budget_pct > 0)
		return (struct kt_sampling){KT_SAMPLING_BUDGET, 0, budget_pct};
	return (struct kt_sampling){KT_SAMPLING_DEFAULT_BUDGET, 0, KT_DEFAULT_BUDGET_PCT};
}

double kt_sampling_warn_pct(const struct kt_sampling *m)
{
	if (m->mode == KT_SAMPLING_FIXED || m->budget_pct > KT_COST_WARN_PCT)
		return KT_COST_WARN_PCT;
	return m->budget_pct;
}

const char *kt_sampling_describe(const struct kt_sampling *m, char *buf, size_t len)
{
	switch (m->mode) {
	case KT_SAMPLING_FIXED:
		if (m->period <= 1)
			snprintf(buf, len, "every operation (--sample 1)");
		else
			snprintf(buf, len, "fixed 1 in %u (--sample)", m->period);
		break;
	case KT_SAMPLING_BUDGET:
		snprintf(buf, len, "budget %g%% of each process's CPU (--budget)", m->budget_pct);
		break;
	default:
		snprintf(buf, len,
			 "default budget %g%% of each process's CPU (--sample 1: every operation)",
			 m->budget_pct);
	}
	return buf;
}

const char *kt_sampling_mode_name(enum kt_sampling_mode mode)
{
	return mode == KT_SAMPLING_FIXED    ? "fixed"
	       : mode == KT_SAMPLING_BUDGET ? "budget"
					    : "default-budget";
}
