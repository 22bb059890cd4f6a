/* SPDX-License-Identifier: MIT */
/*
 * kt_pmu: kaos-trace --pmu EVENT[,EVENT] and `kaos-trace pmu list`.
 *
 * Event names are resolved by libpfm4 (any name it knows: "cpu-clock",
 * "cycles", "perf::PAGE-FAULTS", "amd64_fam19h::...") into a perf_event_attr,
 * then opened once per CPU (pid -1: every task on that CPU) for the BPF
 * probe programs to read with bpf_perf_event_read_value() on the CPU they
 * run on. An event that cannot be opened (no hardware PMU in a VM) is
 * dropped with one line naming the software events that do work; tracing
 * goes on without it.
 */
#ifndef KT_PMU_H
#define KT_PMU_H

#include <stddef.h>
#include <stdio.h>
#include <linux/perf_event.h>

#include "kt_event.h"
#include "kt_note.h"

#define KT_PMU_NAME_LEN 64

struct kt_pmu {
	int n;					 /* events kept (opened on every CPU) */
	char names[KT_PMU_MAX][KT_PMU_NAME_LEN]; /* as given on the command line */
	int ncpus;				 /* possible CPUs (map index stride) */
	int *fds;				 /* [i * ncpus + cpu], -1 if not opened */
	struct perf_event_attr attr[KT_PMU_MAX];
};

/*
 * Resolves a comma-separated list of event names. An unknown name fails
 * with one line listing close matches among libpfm4's names. 0 or -errno:
 * -ELIBACC when libpfm4 cannot be loaded (loaded here, at first use, with
 * dlopen), -ENOENT/-EINVAL/-E2BIG for a bad list.
 */
int kt_pmu_parse(struct kt_pmu *p, const char *list, char *err, size_t n);

/*
 * Opens the parsed events on every CPU. Events that cannot be opened are
 * dropped, with one warning line each to note (NULL: none). 0 (p->n may
 * then be 0) or -errno.
 */
int kt_pmu_open(struct kt_pmu *p, kt_note_fn note, void *ctx);

/* Puts the opened events into a BPF_MAP_TYPE_PERF_EVENT_ARRAY. 0 or -errno. */
int kt_pmu_fill_map(const struct kt_pmu *p, int map_fd);

void kt_pmu_close(struct kt_pmu *p);

/*
 * `kaos-trace pmu list`: the present PMUs' events, marking which open on CPU 0.
 * 0, or -errno with one line in err (libpfm4 missing or not initialized).
 */
int kt_pmu_list(FILE *out, char *err, size_t n);

/* Edit distance between a and b, case-insensitive (for "did you mean"). */
size_t kt_pmu_edit_distance(const char *a, const char *b);

#endif /* KT_PMU_H */
