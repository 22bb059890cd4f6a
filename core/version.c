/* SPDX-License-Identifier: MIT */
/* The library's own version, to compare with the headers' (include/kaos/version.h). */
#include "kaos/version.h"

const char *kaos_version(void)
{
	return KAOS_VERSION;
}
