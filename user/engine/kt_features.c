// SPDX-License-Identifier: MIT
/*
 * kt_features: kernel feature probing for kaos-trace (see kt_features.h).
 */
#include "kt_features.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kt_bootcache.h"
#include "kt_proc.h"
#include "kt_target.h"
#include "kt_usdt.h"

#define UPROBE_PMU_TYPE "/sys/bus/event_source/devices/uprobe/type"
#define KERNEL_BTF	"/sys/kernel/btf/vmlinux"

/* ---------------------------------------------------------------- site self-test */

/*
 * Where kaos-trace attaches on a combined site (include/kaos/probes.h) is
 * decided here, per kernel, by a self-test that never touches a traced
 * process: in a child of kaos-trace, perf uprobe events (no BPF) go on
 * sites in kaos-trace's own text, which the child then hits:
 *   +0  the 1-byte nop (the note's address; emulated everywhere)
 *   +1  the 10-byte nop: can the kernel probe it at all, does a
 *       grandchild forked after the hits pass the site and exit normally,
 *       does red-zone data survive it, and what does a hit cost
 *   nop5 a plain 5-byte nop, priced for `features` and for targets built
 *       with one (the nop5 fast path of 6.18 is the fork hazard)
 * +1 is chosen only if it is safe AND clearly cheaper. The child reports
 * through a pipe and exits; its exit (which unregisters the uprobes, ~40 ms
 * each here) is not waited for: it was forked twice and init reaps it.
 */

#if defined(__x86_64__)
extern const char kt_feat_at0[], kt_feat_at1[], kt_feat_nop5_at[], kt_feat_redzone_at[],
	kt_feat_redzone5_at[], kt_feat_nop5_b_at[];

#define COMBINED_SITE ".byte 0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00\n"

/* One site per measurement: a uprobe on one must not slow another. No stack use. */
__attribute__((noinline, noclone, used)) static void site_at0(void)
{
	__asm__ __volatile__(".globl kt_feat_at0\n.hidden kt_feat_at0\n"
			     "kt_feat_at0: " COMBINED_SITE ::
				     : "memory");
}

__attribute__((noinline, noclone, used)) static void site_at1(void)
{
	__asm__ __volatile__(".globl kt_feat_at1\n.hidden kt_feat_at1\n"
			     "kt_feat_at1: " COMBINED_SITE ::
				     : "memory");
}

__attribute__((noinline, noclone, used)) static void site_nop5(void)
{
	__asm__ __volatile__(".globl kt_feat_nop5_at\n.hidden kt_feat_nop5_at\n"
			     "kt_feat_nop5_at: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n" ::
				     : "memory");
}

/*
 * Leaves that keep two values at -8(%rsp) and -16(%rsp), the red zone,
 * across a probe site: 1 if either changed. In one asm statement, so the
 * compiler cannot put anything between the stores, the site and the loads.
 */
#define REDZONE_LEAF(fn, label, site)                                                        \
	__attribute__((noinline, noclone)) static int fn(uint64_t a, uint64_t b)             \
	{                                                                                    \
		uint64_t ra, rb;                                                             \
                                                                                             \
		__asm__ __volatile__("movq %[a], -8(%%rsp)\n\tmovq %[b], -16(%%rsp)\n"       \
				     ".globl " label "\n.hidden " label "\n" label ": " site \
				     "\tmovq -8(%%rsp), %[ra]\n\tmovq -16(%%rsp), %[rb]\n"   \
				     : [ra] "=&r"(ra), [rb] "=&r"(rb)                        \
				     : [a] "r"(a), [b] "r"(b)                                \
				     : "memory");                                            \
		return ra != a || rb != b;                                                   \
	}
