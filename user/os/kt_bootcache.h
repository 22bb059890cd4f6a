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

/*
 * Measurements that only ever read high under contention (a probe's cost:
 * preemption, other uprobe users) are kept as the minimum of the runs that
 * measured them. A record is settled after KT_BOOTCACHE_SETTLE runs and
 * trusted for KT_BOOTCACHE_REFRESH_S seconds; then one run measures again
 * (a figure taken under load is lowered by a later quiet run instead of
 * staying until reboot).
 */
#define KT_BOOTCACHE_SETTLE    3
#define KT_BOOTCACHE_REFRESH_S 3600

/* True (and *value) if name holds a settled, recent minimum for key: no need to measure. */
bool kt_bootcache_min_get(const char *name, const void *key, size_t klen, double *value);

/*
 * Merges a fresh measurement into name's record for key (root only): the
 * minimum of it and the record's, one run more, dated now. Returns the
 * figure to use (that minimum; measured if there was no valid record).
 */
double kt_bootcache_min_put(const char *name, const void *key, size_t klen, double measured);

/*
 * Bounds the records whose names start with prefix to the newest keep (by
 * modification time; root only): one record per build of kaos-trace would
 * otherwise pile up until reboot.
 */
void kt_bootcache_prune(const char *prefix, unsigned int keep);

#endif /* KT_BOOTCACHE_H */
