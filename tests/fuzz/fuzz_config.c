/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the INI config parser (make fuzz): memory safety and one-line errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_config c;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	kt_config_init(&c);
	err[0] = 0;
	if (kt_config_parse(&c, text, "fuzz.conf", err, sizeof(err))) {
		if (!err[0] || strchr(err, '\n'))
			abort(); /* an error is one non-empty line */
	} else {
		kt_config_check(&c, err, sizeof(err));
	}
	kt_config_free(&c);
	free(text);
	return 0;
}
