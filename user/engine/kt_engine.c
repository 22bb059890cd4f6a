// SPDX-License-Identifier: MIT
/*
 * kt_engine: the tracer's start-up order, its cadence and its exit
 * tracking, once for every driver (kt_engine.h says why). It owns the
 * session, the targets, the command it starts and the collectors; it
 * must never print (lines go through opts.note) nor exit.
 */
#include "kt_engine.h"

#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bpf/kaos_trace.skel.h"
#include "kt_features.h"
#include "kt_phase.h"
#include "kt_func.h"
#include "kt_gate.h"
#include "kt_offcpu.h"
#include "kt_alloc.h"
#include "kt_profile.h"

static void say(struct kt_engine *e, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct kt_engine *e, bool warning, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!e->o.note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	e->o.note(e->o.note_ctx, warning, line);
}

/* err gets the formatted line; returns code (for `return fail(...)`). */
static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

const struct argp_option kt_engine_argp_options[] = {
	{"binary", 'b', "PATH", 0,
	 "PATH a program: trace its processes (now and later, children included), wherever "
	 "its probes live; PATH a library (libkaos.so): every process mapping it (repeatable)",
	 0},
	{"sample", KT_OPT_SAMPLE, "N", 0,
	 "Fire probes on every N-th operation (rounded down to a power of two; counts stay "
	 "exact); --sample 1: every operation",
	 0},
	{"budget", KT_OPT_BUDGET, "PCT[%]", 0,
	 "Choose the sampling period per process so tracing costs it at most PCT % of its CPU "
	 "time (default: 1 % unless --sample)",
	 0},
	{"probe-cost", KT_OPT_PROBE_COST, "NS", 0,
	 "Use NS as the cost of one probe hit instead of measuring it at start (a bare number "
	 "is ns; 1.5us)",
	 0},
	{"allow-nop5-sites", KT_OPT_ALLOW_NOP5, NULL, 0,
	 "Trace a program built with old plain 5-byte-nop probe sites even where a child it "
	 "forks could crash (only for programs that never fork)",
	 0},
	{"profile", KT_OPT_PROFILE, "HZ", 0,
	 "Sample the traced processes' user stacks at HZ per CPU: a [cpu] tower in the folded "
	 "stacks (the daemon's: --folded-dir)",
	 0},
	{"off-cpu", KT_OPT_OFF_CPU, NULL, 0,
	 "Time the traced threads spend blocked, by user stack (sched_switch): an [off-cpu] "
	 "tower (weights: ns) in the folded stacks, and a summary (the daemon: /metrics)",
	 0},
	{"off-cpu-min-us", KT_OPT_OFF_CPU_MIN_US, "DURATION", 0,
	 "With --off-cpu: skip blocks shorter than DURATION (5us, 1ms; bare: microseconds; "
	 "default 1us)",
	 0},
	{"pmu", KT_OPT_PMU, "EVENT[,EVENT]", 0,
	 "Per-operation counter values (libpfm4 names, e.g. cpu-clock, cycles; see `pmu list`)", 0},
	{"func", KT_OPT_FUNC, "[LIB:]GLOB", 0,
	 "Time every function matching GLOB in LIB (default: the -p process's executable or "
	 "the -b PATH or -- COMMAND) with an entry and a return uprobe (repeatable)",
	 0},
	{"max-funcs", KT_OPT_MAX_FUNCS, "N", 0,
	 "Refuse --func patterns matching more than N functions (default 64)", 0},
	{"max-rate", KT_OPT_MAX_RATE, "N", 0,
	 "Time at most ~N calls/s per --func function (1 in 2^k); counts stay exact", 0},
	{"no-usdt", KT_OPT_NO_USDT, NULL, 0, "With --func: leave libkaos' USDT probes alone", 0},
	{"alloc", KT_OPT_ALLOC, NULL, 0,
	 "Heap profiling (uprobes on the allocator): allocations, bytes, peak heap, leaks by "
	 "stack; [alloc] and [leak] towers in the folded stacks",
	 0},
	{"alloc-lib", KT_OPT_ALLOC_LIB, "LIB", 0,
	 "With --alloc: the allocator to probe: glibc (default), jemalloc, tcmalloc", 0},
	{"alloc-short", KT_OPT_ALLOC_SHORT, "DURATION", 0,
	 "With --alloc: blocks freed within DURATION are short-lived (default 1ms)", 0},
	{},
};

const char *kt_engine_event_name(void *ctx, const struct kt_event *ev)
{
	struct kt_engine *e = ctx;

	return ev->type == KT_EV_FUNC ? kt_func_name(e->func, ev->ring_id)
				      : kt_event_type_name(ev->type);
}

/* ---------------------------------------------------------------- open */

