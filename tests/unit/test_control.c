/* SPDX-License-Identifier: MIT */
/*
 * kt_control: the --budget arithmetic (kt_pow2_floor, kt_budget_period,
 * kt_budget_step), the process CPU clock it reads, and the requests of
 * several tracers in one process's kaos_probe_control (played here on this
 * test's own control, with process_vm_writev on itself, under a private
 * lock directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_control.h"
#include "kaos/probe_batch.h"
#include "kaos/probes.h"

/* A per-op price of ns a hit, as the budget takes it. */
#define HIT(ns) (&(struct kt_budget_price){&(struct kt_price){.hit_ns = (ns)}, false})

#define MS 1000000ull

static void test_pow2_floor(void **state)
{
	(void)state;
	assert_int_equal(kt_pow2_floor(0), 1);
	assert_int_equal(kt_pow2_floor(1), 1);
	assert_int_equal(kt_pow2_floor(3), 2);
	assert_int_equal(kt_pow2_floor(4), 4);
	assert_int_equal(kt_pow2_floor(1023), 512);
	assert_int_equal(kt_pow2_floor(UINT64_MAX), 1u << 30);
}

/* The smallest power of two whose cost fits: N fits, N / 2 does not. */
static void test_budget_period_is_smallest_fit(void **state)
{
	static const double rates[] = {1e3, 7.5e5, 1e8, 4e8};
	static const double hits[] = {150, 2000, 9000};
	static const double pcts[] = {0.5, 3, 50};

	(void)state;
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		for (size_t j = 0; j < sizeof(hits) / sizeof(hits[0]); j++)
			for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
				uint32_t n = kt_budget_period(rates[i], HIT(hits[j]), pcts[k]);
				double allowed = pcts[k] / 100 * 1e9;

				assert_true(n >= 1 && !(n & (n - 1)));
				assert_true(rates[i] / n * hits[j] <= allowed);
				if (n > 1)
					assert_true(rates[i] / (n / 2) * hits[j] > allowed);
			}
	/* 1e8 ops/s at 2 us a hit under 3 %: 6,667 would do, so 8,192 */
	assert_int_equal(kt_budget_period(1e8, HIT(2000), 3), 8192);
	/* nothing known: every operation */
	assert_int_equal(kt_budget_period(0, HIT(2000), 3), 1);
	assert_int_equal(kt_budget_period(1e8, HIT(0), 3), 1);
}

/*
 * Batched operations cost their record and a share of a trap, per-op hits a
 * trap each: 800,000 ops in 25,000 fires at 500 ns a record and 5 us a trap
 * cost 0.525 s, not 800,000 hits (4 s, the ~10x claimed before).
 */
static void test_price_traps_and_records(void **state)
{
	struct kt_price pr = {.hit_ns = 5000, .trap_ns = 5000, .record_ns = 500};

	(void)state;
	assert_float_equal(kt_price_cost_ns(&pr, 800000, 800000, 25000), 0.525e9, 1);
	/* per-op hits keep their price; a mix adds up */
	assert_float_equal(kt_price_cost_ns(&pr, 1000, 0, 0), 5e6, 1e-6);
	assert_float_equal(kt_price_cost_ns(&pr, 1032, 32, 1), 5e6 + 5000 + 32 * 500, 1e-6);
	/* the batch path unmeasured: every record priced as a hit, as before */
	pr.record_ns = 0;
	assert_float_equal(kt_price_cost_ns(&pr, 64, 64, 2), 64 * 5000, 1e-6);
}

