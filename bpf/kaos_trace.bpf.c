// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kaos-trace kernel side: one program per libkaos USDT probe. Each hit
 * becomes one kt_event in a BPF ringbuf (abi/kt_event.h); every
 * reservation failure is counted, so delivered == fired - lost exactly
 * (userspace derives delivered: one map update less per hit). Besides the
 * probes: an exec record per exec (process images, at the end of this
 * file) and, for -b PROGRAM, the process scope (below).
 */
/*
 * No CO-RE: nothing here depends on kernel struct layouts that vary (only
 * the arch's fixed register frame, pt_regs), and without relocations libbpf
 * does not load the kernel's BTF: ~50 ms and ~5 MB less at every start.
 */
#define BPF_NO_PRESERVE_ACCESS_INDEX
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "kt_event.h"
#include "../include/kaos/probe_batch.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/*
 * Set by userspace before load (rodata: the verifier prunes dead branches).
 * No pid filter for -p: a uprobe attached for a pid runs its program only
 * in that process (the kernel compares the mm before calling it). A probe
 * attached for every process mapping a library (-b LIB) traces all of
 * them, unless scope_filter is set (-b PROGRAM, see "Process scope" below).
 */
const volatile bool filter_rings = false;
const volatile bool scope_filter = false;
const volatile bool want_stacks = false;
/* ts_ns costs a clock read, ~60 ns a hit on a KVM guest (kvm-clock): only on request. */
const volatile bool want_ts = false;
/* Wake the consumer only once this many bytes wait; it also polls on a timer. */
const volatile __u64 wakeup_bytes = 64 * 1024;
/* Batching (kaos:batch): records older than the tracer's start are a previous tracer's. */
const volatile __u64 batch_since_ns = 0;
/* --pmu: counters per CPU in pmu_events at [i * pmu_ncpus + cpu], i < pmu_nr. */
/*
 * The -- COMMAND's pid until its first probe hit, which wakes the consumer
 * at once (then 0): a command that runs a few ms must not be gone before
 * its maps and its sampling control are read.
 */
__u32 first_hit_tgid = 0;

const volatile __u32 pmu_nr = 0;
const volatile __u32 pmu_ncpus = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20); /* resized by userspace before load */
} events SEC(".maps");

/* Per-CPU counters: index = stat * KT_EV_TYPES + event type. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_STAT_NR *KT_EV_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} kt_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} ring_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 1); /* KT_PMU_MAX * CPUs, set by userspace */
	__type(key, __u32);
	__type(value, __u32);
} pmu_events SEC(".maps");

/* Per thread: the counters at its previous probe hit. */
struct pmu_thread {
	__u64 val[KT_PMU_MAX];
	__u64 count; /* that hit's cumulative count */
	__u32 ring_id;
	__u32 type;
	__u32 cpu;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pmu_thread);
} pmu_threads SEC(".maps");

/*
 * Process scope (-b PROGRAM where PROGRAM's probes live in a shared
 * libkaos.so): the probes are attached to the library for every process,
 * and only processes of PROGRAM pass. Membership is kept in the kernel so
 * a process is in scope from its first instruction, with no userspace
 * round trip that would lose its first operations:
 *  - scope_tgids: processes in scope. Filled by userspace at start (a
 *    /proc scan by PROGRAM's device and inode) and by kaos_scope_enter, a
 *    uprobe on PROGRAM's entry point: a process that execs PROGRAM later
 *    runs it before anything else (exec hands control to the entry point).
 *  - scope_tasks: tasks created by a process in scope (fork, clone),
 *    keyed by task pointer: a new task's pid cannot be read here without
 *    kernel BTF (CO-RE costs ~50 ms at every start), but its first probe
 *    hit sees the same pointer through bpf_get_current_task() and moves
 *    its process into scope_tgids. Every task creation writes its entry
 *    (set or cleared) and every task exit clears it: a reused pointer never
 *    inherits a stale answer.
 *  - exec clears the process (kaos_exec): a program exec'ing something
 *    else leaves the scope; exec'ing PROGRAM re-enters it at the entry.
 * scope_tgids entries of exited processes are swept by userspace; a reused
 * pid goes through fork first, which sets the child's answer.
 * Only raw tracepoints (no tracefs, no BTF) and plain helpers are used.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_SCOPE_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u8);
} scope_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_SCOPE_MAX_PROCS);
	__type(key, __u64);
	__type(value, __u8);
} scope_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_SCOPE_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} scope_stats SEC(".maps");

/* Bytes of struct pt_regs that hold the general registers USDT arguments name. */
#if defined(__TARGET_ARCH_x86)
#define KT_REGS_BYTES sizeof(struct pt_regs)
#elif defined(__TARGET_ARCH_arm64)
#define KT_REGS_BYTES (34 * 8) /* user_pt_regs: regs[31], sp, pc, pstate */
#endif

