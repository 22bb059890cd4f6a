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
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kt_target.h"
#include "kt_usdt.h"

#define UPROBE_PMU_TYPE "/sys/bus/event_source/devices/uprobe/type"
#define KERNEL_BTF	"/sys/kernel/btf/vmlinux"

/* ---------------------------------------------------------------- sites to time */

#if defined(__x86_64__)
/*
 * Two probe sites of our own, one per instruction, each alone in a tiny
 * function. Labels inside asm: noinline/noclone keep them unique. These
 * functions use no stack, so the nop5 CALL path cannot clobber anything.
 */
extern const char kt_feat_nop5_at[], kt_feat_nop1_at[];

__attribute__((noinline, noclone, used)) static void site_nop5(void)
{
	__asm__ __volatile__(".globl kt_feat_nop5_at\n"
			     ".hidden kt_feat_nop5_at\n"
			     "kt_feat_nop5_at: .byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n" ::
				     : "memory");
}

__attribute__((noinline, noclone, used)) static void site_nop1(void)
{
	__asm__ __volatile__(".globl kt_feat_nop1_at\n"
			     ".hidden kt_feat_nop1_at\n"
			     "kt_feat_nop1_at: .byte 0x90\n" ::
				     : "memory");
}

/* File and file offset of a code address of this process, from /proc/self/maps. */
static int addr_to_file(uintptr_t addr, char *path, size_t pathlen, uint64_t *off)
{
	FILE *m = fopen("/proc/self/maps", "r");
	char line[4096];
	int ret = -ENOENT;

	if (!m)
		return -errno;
	while (fgets(line, sizeof(line), m)) {
		unsigned long start, end, foff;
		int pos = 0;

		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &start, &end, &foff, &pos) < 3 ||
		    !pos)
			continue;
		if (addr < start || addr >= end || line[pos] != '/')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, pathlen, "%s", line + pos);
		*off = addr - start + foff;
		ret = 0;
		break;
	}
	fclose(m);
	return ret;
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

/* A perf uprobe event (no BPF program) on this process at the site. */
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

static double ns_per_call(void (*fn)(void), int n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		fn();
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

/* The uprobe events of the last measurement (-1: none), see time_nops(). */
static int kept_fds[2] = {-1, -1};

/* Cost of one hit on each site: the best of a few alternating rounds. */
static void time_nops(struct kt_features *f)
{
	const int rounds = 3, hits = 200;
	int type, fd5, fd1;

	if (read_int_file(UPROBE_PMU_TYPE, &type))
		return;
	fd5 = open_uprobe(type, kt_feat_nop5_at);
	fd1 = open_uprobe(type, kt_feat_nop1_at);
	if (fd5 >= 0 && fd1 >= 0) {
		double best5 = 0, best1 = 0;

		/* the first hit of a nop5 site takes the slow path and rewrites it */
		ns_per_call(site_nop5, 8);
		ns_per_call(site_nop1, 8);
		for (int r = 0; r < rounds; r++) {
			double c5 = ns_per_call(site_nop5, hits);
			double c1 = ns_per_call(site_nop1, hits);

			best5 = r == 0 || c5 < best5 ? c5 : best5;
			best1 = r == 0 || c1 < best1 ? c1 : best1;
		}
		f->nop5_ns = best5;
		f->nop1_ns = best1;
		f->nop5 = kt_features_classify_nop5(best5, best1);
	}
	/*
	 * Closing a uprobe event waits for the kernel to unregister it: ~40 ms
	 * each here, most of kaos-trace's start-up. The events stay open (their
	 * sites are never hit again) until the next measurement or exit.
	 */
	for (int i = 0; i < 2; i++)
		if (kept_fds[i] >= 0)
			close(kept_fds[i]);
	kept_fds[0] = fd5;
	kept_fds[1] = fd1;
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

void kt_features_probe(struct kt_features *f, bool timing)
{
	struct utsname u;

	memset(f, 0, sizeof(*f));
	if (uname(&u) == 0) {
		snprintf(f->release, sizeof(f->release), "%s", u.release);
		snprintf(f->machine, sizeof(f->machine), "%s", u.machine);
	}
	f->btf = access(KERNEL_BTF, R_OK) == 0;
	f->uprobe_pmu = access(UPROBE_PMU_TYPE, R_OK) == 0;
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
#if defined(__x86_64__)
	f->nop5 = KT_NOP5_UNKNOWN;
	if (timing && f->uprobe_pmu)
		time_nops(f);
#else
	(void)timing;
	f->nop5 = KT_NOP5_NOT_X86;
#endif
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
	uint8_t b[5];
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
	if (site == KT_SITE_NOP5 && f->nop5 == KT_NOP5_SLOW) {
		snprintf(buf, len,
			 "its probe sites are 5-byte nops, which this kernel (%s) single-steps: "
			 "a hit costs ~%.1f us against ~%.1f us on a 1-byte nop; libkaos built "
			 "with PROBE_NOP=1 is cheaper to trace here",
			 f->release, f->nop5_ns / 1e3, f->nop1_ns / 1e3);
		return 1;
	}
	if (site == KT_SITE_NOP1 && f->nop5 == KT_NOP5_OPTIMISED) {
		snprintf(buf, len,
			 "its probe sites are 1-byte nops; this kernel (%s) optimises 5-byte nop "
			 "sites (~%.1f us a hit against ~%.1f us): libkaos built with "
			 "PROBE_NOP=5 (the default) is cheaper to trace here",
			 f->release, f->nop5_ns / 1e3, f->nop1_ns / 1e3);
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
}

/* ---------------------------------------------------------------- kaos-trace glue */

static struct kt_features probed;
static bool have_probed;

int kt_features_check(const struct kt_targets *ts, bool time_sites, char *err, size_t errlen)
{
	enum kt_site sites[64];
	bool x86_sites = false;
	char msg[1024];
	int n = ts->n < 64 ? ts->n : 64;

	for (int i = 0; i < n; i++) {
		sites[i] = kt_site_of(ts->v[i].path, "kaos", NULL);
		x86_sites |= sites[i] == KT_SITE_NOP1 || sites[i] == KT_SITE_NOP5;
	}
	kt_features_probe(&probed, x86_sites && time_sites);
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
		fprintf(stderr, "kaos-trace: note: %s\n", msg);
	for (int i = 0; i < n; i++) {
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= !strcmp(ts->v[i].path, ts->v[j].path);
		if (!dup && kt_features_site_advice(&probed, sites[i], msg, sizeof(msg)))
			fprintf(stderr, "kaos-trace: note: %s: %s\n", ts->v[i].path, msg);
	}
	return 0;
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

int kt_features_cmd(void)
{
	struct kt_features f;
	char msg[1024];
	int missing;

	kt_features_probe(&f, true);
	kt_features_print(stdout, &f);
	missing = kt_features_missing(&f, msg, sizeof(msg));
	if (missing)
		printf("missing: %s\n", msg);
	if (kt_features_notes(&f, msg, sizeof(msg)))
		printf("notes: %s\n", msg);
	return missing ? 1 : 0;
}
