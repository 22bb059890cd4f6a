/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for kt_units (make fuzz): durations, sizes and
 * percentages as users type them. Besides memory safety it checks the
 * parser's promises: an error leaves the output alone, and a duration that
 * parses reparses from its shortest spelling (kt_fmt_duration) to the same ns.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[128], spelled[64];
	uint64_t ns = 7, ns2, bytes = 7;
	double pct = 7;
	int e;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = 0;
	e = kt_parse_duration_in(text, KT_NS_PER_S, &ns);
	if (e && (ns != 7 || (e != -EINVAL && e != -ERANGE)))
		abort();
	if (!e) {
		kt_fmt_duration(spelled, sizeof(spelled), ns);
		if (kt_parse_duration(spelled, &ns2) || ns2 != ns)
			abort();
	}
	if (kt_parse_size(text, &bytes) && bytes != 7)
		abort();
	e = kt_parse_percent(text, &pct);
	if ((e && pct != 7) || (!e && !(pct >= 0)))
		abort();
	return 0;
}
