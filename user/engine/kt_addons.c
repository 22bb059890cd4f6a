// SPDX-License-Identifier: MIT
/*
 * kt_addons: the timeline sink, the alert log and the one-shot's alert
 * add-on (kt_addons.h). Owns no policy of a driver: the lines it has to
 * say go through the driver's note callback.
 */
#include "kt_addons.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The stamp's length in a stamped name: YYYYMMDDTHHMMSS.mmmZ */
#define STAMP_LEN 20

/* Where path's extension starts in its last component (its end if none). */
static const char *path_ext(const char *path)
{
	const char *base = strrchr(path, '/'), *ext;

	base = base ? base + 1 : path;
	ext = strrchr(base, '.');
	return ext && ext != base ? ext : path + strlen(path);
}

void kt_timeline_stamped_path(const char *path, char *out, size_t len)
{
	const char *ext = path_ext(path);
	struct timespec ts;
	char stamp[32];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(out, len, "%.*s-%s.%03ldZ%s", (int)(ext - path), path, stamp, ts.tv_nsec / 1000000,
		 ext);
}

/* Whether name (in path's directory) is one of path's stamped files. */
static bool is_stamped(const char *path, const char *name)
{
	const char *base = strrchr(path, '/'), *ext = path_ext(path);
	size_t blen, elen = strlen(ext), n = strlen(name);

	base = base ? base + 1 : path;
	blen = (size_t)(ext - base);
	return n == blen + 1 + STAMP_LEN + elen && !strncmp(name, base, blen) &&
	       name[blen] == '-' && !strcmp(name + n - elen, ext) &&
	       name[blen + 1 + STAMP_LEN - 1] == 'Z';
}

/* Removes all but the newest k->keep stamped files (the stamps sort by time). */
static void prune_stamped(struct kt_timeline_sink *k)
{
	char dir[4096], file[4096 + 256];
	const char *slash = strrchr(k->path, '/');
	struct dirent **list;
	int n, kept = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == k->path ? 1 : (int)(slash - k->path),
			 k->path);
	n = scandir(dir, &list, NULL, alphasort);
	for (int i = n - 1; i >= 0; i--) {
		if (is_stamped(k->path, list[i]->d_name) && ++kept > (int)k->keep) {
			snprintf(file, sizeof(file), "%s/%s", dir, list[i]->d_name);
			unlink(file);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

/* Points the timeline at a new stamped file (keep > 0). */
static void stamp_next(struct kt_timeline_sink *k)
{
	char path[4096];

	if (!k->keep)
		return;
	kt_timeline_stamped_path(k->path, path, sizeof(path));
	kt_timeline_set_path(k->t, path);
}

void kt_timeline_sink_reap(struct kt_timeline_sink *k, bool wait)
{
	char err[640];
	int r = k->t ? kt_timeline_reap(k->t, wait, err, sizeof(err)) : 0;

	if (r == 2)
		say(k->note, k->note_ctx, false, "%s: wrote %llu events to timeline %s", k->running,
		    (unsigned long long)kt_timeline_last_written(k->t), kt_timeline_path(k->t));
	if (r == -1) {
		say(k->note, k->note_ctx, true, "timeline: %s", err);
		k->failed = true;
	}
	if (r == 2 || r == -1) {
		k->running = NULL;
		if (k->keep)
			prune_stamped(k);
	}
	if ((r == 2 || r == -1) && k->pending && !k->finishing) {
		const char *why = k->pending;

		k->pending = NULL;
		kt_timeline_sink_write(k, why);
	}
}

int kt_timeline_sink_write(struct kt_timeline_sink *k, const char *why)
{
	char err[512];
	int r;

	if (!k->t || k->finishing)
		return 0;
	if (k->running) {
		k->pending = why; /* after the one under way: the newest events */
		return 0;
	}
	if (!kt_timeline_to_stdout(k->t))
		stamp_next(k);
	r = kt_timeline_write_bg(k->t, err, sizeof(err));
	if (r == -2) {
		say(k->note, k->note_ctx, false, "%s: %s", why, err); /* stdout: not now */
		return 0;
	}
	if (r == 1)
		k->pending = why;
	if (r == 0)
		k->running = why;
	if (r < 0) {
		say(k->note, k->note_ctx, true, "timeline: %s", err);
		k->failed = true;
		return -1;
	}
	return 0;
}

int kt_timeline_sink_close(struct kt_timeline_sink *k, char *msg, size_t msglen)
{
	char err[512];
	uint64_t dropped;
	bool last;

	msg[0] = 0;
	if (!k->t)
		return 0;
	struct kt_timeline *t = k->t;

	k->finishing = true;
	dropped = kt_timeline_dropped(t);
	last = kt_timeline_keeps_last(t);
	k->t = NULL; /* the hook may still be registered: it sees no timeline from here on */
	kt_timeline_reap(t, true, err, sizeof(err));
	if (k->keep && !kt_timeline_to_stdout(t)) {
		char path[4096];

		kt_timeline_stamped_path(k->path, path, sizeof(path));
		kt_timeline_set_path(t, path);
	}
	if (kt_timeline_write(t, err, sizeof(err))) {
		kt_timeline_free(t);
		snprintf(msg, msglen, "timeline: %s", err);
		return -1;
	}
	snprintf(msg, msglen, "wrote %llu events to timeline %s%s",
		 (unsigned long long)kt_timeline_last_written(t), kt_timeline_path(t),
		 !dropped ? ""
		 : last	  ? " (the newest: older ones replaced)"
			  : " (cap reached: some left out)");
	kt_timeline_free(t);
	if (k->keep)
		prune_stamped(k);
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

int kt_oneshot_write_timeline(struct kt_oneshot *o, const char *why)
{
	return o ? kt_timeline_sink_write(&o->tl, why) : 0;
}

struct kt_timeline *kt_oneshot_timeline(struct kt_oneshot *o)
{
	return o ? o->tl.t : NULL;
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
	kt_timeline_sink_reap(&o->tl, false);
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
	kt_timeline_sink_reap(&o->tl, true); /* says how a write under way ended */
	bool tl_failed = kt_timeline_sink_close(&o->tl, msg, sizeof(msg)) != 0;

	if (tl_failed || o->tl.failed)
		rc = -1;
	if (msg[0])
		say(o->note, o->note_ctx, tl_failed, "%s", msg);
	oneshot_free(o);
	return rc;
}
