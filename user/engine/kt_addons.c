// SPDX-License-Identifier: MIT
/*
 * kt_addons: the timeline sink, the alert log and the one-shot's alert
 * add-on (kt_addons.h). Owns no policy of a driver: the lines it has to
 * say go through the driver's note callback.
 */
#include "kt_addons.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kt_alert.h"
#include "kt_rule.h"
#include "kt_timeline.h"

static void say(kt_note_fn note, void *ctx, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void say(kt_note_fn note, void *ctx, bool warning, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	note(ctx, warning, line);
}

void kt_addons_global_counters(struct kt_session *s, uint64_t g[KT_WIN_G_NR])
{
	struct kt_report_totals t;

	kt_session_totals(s, &t);
	g[KT_WIN_G_FIRED] = t.fired;
	g[KT_WIN_G_DELIVERED] = t.delivered;
	g[KT_WIN_G_LOST] = t.lost;
}

/* ---------------------------------------------------------------- timeline */

static void timeline_event(void *ctx, const struct kt_event *e, size_t size)
{
	struct kt_timeline_sink *k = ctx;

	if (!k->t || !kt_timeline_add(k->t, e, size))
		return;
	if (kt_timeline_keeps_last(k->t))
		say(k->note, k->note_ctx, false,
		    "timeline %s: %llu events held; older ones are now replaced by newer (%s)",
		    k->path, (unsigned long long)kt_timeline_written(k->t),
		    k->cap_hint ? k->cap_hint : "a higher cap");
	else
		say(k->note, k->note_ctx, true,
		    "timeline %s: cap of %llu events reached; later events are counted, not "
		    "written (%s)",
		    k->path, (unsigned long long)kt_timeline_written(k->t),
		    k->cap_hint ? k->cap_hint : "a higher cap");
}

int kt_timeline_sink_open(struct kt_timeline_sink *k, struct kt_session *s, const char *path,
			  const struct kt_timeline_opts *to, char *err, size_t errlen)
{
	k->t = kt_timeline_open(path, to, &s->agg, err, errlen);
	if (!k->t)
		return -1;
	k->path = path;
	if (kt_session_add_hook(s, timeline_event, k)) {
		kt_timeline_free(k->t);
		k->t = NULL;
		snprintf(err, errlen, "timeline %s: too many event hooks", path);
		return -1;
	}
	return 0;
}

int kt_timeline_sink_close(struct kt_timeline_sink *k, char *msg, size_t msglen)
{
	uint64_t dropped;
	bool last;
	char err[512];
	struct kt_timeline *t = k->t;

	msg[0] = 0;
	if (!t)
		return 0;
	dropped = kt_timeline_dropped(t);
	last = kt_timeline_keeps_last(t);
	k->t = NULL; /* the hook may still be registered: it sees no timeline from here on */
	kt_timeline_reap(t, true, err, sizeof(err));
	if (kt_timeline_write(t, err, sizeof(err))) {
		kt_timeline_free(t);
		snprintf(msg, msglen, "timeline: %s", err);
		return -1;
	}
	snprintf(msg, msglen, "wrote %llu events to timeline %s%s",
		 (unsigned long long)kt_timeline_last_written(t), k->path,
		 !dropped ? ""
		 : last	  ? " (the newest: older ones replaced)"
			  : " (cap reached: some left out)");
	kt_timeline_free(t);
	return 0;
}

/* ---------------------------------------------------------------- alert log */

FILE *kt_alert_log_open(const char *path, bool append, char *err, size_t errlen)
{
	FILE *f;

	if (!path || !path[0] || !strcmp(path, "-"))
		return stderr;
	f = fopen(path, append ? "ae" : "we");
	if (!f) {
		snprintf(err, errlen, "cannot write %.512s: %s", path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0); /* a transition is on disk when it is logged */
	return f;
}

int kt_alert_log_close(FILE *f)
{
	if (!f || f == stderr)
		return 0;
	return fclose(f) ? -errno : 0;
}

/* ---------------------------------------------------------------- one-shot */

struct kt_oneshot {
	struct kt_session *s;
	struct kt_windows *win;
	struct kt_alerts *alerts;
	FILE *alert_out;
	const char *alert_path;
	struct kt_timeline_sink tl;
	kt_note_fn note;
	void *note_ctx;
	uint64_t next_eval;
	uint64_t fired_seen; /* alerts fired when the timeline was last written */
};

static void oneshot_free(struct kt_oneshot *o)
{
	kt_alerts_free(o->alerts);
	kt_windows_free(o->win);
	kt_alert_log_close(o->alert_out);
	kt_timeline_free(o->tl.t); /* not written: a failed start */
	free(o);
}

/* Parses the rules into rules[] and collects their distinct "over" windows. */
static int oneshot_rules(const struct kt_oneshot_opts *opt, struct kt_rule *rules,
			 uint64_t lens[KT_WIN_MAX], int *nw, char *err, size_t errlen)
{
	*nw = 0;
	for (int i = 0; i < opt->nrules; i++) {
		struct kt_rule_error re;
		char eb[256];
		bool dup = false;

		if (kt_rule_parse(opt->rules[i], &rules[i], &re)) {
			snprintf(err, errlen, "--alert '%s': %s", opt->rules[i],
				 kt_rule_strerror(&re, eb, sizeof(eb)));
			return -1;
		}
		for (int j = 0; j < *nw; j++)
			dup |= lens[j] == rules[i].window_ns;
		if (!rules[i].window_ns || dup)
			continue;
		if (*nw == KT_WIN_MAX) {
			snprintf(err, errlen, "--alert: more than %d distinct 'over' windows",
				 KT_WIN_MAX);
			return -1;
		}
		lens[(*nw)++] = rules[i].window_ns;
	}
	return 0;
}

struct kt_oneshot *kt_oneshot_start(struct kt_session *s, const struct kt_oneshot_opts *opt,
				    char *err, size_t errlen)
{
	struct kt_oneshot *o = calloc(1, sizeof(*o));
	struct kt_rule *rules = opt->nrules ? calloc((size_t)opt->nrules, sizeof(*rules)) : NULL;
	uint64_t lens[KT_WIN_MAX];
	int nw;

	snprintf(err, errlen, "out of memory");
	if (!o || (opt->nrules && !rules)) {
		free(o);
		free(rules);
		return NULL;
	}
	o->s = s;
	o->note = opt->note;
	o->note_ctx = opt->note_ctx;
	o->tl = (struct kt_timeline_sink){
		.cap_hint = "--timeline-max-events", .note = opt->note, .note_ctx = opt->note_ctx};
	o->win = kt_windows_new(kt_now_ns(CLOCK_MONOTONIC));
	o->alerts = kt_alerts_new();
	if (!o->win || !o->alerts || oneshot_rules(opt, rules, lens, &nw, err, errlen))
		goto fail;
	if (kt_windows_set(o->win, lens, nw) ||
	    kt_alerts_set_rules(o->alerts, rules, opt->nrules)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	o->alert_path = opt->alert_log;
	if (!(o->alert_out = kt_alert_log_open(opt->alert_log, false, err, errlen)))
		goto fail;
	kt_alerts_set_output(o->alerts, o->alert_out, NULL, 0);
	struct kt_timeline_opts to = {opt->timeline_max, opt->timeline_keep_last,
				      opt->timeline_last_ns};

	if (opt->timeline && kt_timeline_sink_open(&o->tl, s, opt->timeline, &to, err, errlen))
		goto fail;
	o->next_eval = kt_now_ns(CLOCK_MONOTONIC) + KT_ONESHOT_EVAL_NS;
	free(rules);
	return o;
fail:
	free(rules);
	oneshot_free(o);
	return NULL;
}

const struct kt_alerts *kt_oneshot_alerts(const struct kt_oneshot *o)
{
	return o ? o->alerts : NULL;
}

static void oneshot_eval(struct kt_oneshot *o, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];
	struct kt_alert_src src = {.agg = &o->s->agg,
				   .win = o->win,
				   .global = g,
				   .now = now,
				   .default_win = KT_WIN_ALL};

	kt_addons_global_counters(o->s, g);
	kt_windows_tick(o->win, &o->s->agg, g, now);
	if (kt_alerts_nrules(o->alerts))
		kt_alerts_eval(o->alerts, &src);
	if (o->tl.t && kt_alerts_fired(o->alerts) > o->fired_seen) {
		/* the moments before an alert are what a flight recorder is for */
		o->fired_seen = kt_alerts_fired(o->alerts);
		kt_oneshot_write_timeline(o, "an alert fired");
	}
}

/* Says how the background write ended, if it did; starts the one asked meanwhile. */
static void timeline_reap(struct kt_oneshot *o, bool wait)
{
	struct kt_timeline_sink *h = &o->tl;
	char err[640];
	int r = kt_timeline_reap(h->t, wait, err, sizeof(err));

	if (r == 2)
		say(o->note, o->note_ctx, false, "%s: wrote %llu events to timeline %s", h->running,
		    (unsigned long long)kt_timeline_last_written(h->t), h->path);
	if (r == -1) {
		say(o->note, o->note_ctx, true, "timeline: %s", err);
		h->failed = true;
	}
	if ((r == 2 || r == -1) && h->pending && !h->finishing) {
		const char *why = h->pending;

		h->pending = NULL;
		kt_oneshot_write_timeline(o, why);
	}
}

int kt_oneshot_write_timeline(struct kt_oneshot *o, const char *why)
{
	char err[512];
	int r;

	if (!o || !o->tl.t || o->tl.finishing)
		return 0;
	r = kt_timeline_write_bg(o->tl.t, err, sizeof(err));
	if (r == -2) {
		say(o->note, o->note_ctx, false, "%s: %s", why, err); /* stdout: not now */
		return 0;
	}
	if (r == 1)
		o->tl.pending = why; /* after the one under way: the newest events */
	if (r == 0)
		o->tl.running = why;
	if (r < 0) {
		say(o->note, o->note_ctx, true, "timeline: %s", err);
		o->tl.failed = true;
		return -1;
	}
	return 0;
}

void kt_oneshot_tick(struct kt_oneshot *o, uint64_t now)
{
	uint64_t g[KT_WIN_G_NR];

	if (kt_windows_count(o->win)) {
		kt_addons_global_counters(o->s, g);
		kt_windows_tick(o->win, &o->s->agg, g, now);
	}
	if (now >= o->next_eval) {
		oneshot_eval(o, now);
		o->next_eval = now + KT_ONESHOT_EVAL_NS;
	}
	if (o->tl.t)
		timeline_reap(o, false);
}

/* Closes the alert log: -1 if a line could not be written (said). */
static int oneshot_close_alert_log(struct kt_oneshot *o)
{
	int werr, e, rc = 0;
	uint64_t lost = kt_alerts_write_errors(o->alerts, &werr);

	if (lost) {
		/* each failed line was logged; the run must not end with 0 (docs promise it) */
		say(o->note, o->note_ctx, true, "writing %s failed: %s (%llu alert line%s lost)",
		    o->alert_path ? o->alert_path : "stderr", strerror(werr),
		    (unsigned long long)lost, lost == 1 ? "" : "s");
		rc = -1;
	}
	e = kt_alert_log_close(o->alert_out);
	o->alert_out = NULL;
	if (e && !lost) {
		say(o->note, o->note_ctx, true, "writing %s failed: %s", o->alert_path,
		    strerror(-e));
		rc = -1;
	}
	return rc;
}

/* One line per rule that matched nothing during the whole run; returns how many. */
static int say_unmatched(struct kt_oneshot *o)
{
	char why[512];
	int n = 0;

	for (int i = 0; i < kt_alerts_nrules(o->alerts); i++) {
		if (kt_alerts_matched(o->alerts, i, true))
			continue;
		say(o->note, o->note_ctx, true, "alert '%s' matched nothing: %s",
		    kt_alerts_rule(o->alerts, i)->text,
		    kt_alert_unmatched_why(kt_alerts_rule(o->alerts, i), &o->s->agg, why,
					   sizeof(why)));
		n++;
	}
	return n;
}

int kt_oneshot_finish(struct kt_oneshot *o, int *unmatched)
{
	char msg[768];
	int rc = 0, nr = kt_alerts_nrules(o->alerts);

	o->tl.finishing = true; /* the final write below holds every alert's moments */
	*unmatched = 0;
	if (nr) {
		oneshot_eval(o, kt_now_ns(CLOCK_MONOTONIC));
		rc = (int)kt_alerts_fired(o->alerts);
		say(o->note, o->note_ctx, false, "alerts: %d rule%s, %llu fired, %llu resolved", nr,
		    nr == 1 ? "" : "s", (unsigned long long)kt_alerts_fired(o->alerts),
		    (unsigned long long)kt_alerts_resolved(o->alerts));
		*unmatched = say_unmatched(o);
	}
	if (oneshot_close_alert_log(o))
		rc = -1;
	if (o->tl.t)
		timeline_reap(o, true); /* says how a write under way ended */
	bool tl_failed = kt_timeline_sink_close(&o->tl, msg, sizeof(msg)) != 0;

	if (tl_failed || o->tl.failed)
		rc = -1;
	if (msg[0])
		say(o->note, o->note_ctx, tl_failed, "%s", msg);
	oneshot_free(o);
	return rc;
}