/* The budget's price of a sampled op: a full buffer a fire when fast, fewer when slow. */
static void test_price_op_by_rate(void **state)
{
	struct kt_price pr = {.hit_ns = 5000, .trap_ns = 3200, .record_ns = 400};

	(void)state;
	assert_float_equal(kt_price_op_ns(&pr, false, 1e6), 5000, 1e-9);
	/* >= 31 ops within the 1 ms age: 32 a fire */
	assert_float_equal(kt_price_op_ns(&pr, true, 1e6), 400 + 3200.0 / 32, 1e-9);
	/* 3 ops a ms: a fire every 4 */
	assert_float_equal(kt_price_op_ns(&pr, true, 3000), 400 + 3200.0 / 4, 1e-9);
	/* rare ops: near a trap each */
	assert_float_equal(kt_price_op_ns(&pr, true, 1), 400 + 3200.0 / 1.001, 1e-6);
	pr.record_ns = 0;
	assert_float_equal(kt_price_op_ns(&pr, true, 1e6), 5000, 1e-9);
}

/*
 * --budget 3 on 1e8 ops/s: priced per hit (5 us) it samples 1/32768; the
 * batched price (400 ns + 3.2 us / 32 = 500 ns) allows 1/2048, and that
 * period's cost fits the budget.
 */
static void test_budget_period_batched(void **state)
{
	struct kt_price pr = {.hit_ns = 5000, .trap_ns = 3200, .record_ns = 400};
	struct kt_budget_price batched = {&pr, true}, per_op = {&pr, false};
	uint32_t n = kt_budget_period(1e8, &batched, 3);

	(void)state;
	assert_int_equal(kt_budget_period(1e8, &per_op, 3), 32768);
	assert_int_equal(n, 2048);
	assert_true(1e8 / n * kt_price_op_ns(&pr, true, 1e8 / n) <= 3e7);
	assert_true(1e8 / (n / 2) * kt_price_op_ns(&pr, true, 1e8 / (n / 2)) > 3e7);
	/* slow processes pay more a record (fewer a trap): still the smallest fit */
	n = kt_budget_period(2e5, &batched, 0.5);
	assert_true(2e5 / n * kt_price_op_ns(&pr, true, 2e5 / n) <= 5e6);
	assert_true(n == 1 || 2e5 / (n / 2) * kt_price_op_ns(&pr, true, 2e5 / (n / 2)) > 5e6);
}

/* The first step only starts the estimate: a new process runs sparse. */
static void test_step_starts_sparse(void **state)
{
	struct kt_budget b = {0};

	(void)state;
	assert_int_equal(kt_budget_step(&b, 0, 0, 1000 * MS, 0, HIT(2000), 3),
			 KT_BUDGET_START_PERIOD);
	assert_int_equal(
		kt_budget_step(&b, KT_BUDGET_START_PERIOD, 5000000, 1050 * MS, 0, HIT(2000), 3),
		KT_BUDGET_START_PERIOD); /* 50 ms: too early to decide */
}

/* 1e8 ops/s of wall time, the process on a CPU all along: as kt_budget_period says. */
static void test_step_rate_per_wall_second(void **state)
{
	struct kt_budget b = {0};
	uint32_t cur = kt_budget_step(&b, 0, 0, 1000 * MS, 5000 * MS, HIT(2000), 3);

	(void)state;
	/* 100 ms later: 1e7 more operations, 100 ms more CPU */
	cur = kt_budget_step(&b, cur, 10000000, 1100 * MS, 5100 * MS, HIT(2000), 3);
	assert_int_equal(cur, 32768); /* falls by half at most from 65536 */
	cur = kt_budget_step(&b, cur, 20000000, 1200 * MS, 5200 * MS, HIT(2000), 3);
	assert_int_equal(cur, 16384);
	cur = kt_budget_step(&b, cur, 30000000, 1300 * MS, 5300 * MS, HIT(2000), 3);
	assert_int_equal(cur, 8192); /* kt_budget_period(1e8, HIT(2000), 3) */
	cur = kt_budget_step(&b, cur, 40000000, 1400 * MS, 5400 * MS, HIT(2000), 3);
	assert_int_equal(cur, 8192); /* steady */
	/* the rate quadruples: the period follows at once */
	cur = kt_budget_step(&b, cur, 80000000, 1500 * MS, 5500 * MS, HIT(2000), 3);
	assert_int_equal(cur, 32768);
}

