// SPDX-License-Identifier: MIT
/* kt_func: what a probed call costs, per first-instruction kind (calibration). */
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
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kaos_func.skel.h"
#include "kt_clock.h"
#include "kt_hist.h"
#include "kt_proc.h"

/* ---------------------------------------------------------------- calibration */

/*
 * Calibration targets: tiny functions inside kaos-trace, one per kind of
 * first instruction, since that decides what a probe costs.
 */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl kt_func_calib_step\n"
	".type kt_func_calib_step,@function\n"
	"kt_func_calib_step:\n"
	"\tsub $8, %rsp\n"
	"\tadd $8, %rsp\n"
	"\tret\n"
	".size kt_func_calib_step, .-kt_func_calib_step\n"
	".p2align 4\n"
	".globl kt_func_calib_push\n"
	".type kt_func_calib_push,@function\n"
	"kt_func_calib_push:\n"
	"\tpush %rbp\n"
	"\tmov %rsp, %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size kt_func_calib_push, .-kt_func_calib_push\n"
	".p2align 4\n"
	".globl kt_func_calib_branch\n"
	".type kt_func_calib_branch,@function\n"
	"kt_func_calib_branch:\n"
	"\tjmp 1f\n"
	"1:\tret\n"
	".size kt_func_calib_branch, .-kt_func_calib_branch\n"
	".p2align 4\n"
	".globl kt_func_calib_nop5\n"
	".type kt_func_calib_nop5,@function\n"
	"kt_func_calib_nop5:\n"
	"\t.byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"\tret\n"
	".size kt_func_calib_nop5, .-kt_func_calib_nop5\n"
	".popsection\n");
void kt_func_calib_step(void);
void kt_func_calib_push(void);
void kt_func_calib_branch(void);
void kt_func_calib_nop5(void);

static void (*const calib_target[KT_FUNC_NKINDS])(void) = {
	[KT_FUNC_KIND_STEP] = kt_func_calib_step,
	[KT_FUNC_KIND_PUSH] = kt_func_calib_push,
	[KT_FUNC_KIND_BRANCH] = kt_func_calib_branch,
	[KT_FUNC_KIND_NOP5] = kt_func_calib_nop5,
};
#else
__attribute__((noinline)) void kt_func_calib_step(void)
{
	__asm__ volatile("" ::: "memory");
}

static void (*const calib_target[KT_FUNC_NKINDS])(void) = {
	[KT_FUNC_KIND_STEP] = kt_func_calib_step,
};
#endif

#define CALIB_CALLS  250 /* per round */
#define CALIB_ROUNDS 4

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* File offset of code at address addr of this process (through its maps). */
static int self_offset(const void *addr, uint64_t *off)
{
	struct kt_proc_map m;
	char path[PATH_MAX];

	if (kt_proc_map_at(getpid(), (uintptr_t)addr, &m, path, sizeof(path)))
		return -1;
	*off = (uintptr_t)addr - m.start + m.offset;
	return 0;
}

struct calib_sink {
	uint64_t *dur;
	size_t n, cap;
	pid_t self;
};

static int calib_event(void *ctx, void *data, size_t size)
{
	struct calib_sink *s = ctx;
	const struct kt_event *e = data;

	if (size < KT_EVENT_BASE_SIZE || e->type != KT_EV_FUNC || e->ring_id != KT_FUNC_CALIB_IDX ||
	    e->pid != (uint32_t)s->self)
		return 0;
	if (s->n < s->cap)
		s->dur[s->n++] = e->dur_ns;
	return 0;
}

/* One round of calls, each timed on its own: their median. */
static uint64_t timed_round(void (*fn)(void), uint64_t *t, struct ring_buffer *rb)
{
	for (int i = 0; i < CALIB_CALLS; i++) {
		uint64_t t0 = kt_now_ns(CLOCK_MONOTONIC);

		fn();
		t[i] = kt_now_ns(CLOCK_MONOTONIC) - t0;
		if (rb && (i & 7) == 7)
			ring_buffer__consume(rb); /* small ring buffers: drain as we go */
	}
	return median(t, CALIB_CALLS);
}

