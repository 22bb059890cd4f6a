// SPDX-License-Identifier: MIT
/* kt_diff_cmd: `kaos-trace diff` from its arguments to its exit status (kt_diff_cmd.h). */
#include "kt_diff_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kt_diff.h"

struct diff_args {
	bool json;
	bool folded;
	bool gate;
	double gate_pct;
	int gate_q;
	bool alloc_gate;
	double alloc_pct;
	const char **files[2];
	int nfiles[2];
};

/* --fail-if-more-allocs PCT: a percentage, 0 or more ("10" or "10%"). */
static int parse_pct(const char *v, double *pct, char *msg, size_t n)
{
	char *end;

	if (!v) {
		snprintf(msg, n, "--fail-if-more-allocs needs PCT");
		return -EINVAL;
	}
	errno = 0;
	*pct = strtod(v, &end);
	if (end > v && *end == '%')
		end++;
	if (errno || end == v || *end || !(*pct >= 0) || *pct == HUGE_VAL) {
		snprintf(msg, n, "invalid --fail-if-more-allocs '%s' (expected PCT, e.g. 10)", v);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct diff_args *a, char *msg, size_t n)
{
	int side = 0;
	bool dashdash = false;

	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "--json")) {
			a->json = true;
		} else if (!strcmp(arg, "--folded")) {
			a->folded = true;
		} else if (!strcmp(arg, "--fail-if-slower") ||
			   !strncmp(arg, "--fail-if-slower=", 17)) {
			const char *v = arg[16] == '=' ? arg + 17 : i + 1 < argc ? argv[++i] : NULL;

			if (!v) {
				snprintf(msg, n, "--fail-if-slower needs PCT[@pNN]");
				return -EINVAL;
			}
			if (kt_diff_parse_gate(v, &a->gate_pct, &a->gate_q, msg, n))
				return -EINVAL;
			a->gate = true;
		} else if (!strcmp(arg, "--fail-if-more-allocs") ||
			   !strncmp(arg, "--fail-if-more-allocs=", 22)) {
			const char *v = arg[21] == '=' ? arg + 22 : i + 1 < argc ? argv[++i] : NULL;

			if (parse_pct(v, &a->alloc_pct, msg, n))
				return -EINVAL;
			a->alloc_gate = true;
		} else if (!strcmp(arg, "--") && !dashdash) {
			dashdash = true;
			side = 1;
		} else if (arg[0] == '-' && arg[1]) {
			snprintf(msg, n, "diff: unknown option '%s' (see kaos-trace diff --help)",
				 arg);
			return -EINVAL;
		} else {
			a->files[side][a->nfiles[side]++] = arg;
		}
	}
	if (!dashdash && a->nfiles[0] == 2) { /* diff BEFORE AFTER */
		a->files[1][0] = a->files[0][1];
		a->nfiles[0] = a->nfiles[1] = 1;
	}
	if (!a->nfiles[0] || !a->nfiles[1] || (!dashdash && a->nfiles[1] != 1)) {
		snprintf(msg, n,
			 "usage: kaos-trace diff BEFORE.json AFTER.json, or BEFORE... -- AFTER... "
			 "(runs per side)");
		return -EINVAL;
	}
	if (a->folded && (a->json || a->gate || a->alloc_gate)) {
		snprintf(msg, n, "diff --folded writes folded stacks: no --json, no --fail-if-*");
		return -EINVAL;
	}
	return 0;
}

/* --folded: the differential folded stacks. */
static int folded_cmd(const struct diff_args *a, FILE *out, char *msg, size_t n)
{
	int err = kt_diff_folded(out, a->files[0], a->nfiles[0], a->files[1], a->nfiles[1], msg, n);

	if (!err)
		return KT_DIFF_EXIT_OK;
	return err == -EINVAL || (err != -EIO && err != -ENOMEM) ? KT_DIFF_EXIT_USAGE
								 : KT_DIFF_EXIT_FAILURE;
}

static int load_side(struct kt_diff *d, const struct diff_args *a, int side, char *msg, size_t n)
{
	for (int i = 0; i < a->nfiles[side]; i++) {
		struct kt_diff_run r;
		int err;

		kt_diff_run_init(&r);
		err = kt_diff_load(a->files[side][i], &r, msg, n);
		if (!err)
			err = kt_diff_add_run(d, (enum kt_diff_side)side, &r);
		kt_diff_run_free(&r);
		if (err == -ENODATA) { /* a quiet interval of the daemon */
			d->quiet[side]++;
			continue;
		}
		if (err == -ENOMEM && !msg[0])
			snprintf(msg, n, "out of memory");
		if (err)
			return err;
	}
	if (!d->nruns[side]) { /* only quiet intervals */
		snprintf(msg, n, "no samples in the %d interval file%s of the %s side",
			 a->nfiles[side], a->nfiles[side] == 1 ? "" : "s",
			 side ? "after" : "before");
		return -EINVAL;
	}
	msg[0] = '\0';
	return 0;
}

int kt_diff_cmd(int argc, char **argv, FILE *out, char *msg, size_t n)
{
	struct diff_args a = {0};
	struct kt_diff d;
	int err, status = KT_DIFF_EXIT_OK;

	msg[0] = '\0';
	a.files[0] = calloc((size_t)argc, sizeof(char *));
	a.files[1] = calloc((size_t)argc, sizeof(char *));
	kt_diff_init(&d);
	if (!a.files[0] || !a.files[1]) {
		snprintf(msg, n, "out of memory");
		status = KT_DIFF_EXIT_FAILURE;
	} else if (parse_args(argc, argv, &a, msg, n)) {
		status = KT_DIFF_EXIT_USAGE;
	} else if (a.folded) {
		status = folded_cmd(&a, out, msg, n);
	} else if ((err = load_side(&d, &a, 0, msg, n)) || (err = load_side(&d, &a, 1, msg, n))) {
		status = err == -ENOMEM ? KT_DIFF_EXIT_FAILURE : KT_DIFF_EXIT_USAGE;
	} else {
		kt_diff_compute(&d);
		err = a.json ? kt_diff_print_json(out, &d) : kt_diff_print_text(out, &d);
		if (err) {
			status = KT_DIFF_EXIT_FAILURE; /* msg stays empty: see kt_diff_cmd.h */
		} else if (a.gate && kt_diff_gate(&d, a.gate_pct, a.gate_q)) {
			snprintf(msg, n, "slower by more than %g %% at %s (--fail-if-slower)",
				 a.gate_pct, kt_diff_quantile_name(a.gate_q));
			status = KT_DIFF_EXIT_SLOWER;
		} else if (a.alloc_gate && kt_diff_alloc_gate(&d, a.alloc_pct)) {
			snprintf(msg, n,
				 "more allocations by more than %g %% (--fail-if-more-allocs)",
				 a.alloc_pct);
			status = KT_DIFF_EXIT_MORE_ALLOCS;
		}
	}
	kt_diff_free(&d);
	free(a.files[0]);
	free(a.files[1]);
	return status;
}