/* A process that ran 25 of the last 100 ms pays its hits out of those 25 ms. */
static void test_step_rate_per_cpu_second(void **state)
{
	struct kt_budget b = {0}, w = {0};
	uint32_t cur = 8192, wall_only;

	(void)state;
	kt_budget_step(&b, cur, 0, 1000 * MS, 5000 * MS, HIT(2000), 3);
	cur = kt_budget_step(&b, cur, 2500000, 1100 * MS, 5025 * MS, HIT(2000), 3);
	assert_int_equal(cur, kt_budget_period(1e8, HIT(2000), 3)); /* 2.5e6 ops in 25 ms */
	/* the same counts without a CPU clock: priced per wall second */
	kt_budget_step(&w, 8192, 0, 1000 * MS, 0, HIT(2000), 3);
	wall_only = kt_budget_step(&w, 8192, 2500000, 1100 * MS, 0, HIT(2000), 3);
	assert_int_equal(wall_only, 4096); /* 2.5e7 ops/s: 2,048 would do; halving limit */
	/* several threads (CPU time > wall time): per wall second, the higher rate */
	struct kt_budget m = {0};

	kt_budget_step(&m, 8192, 0, 1000 * MS, 5000 * MS, HIT(2000), 3);
	assert_int_equal(kt_budget_step(&m, 8192, 10000000, 1100 * MS, 5200 * MS, HIT(2000), 3),
			 kt_budget_period(1e8, HIT(2000), 3));
}

/* Counts arrive with sampled events: wait for about two periods of them, at most 1 s. */
static void test_step_waits_for_enough_operations(void **state)
{
	struct kt_budget b = {0};
	uint32_t cur = 65536;

	(void)state;
	kt_budget_step(&b, cur, 0, 1000 * MS, 0, HIT(2000), 3);
	assert_int_equal(kt_budget_step(&b, cur, 65536, 1100 * MS, 0, HIT(2000), 3), cur);
	assert_int_equal(kt_budget_step(&b, cur, 65536, 1200 * MS, 0, HIT(2000), 3), cur);
	/* 131072 ops over 300 ms (4.4e5/s): cheap enough for every op, but one halving a step */
	assert_int_equal(kt_budget_step(&b, cur, 131072, 1300 * MS, 0, HIT(2000), 3), 32768);
	/*
	 * idle for a second: fewer than 32768 ops/s (else one would have fired),
	 * which at 2 us a hit under 3 % would allow 4: it falls 16x a step
	 */
	assert_int_equal(kt_budget_step(&b, 32768, 131072, 2400 * MS, 0, HIT(2000), 3), 2048);
	assert_int_equal(kt_budget_step(&b, 2048, 131072, 3400 * MS, 0, HIT(2000), 3), 128);
	assert_int_equal(kt_budget_step(&b, 128, 131072, 4400 * MS, 0, HIT(2000), 3), 8);
	/* 8 ops/s at most: every operation fits in the budget */
	assert_int_equal(kt_budget_step(&b, 8, 131072, 5400 * MS, 0, HIT(2000), 3), 1);
	assert_int_equal(kt_budget_step(&b, 1, 131072, 6400 * MS, 0, HIT(2000), 3), 1);
	/* under a tiny budget the bound can keep a period: never raised by silence */
	struct kt_budget t = {0};

	kt_budget_step(&t, 64, 0, 1000 * MS, 0, HIT(2000), 3);
	assert_int_equal(kt_budget_step(&t, 64, 0, 2100 * MS, 0, HIT(2000), 0.0001), 64);
}

static void test_proc_cpu_clock(void **state)
{
	uint64_t a, b;
	volatile uint64_t x = 0;

	(void)state;
	a = kt_proc_cpu_ns(getpid());
	assert_true(a > 0);
	/* CPU time only moves forward, and work moves it */
	do {
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
		b = kt_proc_cpu_ns(getpid());
	} while (b == a);
	assert_true(b > a);
	assert_int_equal(kt_proc_cpu_ns(0x7ffffff0), 0); /* no such process */
}

