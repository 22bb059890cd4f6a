// SPDX-License-Identifier: MIT
#include "kt_rule.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *s; /* the rule */
	size_t i;      /* next byte */
	struct kt_rule_error *err;
};

static int fail(struct cursor *c, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct cursor *c, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (c->err) {
		c->err->pos = (int)pos;
		va_start(ap, fmt);
		vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_word(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
	       ch == '.';
}

static void skip_space(struct cursor *c)
{
	while (is_space(c->s[c->i]))
		c->i++;
}

/* A printable excerpt of the token at pos, for messages. */
static const char *excerpt(const char *s, size_t pos, char *buf, size_t n)
{
	size_t j = 0;

	if (!s[pos])
		return "end of rule";
	buf[j++] = '\'';
	for (size_t k = pos; s[k] && !is_space(s[k]) && j + 5 < n && k < pos + 24; k++)
		buf[j++] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
	buf[j++] = '\'';
	buf[j] = 0;
	return buf;
}

/* ---------------------------------------------------------------- numbers and units */

/* Reads digits [. digits] at c->i; false if there is no number. */
static bool read_number(struct cursor *c, double *v)
{
	size_t start = c->i, k = c->i;
	char tmp[64];

	while (is_digit(c->s[k]))
		k++;
	if (c->s[k] == '.' && is_digit(c->s[k + 1])) {
		k++;
		while (is_digit(c->s[k]))
			k++;
	}
	if (k == start || k - start >= sizeof(tmp))
		return false;
	memcpy(tmp, c->s + start, k - start);
	tmp[k - start] = 0;
	*v = strtod(tmp, NULL);
	c->i = k;
	return true;
}

/* Reads the unit glued to a number: letters, µ, '%' and '/'. */
static size_t read_unit(struct cursor *c, char *buf, size_t n)
{
	size_t j = 0;

	for (;;) {
		char ch = c->s[c->i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '%' ||
		    ch == '/') {
			if (j + 1 < n)
				buf[j++] = ch;
			c->i++;
		} else if ((unsigned char)ch == 0xc2 && (unsigned char)c->s[c->i + 1] == 0xb5) {
			if (j + 2 < n) { /* µ */
				buf[j++] = ch;
				buf[j++] = c->s[c->i + 1];
			}
			c->i += 2;
		} else {
			break;
		}
	}
	buf[j] = 0;
	return j;
}

static bool si_prefix(const char **u, double *mul)
{
	*mul = 1;
	if (**u == 'k')
		*mul = 1e3;
	else if (**u == 'M')
		*mul = 1e6;
	else if (**u == 'G')
		*mul = 1e9;
	else
		return false;
	(*u)++;
	return true;
}

/* ---------------------------------------------------------------- parts of a rule */

static int parse_selector(struct cursor *c, struct kt_rule *r, const char *key, size_t key_pos)
{
	char *dst;
	bool *has;
	size_t vpos, len;
	char ex[40];

	if (!strcmp(key, "ring")) {
		dst = r->ring;
		has = &r->has_ring;
	} else if (!strcmp(key, "process")) {
		dst = r->process;
		has = &r->has_process;
	} else if (!strcmp(key, "func")) {
		dst = r->func;
		has = &r->has_func;
	} else {
		dst = NULL;
		has = &r->has_pid;
	}
	if (*has)
		return fail(c, key_pos, "%s= is given twice", key);
	c->i++; /* '=' */
	skip_space(c);
	vpos = c->i;
	if (c->s[c->i] == '"') {
		const char *end = strchr(c->s + c->i + 1, '"');

		if (!end)
			return fail(c, vpos, "unterminated quote in %s=", key);
		len = (size_t)(end - (c->s + c->i + 1));
		vpos++;
		c->i = (size_t)(end - c->s) + 1;
	} else {
		while (c->s[c->i] && !is_space(c->s[c->i]))
			c->i++;
		len = c->i - vpos;
	}
	if (len == 0)
		return fail(c, vpos, "expected a %s after %s=",
			    dst == r->ring	? "ring name"
			    : dst == r->process ? "process name"
			    : dst == r->func	? "function name"
						: "process id",
			    key);
	if (len >= KT_RULE_NAME_MAX)
		return fail(c, vpos, "%s= value longer than %d bytes", key, KT_RULE_NAME_MAX - 1);
	if (dst) {
		memcpy(dst, c->s + vpos, len);
		dst[len] = 0;
	} else {
		char tmp[KT_RULE_NAME_MAX], *end;
		unsigned long v;

		memcpy(tmp, c->s + vpos, len);
		tmp[len] = 0;
		errno = 0;
		v = strtoul(tmp, &end, 10);
		if (!is_digit(tmp[0]) || *end || errno || v == 0 || v > 0x7fffffff)
			return fail(c, vpos, "expected a process id after pid=, got %s",
				    excerpt(c->s, vpos, ex, sizeof(ex)));
		r->pid = (uint32_t)v;
	}
	*has = true;
	return 0;
}

static const char *const series_names[] = {
	[KT_RULE_SEND] = "send",
	[KT_RULE_RECV] = "recv",
	[KT_RULE_SOJOURN] = "sojourn",
	[KT_RULE_BACKPRESSURE] = "backpressure",
	[KT_RULE_RETRANSMIT] = "retransmit",
	[KT_RULE_LOST] = "lost",
	[KT_RULE_FUNC] = "func",
};

static int parse_pct(struct cursor *c, const char *st, size_t pos, double *pct)
{
	const char *d = st + 1;
	size_t nd = strspn(d, "0123456789");
	char ex[40];

	if (nd == 0)
		goto bad;
	if (d[nd] == '.') {
		size_t nf = strspn(d + nd + 1, "0123456789");

		if (nf == 0 || d[nd + 1 + nf])
			goto bad;
		*pct = strtod(d, NULL);
	} else if (d[nd]) {
		goto bad;
	} else if (!strcmp(d, "100")) {
		*pct = 100;
	} else if (nd <= 2) {
		*pct = strtod(d, NULL);
	} else {
		char tmp[32];

		/* p999 = 99.9; anything else this long is ambiguous (p101: 10.1? 101?) */
		if (nd > 12 || strncmp(d, "99", 2))
			goto bad;
		snprintf(tmp, sizeof(tmp), "%.2s.%s", d, d + 2);
		*pct = strtod(tmp, NULL);
	}
	if (!(*pct >= 0 && *pct <= 100))
		return fail(c, pos, "percentile %s is above 100", st);
	return 0;
bad:
	return fail(c, pos, "bad percentile %s: expected p50, p99, p999 or p99.5",
		    excerpt(c->s, pos, ex, sizeof(ex)));
}

static int parse_metric(struct cursor *c, struct kt_rule *r, const char *word, size_t pos)
{
	const char *dot = strchr(word, '.');
	size_t slen = dot ? (size_t)(dot - word) : strlen(word);
	const char *st = dot ? dot + 1 : NULL;
	size_t st_pos = pos + slen + 1;
	char ex[40];
	int k;

	for (k = 0; k < KT_RULE_SERIES_NR; k++)
		if (strlen(series_names[k]) == slen && !strncmp(word, series_names[k], slen))
			break;
	if (k == KT_RULE_SERIES_NR)
		return fail(c, pos,
			    "unknown metric %s: expected send, recv, sojourn, backpressure, "
			    "retransmit, lost or func",
			    excerpt(c->s, pos, ex, sizeof(ex)));
	r->series = (enum kt_rule_series)k;
	snprintf(r->metric, sizeof(r->metric), "%.31s", word);
	if (r->series == KT_RULE_LOST) {
		if (!st) {
			r->stat = KT_RULE_COUNT;
		} else if (!strcmp(st, "rate")) {
			r->stat = KT_RULE_RATE;
		} else {
			return fail(c, st_pos, "lost takes no statistic but .rate, got '.%.20s'",
				    st);
		}
		return 0;
	}
	if (!st || !*st)
		return fail(c, dot ? st_pos : pos + slen,
			    "expected '.' and a statistic after '%s' (e.g. %s.p99, %s.rate)",
			    series_names[k], series_names[k], series_names[k]);
	if (st[0] == 'p' && (is_digit(st[1]) || !st[1])) {
		r->stat = KT_RULE_PCT;
		if (parse_pct(c, st, st_pos, &r->pct))
			return -EINVAL;
	} else if (!strcmp(st, "min")) {
		r->stat = KT_RULE_MIN;
	} else if (!strcmp(st, "max")) {
		r->stat = KT_RULE_MAX;
	} else if (!strcmp(st, "mean")) {
		r->stat = KT_RULE_MEAN;
	} else if (!strcmp(st, "count")) {
		r->stat = KT_RULE_COUNT;
	} else if (!strcmp(st, "rate")) {
		r->stat = KT_RULE_RATE;
	} else if (!strcmp(st, "ratio")) {
		r->stat = KT_RULE_RATIO;
	} else {
		return fail(c, st_pos,
			    "unknown statistic %s: expected pNN, min, max, mean, count, rate or "
			    "ratio",
			    excerpt(c->s, st_pos, ex, sizeof(ex)));
	}
	bool latency = r->stat <= KT_RULE_MEAN;

	if (r->series == KT_RULE_RETRANSMIT && latency)
		return fail(c, st_pos, "retransmit has no latency: use count, rate or ratio");
	if (r->series == KT_RULE_SOJOURN && r->stat >= KT_RULE_RATE)
		return fail(c, st_pos, "sojourn takes latency statistics or count");
	if (r->series == KT_RULE_FUNC && r->stat == KT_RULE_RATIO)
		return fail(c, st_pos, "func takes latency statistics, count or rate");
	if (r->stat == KT_RULE_RATIO && r->series != KT_RULE_BACKPRESSURE &&
	    r->series != KT_RULE_RETRANSMIT)
		return fail(c, st_pos,
			    "ratio is defined for backpressure and retransmit (per message sent)");
	return 0;
}

static int parse_value(struct cursor *c, struct kt_rule *r)
{
	size_t pos = c->i, upos;
	char unit[16], ex[40];
	const char *u;
	double v, mul;

	if (!read_number(c, &v))
		return fail(c, pos, "expected a number after the comparison, got %s",
			    excerpt(c->s, pos, ex, sizeof(ex)));
	upos = c->i;
	read_unit(c, unit, sizeof(unit));
	if (c->s[c->i] && !is_space(c->s[c->i]))
		return fail(c, c->i, "unexpected %s after the value",
			    excerpt(c->s, c->i, ex, sizeof(ex)));
	u = unit;
	switch (r->stat) {
	case KT_RULE_PCT:
	case KT_RULE_MIN:
	case KT_RULE_MAX:
	case KT_RULE_MEAN:
		r->unit = KT_RULE_UNIT_NS;
		if (!unit[0] && v == 0)
			break;
		if (!unit[0] || !kt_units_time(unit, &mul))
			return fail(c, upos,
				    "expected a time unit (ns, us, ms, s) after the number");
		v *= mul;
		break;
	case KT_RULE_COUNT:
		r->unit = KT_RULE_UNIT_COUNT;
		if (unit[0] && (!si_prefix(&u, &mul) || *u))
			return fail(c, upos, "a count takes no unit (k, M, G multiply), got '%s'",
				    unit);
		if (unit[0])
			v *= mul;
		break;
	case KT_RULE_RATE:
		r->unit = KT_RULE_UNIT_PER_S;
		if (!si_prefix(&u, &mul))
			mul = 1;
		if (strcmp(u, "/s"))
			return fail(c, upos,
				    "expected '/s' after the number (rates are per second)");
		v *= mul;
		break;
	case KT_RULE_RATIO:
		r->unit = KT_RULE_UNIT_FRACTION;
		if (!strcmp(unit, "%")) {
			if (v > 100)
				return fail(c, pos, "a percentage is at most 100%%");
			v /= 100;
		} else if (unit[0]) {
			return fail(c, upos, "a ratio takes '%%' or no unit, got '%s'", unit);
		} else if (v > 1) {
			return fail(c, pos, "a ratio is a fraction 0..1 or a percentage like 1%%");
		}
		break;
	}
	if (!isfinite(v))
		return fail(c, pos, "number out of range");
	r->threshold = v;
	return 0;
}

/* func= goes with the func series, ring= never does. */
static int check_func_selectors(struct cursor *c, const struct kt_rule *r, size_t sel_pos,
				size_t metric_pos)
{
	if (r->series == KT_RULE_FUNC && r->has_ring)
		return fail(c, sel_pos, "func (a --func function) takes no ring=: use func=");
	if (r->series != KT_RULE_FUNC && r->has_func)
		return fail(c, metric_pos,
			    "func= selects --func functions: use the func series (e.g. "
			    "func.p99), not %s",
			    r->metric);
	return 0;
}

/* "over" / "for": a duration follows. */
static int parse_clause(struct cursor *c, struct kt_rule *r, const char *kw, size_t kw_pos,
			bool *seen)
{
	size_t pos;
	char tok[32], ex[40];
	uint64_t ns;
	bool over = !strcmp(kw, "over");

	if (*seen)
		return fail(c, kw_pos, "'%s' is given twice", kw);
	*seen = true;
	skip_space(c);
	pos = c->i;
	while (c->s[c->i] && !is_space(c->s[c->i]))
		c->i++;
	if (c->i == pos)
		return fail(c, pos, "expected a duration after '%s' (e.g. 10s)", kw);
	if (c->i - pos >= sizeof(tok) ||
	    (memcpy(tok, c->s + pos, c->i - pos), tok[c->i - pos] = 0, kt_parse_duration(tok, &ns)))
		return fail(c, pos, "expected a duration after '%s' (e.g. 10s, 1m), got %s", kw,
			    excerpt(c->s, pos, ex, sizeof(ex)));
	if (over && (ns < 1000000000ull || ns > 86400000000000ull))
		return fail(c, pos, "the window after 'over' must be 1s..24h");
	if (!over && ns > 86400000000000ull)
		return fail(c, pos, "the hold time after 'for' must be at most 24h");
	if (over && r->series == KT_RULE_FUNC)
		return fail(c, kw_pos,
			    "func rules are computed on the whole run: windows keep ring series "
			    "only, no 'over'");
	if (over)
		r->window_ns = ns;
	else
		r->hold_ns = ns;
	return 0;
}

/* Copies text with whitespace runs collapsed to one space and trimmed. */
static void normalize(const char *s, char *out, size_t n)
{
	size_t j = 0;
	bool sp = false;

	for (; *s && j + 1 < n; s++) {
		if (is_space(*s)) {
			sp = j > 0;
			continue;
		}
		if (sp && j + 2 < n)
			out[j++] = ' ';
		sp = false;
		out[j++] = *s;
	}
	out[j] = 0;
}

/* A word at the cursor into word (wsize bytes): its length, or -EINVAL (said). */
static int read_word(struct cursor *c, char *word, size_t wsize)
{
	const char *text = c->s;
	size_t pos = c->i, wl;
	char ex[40];

	if (!text[pos])
		return fail(c, pos, "expected a metric (e.g. send.p99 > 1us), got end of rule");
	while (is_word(text[c->i]))
		c->i++;
	wl = c->i - pos;
	if (wl == 0)
		return fail(c, pos, "expected a metric or a selector, got %s",
			    excerpt(text, pos, ex, sizeof(ex)));
	if (wl >= wsize)
		return fail(c, pos, "name longer than %zu bytes", wsize - 1);
	memcpy(word, text + pos, wl);
	word[wl] = 0;
	return (int)wl;
}

/* Selectors (ring=, process=, pid=), then the metric: 0 or -EINVAL (said). */
static int parse_subject(struct cursor *c, struct kt_rule *r)
{
	const char *text = c->s;
	size_t sel_pos = SIZE_MAX;
	char word[64];

	for (;;) {
		size_t pos, after;
		bool selector;

		skip_space(c);
		pos = c->i;
		if (read_word(c, word, sizeof(word)) < 0)
			return -EINVAL;
		after = c->i;
		skip_space(c);
		selector = !strcmp(word, "ring") || !strcmp(word, "process") ||
			   !strcmp(word, "pid") || !strcmp(word, "func");
		if (text[c->i] == '=' && (selector || !strchr(word, '.'))) {
			if (!selector)
				return fail(
					c, pos,
					"unknown selector '%s=': expected ring=, process=, pid= "
					"or func=",
					word);
			if (sel_pos == SIZE_MAX)
				sel_pos = pos;
			if (parse_selector(c, r, word, pos))
				return -EINVAL;
			continue;
		}
		c->i = after;
		if (parse_metric(c, r, word, pos))
			return -EINVAL;
		if (r->series == KT_RULE_LOST && sel_pos != SIZE_MAX)
			return fail(c, sel_pos,
				    "lost counts the events of every process and ring: it takes "
				    "no ring=, process= or pid=");
		return check_func_selectors(c, r, sel_pos, pos) ? -EINVAL : 0;
	}
}

/* The comparison and its value: 0 or -EINVAL (said). */
static int parse_comparison(struct cursor *c, struct kt_rule *r)
{
	const char *text = c->s;
	size_t cpos;
	char ex[40];
	bool eq;

	skip_space(c);
	cpos = c->i;
	if (text[c->i] != '>' && text[c->i] != '<')
		return fail(c, cpos, "expected a comparison (>, >=, <, <=) after '%s', got %s",
			    r->metric, excerpt(text, cpos, ex, sizeof(ex)));
	eq = text[c->i + 1] == '=';
	r->cmp =
		text[c->i] == '>' ? (eq ? KT_RULE_GE : KT_RULE_GT) : (eq ? KT_RULE_LE : KT_RULE_LT);
	c->i += eq ? 2 : 1;
	skip_space(c);
	return parse_value(c, r) ? -EINVAL : 0;
}

/* "over WINDOW" and "for DURATION", each at most once, to the end: 0 or -EINVAL (said). */
static int parse_clauses(struct cursor *c, struct kt_rule *r)
{
	const char *text = c->s;
	bool seen_over = false, seen_for = false;
	char ex[40];

	for (;;) {
		size_t pos, wl;
		bool ends;

		skip_space(c);
		pos = c->i;
		if (!text[pos])
			return 0;
		while (is_word(text[c->i]))
			c->i++;
		wl = c->i - pos;
		ends = is_space(text[c->i]) || !text[c->i];
		if (wl == 4 && !strncmp(text + pos, "over", 4) && ends) {
			if (parse_clause(c, r, "over", pos, &seen_over))
				return -EINVAL;
		} else if (wl == 3 && !strncmp(text + pos, "for", 3) && ends) {
			if (parse_clause(c, r, "for", pos, &seen_for))
				return -EINVAL;
		} else {
			return fail(c, pos, "expected 'over', 'for' or the end of the rule, got %s",
				    excerpt(text, pos, ex, sizeof(ex)));
		}
	}
}

int kt_rule_parse(const char *text, struct kt_rule *r, struct kt_rule_error *err)
{
	struct cursor c = {.s = text, .err = err};
	size_t len = strnlen(text, KT_RULE_TEXT_MAX);

	memset(r, 0, sizeof(*r));
	if (err)
		memset(err, 0, sizeof(*err));
	if (len == KT_RULE_TEXT_MAX)
		return fail(&c, KT_RULE_TEXT_MAX - 1, "rule longer than %d bytes",
			    KT_RULE_TEXT_MAX - 1);
	normalize(text, r->text, sizeof(r->text));
	if (parse_subject(&c, r) || parse_comparison(&c, r) || parse_clauses(&c, r))
		return -EINVAL;
	return 0;
}

const char *kt_rule_strerror(const struct kt_rule_error *err, char *buf, size_t n)
{
	snprintf(buf, n, "column %d: %s", err->pos + 1, err->msg);
	return buf;
}

bool kt_rule_holds(const struct kt_rule *r, double v)
{
	switch (r->cmp) {
	case KT_RULE_GT:
		return v > r->threshold;
	case KT_RULE_GE:
		return v >= r->threshold;
	case KT_RULE_LT:
		return v < r->threshold;
	case KT_RULE_LE:
		return v <= r->threshold;
	}
	return false;
}

const char *kt_rule_cmp_str(enum kt_rule_cmp c)
{
	switch (c) {
	case KT_RULE_GT:
		return ">";
	case KT_RULE_GE:
		return ">=";
	case KT_RULE_LT:
		return "<";
	case KT_RULE_LE:
		return "<=";
	}
	return "?";
}

const char *kt_rule_unit_str(enum kt_rule_unit u)
{
	switch (u) {
	case KT_RULE_UNIT_NS:
		return "ns";
	case KT_RULE_UNIT_COUNT:
		return "count";
	case KT_RULE_UNIT_PER_S:
		return "per_s";
	case KT_RULE_UNIT_FRACTION:
		return "fraction";
	}
	return "?";
}
