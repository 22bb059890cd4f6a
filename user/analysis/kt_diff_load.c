// SPDX-License-Identifier: MIT
/*
 * kt_diff_load: reads a kaos-trace --json FILE back for kaos-trace diff.
 * jansson (Debian's libjansson) parses: a report is nested and may be
 * large, and a maintained, fuzzed parser is safer than a hand-written one.
 */
#include "kt_diff.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const ops[] = {"send", "recv", "backpressure", "retransmit"};

/* [[lo_ns, count], ...] into h; false on anything else. */
static bool read_buckets(const json_t *a, struct kt_hist *h)
{
	size_t i;
	const json_t *b;

	kt_hist_init(h);
	if (!json_is_array(a))
		return false;
	json_array_foreach(a, i, b)
	{
		const json_t *lo = json_array_get(b, 0), *cnt = json_array_get(b, 1);

		if (json_array_size(b) != 2 || !json_is_integer(lo) || !json_is_integer(cnt) ||
		    json_integer_value(lo) < 0 || json_integer_value(cnt) <= 0)
			return false;
		kt_hist_record_n(h, (uint64_t)json_integer_value(lo),
				 (uint64_t)json_integer_value(cnt));
	}
	return true;
}

/* The exact min/max of the summary next to the buckets (the buckets only give bounds). */
static void exact_bounds(const json_t *lat, struct kt_hist *h)
{
	json_int_t mn = json_integer_value(json_object_get(lat, "min"));
	json_int_t mx = json_integer_value(json_object_get(lat, "max"));

	if (h->count && mn >= 0 && kt_hist_index((uint64_t)mn) == kt_hist_index(h->min))
		h->min = (uint64_t)mn;
	if (h->count && mx >= 0 && kt_hist_index((uint64_t)mx) == kt_hist_index(h->max))
		h->max = (uint64_t)mx;
}

/* One series: its buckets under bkey in obj, its summary (min/max) under lkey. */
static int add_series(struct kt_diff_run *r, const char *comm, const char *ring, const char *op,
		      const json_t *obj, const char *lkey, const char *bkey, uint64_t ops,
		      struct kt_hist *h, int *missing)
{
	const json_t *b = json_object_get(obj, bkey);

	if (!b) {
		(*missing)++;
		return 0;
	}
	if (!read_buckets(b, h))
		return -EINVAL;
	exact_bounds(lkey ? json_object_get(obj, lkey) : obj, h);
	return kt_diff_run_add(r, comm, ring, op, h, ops);
}

static int add_ring(struct kt_diff_run *r, const char *comm, const json_t *ring, struct kt_hist *h,
		    int *missing)
{
	const char *name = json_string_value(json_object_get(ring, "name"));
	const json_t *soj = json_object_get(ring, "sojourn");
	int err = 0;

	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !err; i++) {
		const json_t *s = json_object_get(ring, ops[i]);

		if (!json_is_object(s))
			continue;
		err = add_series(r, comm, name, ops[i], s, "latency", "latency_buckets",
				 (uint64_t)json_integer_value(json_object_get(s, "ops")), h,
				 missing);
	}
	if (!err && json_is_object(soj))
		err = add_series(r, comm, name, "sojourn", ring, "sojourn", "sojourn_buckets",
				 (uint64_t)json_integer_value(json_object_get(soj, "count")), h,
				 missing);
	return err;
}

/* --func functions: ring = the function's name, op = "call" (corrected latency). */
static int add_funcs(struct kt_diff_run *r, const char *comm, const json_t *funcs,
		     struct kt_hist *h, int *missing)
{
	size_t i;
	const json_t *f;
	int err = 0;

	json_array_foreach(funcs, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));

		if (!name)
			return -EINVAL;
		err = add_series(
			r, comm, name, "call", f, "latency_corrected", "latency_corrected_buckets",
			(uint64_t)json_integer_value(json_object_get(f, "calls")), h, missing);
		if (err)
			return err;
	}
	return 0;
}

