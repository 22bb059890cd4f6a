// SPDX-License-Identifier: MIT
/*
 * kaos-trace top: the driver (kt_top.h). It runs the engine like the
 * one-shot does (open, start, resume the command, poll + tick), and every
 * refresh interval turns the engine's snapshot into the model's rows and
 * starts a new interval (kt_engine_interval_reset): the rows are the last
 * interval's figures.
 *
 * The terminal is the one thing top must give back whatever happens: curses
 * starts only once the engine runs (errors before it are plain lines on
 * stderr), signals only set a flag so the loop ends through the one way out,
 * and an atexit handler closes curses for any exit() on the way (argp's,
 * a library's). SIGKILL cannot be caught: `reset` repairs the terminal.
 *
 * The engine's notes would scribble over the screen: they go to the status
 * line (and to stderr in plain mode). A command we start (-- COMMAND) must
 * not read our keys nor write over the screen: with a screen, its stdin is
 * /dev/null and its output goes to --command-output FILE (default
 * /dev/null). When it and every other traced process has exited, the last
 * frame stays up with a line saying so, until q; in plain mode top ends
 * after a final block. q while the command still runs leaves it running,
 * untraced (we never kill a traced process).
 */
#include "kt_top.h"

#include <argp.h>
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kt_addons.h"
#include "kt_args.h"
#include "kt_clock.h"
#include "kt_engine.h"
#include "kt_features.h"
#include "kt_rule.h"
#include "kt_top_model.h"
#include "kt_top_view.h"
#include "kt_units.h"

#define TOP_MAX 64

struct top_opts {
	pid_t pids[TOP_MAX];
	int npids;
	const char *paths[TOP_MAX];
	int npaths;
	uint32_t rings[TOP_MAX];
	int nrings;
	const char *ring_names[TOP_MAX];
	int nring_names;
	const char *funcs[TOP_MAX];
	int nfuncs;
	char **cmd;
	uint64_t interval_ns;
	uint64_t iterations; /* -n: stop after this many refreshes (0: never) */
	bool plain;
	const char *cmd_output;
	const char *alerts[TOP_MAX]; /* --alert RULE */
	int nalerts;
	const char *alert_log;
	struct kt_engine_opts eo; /* the shared engine options as parsed */
};

struct top {
	struct top_opts o;
	struct kt_engine e;
	struct kt_top_model m;
	struct kt_top_view v;
	struct kt_oneshot *extras; /* --alert: the one-shot's rules and windows */
	bool screen;		   /* curses (else plain text) */
	bool fds_moved;		   /* our stderr is the command's for a moment: notes wait */
	bool ended;		   /* every traced process exited: no more refreshes */
	uint64_t refreshes;
};

static struct top top; /* one per process: the atexit handler and the signals reach it */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void restore_at_exit(void)
{
	kt_top_view_close(&top.v);
	kt_engine_release_sampling(&top.e);
}

static void note(void *ctx, bool warning, const char *line)
{
	struct top *t = ctx;

	(void)warning;
	snprintf(t->v.status, sizeof(t->v.status), "%s", line);
	if (!t->v.active && !t->fds_moved)
		fprintf(stderr, "kaos-trace: %s\n", line);
}

/* ---------------------------------------------------------------- options */

enum { OPT_PLAIN = 4000, OPT_CMD_OUTPUT, OPT_ALERT, OPT_ALERT_LOG };

static const struct argp_option top_options[] = {
	{"pid", 'p', "PID", 0, "Trace this process (repeatable)", 0},
	{"interval", 'd', "DURATION", 0, "Refresh every DURATION (default 1s; bare: seconds)", 0},
	{"iterations", 'n', "N", 0, "Stop after N refreshes", 0},
	{"ring", 'r', "ID|NAME", 0, "Only this ring (repeatable)", 0},
	{"plain", OPT_PLAIN, NULL, 0, "Plain text blocks even on a terminal", 0},
	{"command-output", OPT_CMD_OUTPUT, "FILE", 0,
	 "With a screen, where the output of -- COMMAND goes (default /dev/null)", 0},
	{"alert", OPT_ALERT, "RULE", 0,
	 "Alert rule, e.g. 'send.p99 > 1us' (repeatable; whole run unless 'over'): its state "
	 "on a line of its own",
	 0},
	{"alert-log", OPT_ALERT_LOG, "FILE", 0,
	 "Alert transitions as JSON lines (default: stderr in plain mode, none on a screen)", 0},
	{NULL, 'h', NULL, 0, "Give this help list (as -?, --help)", -1},
	{},
};