/* Checks whether to wake the consumer on one event of this many per CPU and type. */
#define KT_WAKEUP_CHECK_EVERY 64

/* Counts one stat; returns the new per-CPU count (0 if the map failed us). */
static __always_inline __u64 stat_inc(__u32 stat, __u32 type)
{
	__u32 key = stat * KT_EV_TYPES + type;
	__u64 *v = bpf_map_lookup_elem(&kt_stats, &key);

	return v ? ++*v : 0;
}

/* n records fired and lost at once (their types unread: counted as sends) */
static __always_inline void stat_add_lost(__u32 n)
{
	__u32 fired = KT_STAT_FIRED * KT_EV_TYPES + KT_EV_SEND;
	__u32 lost = KT_STAT_LOST * KT_EV_TYPES + KT_EV_SEND;
	__u64 *v = bpf_map_lookup_elem(&kt_stats, &fired);

	if (v)
		*v += n;
	v = bpf_map_lookup_elem(&kt_stats, &lost);
	if (v)
		*v += n;
}

#define KT_E2BIG 7 /* what a full hash map answers an insert (-E2BIG) */

static __always_inline void scope_stat_inc(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&scope_stats, &stat);

	if (v)
		++*v;
}

/* Adds a process by program; one pinned by pid stays pinned. */
static __always_inline void scope_add_tgid(__u32 tgid)
{
	__u8 by_program = KT_SCOPE_BY_PROGRAM;

	if (bpf_map_lookup_elem(&scope_tgids, &tgid))
		return;
	/* NOEXIST: a pid pinned meanwhile stays pinned (that race is not a full map) */
	if (bpf_map_update_elem(&scope_tgids, &tgid, &by_program, BPF_NOEXIST) == -KT_E2BIG)
		scope_stat_inc(KT_SCOPE_FULL);
}

/*
 * Is the current process in scope? A new task of one joins by its tgid here.
 * 0: out of scope; 1: in; 2: in, and the image's first probe hit (the
 * flag's race between threads costs at most one more wakeup).
 */
static __always_inline int scope_check(__u32 tgid)
{
	__u8 by_program = KT_SCOPE_BY_PROGRAM, *how;
	__u64 task;

	how = bpf_map_lookup_elem(&scope_tgids, &tgid);
	if (how) {
		if (*how & KT_SCOPE_WOKEN)
			return 1;
		*how |= KT_SCOPE_WOKEN;
		return 2;
	}
	task = bpf_get_current_task();
	if (!bpf_map_lookup_elem(&scope_tasks, &task))
		return 0;
	if (bpf_map_update_elem(&scope_tgids, &tgid, &by_program, BPF_NOEXIST) == -KT_E2BIG)
		scope_stat_inc(KT_SCOPE_FULL);
	return 2;
}

static __always_inline bool in_scope(__u32 tgid)
{
	return scope_check(tgid) != 0;
}

/*
 * Reads the probe's seven register arguments with one spec lookup
 * (bpf_usdt_arg() would repeat the lookup per argument). libkaos passes
 * every argument in a register (include/kaos/probes.h): the register frame
 * is copied once with plain loads (constant offsets into ctx) and indexed
 * on the stack, instead of one bpf_probe_read_kernel() per argument.
 */
static __always_inline int read_args(struct pt_regs *ctx, __u64 a[7], __u32 *type)
{
	struct __bpf_usdt_spec *spec;
	int spec_id = __bpf_usdt_spec_id(ctx);
	__u64 regs[KT_REGS_BYTES / 8];

	if (spec_id < 0)
		return -1;
	spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &spec_id);
	if (!spec || spec->arg_cnt < 7)
		return -1;
	/* the attach's cookie: which probe this is (bpf_usdt_cookie() without a second lookup) */
	*type = (__u32)spec->usdt_cookie;
	__builtin_memcpy(regs, ctx, sizeof(regs));
