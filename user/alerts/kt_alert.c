// SPDX-License-Identifier: MIT
#include "kt_alert.h"
#include "kt_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
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

/* Where each ring series lives in the aggregation and its windows. */
static const enum kt_win_hist hist_of[] = {
	[KT_RULE_SEND] = KT_WIN_H_SEND,	      [KT_RULE_RECV] = KT_WIN_H_RECV,
	[KT_RULE_SOJOURN] = KT_WIN_H_SOJOURN, [KT_RULE_BACKPRESSURE] = KT_WIN_H_BACKPRESSURE,
	[KT_RULE_RETRANSMIT] = KT_WIN_H_NR,
};
static const enum kt_win_count count_of[] = {
	[KT_RULE_SEND] = KT_WIN_C_SEND,
	[KT_RULE_RECV] = KT_WIN_C_RECV,
	[KT_RULE_SOJOURN] = KT_WIN_C_NR,
	[KT_RULE_BACKPRESSURE] = KT_WIN_C_BACKPRESSURE,
	[KT_RULE_RETRANSMIT] = KT_WIN_C_RETRANSMIT,
};

static bool lost_value(const struct kt_rule *r, const struct kt_alert_src *src, int win,
		       double *value)
{
	uint64_t lost = src->win ? kt_windows_global(src->win, win, src->global, KT_WIN_G_LOST)
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

/* A latency statistic (or the sojourn count) of a merged histogram; false: no data. */
static bool hist_value(const struct kt_rule *r, const struct kt_hist *h, double *value)
{
	uint64_t c = kt_hist_count(h);

	if (r->stat == KT_RULE_COUNT)
		*value = (double)c;
	else if (c == 0)
		return false;
	else if (r->stat == KT_RULE_PCT)
		*value = (double)kt_hist_percentile(h, r->pct);
	else if (r->stat == KT_RULE_MIN)
		*value = (double)kt_hist_min(h);
	else if (r->stat == KT_RULE_MAX)
		*value = (double)kt_hist_max(h);
	else
		*value = kt_hist_mean(h);
	return true;
}

static bool uses_hist(const struct kt_rule *r)
{
	return r->stat <= KT_RULE_MEAN ||
	       (r->series == KT_RULE_SOJOURN && r->stat == KT_RULE_COUNT);
}

/*
 * The rule's value on the rings matching its selectors, merged (only: on
 * that one ring alone). *nseries: how many rings were merged.
 */
static bool rings_value(const struct kt_rule *r, const struct kt_alert_src *src, int win,
			const struct kt_ring_agg *only, double *value, int *nseries)
{
	bool use_hist = uses_hist(r);
	struct kt_hist *sum = NULL, *one = NULL;
	uint64_t count = 0, sends = 0;
	bool ok;

	*nseries = 0;
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
		if ((only && ra != only) || !matches(r, src->agg, ra))
			continue;
		(*nseries)++;
		if (use_hist) {
			ring_hist(src, win, ra, hist_of[r->series], one);
			kt_hist_merge(sum, one);
		} else {
			count += ring_count(src, win, ra, count_of[r->series]);
			if (r->stat == KT_RULE_RATIO)
				sends += ring_count(src, win, ra, KT_WIN_C_SEND);
		}
	}
	if (use_hist) {
		ok = hist_value(r, sum, value);
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

/* The current image of pid (a function's process: its comm). */
static const struct kt_proc *find_pid(const struct kt_agg *a, uint32_t pid)
{
	const struct kt_proc *found = NULL;

	for (const struct kt_proc *p = a->procs; p; p = p->next)
		if (p->pid == pid && (!found || p->exec_gen > found->exec_gen))
			found = p;
	return found;
}

/* Does a --func function fit func=: its name, or module:name when the glob has a ':'? */
static bool func_name_fits(const struct kt_rule *r, const struct kt_func_desc *d)
{
	char full[2 * KT_RULE_NAME_MAX + 2];

	if (!r->has_func)
		return true;
	if (!strchr(r->func, ':'))
		return fnmatch(r->func, d->name, 0) == 0;
	snprintf(full, sizeof(full), "%s:%s", d->module, d->name);
	return fnmatch(r->func, full, 0) == 0;
}

static bool func_matches(const struct kt_rule *r, const struct kt_agg *a,
			 const struct kt_func_agg *fa)
{
	if (fa->idx >= a->nfuncs || !func_name_fits(r, &a->func_desc[fa->idx]))
		return false;
	if (r->has_pid && fa->pid != r->pid)
		return false;
	if (r->has_process) {
		const struct kt_proc *p = find_pid(a, fa->pid);

		if (!p || fnmatch(r->process, p->comm, 0) != 0)
			return false;
	}
	return true;
}

/* Latency with the probe time taken out where it was calibrated, else raw. */
static const struct kt_hist *func_latency(const struct kt_func_agg *fa)
{
	return fa->corr ? fa->corr : fa->s.dur;
}

/* As rings_value, on --func functions (the whole run: windows keep no functions). */
static bool funcs_value(const struct kt_rule *r, const struct kt_alert_src *src, int win,
			const struct kt_func_agg *only, double *value, int *nseries)
{
	struct kt_hist *sum = NULL;
	uint64_t calls = 0;
	bool ok = true;

	*nseries = 0;
	if (r->stat <= KT_RULE_MEAN) {
		sum = malloc(sizeof(*sum));
		if (!sum)
			return false;
		kt_hist_init(sum);
	}
	for (const struct kt_func_agg *fa = src->agg->funcs; fa; fa = fa->next) {
		if ((only && fa != only) || !func_matches(r, src->agg, fa))
			continue;
		(*nseries)++;
		calls += kt_series_count(&fa->s);
		if (sum && func_latency(fa))
			kt_hist_merge(sum, func_latency(fa));
	}
	if (sum) {
		ok = hist_value(r, sum, value);
		free(sum);
	} else if (r->stat == KT_RULE_COUNT) {
		*value = (double)calls;
	} else { /* rate */
		double s = span_s(src, win);

		ok = s > 0;
		if (ok)
			*value = (double)calls / s;
	}
	return ok;
}

/*
 * func= fits a probed function (one never called has no aggregate yet, but
 * its name is no typo).
 */
static bool func_probed(const struct kt_rule *r, const struct kt_agg *a)
{
	if (r->has_pid || r->has_process)
		return false;
	for (uint32_t i = 0; i < a->nfuncs; i++)
		if (func_name_fits(r, &a->func_desc[i]))
			return true;
	return false;
}

bool kt_alert_value(const struct kt_rule *r, const struct kt_alert_src *src, double *value,
		    int *nseries)
{
	int win = rule_window(r, src);
	int n = 0;
	bool ok;

	if (r->series == KT_RULE_LOST) {
		if (nseries)
			*nseries = 0;
		return lost_value(r, src, win, value);
	}
	if (r->series == KT_RULE_FUNC)
		ok = funcs_value(r, src, KT_WIN_ALL, NULL, value, &n);
	else
		ok = rings_value(r, src, win, NULL, value, &n);
	if (nseries)
		*nseries = n;
	return ok;
}

/* Is v worse than the worst so far, for r's comparison? */
static bool worse(const struct kt_rule *r, const struct kt_alert_culprit *c, double v)
{
	if (!c->ring && !c->func)
		return true;
	return r->cmp == KT_RULE_GT || r->cmp == KT_RULE_GE ? v > c->value : v < c->value;
}

bool kt_alert_culprit(const struct kt_rule *r, const struct kt_alert_src *src,
		      struct kt_alert_culprit *c)
{
	int win = rule_window(r, src), n;
	double v;

	memset(c, 0, sizeof(*c));
	if (r->series == KT_RULE_FUNC) {
		for (const struct kt_func_agg *fa = src->agg->funcs; fa; fa = fa->next)
			if (func_matches(r, src->agg, fa) &&
			    funcs_value(r, src, KT_WIN_ALL, fa, &v, &n) && worse(r, c, v)) {
				c->func = fa;
				c->value = v;
			}
	} else if (r->series != KT_RULE_LOST) {
		for (const struct kt_ring_agg *ra = src->agg->rings; ra; ra = ra->next)
			if (matches(r, src->agg, ra) && rings_value(r, src, win, ra, &v, &n) &&
			    worse(r, c, v)) {
				c->ring = ra;
				c->value = v;
			}
	}
	return c->ring || c->func;
}

const char *kt_alert_fmt_value(char *buf, size_t n, enum kt_rule_unit u, double v)
{
	switch (u) {
	case KT_RULE_UNIT_NS:
		/* the unit is chosen after rounding to 3 digits: 999.7us is 1ms, not 1e+03us */
		if (v < 999.5)
			snprintf(buf, n, "%.3gns", v);
		else if (v < 999.5e3)
			snprintf(buf, n, "%.3gus", v / 1e3);
		else if (v < 999.5e6)
			snprintf(buf, n, "%.3gms", v / 1e6);
		else
			snprintf(buf, n, "%.4gs", v / 1e9);
		break;
	case KT_RULE_UNIT_COUNT:
		snprintf(buf, n, "%.10g", v);
		break;
	case KT_RULE_UNIT_PER_S:
		snprintf(buf, n, v < 1e4 ? "%.4g/s" : "%.0f/s", v);
		break;
	case KT_RULE_UNIT_FRACTION:
		snprintf(buf, n, "%.3g%%", v * 100);
		break;
	}
	return buf;
}

/* ", comm" for "(pid 123, comm)"; "" when the process's name is unknown (it exited first). */
static const char *comm_part(const struct kt_proc *p, char *buf, size_t n)
{
	if (!p || !p->comm[0] || !strcmp(p->comm, "?"))
		return "";
	snprintf(buf, n, ", %s", p->comm);
	return buf;
}

/* "ring work.0 (pid 123, kt_workload)", "function app:compress (pid 123, app)" */
static const char *culprit_words(const struct kt_agg *a, const struct kt_alert_culprit *c,
				 char *buf, size_t n)
{
	char cb[24];

	if (c->ring) {
		snprintf(buf, n, "ring %s (pid %u%s)", c->ring->name, c->ring->pid,
			 comm_part(find_proc(a, c->ring), cb, sizeof(cb)));
	} else {
		const struct kt_func_desc *d = &a->func_desc[c->func->idx];

		snprintf(buf, n, "function %s:%s (pid %u%s)", d->module, d->name, c->func->pid,
			 comm_part(find_pid(a, c->func->pid), cb, sizeof(cb)));
	}
	return buf;
}

/*
 * The firing or resolved line, e.g. "alert 'send.p99 > 1us' fired: ring
 * orders (pid 123, app) send.p99 = 3.2us > 1us". c: the matching ring or
 * function with the worst value of its own (NULL: none, or a lost rule).
 */
static void alert_message(char *buf, size_t n, const struct kt_rule *r, bool fired, bool has_value,
			  double value, int nseries, const struct kt_agg *a,
			  const struct kt_alert_culprit *c)
{
	char v[32], t[32], cv[32], where[2 * KT_NAME_LEN + 64] = "";
	const char *what = r->series == KT_RULE_FUNC ? "functions" : "rings";
	size_t len;

	kt_alert_fmt_value(v, sizeof(v), r->unit, value);
	kt_alert_fmt_value(t, sizeof(t), r->unit, r->threshold);
	len = (size_t)snprintf(buf, n, "alert '%s' %s: ", r->text, fired ? "fired" : "resolved");
	if (len >= n)
		return;
	buf += len;
	n -= len;
	if (c && nseries == 1)
		culprit_words(a, c, where, sizeof(where));
	if (!has_value)
		snprintf(buf, n, "%s%s%s has no data", where, *where ? " " : "", r->metric);
	else if (!fired)
		snprintf(buf, n, "%s%s%s = %s", where, *where ? " " : "", r->metric, v);
	else if (nseries <= 1 || !c)
		snprintf(buf, n, "%s%s%s = %s %s %s", where, *where ? " " : "", r->metric, v,
			 kt_rule_cmp_str(r->cmp), t);
	else
		snprintf(buf, n, "%s = %s %s %s over %d %s (worst: %s %s)", r->metric, v,
			 kt_rule_cmp_str(r->cmp), t, nseries, what,
			 culprit_words(a, c, where, sizeof(where)),
			 kt_alert_fmt_value(cv, sizeof(cv), r->unit, c->value));
}

/* Appends to buf at *len (never past n). */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t n, size_t *len,
							 const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*len >= n)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *len, n - *len, fmt, ap);
	va_end(ap);
	*len = k < 0 ? n : *len + (size_t)k;
}

