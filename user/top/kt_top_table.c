// SPDX-License-Identifier: MIT
/*
 * kt_top_table: the columns of `kaos-trace top` (kt_top_model.h): which fit
 * a width, each cell's text, the sparkline's levels, the plain-text block.
 */
#include "kt_top_model.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *title;
	int width;
} cols[KT_TOP_COL_NR] = {
	[KT_TOP_COL_PID] = {"PID", 7},		[KT_TOP_COL_COMM] = {"COMM", 15},
	[KT_TOP_COL_NAME] = {"RING/FUNC", 14},	[KT_TOP_COL_RATE] = {"MSGS/S", 7},
	[KT_TOP_COL_SEND50] = {"SEND50", 8},	[KT_TOP_COL_SEND99] = {"SEND99", 8},
	[KT_TOP_COL_SEND999] = {"SEND99.9", 8}, [KT_TOP_COL_RECV50] = {"RECV50", 8},
	[KT_TOP_COL_RECV99] = {"RECV99", 8},	[KT_TOP_COL_RECV999] = {"RECV99.9", 8},
	[KT_TOP_COL_SOJ50] = {"SOJ50", 8},	[KT_TOP_COL_SOJ99] = {"SOJ99", 8},
	[KT_TOP_COL_SOJ999] = {"SOJ99.9", 8},	[KT_TOP_COL_BP] = {"BP", 5},
	[KT_TOP_COL_BPWAIT] = {"BP WAIT", 8},	[KT_TOP_COL_CLASS] = {"CLS", 4},
	[KT_TOP_COL_SPARK] = {"P99 TREND", 10},
};

/*
 * What goes first when the terminal is narrow: what a ring is, how busy,
 * how it fares, then the tails, then the rest. 80 columns hold the first
 * nine (the sparkline included).
 */
static const enum kt_top_col priority[KT_TOP_COL_NR] = {
	KT_TOP_COL_NAME,    KT_TOP_COL_RATE,   KT_TOP_COL_CLASS,  KT_TOP_COL_SEND99,
	KT_TOP_COL_RECV99,  KT_TOP_COL_SOJ99,  KT_TOP_COL_PID,	  KT_TOP_COL_BP,
	KT_TOP_COL_SPARK,   KT_TOP_COL_COMM,   KT_TOP_COL_BPWAIT, KT_TOP_COL_SEND999,
	KT_TOP_COL_RECV999, KT_TOP_COL_SOJ999, KT_TOP_COL_SEND50, KT_TOP_COL_RECV50,
	KT_TOP_COL_SOJ50,
};

const char *kt_top_col_title(enum kt_top_col c)
{
	return c >= 0 && c < KT_TOP_COL_NR ? cols[c].title : "?";
}

int kt_top_col_width(enum kt_top_col c)
{
	return c >= 0 && c < KT_TOP_COL_NR ? cols[c].width : 0;
}

int kt_top_columns(int width, enum kt_top_col *out, int *spark_width)
{
	bool take[KT_TOP_COL_NR] = {0};
	int used = 0, n = 0;

	for (int i = 0; i < KT_TOP_COL_NR; i++) {
		enum kt_top_col c = priority[i];
		int need = cols[c].width + (used ? 1 : 0);

		if (used + need <= width) {
			take[c] = true;
			used += need;
		}
	}
	*spark_width = 0;
	if (take[KT_TOP_COL_SPARK]) {
		int w = cols[KT_TOP_COL_SPARK].width + (width - used);

		*spark_width = w > KT_TOP_SPARK ? KT_TOP_SPARK : w;
	}
	for (int c = 0; c < KT_TOP_COL_NR; c++)
		if (take[c])
			out[n++] = (enum kt_top_col)c;
	return n;
}

/* "950", "12.3k", "456k", "1.23M": at most 6 characters. */
static const char *fmt_rate(char *buf, size_t n, double v)
{
	static const char units[] = " kMGT";
	int u = 0;

	while (v >= 999.5 && u < 4) {
		v /= 1000;
		u++;
	}
	if (!u)
		snprintf(buf, n, "%.0f", v);
	else if (v < 9.995)
		snprintf(buf, n, "%.2f%c", v, units[u]);
	else if (v < 99.95)
		snprintf(buf, n, "%.1f%c", v, units[u]);
	else
		snprintf(buf, n, "%.0f%c", v, units[u]);
	return buf;
}

static const char *fmt_lat(char *buf, size_t n, uint64_t ns)
{
	if (!ns)
		return snprintf(buf, n, "-"), buf;
	return kt_fmt_ns(buf, n, ns);
}

