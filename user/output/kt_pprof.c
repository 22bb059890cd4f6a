// SPDX-License-Identifier: MIT
/* kt_pprof: folded stacks as a gzip-compressed profile.proto (kt_pprof.h). */
#include "kt_pprof.h"
#include "kt_array.h"
#include "kt_folded.h"
#include "kt_sym.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define NAME_MAX_LEN 512
#define MAX_TYPES    64 /* sample types (towers); more events share the last ones' fate: -E2BIG */

/* profile.proto field numbers (message Profile and its parts). */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,
	MAPPING_ID = 1,
	MAPPING_START = 2,
	MAPPING_LIMIT = 3,
	MAPPING_OFFSET = 4,
	MAPPING_FILENAME = 5,
	MAPPING_BUILD_ID = 6,
	MAPPING_HAS_FUNCTIONS = 7,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
};

enum { WT_VARINT = 0, WT_LEN = 2 };

/* ------------------------------------------------------------ encoding */

struct pbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void pb_put(struct pbuf *b, const void *data, size_t n)
{
	if (b->oom || (n && kt_array_reserve(b->p, b->cap, b->len + n))) {
		b->oom = true;
		return;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	pb_put(b, tmp, n);
}

/* A varint field; 0 is the default and left out, as proto3 does. */
static void pb_uint(struct pbuf *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	pb_varint(b, (uint64_t)field << 3 | WT_VARINT);
	pb_varint(b, v);
}

static void pb_bytes(struct pbuf *b, unsigned int field, const void *data, size_t n)
{
	pb_varint(b, (uint64_t)field << 3 | WT_LEN);
	pb_varint(b, n);
	pb_put(b, data, n);
}

/* A nested message built in sub, appended as field, sub emptied for reuse. */
static void pb_msg(struct pbuf *b, unsigned int field, struct pbuf *sub)
{
	if (sub->oom)
		b->oom = true;
	pb_bytes(b, field, sub->p, sub->len);
	sub->len = 0;
}

/* ------------------------------------------------------- interning */

/* Byte-string keys -> ids 1..n, per kind (the kind is the key's first byte). */
struct intern_slot {
	uint64_t hash;
	char *key;
	size_t len;
	uint32_t id;
};

struct intern {
	struct intern_slot *slots;
	size_t cap, n;
};

static uint64_t key_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

static int intern_grow(struct intern *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	struct intern_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->slots[i].key)
			continue;
		for (j = t->slots[i].hash & (cap - 1); slots[j].key; j = (j + 1) & (cap - 1))
			;
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/*
 * The id of key (next_id, then incremented, if new; *is_new tells).
 * 0 on allocation failure.
 */
static uint32_t intern_get(struct intern *t, const void *key, size_t len, uint32_t *next_id,
			   bool *is_new)
{
	uint64_t h = key_hash(key, len);
	size_t i;

	*is_new = false;
	if ((t->n + 1) * 2 > t->cap && intern_grow(t))
		return 0;
	for (i = h & (t->cap - 1); t->slots[i].key; i = (i + 1) & (t->cap - 1)) {
		struct intern_slot *s = &t->slots[i];

		if (s->hash == h && s->len == len && !memcmp(s->key, key, len))
			return s->id;
	}
	t->slots[i].key = malloc(len);
	if (!t->slots[i].key)
		return 0;
	memcpy(t->slots[i].key, key, len);
	t->slots[i].hash = h;
	t->slots[i].len = len;
	t->slots[i].id = (*next_id)++;
	t->n++;
	*is_new = true;
	return t->slots[i].id;
}

static void intern_free(struct intern *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].key);
	free(t->slots);
}

/* ------------------------------------------------------- the profile */

struct sample_type {
	char name[KT_FOLDED_EVENT_LEN]; /* the folded event */
	uint32_t event;			/* its string id */
	uint32_t col;			/* first value column (set at the end) */
	uint32_t ncols;			/* 2: cpu (samples, ns), events with latency (count, ns) */
	bool cpu, offcpu;
	/* --alloc's towers, as Go's heap profile names them: objects (count), space (bytes) */
	const char *objects, *space;
};

struct map_span {
	uint64_t start;
	size_t off, len;
};