/* Combinations of options that cannot work, before anything is resolved. */
static int check_opts(const struct kt_engine_opts *o, char *err, size_t errlen)
{
	if (!o->npids && !o->npaths && !o->cmd && !o->service)
		return fail(KT_ENGINE_EBAD, err, errlen,
			    "nothing to trace: give -p PID, -b PATH or -- COMMAND (see --help)");
	if (o->sample && o->budget_pct)
		return fail(KT_ENGINE_EBAD, err, errlen, "--sample and --budget are exclusive");
	if (o->budget_pct && o->no_calibrate && !(o->probe_cost_ns > 0))
		return fail(KT_ENGINE_EBAD, err, errlen,
			    "--budget needs the probe cost: drop --no-calibrate or give "
			    "--probe-cost");
	if (!o->nfuncs && (o->max_funcs || o->max_rate || o->no_usdt))
		return fail(KT_ENGINE_EBAD, err, errlen,
			    "--max-funcs, --max-rate and --no-usdt need --func");
	if (!o->alloc && (o->alloc_lib || o->alloc_short_ns))
		return fail(KT_ENGINE_EBAD, err, errlen,
			    "--alloc-lib and --alloc-short need --alloc");
	return 0;
}

/* Collectors that need no kaos probes: a target without them is watched for them. */
static bool usdt_optional(const struct kt_engine_opts *o)
{
	return o->nfuncs || o->profile_hz || o->off_cpu || o->alloc;
}

/* Finds the command's executable as execvp would (before anything resolves it). */
static int find_command(struct kt_engine *e, char *err, size_t errlen)
{
	const char *cmd = e->o.cmd[0];

	if (!kt_engine_which(cmd, e->child_exe, sizeof(e->child_exe)))
		return 0;
	if (strchr(cmd, '/')) /* a path: say why access() refused it */
		return fail(KT_ENGINE_ENOCMD, err, errlen, "%s: %s", cmd, strerror(errno));
	return fail(KT_ENGINE_ENOCMD, err, errlen, "%s: command not found", cmd);
}

static int resolve_funcs(struct kt_engine *e, char *err, size_t errlen)
{
	const struct kt_engine_opts *o = &e->o;
	struct kt_func_opts fo = {.patterns = o->funcs,
				  .npatterns = o->nfuncs,
				  .pids = o->pids,
				  .npids = o->npids,
				  .paths = o->paths,
				  .npaths = o->npaths,
				  .command = o->cmd ? e->child_exe : NULL,
				  .max_funcs = o->max_funcs,
				  .max_rate = o->max_rate,
				  .warn_pct = o->budget_pct,
				  .stacks = o->stacks,
				  .note = o->note,
				  .note_ctx = o->note_ctx};

	return o->nfuncs && kt_func_resolve(&fo, &e->func, err, errlen) ? KT_ENGINE_EFAIL : 0;
}

/*
 * -p, -b: their kaos probes, or (none there, a collector that needs none)
 * watched only; the start-up line's scope says which.
 */
static int resolve_targets(struct kt_engine *e, char *err, size_t errlen)
{
	const struct kt_engine_opts *o = &e->o;
	int r;

	for (int i = 0; i < o->npids; i++) {
		r = o->no_usdt ? KT_TARGET_NO_PROBES
			       : kt_targets_add_pid(&e->targets, o->pids[i], err, errlen);
		if (r < 0 || (r > 0 && !usdt_optional(o)))
			return KT_ENGINE_EFAIL;
		if (r > 0 && kt_targets_watch_pid(&e->targets, o->pids[i]))
			return fail(KT_ENGINE_EFAIL, err, errlen, "out of memory");
	}
	for (int i = 0; i < o->npaths; i++) {
		r = o->no_usdt ? KT_TARGET_NO_PROBES
			       : kt_targets_add_path(&e->targets, o->paths[i], err, errlen);
		if (r < 0 || (r > 0 && !usdt_optional(o)))
			return KT_ENGINE_EFAIL;
		if (r > 0 && kt_targets_watch_path(&e->targets, o->paths[i]))
			return fail(KT_ENGINE_EFAIL, err, errlen, "out of memory");
		if (r > 0 && !o->nfuncs && !e->targets.v[e->targets.n - 1].program[0])
			return fail(KT_ENGINE_EBAD, err, errlen,
				    "-b %s: a library without kaos probes: --profile and --off-cpu "
				    "follow processes (give its program or -p PID)",
				    o->paths[i]);
	}
	return 0;
}

/* --alloc: each process and program has an allocator to probe (else one line, before loading). */
static int resolve_alloc(struct kt_engine *e, char *err, size_t errlen)
{
	const struct kt_engine_opts *o = &e->o;
	struct kt_alloc_target t;
	enum kt_alloc_lib lib = KT_ALLOC_LIB_GLIBC;

	if (!o->alloc)
		return 0;
	if (o->alloc_lib && kt_alloc_lib_parse(o->alloc_lib, &lib))
		return fail(KT_ENGINE_EBAD, err, errlen,
			    "--alloc-lib %s: unknown allocator (glibc, jemalloc, tcmalloc)",
			    o->alloc_lib);
	for (int i = 0; i < o->npids; i++)
		if (kt_alloc_resolve(lib, o->pids[i], NULL, &t, err, errlen))
			return KT_ENGINE_EBAD;
	if (o->cmd && kt_alloc_resolve(lib, 0, e->child_exe, &t, err, errlen))
		return KT_ENGINE_EBAD;
	return 0;
}

