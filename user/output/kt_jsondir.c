// SPDX-License-Identifier: MIT
/* kt_jsondir: the daemon's interval JSON files (kt_jsondir.h). */
#include "kt_jsondir.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int is_json_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return !strncmp(e->d_name, "kaos-trace-", 11) && n > 16 &&
	       !strcmp(e->d_name + n - 5, ".json");
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name); /* UTC stamps: oldest first */
}

/* Removes all but the newest keep files of dir (a failure leaves more files: no error). */
static void keep_newest(const char *dir, int keep)
{
	struct dirent **list;
	char path[PATH_MAX + 256];
	int nf = scandir(dir, &list, is_json_file, by_name);

	for (int i = 0; i < nf; i++) {
		if (i < nf - keep) {
			snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
			unlink(path);
		}
		free(list[i]);
	}
	if (nf >= 0)
		free(list);
}

/* A new file's name: the UTC second, and -N when that name is taken. */
static void new_name(const char *dir, char *path, size_t n)
{
	time_t now = time(NULL);
	char stamp[32];
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(path, n, "%s/kaos-trace-%s.json", dir, stamp);
	for (int k = 1; k < 100 && access(path, F_OK) == 0; k++)
		snprintf(path, n, "%s/kaos-trace-%s-%d.json", dir, stamp, k);
}

int kt_jsondir_write(const char *dir, int keep, const struct kt_agg *a,
		     const struct kt_report_totals *t, char *path, size_t pathlen)
{
	char tmp[PATH_MAX + 64];
	FILE *f;
	int err = 0;

	new_name(dir, path, pathlen);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	kt_report_json(f, a, t, true);
	if (ferror(f))
		err = errno ? -errno : -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	keep_newest(dir, keep);
	return 0;
}
