// SPDX-License-Identifier: MIT
/*
 * kt_diff_folded: `kaos-trace diff --folded`, the two-column folded format
 * that flamegraph.pl draws as a differential graph (red: grew, blue:
 * shrank): "STACK BEFORE AFTER" per stack, the after counts scaled to the
 * before total (like difffolded.pl -n) so that runs of other lengths
 * compare.
 */
#include "kt_diff.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt_array.h"

struct folded_line {
	char *stack;
	uint64_t count[2];
};

struct folded_set {
	struct folded_line *v;
	size_t n, cap;
	uint64_t total[2];
};

static void set_free(struct folded_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].stack);
	free(s->v);
}

/* "STACK COUNT": the count after the last blank, the stack before it. */
static int parse_line(char *line, char **stack, uint64_t *count)
{
	size_t len = strcspn(line, "\r\n");
	char *sp, *end;

	line[len] = '\0';
	sp = strrchr(line, ' ');
	if (!sp || sp == line || !sp[1] || sp[1] == '-')
		return -EINVAL;
	errno = 0;
	*count = strtoull(sp + 1, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*sp = '\0';
	*stack = line;
	return 0;
}

static int read_file(struct folded_set *s, const char *path, int side, char *msg, size_t n)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL, *stack;
	size_t cap = 0, lineno = 0, before = s->n;
	uint64_t count;
	int err = 0;

	if (!fp) {
		err = -errno;
		snprintf(msg, n, "%s: %s", path, strerror(-err));
		return err;
	}
	while (!err && getline(&line, &cap, fp) >= 0) {
		lineno++;
		if (parse_line(line, &stack, &count)) {
			snprintf(msg, n,
				 "%s: not folded stacks (line %zu: \"STACK COUNT\" expected)", path,
				 lineno);
			err = -EINVAL;
		} else if (kt_array_reserve(s->v, s->cap, s->n + 1) ||
			   !(s->v[s->n].stack = strdup(stack))) {
			err = -ENOMEM;
		} else {
			s->v[s->n].count[side] = count;
			s->v[s->n++].count[!side] = 0;
			s->total[side] += count;
		}
	}
	free(line);
	fclose(fp);
	if (!err && s->n == before) {
		snprintf(msg, n, "%s: empty file, no folded stacks", path);
		err = -EINVAL;
	}
	return err;
}

static int by_stack(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->stack,
		      ((const struct folded_line *)b)->stack);
}

/* Sums the lines of one stack (sorted first) and writes them. */
static int write_diff(FILE *out, struct folded_set *s)
{
	double scale = s->total[1] ? (double)s->total[0] / (double)s->total[1] : 1;

	qsort(s->v, s->n, sizeof(s->v[0]), by_stack);
	for (size_t i = 0; i < s->n;) {
		uint64_t c[2] = {0, 0};
		size_t j = i;

		for (; j < s->n && !strcmp(s->v[j].stack, s->v[i].stack); j++) {
			c[0] += s->v[j].count[0];
			c[1] += s->v[j].count[1];
		}
		fprintf(out, "%s %" PRIu64 " %.0f\n", s->v[i].stack, c[0], round(c[1] * scale));
		i = j;
	}
	fflush(out);
	return ferror(out) ? -EIO : 0;
}

int kt_diff_folded(FILE *out, const char *const *before, int nb, const char *const *after, int na,
		   char *msg, size_t n)
{
	struct folded_set s = {0};
	int err = 0;

	for (int i = 0; i < nb && !err; i++)
		err = read_file(&s, before[i], 0, msg, n);
	for (int i = 0; i < na && !err; i++)
		err = read_file(&s, after[i], 1, msg, n);
	if (err == -ENOMEM)
		snprintf(msg, n, "out of memory");
	if (!err)
		err = write_diff(out, &s);
	set_free(&s);
	return err;
}