#pragma unroll
	for (int i = 0; i < 7; i++) {
		struct __bpf_usdt_arg_spec *as = &spec->args[i];
		unsigned long val = 0;
		__u32 off = (__u16)as->reg_off;

		if (as->arg_type == BPF_USDT_ARG_REG && off < sizeof(regs) && !(off & 7)) {
			val = regs[off / 8];
		} else if (as->arg_type == BPF_USDT_ARG_CONST) {
			val = as->val_off;
		} else {
			long v = 0;

			bpf_usdt_arg(ctx, i, &v);
			val = v;
		}
		a[i] = val;
	}
	return 0;
}

/* The counter as if it had run all the time it was enabled (multiplexing). */
static __always_inline __u64 pmu_read(__u32 i, __u32 cpu)
{
	struct bpf_perf_event_value v = {};

	if (bpf_perf_event_read_value(&pmu_events, i * pmu_ncpus + cpu, &v, sizeof(v)))
		return 0;
	if (v.running && v.running < v.enabled)
		return v.counter * v.enabled / v.running;
	return v.counter;
}

/*
 * Reads the counters and stores in e->pmu their change since this thread's
 * previous hit, per operation: the operations in between are counted from
 * the cumulative counter when that hit was of the same ring and kind, else
 * taken as 1 (exact when every operation fires: no --sample).
 */
static __always_inline void pmu_fill(struct kt_event *e, __u32 tid, __u32 cpu,
				     __u64 now[KT_PMU_MAX])
{
	struct pmu_thread *th = bpf_map_lookup_elem(&pmu_threads, &tid);
	struct pmu_thread nt = {};

	e->pmu[0] = e->pmu[1] = 0;
	if (th && th->cpu == cpu) {
		__u64 ops = 1;

		if (th->ring_id == e->ring_id && th->type == e->type && e->count > th->count &&
		    e->n)
			ops = (e->count - th->count) / e->n;
		if (!ops)
			ops = 1;
#pragma unroll
		for (int i = 0; i < KT_PMU_MAX; i++)
			if (i < pmu_nr)
				e->pmu[i] = (now[i] - th->val[i]) / ops;
		e->flags |= KT_EVF_PMU;
	}
#pragma unroll
	for (int i = 0; i < KT_PMU_MAX; i++)
		nt.val[i] = now[i];
	nt.count = e->count;
	nt.ring_id = e->ring_id;
	nt.type = e->type;
	nt.cpu = cpu;
	bpf_map_update_elem(&pmu_threads, &tid, &nt, BPF_ANY);
}

/* The base fields of a probe's event, from its arguments a[]. */
static __always_inline void fill_event(struct kt_event *e, const __u64 *a, __u32 type,
				       __u64 pid_tgid, __u32 cpu)
{
	e->ts_ns = want_ts ? bpf_ktime_get_ns() : 0;
	e->type = type;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cpu = cpu;
	e->ring_id = a[0];
	e->n = a[2];
	e->count = a[1];
	e->bytes = a[3];
	e->dur_ns = a[4];
	e->extra = a[5];
	e->name_ptr = a[6];
	e->stack_sz = 0;
	e->flags = 0;
	e->pmu[0] = e->pmu[1] = 0;
}

/* A full-size event's tail: a closing ring's name, or the user stack. */
static __always_inline void fill_full_event(struct pt_regs *ctx, struct kt_event *e, __u32 type,
					    __u64 name_ptr)
{
	if (type == KT_EV_RING_CLOSE) {
		/* The process may be gone before userspace could read the name. */
		if (bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)name_ptr) > 0)
			e->flags = KT_EVF_NAME;
	} else if (want_stacks) {
		long n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), BPF_F_USER_STACK);

		if (n < 0) {
			stat_inc(KT_STAT_STACK_ERR, type);
			n = 0;
		}
		e->stack_sz = n;
	}
}

/*
 * Batch wakeups: the consumer also drains on a short timer. The fill
 * level is checked on every 64th event only: reading the consumer's
 * position costs a cache miss while it drains on another CPU.
 * Delivered is not counted: userspace derives it as fired - lost.
 * A scoped image's first hit (scoped 2), and the command's, wake it at
 * once: a process that lives a few ms must not be gone before its maps are
 * read.
 */