/* One report line's processes into r (a series seen again is merged). */
static int read_report(const json_t *top, struct kt_diff_run *r, int *missing)
{
	const json_t *procs = json_object_get(top, "processes"), *p;
	struct kt_hist *h = malloc(sizeof(*h));
	size_t i, j;
	int err = 0;

	if (!h)
		return -ENOMEM;
	if (!json_is_array(procs))
		err = -EINVAL;
	json_array_foreach(procs, i, p)
	{
		const char *comm = json_string_value(json_object_get(p, "comm"));
		const json_t *rings = json_object_get(p, "rings"), *ring;

		if (err || !comm || !json_is_array(rings)) {
			err = err ? err : -EINVAL;
			break;
		}
		json_array_foreach(rings, j, ring) if (!err) err =
			add_ring(r, comm, ring, h, missing);
		if (!err && json_is_array(json_object_get(p, "functions")))
			err = add_funcs(r, comm, json_object_get(p, "functions"), h, missing);
	}
	free(h);
	return err;
}

/* One parsed line into *final (the last "final") or appended to intervals. */
static void keep_report_line(json_t *v, json_t **final, json_t *intervals)
{
	const char *type = json_string_value(json_object_get(v, "type"));

	if (type && !strcmp(type, "final")) {
		json_decref(*final);
		*final = v;
	} else if (type && !strcmp(type, "interval")) {
		json_array_append_new(intervals, v);
	} else {
		json_decref(v);
	}
}

/*
 * The report lines to read: the last "type":"final" line (a one-shot run),
 * or, in a file without one (the daemon's --json-dir files), every
 * "type":"interval" line. NULL with msg: none, or not a report.
 */
static json_t *report_lines(FILE *fp, const char *path, char *msg, size_t n)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	json_t *final = NULL, *lines = json_array();
	unsigned long lineno = 0;

	while (lines && (len = getline(&line, &cap, fp)) >= 0) {
		json_error_t jerr;
		json_t *v;

		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		v = json_loadb(line, (size_t)len, 0, &jerr);
		if (!v || !json_is_object(v)) {
			snprintf(msg, n, "%s: not a kaos-trace JSON report (line %lu: %s)", path,
				 lineno, v ? "not an object" : jerr.text);
			json_decref(v);
			json_decref(final);
			json_decref(lines);
			free(line);
			return NULL;
		}
		keep_report_line(v, &final, lines);
	}
	free(line);
	if (final) {
		json_array_clear(lines);
		json_array_append_new(lines, final);
	}
	if (lines && !json_array_size(lines)) {
		snprintf(msg, n,
			 lineno ? "%s: not a kaos-trace JSON report (no \"type\":\"final\" or "
				  "\"interval\" line)"
				: "%s: empty file, not a kaos-trace JSON report",
			 path);
		json_decref(lines);
		lines = NULL;
	} else if (!lines) {
		snprintf(msg, n, "%s: out of memory", path);
	}
	return lines;
}

int kt_diff_load(const char *path, struct kt_diff_run *r, char *msg, size_t n)
{
	FILE *fp = fopen(path, "r");
	int err;

	msg[0] = '\0';
	if (!fp) {
		err = -errno;
		snprintf(msg, n, "%s: %s", path, strerror(-err));
		return err;
	}
	err = kt_diff_load_file(fp, path, r, msg, n);
	fclose(fp);
	return err;
}

static uint64_t run_samples(const struct kt_diff_run *r)
{
	uint64_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += kt_hist_count(r->v[i].h);
	return n;
}

int kt_diff_load_file(FILE *fp, const char *path, struct kt_diff_run *r, char *msg, size_t n)
{
	json_t *lines, *v;
	size_t i;
	int err = 0, missing = 0;
	bool interval;

	msg[0] = '\0';
	lines = report_lines(fp, path, msg, n);
	if (!lines)
		return -EINVAL;
	interval = !strcmp(json_string_value(json_object_get(json_array_get(lines, 0), "type")),
			   "interval");
	json_array_foreach(lines, i, v) if (!err) err = read_report(v, r, &missing);
	json_decref(lines);
	if (!err && interval && !missing && !run_samples(r)) {
		/* a quiet interval of the daemon: no run, and no error */
		snprintf(msg, n, "%s: an interval without samples", path);
		return -ENODATA;
	}
	if (err == -EINVAL)
		snprintf(msg, n, "%s: not a kaos-trace JSON report (malformed \"processes\")",
			 path);
	else if (err)
		snprintf(msg, n, "%s: %s", path, strerror(-err));
	else if (!r->n && missing)
		snprintf(msg, n,
			 "%s: no latency histograms (\"latency_buckets\"): written by a kaos-trace "
			 "older than diff",
			 path);
	else if (!r->n)
		snprintf(msg, n, "%s: empty run: no ring operation or function call recorded",
			 path);
	return err ? err : r->n ? 0 : -EINVAL;
}
