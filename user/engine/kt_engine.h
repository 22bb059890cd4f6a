/* SPDX-License-Identifier: MIT */
/*
 * kt_engine: one tracer, whichever driver runs it (the one-shot CLI, the
 * daemon, a live view).
 *
 * Why one: a tracer's start-up has an order that matters and that every
 * driver used to write again. Bad input must fail before anything is
 * loaded (targets and --func patterns are resolved first); a command we
 * start must not run a single operation untraced (it waits on a pipe until
 * every probe is attached); the probe-site self-test runs in a child while
 * BPF loads; the process scope is chosen at load; sampling requests must
 * be withdrawn on every way out, or the traced process keeps sampling
 * after we are gone. Then, while it runs: ONE cadence for sampling (a full
 * update every KT_ENGINE_SAMPLING_NS, new processes at every poll: one
 * found through -b runs every operation traced until it is set up), ONE
 * place that notices exits (our command reaped, -p pids, every aggregated
 * process) and ONE scope sweep.
 *
 * What a driver keeps: its options, its loop (it may poll the engine's fd
 * with its own), its outputs and where lines go. The engine never prints:
 * every line it has to say goes through opts.note. The outputs (text and
 * JSON report, folded, Prometheus, timeline) read a struct kt_snapshot and
 * the aggregation it points to, never the collectors.
 *
 *	kt_engine_open(&e, &opts, err, n);	// resolve; may start the command
 *	... driver opens its outputs ...
 *	kt_engine_start(&e, err, n);		// load, calibrate, attach, count
 *	... driver adds hooks (timeline), says what is traced ...
 *	kt_engine_resume_command(&e, err, n);	// the command may exec now
 *	while (!done) {
 *		kt_engine_poll(&e, 50);
 *		done = kt_engine_tick(&e, now) > 0;
 *		kt_engine_snapshot(&e, &snap);	// when an output wants one
 *	}
 *	kt_engine_stop(&e);			// detach, then drain: nothing lost
 *	kt_engine_snapshot(&e, &snap);		// the final report
 *	kt_engine_close(&e);
 *
 * Not thread-safe: one thread owns an engine. Errors: the calls that can
 * fail return 0 or a process exit status for the driver (KT_ENGINE_EBAD:
 * bad input, KT_ENGINE_ENOCMD: the command cannot be found, KT_ENGINE_EFAIL:
 * anything else) with one line in err.
 */
#ifndef KT_ENGINE_H
#define KT_ENGINE_H

#include <argp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_pmu.h"
#include "kt_report.h"
#include "kt_session.h"
#include "kt_target.h"

struct kt_func;
struct kt_profile;
struct kt_offcpu;
struct kt_alloc;

/* Sampling: the full update (and the cost check) this often; new processes at every tick. */
#define KT_ENGINE_SAMPLING_NS 100000000ull
/* -b PROGRAM without kaos probes: how often /proc is searched for its new processes. */
#define KT_ENGINE_WATCH_PROGRAMS_NS 200000000ull
/* The process scope forgets exited processes this often. */
#define KT_ENGINE_SWEEP_NS 1000000000ull
/*
 * Default BPF ring buffer of a one-shot run: its pages are mapped twice and
 * count in RSS (the budget is 8 MB): 1 MiB = ~12,000 events. --sample 1 on
 * bench_trace's workloads, with and without --stacks, lost none at 512 KiB.
 */
#define KT_ENGINE_RINGBUF_DEFAULT (1u << 20)
/* --off-cpu-min-us's default: 1 us. */
#define KT_ENGINE_OFFCPU_MIN_NS 1000ull

/*
 * The options both drivers take, one table (kt_engine_argp_options, an
 * argp child of each driver's parser) so that their names, arguments and
 * help cannot drift apart: -b, --sample, --budget, --probe-cost,
 * --allow-nop5-sites, --profile, --off-cpu, --off-cpu-min-us, --pmu,
 * --func, --max-funcs, --max-rate, --no-usdt. Each driver's parser handles
 * these keys its own way (the CLI into its options, the daemon into config
 * keys of the same names).
 */