int kt_engine_which(const char *cmd, char *out, size_t n)
{
	const char *path = getenv("PATH");

	if (strchr(cmd, '/')) {
		snprintf(out, n, "%s", cmd);
		return access(out, X_OK);
	}
	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(out, n, "%.*s/%s", (int)len, path, cmd);
		if (access(out, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	return -1;
}

/* The child: waits for the go byte (none: the tracer gave up), then execs. */
static void __attribute__((noreturn))
command_child(const char *exe, char *const *cmd, int go_read, bool to_stderr)
{
	char c;

	if (read(go_read, &c, 1) != 1)
		_exit(127);
	/* an output on stdout (FILE "-") keeps it to itself: the command's goes to stderr */
	if (to_stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(127);
	/*
	 * The file resolved before: execvp's own search would run libc functions
	 * in the child after --func attached (counted as the command's). A
	 * script without #! still goes to execvp's /bin/sh.
	 */
	execv(exe, cmd);
	if (errno == ENOEXEC)
		execvp(cmd[0], cmd);
	/* the only way to tell the user: the child has no driver */
	dprintf(STDERR_FILENO, "kaos-trace: cannot run %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

/* Does path start with "#!" (the kernel runs its interpreter)? */
static bool is_script(const char *path)
{
	char magic[2];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool script = fd >= 0 && read(fd, magic, 2) == 2 && magic[0] == '#' && magic[1] == '!';

	if (fd >= 0)
		close(fd);
	return script;
}

/*
 * Forks the command, held before exec until the probes are attached, and
 * targets its pid in the objects that carry probes (the program or the
 * libkaos.so it needs): tracing covers it from its first operation.
 */
static int start_command(struct kt_engine *e, char *err, size_t errlen)
{
	char *const *cmd = e->o.cmd;
	struct kt_targets found = {0};
	int go[2], rc = 0, r;

	r = e->o.no_usdt ? KT_TARGET_NO_PROBES
			 : kt_targets_add_path(&found, e->child_exe, err, errlen);
	/* a script (pyenv's python3, ./run.sh): its interpreter has no kaos probes either */
	if (r < 0 && usdt_optional(&e->o) && is_script(e->child_exe))
		r = KT_TARGET_NO_PROBES;
	if (r < 0 || (r > 0 && !usdt_optional(&e->o))) {
		kt_targets_free(&found);
		return KT_ENGINE_EFAIL;
	}
	if (pipe2(go, O_CLOEXEC)) {
		kt_targets_free(&found);
		return fail(KT_ENGINE_EFAIL, err, errlen, "pipe: %s", strerror(errno));
	}
	e->child = fork();
	if (e->child == 0) {
		close(go[1]);
		command_child(e->child_exe, cmd, go[0], e->o.command_stdout_to_stderr);
	}
	close(go[0]);
	if (e->child < 0) {
		e->child = 0;
		close(go[1]);
		kt_targets_free(&found);
		return fail(KT_ENGINE_EFAIL, err, errlen, "fork: %s", strerror(errno));
	}
	e->child_go = go[1];
	for (int i = 0; i < found.n && !rc; i++)
		if (kt_targets_add_pid_path(&e->targets, e->child, found.v[i].path, err, errlen))
			rc = KT_ENGINE_EFAIL;
	if (!rc && r > 0 && kt_targets_watch_pid(&e->targets, e->child))
		rc = fail(KT_ENGINE_EFAIL, err, errlen, "out of memory");
	kt_func_command_pid(e->func, e->child);
	kt_targets_free(&found);
	return rc;
}

int kt_engine_open(struct kt_engine *e, const struct kt_engine_opts *opts, char *err, size_t errlen)
{
	int rc;

	memset(e, 0, sizeof(*e));
	e->o = *opts;
	e->child_go = -1;
	e->child_status = -1;
	if (!e->o.ringbuf_bytes)
		e->o.ringbuf_bytes = KT_ENGINE_RINGBUF_DEFAULT;
	if (!e->o.off_cpu_min_ns)
		e->o.off_cpu_min_ns = KT_ENGINE_OFFCPU_MIN_NS;
	if ((rc = check_opts(&e->o, err, errlen)))
		return rc;
	kt_phase("engine opts");
	if (e->o.pmu && (rc = kt_pmu_parse(&e->pmu, e->o.pmu, err, errlen)))
		/* libpfm missing or broken is the machine's fault, not the user's input */
		return rc == -ELIBACC || rc == -ELIBBAD || rc == -ENOSYS ? KT_ENGINE_EFAIL
									 : KT_ENGINE_EBAD;
	/* resolve first: bad input fails before anything is loaded */
	if ((e->o.cmd && (rc = find_command(e, err, errlen))) ||
	    (rc = resolve_funcs(e, err, errlen)) || (rc = resolve_targets(e, err, errlen)) ||
	    (rc = resolve_alloc(e, err, errlen)))
		return rc;
	kt_phase("resolve targets");
	if (e->o.cmd && (rc = start_command(e, err, errlen)))
		return rc;
	kt_phase("start command");
	if (kt_check_privileges(err, errlen))
		return KT_ENGINE_EFAIL;
	kt_phase("privileges");
	return 0;
}

/* ---------------------------------------------------------------- start */

/* kt_features' start-up lines, as the engine's notes. */
static void features_note(void *ctx, const char *line)
{
	say(ctx, false, "%s", line);
}

/* Loads the BPF object (the self-test runs meanwhile) and prices a probe hit. */
static int load_session(struct kt_engine *e, char *err, size_t errlen)
{
	const struct kt_engine_opts *o = &e->o;
	bool priced = o->probe_cost_ns > 0;
	struct kt_session_opts so = {
		/* ids alone filter in the kernel; with a name every ring's events come up */
		.rings = o->nring_names ? NULL : o->rings,
		.nrings = o->nring_names ? 0 : o->nrings,
		.stacks = o->stacks,
		.want_ts = o->want_ts,
		.weight_latency = o->weight_latency,
		.ringbuf_bytes = o->ringbuf_bytes,
		.bpf_log = o->bpf_log,
		.folded = o->folded || o->profile_hz > 0 || o->off_cpu || o->alloc,
		.pmu_nr = (uint32_t)e->pmu.n,
		.pmu_ncpus = (uint32_t)e->pmu.ncpus,
		.scope = kt_targets_need_scope(&e->targets),
		/*
		 * 32 ops a trap where no per-op stack, counter or kernel time is
		 * needed; not with a process scope (-b PROGRAM), which counts the
		 * hits it ignores per op
		 */
		.batch = !o->stacks && !o->want_ts && !o->weight_latency && !o->pmu &&
			 !kt_targets_need_scope(&e->targets) && !getenv("KAOS_TRACE_NO_BATCH"),
	};
	int pe;

	if (o->pmu && (pe = kt_pmu_open(&e->pmu, o->note, o->note_ctx)))
		return fail(KT_ENGINE_EFAIL, err, errlen, "--pmu: %s", strerror(-pe));
	/* --no-calibrate and --probe-cost skip every self-probe at start */
	if (kt_features_check(&e->targets, !o->no_calibrate && !priced, features_note, e, err,
			      errlen))
		return KT_ENGINE_EFAIL;
	kt_phase("features check");
	if (kt_session_open(&e->s, &so, err, errlen)) {
		e->bpf_log = true;
		return KT_ENGINE_EFAIL;
	}
	e->session_open = true;
	e->s.event_name = kt_engine_event_name;
	e->s.event_name_ctx = e;
	e->s.sampling = kt_sampling_from_flags(o->sample, o->budget_pct);
	e->s.note = o->note;
	e->s.note_ctx = o->note_ctx;
	if (e->pmu.n && (pe = kt_pmu_fill_map(&e->pmu, bpf_map__fd(e->s.skel->maps.pmu_events))))
		return fail(KT_ENGINE_EFAIL, err, errlen,
			    "--pmu: cannot give the counters to BPF: %s", strerror(-pe));
	if (priced)
		e->s.hit_ns = o->probe_cost_ns;
	else if (!o->no_calibrate)
		kt_session_calibrate(&e->s);
	kt_phase("calibrate");
	return 0;
}

/* --func: its own BPF object, sharing the ring buffer and the counters. */
static int load_func(struct kt_engine *e, char *err, size_t errlen)
{
	if (!e->func)
		return 0;
	if (kt_func_load(e->func, bpf_map__fd(e->s.skel->maps.events),
			 bpf_map__fd(e->s.skel->maps.kt_stats), e->o.ringbuf_bytes / 16, err,
			 errlen)) {
		e->bpf_log = true;
		return KT_ENGINE_EFAIL;
	}
	if ((!e->o.no_calibrate && kt_func_calibrate(e->func, err, errlen)) ||
	    kt_func_attach(e->func, err, errlen))
		return KT_ENGINE_EFAIL;
	return 0;
}

/* Appends one "; "-separated part to buf (truncated if it does not fit). */
__attribute__((format(printf, 3, 4))) static void scope_append(char *buf, size_t n, const char *fmt,
							       ...)
{
	size_t len = strlen(buf);
	va_list ap;

	if (len + 3 >= n)
		return;
	if (len)
		len += (size_t)snprintf(buf + len, n - len, "; ");
	va_start(ap, fmt);
	vsnprintf(buf + len, n - len, fmt, ap);
	va_end(ap);
}

/* " (no kaos probes there: --func, --profile)": what traces a watch-only target. */
static void probe_free_note(const struct kt_engine_opts *o, char *buf, size_t n)
{
	bool other = o->profile_hz || o->off_cpu;

	snprintf(buf, n, " (no kaos probes there: %s%s%s%s%s%s%s)", o->nfuncs ? "--func" : "",
		 o->nfuncs && other ? ", " : "", o->profile_hz ? "--profile" : "",
		 o->profile_hz && o->off_cpu ? ", " : "", o->off_cpu ? "--off-cpu" : "",
		 o->alloc && (o->nfuncs || other) ? ", " : "", o->alloc ? "--alloc" : "");
}

/* A pid target: in the scope (with one), and said once per pid. */
static int scope_pid(struct kt_engine *e, int i, const char *none, char *err, size_t errlen)
{
	const struct kt_target *tg = &e->targets.v[i];
	const char *why = kt_target_watch_only(tg) ? none : "";

	if (e->s.scope && kt_session_scope_pid(&e->s, tg->pid))
		return fail(KT_ENGINE_EFAIL, err, errlen,
			    "pid %d: cannot add it to the process scope", (int)tg->pid);
	if (i && tg->pid == e->targets.v[i - 1].pid)
		return 0; /* one pid, several objects */
	if (tg->pid == e->child)
		scope_append(e->scope, sizeof(e->scope), "the command (pid %d)%s", (int)tg->pid,
			     why);
	else
		scope_append(e->scope, sizeof(e->scope), "pid %d%s", (int)tg->pid, why);
	return 0;
}

/*
 * Says which processes are traced (the start-up line and the report), and
 * with a scope (-b PROGRAM whose probes are in libkaos.so) adds the -p
 * pids, the command and each program's processes to it.
 */
static int setup_scope(struct kt_engine *e, char *err, size_t errlen)
{
	char none[96];

	probe_free_note(&e->o, none, sizeof(none));
	for (int i = 0; i < e->targets.n; i++) {
		const struct kt_target *tg = &e->targets.v[i];
		bool watch = kt_target_watch_only(tg);
		int n = 0;

		if (tg->pid > 0) {
			if (scope_pid(e, i, none, err, errlen))
				return KT_ENGINE_EFAIL;
			continue;
		}
		if (watch && tg->program[0])
			scope_append(e->scope, sizeof(e->scope), "processes of %s, now and later%s",
				     tg->program, none);
		if (watch)
			continue;
		if (!tg->program[0]) {
			scope_append(e->scope, sizeof(e->scope), "every process mapping %s",
				     tg->path);
			continue;
		}
		if (e->s.scope &&
		    (n = kt_session_scope_program(&e->s, tg->program, err, errlen)) < 0)
			return KT_ENGINE_EFAIL;
		scope_append(e->scope, sizeof(e->scope),
			     "processes of %s, now and later, children included (%d running)",
			     tg->program, n);
	}
	return 0;
}

/* Attaches every probe of every target (watch-only targets have no path). */
static int attach_targets(struct kt_engine *e, char *err, size_t errlen)
{
	/* where to attach on combined probe sites: the self-test ran meanwhile */
	if (kt_features_site_finish(e->o.allow_nop5, features_note, e, err, errlen) < 0)
		return KT_ENGINE_EFAIL;
	kt_phase("site test finish");
	for (int i = 0; i < e->targets.n; i++) {
		struct kt_target *tg = &e->targets.v[i];

		if (tg->path[0] &&
		    kt_session_attach(&e->s, tg->pid > 0 ? tg->pid : -1, tg->path, err, errlen))
			return KT_ENGINE_EFAIL;
		kt_phase("attach target");
	}
	return setup_scope(e, err, errlen);
}

/* --alloc: the -p pids and the command (held before exec: exact) now, -b processes as they come. */
static int open_alloc(struct kt_engine *e, char *err, size_t errlen)
{
	struct kt_alloc_opts ao = {.short_ns = e->o.alloc_short_ns,
				   .exact = e->o.cmd && !e->o.npids && !e->o.npaths,
				   .no_cost =
					   e->o.no_calibrate, /* the cost is measured by probing */
				   .budget_pct = e->o.budget_pct};
	struct kt_alloc_target t;

	if (e->o.alloc_lib)
		kt_alloc_lib_parse(e->o.alloc_lib, &ao.lib);
	if (kt_alloc_open(&e->alloc, &ao, e->s.sym, err, errlen))
		return KT_ENGINE_EFAIL;
	kt_alloc_set_start(e->alloc, e->s.t_start);
	kt_alloc_bind(e->alloc, &e->s.agg);
	if (kt_session_add_hook(&e->s, kt_alloc_on_event, e->alloc))
		return fail(KT_ENGINE_EFAIL, err, errlen, "alloc: too many event hooks");
	for (int i = 0; i < e->o.npids; i++)
		if (kt_alloc_resolve(ao.lib, e->o.pids[i], NULL, &t, err, errlen) ||
		    kt_alloc_attach(e->alloc, e->o.pids[i], &t, err, errlen))
			return KT_ENGINE_EFAIL;
	if (e->child && (kt_alloc_resolve(ao.lib, 0, e->child_exe, &t, err, errlen) ||
			 kt_alloc_attach(e->alloc, e->child, &t, err, errlen)))
		return KT_ENGINE_EFAIL;
	return 0;
}

/* The stack collectors: -p targets now, the command once it runs, -b ones as they appear. */
static int open_collectors(struct kt_engine *e, char *err, size_t errlen)
{
	if (e->o.profile_hz) {
		if (kt_profile_open(&e->prof, e->o.profile_hz, e->s.sym, err, errlen))
			return KT_ENGINE_EFAIL;
		if (e->child)
			kt_profile_add_pid(e->prof, (uint32_t)e->child);
	}
	if (e->o.off_cpu) {
		if (kt_offcpu_open(&e->offcpu, e->o.off_cpu_min_ns, e->s.sym, err, errlen))
			return KT_ENGINE_EFAIL;
		if (e->child)
			kt_offcpu_add_pid(e->offcpu, (uint32_t)e->child);
	}
	return e->o.alloc ? open_alloc(e, err, errlen) : 0;
}

int kt_engine_start(struct kt_engine *e, char *err, size_t errlen)
{
	int rc;

	if ((rc = load_session(e, err, errlen)) || (rc = load_func(e, err, errlen)))
		return rc;
	if (e->o.service &&
	    kt_features_site_finish(e->o.allow_nop5, features_note, e, err, errlen) < 0)
		return KT_ENGINE_EFAIL;
	if (!e->o.service && (rc = attach_targets(e, err, errlen)))
		return rc;
	kt_session_start(&e->s);
	e->t_iv = e->s.t_start;
	e->next_sampling = e->s.t_start + KT_ENGINE_SAMPLING_NS;
	e->next_sweep = e->s.t_start + KT_ENGINE_SWEEP_NS;
	e->s.agg.npmu = e->pmu.n;
	e->ring_filter = (struct kt_ring_filter){.ids = e->o.rings,
						 .nids = e->o.nrings,
						 .names = e->o.ring_names,
						 .nnames = e->o.nring_names};
	if (e->o.nring_names)
		e->s.agg.ring_filter = &e->ring_filter;
	memcpy(e->s.agg.pmu_names, e->pmu.names, sizeof(e->s.agg.pmu_names));
	if (e->func)
		kt_func_bind(e->func, &e->s.agg);
	/* report traced pids even if they never fire (the command: once it runs) */
	for (int i = 0; i < e->targets.n; i++)
		if (e->targets.v[i].pid > 0 && e->targets.v[i].pid != e->child)
			kt_agg_proc(&e->s.agg, (uint32_t)e->targets.v[i].pid);
	if ((rc = open_collectors(e, err, errlen)))
		return rc;
	kt_phase("scope, collectors");
	kt_session_update_sampling(&e->s, false);
	kt_phase("sampling request");
	return 0;
}

int kt_engine_resume_command(struct kt_engine *e, char *err, size_t errlen)
{
	if (e->child_go < 0 || !e->child)
		return 0;
	if (e->s.skel)
		kt_session_wake_at_first_hit(&e->s, e->child);
	if (write(e->child_go, "g", 1) != 1)
		return fail(KT_ENGINE_EFAIL, err, errlen, "cannot start the command: %s",
			    strerror(errno));
	close(e->child_go);
	e->child_go = -1;
	return 0;
}

/* ---------------------------------------------------------------- reconfiguration */

/* A file replaced on disk (an upgrade) needs a fresh attach. */
static bool replaced_on_disk(const struct kt_attachment *a)
{
	struct stat st;

	return stat(a->path, &st) == 0 && (st.st_ino != a->ino || st.st_dev != a->dev);
}

static bool in_targets(const struct kt_targets *tg, const char *path)
{
	for (int i = 0; i < tg->n; i++)
		if (!strcmp(tg->v[i].path, path))
			return true;
	return false;
}

int kt_engine_attach_paths(struct kt_engine *e, const struct kt_targets *tg, bool allow_nop5,
			   const char **added, char *err, size_t errlen)
{
	int n = 0;

	for (int i = 0; i < tg->n; i++) {
		const char *path = tg->v[i].path;
		struct kt_attachment *a = kt_session_find(&e->s, -1, path);

		if (a && !replaced_on_disk(a))
			continue;
		if (a)
			kt_session_detach(&e->s, -1, path);
		/* the fork hazard on kernels that optimise nop5 (docs/probes.md) */
		if (!allow_nop5 && kt_site_of(path, "kaos", NULL) == KT_SITE_NOP5) {
			snprintf(err, errlen,
				 "%.512s: its probe sites are plain 5-byte nops, which kernels "
				 "with the uprobe nop5 optimisation turn into CALLs (a child it "
				 "forks while traced dies with SIGSEGV); rebuild it with current "
				 "libkaos, or set allow_nop5_sites (--allow-nop5-sites)",
				 path);
			goto fail;
		}
		if (kt_session_attach(&e->s, -1, path, err, errlen))
			goto fail;
		added[n++] = path;
	}
	return n;
fail:
	kt_engine_detach_paths(e, added, n);
	return -1;
}

void kt_engine_detach_paths(struct kt_engine *e, const char *const *paths, int n)
{
	for (int i = 0; i < n; i++)
		kt_session_detach(&e->s, -1, paths[i]);
}

int kt_engine_detach_unwanted(struct kt_engine *e, const struct kt_targets *tg)
{
	int n = 0;

	for (int i = 0; i < e->s.natt;) {
		const char *path = e->s.att[i]->path;

		if (in_targets(tg, path)) {
			i++;
			continue;
		}
		say(e, false, "detached from %s (no longer watched)", path);
		kt_session_detach(&e->s, -1, path); /* moves the last attachment to i */
		n++;
	}
	return n;
}

/* ---------------------------------------------------------------- running */

int kt_engine_poll(struct kt_engine *e, int timeout_ms)
{
	return kt_session_poll(&e->s, timeout_ms);
}

/* Marks pid exited, as a target and as an aggregated process. */
static void mark_exited(struct kt_engine *e, pid_t pid)
{
	struct kt_proc *p;

	for (int j = 0; j < e->targets.n; j++)
		if (e->targets.v[j].pid == pid)
			e->targets.v[j].exited = true;
	for (p = e->s.agg.procs; p; p = p->next)
		if (p->pid == (uint32_t)pid)
			p->exited = true;
}

/* Our own command: reaped here (a zombie still answers kill(pid, 0)). */
static void reap_command(struct kt_engine *e)
{
	int status;

	if (!e->child || e->child_status >= 0 || waitpid(e->child, &status, WNOHANG) != e->child)
		return;
	e->child_status = kt_wait_status(status);
	mark_exited(e, e->child);
	say(e, false, "command exited with status %d", e->child_status);
}

/*
 * The one place that notices exits: the command, the -p pids (said), and,
 * with full, every other aggregated process (-b: marked, not said).
 */
static void track_exits(struct kt_engine *e, bool full)
{
	reap_command(e);
	for (int i = 0; i < e->targets.n; i++) {
		struct kt_target *tg = &e->targets.v[i];

		if (tg->pid <= 0 || tg->exited || tg->pid == e->child)
			continue;
		if (kill(tg->pid, 0) != 0 && errno == ESRCH) {
			kt_agg_proc(&e->s.agg, (uint32_t)tg->pid);
			mark_exited(e, tg->pid);
			say(e, false, "pid %d exited", tg->pid);
		}
	}
	if (full)
		kt_session_check_exited(&e->s);
}

static void add_program_proc(void *agg, pid_t pid)
{
	kt_agg_proc(agg, (uint32_t)pid);
}

/*
 * --profile and --off-cpu follow the processes in agg: a -b PROGRAM without
 * kaos probes sends no event that would add its processes, so they are
 * looked up in /proc (now, and by each later call).
 */
static void watch_programs(struct kt_engine *e)
{
	struct stat st;

	if (!e->prof && !e->offcpu && !e->alloc)
		return;
	for (int i = 0; i < e->targets.n; i++) {
		const struct kt_target *tg = &e->targets.v[i];

		if (!tg->pid && kt_target_watch_only(tg) && tg->program[0] &&
		    !stat(tg->program, &st))
			kt_program_pids(&st, add_program_proc, &e->s.agg);
	}
}

/* 1 when every target is a process and each has exited. */
static int all_exited(const struct kt_engine *e)
{
	int live = 0;

	for (int i = 0; i < e->targets.n; i++) {
		if (e->targets.v[i].pid <= 0)
			return 0; /* a path target follows future processes */
		live += !e->targets.v[i].exited;
	}
	return live == 0;
}

/* --alloc: the command in the report (named after its program if it is gone). */
static void add_alloc_command(struct kt_engine *e)
{
	struct kt_proc *p = kt_agg_proc(&e->s.agg, (uint32_t)e->child);
	const char *base = strrchr(e->child_exe, '/');

	if (p && (!p->comm[0] || !strcmp(p->comm, "?")))
		snprintf(p->comm, sizeof(p->comm), "%.15s", base ? base + 1 : e->child_exe);
}

/* --alloc: a process whose exec mapped another allocator (the probes followed it) is said. */
static void say_alloc_moves(struct kt_engine *e)
{
	char path[4096];
	pid_t pid;

	while (kt_alloc_next_move(e->alloc, &pid, path, sizeof(path)))
		say(e, false,
		    "alloc: pid %d exec'd into another allocator (%s): probed from now on",
		    (int)pid, path);
}

int kt_engine_tick(struct kt_engine *e, uint64_t now)
{
	bool full = now >= e->next_sampling;

	/* one cadence: everything in full every KT_ENGINE_SAMPLING_NS, new processes always */
	kt_session_update_sampling(&e->s, !full);
	if (full) {
		kt_session_check_cost(&e->s);
		e->next_sampling = now + KT_ENGINE_SAMPLING_NS;
	}
	kt_func_tick(e->func, &e->s.agg, now);
	if (now >= e->next_watch) {
		watch_programs(e);
		e->next_watch = now + KT_ENGINE_WATCH_PROGRAMS_NS;
	}
	if (e->prof) {
		/* -p targets are known; -b processes once they produce events */
		for (struct kt_proc *p = e->s.agg.procs; p; p = p->next)
			kt_profile_add_pid(e->prof, p->pid);
		kt_profile_refresh(e->prof);
	}
	kt_offcpu_tick(e->offcpu, &e->s.agg);
	kt_alloc_tick(e->alloc, &e->s.agg);
	say_alloc_moves(e);
	/* a command without kaos probes joins the report (its "alloc") once it allocates */
	if (e->child && kt_alloc_pid_allocated(e->alloc, e->child))
		add_alloc_command(e);
	track_exits(e, full);
	if (e->s.scope && now >= e->next_sweep) {
		kt_session_scope_sweep(&e->s);
		e->next_sweep = now + KT_ENGINE_SWEEP_NS;
	}
	return all_exited(e);
}

void kt_engine_snapshot(struct kt_engine *e, struct kt_snapshot *snap)
{
	struct kt_report_totals *tot = &snap->tot;
	uint64_t sc[KT_SCOPE_STAT_NR];

	snap->now_ns = kt_now_ns(CLOCK_MONOTONIC);
	kt_func_sync(e->func, &e->s.agg); /* exact counts from the kernel */
	kt_session_totals(&e->s, tot);
	tot->func_calibrated = kt_func_calibrated(e->func);
	kt_func_stats(e->func, tot->func_stats);
	tot->elapsed_s = (double)(snap->now_ns - e->s.t_start) / 1e9;
	tot->interval_s = (double)(snap->now_ns - e->t_iv) / 1e9;
	tot->lost_iv0 = e->lost_iv0;
	tot->fired_iv0 = e->fired_iv0;
	tot->delivered_iv0 = e->delivered_iv0;
	tot->scope = e->scope;
	kt_session_scope_stats(&e->s, sc);
	tot->out_of_scope = sc[KT_SCOPE_OTHER];
	tot->scope_full = sc[KT_SCOPE_FULL];
	tot->exec_lost = sc[KT_SCOPE_EXEC_LOST];
	snap->agg = &e->s.agg;
	snap->folded = e->s.folded;
	snap->sym = e->s.sym;
}

void kt_engine_interval_reset(struct kt_engine *e, uint64_t now)
{
	struct kt_report_totals tot;

	kt_session_totals(&e->s, &tot);
	kt_agg_interval_reset(&e->s.agg);
	/* the next interval starts now */
	e->lost_iv0 = tot.lost;
	e->fired_iv0 = tot.fired;
	e->delivered_iv0 = tot.delivered;
	e->t_iv = now;
}

/* ---------------------------------------------------------------- stop */

int kt_engine_stop(struct kt_engine *e)
{
	struct kt_profile_stats ps;
	int np;

	if (!e->session_open)
		return 0;
	/* detach first, then drain what is left: nothing is lost on the way out */
	kt_session_detach_all(&e->s);
	kt_func_detach(e->func);
	kt_session_consume(&e->s);
	if (e->alloc && e->child) /* in the report even if it never allocated */
		add_alloc_command(e);
	if (!e->prof)
		return 0;
	np = kt_profile_collect(e->prof, e->s.folded);
	kt_profile_get_stats(e->prof, &ps);
	say(e, np < 0,
	    "profile: %llu samples at %u Hz on %d CPUs (%llu without a user stack, %llu "
	    "lost, %llu unfolded: their stack was freed before it was read, folded as "
	    "[no-stack])%s",
	    (unsigned long long)ps.samples, e->o.profile_hz, ps.ncpus,
	    (unsigned long long)ps.stack_err, (unsigned long long)ps.lost,
	    (unsigned long long)ps.unfolded, np < 0 ? ": collecting them failed" : "");
	kt_profile_free(e->prof);
	e->prof = NULL;
	return np < 0 ? -1 : 0;
}

void kt_engine_release_sampling(struct kt_engine *e)
{
	if (e->session_open)
		kt_session_release_sampling(&e->s);
}

int kt_engine_close(struct kt_engine *e, bool wait)
{
	int status = -1;

	if (e->child_go >= 0)
		close(e->child_go); /* never resumed: the command exits 127 without running */
	e->child_go = -1;
	kt_profile_free(e->prof);
	kt_offcpu_free(e->offcpu);
	kt_alloc_free(e->alloc);
	if (e->session_open)
		kt_session_close(&e->s);
	e->session_open = false;
	kt_func_free(e->func);
	kt_pmu_close(&e->pmu);
	kt_targets_free(&e->targets);
	if (e->child) {
		int ws;

		/* stopped early: let it finish */
		if (e->child_status < 0 && wait && waitpid(e->child, &ws, 0) == e->child)
			e->child_status = kt_wait_status(ws);
		status = e->child_status > 0 ? e->child_status : 0;
	}
	memset(e, 0, sizeof(*e));
	e->child_go = -1;
	return status;
}
