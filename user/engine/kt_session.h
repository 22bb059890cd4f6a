/* SPDX-License-Identifier: MIT */
/*
 * kt_session: the tracing machinery shared by one-shot kaos-trace and the
 * daemon: open and load the BPF object, set the kernel-side filters,
 * measure the probe cost, attach/detach the USDT probes of targets (one
 * set of links per (pid, path)), poll the ring buffer into a kt_agg (plus
 * optional folded stacks and event hooks), read the kernel counters, and
 * tear everything down.
 *
 *	struct kt_session s;
 *	kt_session_open(&s, &opts, err, sizeof(err));
 *	kt_session_calibrate(&s);
 *	kt_session_attach(&s, -1, "/usr/lib/libkaos.so", err, sizeof(err));
 *	kt_session_start(&s);			// counts start here
 *	while (...) kt_session_poll(&s, 50);
 *	kt_session_detach_all(&s);
 *	kt_session_consume(&s);		// drain what was left
 *	kt_session_close(&s);
 *
 * Not thread-safe: one thread owns a session.
 */
#ifndef KT_SESSION_H
#define KT_SESSION_H

#include "kt_clock.h"
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_agg.h"
#include "kt_control.h"
#include "kt_event.h"
#include "kt_note.h"
#include "kt_report.h"

struct kaos_trace_bpf;
struct ring_buffer;
struct bpf_link;
struct kt_sym;
struct kt_folded;
struct kt_waits;

#define KT_SESSION_NPROBES    5 /* send, recv, backpressure, retransmit, ring_close */
#define KT_SESSION_MAX_HOOKS  4
#define KT_SESSION_MAX_ATTACH 256
#define KT_SESSION_MAX_SCOPE  64 /* programs in the process scope */

/*
 * No pid filter: kt_session_attach() for a pid makes the kernel run the
 * probes' programs in that process only.
 */
struct kt_session_opts {
	const uint32_t *rings; /* only these ring ids (kernel filter); NULL: all */
	int nrings;
	bool stacks;	     /* user stacks with each event, folded into s->folded */
	bool want_ts;	     /* USDT events carry ts_ns (--timeline); else 0, ~60 ns less a hit */
	bool weight_latency; /* folded weight: latency ns instead of 1 */
	uint64_t ringbuf_bytes;		   /* power of two >= 4096; 0: 2 MiB */
	void (*bpf_log)(const char *line); /* with it: libbpf's debug output, line by line */
	bool folded;	 /* a symbolizer and folded stacks even without stacks (--profile) */
	uint32_t pmu_nr; /* --pmu: counters read by the probes (kt_pmu), per CPU */
	uint32_t pmu_ncpus;
	/*
	 * Process scope (-b PROGRAM): probes pass only in processes added with
	 * kt_session_scope_program() / kt_session_scope_pid() (see the BPF
	 * program's "Process scope"). Set at load: false keeps the probes'
	 * cost as it was.
	 */
	bool scope;
	/*
	 * Batched probes (kaos:batch, docs/probes.md): send, recv and
	 * backpressure arrive 32 to a trap. Only without per-event stacks,
	 * PMU counters or timestamps taken in the kernel at the op.
	 */
	bool batch;
};

/* Frame name of an event in folded stacks (default: its type, "send", ...). */
typedef const char *(*kt_session_name_fn)(void *ctx, const struct kt_event *e);

/* Called for every well-formed event (after it was aggregated). */
typedef void (*kt_session_event_fn)(void *ctx, const struct kt_event *e, size_t size);

/* The probes of one target: every kaos probe of path, in pid (-1: any process). */
struct kt_attachment {
	pid_t pid;
	char path[PATH_MAX];
	dev_t dev; /* of path when attached: a replaced file needs a new attach */
	ino_t ino;
	struct bpf_link *links[KT_SESSION_NPROBES + 1]; /* + kaos:batch */
	int nlinks;
};

/* A program in the process scope: its entry uprobe and its file. */
struct kt_scope_program {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
	struct bpf_link *enter;
};

struct kt_session {
	struct kaos_trace_bpf *skel;
	bool scope;
	struct bpf_link *exec_link; /* sched_process_exec: images (kt_agg_exec), scope exits */
	struct bpf_link *fork_link; /* with a scope: new tasks of processes in scope */
	struct bpf_link *exit_link;
	bool batch;			     /* kaos:batch replaces send, recv and backpressure */
	struct bpf_link *batch_links[2];     /* drains at exit and exec */
	uint64_t batch_drained[KT_EV_TYPES]; /* records read from live threads at stop */
	/* KT_SESSION_MAX_SCOPE of them once used (260 KB zeroed at every start otherwise) */
	struct kt_scope_program *scope_progs;
	int nscope;
	struct ring_buffer *rb;
	struct kt_agg agg;
	struct kt_sym *sym;	  /* with stacks: symbolizer of the traced processes */
	struct kt_folded *folded; /* with stacks: folded stacks since start/clear */
	struct kt_waits *waits;	  /* with --weight latency: a send's own time (kt_waits.h) */
	bool weight_latency;
	pid_t self;
	double hit_ns;		     /* cost of one probe hit (calibrated or given) */
	bool hit_cached;	     /* hit_ns is an earlier start's measurement (this boot) */
	struct bpf_link *calib_link; /* the calibration's probe: detached at close only */
	double batch_trap_ns;	     /* a kaos:batch fire (calibrated; 0: not measured) */
	double batch_record_ns;	     /* a batched operation (calibrated; 0: priced as a hit) */
	bool batch_cached;	     /* both are an earlier start's measurement (this boot) */
	struct bpf_link *calib_batch_link; /* the batch calibration's probe, as calib_link */
	uint64_t stats_base[KT_STAT_NR][KT_EV_TYPES]; /* calibration's share */
	uint64_t t_start;			      /* CLOCK_MONOTONIC at kt_session_start */
	struct kt_attachment *att[KT_SESSION_MAX_ATTACH];
	int natt;
	struct {
		kt_session_event_fn fn;
		void *ctx;
	} hooks[KT_SESSION_MAX_HOOKS];
	int nhooks;
	kt_session_name_fn event_name; /* optional */
	void *event_name_ctx;
	/* sampling: how periods are chosen, and where its notes go (one line each) */
	struct kt_sampling sampling;
	kt_note_fn note; /* NULL: notes are dropped (every driver sets one) */
	void *note_ctx;
	uint64_t cost_warnings; /* cost warnings given so far */
};

