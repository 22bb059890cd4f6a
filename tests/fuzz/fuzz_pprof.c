/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for kt_pprof (make fuzz): stacks of any shape (pids,
 * events, frames, weights, probe or not) and frame names of any bytes,
 * encoded as a raw profile.proto, then read back by a strict decoder of
 * the subset kt_pprof writes. Besides memory safety it checks the
 * encoding's promises: every field is well-formed (known wire type,
 * lengths within their message), string_table[0] is "", every string
 * index, location, mapping and function id referenced exists, every
 * sample has one value per sample type, and the gzip'd form inflates to
 * the same bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kt_folded.h"
#include "kt_pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IDS 4096

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static const char *const names[] = {"",	 "main",  "kaos_ring_send", "send1.cold",
				    ".", "a;b c", "\x01\xff",	    "kaos_x.part.0"};

static int fuzz_sym(void *ctx, uint32_t pid, uint64_t addr, struct kt_pprof_loc *loc)
{
	(void)ctx;
	if ((addr >> 4) % 11 == 0)
		return -1;
	loc->func = (addr >> 4) % 5 ? names[(addr >> 4) % 8] : NULL;
	if (addr & 0x100)
		return 0; /* no mapping */
	loc->file = pid & 1 ? "/lib/x.so" : "/bin/y";
	loc->build_id = pid & 2 ? "00ff" : NULL;
	loc->map_start = addr & ~0xfffull;
	loc->map_limit = loc->map_start + 0x1000;
	loc->map_offset = pid;
	return 0;
}

/* ------------------------------------------------------------ decoder */

struct seen {
	uint64_t nstrings, ntypes, max_str;
	uint64_t locs[MAX_IDS], maps[MAX_IDS], funcs[MAX_IDS];
	size_t nlocs, nmaps, nfuncs;
	uint64_t loc_refs[MAX_IDS], map_refs[MAX_IDS], func_refs[MAX_IDS];
	size_t nloc_refs, nmap_refs, nfunc_refs;
	bool first_string_empty;
};

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned int s = 0; s < 64 && *p < end; s += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/* One field: its number, wire type and value (varint) or bytes [*b, *e). */
static bool field(const uint8_t **p, const uint8_t *end, uint64_t *num, uint64_t *v,
		  const uint8_t **b, const uint8_t **e)
{
	uint64_t tag;

	if (!varint(p, end, &tag) || !varint(p, end, v))
		return false;
	*num = tag >> 3;
	if ((tag & 7) == 0) {
		*b = *e = NULL;
		return *num > 0;
	}
	if ((tag & 7) != 2 || *v > (uint64_t)(end - *p))
		return false;
	*b = *p;
	*e = *p += *v;
	return *num > 0;
}

static void note(uint64_t *arr, size_t *n, uint64_t v)
{
	if (*n < MAX_IDS)
		arr[(*n)++] = v;
}

static void str_ref(struct seen *s, uint64_t v)
{
	if (v > s->max_str)
		s->max_str = v;
}

/* A message of only varint fields (strings for str_fields bits), ids noted. */
static bool flat(struct seen *s, const uint8_t *p, const uint8_t *end, uint32_t str_fields,
		 uint64_t *id)
{
	uint64_t num, v;
	const uint8_t *b, *e;

	while (p < end) {
		if (!field(&p, end, &num, &v, &b, &e) || b)
			return false;
		if (num < 32 && (str_fields >> num & 1))
			str_ref(s, v);
		if (num == 1 && id)
			*id = v;
	}
	return true;
}

static bool packed(const uint8_t *p, const uint8_t *end, uint64_t *arr, size_t *n, size_t *count)
{
	uint64_t v;

	*count = 0;
	while (p < end) {
		if (!varint(&p, end, &v))
			return false;
		if (arr)
			note(arr, n, v);
		(*count)++;
	}
	return true;
}

static bool sample(struct seen *s, const uint8_t *p, const uint8_t *end)
{
	uint64_t num, v;
	const uint8_t *b, *e;
	size_t nvalues = 0, c;

	while (p < end) {
		if (!field(&p, end, &num, &v, &b, &e) || !b)
			return false;
		if (num == 1 && !packed(b, e, s->loc_refs, &s->nloc_refs, &c))
			return false;
		if (num == 2 && !packed(b, e, NULL, NULL, &nvalues))
			return false;
		if (num == 3 && !flat(s, b, e, 1u << 1 | 1u << 2, NULL))
			return false;
	}
	return nvalues == s->ntypes;
}

static bool location(struct seen *s, const uint8_t *p, const uint8_t *end)
{
	uint64_t num, v, id = 0, fn = 0;
	const uint8_t *b, *e;

	while (p < end) {
		if (!field(&p, end, &num, &v, &b, &e))
			return false;
		if (num == 1)
			note(s->locs, &s->nlocs, v);
		else if (num == 2)
			note(s->map_refs, &s->nmap_refs, v);
		else if (num == 4 && (!b || !flat(s, b, e, 0, &fn) || !fn))
			return false;
		else if (num == 4)
			note(s->func_refs, &s->nfunc_refs, fn);
	}
	(void)id;
	return true;
}

