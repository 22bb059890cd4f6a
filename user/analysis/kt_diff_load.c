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

/*
 * The comm of an alloc process: its own "comm", else its pid's in the
 * report's processes, else "?" (a pid differs from run to run: its stacks
 * still match).
 */
static const char *alloc_comm(const json_t *top, const json_t *ap)
{
	const json_t *procs = json_object_get(top, "processes"), *p;
	const char *comm = json_string_value(json_object_get(ap, "comm"));
	json_int_t pid = json_integer_value(json_object_get(ap, "pid"));
	size_t i;

	if (comm)
		return comm;
	json_array_foreach(procs, i, p)
	{
		comm = json_string_value(json_object_get(p, "comm"));
		if (comm && json_integer_value(json_object_get(p, "pid")) == pid)
			return comm;
	}
	return "?";
}

/* A site's stack, root first, ";"-joined (the folded format's order). */
static char *join_stack(const json_t *stack)
{
	size_t i, len = 1;
	const json_t *f;
	char *s;

	if (!json_is_array(stack))
		return NULL;
	json_array_foreach(stack, i, f)
	{
		if (!json_is_string(f))
			return NULL;
		len += strlen(json_string_value(f)) + 1;
	}
	s = calloc(1, len);
	json_array_foreach(stack, i, f)
	{
		if (!s)
			break;
		if (i)
			strcat(s, ";");
		strcat(s, json_string_value(f));
	}
	return s;
}

static int add_alloc_sites(struct kt_diff_run *r, const char *comm, const json_t *sites)
{
	size_t i;
	const json_t *site;
	int err = 0;

	json_array_foreach(sites, i, site)
	{
		double v[KT_DIFF_NMETRICS] = {
			[KT_DIFF_ALLOCS] =
				(double)json_integer_value(json_object_get(site, "allocs")),
			[KT_DIFF_BYTES] =
				(double)json_integer_value(json_object_get(site, "bytes")),
		};
		char *stack = join_stack(json_object_get(site, "stack"));

		if (!stack)
			return -EINVAL;
		err = kt_diff_run_add_alloc(r, comm, stack, v);
		free(stack);
		if (err)
			return err;
	}
	return 0;
}

/* --alloc: each process's totals and top sites (by bytes) into r. */
static int read_alloc(const json_t *top, struct kt_diff_run *r)
{
	const json_t *alloc = json_object_get(top, "alloc"), *procs, *p;
	size_t i;
	int err = 0;

	if (!alloc)
		return 0;
	procs = json_object_get(alloc, "processes");
	if (!json_is_array(procs))
		return -EINVAL;
	r->has_alloc = true;
	json_array_foreach(procs, i, p)
	{
		static const char *const keys[KT_DIFF_NMETRICS] = {"allocs", "bytes_allocated",
								   "peak_bytes", "leaked_bytes"};
		double v[KT_DIFF_NMETRICS];
		const char *comm = alloc_comm(top, p);
		const json_t *sites = json_object_get(p, "top_sites");

		for (int m = 0; m < KT_DIFF_NMETRICS; m++)
			v[m] = (double)json_integer_value(json_object_get(p, keys[m]));
		if (!json_is_array(sites))
			return -EINVAL;
		err = kt_diff_run_add_alloc(r, comm, NULL, v);
		if (!err)
			err = add_alloc_sites(r, comm, sites);
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
	return err ? err : read_alloc(top, r);
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
		snprintf(msg, n,
			 "%s: not a kaos-trace JSON report (malformed \"processes\" or \"alloc\")",
			 path);
	else if (err)
		snprintf(msg, n, "%s: %s", path, strerror(-err));
	else if (!r->n && !r->has_alloc && missing)
		snprintf(msg, n,
			 "%s: no latency histograms (\"latency_buckets\"): written by a kaos-trace "
			 "older than diff",
			 path);
	else if (!r->n && !r->has_alloc)
		snprintf(msg, n,
			 "%s: empty run: no ring operation, function call or allocation recorded",
			 path);
	return err ? err : r->n || r->has_alloc ? 0 : -EINVAL;
}
