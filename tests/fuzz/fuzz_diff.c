/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for kaos-trace diff's reader of --json reports (make
 * fuzz). Besides memory safety (ASan/UBSan) it checks the reader's promises:
 * an input refused has one line of error, one accepted holds at least one
 * non-empty series, and a run compared with itself is never significantly
 * slower or faster.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void self_diff(const struct kt_diff_run *r)
{
	struct kt_diff d;

	kt_diff_init(&d);
	if (kt_diff_add_run(&d, KT_DIFF_BEFORE, r) || kt_diff_add_run(&d, KT_DIFF_AFTER, r))
		abort();
	kt_diff_compute(&d);
	for (size_t i = 0; i < d.n; i++)
		if (d.v[i].presence != KT_DIFF_BOTH || d.v[i].verdict != KT_DIFF_SAME)
			abort();
	if (kt_diff_gate(&d, 0, 0))
		abort();
	kt_diff_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_diff_run r;
	char msg[512];
	FILE *fp = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	int err;

	if (!fp)
		return 0;
	kt_diff_run_init(&r);
	err = kt_diff_load_file(fp, "fuzz.json", &r, msg, sizeof(msg));
	fclose(fp);
	if (err && (!msg[0] || strchr(msg, '\n')))
		abort();
	if (!err) {
		if (!r.n)
			abort();
		self_diff(&r);
	}
	kt_diff_run_free(&r);
	return 0;
}
