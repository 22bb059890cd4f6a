// SPDX-License-Identifier: MIT
/*
 * The workload of bench/bench_trace.sh: per-message SPSC traffic through
 * libkaos.so for a fixed time, so that kaos-trace, bpftrace and funclatency
 * can be attached to the same operations.
 *
 *   kt_bench_workload local|pair [--ms MS] [--cpus A[,B]] [--slots N] [--wait]
 *                     [--wait-probes] [--phases N]
 *
 * local: one thread sends one message and receives it back, per call.
 * pair:  a producer thread (CPU A) sends, the main thread (CPU B) receives.
 * --wait: print "ready PID" and wait for a line on stdin before creating the
 * ring (a tracer attached by then sees every operation).
 * --wait-probes: then also wait (up to 10 s) until the send and recv probe
 * semaphores are set: a tracer may report "attached" before the kernel has
 * armed every probe.
 * --phases N: run N phases of MS each on the same ring, printing
 *   phase K msgs=N ns=T cpu_ns=C
 * after each and waiting for a line on stdin before the next: a tracer can
 * be attached and detached in between, the same process measured both ways.
 * Prints one line at the end (all phases), from the workload's own counters:
 *   result mode=M msgs=N ns=T cpu_ns=C sent=S recv=R bp=B ring=ID probe_wait_ns=W
 * ns is wall time (with --phases, including the waits between them); cpu_ns
 * the CPU time of the process over the same span (user + system: a probe
 * hit's kernel work is charged to the thread that hit it), which time slices
 * lost to other processes do not inflate; probe_wait_ns how long
 * --wait-probes waited.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kaos/ring.h"

#define CLOCK_EVERY 4096u /* messages between two clock reads */

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void __attribute__((noreturn)) die(const char *what, const char *why)
{
	fprintf(stderr, "kt_bench_workload: %s: %s\n", what, why);
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("cannot pin to CPU", strerror(errno));
}

static long parse_long(const char *s, const char *what, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "kt_bench_workload: invalid %s '%s' (expected %ld..%ld)\n", what, s,
			min, max);
		exit(2);
	}
	return v;
}

/*
 * Waits until a tracer has enabled the send and recv probes; returns the ns
 * waited. The semaphores are looked up, not named: naming them would give
 * this program a copy (R_X86_64_COPY) that the kernel, which sets the
 * library's, never touches.
 */
static uint64_t wait_for_probes(void)
{
	volatile unsigned short *snd = dlsym(RTLD_DEFAULT, "kaos_send_semaphore");
	volatile unsigned short *rcv = dlsym(RTLD_DEFAULT, "kaos_recv_semaphore");
	/* a batching tracer enables kaos:batch instead (docs/probes.md) */
	volatile unsigned short *bat = dlsym(RTLD_DEFAULT, "kaos_batch_semaphore");
	uint64_t t0 = now_ns();

	if (!snd || !rcv)
		die("--wait-probes", "libkaos exports no probe semaphores");
	for (int i = 0; !(*snd && *rcv) && !(bat && *bat); i++) {
		if (i == 10000)
			die("--wait-probes", "send/recv probes not enabled within 10 s");
		usleep(1000);
	}
	return now_ns() - t0;
}

/* One thread: send a message, receive it back; checks every value. */
static uint64_t run_local(struct kaos_ring *r, uint64_t dur_ns)
{
	uint64_t next = 0, end = now_ns() + dur_ns, v;

	do {
		for (uint32_t i = 0; i < CLOCK_EVERY; i++, next++) {
			int e = kaos_ring_send(r, &next);

			if (e)
				die("send", kaos_strerror(e));
			if (kaos_ring_recv(r, &v) || v != next)
				die("recv", "lost or reordered message");
		}
	} while (now_ns() < end);
	return next;
}

struct producer {
	struct kaos_ring *r;
	uint64_t dur_ns;
	int cpu;
	_Atomic uint64_t sent; /* UINT64_MAX until the producer is done */
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint64_t next = 0, end;

	pin(p->cpu);
	end = now_ns() + p->dur_ns;
	do {
		for (uint32_t i = 0; i < CLOCK_EVERY; i++, next++) {
			int e = kaos_ring_send(p->r, &next);

			if (e)
				die("send", kaos_strerror(e));
		}
	} while (now_ns() < end);
	atomic_store_explicit(&p->sent, next, memory_order_release);
	return NULL;
}

