// SPDX-License-Identifier: MIT
#include "kt_control.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

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

uint32_t kt_budget_period(double ops_per_s, double hit_ns, double budget_pct)
{
	double allowed_ns = budget_pct / 100.0 * 1e9; /* per second of wall time */
	uint64_t n = 1;

	if (ops_per_s <= 0 || hit_ns <= 0)
		return 1;
	if (budget_pct <= 0)
		return 1u << 30;
	while (ops_per_s / (double)n * hit_ns > allowed_ns && n < (1u << 30))
		n *= 2;
	return (uint32_t)n;
}

uint32_t kt_budget_step(struct kt_budget *b, uint32_t cur, uint64_t ops_total, uint64_t now_ns,
			uint64_t cpu_ns, double hit_ns, double budget_pct)
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
	if (!ops)
		return cur; /* idle: nothing to price, keep what was right before */
	want = kt_budget_period(rate, hit_ns, budget_pct);
	return want < cur / 2 ? cur / 2 : want;
}

uint64_t kt_proc_cpu_ns(pid_t pid)
{
	struct timespec ts;
	clockid_t clk;

	if (clock_getcpuclockid(pid, &clk) || clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int read_remote(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);

	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

uint64_t kt_control_find(pid_t pid, char *msg, size_t msglen)
{
	char path[64], line[4096];
	char seen[16][1024];
	int nseen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(msg, msglen, "cannot read %s: %s", path, strerror(errno));
		return 0;
	}
	snprintf(msg, msglen, "no mapped object of pid %d defines %s", (int)pid,
		 KAOS_PROBE_CONTROL_SYMBOL);
	while (fgets(line, sizeof(line), f)) {
		char file[1024];
		uint64_t vaddr, addr;
		int dup = 0;

		if (sscanf(line, "%*x-%*x %*s %*x %*s %*u %1023s", file) != 1 || file[0] != '/')
			continue;
		for (int i = 0; i < nseen; i++)
			dup |= !strcmp(seen[i], file);
		if (dup)
			continue;
		if (nseen < 16)
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", file);
		struct kt_elf *elf;
		uint64_t size;
		int found;

		if (kt_elf_open(file, &elf) != 0)
			continue;
		found = kt_elf_find_symbol(elf, KAOS_PROBE_CONTROL_SYMBOL, &vaddr, &size) == 0 &&
			size >= sizeof(struct kaos_probe_control);
		kt_elf_close(elf);
		if (!found || kt_sym_runtime_addr(pid, file, vaddr, &addr) != 0)
			continue;
		struct kaos_probe_control ctl;

		if (read_remote(pid, addr, &ctl, sizeof(ctl)) || ctl.magic != KAOS_PROBE_CONTROL_MAGIC) {
			snprintf(msg, msglen, "%s in pid %d has a bad magic", KAOS_PROBE_CONTROL_SYMBOL,
				 (int)pid);
			continue;
		}
		fclose(f);
		return addr;
	}
	fclose(f);
	return 0;
}

int kt_control_write(pid_t pid, uint64_t ctl_addr, uint32_t every)
{
	uint32_t v = kt_pow2_floor(every ? every : 1);
	uint64_t at = ctl_addr + offsetof(struct kaos_probe_control, sample_every);
	struct iovec l = {&v, sizeof(v)}, r = {(void *)(uintptr_t)at, sizeof(v)};

	if (process_vm_writev(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(v))
		return -errno;
	return 0;
}