/* " ring=x process=y pid=1 func=z": the rule's selectors. */
static void append_selectors(char *buf, size_t n, size_t *len, const struct kt_rule *r)
{
	if (r->has_ring)
		append(buf, n, len, " ring=%s", r->ring);
	if (r->has_func)
		append(buf, n, len, " func=%s", r->func);
	if (r->has_process)
		append(buf, n, len, " process=%s", r->process);
	if (r->has_pid)
		append(buf, n, len, " pid=%u", r->pid);
}

/* "; rings seen: a (pid 1, app), b (pid 2, app), ...": a typo shows next to the right name. */
static void append_rings_seen(char *buf, size_t n, size_t *len, const struct kt_agg *a)
{
	int shown = 0;

	for (const struct kt_ring_agg *ra = a->rings; ra; ra = ra->next, shown++) {
		char cb[24];

		if (shown == 4) {
			append(buf, n, len, ", ...");
			break;
		}
		append(buf, n, len, "%s%s (pid %u%s)", shown ? ", " : "; rings seen: ", ra->name,
		       ra->pid, comm_part(find_proc(a, ra), cb, sizeof(cb)));
	}
	if (!shown)
		append(buf, n, len, "; no ring was traced");
}

/* "; functions probed: app:compress, libz.so.1:deflate" */
static void append_funcs_probed(char *buf, size_t n, size_t *len, const struct kt_agg *a)
{
	for (uint32_t i = 0; i < a->nfuncs; i++) {
		if (i == 4) {
			append(buf, n, len, ", ...");
			break;
		}
		append(buf, n, len, "%s%s:%s",
		       i ? ", " : "; functions probed: ", a->func_desc[i].module,
		       a->func_desc[i].name);
	}
	if (!a->nfuncs)
		append(buf, n, len, "; no function was probed (--func)");
}