/* ---------------------------------------------------------------- requests */

static char lock_dir[64];

static int make_lock_dir(void **state)
{
	(void)state;
	snprintf(lock_dir, sizeof(lock_dir), "/tmp/kt-control-test.XXXXXX");
	return mkdtemp(lock_dir) ? 0 : -1;
}

static int remove_lock_dir(void **state)
{
	(void)state;
	return rmdir(lock_dir); /* fails if a lock file was left behind */
}

/* This process's control as tracer "who" sees it (who 0: this process, else its parent). */
static void open_self(struct kt_control *c, int who)
{
	char msg[256];

	assert_int_equal(kt_control_open_at(c, getpid(), (uint64_t)(uintptr_t)&kaos_probe_control,
					    sizeof(kaos_probe_control), msg, sizeof(msg)),
			 0);
	c->lock_dir = lock_dir;
	if (who) { /* a second live tracer: the parent (a shell or make) is alive */
		c->self_pid = (int32_t)getppid();
		c->self_start = kt_proc_start_time(getppid());
		assert_true(c->self_start > 0);
	}
}

static void reset_control(void)
{
	memset(kaos_probe_control.slots, 0, sizeof(kaos_probe_control.slots));
	kaos_probe_control.owner_start = kt_proc_start_time(getpid());
	kaos_probe_control.owner_pid = getpid();
	kaos_probe_control.sample_every = 1;
}

static bool lock_file_exists(void)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/control-%d-%llu.lock", lock_dir, (int)getpid(),
		 (unsigned long long)kt_proc_start_time(getpid()));
	return stat(path, &st) == 0;
}

static void test_start_time(void **state)
{
	(void)state;
	assert_true(kt_proc_start_time(getpid()) > 0);
	assert_true(kt_proc_start_time(getppid()) <= kt_proc_start_time(getpid()));
	assert_int_equal(kt_proc_start_time(0x7ffffff0), 0);
}

/* One tracer: its request is in effect, and withdrawing it restores every operation. */
static void test_request_then_release_restores(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	char msg[256];

	(void)state;
	reset_control();
	open_self(&c, 0);
	assert_int_equal(c.version, KAOS_PROBE_CONTROL_VERSION);
	assert_int_equal(c.nslots, KAOS_PROBE_CONTROL_SLOTS);
	assert_int_equal(kt_control_request(&c, 100, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 64); /* a power of two */
	assert_int_equal(st.effective, 64);
	assert_int_equal(st.nlive, 1);
	assert_int_equal(st.finest_pid, getpid());
	assert_true(lock_file_exists());
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 1);
	assert_int_equal(st.nlive, 0);
	assert_false(lock_file_exists()); /* the last one out removes it */
	for (int i = 0; i < KAOS_PROBE_CONTROL_SLOTS; i++)
		assert_int_equal(kaos_probe_control.slots[i].tracer_pid, 0);
}

/* A pid that existed and is gone, with the start time it had. */
static pid_t dead_pid(uint64_t *start)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		pause();
		_exit(0);
	}
	assert_true(pid > 0);
	*start = kt_proc_start_time(pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return pid;
}

