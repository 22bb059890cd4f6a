/* SPDX-License-Identifier: MIT */
/*
 * kt_bootcache: small measurements kept for the boot in root's run
 * directory (/run/kaos-trace, a tmpfs: gone at reboot), so that a start of
 * kaos-trace does not repeat what an earlier start on the same boot and
 * kernel measured (the probe cost: kt_session_calibrate).
 *
 * A record is one file: a header naming the boot id and the kernel release,
 * the caller's key, then its value. It is used only if root owns it, no
 * group or other may write it, it has exactly the expected size, and boot
 * id, release and key all match; anything else is ignored (and replaced by
 * the next put). Writes go to a temporary file renamed into place, so a
 * reader never sees half a record. A missing or unwritable directory only
 * means no cache: nothing here fails a run.
 */
#ifndef KT_BOOTCACHE_H
#define KT_BOOTCACHE_H

#include <stdbool.h>
#include <stddef.h>

#define KT_BOOTCACHE_DIR "/run/kaos-trace"

/* Copies the value stored under name (a file name in KT_BOOTCACHE_DIR) for key into val. */
bool kt_bootcache_get(const char *name, const void *key, size_t klen, void *val, size_t vlen);

/* Stores val under name for key (as root only: others' records are never trusted). */
void kt_bootcache_put(const char *name, const void *key, size_t klen, const void *val, size_t vlen);

#endif /* KT_BOOTCACHE_H */