struct builder {
	const struct kt_pprof_opts *o;
	kt_pprof_sym_fn sym;
	void *sym_ctx;
	struct intern keys;
	uint32_t nstrings, nfuncs, nmaps, nlocs; /* ids given so far (strings from 0) */
	/* encoded sections, joined at the end in profile.proto's field order */
	struct pbuf strings, functions, mappings, locations, samples;
	struct map_span *spans; /* where each mapping lies in mappings, to sort them */
	size_t nspans, spans_cap;
	struct pbuf sub, sub2;		     /* scratch for nested messages */
	struct sample_type types[MAX_TYPES]; /* in order of first sight */
	uint32_t order[MAX_TYPES];	     /* in column order (see sort_types) */
	uint32_t ntypes, ncols;
	uint64_t *locs; /* the current sample's location ids */
	int err;
};

/* The string table index of s (added to the table if new). */
static uint32_t str_id(struct builder *b, const char *s)
{
	size_t n = strlen(s);
	char key[1 + NAME_MAX_LEN];
	bool is_new;
	uint32_t id;

	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	key[0] = 's';
	memcpy(key + 1, s, n);
	id = intern_get(&b->keys, key, n + 1, &b->nstrings, &is_new);
	if (is_new)
		pb_bytes(&b->strings, PROFILE_STRING_TABLE, s, n);
	else if (!id && strcmp(s, "")) /* "" is id 0 by definition */
		b->err = -ENOMEM;
	return id;
}

/* Functions are told apart by name, as pprof shows them. */
static uint32_t function_id(struct builder *b, const char *name)
{
	struct {
		char kind;
		uint32_t name;
	} __attribute__((packed)) key = {'f', str_id(b, name)};
	bool is_new;
	uint32_t id = intern_get(&b->keys, &key, sizeof(key), &b->nfuncs, &is_new);

	if (!id)
		b->err = -ENOMEM;
	if (!is_new)
		return id;
	pb_uint(&b->sub, FUNCTION_ID, id);
	pb_uint(&b->sub, FUNCTION_NAME, key.name);
	pb_uint(&b->sub, FUNCTION_SYSTEM_NAME, key.name);
	pb_msg(&b->functions, PROFILE_FUNCTION, &b->sub);
	return id;
}

static uint32_t mapping_id(struct builder *b, uint32_t pid, const struct kt_pprof_loc *l)
{
	struct {
		char kind;
		uint32_t pid;
		uint64_t start;
	} __attribute__((packed)) key = {'m', pid, l->map_start};
	bool is_new;
	uint32_t id = intern_get(&b->keys, &key, sizeof(key), &b->nmaps, &is_new);

	if (!id)
		b->err = -ENOMEM;
	if (!is_new)
		return id;
	pb_uint(&b->sub, MAPPING_ID, id);
	pb_uint(&b->sub, MAPPING_START, l->map_start);
	pb_uint(&b->sub, MAPPING_LIMIT, l->map_limit);
	pb_uint(&b->sub, MAPPING_OFFSET, l->map_offset);
	pb_uint(&b->sub, MAPPING_FILENAME, str_id(b, l->file));
	pb_uint(&b->sub, MAPPING_BUILD_ID, l->build_id ? str_id(b, l->build_id) : 0);
	pb_uint(&b->sub, MAPPING_HAS_FUNCTIONS, 1);
	if (kt_array_reserve(b->spans, b->spans_cap, b->nspans + 1)) {
		b->err = -ENOMEM;
		return id;
	}
	b->spans[b->nspans] = (struct map_span){.start = l->map_start, .off = b->mappings.len};
	pb_msg(&b->mappings, PROFILE_MAPPING, &b->sub);
	b->spans[b->nspans].len = b->mappings.len - b->spans[b->nspans].off;
	b->nspans++;
	return id;
}

