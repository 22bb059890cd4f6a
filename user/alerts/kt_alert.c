// SPDX-License-Identifier: MIT
#include "kt_alert.h"
#include "kt_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt_json.h"
#include "kt_log.h"

extern char **environ;

/* ---------------------------------------------------------------- state machine */

enum kt_alert_transition kt_alert_step(struct kt_alert_sm *sm, bool cond, uint64_t hold_ns,
				       uint64_t now)
{
	switch (sm->state) {
	case KT_ALERT_OK:
		if (!cond)
			return KT_ALERT_NONE;
		sm->since = now;
		if (hold_ns == 0) {
			sm->state = KT_ALERT_FIRING;
			return KT_ALERT_FIRED;
		}
		sm->state = KT_ALERT_PENDING;
		return KT_ALERT_NONE;
	case KT_ALERT_PENDING:
		if (!cond) {
			sm->state = KT_ALERT_OK;
			return KT_ALERT_NONE;
		}
		if (now - sm->since >= hold_ns) {
			sm->state = KT_ALERT_FIRING;
			return KT_ALERT_FIRED;
		}
		return KT_ALERT_NONE;
	case KT_ALERT_FIRING:
		if (cond)
			return KT_ALERT_NONE;
		sm->state = KT_ALERT_OK;
		return KT_ALERT_RESOLVED;
	}
	return KT_ALERT_NONE;
}

/* ---------------------------------------------------------------- values */

/* The process image ra belongs to (its comm: an exec may change it). */
static const struct kt_proc *find_proc(const struct kt_agg *a, const struct kt_ring_agg *ra)
{
	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (kt_ring_of(ra, p))
			return p;
	return NULL;
}

static bool matches(const struct kt_rule *r, const struct kt_agg *a, const struct kt_ring_agg *ra)
{
	if (r->has_pid && ra->pid != r->pid)
		return false;
	if (r->has_ring && fnmatch(r->ring, ra->name, 0) != 0)
		return false;
	if (r->has_process) {
		const struct kt_proc *p = find_proc(a, ra);

		if (!p || fnmatch(r->process, p->comm, 0) != 0)
			return false;
	}
	return true;
}

static int rule_window(const struct kt_rule *r, const struct kt_alert_src *src)
{
	if (!src->win)
		return KT_WIN_ALL;
	if (r->window_ns) {
		int w = kt_windows_find(src->win, r->window_ns);

		if (w >= 0)
			return w;
	}
	return src->default_win;
}

static void ring_hist(const struct kt_alert_src *src, int win, const struct kt_ring_agg *ra,
		      enum kt_win_hist which, struct kt_hist *out)
{
	const struct kt_hist *cum;

	if (src->win) {
		kt_windows_ring_hist(src->win, win, ra, which, out);
		return;
	}
	cum = kt_win_ring_cum_hist(ra, which);
	if (cum)
		kt_hist_copy(out, cum);
	else
		kt_hist_init(out);
}

static uint64_t ring_count(const struct kt_alert_src *src, int win, const struct kt_ring_agg *ra,
			   enum kt_win_count which)
{
	if (src->win)
		return kt_windows_ring_count(src->win, win, ra, which);
	return kt_win_ring_cum_count(ra, which);
}

static double span_s(const struct kt_alert_src *src, int win)
{
	if (src->win)
		return kt_windows_span_s(src->win, win, src->now);
	return 0;
}

