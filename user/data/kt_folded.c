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

/* One distinct raw stack; the key is everything but hash and weight. */
struct folded_entry {
	uint64_t hash;
	uint64_t weight;
	uint32_t pid;
	uint32_t nframes;
	char comm[KT_FOLDED_COMM_LEN];
	char event[KT_FOLDED_EVENT_LEN];
	uint64_t frames[];
};

/* Open addressing, linear probing, power-of-two capacity, at most half full. */
struct kt_folded {
	struct folded_entry **slots;
	size_t cap;
	size_t n;
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

	h = bytes_hash(h, e->comm, sizeof(e->comm));
	h = bytes_hash(h, e->event, sizeof(e->event));
	for (uint32_t i = 0; i < e->nframes; i++)
		h = mix(h, e->frames[i]);
	return h;
}

static bool entry_equal(const struct folded_entry *a, const struct folded_entry *b)
{
	return a->hash == b->hash && a->pid == b->pid && a->nframes == b->nframes &&
	       !memcmp(a->comm, b->comm, sizeof(a->comm)) &&
	       !memcmp(a->event, b->event, sizeof(a->event)) &&
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

int kt_folded_add(struct kt_folded *f, uint32_t pid, const char *comm, const char *event,
		  const uint64_t *stack, size_t nframes, uint64_t weight)
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
	copy_field(e->comm, sizeof(e->comm), comm);
	copy_field(e->event, sizeof(e->event), event);
	if (n)
		memcpy(e->frames, stack, n * sizeof(e->frames[0]));
	e->hash = entry_hash(e);
	e->weight = weight;
	for (i = e->hash & (f->cap - 1); f->slots[i]; i = (i + 1) & (f->cap - 1)) {
		if (entry_equal(f->slots[i], e)) {
			f->slots[i]->weight = add_sat(f->slots[i]->weight, weight);
			free(e);
			return 0;
		}
	}
	f->slots[i] = e;
	f->n++;
	return 0;
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

/* The folded line of one raw stack (malloc'd), or NULL on allocation failure. */
static char *fold_entry(const struct folded_entry *e, unsigned int flags, kt_folded_sym_fn sym,
			void *ctx)
{
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
	for (uint32_t i = e->nframes; i-- > 0;) {
		/* Return addresses point after the call: look up the call itself. */
		uint64_t addr = i == 0 ? e->frames[i] : e->frames[i] - 1;

		name[0] = '\0';
		if (sym(ctx, e->pid, addr, name, sizeof(name)) < 0)
			name[0] = '\0';
		name[sizeof(name) - 1] = '\0';
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
				     KT_FOLDED_PID)))
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
		lines[n].s = fold_entry(e, flags, sym, ctx);
		lines[n].weight = e->weight;
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

int kt_folded_sym_kt(void *ctx, uint32_t pid, uint64_t addr, char *buf, size_t n)
{
	return kt_sym_resolve(ctx, (pid_t)pid, addr, buf, n);
}
