/* SPDX-License-Identifier: MIT */
/*
 * kt_func internals shared by its modules (not for other users):
 *   kt_func_resolve.c  patterns to functions (symbols, IFUNCs, targets)
 *   kt_func.c          state, BPF load, attach and detach
 *   kt_func_calib.c    the probes' cost per first-instruction kind
 *   kt_func_rate.c     exact counts, --max-rate sampling, the cost warning
 *   kt_func_list.c     kaos-trace list --func
 */
#ifndef KT_FUNC_INTERNAL_H
#define KT_FUNC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kt_func.h"

struct bpf_link;
struct kaos_func_bpf;

/* Attachment pid of the -- COMMAND's functions until kt_func_command_pid(). */
#define PID_COMMAND (-2)

struct attachment {
	uint32_t idx;
	pid_t pid; /* -1: every process; PID_COMMAND: the command's, once known */
};

struct tick_ent {
	uint32_t pid;
	uint32_t idx;
	uint64_t base; /* count at the start of the current window */
};

struct kt_func {
	struct kt_func_opts o;
	struct kt_func_fn *fn;
	uint32_t nfn, capfn;
	struct kt_func_fn *ref; /* refused */
	uint32_t nref, capref;
	struct attachment *att;
	uint32_t natt, capatt;
	struct kt_func_desc *desc;
	bool list_mode;
	char **pending; /* notes printed once resolution succeeded */
	uint32_t npending, cappending;

	struct kaos_func_bpf *skel;
	struct bpf_link **links;
	int nlinks;

	bool calibrated;
	double pair[KT_FUNC_NKINDS], bias[KT_FUNC_NKINDS];
	double tail[KT_FUNC_NKINDS]; /* a tail call's part of pair: its entry probe */

	uint64_t win_start, next_tick;
	struct tick_ent *tk;
	uint32_t ntk, captk;
	uint32_t *warned;
	uint32_t nwarned, capwarned;
};

/* Makes room for one more element of size elem in *v (n used, *cap allocated). 0 or -1. */
int kt_func_grow(void **v, uint32_t *cap, uint32_t n, size_t elem);
/* Frees what x owns (not x). */
void kt_func_fn_free(struct kt_func_fn *x);
/* One line to the driver's note callback (o.note; none: dropped). */
void kt_func_note(struct kt_func *f, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* kt_func_resolve(), or for list --func (keeps refused functions, no limit). */
int kt_func_resolve_mode(const struct kt_func_opts *o, bool list_mode, struct kt_func **out,
			 char *err, size_t errlen);
/* The entry (ret false) or return uprobe of f's BPF object at path+offset in pid (-1: all). */
struct bpf_link *kt_func_attach_pair(struct kt_func *f, bool ret, pid_t pid, const char *path,
				     uint64_t offset, uint32_t cookie);
/* Destroys n links at once (their RCU grace periods overlap). */
void kt_func_destroy_links(struct bpf_link **v, int n);

#endif /* KT_FUNC_INTERNAL_H */
