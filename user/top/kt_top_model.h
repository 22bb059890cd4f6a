/* SPDX-License-Identifier: MIT */
/*
 * kt_top_model: what `kaos-trace top` shows, without a screen. Rows are
 * built from the engine's snapshot once per refresh interval, from the
 * aggregation's interval counters and histograms (the deltas since the
 * last kt_engine_interval_reset): one row per (process image, ring) and
 * one per (process, --func function). A row keeps its history across
 * refreshes (a p99 sparkline of the last KT_TOP_SPARK intervals) and goes
 * when its ring leaves the aggregation or retires (kt_ring_in_interval).
 *
 * The model also owns the sort and the filter and the choice of columns
 * for a terminal width, and formats the cells: the ncurses view
 * (kt_top_view.c) and the plain-text fallback (kt_top_plain) draw the same
 * strings. Pure: no terminal, no engine; unit-tested on synthetic kt_aggs.
 * One thread owns a model.
 */
#ifndef KT_TOP_MODEL_H
#define KT_TOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_agg.h"
#include "kt_alert.h"
#include "kt_classify.h"
#include "kt_hist.h"

#define KT_TOP_SPARK	60 /* p99 history: the last 60 intervals (a minute at 1 s) */
#define KT_TOP_FILTER	64 /* filter text, NUL included */
#define KT_TOP_MAX_ROWS 4096
#define KT_TOP_ALERTS	16 /* --alert rules shown */

enum kt_top_kind { KT_TOP_RING, KT_TOP_FUNC };

/* Latency percentiles of one interval: p50, p99, p99.9 (ns; 0: no sample). */
enum { KT_TOP_P50, KT_TOP_P99, KT_TOP_P999, KT_TOP_NP };
/* The histograms of a ring in the detail view. */
enum { KT_TOP_H_SEND, KT_TOP_H_RECV, KT_TOP_H_SOJ, KT_TOP_NH };

struct kt_top_row {
	enum kt_top_kind kind;
	uint32_t pid, exec_gen, id; /* id: ring id, or function index */
	char comm[16];
	char name[KT_NAME_LEN + 8]; /* ring name ("#ID" when unknown), or function */
	double rate;		    /* messages sent (a function: calls) per second */
	double recv_rate;	    /* messages received per second (rings) */
	uint64_t send[KT_TOP_NP];   /* send latency (a function: its call latency) */
	uint64_t recv[KT_TOP_NP];
	uint64_t soj[KT_TOP_NP];      /* sojourn: time in the ring */
	uint64_t bp;		      /* backpressure episodes this interval */
	uint64_t bp_wait_ns;	      /* their total wait */
	enum kt_severity sev;	      /* worst of the send/recv p99 and backpressure verdicts */
	uint64_t spark[KT_TOP_SPARK]; /* p99 per interval, oldest first; spark[nspark-1] newest */
	int nspark;
	bool closed;
	bool seen; /* found in the latest update (rows not seen are dropped) */
};

enum kt_top_sort {
	KT_TOP_SORT_RATE, /* msgs/s, highest first (the default) */
	KT_TOP_SORT_SEND_P99,
	KT_TOP_SORT_RECV_P99,
	KT_TOP_SORT_SOJ_P99,
	KT_TOP_SORT_BP,
	KT_TOP_SORT_PID,  /* lowest first */
	KT_TOP_SORT_NAME, /* alphabetical */
	KT_TOP_SORT_NR,
};

/* An --alert rule as the last evaluation left it. */
struct kt_top_alert {
	char rule[KT_RULE_TEXT_MAX];
	enum kt_alert_state state;
	bool has_value;
	double value; /* in unit's base */
	enum kt_rule_unit unit;
};

struct kt_top_model {
	struct kt_top_alert alerts[KT_TOP_ALERTS];
	int nalerts;
	struct kt_top_row *rows;
	int nrows, cap;
	int *vis; /* rows passing the filter, in sort order */
	int nvis;
	enum kt_top_sort sort;
	bool reverse;
	char filter[KT_TOP_FILTER];
	double interval_s;	/* the last update's interval */
	uint64_t lost_iv, lost; /* events lost in the ring buffer: last interval, total */
	uint64_t events_iv;
	uint64_t updates;
	/*
	 * The row asked for in detail: its histograms (send, recv, sojourn; a
	 * function: its calls in [0]) of the last interval and since attach,
	 * copied at each update (detail_ok: it was found).
	 */
	bool detail_on, detail_ok;
	uint32_t detail_pid, detail_gen, detail_id;
	enum kt_top_kind detail_kind;
	struct kt_hist detail_iv[KT_TOP_NH], detail_all[KT_TOP_NH];
};

