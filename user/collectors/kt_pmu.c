// SPDX-License-Identifier: MIT
#include "kt_pmu.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <perfmon/pfmlib_perf_event.h>

/* Software events BPF can read per CPU (checked by `kaos-trace pmu list`). */
static const char sw_ok[] = "cpu-clock, task-clock, page-faults, context-switches, cpu-migrations";

/*
 * libpfm4 is opened with dlopen() when --pmu or `pmu list` first needs it,
 * not linked: its event tables are ~2 MB of relocated data, resident in
 * every kaos-trace that never counts a PMU event (the max RSS budget is
 * 8 MB). KAOS_TRACE_TEST_LIBPFM names another file to open (tests: a
 * missing library).
 */
#define LIBPFM_SONAME "libpfm.so.4"

static struct {
	int (*initialize)(void);
	int (*get_os_event_encoding)(const char *, int, pfm_os_t, void *);
	const char *(*strerror)(int);
	int (*get_pmu_info)(pfm_pmu_t, pfm_pmu_info_t *);
	int (*get_event_next)(int);
	int (*get_event_info)(int, pfm_os_t, pfm_event_info_t *);
} pfm;

#define PFM_SYM(lib, field, name) ((*(void **)&pfm.field = dlsym(lib, name)) != NULL)

static int pfm_load(char *err, size_t n)
{
	const char *name = getenv("KAOS_TRACE_TEST_LIBPFM");
	void *lib;

	if (!name || !*name)
		name = LIBPFM_SONAME;
	lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(err, n, "cannot load libpfm4 (%s): install the libpfm4 package",
			 dlerror());
		return -ELIBACC;
	}
	if (!PFM_SYM(lib, initialize, "pfm_initialize") ||
	    !PFM_SYM(lib, get_os_event_encoding, "pfm_get_os_event_encoding") ||
	    !PFM_SYM(lib, strerror, "pfm_strerror") ||
	    !PFM_SYM(lib, get_pmu_info, "pfm_get_pmu_info") ||
	    !PFM_SYM(lib, get_event_next, "pfm_get_event_next") ||
	    !PFM_SYM(lib, get_event_info, "pfm_get_event_info")) {
		snprintf(err, n, "%s lacks a libpfm4 function kaos-trace needs: %s", name,
			 dlerror());
		dlclose(lib);
		return -ELIBBAD;
	}
	if (pfm.initialize() != PFM_SUCCESS) {
		snprintf(err, n, "libpfm4 failed to initialize");
		return -ENOSYS;
	}
	return 0;
}

/* Loads and initializes libpfm4 once; 0, or -errno with one line in err. */
static int pfm_ready(char *err, size_t n)
{
	static int rc = 1;
	static char why[256];

	if (rc > 0)
		rc = pfm_load(why, sizeof(why));
	if (rc)
		snprintf(err, n, "%s", why);
	return rc;
}

size_t kt_pmu_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[lb + 1];

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Calls fn for every event name of the present PMUs ("NAME"; pmu name apart). */
static void for_each_event(void (*fn)(void *ctx, const char *pmu, const char *ev), void *ctx)
{
	pfm_pmu_t pmu;

	pfm_for_all_pmus(pmu)
	{
		pfm_pmu_info_t pi = {.size = sizeof(pi)};

		if (pfm.get_pmu_info(pmu, &pi) != PFM_SUCCESS || !pi.is_present)
			continue;
		for (int i = pi.first_event; i != -1; i = pfm.get_event_next(i)) {
			pfm_event_info_t ei = {.size = sizeof(ei)};

			if (pfm.get_event_info(i, PFM_OS_PERF_EVENT_EXT, &ei) == PFM_SUCCESS)
				fn(ctx, pi.name, ei.name);
		}
	}
}

#define NSUGGEST 5

struct suggest {
	const char *want;
	char best[NSUGGEST][96];
	size_t dist[NSUGGEST];
};