static const char *fmt_count(char *buf, size_t n, uint64_t v)
{
	return fmt_rate(buf, n, (double)v);
}

static const char *ring_cell(const struct kt_top_row *r, enum kt_top_col c, char *buf, size_t n)
{
	bool ring = r->kind == KT_TOP_RING;

	switch (c) {
	case KT_TOP_COL_RECV50:
		return fmt_lat(buf, n, r->recv[KT_TOP_P50]);
	case KT_TOP_COL_RECV99:
		return fmt_lat(buf, n, r->recv[KT_TOP_P99]);
	case KT_TOP_COL_RECV999:
		return fmt_lat(buf, n, r->recv[KT_TOP_P999]);
	case KT_TOP_COL_SOJ50:
		return fmt_lat(buf, n, r->soj[KT_TOP_P50]);
	case KT_TOP_COL_SOJ99:
		return fmt_lat(buf, n, r->soj[KT_TOP_P99]);
	case KT_TOP_COL_SOJ999:
		return fmt_lat(buf, n, r->soj[KT_TOP_P999]);
	case KT_TOP_COL_BP:
		return ring ? fmt_count(buf, n, r->bp) : (snprintf(buf, n, "-"), buf);
	case KT_TOP_COL_BPWAIT:
		return fmt_lat(buf, n, r->bp_wait_ns);
	default:
		return snprintf(buf, n, "?"), buf;
	}
}

const char *kt_top_cell(const struct kt_top_row *r, enum kt_top_col c, char *buf, size_t n)
{
	int w = kt_top_col_width(c);
	char tmp[64];

	switch (c) {
	case KT_TOP_COL_PID:
		snprintf(tmp, sizeof(tmp), "%u", r->pid);
		break;
	case KT_TOP_COL_COMM:
		snprintf(tmp, sizeof(tmp), "%s", r->comm);
		break;
	case KT_TOP_COL_NAME:
		snprintf(tmp, sizeof(tmp), "%s%s", r->name, r->closed ? "*" : "");
		break;
	case KT_TOP_COL_RATE:
		fmt_rate(tmp, sizeof(tmp), r->rate);
		break;
	case KT_TOP_COL_SEND50:
	case KT_TOP_COL_SEND99:
	case KT_TOP_COL_SEND999:
		fmt_lat(tmp, sizeof(tmp), r->send[c - KT_TOP_COL_SEND50]);
		break;
	case KT_TOP_COL_CLASS:
		snprintf(tmp, sizeof(tmp), "%s", kt_severity_label(r->sev));
		break;
	case KT_TOP_COL_SPARK:
		tmp[0] = 0;
		break;
	default:
		ring_cell(r, c, tmp, sizeof(tmp));
	}
	/* a long name is cut, never allowed to push the next columns out */
	snprintf(buf, n, "%.*s", w, tmp);
	return buf;
}

int kt_top_spark_levels(const struct kt_top_row *r, int width, uint8_t *levels)
{
	int have = r->nspark < width ? r->nspark : width;
	const uint64_t *v = r->spark + r->nspark - have;
	uint64_t max = 0;

	for (int i = 0; i < have; i++)
		max = v[i] > max ? v[i] : max;
	memset(levels, 0, (size_t)width);
	for (int i = 0; i < have; i++) {
		/* ceil(8 v / max): the peak is 8, anything non-zero at least 1 */
		uint64_t l = max ? (v[i] * 8 + max - 1) / max : 0;

		if (max > UINT64_MAX / 8) /* no overflow for absurd values */
			l = v[i] / (max / 8 + 1) + (v[i] ? 1 : 0);
		levels[width - have + i] = (uint8_t)(l > 8 ? 8 : l);
	}
	return width;
}

static void plain_row(FILE *fp, const struct kt_top_row *r, const enum kt_top_col *cs, int nc,
		      int spark_w)
{
	static const char ascii[] = " _.-:=+*#";
	char buf[64];

	for (int i = 0; i < nc; i++) {
		if (cs[i] == KT_TOP_COL_SPARK) {
			uint8_t lv[KT_TOP_SPARK];

			kt_top_spark_levels(r, spark_w, lv);
			for (int k = 0; k < spark_w; k++)
				fputc(ascii[lv[k]], fp);
			continue;
		}
		kt_top_cell(r, cs[i], buf, sizeof(buf));
		/* names left-aligned, numbers right-aligned */
		if (cs[i] == KT_TOP_COL_NAME || cs[i] == KT_TOP_COL_COMM ||
		    cs[i] == KT_TOP_COL_CLASS)
			fprintf(fp, i + 1 < nc ? "%-*s " : "%*s",
				i + 1 < nc ? kt_top_col_width(cs[i]) : 0, buf);
		else
			fprintf(fp, i + 1 < nc ? "%*s " : "%*s", kt_top_col_width(cs[i]), buf);
	}
	fputc('\n', fp);
}

