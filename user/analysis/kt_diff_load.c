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

static int read_final(const json_t *top, struct kt_diff_run *r, int *missing)
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

/* The last "type":"final" line of the file (NULL: none), or an error in msg. */
static json_t *final_object(FILE *fp, const char *path, char *msg, size_t n)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	json_t *final = NULL;
	unsigned long lineno = 0;

	while ((len = getline(&line, &cap, fp)) >= 0) {
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
			final = NULL;
			break;
		}
		const char *type = json_string_value(json_object_get(v, "type"));

		if (type && !strcmp(type, "final")) {
			json_decref(final);
			final = v;
		} else {
			json_decref(v);
		}
	}
	free(line);
	if (!final && !msg[0])
		snprintf(msg, n,
			 lineno ? "%s: not a kaos-trace JSON report (no \"type\":\"final\" line)"
				: "%s: empty file, not a kaos-trace JSON report",
			 path);
	return final;
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

int kt_diff_load_file(FILE *fp, const char *path, struct kt_diff_run *r, char *msg, size_t n)
{
	json_t *final;
	int err, missing = 0;

	msg[0] = '\0';
	final = final_object(fp, path, msg, n);
	if (!final)
		return -EINVAL;
	err = read_final(final, r, &missing);
	json_decref(final);
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