static void suggest_one(void *ctx, const char *pmu, const char *ev)
{
	struct suggest *s = ctx;
	size_t d = kt_pmu_edit_distance(s->want, ev);

	/* a prefix ("cache" -> CACHE-MISSES) is as good as a one-letter typo */
	if (!strncasecmp(ev, s->want, strlen(s->want)))
		d = 1;
	for (int k = 0; k < NSUGGEST; k++) {
		if (s->best[k][0] && !strcasecmp(s->best[k], ev))
			return;
	}
	for (int k = 0; k < NSUGGEST; k++) {
		if (!s->best[k][0] || d < s->dist[k]) {
			memmove(&s->best[k + 1], &s->best[k],
				(NSUGGEST - 1 - k) * sizeof(s->best[0]));
			memmove(&s->dist[k + 1], &s->dist[k],
				(NSUGGEST - 1 - k) * sizeof(s->dist[0]));
			snprintf(s->best[k], sizeof(s->best[k]), "%s", ev);
			s->dist[k] = d;
			return;
		}
	}
	(void)pmu;
}

int kt_pmu_parse(struct kt_pmu *p, const char *list, char *err, size_t n)
{
	char buf[512], *save = NULL;

	char why[256];
	int e;

	memset(p, 0, sizeof(*p));
	if ((e = pfm_ready(why, sizeof(why)))) {
		snprintf(err, n, "--pmu: %s", why);
		return e;
	}
	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) {
		snprintf(err, n, "--pmu: event list too long");
		return -EINVAL;
	}
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct perf_event_attr attr = {0};
		pfm_perf_encode_arg_t arg = {.attr = &attr, .size = sizeof(arg)};
		int rc;

		if (p->n == KT_PMU_MAX) {
			snprintf(err, n, "--pmu: at most %d events", KT_PMU_MAX);
			return -E2BIG;
		}
		rc = pfm.get_os_event_encoding(tok, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT,
					       &arg);
		if (rc != PFM_SUCCESS) {
			struct suggest s = {.want = tok};
			size_t off;

			for_each_event(suggest_one, &s);
			off = (size_t)snprintf(err, n, "--pmu: unknown event '%s' (%s)", tok,
					       pfm.strerror(rc));
			for (int k = 0; k < NSUGGEST && s.best[k][0] && off < n; k++)
				off += (size_t)snprintf(err + off, n - off, "%s%s",
							k ? ", " : "; close matches: ", s.best[k]);
			if (off < n)
				snprintf(err + off, n - off, "; see kaos-trace pmu list");
			return -ENOENT;
		}
		attr.size = sizeof(attr);
		attr.sample_period = 0; /* counting only */
		attr.freq = 0;
		attr.inherit = 0; /* bpf_perf_event_read_value refuses inherited events */
		p->attr[p->n] = attr;
		snprintf(p->names[p->n], sizeof(p->names[0]), "%s", tok);
		p->n++;
	}
	if (!p->n) {
		snprintf(err, n, "--pmu: no event given");
		return -EINVAL;
	}
	return 0;
}