extern const char *const kt_session_probe_names[KT_SESSION_NPROBES];

/*
 * Opens and loads the BPF object with opts, sets the filter maps and the
 * ring buffer consumer. 0, or -1 with a one-line reason in err; after a
 * load failure kt_session_print_bpf_log() shows libbpf's last lines.
 */
int kt_session_open(struct kt_session *s, const struct kt_session_opts *opts, char *err,
		    size_t errlen);
void kt_session_print_bpf_log(FILE *f);

/*
 * Measures the cost of one probe hit on this machine (passes over a probe
 * site of kaos-trace's own, traced and untraced) and sets s->hit_ns, or
 * takes an earlier start's figure for this boot, build and options from
 * /run/kaos-trace (s->hit_cached: kt_bootcache.h). Call before attaching
 * anything. Returns hit_ns (0 if it could not run). Its probe (on this
 * process only) stays attached until kt_session_close(). With batching
 * (s->batch) it also prices kaos:batch: s->batch_trap_ns a fire and
 * s->batch_record_ns an operation (both 0 if that could not be measured:
 * records are then priced as hits), measured or cached the same way.
 */
double kt_session_calibrate(struct kt_session *s);

/*
 * Attaches every kaos probe of path in pid (-1: every process mapping
 * path, now and later). 0, or -1 with err set (nothing stays attached).
 */
int kt_session_attach(struct kt_session *s, pid_t pid, const char *path, char *err, size_t errlen);
/* The attachment of (pid, path), or NULL. */
struct kt_attachment *kt_session_find(struct kt_session *s, pid_t pid, const char *path);
/* Destroys the links of (pid, path); -ENOENT if not attached. */
int kt_session_detach(struct kt_session *s, pid_t pid, const char *path);
void kt_session_detach_all(struct kt_session *s);
int kt_session_nlinks(const struct kt_session *s);

/* Starts counting: the aggregation's start, for "started after attach". */
void kt_session_start(struct kt_session *s);

int kt_session_add_hook(struct kt_session *s, kt_session_event_fn fn, void *ctx);

/* Waits up to timeout_ms for events and drains the ring buffer: events or -errno. */
int kt_session_poll(struct kt_session *s, int timeout_ms);
/* Drains without waiting. */
int kt_session_consume(struct kt_session *s);
/* An fd that polls readable when events wait (for a caller's own poll()). */
int kt_session_fd(const struct kt_session *s);

/* Kernel counters summed over CPUs, less the calibration's share. */
void kt_session_read_stats(struct kt_session *s, uint64_t out[KT_STAT_NR][KT_EV_TYPES]);
/* The same summed over event types, plus hit_ns. */
void kt_session_totals(struct kt_session *s, struct kt_report_totals *tot);

/*
 * Sampling control of the traced processes whose control can be reached,
 * as s->sampling says: a fixed period, or one chosen by kt_budget_step()
 * to keep the tracing cost under the budget. Registers this tracer's
 * request beside other tracers' (kt_control), reads back the period in
 * effect into each kt_proc, reclaims requests of dead tracers and says so
 * through s->note. new_only: only processes not set up yet (one found
 * through -b runs every operation traced until then, so a poll loop calls
 * this often, and in full every ~100 ms).
 */
void kt_session_update_sampling(struct kt_session *s, bool new_only);

/*
 * Warns (s->note) when a process's measured tracing cost over the last
 * second or more passed the budget, or KT_COST_WARN_PCT: once, and again
 * only after it fell back. Call every ~100 ms.
 */
void kt_session_check_cost(struct kt_session *s);

/*
 * Withdraws this tracer's sampling requests (each process goes back to
 * the finest other live request, or every operation). Done by
 * kt_session_detach_all() after the links are gone; safe to repeat.
 */
void kt_session_release_sampling(struct kt_session *s);

/*
 * Process scope (opts.scope): adds PROGRAM, i.e. every process running it
 * now (a /proc scan by device and inode) and later (a uprobe on its entry
 * point), and their children. Returns how many run now, or -1 with err.
 */
int kt_session_scope_program(struct kt_session *s, const char *path, char *err, size_t errlen);
/* Adds one process to the scope for its whole life, execs included. 0 or -errno. */
int kt_session_scope_pid(struct kt_session *s, pid_t pid);

/* pid's first probe hit wakes the consumer at once (a command about to start). */
void kt_session_wake_at_first_hit(struct kt_session *s, pid_t pid);
/* Forgets processes of the scope that exited; returns how many. */
int kt_session_scope_sweep(struct kt_session *s);
/* The scope's kernel counters (enum kt_scope_stat) summed over CPUs. */
void kt_session_scope_stats(struct kt_session *s, uint64_t out[KT_SCOPE_STAT_NR]);

/* Marks processes that no longer exist as exited; returns how many newly exited. */
int kt_session_check_exited(struct kt_session *s);

/* Detaches everything and frees all (the aggregation too). */
void kt_session_close(struct kt_session *s);

#endif /* KT_SESSION_H */