static __always_inline void submit_event(struct kt_event *e, __u32 tgid, __u64 fired, int scoped)
{
	if (first_hit_tgid == tgid) {
		first_hit_tgid = 0;
		scoped = 2;
	}
	if (scoped == 2 || (fired % KT_WAKEUP_CHECK_EVERY == 0 &&
			    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes))
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	else
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/*
 * Every libkaos probe (send, recv, backpressure, retransmit, ring_close) runs
 * this one program; the event type is the USDT cookie userspace gives each
 * attach. One program instead of five: the verifier's work at start-up (its
 * largest part) is done once, and a hit costs the same.
 */
SEC("usdt")
int kaos_probe(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct kt_event *e;
	__u64 a[7], pmu_now[KT_PMU_MAX] = {}, fired;
	__u32 ring_id, type = KT_EV_SEND, cpu = bpf_get_smp_processor_id();
	int scoped = 1;

	/* first: a process out of scope pays as little as possible */
	if (scope_filter && !(scoped = scope_check(tgid))) {
		scope_stat_inc(KT_SCOPE_OTHER);
		return 0;
	}
	if (read_args(ctx, a, &type) || type > KT_EV_RING_CLOSE) {
		/* Unreadable arguments: still accounted as fired and lost. */
		if (type > KT_EV_RING_CLOSE)
			type = KT_EV_SEND;
		stat_inc(KT_STAT_FIRED, type);
		stat_inc(KT_STAT_LOST, type);
		return 0;
	}
	ring_id = a[0];
	if (filter_rings && !bpf_map_lookup_elem(&ring_filter, &ring_id)) {
		stat_inc(KT_STAT_FILTERED, type);
		return 0;
	}
	fired = stat_inc(KT_STAT_FIRED, type);
	/* read the counters first: the rest of this handler is not the operation's */
	if (pmu_nr && type != KT_EV_RING_CLOSE) {
#pragma unroll
		for (int i = 0; i < KT_PMU_MAX; i++)
			if (i < pmu_nr)
				pmu_now[i] = pmu_read(i, cpu);
	}

	/*
	 * Reserve sizes must be constants: one reservation either way. The
	 * writes past the base size below test `full` itself: the verifier
	 * does not carry a test of the type over to a later one, and the
	 * barrier keeps the compiler from turning them back into such tests.
	 */
	__u32 full = want_stacks || type == KT_EV_RING_CLOSE;

	__asm__ __volatile__("" : "+r"(full));
	if (full)
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	else
		e = bpf_ringbuf_reserve(&events, KT_EVENT_BASE_SIZE, 0);
	if (!e) {
		stat_inc(KT_STAT_LOST, type);
		return 0;
	}
	fill_event(e, a, type, pid_tgid, cpu);
	if (pmu_nr && type != KT_EV_RING_CLOSE)
		pmu_fill(e, (__u32)pid_tgid, cpu, pmu_now);
	if (full)
		fill_full_event(ctx, e, type, a[6]);
	submit_event(e, tgid, fired, scoped);
	return 0;
}

/* ---------------------------------------------------------------- exec, scope */

/*
 * Every exec: a record in the event stream (after all of the old image's
 * events), so the consumer keys what follows by the new image; and, with a
 * scope, the process leaves it (kaos_scope_enter brings PROGRAM back).
 * Costs one ring buffer record per exec on the machine, none per probe.
 */
SEC("raw_tp/sched_process_exec")
int kaos_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct kt_event *e;

	if (scope_filter) {
		__u64 task = bpf_get_current_task();
		__u8 *how = bpf_map_lookup_elem(&scope_tgids, &tgid);

		if (how && (*how & ~KT_SCOPE_WOKEN) == KT_SCOPE_BY_PROGRAM)
			bpf_map_delete_elem(&scope_tgids, &tgid);
		else if (how)
			*how &= ~KT_SCOPE_WOKEN; /* pinned: the new image's first hit wakes */
		bpf_map_delete_elem(&scope_tasks, &task);
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		scope_stat_inc(KT_SCOPE_EXEC_LOST);
		return 0;
	}
	__builtin_memset(e, 0, KT_EVENT_BASE_SIZE);
	e->ts_ns = bpf_ktime_get_ns();
	e->type = KT_EV_EXEC;
	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	e->cpu = bpf_get_smp_processor_id();
	if (!bpf_get_current_comm(e->name, sizeof(e->name)))
		e->flags = KT_EVF_NAME;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* A task created by a process in scope is in scope (args[1]: the child). */
SEC("raw_tp/sched_process_fork")
int kaos_scope_fork(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 child = ctx->args[1];
	__u8 one = 1;

	if (!in_scope(bpf_get_current_pid_tgid() >> 32)) {
		bpf_map_delete_elem(&scope_tasks, &child);
		return 0;
	}
	if (bpf_map_update_elem(&scope_tasks, &child, &one, BPF_ANY))
		scope_stat_inc(KT_SCOPE_FULL);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int kaos_scope_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 task = bpf_get_current_task();

	bpf_map_delete_elem(&scope_tasks, &task);
	return 0;
}

/* PROGRAM's entry point: the process runs PROGRAM (attached per program). */
SEC("uprobe")
int kaos_scope_enter(struct pt_regs *ctx)
{
	scope_add_tgid(bpf_get_current_pid_tgid() >> 32);
	return 0;
}

/* ---------------------------------------------------------------- batched probe */

/*
 * kaos:batch (include/kaos/probe_batch.h): a thread's buffer of up to 32
 * records, fired when full, old or at thread exit. Each record becomes the
 * kt_event its per-op probe would have sent (no stack, no PMU: batching is
 * used only without them). Per thread, the map keeps the buffer's address
 * and how much of which generation was already sent, so a drain at exit or
 * exec (below) and a later fire of the same generation never send a record
 * twice.
 */
struct batch_thread {
	__u64 buf;
	__u64 gen;  /* generation last sent from */
	__u32 done; /* records of gen already sent */
	__u32 pid;  /* the thread's process (userspace drains through it at stop) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_BATCH_THREADS_MAX);
	__type(key, __u32);
	__type(value, struct batch_thread);
} batch_threads SEC(".maps");

/*
 * As kaos_probe: wake the consumer only when much waits, checked at a
 * batch's last record, or at the command's first batch. One submit call
 * with a computed flag keeps the verifier's paths few (start-up time).
 */
static __always_inline __u64 batch_wakeup(bool last, __u64 pid_tgid)
{
	if (!last)
		return BPF_RB_NO_WAKEUP;
	if (first_hit_tgid == (__u32)(pid_tgid >> 32)) {
		first_hit_tgid = 0;
		return BPF_RB_FORCE_WAKEUP;
	}
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

/*
 * One record as its per-op event. Branches here multiply the verifier's
 * work (bpf_loop's callback): flags are computed, not branched on.
 */
static __always_inline void batch_emit(const struct kaos_probe_record *rec, __u64 pid_tgid,
				       __u32 cpu, bool last, bool named, __u32 *trap)
{
	__u32 type = rec->type, ring_id = rec->ring_id;
	struct kt_event *e;

	if (type > KT_EV_BACKPRESSURE)
		type = KT_EV_SEND;
	if (rec->ts_ns < batch_since_ns ||
	    (filter_rings && !bpf_map_lookup_elem(&ring_filter, &ring_id))) {
		stat_inc(KT_STAT_FILTERED, type);
		return;
	}
	stat_inc(KT_STAT_FIRED, type);
	/*
	 * The first record of a ring in a batch carries the ring's name: the
	 * batch may come from a process that is exiting, too late to read it.
	 */
	__u32 full = named;

	__asm__ __volatile__("" : "+r"(full));
	if (full)
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	else
		e = bpf_ringbuf_reserve(&events, KT_EVENT_BASE_SIZE, 0);
	if (!e) {
		stat_inc(KT_STAT_LOST, type);
		return;
	}
	e->ts_ns = want_ts ? rec->ts_ns : 0;
	e->type = type;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->cpu = cpu;
	e->ring_id = ring_id;
	e->n = rec->n;
	e->count = rec->count;
	e->bytes = rec->bytes;
	e->dur_ns = rec->dur_ns;
	e->extra = rec->extra;
	e->name_ptr = rec->name;
	e->stack_sz = 0;
	e->flags = KT_EVF_BATCHED | *trap; /* the tracer prices traps apart */
	*trap = 0;
	e->pmu[0] = e->pmu[1] = 0;
	if (full && bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)rec->name) > 0)
		e->flags |= KT_EVF_NAME;
	bpf_ringbuf_submit(e, batch_wakeup(last, pid_tgid));
}

/* Sends records [already sent, n) of buffer buf's generation gen; remembers what was sent. */
/* State of one batch's loop (bpf_loop: its callback is verified once, not 32 times). */
struct batch_loop {
	__u64 buf;
	__u64 pid_tgid;
	__u32 n;
	__u32 start;
	__u32 cpu;
	__u32 prev_ring;
	bool bad;
	__u32 trap; /* KT_EVF_TRAP until a sent record carries this fire's trap, then 0 */
};

static long batch_one(__u32 i, struct batch_loop *c)
{
	struct kaos_probe_record rec;

	if (i >= c->n)
		return 1;
	if (i < c->start)
		return 0;
	if (bpf_probe_read_user(&rec, sizeof(rec),
				(void *)(c->buf + __builtin_offsetof(struct kaos_probe_batch, rec) +
					 (__u64)i * sizeof(rec)))) {
		stat_inc(KT_STAT_FIRED, KT_EV_SEND);
		stat_inc(KT_STAT_LOST, KT_EV_SEND);
		return 0;
	}
	batch_emit(&rec, c->pid_tgid, c->cpu, i + 1 == c->n, rec.ring_id != c->prev_ring, &c->trap);
	c->prev_ring = rec.ring_id;
	return 0;
}

static __noinline int batch_send(__u64 buf, __u32 n, __u64 gen, __s32 tag, bool trap)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct batch_thread nt = {.buf = buf, .gen = gen, .pid = pid_tgid >> 32}, *t;
	struct batch_loop c = {.buf = buf,
			       .pid_tgid = pid_tgid,
			       .cpu = bpf_get_smp_processor_id(),
			       .trap = trap ? KT_EVF_TRAP : 0};

	c.bad = tag != (__s32)(pid_tgid >> 32);
	t = bpf_map_lookup_elem(&batch_threads, &tid);
	if (t && t->buf == buf && t->gen == gen)
		c.start = t->done;
	c.n = n > KAOS_PROBE_BATCH_RECORDS ? KAOS_PROBE_BATCH_RECORDS : n;
	if (c.bad) /* not this process's buffer: counted lost, never sent as its own */
		stat_add_lost(c.n > c.start ? c.n - c.start : 0);
	else
		bpf_loop(KAOS_PROBE_BATCH_RECORDS, batch_one, &c, 0);
	nt.done = c.n > c.start ? c.n : c.start;
	if (bpf_map_update_elem(&batch_threads, &tid, &nt, BPF_ANY))
		stat_inc(KT_STAT_BATCH_UNTRACKED, KT_EV_SEND);
	return 0;
}

