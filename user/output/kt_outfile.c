// SPDX-License-Identifier: MIT
/* kt_outfile: "-" means stdout for every output option (kt_outfile.h). */
#include "kt_outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int is_stdout(const char *path)
{
	return path[0] == '-' && !path[1];
}

FILE *kt_outfile_open(const char *path)
{
	FILE *f;
	int fd;

	if (!is_stdout(path))
		return fopen(path, "we");
	/* whatever was printed to stdout before goes first */
	fflush(stdout);
	fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return f;
}

const char *kt_outfile_name(const char *path)
{
	return is_stdout(path) ? "stdout" : path;
}