void kt_top_model_init(struct kt_top_model *m);
void kt_top_model_free(struct kt_top_model *m);

/*
 * One refresh: rows from agg's interval counters over interval_s seconds
 * (> 0), lost: the ring buffer's lost events (total, and when the interval
 * started). Then sorted and filtered. 0, or -ENOMEM (the model is left as
 * it was, less new rows).
 */
int kt_top_model_update(struct kt_top_model *m, const struct kt_agg *agg, double interval_s,
			uint64_t lost, uint64_t lost_iv0);

/* Sort column and direction; re-sorts. */
void kt_top_model_set_sort(struct kt_top_model *m, enum kt_top_sort s, bool reverse);
/* The next sort column (s, F6), wrapping. */
void kt_top_model_next_sort(struct kt_top_model *m);
const char *kt_top_sort_name(enum kt_top_sort s);
/*
 * Filter: rows whose comm, ring or function name contains text (any case)
 * are shown; "" shows all. Re-filters.
 */
void kt_top_model_set_filter(struct kt_top_model *m, const char *text);
/* Sorts and filters the rows again into vis (after rows or settings changed). */
void kt_top_model_refresh(struct kt_top_model *m);

/* Asks for the histograms of one row (copied at each update); NULL: none. */
void kt_top_model_set_detail(struct kt_top_model *m, const struct kt_top_row *r);

/* The row asked for with kt_top_model_set_detail, wherever the sort put it (NULL: gone). */
const struct kt_top_row *kt_top_model_detail_row(const struct kt_top_model *m);

/* The --alert rules' states (a NULL a: none), copied for the screen. */
void kt_top_model_set_alerts(struct kt_top_model *m, const struct kt_alerts *a);
/*
 * The alerts in one line: "alerts: 1 firing, 1 pending, 2 ok; RULE FIRING
 * (VALUE); RULE pending (VALUE)", firing rules first, then pending ones
 * (cut at n); "" without rules. Returns the worst state (KT_ALERT_OK
 * without rules).
 */
enum kt_alert_state kt_top_alert_line(const struct kt_top_model *m, char *buf, size_t n);

/* Columns of the table, in display order. */
enum kt_top_col {
	KT_TOP_COL_PID,
	KT_TOP_COL_COMM,
	KT_TOP_COL_NAME,
	KT_TOP_COL_RATE,
	KT_TOP_COL_SEND50,
	KT_TOP_COL_SEND99,
	KT_TOP_COL_SEND999,
	KT_TOP_COL_RECV50,
	KT_TOP_COL_RECV99,
	KT_TOP_COL_RECV999,
	KT_TOP_COL_SOJ50,
	KT_TOP_COL_SOJ99,
	KT_TOP_COL_SOJ999,
	KT_TOP_COL_BP,
	KT_TOP_COL_BPWAIT,
	KT_TOP_COL_CLASS,
	KT_TOP_COL_SPARK,
	KT_TOP_COL_NR,
};

/* A column's heading and width (the sparkline's is its minimum). */
const char *kt_top_col_title(enum kt_top_col c);
int kt_top_col_width(enum kt_top_col c);

/*
 * The columns that fit in width characters (one space between columns),
 * most useful first when room runs out (name, msgs/s, class, the p99s...),
 * written to cols in display order. The sparkline, when it fits, takes
 * the room left: *spark_width (up to KT_TOP_SPARK). Returns how many.
 */
int kt_top_columns(int width, enum kt_top_col *cols, int *spark_width);

/* A cell's text (not the sparkline): buf, NUL-terminated, at most the column's width. */
const char *kt_top_cell(const struct kt_top_row *r, enum kt_top_col c, char *buf, size_t n);

/*
 * The sparkline of r's last width intervals as levels 0..8 (0: no sample
 * or nothing), scaled to the highest value in those intervals (which gets
 * 8; any non-zero value at least 1), right-aligned: levels[width-1] is the
 * newest interval. Returns width.
 */
int kt_top_spark_levels(const struct kt_top_row *r, int width, uint8_t *levels);

/*
 * The plain-text fallback (stdout not a terminal): one block per refresh,
 * a header line and one line per visible row, columns for width. Returns
 * 0, or -EIO if writing failed.
 */
int kt_top_plain(FILE *fp, const struct kt_top_model *m, int width, const char *clock);

#endif /* KT_TOP_MODEL_H */
