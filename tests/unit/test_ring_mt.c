/* SPDX-License-Identifier: MIT */
/*
 * The stress scenarios of tests/stress/stress_rings.c in the plain, ASan and
 * valgrind builds (the TSan build runs fewer messages): 150000 messages per
 * producer, i.e. 0.3-1.35 M messages per ring kind; under valgrind, which
 * runs one thread at a time, 1500. KAOS_STRESS_MSGS overrides both.
 */
#include <valgrind/valgrind.h>

#define DEFAULT_MSGS (RUNNING_ON_VALGRIND ? 1500u : 150000u)
#include "../stress/stress_rings.c"
