/* SPDX-License-Identifier: MIT */
/*
 * kt_top_view: the ncurses screen of `kaos-trace top`, drawing only: the
 * table of a kt_top_model (its columns chosen for the terminal's width,
 * the class in colour, the p99 sparkline), the detail of one row (its
 * percentiles and histograms as bars), a header and a status line. What a
 * key does is the driver's (kt_top.c); the view keeps what it needs to draw:
 * the selection and scroll position, the screen shown, the filter being
 * typed.
 *
 * The terminal: kt_top_view_open() switches to curses (the alternate
 * screen), kt_top_view_close() gives the terminal back and may be called
 * any number of times, from any way out (signals are turned into a flag by
 * the driver; endwin() is never called from a signal handler).
 */
#ifndef KT_TOP_VIEW_H
#define KT_TOP_VIEW_H

#include <stdbool.h>

#include "kt_top_model.h"

enum kt_top_screen { KT_TOP_SCREEN_TABLE, KT_TOP_SCREEN_DETAIL };

struct kt_top_view {
	bool active; /* curses is on */
	bool utf8;   /* the locale can show block characters */
	bool colour;
	enum kt_top_screen screen;
	int sel;      /* selected row: an index into model->vis */
	int first;    /* first row shown (scrolling) */
	int page;     /* rows that fit on the table's screen (after the last draw) */
	bool editing; /* typing a filter */
	char edit[KT_TOP_FILTER];
	bool paused;
	char title[160];  /* what is traced, for the header */
	char status[256]; /* the newest engine note, or a message of the driver */
};

/* Curses on: 0, or -1 (no usable terminal: the caller falls back to plain text). */
int kt_top_view_open(struct kt_top_view *v);
/* Curses off, the terminal as it was. Idempotent. */
void kt_top_view_close(struct kt_top_view *v);
/* Draws the current screen of m (and refreshes the terminal). */
void kt_top_view_draw(struct kt_top_view *v, const struct kt_top_model *m);
/* Moves the selection by delta rows (clamped), keeping it on screen. */
void kt_top_view_move(struct kt_top_view *v, const struct kt_top_model *m, int delta);

#endif /* KT_TOP_VIEW_H */