bool kt_alert_value(const struct kt_rule *r, const struct kt_alert_src *src, double *value,
		    int *nseries)
{
	int win = rule_window(r, src);
	int n = 0;

	if (nseries)
		*nseries = 0;
	if (r->series == KT_RULE_LOST) {
		uint64_t lost =
			src->win ? kt_windows_global(src->win, win, src->global, KT_WIN_G_LOST)
				 : src->global[KT_WIN_G_LOST];

		if (r->stat == KT_RULE_RATE) {
			double s = span_s(src, win);

			if (s <= 0)
				return false;
			*value = (double)lost / s;
		} else {
			*value = (double)lost;
		}
		return true;
	}

	static const enum kt_win_hist hist_of[] = {
		[KT_RULE_SEND] = KT_WIN_H_SEND,
		[KT_RULE_RECV] = KT_WIN_H_RECV,
		[KT_RULE_SOJOURN] = KT_WIN_H_SOJOURN,
		[KT_RULE_BACKPRESSURE] = KT_WIN_H_BACKPRESSURE,
		[KT_RULE_RETRANSMIT] = KT_WIN_H_NR,
	};
	static const enum kt_win_count count_of[] = {
		[KT_RULE_SEND] = KT_WIN_C_SEND,
		[KT_RULE_RECV] = KT_WIN_C_RECV,
		[KT_RULE_SOJOURN] = KT_WIN_C_NR,
		[KT_RULE_BACKPRESSURE] = KT_WIN_C_BACKPRESSURE,
		[KT_RULE_RETRANSMIT] = KT_WIN_C_RETRANSMIT,
	};
	bool latency = r->stat <= KT_RULE_MEAN;
	bool use_hist = latency || (r->series == KT_RULE_SOJOURN && r->stat == KT_RULE_COUNT);
	struct kt_hist *sum = NULL, *one = NULL;
	uint64_t count = 0, sends = 0;

	if (use_hist) {
		sum = malloc(sizeof(*sum));
		one = malloc(sizeof(*one));
		if (!sum || !one) {
			free(sum);
			free(one);
			return false;
		}
		kt_hist_init(sum);
	}
	for (const struct kt_ring_agg *ra = src->agg->rings; ra; ra = ra->next) {
		if (!matches(r, src->agg, ra))
			continue;
		n++;
		if (use_hist) {
			ring_hist(src, win, ra, hist_of[r->series], one);
			kt_hist_merge(sum, one);
		} else {
			count += ring_count(src, win, ra, count_of[r->series]);
			if (r->stat == KT_RULE_RATIO)
				sends += ring_count(src, win, ra, KT_WIN_C_SEND);
		}
	}
	if (nseries)
		*nseries = n;
	bool ok = true;

	if (use_hist) {
		uint64_t c = kt_hist_count(sum);

		if (r->stat == KT_RULE_COUNT)
			*value = (double)c;
		else if (c == 0)
			ok = false;
		else if (r->stat == KT_RULE_PCT)
			*value = (double)kt_hist_percentile(sum, r->pct);
		else if (r->stat == KT_RULE_MIN)
			*value = (double)kt_hist_min(sum);
		else if (r->stat == KT_RULE_MAX)
			*value = (double)kt_hist_max(sum);
		else
			*value = kt_hist_mean(sum);
		free(sum);
		free(one);
		return ok;
	}
	if (r->stat == KT_RULE_COUNT) {
		*value = (double)count;
	} else if (r->stat == KT_RULE_RATE) {
		double s = span_s(src, win);

		if (s <= 0)
			return false;
		*value = (double)count / s;
	} else { /* ratio */
		if (sends == 0)
			return false;
		*value = (double)count / (double)sends;
	}
	return true;
}

/* ---------------------------------------------------------------- the rule set */

struct alert_rule {
	struct kt_rule rule;
	struct kt_alert_sm sm;
	bool has_value;
	double value;
};

struct child {
	pid_t pid;
	uint64_t deadline;
	bool killed;
};

struct kt_alerts {
	struct alert_rule *v;
	int n;
	FILE *out;
	char **argv;
	uint64_t timeout_ns;
	struct child children[KT_ALERT_MAX_CHILDREN];
	int nchildren;
	uint64_t fired, resolved;
	uint64_t write_errors; /* alert lines the log did not take (a full disk...) */
	int last_write_errno;
};

