// SPDX-License-Identifier: MIT
/* kt_top_view: the ncurses screen of `kaos-trace top` (kt_top_view.h). */
#include "kt_top_view.h"

#include <curses.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PAIR_OK = 1, PAIR_WARN, PAIR_BAD, PAIR_BAR };

int kt_top_view_open(struct kt_top_view *v)
{
	if (v->active)
		return 0;
	/* newterm, not initscr: initscr exits the process on a terminal it cannot use */
	if (!newterm(NULL, stdout, stdin))
		return -1;
	v->active = true;
	v->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE); /* the driver's loop polls the engine, keys in between */
	curs_set(0);
	set_escdelay(25); /* Esc alone is a key here (back, clear): do not wait a second */
	v->colour = has_colors() && start_color() == OK;
	if (v->colour) {
		use_default_colors();
		init_pair(PAIR_OK, COLOR_GREEN, -1);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_BAD, COLOR_RED, -1);
		init_pair(PAIR_BAR, COLOR_CYAN, -1);
	}
	return 0;
}

void kt_top_view_close(struct kt_top_view *v)
{
	if (!v->active)
		return;
	v->active = false;
	curs_set(1);
	endwin();
}

static attr_t sev_attr(const struct kt_top_view *v, enum kt_severity s)
{
	static const short pair[] = {PAIR_OK, PAIR_WARN, PAIR_BAD};

	if (!v->colour)
		return s == KT_SEV_BAD ? A_BOLD : A_NORMAL;
	return COLOR_PAIR(pair[s <= KT_SEV_BAD ? s : KT_SEV_BAD]) | (s ? A_BOLD : 0);
}

static void draw_spark(const struct kt_top_view *v, const struct kt_top_row *r, int w)
{
	static const char *const blocks[9] = {" ",	"\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588"};
	static const char ascii[] = " _.-:=+*#";
	uint8_t lv[KT_TOP_SPARK];

	kt_top_spark_levels(r, w, lv);
	for (int k = 0; k < w; k++) {
		if (v->utf8)
			addstr(blocks[lv[k]]);
		else
			addch((chtype)ascii[lv[k]]);
	}
}

static bool left_aligned(enum kt_top_col c)
{
	return c == KT_TOP_COL_NAME || c == KT_TOP_COL_COMM || c == KT_TOP_COL_CLASS ||
	       c == KT_TOP_COL_SPARK;
}

static void draw_headings(const enum kt_top_col *cs, int nc, int spark_w)
{
	attron(A_REVERSE);
	move(1, 0);
	for (int i = 0; i < nc; i++) {
		int w = cs[i] == KT_TOP_COL_SPARK ? spark_w : kt_top_col_width(cs[i]);

		printw(left_aligned(cs[i]) ? "%-*s" : "%*s", w, kt_top_col_title(cs[i]));
		if (i + 1 < nc)
			addch(' ');
	}
	clrtoeol();
	/* the reverse bar spans the screen */
	for (int x = getcurx(stdscr); x < COLS; x++)
		addch(' ');
	attroff(A_REVERSE);
}

static void draw_row(const struct kt_top_view *v, const struct kt_top_row *r, int y,
		     const enum kt_top_col *cs, int nc, int spark_w, bool selected)
{
	char buf[64];

	move(y, 0);
	if (selected)
		attron(A_REVERSE);
	for (int i = 0; i < nc; i++) {
		if (cs[i] == KT_TOP_COL_SPARK) {
			draw_spark(v, r, spark_w);
			continue;
		}
		kt_top_cell(r, cs[i], buf, sizeof(buf));
		if (cs[i] == KT_TOP_COL_CLASS && !selected)
			attron(sev_attr(v, r->sev));
		printw(left_aligned(cs[i]) ? "%-*s" : "%*s", kt_top_col_width(cs[i]), buf);
		if (cs[i] == KT_TOP_COL_CLASS && !selected)
			attroff(sev_attr(v, r->sev));
		if (i + 1 < nc)
			addch(' ');
	}
	clrtoeol();
	if (selected)
		attroff(A_REVERSE);
}

static void draw_header(const struct kt_top_view *v, const struct kt_top_model *m)
{
	move(0, 0);
	attron(A_BOLD);
	printw("kaos-trace top");
	attroff(A_BOLD);
	/* what changes first: the title, the longest, is cut on a narrow screen */
	printw("%s  sort %s%s  %.3gs  lost %llu", v->paused ? "  [PAUSED]" : "",
	       kt_top_sort_name(m->sort), m->reverse ? " (rev)" : "", m->interval_s,
	       (unsigned long long)m->lost_iv);
	if (m->filter[0])
		printw("  filter '%s'", m->filter);
	printw("  %s", v->title);
	clrtoeol();
}

/* The --alert rules' line, above the status line, in the worst state's colour. */
static void draw_alerts(const struct kt_top_view *v, const struct kt_top_model *m)
{
	static const enum kt_severity sev[] = {KT_SEV_OK, KT_SEV_WARN, KT_SEV_BAD};
	char line[1024];
	enum kt_alert_state worst = kt_top_alert_line(m, line, sizeof(line));
	attr_t a = sev_attr(v, sev[worst <= KT_ALERT_FIRING ? worst : 0]);

	if (!m->nalerts)
		return;
	attron(a);
	mvprintw(LINES - 2, 0, "%.*s", COLS, line);
	attroff(a);
	clrtoeol();
}

