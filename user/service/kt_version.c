// SPDX-License-Identifier: MIT
#include "kt_version.h"

#include "kaos_build_version.h"

const char *kt_version(void)
{
	return KAOS_BUILD_VERSION;
}
