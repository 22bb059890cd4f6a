/* SPDX-License-Identifier: MIT */
/* Folded-stack aggregation (kt_folded.h). */
#include "kt_folded.h"
#include "kt_array.h"
#include "kt_sym.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_NAME_MAX 512

/* One distinct raw stack; the key is everything but hash, weight and adds. */
struct folded_entry {
	uint64_t hash;
	uint64_t weight;
	uint64_t adds; /* kt_folded_add calls summed into it */
	uint32_t pid;
	uint32_t nframes;
	bool probe; /* taken at a libkaos probe site: trimmed to the API frame */
	char comm[KT_FOLDED_COMM_LEN];
	char event[KT_FOLDED_EVENT_LEN];
	char ring[KT_FOLDED_RING_LEN]; /* probe stacks: the ring's name ("" if none) */
	uint64_t frames[];
};

/* Open addressing, linear probing, power-of-two capacity, at most half full. */
struct kt_folded {
	struct folded_entry **slots;
	size_t cap;
	size_t n;
	kt_folded_frame_fn frame_fn; /* probe stacks: classifies their frames */
};

struct kt_folded *kt_folded_new(void)
{
	return calloc(1, sizeof(struct kt_folded));
}

void kt_folded_clear(struct kt_folded *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->cap; i++) {
		free(f->slots[i]);
		f->slots[i] = NULL;
	}
	f->n = 0;
}

void kt_folded_free(struct kt_folded *f)
{
	if (!f)
		return;
	kt_folded_clear(f);
	free(f->slots);
	free(f);
}

size_t kt_folded_size(const struct kt_folded *f)
{
	return f ? f->n : 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint64_t bytes_hash(uint64_t h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = 0;

		memcpy(&v, p + i, n - i < 8 ? n - i : 8);
		h = mix(h, v);
	}
	return h;
}

static uint64_t entry_hash(const struct folded_entry *e)
{
	uint64_t h = mix(0x243f6a8885a308d3ull, (uint64_t)e->pid << 32 | e->nframes);

	h = mix(h, e->probe);

	h = bytes_hash(h, e->comm, sizeof(e->comm));
	h = bytes_hash(h, e->event, sizeof(e->event));
	h = bytes_hash(h, e->ring, sizeof(e->ring));
	for (uint32_t i = 0; i < e->nframes; i++)
		h = mix(h, e->frames[i]);
	return h;
}

static bool entry_equal(const struct folded_entry *a, const struct folded_entry *b)
{
	return a->hash == b->hash && a->pid == b->pid && a->nframes == b->nframes &&
	       a->probe == b->probe && !memcmp(a->comm, b->comm, sizeof(a->comm)) &&
	       !memcmp(a->event, b->event, sizeof(a->event)) &&
	       !memcmp(a->ring, b->ring, sizeof(a->ring)) &&
	       !memcmp(a->frames, b->frames, a->nframes * sizeof(a->frames[0]));
}

