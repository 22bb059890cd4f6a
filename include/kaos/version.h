/* SPDX-License-Identifier: MIT */
/*
 * libkaos version of these headers, for compile-time checks:
 *
 *   #if KAOS_VERSION_NUMBER >= KAOS_VERSION_ENCODE(0, 2, 0)
 *
 * It follows the VERSION file at the top of the source tree; the build
 * refuses to run when the two disagree. The library's ABI is versioned
 * separately by its soname (libkaos.so.0).
 */
#ifndef KAOS_VERSION_H
#define KAOS_VERSION_H

#define KAOS_VERSION_MAJOR 0
#define KAOS_VERSION_MINOR 1
#define KAOS_VERSION_PATCH 0
#define KAOS_VERSION	   "0.1.0"

#define KAOS_VERSION_ENCODE(major, minor, patch) ((major)*10000 + (minor)*100 + (patch))
#define KAOS_VERSION_NUMBER \
	KAOS_VERSION_ENCODE(KAOS_VERSION_MAJOR, KAOS_VERSION_MINOR, KAOS_VERSION_PATCH)

/*
 * The version of the libkaos.so a program runs with ("0.1.0"), which may be
 * newer than the headers it was built with. Any thread, any time.
 */
#ifdef __cplusplus
extern "C" {
#endif
const char *kaos_version(void);
#ifdef __cplusplus
}
#endif

#endif
