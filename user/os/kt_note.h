/* SPDX-License-Identifier: MIT */
/*
 * kt_note: how a library module hands a line to its driver. Library
 * modules never print; they call a kt_note_fn, and the driver prints or
 * logs the line (the CLI on stderr with "kaos-trace: ", the daemon in its
 * log). Here, below every layer, so collectors and the engine share it.
 */
#ifndef KT_NOTE_H
#define KT_NOTE_H

#include <stdbool.h>

/*
 * Where a library module's notes go (one line each, no prefix, no
 * newline): the driver prints or logs them. warning: something the user
 * should act on.
 */
typedef void (*kt_note_fn)(void *ctx, bool warning, const char *line);

#endif