enum {
	KT_OPT_SAMPLE = 3000,
	KT_OPT_BUDGET,
	KT_OPT_PROBE_COST,
	KT_OPT_ALLOW_NOP5,
	KT_OPT_PROFILE,
	KT_OPT_OFF_CPU,
	KT_OPT_OFF_CPU_MIN_US,
	KT_OPT_PMU,
	KT_OPT_FUNC,
	KT_OPT_MAX_FUNCS,
	KT_OPT_MAX_RATE,
	KT_OPT_NO_USDT,
	KT_OPT_ALLOC,
	KT_OPT_ALLOC_LIB,
	KT_OPT_ALLOC_SHORT,
};
extern const struct argp_option kt_engine_argp_options[];

enum {
	KT_ENGINE_EFAIL = 1,
	KT_ENGINE_EBAD = 2,
	KT_ENGINE_ENOCMD = 127,
};

struct kt_engine_opts {
	const pid_t *pids; /* -p */
	int npids;
	const char *const *paths; /* -b: programs or libraries */
	int npaths;
	char *const *cmd;      /* -- COMMAND ARG...: started, held before exec until attached */
	const uint32_t *rings; /* -r ID: ring ids (filtered in the kernel when alone) */
	int nrings;
	const char *const *ring_names; /* -r NAME: filtered as events arrive (kt_ring_filter) */
	int nring_names;
	uint32_t sample;   /* --sample N (0: not given) */
	double budget_pct; /* --budget PCT (0: not given) */
	bool stacks;	   /* user stacks with each event (folded) */
	bool weight_latency;
	bool want_ts;			   /* events carry timestamps (a timeline) */
	uint64_t ringbuf_bytes;		   /* 0: KT_ENGINE_RINGBUF_DEFAULT */
	void (*bpf_log)(const char *line); /* -v: libbpf's debug lines */
	bool no_calibrate;
	double probe_cost_ns; /* > 0: no calibration, this price */
	bool allow_nop5;
	unsigned int profile_hz; /* --profile */
	const char *pmu;	 /* --pmu EVENT[,EVENT] */
	bool off_cpu;
	uint64_t off_cpu_min_ns;  /* 0: KT_ENGINE_OFFCPU_MIN_NS */
	const char *const *funcs; /* --func */
	int nfuncs;
	uint32_t max_funcs;
	uint64_t max_rate;
	bool no_usdt;
	bool alloc;		 /* --alloc: heap profiling (kt_alloc) */
	const char *alloc_lib;	 /* --alloc-lib (NULL: glibc) */
	uint64_t alloc_short_ns; /* --alloc-short (0: KT_ALLOC_SHORT_NS_DEFAULT) */
	bool folded; /* folded stacks even without any collector asking (a folded output) */
	/*
	 * A service (the daemon): the paths are resolved for the feature check
	 * and the scope, but the driver attaches and detaches them itself
	 * (kt_session_attach, on each reload); it may start with none.
	 */
	bool service;
	bool command_stdout_to_stderr; /* an output took stdout ("-"): the command's goes to stderr
					*/
	kt_note_fn note;	       /* every line the engine says (required) */
	void *note_ctx;
};

struct kt_engine {
	struct kt_engine_opts o;
	struct kt_session s;
	bool session_open;
	struct kt_targets targets;
	struct kt_func *func;	  /* --func, or NULL */
	struct kt_profile *prof;  /* --profile */
	struct kt_offcpu *offcpu; /* --off-cpu */
	struct kt_alloc *alloc;	  /* --alloc */
	struct kt_pmu pmu;
	pid_t child;		  /* -- COMMAND: its pid */
	int child_go;		  /* write end of the pipe the child waits on before exec */
	int child_status;	  /* its exit status once reaped, else -1 */
	bool bpf_log;		  /* the last error was a BPF load: libbpf's log explains it */
	char scope[1024];	  /* which processes are traced, in words */
	char child_exe[PATH_MAX]; /* -- COMMAND: its executable, found as execvp would */
	struct kt_ring_filter ring_filter;	     /* -r NAME (with the ids beside them) */
	uint64_t t_iv;				     /* the current interval's start */
	uint64_t lost_iv0, fired_iv0, delivered_iv0; /* the counters when it started */
	uint64_t next_sampling, next_sweep, next_watch;
};