struct kt_alerts *kt_alerts_new(void)
{
	return calloc(1, sizeof(struct kt_alerts));
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

void kt_alerts_free(struct kt_alerts *a)
{
	if (!a)
		return;
	while (a->nchildren) {
		struct timespec ts = {0, 10000000};

		kt_alerts_reap(a, kt_now_ns(CLOCK_MONOTONIC));
		if (a->nchildren)
			nanosleep(&ts, NULL);
	}
	free(a->v);
	free_argv(a->argv);
	free(a);
}

int kt_alerts_set_rules(struct kt_alerts *a, const struct kt_rule *rules, int n)
{
	struct alert_rule *v = n ? calloc((size_t)n, sizeof(*v)) : NULL;

	if (n && !v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		v[i].rule = rules[i];
		for (int j = 0; j < a->n; j++)
			if (!strcmp(a->v[j].rule.text, rules[i].text)) {
				v[i].sm = a->v[j].sm;
				v[i].has_value = a->v[j].has_value;
				v[i].value = a->v[j].value;
				break;
			}
	}
	free(a->v);
	a->v = v;
	a->n = n;
	return 0;
}

int kt_alerts_set_output(struct kt_alerts *a, FILE *out, char *const *argv, uint64_t timeout_ns)
{
	char **copy = NULL;

	if (argv && argv[0]) {
		int n = 0;

		while (argv[n])
			n++;
		copy = calloc((size_t)n + 1, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		for (int i = 0; i < n; i++)
			if (!(copy[i] = strdup(argv[i]))) {
				free_argv(copy);
				return -ENOMEM;
			}
	}
	free_argv(a->argv);
	a->argv = copy;
	a->out = out;
	a->timeout_ns = timeout_ns;
	return 0;
}

/* ---------------------------------------------------------------- output */

static void json_opt_string(struct kt_json *w, const char *key, bool has, const char *s)
{
	kt_json_key(w, key);
	if (has)
		kt_json_string(w, s);
	else
		kt_json_null(w);
}

static void alert_json(struct kt_json *w, const struct alert_rule *ar, bool fired, int nseries,
		       int win, const struct kt_alert_src *src)
{
	const struct kt_rule *r = &ar->rule;
	char tb[40];
	uint64_t wlen = src->win && win >= 0 ? kt_windows_len(src->win, win) : 0;

	kt_json_object_begin(w);
	kt_json_kv_string(w, "time", kt_log_time(tb, sizeof(tb)));
	kt_json_kv_string(w, "alert", fired ? "firing" : "resolved");
	kt_json_kv_string(w, "rule", r->text);
	kt_json_kv_string(w, "metric", r->metric);
	kt_json_key(w, "value");
	if (ar->has_value)
		kt_json_double(w, ar->value);
	else
		kt_json_null(w);
	kt_json_kv_double(w, "threshold", r->threshold);
	kt_json_kv_string(w, "unit", kt_rule_unit_str(r->unit));
	kt_json_key(w, "window_s");
	if (wlen)
		kt_json_double(w, (double)wlen / 1e9);
	else
		kt_json_null(w); /* the whole run */
	kt_json_kv_double(w, "for_s", (double)r->hold_ns / 1e9);
	json_opt_string(w, "process", r->has_process, r->process);
	json_opt_string(w, "ring", r->has_ring, r->ring);
	kt_json_key(w, "pid");
	if (r->has_pid)
		kt_json_u64(w, r->pid);
	else
		kt_json_null(w);
	kt_json_kv_u64(w, "series", (uint64_t)nseries);
	kt_json_object_end(w);
	kt_json_eol(w);
}

static void spawn_action(struct kt_alerts *a, const char *line, size_t len, uint64_t now)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int pfd[2];
	pid_t pid;
	int e;

	if (a->nchildren == KT_ALERT_MAX_CHILDREN) {
		kt_log(KT_LOG_WARN, "alert", "action %s skipped: %d actions still running",
		       a->argv[0], a->nchildren);
		return;
	}
	/* posix_spawn may only report a failed exec as exit status 127: check first */
	if (access(a->argv[0], X_OK)) {
		kt_log(KT_LOG_ERROR, "alert", "action %s: cannot run: %s", a->argv[0],
		       strerror(errno));
		return;
	}
	if (pipe2(pfd, O_CLOEXEC)) {
		kt_log(KT_LOG_ERROR, "alert", "action %s: pipe: %s", a->argv[0], strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def); /* undo our handlers and ignored SIGPIPE */
	posix_spawnattr_setpgroup(&at, 0);	  /* its own group: a timeout kills its children */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	e = posix_spawn(&pid, a->argv[0], &fa, &at, a->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[0]);
	if (e) {
		close(pfd[1]);
		kt_log(KT_LOG_ERROR, "alert", "action %s: cannot run: %s", a->argv[0], strerror(e));
		return;
	}
	/* One line, far below the pipe's capacity: this write does not block. */
	if (write(pfd[1], line, len) != (ssize_t)len)
		kt_log(KT_LOG_WARN, "alert", "action %s: could not write the alert to its stdin",
		       a->argv[0]);
	close(pfd[1]);
	a->children[a->nchildren].pid = pid;
	a->children[a->nchildren].deadline = now + a->timeout_ns;
	a->children[a->nchildren].killed = false;
	a->nchildren++;
}

void kt_alerts_reap(struct kt_alerts *a, uint64_t now)
{
	for (int i = 0; i < a->nchildren;) {
		struct child *c = &a->children[i];
		int status;
		pid_t r = waitpid(c->pid, &status, WNOHANG);

		if (r == c->pid || (r < 0 && errno == ECHILD)) {
			if (r == c->pid && !c->killed && WIFEXITED(status) && WEXITSTATUS(status))
				kt_log(KT_LOG_WARN, "alert",
				       "action %s (pid %d) exited with status %d",
				       a->argv ? a->argv[0] : "?", (int)c->pid,
				       WEXITSTATUS(status));
			else if (r == c->pid && !c->killed && WIFSIGNALED(status))
				kt_log(KT_LOG_WARN, "alert",
				       "action %s (pid %d) killed by signal %d",
				       a->argv ? a->argv[0] : "?", (int)c->pid, WTERMSIG(status));
			a->children[i] = a->children[--a->nchildren];
			continue;
		}
		if (!c->killed && now >= c->deadline) {
			kill(-c->pid, SIGKILL);
			kill(c->pid, SIGKILL);
			c->killed = true;
			kt_log(KT_LOG_WARN, "alert",
			       "action %s (pid %d) timed out after %.1f s: killed",
			       a->argv ? a->argv[0] : "?", (int)c->pid,
			       (double)a->timeout_ns / 1e9);
		}
		i++;
	}
}

int kt_alerts_eval(struct kt_alerts *a, const struct kt_alert_src *src)
{
	int transitions = 0;
	struct kt_json w;

	kt_json_init_buf(&w);
	for (int i = 0; i < a->n; i++) {
		struct alert_rule *ar = &a->v[i];
		int nseries = 0;
		double v = 0;

		ar->has_value = kt_alert_value(&ar->rule, src, &v, &nseries);
		ar->value = ar->has_value ? v : 0;
		bool cond = ar->has_value && kt_rule_holds(&ar->rule, v);
		enum kt_alert_transition t =
			kt_alert_step(&ar->sm, cond, ar->rule.hold_ns, src->now);

		if (t == KT_ALERT_NONE)
			continue;
		transitions++;
		if (t == KT_ALERT_FIRED)
			a->fired++;
		else
			a->resolved++;
		kt_json_reset(&w);
		alert_json(&w, ar, t == KT_ALERT_FIRED, nseries, rule_window(&ar->rule, src), src);
		if (kt_json_error(&w)) {
			kt_log(KT_LOG_ERROR, "alert", "cannot format alert: %s",
			       kt_json_strerror(&w));
			continue;
		}
		size_t len;
		const char *line = kt_json_buf(&w, &len);
		FILE *out = a->out ? a->out : stderr;

		if (fwrite(line, 1, len, out) != len || fflush(out)) {
			a->write_errors++;
			a->last_write_errno = errno;
			kt_log(KT_LOG_ERROR, "alert", "cannot write the alert log: %s",
			       strerror(errno));
			clearerr(out); /* the next line is tried again */
		}
		if (out != stderr)
			kt_log(KT_LOG_INFO, "alert", "%s: %s (value %g, threshold %g %s)",
			       t == KT_ALERT_FIRED ? "firing" : "resolved", ar->rule.text,
			       ar->has_value ? ar->value : 0, ar->rule.threshold,
			       kt_rule_unit_str(ar->rule.unit));
		if (a->argv)
			spawn_action(a, line, len, src->now);
	}
	kt_json_free(&w);
	return transitions;
}

int kt_alerts_nrules(const struct kt_alerts *a)
{
	return a->n;
}

const struct kt_rule *kt_alerts_rule(const struct kt_alerts *a, int i)
{
	return i >= 0 && i < a->n ? &a->v[i].rule : NULL;
}

enum kt_alert_state kt_alerts_state(const struct kt_alerts *a, int i)
{
	return i >= 0 && i < a->n ? a->v[i].sm.state : KT_ALERT_OK;
}

bool kt_alerts_last_value(const struct kt_alerts *a, int i, double *v)
{
	if (i < 0 || i >= a->n || !a->v[i].has_value)
		return false;
	*v = a->v[i].value;
	return true;
}

uint64_t kt_alerts_fired(const struct kt_alerts *a)
{
	return a->fired;
}

uint64_t kt_alerts_write_errors(const struct kt_alerts *a, int *last_errno)
{
	if (last_errno)
		*last_errno = a->last_write_errno;
	return a->write_errors;
}

uint64_t kt_alerts_resolved(const struct kt_alerts *a)
{
	return a->resolved;
}

int kt_alerts_running_actions(const struct kt_alerts *a)
{
	return a->nchildren;
}