int kt_top_plain(FILE *fp, const struct kt_top_model *m, int width, const char *clock)
{
	enum kt_top_col cs[KT_TOP_COL_NR];
	int spark_w, nc = kt_top_columns(width, cs, &spark_w);

	fprintf(fp, "kaos-trace top %s interval %.2fs rows %d lost %llu (total %llu) sort %s%s\n",
		clock, m->interval_s, m->nvis, (unsigned long long)m->lost_iv,
		(unsigned long long)m->lost, kt_top_sort_name(m->sort),
		m->reverse ? " (reversed)" : "");
	if (m->nalerts) {
		char line[1024];

		kt_top_alert_line(m, line, sizeof(line));
		fprintf(fp, "%s\n", line);
	}
	for (int i = 0; i < nc; i++) {
		int w = cs[i] == KT_TOP_COL_SPARK ? spark_w : kt_top_col_width(cs[i]);
		bool left = cs[i] == KT_TOP_COL_NAME || cs[i] == KT_TOP_COL_COMM ||
			    cs[i] == KT_TOP_COL_CLASS || cs[i] == KT_TOP_COL_SPARK;

		fprintf(fp, left ? "%-*s" : "%*s", w, kt_top_col_title(cs[i]));
		if (i + 1 < nc)
			fputc(' ', fp);
	}
	fputc('\n', fp);
	for (int i = 0; i < m->nvis; i++)
		plain_row(fp, &m->rows[m->vis[i]], cs, nc, spark_w);
	fputc('\n', fp);
	if (fflush(fp) || ferror(fp))
		return -EIO;
	return 0;
}

void kt_top_model_set_alerts(struct kt_top_model *m, const struct kt_alerts *a)
{
	int n = a ? kt_alerts_nrules(a) : 0;

	m->nalerts = n < KT_TOP_ALERTS ? n : KT_TOP_ALERTS;
	for (int i = 0; i < m->nalerts; i++) {
		struct kt_top_alert *t = &m->alerts[i];
		const struct kt_rule *r = kt_alerts_rule(a, i);

		snprintf(t->rule, sizeof(t->rule), "%s", r->text);
		t->unit = r->unit;
		t->state = kt_alerts_state(a, i);
		t->has_value = kt_alerts_last_value(a, i, &t->value);
	}
}

/* Appends the rules in state st to buf at *len. */
static void alerts_in(const struct kt_top_model *m, enum kt_alert_state st, char *buf, size_t n,
		      size_t *len)
{
	static const char *const word[] = {"ok", "pending", "FIRING"};

	for (int i = 0; i < m->nalerts && *len < n; i++) {
		const struct kt_top_alert *t = &m->alerts[i];
		char v[32] = "no data";

		if (t->state != st)
			continue;
		if (t->has_value)
			kt_alert_fmt_value(v, sizeof(v), t->unit, t->value);
		*len += (size_t)snprintf(buf + *len, n - *len, "; %s %s (%s)", t->rule, word[st],
					 v);
	}
}

enum kt_alert_state kt_top_alert_line(const struct kt_top_model *m, char *buf, size_t n)
{
	int count[3] = {0};
	size_t len;

	buf[0] = 0;
	if (!m->nalerts)
		return KT_ALERT_OK;
	for (int i = 0; i < m->nalerts; i++)
		count[m->alerts[i].state <= KT_ALERT_FIRING ? m->alerts[i].state : 0]++;
	len = (size_t)snprintf(buf, n, "alerts: %d firing, %d pending, %d ok",
			       count[KT_ALERT_FIRING], count[KT_ALERT_PENDING], count[KT_ALERT_OK]);
	alerts_in(m, KT_ALERT_FIRING, buf, n, &len);
	alerts_in(m, KT_ALERT_PENDING, buf, n, &len);
	return count[KT_ALERT_FIRING]	 ? KT_ALERT_FIRING
	       : count[KT_ALERT_PENDING] ? KT_ALERT_PENDING
					 : KT_ALERT_OK;
}