const char *kt_alert_unmatched_why(const struct kt_rule *r, const struct kt_agg *a, char *buf,
				   size_t n)
{
	bool func = r->series == KT_RULE_FUNC;
	size_t len = 0;

	buf[0] = 0;
	if (!r->has_ring && !r->has_process && !r->has_pid && !r->has_func) {
		if (func && !a->nfuncs)
			append(buf, n, &len, "no function was probed (--func)");
		else
			append(buf, n, &len, "no %s was traced during the run",
			       func ? "function" : "ring");
		return buf;
	}
	append(buf, n, &len, "no traced %s fits", func ? "function" : "ring");
	append_selectors(buf, n, &len, r);
	if (func)
		append_funcs_probed(buf, n, &len, a);
	else
		append_rings_seen(buf, n, &len, a);
	return buf;
}

/* ---------------------------------------------------------------- the rule set */

struct alert_rule {
	struct kt_rule rule;
	struct kt_alert_sm sm;
	bool has_value;
	double value;
	bool evaluated;
	bool matched_now;      /* the last evaluation found a ring fitting the selectors */
	bool matched_ever;     /* ... or any evaluation since the rule was set */
	bool unmatched_said;   /* the current unmatched spell was logged */
	uint64_t unmatched_at; /* when it was last logged (0: never) */
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
				v[i] = a->v[j];
				v[i].rule = rules[i];
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

/* "worst": the matching ring or function with the worst value of its own, or null. */
static void json_worst(struct kt_json *w, const struct kt_agg *a, const struct kt_alert_culprit *c)
{
	const struct kt_proc *p = NULL;
	uint32_t pid = 0;

	kt_json_key(w, "worst");
	if (!c->ring && !c->func) {
		kt_json_null(w);
		return;
	}
	kt_json_object_begin(w);
	if (c->ring) {
		p = find_proc(a, c->ring);
		pid = c->ring->pid;
		kt_json_kv_string(w, "ring", c->ring->name);
	} else {
		char name[256];
		const struct kt_func_desc *d = &a->func_desc[c->func->idx];

		p = find_pid(a, c->func->pid);
		pid = c->func->pid;
		snprintf(name, sizeof(name), "%s:%s", d->module, d->name);
		kt_json_kv_string(w, "func", name);
	}
	kt_json_kv_u64(w, "pid", pid);
	char cb[24];
	const char *comm = comm_part(p, cb, sizeof(cb));

	json_opt_string(w, "process", *comm, comm + 2); /* null when unknown */
	kt_json_kv_double(w, "value", c->value);
	kt_json_object_end(w);
}

/* What a transition says, as JSON and as one line of text. */
struct transition {
	bool fired;
	int nseries;
	int win;
	struct kt_alert_culprit worst; /* firing: the worst ring or function */
	char message[KT_RULE_TEXT_MAX + 2 * KT_NAME_LEN + 192];
};

static void alert_json(struct kt_json *w, const struct alert_rule *ar, const struct transition *t,
		       const struct kt_alert_src *src)
{
	bool fired = t->fired;
	int nseries = t->nseries, win = t->win;
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
	json_opt_string(w, "func", r->has_func, r->func);
	kt_json_kv_u64(w, "series", (uint64_t)nseries);
	json_worst(w, src->agg, &t->worst);
	kt_json_kv_string(w, "message", t->message);
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

/* Writes one transition: the JSON line on the output and the action, the text line on the log. */
static void emit(struct kt_alerts *a, struct kt_json *w, const struct alert_rule *ar,
		 struct transition *t, const struct kt_alert_src *src)
{
	const struct kt_rule *r = &ar->rule;
	FILE *out = a->out ? a->out : stderr;
	const char *line;
	size_t len;

	bool culprit = t->fired && kt_alert_culprit(r, src, &t->worst);

	alert_message(t->message, sizeof(t->message), r, t->fired, ar->has_value, ar->value,
		      t->nseries, src->agg, culprit ? &t->worst : NULL);
	kt_json_reset(w);
	alert_json(w, ar, t, src);
	if (kt_json_error(w)) {
		kt_log(KT_LOG_ERROR, "alert", "cannot format alert: %s", kt_json_strerror(w));
		return;
	}
	line = kt_json_buf(w, &len);
	if (fwrite(line, 1, len, out) != len || fflush(out)) {
		a->write_errors++;
		a->last_write_errno = errno;
		kt_log(KT_LOG_ERROR, "alert", "cannot write the alert log: %s", strerror(errno));
		clearerr(out); /* the next line is tried again */
	}
	/* the line people read, wherever the JSON goes (it says the same) */
	kt_log(KT_LOG_INFO, "alert", "%s", t->message + strlen("alert "));
	if (a->argv)
		spawn_action(a, line, len, src->now);
}

int kt_alerts_eval(struct kt_alerts *a, const struct kt_alert_src *src)
{
	int transitions = 0;
	struct kt_json w;

	kt_json_init_buf(&w);
	for (int i = 0; i < a->n; i++) {
		struct alert_rule *ar = &a->v[i];
		struct transition t = {.win = rule_window(&ar->rule, src)};
		double v = 0;

		ar->has_value = kt_alert_value(&ar->rule, src, &v, &t.nseries);
		ar->value = ar->has_value ? v : 0;
		ar->evaluated = true;
		/* lost watches the tracer itself: there is nothing to match */
		ar->matched_now =
			ar->rule.series == KT_RULE_LOST || t.nseries > 0 ||
			(ar->rule.series == KT_RULE_FUNC && func_probed(&ar->rule, src->agg));
		ar->matched_ever |= ar->matched_now;
		if (ar->matched_now)
			ar->unmatched_said = false;

		bool cond = ar->has_value && kt_rule_holds(&ar->rule, v);
		enum kt_alert_transition tr =
			kt_alert_step(&ar->sm, cond, ar->rule.hold_ns, src->now);

		if (tr == KT_ALERT_NONE)
			continue;
		transitions++;
		t.fired = tr == KT_ALERT_FIRED;
		if (t.fired)
			a->fired++;
		else
			a->resolved++;
		emit(a, &w, ar, &t, src);
	}
	kt_json_free(&w);
	return transitions;
}

bool kt_alerts_matched(const struct kt_alerts *a, int i, bool ever)
{
	if (i < 0 || i >= a->n)
		return false;
	return ever ? a->v[i].matched_ever : a->v[i].matched_now;
}

bool kt_alerts_unmatched(const struct kt_alerts *a, int i)
{
	return i >= 0 && i < a->n && a->v[i].evaluated && !a->v[i].matched_now;
}

int kt_alerts_note_unmatched(struct kt_alerts *a, const struct kt_agg *agg, uint64_t now)
{
	int n = 0;
	char why[512];

	for (int i = 0; i < a->n; i++) {
		struct alert_rule *ar = &a->v[i];

		if (!ar->evaluated || ar->matched_now)
			continue;
		n++;
		if (ar->unmatched_said ||
		    (ar->unmatched_at && now - ar->unmatched_at < KT_ALERT_UNMATCHED_LOG_NS))
			continue;
		ar->unmatched_said = true;
		ar->unmatched_at = now;
		kt_log(KT_LOG_WARN, "alert", "rule '%s' matches nothing: %s", ar->rule.text,
		       kt_alert_unmatched_why(&ar->rule, agg, why, sizeof(why)));
	}
	return n;
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