static int bad(const char *fmt, const char *arg)
{
	fputs("kaos-trace top: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return EINVAL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (*s == '-' || errno || end == s || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

static int add_ring(struct top_opts *o, const char *arg)
{
	char msg[256];
	uint32_t id;
	bool is_id;

	if (o->nrings + o->nring_names == TOP_MAX)
		return bad("too many -r (max %s)", "64");
	if (kt_args_ring(arg, &is_id, &id, msg, sizeof(msg)))
		return bad("%s", msg);
	if (is_id)
		o->rings[o->nrings++] = id;
	else
		o->ring_names[o->nring_names++] = arg;
	return 0;
}

/* top's own options: -p -d -n -r --plain --command-output. */
static int parse_top_opt(struct top_opts *o, int key, char *arg)
{
	uint64_t v;

	switch (key) {
	case 'p':
		if (o->npids == TOP_MAX || parse_u64(arg, 1, INT_MAX, &v))
			return bad("invalid pid '%s'", arg);
		o->pids[o->npids++] = (pid_t)v;
		return 0;
	case 'd':
		if (kt_parse_duration_in(arg, KT_NS_PER_S, &v) || v < 100 * KT_NS_PER_MS ||
		    v > 3600 * KT_NS_PER_S)
			return bad(
				"invalid interval '%s' (100ms..1h, e.g. 1s, 500ms; bare: seconds)",
				arg);
		o->interval_ns = v;
		return 0;
	case 'n':
		if (parse_u64(arg, 1, UINT32_MAX, &o->iterations))
			return bad("invalid iteration count '%s' (1 or more)", arg);
		return 0;
	case 'r':
		return add_ring(o, arg);
	case OPT_PLAIN:
		o->plain = true;
		return 0;
	case OPT_CMD_OUTPUT:
		o->cmd_output = arg;
		return 0;
	case OPT_ALERT: {
		struct kt_rule r;
		struct kt_rule_error re;
		char eb[256];

		if (o->nalerts == TOP_MAX)
			return bad("too many --alert (max %s)", "64");
		if (kt_rule_parse(arg, &r, &re)) {
			fprintf(stderr, "kaos-trace top: --alert '%s': %s\n", arg,
				kt_rule_strerror(&re, eb, sizeof(eb)));
			return EINVAL;
		}
		o->alerts[o->nalerts++] = arg;
		return 0;
	}
	case OPT_ALERT_LOG:
		o->alert_log = arg;
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

/* The shared engine options (kt_engine_argp_options) top has a use for. */
static int parse_engine_opt(struct top_opts *o, int key, char *arg)
{
	uint64_t v;

	switch (key) {
	case 'b':
		if (o->npaths == TOP_MAX)
			return bad("too many -b (max %s)", "64");
		o->paths[o->npaths++] = arg;
		return 0;
	case KT_OPT_SAMPLE:
		if (parse_u64(arg, 1, 1u << 30, &v))
			return bad("invalid sample period '%s' (1..2^30)", arg);
		o->eo.sample = (uint32_t)v;
		return 0;
	case KT_OPT_BUDGET:
		if (kt_parse_percent(arg, &o->eo.budget_pct) || !(o->eo.budget_pct >= 0.0001) ||
		    o->eo.budget_pct > 100)
			return bad("invalid budget '%s' (a percentage 0.0001..100)", arg);
		return 0;
	case KT_OPT_PROBE_COST:
		if (kt_parse_duration_in(arg, 1, &v) || !v || v > KT_NS_PER_S)
			return bad("invalid probe cost '%s' (e.g. 1500, 1.5us)", arg);
		o->eo.probe_cost_ns = (double)v;
		return 0;
	case KT_OPT_ALLOW_NOP5:
		o->eo.allow_nop5 = true;
		return 0;
	case KT_OPT_FUNC:
		if (o->nfuncs == TOP_MAX)
			return bad("too many --func (max %s)", "64");
		o->funcs[o->nfuncs++] = arg;
		return 0;
	case KT_OPT_MAX_FUNCS:
		if (parse_u64(arg, 1, 1u << 20, &v))
			return bad("invalid --max-funcs '%s'", arg);
		o->eo.max_funcs = (uint32_t)v;
		return 0;
	case KT_OPT_MAX_RATE:
		if (parse_u64(arg, 1, 1ull << 32, &o->eo.max_rate))
			return bad("invalid --max-rate '%s'", arg);
		return 0;
	case KT_OPT_NO_USDT:
		o->eo.no_usdt = true;
		return 0;
	case KT_OPT_PMU:
		return bad("%s: top has no view of counters (use kaos-trace --pmu)", "--pmu");
	case KT_OPT_ALLOC:
	case KT_OPT_ALLOC_LIB:
	case KT_OPT_ALLOC_SHORT:
		return bad("%s: top has no view of allocations (use kaos-trace --alloc)",
			   "--alloc");
	case KT_OPT_PROFILE:
	case KT_OPT_OFF_CPU:
	case KT_OPT_OFF_CPU_MIN_US:
		/* refused, not ignored: nothing top would show, and the collector costs */
		return bad("%s: top has no view of stacks (use kaos-trace --folded FILE)",
			   key == KT_OPT_PROFILE ? "--profile" : "--off-cpu");
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct top_opts *o = state->input;
	int e;

	if (key == ARGP_KEY_INIT) {
		state->err_stream = NULL; /* getopt's own line names a bad option */
		if (state->child_inputs)
			state->child_inputs[0] = o;
		return 0;
	}
	if (key == 'h')
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP); /* exits 0, as -? does */
	if (key == ARGP_KEY_ARG)
		return bad("unexpected argument '%s': to trace a command, put -- before it", arg);
	if ((e = parse_top_opt(o, key, arg)) != ARGP_ERR_UNKNOWN)
		return e;
	return parse_engine_opt(o, key, arg);
}

/* Parses argv; the words after the first "--" are the command. 0 or an exit status. */
static int parse_args(struct top_opts *o, int argc, char **argv)
{
	static const char doc[] =
		"A live view of the traced rings: msgs/s, send/recv/sojourn percentiles of the "
		"last interval, backpressure, lost events, the class, a p99 sparkline.\v"
		"Keys: Space pause, s/F6 next sort column, S reverse, / or f filter (Enter "
		"apply, Esc clear), Enter detail of the selected row, arrows PgUp PgDn Home End "
		"select, Esc back, q/F10 quit. Without a terminal on stdout (or with --plain): "
		"one text block per refresh.\n";
	static const struct argp engine_argp = {
		kt_engine_argp_options, parse_opt, NULL, NULL, NULL, NULL, NULL};
	static const struct argp_child children[] = {
		{&engine_argp, 0,
		 "Targets, collectors and sampling (as in one-shot kaos-trace):", 0},
		{}};
	static const struct argp argp = {
		top_options, parse_opt, "[-- COMMAND [ARG...]]", doc, children, NULL, NULL};
	int n = argc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			n = i;
			o->cmd = i + 1 < argc ? &argv[i + 1] : NULL;
			break;
		}
	if (n < argc && !o->cmd)
		return bad("%s", "nothing after --: give the command to trace"), 2;
	if (argp_parse(&argp, n, argv, ARGP_IN_ORDER, NULL, o))
		return 2;
	if (!o->npids && !o->npaths && !o->cmd)
		return bad("%s", "nothing to trace: give -p PID, -b PATH or -- COMMAND"), 2;
	if (o->cmd_output && !o->cmd)
		return bad("%s", "--command-output needs -- COMMAND"), 2;
	if (o->alert_log && !o->nalerts)
		return bad("%s", "--alert-log needs at least one --alert RULE"), 2;
	return 0;
}

/* ---------------------------------------------------------------- start */

static void fill_engine_opts(struct top *t)
{
	struct kt_engine_opts *eo = &t->o.eo;

	eo->pids = t->o.pids;
	eo->npids = t->o.npids;
	eo->paths = t->o.paths;
	eo->npaths = t->o.npaths;
	eo->cmd = t->o.cmd;
	eo->rings = t->o.rings;
	eo->nrings = t->o.nrings;
	eo->ring_names = t->o.ring_names;
	eo->nring_names = t->o.nring_names;
	eo->funcs = t->o.funcs;
	eo->nfuncs = t->o.nfuncs;
	eo->ringbuf_bytes = KT_ENGINE_RINGBUF_DEFAULT;
	/* plain mode: our blocks take stdout, the command's output goes to stderr */
	eo->command_stdout_to_stderr = !t->screen;
	eo->note = note;
	eo->note_ctx = t;
}

/* fd now refers to path (opened with flags); the old one kept in *saved. 0 or -errno. */
static int redirect(int fd, const char *path, int flags, int *saved)
{
	int nfd = open(path, flags | O_CLOEXEC, 0644);

	if (nfd < 0)
		return -errno;
	*saved = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* the command must not inherit it */
	if (*saved < 0 || dup2(nfd, fd) < 0) {
		int e = -errno;

		close(nfd);
		return e;
	}
	close(nfd);
	return 0;
}

/*
 * kt_engine_open forks the command: with a screen it must inherit neither
 * our terminal as stdin (it would take our keys) nor as stdout/stderr (it
 * would write over the screen). Our own fds are put back right after.
 */
static int open_engine(struct top *t, char *err, size_t n)
{
	const char *out = t->o.cmd_output ? t->o.cmd_output : "/dev/null";
	int saved[3] = {-1, -1, -1}, rc, e = 0;

	if (!t->screen || !t->o.cmd)
		return kt_engine_open(&t->e, &t->o.eo, err, n);
	fflush(stdout);
	fflush(stderr);
	t->fds_moved = true;
	if ((e = redirect(0, "/dev/null", O_RDONLY, &saved[0])) ||
	    (e = redirect(1, out, O_WRONLY | O_CREAT | O_APPEND, &saved[1])) ||
	    (e = redirect(2, out, O_WRONLY | O_CREAT | O_APPEND, &saved[2])))
		rc = KT_ENGINE_EFAIL;
	else
		rc = kt_engine_open(&t->e, &t->o.eo, err, n);
	for (int fd = 0; fd < 3; fd++)
		if (saved[fd] >= 0) {
			dup2(saved[fd], fd);
			close(saved[fd]);
		}
	t->fds_moved = false;
	if (t->v.status[0]) /* the last note said while stderr was the command's */
		fprintf(stderr, "kaos-trace: %s\n", t->v.status);
	if (e)
		snprintf(err, n, "--command-output %s: %s", out, strerror(-e));
	return rc;
}

/* --alert: the one-shot's rules (windows for 'over'), evaluated every second. */
static int start_alerts(struct top *t, char *err, size_t n)
{
	/* on a screen the states are shown; the transitions go to a log only if asked */
	const char *log = t->o.alert_log ? t->o.alert_log : t->screen ? "/dev/null" : NULL;
	struct kt_oneshot_opts oo = {.rules = t->o.alerts,
				     .nrules = t->o.nalerts,
				     .alert_log = log,
				     .note = note,
				     .note_ctx = t};

	t->extras = kt_oneshot_start(&t->e.s, &oo, err, n);
	return t->extras ? 0 : -1;
}

static int start(struct top *t)
{
	char err[1024];
	int rc;

	fill_engine_opts(t);
	if ((rc = open_engine(t, err, sizeof(err)))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		return rc;
	}
	if ((rc = kt_engine_start(&t->e, err, sizeof(err)))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		if (t->e.bpf_log)
			kt_features_explain(stderr);
		return rc;
	}
	if (t->o.nalerts && start_alerts(t, err, sizeof(err))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		return 1;
	}
	if (kt_engine_resume_command(&t->e, err, sizeof(err))) {
		fprintf(stderr, "kaos-trace: %s\n", err);
		return 1;
	}
	return 0;
}

static void set_title(struct top *t)
{
	struct top_opts *o = &t->o;
	char *b = t->v.title;
	size_t n = sizeof(t->v.title);

	if (o->cmd)
		snprintf(b, n, "-- %s (pid %d)", o->cmd[0], (int)t->e.child);
	else if (o->npids)
		snprintf(b, n, "-p %d%s", (int)o->pids[0], o->npids > 1 ? " ..." : "");
	else
		snprintf(b, n, "-b %s%s", o->paths[0], o->npaths > 1 ? " ..." : "");
}

/* ---------------------------------------------------------------- loop */

static void clock_text(char *b, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;

	strftime(b, n, "%H:%M:%S", localtime_r(&now, &tm));
}

/* Plain mode's line width: $COLUMNS if set (a terminal's width), else every column. */
static int plain_width(void)
{
	const char *c = getenv("COLUMNS");
	int w = c ? atoi(c) : 0;

	return w >= 20 ? w : 200;
}

/* One refresh: the last interval into the model, a new interval. 0, or 1 (plain: stdout failed). */
static int refresh_model(struct top *t, uint64_t now)
{
	struct kt_snapshot snap;
	char clk[16];

	kt_engine_snapshot(&t->e, &snap);
	if (!t->v.paused) {
		double secs = (double)(now - t->e.t_iv) / 1e9;

		if (kt_top_model_update(&t->m, snap.agg, secs, snap.tot.lost, snap.tot.lost_iv0))
			note(t, true, "out of memory: some rows are not shown");
		kt_top_model_set_alerts(&t->m, kt_oneshot_alerts(t->extras));
	}
	kt_engine_interval_reset(&t->e, now);
	t->refreshes++;
	if (t->screen) {
		kt_top_view_draw(&t->v, &t->m);
		return 0;
	}
	clock_text(clk, sizeof(clk));
	if (kt_top_plain(stdout, &t->m, plain_width(), clk) == 0)
		return 0;
	if (errno != EPIPE) {
		fprintf(stderr, "kaos-trace: top: write stdout: %s\n", strerror(errno));
		return 1;
	}
	/* a reader that stopped (| head) ends top, quietly: nothing is left to write */
	if (!freopen("/dev/null", "w", stdout))
		return 1;
	return -1;
}

static void start_filter(struct top *t)
{
	t->v.editing = true;
	snprintf(t->v.edit, sizeof(t->v.edit), "%s", t->m.filter);
}

/* A key while typing the filter. */
static void filter_key(struct top *t, int ch)
{
	size_t len = strlen(t->v.edit);

	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		t->v.editing = false;
		kt_top_model_set_filter(&t->m, t->v.edit);
		t->v.sel = t->v.first = 0;
	} else if (ch == 27) { /* Esc */
		t->v.editing = false;
		kt_top_model_set_filter(&t->m, "");
	} else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len) {
		t->v.edit[len - 1] = 0;
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(t->v.edit)) {
		t->v.edit[len] = (char)ch;
		t->v.edit[len + 1] = 0;
	}
}

static const struct kt_top_row *selected(const struct top *t)
{
	return t->v.sel < t->m.nvis ? &t->m.rows[t->m.vis[t->v.sel]] : NULL;
}

/* Arrows, pages, ends: the selection (in the detail view: the row shown). */
static bool move_key(struct top *t, int ch)
{
	int page = t->v.page > 1 ? t->v.page - 1 : 1;
	int d = ch == KEY_UP	  ? -1
		: ch == KEY_DOWN  ? 1
		: ch == KEY_PPAGE ? -page
		: ch == KEY_NPAGE ? page
		: ch == KEY_HOME  ? -INT_MAX / 2
		: ch == KEY_END	  ? INT_MAX / 2
				  : 0;

	if (!d)
		return false;
	kt_top_view_move(&t->v, &t->m, d);
	if (t->v.screen == KT_TOP_SCREEN_DETAIL)
		kt_top_model_set_detail(&t->m, selected(t));
	return true;
}

/* One key. Returns true to quit. */
static bool handle_key(struct top *t, int ch)
{
	if (t->v.editing) {
		filter_key(t, ch);
		return false;
	}
	if (ch == 'q' || ch == KEY_F(10))
		return true;
	t->v.status[0] = 0; /* a key acknowledges the last note */
	if (move_key(t, ch))
		return false;
	switch (ch) {
	case ' ':
		t->v.paused = !t->v.paused;
		break;
	case 's':
	case KEY_F(6):
		kt_top_model_next_sort(&t->m);
		break;
	case 'S':
		kt_top_model_set_sort(&t->m, t->m.sort, !t->m.reverse);
		break;
	case '/':
	case 'f':
		start_filter(t);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		if (selected(t)) {
			t->v.screen = KT_TOP_SCREEN_DETAIL;
			kt_top_model_set_detail(&t->m, selected(t));
		}
		break;
	case 27: /* Esc: back to the table */
		t->v.screen = KT_TOP_SCREEN_TABLE;
		kt_top_model_set_detail(&t->m, NULL);
		break;
	default: /* KEY_RESIZE and the rest: a redraw */
		break;
	}
	return false;
}

/* Keys waiting on the terminal. Returns true to quit. */
static bool read_keys(struct top *t)
{
	bool any = false;
	int ch;

	while ((ch = getch()) != ERR) {
		if (handle_key(t, ch))
			return true;
		any = true;
	}
	if (any)
		kt_top_view_draw(&t->v, &t->m);
	return false;
}

/* After every traced process exited: the last frame stays until q (a screen). */
static void ended(struct top *t, uint64_t now)
{
	t->ended = true;
	refresh_model(t, now);
	if (t->e.child > 0 && t->e.child_status >= 0)
		snprintf(t->v.status, sizeof(t->v.status),
			 "the command exited (status %d): q to quit", t->e.child_status);
	else
		snprintf(t->v.status, sizeof(t->v.status),
			 "every traced process exited: q to quit");
	kt_top_view_draw(&t->v, &t->m);
}

/* Polls until q, a signal, -n refreshes, or (plain) every traced process exited. 0 or 1. */
static int run(struct top *t)
{
	uint64_t iv = t->o.interval_ns ? t->o.interval_ns : KT_NS_PER_S;

	while (!stop_signal) {
		uint64_t now;
		int rc = 0;

		if (t->ended) {
			usleep(50000);
		} else if ((rc = kt_engine_poll(&t->e, 50)) < 0) {
			note(t, true, "ring buffer poll failed");
			return 1;
		}
		now = kt_now_ns(CLOCK_MONOTONIC);
		if (t->extras && !t->ended)
			kt_oneshot_tick(t->extras, now);
		if (!t->ended && kt_engine_tick(&t->e, now) > 0) {
			if (!t->screen)
				return refresh_model(t, now) > 0;
			ended(t, now);
		}
		if (!t->ended && now - t->e.t_iv >= iv && (rc = refresh_model(t, now)))
			return rc > 0;
		if (t->o.iterations && t->refreshes >= t->o.iterations)
			break;
		if (t->screen && read_keys(t))
			break;
	}
	return 0;
}

/* ---------------------------------------------------------------- main */

static void catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL); /* plain mode's reader went away: a write says EPIPE */
}

