/* SPDX-License-Identifier: MIT */
/*
 * kt_version: the version kaos-trace was built as, for --version and the
 * kaos_build_info metric: VERSION's release, with "+git.<describe>" when it
 * was built in a git checkout (Makefile, kaos_build_version.h).
 */
#ifndef KT_VERSION_H
#define KT_VERSION_H

const char *kt_version(void);

#endif