SEC("usdt")
int kaos_batch(struct pt_regs *ctx)
{
	long buf = 0, n = 0, gen = 0, tag = 0;

	if (scope_filter && !in_scope(bpf_get_current_pid_tgid() >> 32)) {
		scope_stat_inc(KT_SCOPE_OTHER);
		return 0;
	}
	if (bpf_usdt_arg(ctx, 0, &buf) || bpf_usdt_arg(ctx, 1, &n) || bpf_usdt_arg(ctx, 2, &gen) ||
	    bpf_usdt_arg(ctx, 3, &tag))
		return 0;
	batch_send(buf, (__u32)n, gen, (__s32)tag, true);
	return 0;
}

/*
 * Drains the current thread's buffer before its memory goes: at exit
 * (_exit, a signal; on this kernel sched_process_exit runs before exit_mm)
 * and at exec (the new image has no such buffer). Were the records ever
 * fired again, the map says they were sent and the fire skips them.
 */
static __always_inline void batch_drain(bool forget)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct batch_thread *t = bpf_map_lookup_elem(&batch_threads, &tid);
	struct {
		__u32 n;
		__s32 pid;
		__u64 gen;
	} hdr; /* the head of struct kaos_probe_batch */

	if (!t)
		return;
	if (!bpf_probe_read_user(&hdr, sizeof(hdr), (void *)t->buf))
		batch_send(t->buf, hdr.n, hdr.gen, hdr.pid, false);
	if (forget)
		bpf_map_delete_elem(&batch_threads, &tid);
}

/*
 * One program for both tracepoints (one verification at start-up):
 * sched_process_exit and sched_prepare_exec. After an exec the thread's
 * buffer is the new image's, announced afresh: the entry goes either way.
 */
SEC("raw_tp")
int kaos_batch_drain(struct bpf_raw_tracepoint_args *ctx)
{
	batch_drain(true);
	return 0;
}