REDZONE_LEAF(redzone_combined, "kt_feat_redzone_at", COMBINED_SITE)
/* for kt_features_test_nop5_as_at1(): the 6.18 hazard, which the checks must catch */
REDZONE_LEAF(redzone_nop5, "kt_feat_redzone5_at", ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n")

__attribute__((noinline, noclone, used)) static void site_nop5_b(void)
{
	__asm__ __volatile__(".globl kt_feat_nop5_b_at\n.hidden kt_feat_nop5_b_at\n"
			     "kt_feat_nop5_b_at: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n" ::
				     : "memory");
}

/* The site the self-test checks as "+1", with its red-zone twin. */
struct at1_site {
	const char *at, *redzone_at;
	void (*pass)(void);
	int (*redzone)(uint64_t, uint64_t);
};
static const struct at1_site combined_at1 = {kt_feat_at1 + 1, kt_feat_redzone_at + 1, site_at1,
					     redzone_combined};
static const struct at1_site nop5_as_at1 = {kt_feat_nop5_b_at, kt_feat_redzone5_at, site_nop5_b,
					    redzone_nop5};

/* File and file offset of a code address of this process, from /proc/self/maps. */
static int addr_to_file(uintptr_t addr, char *path, size_t pathlen, uint64_t *off)
{
	struct kt_proc_map m;
	int e = kt_proc_map_at(getpid(), addr, &m, path, pathlen);

	if (e)
		return e;
	if (!kt_proc_map_file(&m))
		return -ENOENT;
	*off = addr - m.start + m.offset;
	return 0;
}

static int read_int_file(const char *path, int *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

/* A perf uprobe event (no BPF program) on this process at the site: fd or -errno. */
static int open_uprobe(int pmu_type, const char *site)
{
	struct perf_event_attr a;
	char path[4096];
	uint64_t off = 0;
	int e = addr_to_file((uintptr_t)site, path, sizeof(path), &off);

	if (e)
		return e;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = (uint32_t)pmu_type;
	a.config1 = (uint64_t)(uintptr_t)path; /* uprobe_path */
	a.config2 = off;		       /* probe_offset */
	e = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return e < 0 ? -errno : e;
}

/* Best of a few rounds of hits, after a warm-up (a fast path is set up at the first hit). */
static double ns_per_hit(void (*fn)(void))
{
	const int rounds = 3, hits = 100;
	double best = 0;

	for (int i = 0; i < 8; i++)
		fn();
	for (int r = 0; r < rounds; r++) {
		struct timespec a, b;
		double ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < hits; i++)
			fn();
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / hits;
		best = r == 0 || ns < best ? ns : best;
	}
	return best;
}

/* What the self-test child reports through its pipe. */
struct site_report {
	int at1_err;	      /* 0, or -errno of the uprobe at +1 */
	int fork_status;      /* wait status of the grandchild that passed +1; -1: not run */
	unsigned redzone_bad; /* red-zone calls over a probed +1 that lost their data */
	double at0_ns, at1_ns, nop5_ns;
};

/* Forks after the hits at +1; the grandchild passes the site again. */
static int fork_after_hits(const struct at1_site *s)
{
	int st = -1;
	pid_t g = fork();

	if (g == 0) {
		alarm(5); /* whatever the site does, this child ends */
		s->pass();
		_exit(0);
	}
	if (g < 0 || waitpid(g, &st, 0) != g)
		return -1;
	return st;
}

/*
 * The self-test proper, in the child. Registering a uprobe costs tens of
 * ms here, so only what the caller needs is measured: +1 first (refused at
 * once by kernels that cannot probe it, such as 6.18), +0 only to price +1
 * against it unless `full`, the nop5 site only if `full` (features) or a
 * target has nop5 sites (`nop5`).
 */
static void run_site_test(int type, const struct at1_site *at1, bool full, bool nop5,
			  struct site_report *r)
{
	int fd = open_uprobe(type, at1->at);

	r->fork_status = -1;
	if (fd < 0) {
		r->at1_err = fd;
	} else {
		r->at1_ns = ns_per_hit(at1->pass);
		r->fork_status = fork_after_hits(at1);
		if (open_uprobe(type, at1->redzone_at) >= 0)
			for (uint64_t i = 0; i < 64; i++)
				r->redzone_bad += (unsigned)at1->redzone(i ^ 0xa5a5a5a5deadbeefull,
									 i ^ 0x5a5a5a5acafef00dull);
	}
	if ((full || nop5 || !r->at1_err) && open_uprobe(type, kt_feat_at0) >= 0)
		r->at0_ns = ns_per_hit(site_at0);
	if ((full || nop5) && open_uprobe(type, kt_feat_nop5_at) >= 0)
		r->nop5_ns = ns_per_hit(site_nop5);
}

/* Reads exactly len bytes within timeout_ms: 0, or -1. */
static int read_within(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/*
 * The self-test runs in a grandchild while kaos-trace goes on starting
 * (registering a uprobe, even one the kernel refuses, takes ~35 ms here):
 * site_test_start() forks, site_test_finish() collects the report.
 */
static struct {
	int fd;	      /* the report pipe, -1: no test under way */
	pid_t worker; /* the grandchild, once known */
	bool cached;  /* the report came from this boot's cache: no test under way */
	bool nop5;    /* the test (or the cache) covers the nop5 site */
	bool full;    /* a full test (`features`): never cached */
	struct site_report report;
} site_test = {-1, -1, false, false, false, {0}};

/*
 * The self-test's answer depends on the kernel only, and costs ~35-60 ms of
 * start-up (uprobe registration), more than the BPF load it runs beside: it
 * is kept for the boot in kt_bootcache (root's /run/kaos-trace, tmpfs, gone
 * at reboot), used when boot id, kernel and the report's layout (its size,
 * the key) match. `features` always tests afresh.
 */
static const char *site_cache_name(bool nop5)
{
	return nop5 ? "site-test-nop5" : "site-test"; /* kt_bootcache records (was site-selftest) */
}

static bool site_cache_read(bool nop5, struct site_report *r)
{
	uint32_t layout = sizeof(*r);

	return kt_bootcache_get(site_cache_name(nop5), &layout, sizeof(layout), r, sizeof(*r));
}

static void site_cache_write(bool nop5, const struct site_report *r)
{
	uint32_t layout = sizeof(*r);

	kt_bootcache_put(site_cache_name(nop5), &layout, sizeof(layout), r, sizeof(*r));
}

static void site_test_start(const struct at1_site *at1, bool full, bool nop5)
{
	struct site_report r = {.fork_status = -1};
	int type, pfd[2], st;
	pid_t mid;

	if (site_test.fd >= 0 || site_test.cached)
		return;
	site_test.nop5 = nop5;
	site_test.full = full;
	if (!full && site_cache_read(nop5, &site_test.report)) {
		site_test.cached = true;
		return;
	}
	if (read_int_file(UPROBE_PMU_TYPE, &type) || pipe2(pfd, O_CLOEXEC))
		return;
	fflush(NULL); /* no buffered output may be written twice */
	mid = fork();
	if (mid == 0) {
		pid_t w = fork();

		if (w == 0) {
			/* holds none of kaos-trace's files (a -- COMMAND's start pipe, say) */
			if (dup2(pfd[1], 3) != 3)
				_exit(1);
			close_range(4, ~0u, 0);
			alarm(10); /* never outlives a stuck test; kaos-trace waits 3 s */
			run_site_test(type, at1, full, nop5, &r);
			_exit(write(3, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
		}
		/* the worker's pid first, so the parent can stop a stuck one */
		_exit(write(pfd[1], &w, sizeof(w)) == (ssize_t)sizeof(w) ? 0 : 1);
	}
	close(pfd[1]);
	if (mid < 0) {
		close(pfd[0]);
		return;
	}
	/* the middle child exits at once: the worker is reparented and never our zombie */
	while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
		;
	site_test.fd = pfd[0];
	if (read_within(site_test.fd, &site_test.worker, sizeof(pid_t), 1000))
		site_test.worker = -1;
}

/* Collects the self-test's report into f (site_tested stays false without one). */
static void site_test_finish(struct kt_features *f)
{
	struct site_report r;
	bool have;

	if (site_test.cached) {
		r = site_test.report;
		site_test.cached = false;
		f->site_cached = true;
		have = true;
	} else if (site_test.fd < 0) {
		return;
	} else {
		have = site_test.worker > 0 && read_within(site_test.fd, &r, sizeof(r), 3000) == 0;
		if (have && !site_test.full)
			site_cache_write(site_test.nop5, &r);
	}
	if (have) {
		f->site_tested = true;
		f->at1_err = r.at1_err;
		f->at1_fork_status = r.fork_status;
		f->at1_redzone_bad = r.redzone_bad;
		f->at0_ns = r.at0_ns;
		f->at1_ns = r.at1_ns;
		f->nop5_ns = r.nop5_ns;
		f->nop1_ns = r.at0_ns; /* the same emulated 1-byte nop */
		f->nop5 = kt_features_classify_nop5(f->nop5_ns, f->nop1_ns);
	} else if (site_test.worker > 0) {
		kill(site_test.worker, SIGKILL); /* stuck: the choice stays +0 */
	}
	if (site_test.fd >= 0)
		close(site_test.fd);
	site_test.fd = -1;
	site_test.worker = -1;
}
#endif

/* ---------------------------------------------------------------- probing */

static int probe_result(int r)
{
	/* libbpf: 1 supported, 0 not, < 0 error */
	return r > 0 ? 1 : r;
}

/* Whether this process may not use BPF at all: the simplest map is refused (EPERM). */
static bool bpf_refused(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	return errno == EPERM || errno == EACCES;
}

void kt_features_probe(struct kt_features *f, unsigned tests)
{
	kt_features_probe_now(f);
	kt_features_probe_start(f, tests);
	kt_features_probe_finish(f);
}

/* The ring buffer and cookie probes: answers of the kernel, the same for the whole boot. */
static void probe_bpf(struct kt_features *f)
{
	f->ringbuf = probe_result(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL));
	f->cookie = probe_result(
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL));
	if (bpf_refused()) {
		/* libbpf says "not supported" when the probe was only refused */
		if (f->ringbuf == 0)
			f->ringbuf = -EPERM;
		if (f->cookie == 0)
			f->cookie = -EPERM;
	}
}

/*
 * The probes above cost ~1 ms of CPU and more of wall time at every start
 * (three BPF loads and two map creations, freed by the kernel's workers):
 * both "yes" answers are kept for the boot in kt_bootcache, like the
 * self-test. Anything else is never stored: a missing feature or a refusal
 * is probed afresh and explained at each start. `features` always probes.
 */
#define BPF_CACHE_NAME "bpf-features"

static void probe_bpf_cached(struct kt_features *f)
{
	uint32_t layout = 1; /* the record's version: 2 ints, ringbuf then cookie */
	int got[2];

	if (kt_bootcache_get(BPF_CACHE_NAME, &layout, sizeof(layout), got, sizeof(got)) &&
	    got[0] == 1 && got[1] == 1) {
		f->ringbuf = f->cookie = 1;
		return;
	}
	probe_bpf(f);
	if (f->ringbuf == 1 && f->cookie == 1) {
		got[0] = got[1] = 1;
		kt_bootcache_put(BPF_CACHE_NAME, &layout, sizeof(layout), got, sizeof(got));
	}
}

static void probe_now(struct kt_features *f, bool cached)
{
	struct utsname u;

	memset(f, 0, sizeof(*f));
	if (uname(&u) == 0) {
		snprintf(f->release, sizeof(f->release), "%s", u.release);
		snprintf(f->machine, sizeof(f->machine), "%s", u.machine);
	}
	f->btf = access(KERNEL_BTF, R_OK) == 0;
	f->uprobe_pmu = access(UPROBE_PMU_TYPE, R_OK) == 0;
	if (cached)
		probe_bpf_cached(f);
	else
		probe_bpf(f);
}

void kt_features_probe_now(struct kt_features *f)
{
	probe_now(f, false);
}

bool kt_kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

void kt_features_probe_start(struct kt_features *f, unsigned tests)
{
#if defined(__x86_64__)
	f->nop5 = KT_NOP5_UNKNOWN;
	if ((tests & KT_PROBE_SITES) && f->uprobe_pmu)
		site_test_start(&combined_at1, tests & KT_PROBE_ALL, tests & KT_PROBE_NOP5);
#else
	(void)tests;
	f->nop5 = KT_NOP5_NOT_X86;
#endif
}

void kt_features_probe_finish(struct kt_features *f)
{
#if defined(__x86_64__)
	site_test_finish(f);
#endif
	kt_features_choose_site(f);
}

void kt_features_test_nop5_as_at1(struct kt_features *f)
{
	kt_features_probe_now(f);
#if defined(__x86_64__)
	f->nop5 = KT_NOP5_UNKNOWN;
	if (f->uprobe_pmu)
		site_test_start(&nop5_as_at1, true, true);
	site_test_finish(f);
#endif
	kt_features_choose_site(f);
}

void kt_features_choose_site(struct kt_features *f)
{
	char *why = f->site_why;
	size_t len = sizeof(f->site_why);

	f->site_at = 0;
	if (f->nop5 == KT_NOP5_NOT_X86)
		snprintf(why, len, "%s: nops are emulated",
			 !strcmp(f->machine, "aarch64") ? "arm64"
			 : f->machine[0]		? f->machine
							: "not x86");
	else if (!f->site_tested)
		snprintf(why, len, "the note's address; the +1 self-test did not run");
	else if (f->at1_err)
		/* 524: the kernel's ENOTSUPP, which strerror() does not know */
		snprintf(why, len, "the kernel refuses a uprobe on the 10-byte nop (%s)",
			 f->at1_err == -524 ? "ENOTSUPP" : strerror(-f->at1_err));
	else if (!WIFEXITED(f->at1_fork_status) || WEXITSTATUS(f->at1_fork_status))
		snprintf(why, len, "a child forked after hits at +1 did not exit normally (%s %d)",
			 WIFSIGNALED(f->at1_fork_status) ? "signal" : "status",
			 WIFSIGNALED(f->at1_fork_status) ? WTERMSIG(f->at1_fork_status)
							 : WEXITSTATUS(f->at1_fork_status));
	else if (f->at1_redzone_bad)
		snprintf(why, len, "a hit at +1 corrupted red-zone data (%u of 64 calls)",
			 f->at1_redzone_bad);
	else if (!(f->at1_ns > 0 && f->at0_ns > 0 && f->at1_ns <= 0.7 * f->at0_ns))
		snprintf(why, len, "+1 is safe here but no cheaper (%.0f ns a hit against %.0f ns)",
			 f->at1_ns, f->at0_ns);
	else
		/* libbpf 1.1's bpf_program__attach_usdt has no offset: the note's address */
		snprintf(why, len,
			 "+1 is safe and cheaper here (%.0f ns a hit against %.0f ns), but "
			 "kaos-trace attaches through libbpf's USDT support, at the note's address",
			 f->at1_ns, f->at0_ns);
}

void kt_features_site_line(const struct kt_features *f, char *buf, size_t len)
{
	if (f->nop5 == KT_NOP5_NOT_X86) { /* one nop at the note, no combined site */
		snprintf(buf, len, "+0 (%s)", f->site_why);
		return;
	}
	snprintf(buf, len, "+%d (%s): %s%s", f->site_at,
		 f->site_at ? "the 10-byte nop" : "the 1-byte nop, emulated", f->site_why,
		 f->site_cached ? " (self-test of this boot, " KT_BOOTCACHE_DIR ")" : "");
}

enum kt_nop5 kt_features_classify_nop5(double nop5_ns, double nop1_ns)
{
	if (!(nop5_ns > 0) || !(nop1_ns > 0))
		return KT_NOP5_UNKNOWN;
	/* Wide margins: the three cases differ by ~3x, timing noise by far less. */
	if (nop5_ns <= 0.7 * nop1_ns)
		return KT_NOP5_OPTIMISED;
	if (nop5_ns >= 1.4 * nop1_ns)
		return KT_NOP5_SLOW;
	return KT_NOP5_EMULATED;
}

const char *kt_nop5_name(enum kt_nop5 n)
{
	switch (n) {
	case KT_NOP5_NOT_X86:
		return "not-x86";
	case KT_NOP5_OPTIMISED:
		return "optimised";
	case KT_NOP5_EMULATED:
		return "emulated";
	case KT_NOP5_SLOW:
		return "single-stepped";
	default:
		return "unknown";
	}
}

/* Appends "; "-separated parts to buf. */
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used) {
		strcpy(buf + used, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

int kt_features_missing(const struct kt_features *f, char *buf, size_t len)
{
	int n = 0;

	if (len)
		buf[0] = 0;
	if (!f->btf) {
		append(buf, len,
		       "kernel BTF is missing (" KERNEL_BTF
		       "; CONFIG_DEBUG_INFO_BTF=y, Linux 5.4+): kaos-trace's CO-RE BPF "
		       "programs need it");
		n++;
	}
	if (!f->uprobe_pmu) {
		append(buf, len,
		       "uprobes are missing (no " UPROBE_PMU_TYPE
		       "; CONFIG_UPROBE_EVENTS=y, Linux 4.17+): probes cannot be attached");
		n++;
	}
	if (f->ringbuf == 0) {
		append(buf, len,
		       "the BPF ring buffer is missing (BPF_MAP_TYPE_RINGBUF, Linux 5.8+): "
		       "kaos-trace's event channel");
		n++;
	}
	return n;
}

int kt_features_notes(const struct kt_features *f, char *buf, size_t len)
{
	int n = 0;

	if (len)
		buf[0] = 0;
	if (f->cookie == 0) {
		append(buf, len,
		       "no BPF cookies (bpf_get_attach_cookie, Linux 5.15+): libbpf finds USDT "
		       "argument specs by instruction address instead");
		n++;
	}
	if (f->ringbuf == -EPERM || f->ringbuf == -EACCES) {
		append(buf, len,
		       "the BPF ring buffer check was refused for permission (%s): BPF needs "
		       "CAP_BPF or CAP_SYS_ADMIN; attaching uprobes needs CAP_SYS_ADMIN "
		       "(CAP_BPF + CAP_PERFMON are not enough on Linux 6.18): run as root",
		       strerror(-f->ringbuf));
		n++;
	} else if (f->ringbuf < 0) {
		append(buf, len, "could not probe for the BPF ring buffer: %s",
		       strerror(-f->ringbuf));
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------- probe sites */

enum kt_site kt_site_from_bytes(const uint8_t *b, size_t n)
{
	static const uint8_t nop5[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
	static const uint8_t combined[11] = {0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x84,
					     0x00, 0x00, 0x00, 0x00, 0x00};

	if (n >= 11 && !memcmp(b, combined, 11))
		return KT_SITE_COMBINED;
	if (n >= 5 && !memcmp(b, nop5, 5))
		return KT_SITE_NOP5;
	if (n >= 1 && b[0] == 0x90)
		return KT_SITE_NOP1;
	return n ? KT_SITE_OTHER : KT_SITE_UNKNOWN;
}

enum kt_site kt_site_of(const char *path, const char *provider, const char *name)
{
	struct kt_usdt_list l;
	const struct kt_usdt_probe *p;
	enum kt_site s = KT_SITE_UNKNOWN;
	uint8_t b[11];
	ssize_t got;
	int fd;

	if (kt_usdt_read(path, &l))
		return KT_SITE_UNKNOWN;
	p = kt_usdt_find(&l, provider, name);
	if (p && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		got = pread(fd, b, sizeof(b), (off_t)p->offset);
		if (got > 0)
			s = kt_site_from_bytes(b, (size_t)got);
		close(fd);
	}
	kt_usdt_list_free(&l);
	return s;
}

const char *kt_site_name(enum kt_site s)
{
	switch (s) {
	case KT_SITE_NOP1:
		return "1-byte nop";
	case KT_SITE_NOP5:
		return "5-byte nop";
	case KT_SITE_COMBINED:
		return "1-byte + 10-byte nop";
	case KT_SITE_OTHER:
		return "nop";
	default:
		return "unknown";
	}
}

int kt_features_site_advice(const struct kt_features *f, enum kt_site site, char *buf, size_t len)
{
	if (len)
		buf[0] = 0;
	if (site == KT_SITE_NOP5 && f->nop5 == KT_NOP5_OPTIMISED) {
		snprintf(buf, len,
			 "WARNING: its probe sites are plain 5-byte nops, which this kernel (%s) "
			 "turns into CALLs into a per-process mapping: a child it forks while "
			 "traced dies with SIGSEGV at a probe site, even after kaos-trace has "
			 "gone; rebuild it with current libkaos (the default combined site) or "
			 "PROBE_NOP=1",
			 f->release);
		return 1;
	}
	if (site == KT_SITE_NOP5 && f->nop5 == KT_NOP5_SLOW) {
		snprintf(buf, len,
			 "its probe sites are 5-byte nops, which this kernel (%s) single-steps: "
			 "a hit costs ~%.1f us against ~%.1f us on a 1-byte nop; current libkaos "
			 "(the default combined site) or PROBE_NOP=1 is cheaper to trace here",
			 f->release, f->nop5_ns / 1e3, f->nop1_ns / 1e3);
		return 1;
	}
	if (site == KT_SITE_NOP1 && f->site_at == 1) {
		snprintf(buf, len,
			 "its probe sites are 1-byte nops; this kernel (%s) runs the 10-byte nop "
			 "of a combined site faster (~%.1f us a hit against ~%.1f us): libkaos "
			 "built with the default PROBE_NOP is cheaper to trace here",
			 f->release, f->at1_ns / 1e3, f->at0_ns / 1e3);
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- report */

static const char *yes_no(int v)
{
	return v > 0 ? "yes" : v == 0 ? "no" : "unknown";
}

void kt_features_print(FILE *out, const struct kt_features *f)
{
	char line[256];

	fprintf(out, "kernel: %s %s\n", f->release, f->machine);
	fprintf(out, "btf: %s\n", yes_no(f->btf));
	fprintf(out, "uprobes: %s\n", yes_no(f->uprobe_pmu));
	fprintf(out, "ringbuf: %s\n",
		f->ringbuf == -EPERM ? "unknown (check refused: permission)" : yes_no(f->ringbuf));
	fprintf(out, "bpf_cookie: %s\n", yes_no(f->cookie));
	fprintf(out, "uprobe_nop5: %s", kt_nop5_name(f->nop5));
	if (f->nop5_ns > 0 && f->nop1_ns > 0)
		fprintf(out, " (hit on nop5 %.0f ns, on nop1 %.0f ns)", f->nop5_ns, f->nop1_ns);
	fputc('\n', out);
	if (f->site_tested && !f->at1_err)
		fprintf(out, "combined_site_+1: hit %.0f ns, forked child %s, red zone %s\n",
			f->at1_ns,
			WIFEXITED(f->at1_fork_status) && !WEXITSTATUS(f->at1_fork_status) ? "ok"
											  : "died",
			f->at1_redzone_bad ? "corrupted" : "intact");
	kt_features_site_line(f, line, sizeof(line));
	fprintf(out, "probe_site: %s\n", line);
}

/* ---------------------------------------------------------------- kaos-trace glue */

static struct kt_features probed;
static bool have_probed;
/* the targets kt_features_check saw, for kt_features_site_finish's advice */
static const struct kt_targets *checked;
static enum kt_site checked_sites[64];
static bool checked_combined;

/* One line to the driver's note function (kaos-trace's own lines, without the prefix). */
static void say(kt_features_note_fn note, void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(kt_features_note_fn note, void *ctx, const char *fmt, ...)
{
	char line[1536];
	va_list ap;

	if (!note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	note(ctx, line);
}

int kt_features_check(const struct kt_targets *ts, bool time_sites, kt_features_note_fn note,
		      void *ctx, char *err, size_t errlen)
{
	bool nop5 = false;
	char msg[1024];
	int n = ts->n < 64 ? ts->n : 64;

	checked = ts;
	checked_combined = false;
	for (int i = 0; i < n; i++) {
		checked_sites[i] = kt_site_of(ts->v[i].path, "kaos", NULL);
		checked_combined |= checked_sites[i] == KT_SITE_COMBINED;
		/* nop5 sites: the self-test also says whether they are the fork hazard */
		nop5 |= checked_sites[i] == KT_SITE_NOP5;
	}
	probe_now(&probed, true);
	have_probed = true;
	if (kt_features_missing(&probed, err, errlen)) {
		char tail[128];

		/* one line: what is missing, then on which kernel */
		snprintf(tail, sizeof(tail), " (kernel %s)", probed.release);
		if (strlen(err) + strlen(tail) < errlen)
			strcat(err, tail);
		return -1;
	}
	if (kt_features_notes(&probed, msg, sizeof(msg)))
		say(note, ctx, "note: %s", msg);
	if (time_sites && (nop5 || checked_combined))
		kt_features_probe_start(&probed, KT_PROBE_SITES | (nop5 ? KT_PROBE_NOP5 : 0));
	return 0;
}

/*
 * A target whose sites are plain 5-byte nops is the fork hazard wherever the
 * kernel optimises them (6.18): refused unless the user said it never forks,
 * also when the self-test did not run (--no-calibrate) and so cannot tell.
 */
static int refuse_nop5(const char *path, char *err, size_t errlen)
{
	if (probed.nop5 == KT_NOP5_OPTIMISED)
		snprintf(err, errlen,
			 "%s: its probe sites are plain 5-byte nops, which this kernel (%s) turns "
			 "into CALLs into a per-process mapping: a child it forks while traced "
			 "would die with SIGSEGV; rebuild it with current libkaos, or pass "
			 "--allow-nop5-sites if it never forks",
			 path, probed.release);
	else
		snprintf(
			err, errlen,
			"%s: its probe sites are plain 5-byte nops, which kernels with the uprobe "
			"nop5 optimisation turn into CALLs (a forked child dies with SIGSEGV), and "
			"the self-test that tells did not run (--no-calibrate or --probe-cost); "
			"rebuild it with current libkaos, or pass --allow-nop5-sites",
			path);
	return -1;
}

int kt_features_site_finish(bool allow_nop5, kt_features_note_fn note, void *ctx, char *err,
			    size_t errlen)
{
	char msg[1024];
	int n;

	if (!checked)
		return 0;
	kt_features_probe_finish(&probed);
	n = checked->n < 64 ? checked->n : 64;
	for (int i = 0; i < n && !allow_nop5; i++)
		if (checked_sites[i] == KT_SITE_NOP5 && probed.nop5 != KT_NOP5_SLOW &&
		    probed.nop5 != KT_NOP5_EMULATED)
			return refuse_nop5(checked->v[i].path, err, errlen);
	if (checked_combined) {
		kt_features_site_line(&probed, msg, sizeof(msg));
		say(note, ctx, "probe sites: attaching at %s", msg);
	}
	for (int i = 0; i < n; i++) {
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= !strcmp(checked->v[i].path, checked->v[j].path);
		if (!dup && kt_features_site_advice(&probed, checked_sites[i], msg, sizeof(msg)))
			say(note, ctx, "note: %s: %s", checked->v[i].path, msg);
	}
	return probed.site_at;
}

void kt_features_explain(FILE *out)
{
	if (!have_probed)
		return;
	fprintf(out,
		"kaos-trace: kernel %s %s: btf %s, uprobes %s, ringbuf %s, bpf_cookie %s "
		"(`kaos-trace features` for details)\n",
		probed.release, probed.machine, yes_no(probed.btf), yes_no(probed.uprobe_pmu),
		yes_no(probed.ringbuf), yes_no(probed.cookie));
}

int kt_features_cmd(FILE *out)
{
	struct kt_features f;
	char msg[1024];
	int missing;

	kt_features_probe(&f, KT_PROBE_SITES | KT_PROBE_ALL);
	kt_features_print(out, &f);
	missing = kt_features_missing(&f, msg, sizeof(msg));
	if (missing)
		fprintf(out, "missing: %s\n", msg);
	if (kt_features_notes(&f, msg, sizeof(msg)))
		fprintf(out, "notes: %s\n", msg);
	return missing ? 1 : 0;
}
