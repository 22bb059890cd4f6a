// SPDX-License-Identifier: MIT
/*
 * A fully static program (Makefile: -static, no libkaos) that allocates:
 * kaos-trace --alloc has no allocator file to probe in it and must say so.
 *   kt_static_alloc [--wait]
 * --wait: print "ready PID" and wait for a line on stdin before allocating.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[16];
	void *p;

	if (argc > 1 && !strcmp(argv[1], "--wait")) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	p = malloc(64);
	if (!p)
		return 1;
	memset(p, 1, 64);
	free(p);
	return 0;
}