static bool profile(struct seen *s, const uint8_t *p, const uint8_t *end)
{
	uint64_t num, v, id;
	const uint8_t *b, *e;

	while (p < end) {
		if (!field(&p, end, &num, &v, &b, &e))
			return false;
		/* messages and strings are length-delimited, the rest varints */
		if ((num <= 6 || num == 11) != (b != NULL))
			return false;
		id = 0;
		if (num == 6 && !s->nstrings++)
			s->first_string_empty = b == e;
		else if (num == 1 && ++s->ntypes && !flat(s, b, e, 6, NULL))
			return false;
		else if (num == 11 && !flat(s, b, e, 6, NULL))
			return false;
		else if (num == 2 && !sample(s, b, e))
			return false;
		else if (num == 3 && (!flat(s, b, e, 1u << 5 | 1u << 6, &id) || !id))
			return false;
		else if (num == 4 && !location(s, b, e))
			return false;
		else if (num == 5 && (!flat(s, b, e, 1u << 2 | 1u << 3, &id) || !id))
			return false;
		else if (num == 14)
			str_ref(s, v);
		if (num == 3)
			note(s->maps, &s->nmaps, id);
		if (num == 5)
			note(s->funcs, &s->nfuncs, id);
	}
	return true;
}

/* Every reference is to an id defined (0 is "none" for mappings). */
static bool refs_ok(const uint64_t *refs, size_t nrefs, const uint64_t *ids, size_t nids,
		    bool zero_ok)
{
	for (size_t i = 0; i < nrefs; i++) {
		bool found = zero_ok && refs[i] == 0;

		for (size_t j = 0; j < nids && !found; j++)
			found = ids[j] == refs[i];
		if (!found)
			return false;
	}
	return true;
}

static void check(const uint8_t *p, size_t n)
{
	static struct seen s;

	memset(&s, 0, sizeof(s));
	if (!profile(&s, p, p + n))
		abort();
	if (s.ntypes && (!s.nstrings || !s.first_string_empty || s.max_str >= s.nstrings))
		abort();
	if (s.nloc_refs < MAX_IDS && s.nlocs < MAX_IDS &&
	    !refs_ok(s.loc_refs, s.nloc_refs, s.locs, s.nlocs, false))
		abort();
	if (s.nmap_refs < MAX_IDS && s.nmaps < MAX_IDS &&
	    !refs_ok(s.map_refs, s.nmap_refs, s.maps, s.nmaps, true))
		abort();
	if (s.nfunc_refs < MAX_IDS && s.nfuncs < MAX_IDS &&
	    !refs_ok(s.func_refs, s.nfunc_refs, s.funcs, s.nfuncs, false))
		abort();
}

static void check_gzip(const void *gz, size_t gzlen, const void *raw, size_t rawlen)
{
	uint8_t *out = malloc(rawlen + 1);
	z_stream z = {0};

	if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
		abort();
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = out;
	z.avail_out = (uInt)rawlen + 1;
	if (inflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out != rawlen ||
	    memcmp(out, raw, rawlen))
		abort();
	inflateEnd(&z);
	free(out);
}

static const char *const events[] = {"cpu", "off-cpu", "send", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct kt_folded *f = kt_folded_new();
	struct kt_pprof_opts o = {.raw = true};
	void *raw = NULL, *gz = NULL;
	size_t rawlen = 0, gzlen = 0;

	if (!f)
		return 0;
	o.cpu_period_ns = take(&in) * 1000u;
	o.weight_latency = take(&in) & 1;
	while (in.n) {
		uint64_t stack[8], weight = 0;
		uint32_t pid = take(&in) % 4 + 1;
		uint8_t ev = take(&in), nf = take(&in) % 9;

		for (uint8_t i = 0; i < nf; i++)
			stack[i] = ((uint64_t)take(&in) << 8 | take(&in)) << 4;
		for (int i = 0; i < 3; i++)
			weight = weight << 21 | (uint64_t)take(&in) << 13;
		if (ev & 0x80)
			kt_folded_add_probe_ring(f, pid, ev & 0x40 ? "c" : NULL, events[ev % 4],
						 ev & 0x20 ? names[ev % 4] : NULL, stack, nf,
						 weight);
		else
			kt_folded_add(f, pid, "comm", events[ev % 4], stack, nf, weight);
	}
	if (kt_pprof_build(f, &o, fuzz_sym, NULL, &raw, &rawlen) == 0) {
		check(raw, rawlen);
		o.raw = false;
		if (kt_pprof_build(f, &o, fuzz_sym, NULL, &gz, &gzlen) != 0)
			abort();
		check_gzip(gz, gzlen, raw, rawlen);
	}
	free(raw);
	free(gz);
	kt_folded_free(f);
	return 0;
}