static void draw_status(const struct kt_top_view *v)
{
	move(LINES - 1, 0);
	if (v->editing) {
		printw("Filter (Enter apply, Esc clear): %s", v->edit);
		clrtoeol();
		return;
	}
	if (v->status[0])
		printw("%s", v->status);
	else if (v->screen == KT_TOP_SCREEN_DETAIL)
		printw("Esc back  q quit");
	else
		printw("q quit  Space pause  s/S sort  / filter  Enter detail");
	clrtoeol();
}

/* Keeps the selection inside the rows and on screen. */
static void clamp(struct kt_top_view *v, const struct kt_top_model *m)
{
	int page = v->page > 0 ? v->page : 1;

	if (v->sel >= m->nvis)
		v->sel = m->nvis - 1;
	if (v->sel < 0)
		v->sel = 0;
	if (v->first > v->sel)
		v->first = v->sel;
	if (v->sel >= v->first + page)
		v->first = v->sel - page + 1;
	if (v->first < 0)
		v->first = 0;
}

void kt_top_view_move(struct kt_top_view *v, const struct kt_top_model *m, int delta)
{
	long s = (long)v->sel + delta;

	v->sel = s < 0 ? 0 : s > m->nvis ? m->nvis : (int)s;
	clamp(v, m);
}

static void draw_table(struct kt_top_view *v, const struct kt_top_model *m)
{
	enum kt_top_col cs[KT_TOP_COL_NR];
	int spark_w, nc = kt_top_columns(COLS, cs, &spark_w);

	v->page = LINES - 3 - (m->nalerts ? 1 : 0);
	clamp(v, m);
	draw_headings(cs, nc, spark_w);
	for (int i = 0; i < v->page; i++) {
		int k = v->first + i;

		if (k < m->nvis)
			draw_row(v, &m->rows[m->vis[k]], 2 + i, cs, nc, spark_w, k == v->sel);
		else {
			move(2 + i, 0);
			clrtoeol();
		}
	}
	if (!m->nvis)
		mvprintw(2, 0, "%s",
			 m->filter[0] ? "(no row matches the filter)" : "(no ring traced yet)");
}

static void summary_line(int y, const char *what, const struct kt_hist *h)
{
	struct kt_hist_summary s;
	char b[6][16];

	kt_hist_summary(h, &s);
	mvprintw(y, 0, "%-14s %9llu %9s %9s %9s %9s %9s", what, (unsigned long long)s.count,
		 kt_fmt_ns(b[0], 16, s.p50), kt_fmt_ns(b[1], 16, s.p90), kt_fmt_ns(b[2], 16, s.p99),
		 kt_fmt_ns(b[3], 16, s.p999), kt_fmt_ns(b[4], 16, s.max));
	clrtoeol();
}

/* A histogram as bcc-style bars (kt_hist_print_log2), as many lines as fit from y. */
static int draw_bars(int y, const char *title, const struct kt_hist *h)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *fp;

	if (!kt_hist_count(h) || y >= LINES - 2 || !(fp = open_memstream(&text, &len)))
		return y;
	kt_hist_print_log2(fp, h, title);
	fclose(fp);
	for (line = strtok_r(text, "\n", &save); line && y < LINES - 1;
	     line = strtok_r(NULL, "\n", &save))
		mvprintw(y++, 0, "%.*s", COLS, line);
	free(text);
	return y + 1;
}

/*
 * The bars of the last interval's histogram, or when it had no sample (a
 * quiet ring) the histogram since attach, said in its title.
 */
static int draw_hist(int y, const struct kt_top_model *m, int i, const char *what)
{
	char title[32];
	bool iv = kt_hist_count(&m->detail_iv[i]) > 0;

	snprintf(title, sizeof(title), "%s (%s)", what, iv ? "last interval" : "since attach");
	return draw_bars(y, title, iv ? &m->detail_iv[i] : &m->detail_all[i]);
}

static void draw_detail(const struct kt_top_model *m)
{
	static const char *const ring_names[KT_TOP_NH] = {"send", "recv", "sojourn"};
	const struct kt_top_row *r = kt_top_model_detail_row(m);
	int nh = r && r->kind == KT_TOP_RING ? KT_TOP_NH : 1;
	int y = 1;

	if (!r) {
		mvprintw(1, 0, "(the row is gone: Esc back)");
		return;
	}
	attron(A_REVERSE);
	mvprintw(y++, 0, "%s %s  pid %u (%s)", r->kind == KT_TOP_RING ? "ring" : "func", r->name,
		 r->pid, r->comm);
	clrtoeol();
	attroff(A_REVERSE);
	attron(A_BOLD);
	mvprintw(y++, 0, "%-14s %9s %9s %9s %9s %9s %9s", "", "SAMPLES", "P50", "P90", "P99",
		 "P99.9", "MAX");
	attroff(A_BOLD);
	for (int i = 0; i < nh; i++) {
		char what[32];
		const char *name = nh == 1 ? "call" : ring_names[i];

		snprintf(what, sizeof(what), "%s last", name);
		summary_line(y++, what, &m->detail_iv[i]);
		snprintf(what, sizeof(what), "%s total", name);
		summary_line(y++, what, &m->detail_all[i]);
	}
	y++;
	if (!m->detail_ok) {
		mvprintw(y, 0, "(histograms from the next refresh)");
		return;
	}
	for (int i = 0; i < nh; i++)
		y = draw_hist(y, m, i, nh == 1 ? "call" : ring_names[i]);
}

void kt_top_view_draw(struct kt_top_view *v, const struct kt_top_model *m)
{
	if (!v->active)
		return;
	erase();
	draw_header(v, m);
	if (v->screen == KT_TOP_SCREEN_DETAIL)
		draw_detail(m);
	else
		draw_table(v, m);
	draw_alerts(v, m);
	draw_status(v);
	refresh();
}