/* Symbolizes a new location; its function and mapping are added as needed. */
static void location_add(struct builder *b, uint32_t id, uint32_t pid, uint64_t addr, bool cut)
{
	struct kt_pprof_loc l = {0};
	char name[NAME_MAX_LEN];
	uint32_t map = 0, fn;

	/* addr 0: the sample of a stack with no frames (folded's [no-stack]) */
	if (addr && b->sym(b->sym_ctx, pid, addr, &l) < 0)
		memset(&l, 0, sizeof(l));
	snprintf(name, sizeof(name), "%s",
		 !addr		       ? "[no-stack]"
		 : l.func && l.func[0] ? l.func
				       : "[unknown]");
	if (cut) /* the call the user made, not a compiler fragment of it (.cold) */
		name[strcspn(name, ".")] = '\0';
	if (l.file)
		map = mapping_id(b, pid, &l);
	fn = function_id(b, name[0] ? name : "[unknown]");
	pb_uint(&b->sub2, LINE_FUNCTION_ID, fn);
	pb_uint(&b->sub, LOCATION_ID, id);
	pb_uint(&b->sub, LOCATION_MAPPING_ID, map);
	pb_uint(&b->sub, LOCATION_ADDRESS, addr);
	pb_msg(&b->sub, LOCATION_LINE, &b->sub2);
	pb_msg(&b->locations, PROFILE_LOCATION, &b->sub);
}

static uint32_t location_id(struct builder *b, uint32_t pid, uint64_t addr, bool cut)
{
	struct {
		char kind;
		bool cut;
		uint32_t pid;
		uint64_t addr;
	} __attribute__((packed)) key = {'l', cut, pid, addr};
	bool is_new;
	uint32_t id = intern_get(&b->keys, &key, sizeof(key), &b->nlocs, &is_new);

	if (!id)
		b->err = -ENOMEM;
	else if (is_new)
		location_add(b, id, pid, addr, cut);
	return id;
}

/* The sample type of an event, added (with its columns) on first sight. */
static const struct sample_type *sample_type(struct builder *b, const char *event)
{
	uint32_t ev = str_id(b, event);
	struct sample_type *t;

	for (uint32_t i = 0; i < b->ntypes; i++)
		if (b->types[i].event == ev)
			return &b->types[i];
	if (b->ntypes == MAX_TYPES) {
		b->err = -E2BIG;
		return NULL;
	}
	t = &b->types[b->ntypes++];
	snprintf(t->name, sizeof(t->name), "%s", event);
	t->event = ev;
	t->cpu = !strcmp(event, "cpu");
	t->offcpu = !strcmp(event, "off-cpu");
	if (!strcmp(event, "alloc")) {
		t->objects = "alloc_objects";
		t->space = "alloc_space";
	} else if (!strcmp(event, "leak")) {
		/* outstanding at the end: what pprof calls in use */
		t->objects = "inuse_objects";
		t->space = "inuse_space";
	}
	if (t->objects)
		t->ncols = 2; /* the blocks (the stack's count), their bytes (its weight) */
	else if (t->cpu)
		t->ncols = b->o->cpu_period_ns ? 2 : 1;
	else
		t->ncols = !t->offcpu && b->o->weight_latency ? 2 : 1;
	return t;
}

static void label(struct builder *b, const char *key, const char *str, uint64_t num)
{
	pb_uint(&b->sub2, LABEL_KEY, str_id(b, key));
	if (str)
		pb_uint(&b->sub2, LABEL_STR, str_id(b, str));
	else
		pb_uint(&b->sub2, LABEL_NUM, num);
	pb_msg(&b->sub, SAMPLE_LABEL, &b->sub2);
}

/*
 * Samples are kept encoded but for their values, whose number is known
 * only at the end: "type index, weight" then the Sample's other fields.
 */
static int add_stack(void *ctx, const struct kt_folded_stack *st)
{
	struct builder *b = ctx;
	const struct sample_type *t = sample_type(b, st->event[0] ? st->event : "?");

	if (!t)
		return b->err;
	for (size_t i = 0; i < st->naddrs; i++)
		b->locs[i] = location_id(b, st->pid, st->addrs[i], i == 0 && st->api_leaf);
	if (st->naddrs == 0)
		b->locs[0] = location_id(b, st->pid, 0, false);
	for (size_t i = 0; i < (st->naddrs ? st->naddrs : 1); i++)
		pb_varint(&b->sub2, b->locs[i]);
	pb_msg(&b->sub, SAMPLE_LOCATION_ID, &b->sub2);
	label(b, "pid", NULL, st->pid);
	if (st->comm[0])
		label(b, "comm", st->comm, 0);
	if (st->ring && st->ring[0])
		label(b, "ring", st->ring, 0);
	if (!t->cpu && !t->offcpu) /* a traced operation: send, recv, a --func function */
		label(b, "op", t->name, 0);
	pb_varint(&b->samples, (uint64_t)(t - b->types));
	pb_varint(&b->samples, st->weight);
	pb_varint(&b->samples, st->adds);
	pb_varint(&b->samples, b->sub.len);
	pb_put(&b->samples, b->sub.p, b->sub.len);
	b->sub.len = 0;
	return b->err;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* pprof values are int64: weights beyond saturate there. */
static uint64_t value(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : v;
}

static uint64_t read_varint(const uint8_t **p)
{
	uint64_t v = 0;

	for (unsigned int s = 0;; s += 7) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return v;
	}
}

