/* SPDX-License-Identifier: MIT */
/*
 * kt_phase: where start-up time goes. With KAOS_TRACE_TIMING=1 in the
 * environment each kt_phase() call records the wall clock and the
 * process's CPU time (user + sys, all threads); the driver prints the
 * table once attached. CPU time is the figure to compare on a busy
 * machine: time slices lost to other processes do not count in it.
 * Without the variable a call is one load and a branch.
 */
#ifndef KT_PHASE_H
#define KT_PHASE_H

#include <stdio.h>

/* Marks the end of the phase called name (a string literal: kept, not copied). */
void kt_phase(const char *name);

/* The phases so far, one line each, to f; nothing unless KAOS_TRACE_TIMING is set. */
void kt_phase_print(FILE *f);

#endif
