// SPDX-License-Identifier: MIT
/*
 * kt_bootcache: per-boot records in /run/kaos-trace (see kt_bootcache.h).
 */
#include "kt_bootcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kt_array.h"

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

/* The value of a kt_bootcache_min record. */
struct min_record {
	double value;
	uint32_t runs;
	uint32_t pad;
	int64_t at_s; /* CLOCK_REALTIME of the last measurement */
};

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

bool kt_bootcache_min_get(const char *name, const void *key, size_t klen, double *value)
{
	struct min_record r;
	int64_t age;

	if (!kt_bootcache_get(name, key, klen, &r, sizeof(r)) || !(r.value > 0))
		return false;
	age = now_s() - r.at_s;
	/* a clock set back (age < 0) makes the date meaningless: measure again */
	if (r.runs < KT_BOOTCACHE_SETTLE || age < 0 || age >= KT_BOOTCACHE_REFRESH_S)
		return false;
	*value = r.value;
	return true;
}

double kt_bootcache_min_put(const char *name, const void *key, size_t klen, double measured)
{
	struct min_record r;

	if (kt_bootcache_get(name, key, klen, &r, sizeof(r)) && r.value > 0) {
		if (measured > 0 && measured < r.value)
			r.value = measured;
		r.runs = r.runs < UINT32_MAX ? r.runs + 1 : r.runs;
	} else {
		r = (struct min_record){.value = measured, .runs = 1};
	}
	r.pad = 0;
	r.at_s = now_s();
	if (r.value > 0)
		kt_bootcache_put(name, key, klen, &r, sizeof(r));
	return r.value;
}

struct aged_record {
	struct timespec mtime;
	char name[256];
};

/* Newest first. */
static int cmp_newest(const void *a, const void *b)
{
	const struct timespec *x = &((const struct aged_record *)a)->mtime;
	const struct timespec *y = &((const struct aged_record *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

/* The records named prefix* in d (not temporary files: "NAME.PID"). */
static size_t list_records(DIR *d, const char *prefix, struct aged_record **v)
{
	size_t plen = strlen(prefix), n = 0, cap = 0;
	struct dirent *de;
	struct stat st;

	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, plen) || strchr(de->d_name + plen, '.') ||
		    strlen(de->d_name) >= sizeof((*v)->name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (kt_array_reserve(*v, cap, n + 1))
			break; /* out of memory: prune what was listed */
		(*v)[n].mtime = st.st_mtim;
		snprintf((*v)[n].name, sizeof((*v)[n].name), "%s", de->d_name);
		n++;
	}
	return n;
}

void kt_bootcache_prune(const char *prefix, unsigned int keep)
{
	struct aged_record *v = NULL;
	DIR *d;
	size_t n;

	if (geteuid() != 0 || !(d = opendir(KT_BOOTCACHE_DIR)))
		return;
	n = list_records(d, prefix, &v);
	if (n > keep) {
		qsort(v, n, sizeof(*v), cmp_newest);
		for (size_t i = keep; i < n; i++)
			unlinkat(dirfd(d), v[i].name, 0);
	}
	free(v);
	closedir(d);
}
