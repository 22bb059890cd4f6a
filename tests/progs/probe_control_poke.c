/* SPDX-License-Identifier: MIT */
/*
 * Reads, and optionally sets, another process's kaos_probe_control the way
 * a tracer does (docs/probes.md, "Sampling control"): process_vm_readv of
 * the whole struct to check magic and version, then process_vm_writev of
 * the 4-byte sample_every field only, then a read-back.
 *
 *   usage: probe_control_poke PID ADDR [EVERY]
 *     ADDR   run-time address of kaos_probe_control in PID (hex or decimal;
 *            tests/integration/test_bpftrace_usdt.sh computes it from the
 *            library's .dynsym and /proc/PID/maps)
 *   prints: magic=0x6b616f73 version=1 sample_every=N [-> M]
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "kaos/probes.h"

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

static int peer_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len};
	struct iovec remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	return n == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct kaos_probe_control ctl;
	uint64_t pid, addr, every = 0;
	uint32_t v;

	if (argc < 3 || argc > 4 || parse_u64(argv[1], &pid) || pid == 0 || pid > INT32_MAX ||
	    parse_u64(argv[2], &addr) ||
	    (argc == 4 && (parse_u64(argv[3], &every) || every > UINT32_MAX))) {
		fprintf(stderr, "usage: %s PID ADDR [EVERY]\n", argv[0]);
		return 2;
	}
	if (peer_read((pid_t)pid, addr, &ctl, sizeof(ctl))) {
		fprintf(stderr,
			"probe_control_poke: process_vm_readv(%" PRIu64 ", 0x%" PRIx64 "): %s\n",
			pid, addr, strerror(errno));
		return 1;
	}
	if (ctl.magic != KAOS_PROBE_CONTROL_MAGIC || ctl.version != KAOS_PROBE_CONTROL_VERSION) {
		fprintf(stderr,
			"probe_control_poke: no kaos_probe_control at 0x%" PRIx64
			" (magic 0x%08" PRIx32 ", version %" PRIu32 ")\n",
			addr, ctl.magic, ctl.version);
		return 1;
	}
	printf("magic=0x%08" PRIx32 " version=%" PRIu32 " sample_every=%" PRIu32, ctl.magic,
	       ctl.version, ctl.sample_every);
	if (argc == 4) {
		struct iovec local = {&v, sizeof(v)};
		struct iovec remote = {
			(void *)(uintptr_t)(addr +
					    offsetof(struct kaos_probe_control, sample_every)),
			sizeof(v)};

		v = (uint32_t)every;
		if (process_vm_writev((pid_t)pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(v)) {
			fprintf(stderr, "\nprobe_control_poke: process_vm_writev: %s\n",
				strerror(errno));
			return 1;
		}
		if (peer_read((pid_t)pid, addr, &ctl, sizeof(ctl)) || ctl.sample_every != v) {
			fprintf(stderr, "\nprobe_control_poke: read-back failed\n");
			return 1;
		}
		printf(" -> %" PRIu32, ctl.sample_every);
	}
	printf("\n");
	return 0;
}