/* Lock files of processes that are gone are swept by the next registration; live ones stay. */
static void test_dead_lock_files_swept(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	char dead_path[256], live_path[256], msg[256];
	uint64_t start;
	pid_t dead = dead_pid(&start);
	int fd;

	(void)state;
	reset_control();
	snprintf(dead_path, sizeof(dead_path), "%s/control-%d-%llu.lock", lock_dir, (int)dead,
		 (unsigned long long)start);
	snprintf(live_path, sizeof(live_path), "%s/control-%d-%llu.lock", lock_dir, (int)getppid(),
		 (unsigned long long)kt_proc_start_time(getppid()));
	assert_true((fd = open(dead_path, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_true((fd = open(live_path, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	open_self(&c, 0);
	assert_int_equal(kt_control_request(&c, 4, &st, msg, sizeof(msg)), 0);
	assert_int_equal(access(dead_path, F_OK), -1);
	assert_int_equal(access(live_path, F_OK), 0);
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	unlink(live_path);
}

/* Two tracers asking 64 and 4: 4 is in effect; when its tracer leaves, 64. */
static void test_two_tracers_finest_wins(void **state)
{
	struct kt_control a, b;
	struct kt_control_state st;
	char msg[256];

	(void)state;
	reset_control();
	open_self(&a, 0);
	open_self(&b, 1);
	assert_int_equal(kt_control_request(&a, 64, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kt_control_request(&b, 4, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 4);
	assert_int_equal(st.nlive, 2);
	assert_int_equal(st.finest_pid, getppid());
	/* a's view: not its own request */
	assert_int_equal(kt_control_read(&a, &st), 0);
	assert_int_equal(st.effective, 4);
	assert_int_equal(st.finest_pid, getppid());
	/* b asks for less: a's 64 is finer now */
	assert_int_equal(kt_control_request(&b, 256, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 64);
	assert_int_equal(kt_control_request(&b, 4, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kt_control_release(&b, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 64);
	assert_true(lock_file_exists()); /* a still asks */
	assert_int_equal(kt_control_release(&a, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 1);
	assert_false(lock_file_exists());
}

/* A SIGKILLed tracer's request is seen as stale, and reclaimed by the next one, who says so. */
static void test_dead_tracer_reclaimed(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	uint64_t start;
	pid_t dead = dead_pid(&start);
	char msg[256];

	(void)state;
	reset_control();
	assert_true(start > 0);
	kaos_probe_control.slots[3] = (struct kaos_probe_request){dead, 64, start};
	kaos_probe_control.sample_every = 64;
	open_self(&c, 0);
	assert_int_equal(kt_control_read(&c, &st), 0);
	assert_int_equal(st.effective, 64);
	assert_int_equal(st.nstale, 1);
	assert_int_equal(st.nlive, 0);
	assert_int_equal(kt_control_request(&c, 1024, &st, msg, sizeof(msg)), 0);
	assert_int_equal(st.nreclaimed, 1);
	assert_int_equal(st.reclaimed_pid[0], dead);
	assert_int_equal(st.reclaimed_every[0], 64);
	assert_int_equal(st.orphan_every, 0);
	assert_int_equal(kaos_probe_control.sample_every, 1024);
	assert_int_equal(kaos_probe_control.slots[3].tracer_pid, 0);
	/* a live pid with another start time is a different (reused) process: stale too */
	kaos_probe_control.slots[5] = (struct kaos_probe_request){getppid(), 2, 1};
	assert_int_equal(kt_control_read(&c, &st), 0);
	assert_int_equal(st.nstale, 1);
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(st.nreclaimed, 1);
	assert_int_equal(kaos_probe_control.sample_every, 1);
	assert_false(lock_file_exists());
}

/*
 * A forked child inherits its parent's control: live tracers' requests
 * written for another process (owner_pid, owner_start) are stale here, and
 * reclaimed, even when the child started in its parent's clock tick.
 */
static void test_inherited_by_fork_reclaimed(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	uint64_t pstart = kt_proc_start_time(getppid());
	char msg[256];

	(void)state;
	reset_control();
	kaos_probe_control.owner_start = pstart; /* as if written for the parent */
	kaos_probe_control.owner_pid = getppid();
	kaos_probe_control.slots[0] = (struct kaos_probe_request){getppid(), 64, pstart};
	kaos_probe_control.sample_every = 64;
	open_self(&c, 0);
	assert_int_equal(kt_control_read(&c, &st), 0);
	assert_int_equal(st.nstale, 1); /* its tracer lives, but traces the parent */
	assert_int_equal(st.nlive, 0);
	assert_int_equal(kt_control_request(&c, 8, &st, msg, sizeof(msg)), 0);
	assert_int_equal(st.nreclaimed, 1);
	assert_true(st.inherited);
	assert_int_equal(st.reclaimed_every[0], 64);
	assert_int_equal(kaos_probe_control.sample_every, 8);
	assert_int_equal(kaos_probe_control.owner_start, kt_proc_start_time(getpid()));
	assert_int_equal(kaos_probe_control.owner_pid, getpid());
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(kaos_probe_control.sample_every, 1);
	assert_false(lock_file_exists());
}

/* A period written without a slot (no request behind it) is found, said and reset. */
static void test_orphan_period_reset(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	char msg[256];

	(void)state;
	reset_control();
	kaos_probe_control.sample_every = 64;
	open_self(&c, 0);
	assert_int_equal(kt_control_request(&c, 8, &st, msg, sizeof(msg)), 0);
	assert_int_equal(st.orphan_every, 64);
	assert_int_equal(kaos_probe_control.sample_every, 8);
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(st.orphan_every, 0);
	assert_int_equal(kaos_probe_control.sample_every, 1);
}

/* Every slot taken by a live tracer: refused, nothing changed. */
static void test_slots_full(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	uint64_t pstart = kt_proc_start_time(getppid());
	char msg[256];

	(void)state;
	reset_control();
	for (int i = 0; i < KAOS_PROBE_CONTROL_SLOTS; i++)
		kaos_probe_control.slots[i] = (struct kaos_probe_request){getppid(), 16, pstart};
	kaos_probe_control.sample_every = 16;
	open_self(&c, 0);
	assert_int_equal(kt_control_request(&c, 2, &st, msg, sizeof(msg)), -ENOSPC);
	assert_int_equal(kaos_probe_control.sample_every, 16);
	assert_int_equal(c.requested, 0);
	reset_control();
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0); /* nothing to do */
}

/* A version-1 control (no slots): one writer, released to every operation. */
static void test_version1_one_writer(void **state)
{
	static struct {
		uint32_t magic, version, sample_every, reserved;
	} v1 = {KAOS_PROBE_CONTROL_MAGIC, 1, 1, 0};
	struct kt_control c;
	struct kt_control_state st;
	char msg[256];

	(void)state;
	assert_int_equal(kt_control_open_at(&c, getpid(), (uint64_t)(uintptr_t)&v1, sizeof(v1), msg,
					    sizeof(msg)),
			 0);
	c.lock_dir = lock_dir;
	assert_int_equal(c.version, 1);
	assert_int_equal(c.nslots, 0);
	assert_int_equal(kt_control_request(&c, 32, &st, msg, sizeof(msg)), 0);
	assert_int_equal(v1.sample_every, 32);
	assert_int_equal(st.effective, 32);
	assert_int_equal(v1.reserved, 0); /* nothing past version 1's fields */
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(v1.sample_every, 1);
	assert_false(lock_file_exists());
}

/*
 * A program built against version 1 that names the symbol holds a 16-byte
 * copy of it (copy relocation) whose bytes say version 2 with 8 slots: the
 * slots are not there, and the program's data after the copy is left alone.
 */
static void test_copy_of_v1_size_no_slots(void **state)
{
	static struct {
		uint32_t magic, version, sample_every, nslots;
		unsigned char after[64]; /* the program's own data */
	} copy = {KAOS_PROBE_CONTROL_MAGIC, 2, 1, KAOS_PROBE_CONTROL_SLOTS, {0}};
	struct kt_control c;
	struct kt_control_state st;
	unsigned char zero[64] = {0};
	char msg[256];

	(void)state;
	assert_int_equal(kt_control_open_at(&c, getpid(), (uint64_t)(uintptr_t)&copy,
					    KAOS_PROBE_CONTROL_V1_SIZE, msg, sizeof(msg)),
			 0);
	c.lock_dir = lock_dir;
	assert_int_equal(c.nslots, 0);
	assert_int_equal(kt_control_request(&c, 16, &st, msg, sizeof(msg)), 0);
	assert_int_equal(copy.sample_every, 16);
	assert_memory_equal(copy.after, zero, sizeof(zero));
	assert_int_equal(kt_control_release(&c, &st, msg, sizeof(msg)), 0);
	assert_int_equal(copy.sample_every, 1);
	assert_memory_equal(copy.after, zero, sizeof(zero));
	/* an object with room for 2 slots gets 2 */
	assert_int_equal(kt_control_open_at(&c, getpid(), (uint64_t)(uintptr_t)&kaos_probe_control,
					    offsetof(struct kaos_probe_control, slots) +
						    2 * sizeof(struct kaos_probe_request),
					    msg, sizeof(msg)),
			 0);
	assert_int_equal(c.nslots, 2);
}

/* Another tracer holding the lock: the request gives up (bounded) and changes nothing. */
static void test_lock_held_elsewhere(void **state)
{
	struct kt_control c;
	struct kt_control_state st;
	char path[256], msg[256];
	int fd;

	(void)state;
	reset_control();
	open_self(&c, 0);
	snprintf(path, sizeof(path), "%s/control-%d-%llu.lock", lock_dir, (int)getpid(),
		 (unsigned long long)kt_proc_start_time(getpid()));
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* another open file description: conflicts */
	assert_int_equal(kt_control_request(&c, 8, &st, msg, sizeof(msg)), -EWOULDBLOCK);
	assert_non_null(strstr(msg, "cannot lock"));
	assert_int_equal(kaos_probe_control.sample_every, 1);
	unlink(path);
	close(fd);
}

static void test_sampling_policy(void **state)
{
	struct kt_sampling m;
	char b[128];

	(void)state;
	m = kt_sampling_from_flags(0, 0);
	assert_int_equal(m.mode, KT_SAMPLING_DEFAULT_BUDGET);
	assert_true(m.budget_pct == KT_DEFAULT_BUDGET_PCT);
	assert_true(kt_sampling_warn_pct(&m) == KT_DEFAULT_BUDGET_PCT);
	assert_non_null(strstr(kt_sampling_describe(&m, b, sizeof(b)), "default budget 1%"));
	m = kt_sampling_from_flags(100, 0);
	assert_int_equal(m.mode, KT_SAMPLING_FIXED);
	assert_int_equal(m.period, 64);
	assert_true(kt_sampling_warn_pct(&m) == KT_COST_WARN_PCT);
	m = kt_sampling_from_flags(0, 25);
	assert_int_equal(m.mode, KT_SAMPLING_BUDGET);
	assert_true(kt_sampling_warn_pct(&m) == KT_COST_WARN_PCT); /* the lower of the two */
	assert_string_equal(kt_sampling_mode_name(KT_SAMPLING_DEFAULT_BUDGET), "default-budget");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pow2_floor),
		cmocka_unit_test(test_budget_period_is_smallest_fit),
		cmocka_unit_test(test_price_traps_and_records),
		cmocka_unit_test(test_price_op_by_rate),
		cmocka_unit_test(test_budget_period_batched),
		cmocka_unit_test(test_step_starts_sparse),
		cmocka_unit_test(test_step_rate_per_wall_second),
		cmocka_unit_test(test_step_rate_per_cpu_second),
		cmocka_unit_test(test_step_waits_for_enough_operations),
		cmocka_unit_test(test_proc_cpu_clock),
		cmocka_unit_test(test_start_time),
		cmocka_unit_test(test_request_then_release_restores),
		cmocka_unit_test(test_two_tracers_finest_wins),
		cmocka_unit_test(test_dead_tracer_reclaimed),
		cmocka_unit_test(test_dead_lock_files_swept),
		cmocka_unit_test(test_inherited_by_fork_reclaimed),
		cmocka_unit_test(test_orphan_period_reset),
		cmocka_unit_test(test_slots_full),
		cmocka_unit_test(test_version1_one_writer),
		cmocka_unit_test(test_copy_of_v1_size_no_slots),
		cmocka_unit_test(test_lock_held_elsewhere),
		cmocka_unit_test(test_sampling_policy),
	};

	return cmocka_run_group_tests(tests, make_lock_dir, remove_lock_dir);
}