/* Detach, give the terminal back, say what became of the command. The exit status. */
static int finish(struct top *t, int rc)
{
	bool running;

	if (kt_engine_stop(&t->e))
		rc = 1;
	kt_top_view_close(&t->v);
	if (t->extras) { /* its summary and unmatched rules: notes, on stderr now */
		int unmatched;

		if (kt_oneshot_finish(t->extras, &unmatched) < 0)
			rc = 1;
		t->extras = NULL;
	}
	running = t->e.child > 0 && t->e.child_status < 0;
	if (running)
		fprintf(stderr, "kaos-trace: top: the command (pid %d) still runs, untraced\n",
			(int)t->e.child);
	else if (t->e.child > 0 && !rc)
		rc = t->e.child_status;
	kt_engine_close(&t->e, false);
	kt_top_model_free(&t->m);
	return rc;
}

int kt_top_main(int argc, char **argv)
{
	struct top *t = &top;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = parse_args(&t->o, argc, argv)))
		return rc;
	setlocale(LC_ALL, ""); /* ncursesw: block characters in a UTF-8 locale */
	t->screen = !t->o.plain && isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	kt_top_model_init(&t->m);
	atexit(restore_at_exit);
	if ((rc = start(t))) {
		kt_engine_close(&t->e, false);
		kt_top_model_free(&t->m);
		return rc;
	}
	catch_signals();
	set_title(t);
	if (t->screen && kt_top_view_open(&t->v)) {
		fprintf(stderr,
			"kaos-trace: top: this terminal cannot be used (TERM=%s): "
			"plain text instead\n",
			getenv("TERM") ? getenv("TERM") : "");
		t->screen = false;
	}
	if (t->screen)
		kt_top_view_draw(&t->v, &t->m);
	rc = run(t);
	return finish(t, rc);
}