static int perf_open(struct perf_event_attr *attr, int cpu)
{
	return (int)syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static void close_event(struct kt_pmu *p, int i)
{
	for (int c = 0; c < p->ncpus; c++) {
		int *fd = &p->fds[i * p->ncpus + c];

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

/* "--pmu EVENT: cannot count it here (...)" to note. */
static void warn_dropped(const struct kt_pmu *p, int i, int err, kt_note_fn note, void *ctx)
{
	char line[512];
	__u32 type = p->attr[i].type;
	bool hw = type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE || type == PERF_TYPE_RAW;

	if (!note)
		return;
	snprintf(line, sizeof(line),
		 "--pmu %s: cannot count it here (%s%s); software events that work: %s; "
		 "going on without it",
		 p->names[i], strerror(err), hw ? ": no hardware PMU on this machine" : "", sw_ok);
	note(ctx, true, line);
}

int kt_pmu_open(struct kt_pmu *p, kt_note_fn note, void *ctx)
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu <= 0)
		return -EINVAL;
	p->ncpus = ncpu;
	p->fds = malloc(sizeof(int) * (size_t)ncpu * KT_PMU_MAX);
	if (!p->fds)
		return -ENOMEM;
	for (int k = 0; k < ncpu * KT_PMU_MAX; k++)
		p->fds[k] = -1;
	for (int i = 0; i < p->n;) {
		int opened = 0, e = 0;

		for (int c = 0; c < ncpu; c++) {
			int fd = perf_open(&p->attr[i], c);

			if (fd >= 0) {
				p->fds[i * ncpu + c] = fd;
				opened++;
			} else if (errno != ENODEV) { /* ENODEV: offline CPU */
				e = errno;
				break;
			}
		}
		if (opened && !e) {
			i++;
			continue;
		}
		close_event(p, i);
		warn_dropped(p, i, e ? e : ENODEV, note, ctx);
		/* drop it: move the later events down */
		for (int j = i; j + 1 < p->n; j++) {
			p->attr[j] = p->attr[j + 1];
			memcpy(p->names[j], p->names[j + 1], sizeof(p->names[j]));
			for (int c = 0; c < ncpu; c++) {
				p->fds[j * ncpu + c] = p->fds[(j + 1) * ncpu + c];
				p->fds[(j + 1) * ncpu + c] = -1;
			}
		}
		p->n--;
	}
	return 0;
}

int kt_pmu_fill_map(const struct kt_pmu *p, int map_fd)
{
	for (int i = 0; i < p->n; i++) {
		for (int c = 0; c < p->ncpus; c++) {
			uint32_t key = (uint32_t)(i * p->ncpus + c);
			int fd = p->fds[i * p->ncpus + c];

			if (fd >= 0 && bpf_map_update_elem(map_fd, &key, &fd, BPF_ANY))
				return -errno;
		}
	}
	return 0;
}

void kt_pmu_close(struct kt_pmu *p)
{
	if (p->fds)
		for (int i = 0; i < KT_PMU_MAX; i++)
			close_event(p, i);
	free(p->fds);
	p->fds = NULL;
	p->n = 0;
}

struct lister {
	FILE *out;
	const char *pmu;
	int shown, openable;
};

static void list_one(void *ctx, const char *pmu, const char *ev)
{
	struct lister *l = ctx;
	char full[160];
	struct perf_event_attr attr = {0};
	pfm_perf_encode_arg_t arg = {.attr = &attr, .size = sizeof(arg)};
	bool ok = false;

	if (!l->pmu || strcmp(l->pmu, pmu)) {
		fprintf(l->out, "%s%s:\n", l->pmu ? "\n" : "", pmu);
		l->pmu = pmu;
	}
	snprintf(full, sizeof(full), "%s::%s", pmu, ev);
	if (pfm.get_os_event_encoding(full, PFM_PLM0 | PFM_PLM3, PFM_OS_PERF_EVENT_EXT, &arg) ==
	    PFM_SUCCESS) {
		attr.size = sizeof(attr);
		attr.inherit = 0;
		int fd = perf_open(&attr, 0);

		if (fd >= 0) {
			ok = true;
			close(fd);
		}
	}
	fprintf(l->out, "  %-44s %s\n", ev, ok ? "yes" : "no");
	l->shown++;
	l->openable += ok;
}

int kt_pmu_list(FILE *out, char *err, size_t n)
{
	struct lister l = {.out = out};
	int e = pfm_ready(err, n);

	if (e)
		return e;
	fprintf(out,
		"Events of the PMUs present (libpfm4 names), OPEN: perf_event_open on CPU 0\n");
	fprintf(out, "  %-44s %s\n", "EVENT", "OPEN");
	for_each_event(list_one, &l);
	fprintf(out, "\n%d events, %d can be opened here\n", l.shown, l.openable);
	return 0;
}
