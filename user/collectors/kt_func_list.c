// SPDX-License-Identifier: MIT
/* kt_func: kaos-trace list --func. */
#include "kt_func_internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- list */

/* Per file: where its symbols came from, then each function, probeable or refused and why. */
static void print_list(const struct kt_func *f, FILE *out)
{
	const char *last = NULL;

	for (uint32_t pass = 0; pass < 2; pass++) {
		uint32_t n = pass ? f->nref : f->nfn;

		for (uint32_t i = 0; i < n; i++) {
			const struct kt_func_fn *x = pass ? &f->ref[i] : &f->fn[i];

			if (!last || strcmp(last, x->path)) {
				fprintf(out, "%s (%s)\n", x->path,
					x->dynsym	? ".dynsym"
					: x->debug_file ? ".symtab of its separate debug file"
							: ".symtab");
				fprintf(out, "  %-36s %-18s %-10s %8s  %-6s %s\n", "FUNCTION",
					"ADDRESS", "OFFSET", "SIZE", "PROBE", "STATUS");
				last = x->path;
			}
			char off[32] = "-";

			if (!x->refused)
				snprintf(off, sizeof(off), "0x%" PRIx64, x->offset);
			fprintf(out, "  %-36s 0x%016" PRIx64 " %-10s %8" PRIu64 "  %-6s %s%s",
				x->name, x->vaddr, off, x->size,
				x->refused ? "-" : kt_func_kind_name(x->kind),
				x->refused ? "refused: " : "ok", x->refused ? x->refused : "");
			if (x->ifunc)
				fprintf(out, " (the implementation of IFUNC %s in use)", x->ifunc);
			fputc('\n', out);
		}
	}
	fprintf(out, "%u function%s would be probed, %u refused\n", f->nfn, f->nfn == 1 ? "" : "s",
		f->nref);
}

/* list's notes (skipped functions) as "kaos-trace: ..." lines on its error stream. */
static void list_note(void *errf, bool warning, const char *line)
{
	(void)warning;
	fprintf(errf, "kaos-trace: %s\n", line);
}

int kt_func_cmd_list(int argc, char **argv, FILE *out, FILE *errf)
{
	const char *patterns[64];
	int np = 0;
	const char *spec = NULL;
	struct kt_func_opts o = {.note = list_note, .note_ctx = errf};
	struct kt_func *f;
	char err[1024];
	pid_t pid;

	/* argv: --func PATTERN [--func PATTERN...] PID|PATH */
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--func") && i + 1 < argc && np < 64) {
			patterns[np++] = argv[++i];
		} else if (!strncmp(argv[i], "--func=", 7) && np < 64) {
			patterns[np++] = argv[i] + 7;
		} else if (!spec && argv[i][0] != '-') {
			spec = argv[i];
		} else {
			fprintf(errf,
				"kaos-trace: usage: kaos-trace list --func PATTERN PID|PATH\n");
			return 2;
		}
	}
	if (!np || !spec) {
		fprintf(errf, "kaos-trace: usage: kaos-trace list --func PATTERN PID|PATH\n");
		return 2;
	}
	char *end;
	long v = strtol(spec, &end, 10);

	o.patterns = patterns;
	o.npatterns = np;
	if (*spec && !*end) {
		if (v <= 0 || v > INT_MAX) {
			fprintf(errf, "kaos-trace: invalid pid '%s'\n", spec);
			return 2;
		}
		pid = (pid_t)v;
		o.pids = &pid;
		o.npids = 1;
	} else {
		o.paths = &spec;
		o.npaths = 1;
	}
	if (kt_func_resolve_mode(&o, true, &f, err, sizeof(err))) {
		fprintf(errf, "kaos-trace: %s\n", err);
		return 1;
	}
	print_list(f, out);
	kt_func_free(f);
	return 0;
}