/* Producer and consumer threads; the consumer checks the order. */
static uint64_t run_pair(struct kaos_ring *r, uint64_t dur_ns, int cpu_p, int cpu_c)
{
	struct producer p = {.r = r, .dur_ns = dur_ns, .cpu = cpu_p, .sent = UINT64_MAX};
	pthread_t th;
	uint64_t got = 0, v;
	int e;

	pin(cpu_c);
	e = pthread_create(&th, NULL, produce, &p);
	if (e)
		die("pthread_create", strerror(e));
	while (got < atomic_load_explicit(&p.sent, memory_order_acquire)) {
		if (kaos_ring_recv(r, &v) == 0) {
			if (v != got)
				die("recv", "lost or reordered message");
			got++;
		}
	}
	pthread_join(th, NULL);
	return got;
}

int main(int argc, char **argv)
{
	long ms = 1000, slots = 1024, phases = 1;
	int cpu_a = -1, cpu_b = -1, wait = 0, wait_probes = 0, pair;
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "local"))
		pair = 0;
	else if (!strcmp(mode, "pair"))
		pair = 1;
	else {
		fprintf(stderr, "usage: kt_bench_workload local|pair [--ms MS] [--cpus A[,B]] "
				"[--slots N] [--wait] [--wait-probes] [--phases N]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--wait")) {
			wait = 1;
		} else if (!strcmp(a, "--wait-probes")) {
			wait_probes = 1;
		} else if (i + 1 < argc && !strcmp(a, "--ms")) {
			ms = parse_long(argv[++i], "duration", 1, 3600000);
		} else if (i + 1 < argc && !strcmp(a, "--phases")) {
			phases = parse_long(argv[++i], "phase count", 1, 1000);
		} else if (i + 1 < argc && !strcmp(a, "--slots")) {
			slots = parse_long(argv[++i], "slot count", 2, 1 << 24);
		} else if (i + 1 < argc && !strcmp(a, "--cpus")) {
			char *comma = strchr(argv[++i], ',');

			if (comma) {
				*comma = 0;
				cpu_b = (int)parse_long(comma + 1, "CPU", 0, CPU_SETSIZE - 1);
			}
			cpu_a = (int)parse_long(argv[i], "CPU", 0, CPU_SETSIZE - 1);
		} else {
			fprintf(stderr, "kt_bench_workload: unknown argument '%s'\n", a);
			return 2;
		}
	}
	if (wait) {
		char line[16];

		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	uint64_t probe_wait_ns = wait_probes ? wait_for_probes() : 0;

	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC,
				       .slots = (uint32_t)slots,
				       .slot_size = 8,
				       .name = pair ? "bench.pair" : "bench.local",
				       .wait = KAOS_WAIT_SPIN};
	struct kaos_ring *r;
	struct kaos_ring_stats st;
	uint64_t t0, t1, c0, c1, msgs;
	int e = kaos_ring_create(&cfg, &r);

	if (e)
		die("create", kaos_strerror(e));
	c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now_ns();
	msgs = 0;
	for (long k = 1; k <= phases; k++) {
		uint64_t pt = now_ns(), pc = clock_ns(CLOCK_PROCESS_CPUTIME_ID), n;
		char line[16];

		if (pair) {
			n = run_pair(r, (uint64_t)ms * 1000000u, cpu_a, cpu_b);
		} else {
			pin(cpu_a);
			n = run_local(r, (uint64_t)ms * 1000000u);
		}
		msgs += n;
		if (phases == 1)
			break;
		printf("phase %ld msgs=%llu ns=%llu cpu_ns=%llu\n", k, (unsigned long long)n,
		       (unsigned long long)(now_ns() - pt),
		       (unsigned long long)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) - pc));
		fflush(stdout);
		if (k < phases && !fgets(line, sizeof(line), stdin))
			return 1;
	}
	t1 = now_ns();
	c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	kaos_ring_stats(r, &st);
	printf("result mode=%s msgs=%llu ns=%llu cpu_ns=%llu sent=%llu recv=%llu bp=%llu ring=%u "
	       "probe_wait_ns=%llu\n",
	       mode, (unsigned long long)msgs, (unsigned long long)(t1 - t0),
	       (unsigned long long)(c1 - c0), (unsigned long long)st.sent_msgs,
	       (unsigned long long)st.recv_msgs, (unsigned long long)st.bp_episodes,
	       kaos_ring_id(r), (unsigned long long)probe_wait_ns);
	fflush(stdout);
	kaos_ring_destroy(r);
	return 0;
}