/*
 * A sample's value in column c: its tower's (weight for cpu samples,
 * off-cpu ns and events; cpu ns = samples x period; an event's count is
 * its adds when the weights are latencies), 0 in the others.
 */
static uint64_t column_value(const struct builder *b, const struct sample_type *t, uint32_t c,
			     uint64_t w, uint64_t adds)
{
	if (c == t->col && t->ncols == 2 && !t->cpu)
		return value(adds);
	if (c == t->col)
		return value(w);
	if (t->ncols == 2 && c == t->col + 1)
		return value(t->cpu ? mul_sat(w, b->o->cpu_period_ns) : w);
	return 0;
}

/* Writes the kept samples out with one value per column. */
static void emit_samples(struct builder *b, struct pbuf *out)
{
	const uint8_t *p = b->samples.p, *end;

	if (!p)
		return; /* no samples (an empty profile) */
	end = p + b->samples.len;
	while (p < end) {
		const struct sample_type *t = &b->types[read_varint(&p)];
		uint64_t w = read_varint(&p), adds = read_varint(&p);
		size_t n = read_varint(&p);

		pb_put(&b->sub, p, n);
		p += n;
		for (uint32_t c = 0; c < b->ncols; c++)
			pb_varint(&b->sub2, column_value(b, t, c, w, adds));
		pb_msg(&b->sub, SAMPLE_VALUE, &b->sub2);
		pb_msg(out, PROFILE_SAMPLE, &b->sub);
	}
}

static void value_type(struct builder *b, struct pbuf *out, unsigned int field, const char *type,
		       const char *unit)
{
	pb_uint(&b->sub, VALUETYPE_TYPE, str_id(b, type));
	pb_uint(&b->sub, VALUETYPE_UNIT, str_id(b, unit));
	pb_msg(out, field, &b->sub);
}

/* cpu first, then by name: the same towers give the same columns. */
static int type_cmp(const void *a, const void *b, void *types)
{
	const struct sample_type *x = (struct sample_type *)types + *(const uint32_t *)a;
	const struct sample_type *y = (struct sample_type *)types + *(const uint32_t *)b;
	int xc = !strcmp(x->name, "cpu"), yc = !strcmp(y->name, "cpu");

	return xc != yc ? yc - xc : strcmp(x->name, y->name);
}

static void sort_types(struct builder *b)
{
	for (uint32_t i = 0; i < b->ntypes; i++)
		b->order[i] = i;
	qsort_r(b->order, b->ntypes, sizeof(b->order[0]), type_cmp, b->types);
	b->ncols = 0;
	for (uint32_t i = 0; i < b->ntypes; i++) {
		b->types[b->order[i]].col = b->ncols;
		b->ncols += b->types[b->order[i]].ncols;
	}
}

/* The header fields: sample types, period, times; default type cpu. */
static void emit_header(struct builder *b, struct pbuf *out)
{
	const char *dflt = NULL;

	sort_types(b);
	for (uint32_t i = 0; i < b->ntypes; i++) {
		const struct sample_type *t = &b->types[b->order[i]];

		if (t->objects) {
			value_type(b, out, PROFILE_SAMPLE_TYPE, t->objects, "count");
			value_type(b, out, PROFILE_SAMPLE_TYPE, t->space, "bytes");
		} else if (t->cpu) {
			dflt = t->ncols == 2 ? "cpu" : "samples";
			value_type(b, out, PROFILE_SAMPLE_TYPE, "samples", "count");
			if (t->ncols == 2)
				value_type(b, out, PROFILE_SAMPLE_TYPE, "cpu", "nanoseconds");
		} else {
			char latency[KT_FOLDED_EVENT_LEN + 16];

			pb_uint(&b->sub, VALUETYPE_TYPE, t->event);
			pb_uint(&b->sub, VALUETYPE_UNIT,
				str_id(b, t->offcpu ? "nanoseconds" : "count"));
			pb_msg(out, PROFILE_SAMPLE_TYPE, &b->sub);
			snprintf(latency, sizeof(latency), "%s_latency", t->name);
			if (t->ncols == 2)
				value_type(b, out, PROFILE_SAMPLE_TYPE, latency, "nanoseconds");
		}
	}
	pb_uint(out, PROFILE_TIME_NANOS, (uint64_t)b->o->time_ns);
	pb_uint(out, PROFILE_DURATION_NANOS, (uint64_t)b->o->duration_ns);
	if (dflt && b->o->cpu_period_ns) {
		value_type(b, out, PROFILE_PERIOD_TYPE, "cpu", "nanoseconds");
		pb_uint(out, PROFILE_PERIOD, b->o->cpu_period_ns);
	}
	if (dflt)
		pb_uint(out, PROFILE_DEFAULT_SAMPLE_TYPE, str_id(b, dflt));
}