static int grow(struct kt_folded *f)
{
	size_t cap = f->cap ? f->cap * 2 : 256;
	struct folded_entry **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++) {
		struct folded_entry *e = f->slots[i];
		size_t j;

		if (!e)
			continue;
		for (j = e->hash & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
			;
		slots[j] = e;
	}
	free(f->slots);
	f->slots = slots;
	f->cap = cap;
	return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Copies s into a zero-padded fixed field (truncating). */
static void copy_field(char *dst, size_t size, const char *s)
{
	memset(dst, 0, size);
	if (s)
		strncpy(dst, s, size - 1);
}

static int folded_add(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
		      const char *ring, const uint64_t *stack, size_t nframes, uint64_t weight,
		      uint64_t adds, bool probe)
{
	struct folded_entry *e;
	size_t n = 0, i;
	int ret;

	if (!f || (nframes && !stack) || nframes > KT_FOLDED_MAX_FRAMES)
		return -EINVAL;
	/* A zero address ends the stack (bpf_get_stack zero-fills the rest). */
	while (n < nframes && stack[n] != 0)
		n++;
	if ((f->n + 1) * 2 > f->cap) {
		ret = grow(f);
		if (ret)
			return ret;
	}
	e = malloc(sizeof(*e) + n * sizeof(e->frames[0]));
	if (!e)
		return -ENOMEM;
	e->pid = pid;
	e->nframes = (uint32_t)n;
	e->probe = probe;
	copy_field(e->comm, sizeof(e->comm), comm);
	copy_field(e->event, sizeof(e->event), event);
	copy_field(e->ring, sizeof(e->ring), ring);
	if (n)
		memcpy(e->frames, stack, n * sizeof(e->frames[0]));
	e->hash = entry_hash(e);
	e->weight = weight;
	e->adds = adds;
	for (i = e->hash & (f->cap - 1); f->slots[i]; i = (i + 1) & (f->cap - 1)) {
		if (entry_equal(f->slots[i], e)) {
			f->slots[i]->weight = add_sat(f->slots[i]->weight, weight);
			f->slots[i]->adds = add_sat(f->slots[i]->adds, adds);
			free(e);
			return 0;
		}
	}
	f->slots[i] = e;
	f->n++;
	return 0;
}

int kt_folded_add(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
		  const uint64_t *stack, size_t nframes, uint64_t weight)
{
	return folded_add(f, pid, comm, event, NULL, stack, nframes, weight, 1, false);
}

int kt_folded_add_counted(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			  const uint64_t *stack, size_t nframes, uint64_t weight, uint64_t count)
{
	return folded_add(f, pid, comm, event, NULL, stack, nframes, weight, count, false);
}

int kt_folded_add_probe(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			const uint64_t *stack, size_t nframes, uint64_t weight)
{
	return folded_add(f, pid, comm, event, NULL, stack, nframes, weight, 1, true);
}

int kt_folded_add_probe_ring(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
			     const char *ring, const uint64_t *stack, size_t nframes,
			     uint64_t weight)
{
	return folded_add(f, pid, comm, event, ring, stack, nframes, weight, 1, true);
}

/* Whether e would be a new entry of f. */
static bool folded_has(const struct kt_folded *f, const struct folded_entry *e)
{
	if (!f->cap)
		return false;
	for (size_t i = e->hash & (f->cap - 1); f->slots[i]; i = (i + 1) & (f->cap - 1))
		if (entry_equal(f->slots[i], e))
			return true;
	return false;
}

int kt_folded_merge(struct kt_folded *dst, const struct kt_folded *src, const char *event,
		    size_t max)
{
	int left_out = 0;

	if (!dst || !src)
		return -EINVAL;
	for (size_t i = 0; i < src->cap; i++) {
		const struct folded_entry *e = src->slots[i];
		int ret;

		if (!e || (event && strncmp(e->event, event, sizeof(e->event))))
			continue;
		if (max && dst->n >= max && !folded_has(dst, e)) {
			left_out++;
			continue;
		}
		ret = folded_add(dst, e->pid, e->comm, e->event, e->ring, e->frames, e->nframes,
				 e->weight, e->adds, e->probe);
		if (ret)
			return ret;
	}
	return left_out;
}

void kt_folded_set_frame_fn(struct kt_folded *f, kt_folded_frame_fn fn)
{
	if (f)
		f->frame_fn = fn;
}

/* ------------------------------------------------------------------ output */

struct strbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_reserve(struct strbuf *b, size_t more)
{
	if (!b->oom &&
	    (more > SIZE_MAX - 1 - b->len || kt_array_reserve(b->s, b->cap, b->len + more + 1)))
		b->oom = true;
}

/* Appends one frame, sanitized for the folded format, after a ';' if not first. */
static void sb_frame(struct strbuf *b, const char *name)
{
	size_t n = strlen(name);

	if (n == 0) {
		name = "[unknown]";
		n = strlen(name);
	}
	sb_reserve(b, n + 1);
	if (b->oom)
		return;
	if (b->len)
		b->s[b->len++] = ';';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == ';')
			c = ':';
		else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
			c = '_';
		else if (c < 0x20 || c == 0x7f)
			c = '?';
		b->s[b->len++] = (char)c;
	}
	b->s[b->len] = '\0';
}

