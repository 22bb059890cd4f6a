/* SPDX-License-Identifier: MIT */
/*
 * kt_profile: kaos-trace --profile HZ. Samples the user stacks of the
 * traced processes with a cpu-clock perf event per CPU (frequency HZ) and a
 * BPF program that counts them in the kernel (bpf/kaos_profile.bpf.c): a
 * stack-trace map plus a (pid, stack id) -> count hash, no record per sample.
 *
 * Only processes added with kt_profile_add_pid() are sampled (all their
 * threads). kaos-trace adds the -p pids and the -- COMMAND at start, and in
 * -b mode each process when it produces its first event (samples taken
 * before that are not collected).
 *
 * Stacks are added to a kt_folded under the event "cpu", so with
 * KT_FOLDED_EVENT_ROOT they form a "[cpu]" tower next to the event stacks.
 */
#ifndef KT_PROFILE_H
#define KT_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_folded.h"
#include "kt_sym.h"

struct kt_profile;

struct kt_profile_stats {
	uint64_t samples;   /* samples of profiled processes */
	uint64_t stack_err; /* samples without a user stack */
	uint64_t lost;	    /* samples dropped (count map full) */
	uint64_t unfolded;  /* samples whose stack id was freed before it was folded */
	int ncpus;	    /* CPUs sampled */
};

/*
 * Loads the BPF program and starts sampling at hz per CPU. sym (may be
 * NULL) gets each profiled pid's maps while it lives. 0, or -errno with a
 * one-line reason in err.
 */
int kt_profile_open(struct kt_profile **out, unsigned int hz, struct kt_sym *sym, char *err,
		    size_t n);

/* kt_profile_open with a stack map of max_stacks ids (0: the default); for tests. */
int kt_profile_open_sized(struct kt_profile **out, unsigned int hz, struct kt_sym *sym,
			  uint32_t max_stacks, char *err, size_t n);

/* Samples this process (idempotent). 0 or -errno. */
int kt_profile_add_pid(struct kt_profile *p, uint32_t pid);

/*
 * Picks up the symbols of pids seen in samples but not yet cached (a
 * command caught before exec). Cheap: call it now and then while running.
 */
void kt_profile_refresh(struct kt_profile *p);

/* Stops sampling and adds every counted stack to f (event "cpu"). Lines added or -errno. */
int kt_profile_collect(struct kt_profile *p, struct kt_folded *f);

/*
 * Moves the stacks counted so far into f (event "cpu") and starts counting
 * anew, sampling on: a service's folded file per interval. The stack ids
 * folded are freed, so the stack map does not fill over a long run. Lines
 * added or -errno.
 */
int kt_profile_fold_since(struct kt_profile *p, struct kt_folded *f);

void kt_profile_get_stats(const struct kt_profile *p, struct kt_profile_stats *st);

void kt_profile_free(struct kt_profile *p);

#endif /* KT_PROFILE_H */
