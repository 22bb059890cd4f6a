/* SPDX-License-Identifier: MIT */
/*
 * kt_outfile: opens an output file the way every output option takes it
 * (--json, --folded, --timeline): "-" is stdout, anything else a path
 * created or truncated. The stream for "-" writes to a duplicate of fd 1,
 * so that fclose() reports its write errors (a full disk, a closed pipe)
 * without closing the process's stdout.
 */
#ifndef KT_OUTFILE_H
#define KT_OUTFILE_H

#include <stdio.h>

/* The stream, or NULL with errno set. Close it with fclose(). */
FILE *kt_outfile_open(const char *path);

/* The name to use in messages: "stdout" for "-", else path. */
const char *kt_outfile_name(const char *path);

#endif /* KT_OUTFILE_H */
