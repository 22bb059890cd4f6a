/* SPDX-License-Identifier: MIT */
/* kt_callchain linked without PIE (ET_EXEC at a fixed address): symbolizer tests. */
#include "kt_callchain.c"