/* The lowest of CALIB_ROUNDS round medians of fn's calls (rb drained as they go). */
static uint64_t lowest_round(void (*fn)(void), uint64_t *t, struct ring_buffer *rb)
{
	uint64_t low = UINT64_MAX, m;

	for (int r = 0; r < CALIB_ROUNDS; r++)
		if ((m = timed_round(fn, t, rb)) < low)
			low = m;
	return low;
}

/* Calls fn a few times (a 5-byte nop is optimised after its first hit), drops those events. */
static void warm_up(void (*fn)(void), struct ring_buffer *rb)
{
	for (int i = 0; i < 32; i++)
		fn();
	ring_buffer__consume(rb);
}

/*
 * Each figure is the lowest of CALIB_ROUNDS round medians: a round that met
 * contention (other uprobe users, preemption) does not set it. The entry
 * probe alone is timed first: what a tail call adds, since the return trap
 * it shares with its caller is paid once.
 */
static int calibrate_kind(struct kt_func *f, struct ring_buffer *rb, struct calib_sink *sink,
			  enum kt_func_kind k, uint64_t *t, struct bpf_link **l)
{
	void (*fn)(void) = calib_target[k];
	uint64_t off, untraced, entry, traced = UINT64_MAX, bias = UINT64_MAX, m;

	if (self_offset((const void *)fn, &off))
		return -1;
	untraced = lowest_round(fn, t, NULL);
	l[0] = kt_func_attach_pair(f, false, getpid(), "/proc/self/exe", off, KT_FUNC_CALIB_IDX);
	if (!l[0])
		return -1;
	warm_up(fn, rb);
	entry = lowest_round(fn, t, rb);
	l[1] = kt_func_attach_pair(f, true, getpid(), "/proc/self/exe", off, KT_FUNC_CALIB_IDX);
	if (!l[1])
		return -1;
	warm_up(fn, rb);
	for (int r = 0; r < CALIB_ROUNDS; r++) {
		sink->n = 0;
		if ((m = timed_round(fn, t, rb)) < traced)
			traced = m;
		ring_buffer__consume(rb);
		if (sink->n && (m = median(sink->dur, sink->n)) < bias)
			bias = m;
	}
	ring_buffer__consume(rb);
	if (bias == UINT64_MAX)
		return -1;
	f->pair[k] = traced > untraced ? (double)(traced - untraced) : 0;
	f->tail[k] = entry > untraced ? (double)(entry - untraced) : 0;
	if (f->tail[k] > f->pair[k])
		f->tail[k] = f->pair[k]; /* noise: a part never costs more than the whole */
	f->bias[k] = (double)bias;
	return 0;
}