static void sb_event(struct strbuf *b, const char *event)
{
	char tmp[KT_FOLDED_EVENT_LEN + 2];

	snprintf(tmp, sizeof(tmp), "[%s]", event[0] ? event : "?");
	sb_frame(b, tmp);
}

struct folded_line {
	char *s;
	uint64_t weight;
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->s, ((const struct folded_line *)b)->s);
}

/* Return addresses point after the call: look up the call itself. */
static uint64_t frame_addr(const struct folded_entry *e, uint32_t i)
{
	return i == 0 ? e->frames[i] : e->frames[i] - 1;
}

/*
 * Index of the API frame a probe stack ends at: the outermost API frame
 * reached from the probe site through the library's internal frames only
 * (the innermost one, unless an API function is built on another). -1
 * (keep everything) when the stack is no probe stack or the walk meets
 * another frame first (frames missing, not symbolized): nothing is hidden
 * on a guess.
 */
static int64_t api_frame(const struct kt_folded *f, const struct folded_entry *e, void *ctx)
{
	int64_t api = -1;

	if (!e->probe || !f->frame_fn)
		return -1;
	for (uint32_t i = 0; i < e->nframes; i++) {
		enum kt_folded_frame k = f->frame_fn(ctx, e->pid, e->frames[0], frame_addr(e, i));

		if (k == KT_FRAME_API)
			api = i;
		else if (k == KT_FRAME_OTHER)
			break; /* the caller's code (or unknown): the walk ends */
	}
	return api;
}

/* The folded line of one raw stack (malloc'd), or NULL on allocation failure. */
static char *fold_entry(const struct kt_folded *f, const struct folded_entry *e, unsigned int flags,
			kt_folded_sym_fn sym, void *ctx)
{
	int64_t api = api_frame(f, e, ctx);
	uint32_t first = api < 0 ? 0 : (uint32_t)api;
	struct strbuf b = {0};
	char name[FRAME_NAME_MAX];

	sb_reserve(&b, 0);
	if (b.oom)
		return NULL;
	b.s[0] = '\0';
	if (flags & KT_FOLDED_EVENT_ROOT)
		sb_event(&b, e->event);
	if (flags & KT_FOLDED_COMM) {
		if (flags & KT_FOLDED_PID)
			snprintf(name, sizeof(name), "%s-%" PRIu32, e->comm[0] ? e->comm : "?",
				 e->pid);
		else
			snprintf(name, sizeof(name), "%s", e->comm);
		sb_frame(&b, name);
	}
	if (e->nframes == 0)
		sb_frame(&b, "[no-stack]");
	for (uint32_t i = e->nframes; i-- > first;) {
		name[0] = '\0';
		if (sym(ctx, e->pid, frame_addr(e, i), name, sizeof(name)) < 0)
			name[0] = '\0';
		name[sizeof(name) - 1] = '\0';
		if (i == api) /* the call the user made, not a compiler fragment of it (.cold) */
			name[strcspn(name, ".")] = '\0';
		sb_frame(&b, name);
	}
	if (flags & KT_FOLDED_EVENT_LEAF)
		sb_event(&b, e->event);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

int kt_folded_write(struct kt_folded *f, FILE *out, unsigned int flags, kt_folded_sym_fn sym,
		    void *ctx)
{
	struct folded_line *lines;
	size_t n = 0, written = 0;
	int ret = 0;

	if (!f || !out || !sym ||
	    (flags & ~(unsigned int)(KT_FOLDED_EVENT_ROOT | KT_FOLDED_EVENT_LEAF | KT_FOLDED_COMM |
				     KT_FOLDED_PID | KT_FOLDED_WEIGHT_ADDS)))
		return -EINVAL;
	if (f->n == 0)
		return 0;
	lines = calloc(f->n, sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++) {
		const struct folded_entry *e = f->slots[i];

		if (!e)
			continue;
		lines[n].s = fold_entry(f, e, flags, sym, ctx);
		lines[n].weight = flags & KT_FOLDED_WEIGHT_ADDS && e->probe ? e->adds : e->weight;
		if (!lines[n].s) {
			ret = -ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	for (size_t i = 0; i < n;) {
		uint64_t w = lines[i].weight;
		size_t j = i + 1;

		/* Different raw stacks (other pids, other call sites) can fold alike. */
		while (j < n && !strcmp(lines[j].s, lines[i].s))
			w = add_sat(w, lines[j++].weight);
		if (w) {
			fprintf(out, "%s %" PRIu64 "\n", lines[i].s, w);
			written++;
		}
		i = j;
	}
	if (ferror(out))
		ret = -EIO;
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i].s);
	free(lines);
	return ret ? ret : (int)written;
}

int kt_folded_foreach(struct kt_folded *f, void *sym_ctx, kt_folded_stack_fn fn, void *ctx)
{
	uint64_t *addrs;
	int ret = 0;

	if (!f || !fn)
		return -EINVAL;
	addrs = malloc(KT_FOLDED_MAX_FRAMES * sizeof(*addrs));
	if (!addrs)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap && ret >= 0; i++) {
		const struct folded_entry *e = f->slots[i];
		struct kt_folded_stack st;
		int64_t api;

		if (!e)
			continue;
		api = api_frame(f, e, sym_ctx);
		st = (struct kt_folded_stack){.pid = e->pid,
					      .comm = e->comm,
					      .event = e->event,
					      .ring = e->ring,
					      .addrs = addrs,
					      .api_leaf = api >= 0,
					      .weight = e->weight,
					      .adds = e->adds};
		for (uint32_t j = api < 0 ? 0 : (uint32_t)api; j < e->nframes; j++)
			addrs[st.naddrs++] = frame_addr(e, j);
		ret = fn(ctx, &st);
	}
	free(addrs);
	return ret < 0 ? ret : 0;
}

