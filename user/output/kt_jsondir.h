/* SPDX-License-Identifier: MIT */
/*
 * kt_jsondir: the daemon's interval JSON files (kaos-trace daemon --json-dir).
 * Each file holds one "type":"interval" line of the one-shot's JSON schema
 * (kt_report_json), histograms ("*_buckets") included, so that kaos-trace
 * diff reads it as it reads a one-shot --json report: each file is one run.
 * Files are named DIR/kaos-trace-YYYYMMDDTHHMMSSZ.json (UTC; -N added when
 * one second sees two), written to a .tmp file and renamed into place (a
 * reader never sees half a file); the newest `keep` are kept.
 */
#ifndef KT_JSONDIR_H
#define KT_JSONDIR_H

#include <stddef.h>

#include "kt_agg.h"
#include "kt_report.h"

/*
 * Writes the interval report of a and t (t->interval_s: its span) into a
 * new file in dir, then removes all but the newest keep files. path gets
 * the file's name. Returns 0 or -errno (nothing left behind).
 */
int kt_jsondir_write(const char *dir, int keep, const struct kt_agg *a,
		     const struct kt_report_totals *t, char *path, size_t pathlen);

#endif /* KT_JSONDIR_H */