int kt_func_calibrate(struct kt_func *f, char *err, size_t errlen)
{
	uint64_t *t = calloc(CALIB_CALLS, sizeof(*t));
	struct calib_sink sink = {.cap = CALIB_CALLS, .self = getpid()};
	struct ring_buffer *rb;
	struct bpf_link *links[2 * KT_FUNC_NKINDS] = {0};
	int ret = 0;

	sink.dur = calloc(CALIB_CALLS, sizeof(uint64_t));
	if (!t || !sink.dur) {
		free(t);
		free(sink.dur);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* A consumer of our own for a moment: the main one has not started yet. */
	rb = ring_buffer__new(bpf_map__fd(f->skel->maps.events), calib_event, &sink, NULL);
	if (!rb) {
		snprintf(err, errlen, "--func calibration: cannot read the ring buffer: %s",
			 strerror(errno));
		ret = -1;
	}
	for (int k = 0; !ret && k < KT_FUNC_NKINDS; k++) {
		if (!calib_target[k]) {
			/* other architectures: one kind */
			f->pair[k] = f->pair[KT_FUNC_KIND_STEP];
			f->tail[k] = f->tail[KT_FUNC_KIND_STEP];
			f->bias[k] = f->bias[KT_FUNC_KIND_STEP];
			continue;
		}
		if (calibrate_kind(f, rb, &sink, (enum kt_func_kind)k, t, links + 2 * k)) {
			snprintf(err, errlen,
				 "--func calibration failed (%s probe on kaos-trace itself): %s",
				 kt_func_kind_name((enum kt_func_kind)k),
				 errno ? strerror(errno) : "no events");
			ret = -1;
		}
	}
	/* all at once: removals share their RCU grace periods */
	kt_func_destroy_links(links, 2 * KT_FUNC_NKINDS);
	ring_buffer__free(rb);
	/* Forget our own calls: counts are of the targets only. */
	struct {
		uint32_t pid, idx;
	} key = {(uint32_t)getpid(), KT_FUNC_CALIB_IDX};
	bpf_map_delete_elem(bpf_map__fd(f->skel->maps.func_counts), &key);
	free(t);
	free(sink.dur);
	f->calibrated = ret == 0;
	if (ret)
		memset(f->pair, 0, sizeof(f->pair)), memset(f->bias, 0, sizeof(f->bias)),
			memset(f->tail, 0, sizeof(f->tail));
	return ret;
}

double kt_func_pair_ns(const struct kt_func *f, enum kt_func_kind k)
{
	return f && (unsigned int)k < KT_FUNC_NKINDS ? f->pair[k] : 0;
}

double kt_func_tail_ns(const struct kt_func *f, enum kt_func_kind k)
{
	return f && (unsigned int)k < KT_FUNC_NKINDS ? f->tail[k] : 0;
}

double kt_func_bias_ns(const struct kt_func *f, enum kt_func_kind k)
{
	return f && (unsigned int)k < KT_FUNC_NKINDS ? f->bias[k] : 0;
}

bool kt_func_calibrated(const struct kt_func *f)
{
	return f && f->calibrated;
}

/* Functions named one by one at start; the rest are counted (list --func shows all). */
#define DESCRIBE_MAX_FNS 16

/* "--func: probing NAME at 0xVADDR (file offset 0xOFF, .symtab) in PATH". */
static void describe_fn(const struct kt_func_fn *x, kt_note_fn note, void *ctx)
{
	char line[1024];

	snprintf(line, sizeof(line),
		 "--func: probing %s at 0x%" PRIx64 " (file offset 0x%" PRIx64 ", %s) in %s%s%s%s",
		 x->name, x->vaddr, x->offset,
		 x->dynsym	 ? ".dynsym"
		 : x->debug_file ? "its separate debug file"
				 : ".symtab",
		 x->path, x->ifunc ? ", the implementation of IFUNC " : "",
		 x->ifunc ? x->ifunc : "", x->ifunc ? " in use" : "");
	note(ctx, false, line);
}

static void describe_fns(const struct kt_func *f, kt_note_fn note, void *ctx)
{
	char line[128];

	for (uint32_t i = 0; i < f->nfn && i < DESCRIBE_MAX_FNS; i++)
		describe_fn(&f->fn[i], note, ctx);
	if (f->nfn <= DESCRIBE_MAX_FNS)
		return;
	snprintf(line, sizeof(line), "--func: and %u more (kaos-trace list --func shows them)",
		 f->nfn - DESCRIBE_MAX_FNS);
	note(ctx, false, line);
}

void kt_func_describe(const struct kt_func *f, kt_note_fn note, void *ctx)
{
	bool used[KT_FUNC_NKINDS] = {0};
	char line[1024], b[2][16];
	size_t len;

	for (uint32_t i = 0; i < f->nfn; i++)
		used[f->fn[i].kind] = true;
	len = (size_t)snprintf(line, sizeof(line), "--func: %u function%s, %d uprobes; %s", f->nfn,
			       f->nfn == 1 ? "" : "s", f->nlinks,
			       f->calibrated ? "a probed call costs"
					     : "probe cost not measured: corrected latency = raw");
	for (int k = 0, n = 0; f->calibrated && k < KT_FUNC_NKINDS; k++) {
		if (!used[k] || len >= sizeof(line))
			continue;
		len += (size_t)snprintf(
			line + len, sizeof(line) - len,
			"%s %s (first instruction %s; %s of it inside the measured latency)",
			n++ ? "," : "", kt_fmt_ns(b[0], sizeof(b[0]), (uint64_t)f->pair[k]),
			kt_func_kind_name(k), kt_fmt_ns(b[1], sizeof(b[1]), (uint64_t)f->bias[k]));
	}
	note(ctx, false, line);
	describe_fns(f, note, ctx);
}
