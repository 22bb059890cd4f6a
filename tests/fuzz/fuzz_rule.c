/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the alert rule parser (make fuzz). Besides memory
 * safety (ASan/UBSan) it checks the parser's promises: an error points
 * inside the input, and a rule that parses reparses from its normalized
 * text into the same rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512];
	struct kt_rule r, r2;
	struct kt_rule_error e;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = 0;
	if (kt_rule_parse(text, &r, &e)) {
		if (e.pos < 0 || (size_t)e.pos > strlen(text) || !e.msg[0])
			abort();
		return 0;
	}
	if (kt_rule_parse(r.text, &r2, &e))
		abort();
	if (r.series != r2.series || r.stat != r2.stat || r.cmp != r2.cmp ||
	    r.threshold != r2.threshold || r.window_ns != r2.window_ns || r.hold_ns != r2.hold_ns ||
	    r.has_ring != r2.has_ring || r.has_pid != r2.has_pid ||
	    r.has_process != r2.has_process || r.pid != r2.pid)
		abort();
	return 0;
}