static int gzip_buf(const struct pbuf *in, void **out, size_t *len)
{
	z_stream z = {0};
	uLong cap;
	uint8_t *buf;
	int ret;

	/* 15 + 16: a gzip header and trailer around the deflate stream */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, (uLong)in->len);
	buf = malloc(cap);
	if (!buf) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = in->p;
	z.avail_in = (uInt)in->len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	ret = deflate(&z, Z_FINISH);
	*len = z.total_out;
	deflateEnd(&z);
	if (ret != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

static void builder_free(struct builder *b)
{
	intern_free(&b->keys);
	free(b->strings.p);
	free(b->functions.p);
	free(b->mappings.p);
	free(b->spans);
	free(b->locations.p);
	free(b->samples.p);
	free(b->sub.p);
	free(b->sub2.p);
	free(b->locs);
}

static int span_cmp(const void *a, const void *b)
{
	const struct map_span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Mappings by address: pprof takes the first for the main binary, and a
 * program is mapped below its libraries (PIE at 0x55..., libraries and
 * ld.so at 0x7f...), where the first one seen would often be ld.so.
 */
static void emit_mappings(struct builder *b, struct pbuf *out)
{
	if (b->mappings.oom || !b->nspans)
		return; /* the spans may lie beyond what was stored: -ENOMEM follows */
	qsort(b->spans, b->nspans, sizeof(*b->spans), span_cmp);
	for (size_t i = 0; i < b->nspans; i++)
		pb_put(out, b->mappings.p + b->spans[i].off, b->spans[i].len);
}

/* Joins the sections in field order (string table last: the header adds strings). */
static int assemble(struct builder *b, struct pbuf *out)
{
	emit_header(b, out);
	emit_samples(b, out);
	emit_mappings(b, out);
	pb_put(out, b->locations.p, b->locations.len);
	pb_put(out, b->functions.p, b->functions.len);
	pb_put(out, b->strings.p, b->strings.len);
	if (b->err)
		return b->err;
	if (out->oom || b->sub.oom || b->sub2.oom || b->strings.oom || b->functions.oom ||
	    b->mappings.oom || b->locations.oom || b->samples.oom)
		return -ENOMEM;
	return 0;
}

int kt_pprof_build(struct kt_folded *f, const struct kt_pprof_opts *o, kt_pprof_sym_fn sym,
		   void *sym_ctx, void **out, size_t *len)
{
	struct builder b = {.o = o, .sym = sym, .sym_ctx = sym_ctx, .nstrings = 0};
	struct pbuf prof = {0};
	int ret;

	if (!f || !o || !sym || !out || !len)
		return -EINVAL;
	b.nfuncs = b.nmaps = b.nlocs = 1; /* ids start at 1: 0 means none */
	b.locs = calloc(KT_FOLDED_MAX_FRAMES, sizeof(*b.locs));
	if (!b.locs)
		return -ENOMEM;
	str_id(&b, ""); /* string_table[0] must be "" */
	ret = kt_folded_foreach(f, sym_ctx, add_stack, &b);
	if (!ret)
		ret = assemble(&b, &prof);
	if (!ret && o->raw) {
		*out = prof.p;
		*len = prof.len;
		prof.p = NULL;
	} else if (!ret) {
		ret = gzip_buf(&prof, out, len);
	}
	free(prof.p);
	builder_free(&b);
	return ret;
}

int kt_pprof_sym_kt(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc)
{
	struct kt_sym_info info;
	int kind;

	/* The folded output's frame names, so both outputs name frames alike. */
	kind = kt_sym_resolve(ctx, (pid_t)pid, addr, loc->buf, sizeof(loc->buf));
	if (kind < 0)
		return kind;
	loc->func = loc->buf;
	if (kt_sym_lookup(ctx, (pid_t)pid, addr, &info) >= 0 && info.path) {
		loc->file = info.path;
		loc->build_id = info.build_id;
		loc->map_start = info.map_start;
		loc->map_limit = info.map_end;
		loc->map_offset = info.map_pgoff;
	}
	return 0;
}

/* ------------------------------------------------------- output file */

/* Unnamed (O_TMPFILE) in path's directory: a killed tracer leaves nothing behind. */
static int open_unnamed(const char *path)
{
	char *dir = strdup(path);
	int fd;

	if (!dir)
		return -ENOMEM;
	fd = open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	free(dir);
	return fd < 0 ? -errno : fd;
}

/* Where O_TMPFILE is not supported: a named temporary file next to path. */
static int open_named(struct kt_pprof_file *pf)
{
	mode_t mask;

	if (asprintf(&pf->tmp, "%s.tmp.XXXXXX", pf->path) < 0) {
		pf->tmp = NULL;
		return -ENOMEM;
	}
	pf->fd = mkostemp(pf->tmp, O_CLOEXEC);
	if (pf->fd < 0)
		return -errno;
	/* mkstemp makes it 0600: give it the mode fopen() would */
	mask = umask(0);
	umask(mask);
	if (fchmod(pf->fd, 0666 & ~mask))
		return -errno;
	return 0;
}

int kt_pprof_file_open(struct kt_pprof_file *pf, const char *path)
{
	struct stat st;
	int ret;

	memset(pf, 0, sizeof(*pf));
	pf->fd = -1;
	if (!strcmp(path, "-")) {
		fflush(stdout); /* whatever was printed before goes first */
		pf->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		return pf->fd < 0 ? -errno : 0;
	}
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		pf->fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
		return pf->fd < 0 ? -errno : 0;
	}
	pf->path = strdup(path);
	if (!pf->path)
		return -ENOMEM;
	ret = open_unnamed(path);
	if (ret >= 0) {
		pf->fd = ret;
		return 0;
	}
	if (ret == -EOPNOTSUPP || ret == -EISDIR || ret == -EINVAL)
		ret = open_named(pf);
	if (ret)
		kt_pprof_file_abort(pf);
	return ret;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Gives the unnamed file a temporary name (linkat cannot replace a file). */
static int name_unnamed(struct kt_pprof_file *pf)
{
	char fdpath[64];

	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", pf->fd);
	if (asprintf(&pf->tmp, "%s.tmp.%d", pf->path, (int)getpid()) < 0) {
		pf->tmp = NULL;
		return -ENOMEM;
	}
	unlink(pf->tmp); /* a leftover of an earlier process with this pid */
	if (linkat(AT_FDCWD, fdpath, AT_FDCWD, pf->tmp, AT_SYMLINK_FOLLOW)) {
		int e = -errno;

		free(pf->tmp);
		pf->tmp = NULL;
		return e;
	}
	return 0;
}

int kt_pprof_file_commit(struct kt_pprof_file *pf, const void *buf, size_t len)
{
	int ret = write_all(pf->fd, buf, len);

	/* a full disk may only show at fsync or close (delayed allocation, NFS) */
	if (!ret && pf->path && fsync(pf->fd))
		ret = -errno;
	if (!ret && pf->path && !pf->tmp)
		ret = name_unnamed(pf);
	if (close(pf->fd) && !ret)
		ret = -errno;
	pf->fd = -1;
	if (!ret && pf->tmp && rename(pf->tmp, pf->path))
		ret = -errno;
	if (ret)
		kt_pprof_file_abort(pf);
	free(pf->tmp);
	free(pf->path);
	pf->tmp = pf->path = NULL;
	return ret;
}

void kt_pprof_file_abort(struct kt_pprof_file *pf)
{
	if (pf->fd >= 0)
		close(pf->fd);
	pf->fd = -1;
	if (pf->tmp)
		unlink(pf->tmp);
	free(pf->tmp);
	free(pf->path);
	pf->tmp = pf->path = NULL;
}