int kt_folded_sym_kt(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n)
{
	return kt_sym_resolve(ctx, (pid_t)pid, addr, buf, n);
}

/*
 * How the public API frame is recognised, and why so. libkaos' API is
 * exactly its exported kaos_* functions: everything else in it is static or
 * hidden, which the linker turns into local symbols. That holds for
 * libkaos.so (.dynsym) and for a program linked with libkaos.a (the globals
 * of its .symtab) alike, and needs nothing from libkaos but its naming
 * rule. The alternatives: a list of internal names (fire_send,
 * send1_probed_spsc...) rots with every refactoring of core/; a marker
 * section or name prefix for the probe path would have to be kept by every
 * function on it, and a missed one leaks into the output. The frame must
 * lie in the probe site's own file, so that a program's kaos_* wrapper
 * around libkaos.so is never taken for it. libkaos is built with
 * -fno-optimize-sibling-calls (Makefile): a public function tail-calling
 * its slow path would leave no frame to find. A compiler fragment of a
 * kaos_* function (kaos_ring_claim.cold: local, a '.' no C name has) is its
 * function's frame: libkaos has no static kaos_* functions.
 *
 * Internal frames (the non-exported functions of that file) let the walk
 * go on from kaos_ring_send to the kaos_ipc_send that called it. In a
 * program linked with libkaos.a its own static functions look internal too;
 * that merges nothing wrongly because no libkaos API function calls back
 * into the program (the pipeline runs its callbacks on its own threads,
 * under start_thread), so no program frame lies between two API frames.
 */
enum kt_folded_frame kt_folded_frame_kt(void *ctx, uint32_t pid, uint64_t leaf, uint64_t addr)
{
	struct kt_sym_info info;
	char leaf_module[256];
	bool kaos;

	if (kt_sym_lookup(ctx, (pid_t)pid, leaf, &info) != KT_SYM_FUNC || !info.module)
		return KT_FRAME_OTHER;
	snprintf(leaf_module, sizeof(leaf_module), "%s", info.module);
	if (kt_sym_lookup(ctx, (pid_t)pid, addr, &info) != KT_SYM_FUNC || !info.module ||
	    strcmp(info.module, leaf_module))
		return KT_FRAME_OTHER;
	kaos = !strncmp(info.func, "kaos_", 5);
	if (kaos && (info.exported || strchr(info.func, '.')))
		return KT_FRAME_API;
	return info.exported ? KT_FRAME_OTHER : KT_FRAME_INTERNAL;
}
