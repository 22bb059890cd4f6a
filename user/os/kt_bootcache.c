// SPDX-License-Identifier: MIT
/*
 * kt_bootcache: per-boot records in /run/kaos-trace (see kt_bootcache.h).
 */
#include "kt_bootcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define BOOTCACHE_MAGIC 0x6b74626bu /* "ktbk" */
#define BOOTCACHE_MAX	4096	    /* key + value: these are small measurements */

struct bootcache_head {
	uint32_t magic;
	uint32_t klen, vlen;
	char boot_id[40];
	char release[65];
};

/* The header this boot and kernel would write; false if the boot id is unknown. */
static bool head_now(struct bootcache_head *h, size_t klen, size_t vlen)
{
	struct utsname u;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	memset(h, 0, sizeof(*h));
	h->magic = BOOTCACHE_MAGIC;
	h->klen = (uint32_t)klen;
	h->vlen = (uint32_t)vlen;
	if (fd >= 0) {
		n = read(fd, h->boot_id, sizeof(h->boot_id) - 1);
		close(fd);
	}
	if (uname(&u) == 0)
		snprintf(h->release, sizeof(h->release), "%s", u.release);
	return n > 0 && klen + vlen <= BOOTCACHE_MAX;
}

static void record_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, KT_BOOTCACHE_DIR "/%s", name);
}

bool kt_bootcache_get(const char *name, const void *key, size_t klen, void *val, size_t vlen)
{
	struct bootcache_head want, got;
	size_t size = sizeof(want) + klen + vlen;
	char path[256];
	uint8_t buf[sizeof(want) + BOOTCACHE_MAX];
	struct stat st;
	bool ok;
	int fd;

	if (!head_now(&want, klen, vlen))
		return false;
	record_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	/* only a record root wrote may steer what kaos-trace measures */
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 && !(st.st_mode & 022) &&
	     st.st_size == (off_t)size && read(fd, buf, size) == (ssize_t)size;
	close(fd);
	if (!ok)
		return false;
	memcpy(&got, buf, sizeof(got));
	if (memcmp(&got, &want, sizeof(got)) || memcmp(buf + sizeof(got), key, klen))
		return false;
	memcpy(val, buf + sizeof(got) + klen, vlen);
	return true;
}

void kt_bootcache_put(const char *name, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct bootcache_head h;
	uint8_t buf[sizeof(h) + BOOTCACHE_MAX];
	size_t size = sizeof(h) + klen + vlen;
	char path[256], tmp[300];
	int fd;

	if (geteuid() != 0 || !head_now(&h, klen, vlen))
		return;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), key, klen);
	memcpy(buf + sizeof(h) + klen, val, vlen);
	record_path(name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if (mkdir(KT_BOOTCACHE_DIR, 0700) && errno != EEXIST)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	ssize_t w = write(fd, buf, size);

	if (close(fd) || w != (ssize_t)size || rename(tmp, path))
		unlink(tmp);
}