/*
 * A view of the engine at one moment: everything an output reads. agg,
 * folded and sym stay the engine's (valid until the next poll).
 */
struct kt_snapshot {
	const struct kt_agg *agg;
	struct kt_report_totals tot;
	struct kt_folded *folded; /* NULL without stacks or a stack collector */
	struct kt_sym *sym;
	uint64_t now_ns;
};

/*
 * Checks opts and resolves the targets and --func patterns (nothing is
 * loaded yet), checks privileges, and starts the command, held before
 * exec. 0 or an exit status with err (e is then safe to close).
 */
int kt_engine_open(struct kt_engine *e, const struct kt_engine_opts *opts, char *err,
		   size_t errlen);
/*
 * Probes the kernel, loads BPF, prices a probe hit, attaches every target
 * and collector, sets the scope and the first sampling. Counting starts
 * here. 0 or an exit status with err (e->bpf_log: libbpf's log explains).
 */
int kt_engine_start(struct kt_engine *e, char *err, size_t errlen);
/* Lets the command exec (no-op without one): after the driver's hooks are in. */
int kt_engine_resume_command(struct kt_engine *e, char *err, size_t errlen);

/*
 * Reconfiguration (a service, e.g. the daemon on SIGHUP): attaches every
 * path of tg that is not attached yet, or was replaced on disk since (an
 * upgrade: new inode), for every process mapping it. A path with plain
 * 5-byte-nop sites is refused unless allow_nop5 (the fork hazard). All or
 * nothing: on failure what this call attached is detached again. added[]
 * (room for KT_SESSION_MAX_ATTACH) gets the paths attached (tg's strings).
 * Returns how many, or -1 with err.
 */
int kt_engine_attach_paths(struct kt_engine *e, const struct kt_targets *tg, bool allow_nop5,
			   const char **added, char *err, size_t errlen);
/* Detaches paths (kt_engine_attach_paths' added, when a later step of a reload failed). */
void kt_engine_detach_paths(struct kt_engine *e, const char *const *paths, int n);
/* Detaches every path that is not in tg, each said through the note. Returns how many. */
int kt_engine_detach_unwanted(struct kt_engine *e, const struct kt_targets *tg);

/* Waits up to timeout_ms for events and aggregates them: how many, or -errno. */
int kt_engine_poll(struct kt_engine *e, int timeout_ms);
/*
 * The engine's housekeeping at time now (CLOCK_MONOTONIC ns), after each
 * poll: sampling, collectors, exits, scope. Returns 1 when every traced
 * process has exited (nothing can follow: no -b target), else 0.
 */
int kt_engine_tick(struct kt_engine *e, uint64_t now);

/* Fills snap with the totals at this moment (--func counts synced from the kernel). */
void kt_engine_snapshot(struct kt_engine *e, struct kt_snapshot *snap);
/* Starts a new interval: the aggregation's interval counts reset at now. */
void kt_engine_interval_reset(struct kt_engine *e, uint64_t now);

/*
 * Detaches every probe, then drains what was left and collects the
 * profile into the folded stacks. 0, or -1 if a collector's data could
 * not be collected (said through the note).
 */
int kt_engine_stop(struct kt_engine *e);
/* Withdraws this tracer's sampling requests (any time, repeatable: for an atexit path). */
void kt_engine_release_sampling(struct kt_engine *e);
/*
 * Frees everything. Returns the command's exit status (it is waited for if
 * it still runs and wait is true), or -1 without a command.
 */
int kt_engine_close(struct kt_engine *e, bool wait);

/* Finds cmd on PATH the way execvp would. 0, or -1 (errno from access()). */
int kt_engine_which(const char *cmd, char *out, size_t n);

/* The frame name of an event in folded stacks (--func events: their function). */
const char *kt_engine_event_name(void *ctx, const struct kt_event *ev);

#endif /* KT_ENGINE_H */
