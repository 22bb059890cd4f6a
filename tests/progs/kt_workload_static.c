// SPDX-License-Identifier: MIT
/* kt_workload linked with libkaos.a (Makefile: *_static): no libkaos.so mapped. */
#include "kt_workload.c"
