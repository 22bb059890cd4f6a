/* SPDX-License-Identifier: MIT */
/*
 * Reads the USDT notes back out of the built library ($B/libkaos.so, B
 * defaults to "build") and checks them against the probe ABI of
 * docs/probes.md. The .note.stapsdt records are parsed here by hand (libelf
 * only locates sections and symbols) so this is a check independent of the
 * macro that wrote them and of the tracers that read them.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kaos/probes.h"

/* ------------------------------------------------------------ note parser */

#define SDT_NOTE_TYPE  3 /* NT_STAPSDT */
#define SDT_NOTE_OWNER "stapsdt"
#define SDT_MAX_NOTES  256

struct sdt_note {
	uint64_t pc;   /* address of the probe's nop (link-time) */
	uint64_t base; /* link-time address of .stapsdt.base, for prelink adjustment */
	uint64_t sema; /* address of the semaphore, 0 if none */
	const char *provider, *name, *args; /* point into the parsed buffer */
};

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* NUL-terminated string at *pos within [p, p+len): returns it and moves *pos past it. */
static const char *take_str(const unsigned char *p, size_t len, size_t *pos)
{
	const unsigned char *nul;

	if (*pos >= len)
		return NULL;
	nul = memchr(p + *pos, '\0', len - *pos);
	if (!nul)
		return NULL;
	const char *s = (const char *)p + *pos;
	*pos = (size_t)(nul - p) + 1;
	return s;
}

/* One 64-bit NT_STAPSDT descriptor: three addresses and three strings. */
static int sdt_parse_desc(const unsigned char *d, size_t len, struct sdt_note *n)
{
	size_t pos = 24;

	if (len < 24)
		return -1;
	n->pc = rd64(d);
	n->base = rd64(d + 8);
	n->sema = rd64(d + 16);
	n->provider = take_str(d, len, &pos);
	n->name = take_str(d, len, &pos);
	n->args = take_str(d, len, &pos);
	if (!n->provider || !n->name || !n->args || !*n->provider || !*n->name)
		return -1;
	return 0;
}

/*
 * Walks a note section (4-byte aligned Elf_Nhdr records). Returns the
 * number of stapsdt notes stored in out (other owners/types are skipped),
 * or -1 if the buffer is malformed or holds more than max of them.
 */
static int sdt_parse_notes(const unsigned char *buf, size_t len, struct sdt_note *out, int max)
{
	size_t pos = 0;
	int count = 0;

	while (pos < len) {
		uint32_t namesz, descsz, type;
		size_t name_off, desc_off, end;

		if (len - pos < 12)
			return -1;
		namesz = rd32(buf + pos);
		descsz = rd32(buf + pos + 4);
		type = rd32(buf + pos + 8);
		name_off = pos + 12;
		/* sizes are 32-bit, so these sums cannot overflow a 64-bit size_t */
		if (((namesz + 3ul) & ~3ul) > len - name_off)
			return -1;
		desc_off = name_off + ((namesz + 3ul) & ~3ul);
		if (desc_off > len || descsz > len - desc_off)
			return -1;
		end = desc_off + ((descsz + 3ul) & ~3ul);
		if (end > len) /* the last record's padding must be there too */
			return -1;
		if (type == SDT_NOTE_TYPE && namesz == sizeof(SDT_NOTE_OWNER) &&
		    memcmp(buf + name_off, SDT_NOTE_OWNER, sizeof(SDT_NOTE_OWNER)) == 0) {
			if (count == max || sdt_parse_desc(buf + desc_off, descsz, &out[count]))
				return -1;
			count++;
		}
		pos = end;
	}
	return count;
}

/* One probe argument: 8 bytes, in a 64-bit general register, nothing else. */
static bool sdt_arg_ok(const char *a, size_t len, unsigned machine)
{
	static const char *const x86_regs[] = {"rax", "rbx", "rcx", "rdx", "rsi",
					       "rdi", "rbp", "r8",  "r9",  "r10",
					       "r11", "r12", "r13", "r14", "r15"};

	if (len < 3 || memcmp(a, "8@", 2) != 0)
		return false;
	a += 2;
	len -= 2;
	if (machine == EM_X86_64) {
		if (a[0] != '%')
			return false;
		for (size_t i = 0; i < sizeof(x86_regs) / sizeof(x86_regs[0]); i++)
			if (len - 1 == strlen(x86_regs[i]) && !memcmp(a + 1, x86_regs[i], len - 1))
				return true;
		return false;
	}
	if (machine == EM_AARCH64) {
		unsigned reg = 0;

		if (a[0] != 'x' || len < 2 || len > 3)
			return false;
		for (size_t i = 1; i < len; i++) {
			if (a[i] < '0' || a[i] > '9')
				return false;
			reg = reg * 10 + (unsigned)(a[i] - '0');
		}
		return reg <= 30 && !(len == 3 && a[1] == '0');
	}
	return false;
}

/* Number of space-separated arguments if all are register operands, else -1. */
static int sdt_count_reg_args(const char *args, unsigned machine)
{
	int n = 0;

	while (*args) {
		size_t len = strcspn(args, " ");

		if (!sdt_arg_ok(args, len, machine))
			return -1;
		n++;
		args += len;
		args += strspn(args, " ");
	}
	return n;
}

/* ------------------------------------------------------------ the library */

struct lib {
	char path[4096];
	int fd;
	Elf *elf;
	GElf_Ehdr eh;
	struct sdt_note notes[SDT_MAX_NOTES];
	int nnotes;
};

static Elf_Scn *find_section(Elf *e, const char *want, GElf_Shdr *sh)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(e, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(e, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, sh))
			return NULL;
		name = elf_strptr(e, shstrndx, sh->sh_name);
		if (name && !strcmp(name, want))
			return scn;
	}
	return NULL;
}

/* Bytes [addr, addr+len) of the allocated section holding them, or NULL. */
static const unsigned char *bytes_at(Elf *e, uint64_t addr, size_t len, GElf_Shdr *sh_out)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) ||
		    sh.sh_type == SHT_NOBITS)
			continue;
		if (addr < sh.sh_addr || addr - sh.sh_addr > sh.sh_size || len > sh.sh_size ||
		    addr - sh.sh_addr > sh.sh_size - len)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return NULL;
		if (sh_out)
			*sh_out = sh;
		return (const unsigned char *)d->d_buf + (addr - sh.sh_addr);
	}
	return NULL;
}

static bool find_dynsym(Elf *e, const char *want, GElf_Sym *out)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(e, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !sh.sh_entsize)
			return false;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym))
				return false;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (name && !strcmp(name, want) && sym.st_shndx != SHN_UNDEF) {
				*out = sym;
				return true;
			}
		}
	}
	return false;
}

static int lib_open(void **state)
{
	const char *b = getenv("B");
	struct lib *l = calloc(1, sizeof(*l));
	GElf_Shdr sh;
	Elf_Scn *scn;
	Elf_Data *d;

	if (!l)
		return -1;
	l->fd = -1;
	*state = l;
	snprintf(l->path, sizeof(l->path), "%s/libkaos.so", b && *b ? b : "build");
	if (elf_version(EV_CURRENT) == EV_NONE) {
		fprintf(stderr, "test_probe_notes: libelf: %s\n", elf_errmsg(-1));
		return -1;
	}
	l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0) {
		fprintf(stderr,
			"test_probe_notes: cannot open %s (%s): build the library first "
			"(make), or set B to the build directory\n",
			l->path, strerror(errno));
		return -1;
	}
	l->elf = elf_begin(l->fd, ELF_C_READ, NULL);
	if (!l->elf || elf_kind(l->elf) != ELF_K_ELF || !gelf_getehdr(l->elf, &l->eh)) {
		fprintf(stderr, "test_probe_notes: %s is not an ELF file: %s\n", l->path,
			elf_errmsg(-1));
		return -1;
	}
	/* A missing or malformed note section fails the probe tests, not the others. */
	l->nnotes = -1;
	scn = find_section(l->elf, ".note.stapsdt", &sh);
	if (scn && sh.sh_type == SHT_NOTE && (d = elf_getdata(scn, NULL)) && d->d_buf)
		l->nnotes = sdt_parse_notes(d->d_buf, d->d_size, l->notes, SDT_MAX_NOTES);
	return 0;
}

static int lib_close(void **state)
{
	struct lib *l = *state;

	if (l) {
		if (l->elf)
			elf_end(l->elf);
		if (l->fd >= 0)
			close(l->fd);
		free(l);
	}
	return 0;
}

/* ------------------------------------------------------------ parser tests */

/* Appends one note record to buf at *len (4-byte padded); returns the new length. */
static size_t put_note(unsigned char *buf, size_t len, const char *owner, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(owner) + 1;

	memcpy(buf + len, &namesz, 4);
	memcpy(buf + len + 4, &descsz, 4);
	memcpy(buf + len + 8, &type, 4);
	len += 12;
	memset(buf + len, 0, (namesz + 3u) & ~3u);
	memcpy(buf + len, owner, namesz);
	len += (namesz + 3u) & ~3u;
	memset(buf + len, 0, (descsz + 3u) & ~3u);
	memcpy(buf + len, desc, descsz);
	return len + ((descsz + 3u) & ~3u);
}

static uint32_t make_desc(unsigned char *d, uint64_t pc, const char *prov, const char *name,
			  const char *args)
{
	uint64_t base = 0x2000, sema = 0x4000;
	size_t pos = 24;

	memcpy(d, &pc, 8);
	memcpy(d + 8, &base, 8);
	memcpy(d + 16, &sema, 8);
	for (const char *s[] = {prov, name, args}, **p = s; p < s + 3; p++) {
		memcpy(d + pos, *p, strlen(*p) + 1);
		pos += strlen(*p) + 1;
	}
	return (uint32_t)pos;
}

/* A valid buffer: stapsdt note, a foreign note (skipped), another stapsdt note. */
static size_t make_notes(unsigned char *buf, size_t boundaries[4])
{
	unsigned char desc[128];
	uint32_t dl;
	size_t len = 0;

	boundaries[0] = 0;
	dl = make_desc(desc, 0x1234, "kaos", "send", "8@%rax 8@%rdx");
	len = put_note(buf, len, "stapsdt", SDT_NOTE_TYPE, desc, dl);
	boundaries[1] = len;
	len = put_note(buf, len, "GNU", 3, "\x01\x02\x03\x04\x05", 5);
	boundaries[2] = len;
	dl = make_desc(desc, 0x5678, "kaos", "ring_close", "");
	len = put_note(buf, len, "stapsdt", SDT_NOTE_TYPE, desc, dl);
	boundaries[3] = len;
	return len;
}

/* Runs the parser on an exactly-sized heap copy, so ASan/valgrind see any overread. */
static int parse_copy(const unsigned char *src, size_t len, struct sdt_note *out, int max)
{
	unsigned char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, src, len);
	r = sdt_parse_notes(copy, len, out, max);
	if (r > 0) /* the strings must lie inside the buffer */
		for (int i = 0; i < r; i++)
			assert_true((const unsigned char *)out[i].args >= copy &&
				    (const unsigned char *)out[i].args + strlen(out[i].args) <
					    copy + len);
	free(copy);
	return r;
}

static void test_parser_reads_valid_notes(void **state)
{
	unsigned char buf[512];
	size_t bounds[4], len = make_notes(buf, bounds);
	struct sdt_note n[4];

	(void)state;
	assert_int_equal(sdt_parse_notes(buf, len, n, 4), 2);
	assert_int_equal(n[0].pc, 0x1234);
	assert_int_equal(n[0].base, 0x2000);
	assert_int_equal(n[0].sema, 0x4000);
	assert_string_equal(n[0].provider, "kaos");
	assert_string_equal(n[0].name, "send");
	assert_string_equal(n[0].args, "8@%rax 8@%rdx");
	assert_int_equal(n[1].pc, 0x5678);
	assert_string_equal(n[1].name, "ring_close");
	assert_string_equal(n[1].args, "");
	/* more notes than room: an error, not an overflow */
	assert_int_equal(sdt_parse_notes(buf, len, n, 1), -1);
}

static void test_parser_rejects_truncated_notes(void **state)
{
	unsigned char buf[512];
	size_t bounds[4], len = make_notes(buf, bounds);
	struct sdt_note n[4];

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		int r = parse_copy(buf, cut, n, 4);

		if (cut == bounds[0])
			assert_int_equal(r, 0);
		else if (cut == bounds[1] || cut == bounds[2])
			assert_int_equal(r, 1); /* a whole first note, then nothing */
		else if (r != -1)
			fail_msg("prefix of %zu of %zu bytes accepted (%d notes)", cut, len, r);
	}
}

static void test_parser_rejects_malformed_notes(void **state)
{
	unsigned char buf[512], desc[128];
	size_t bounds[4], len;
	struct sdt_note n[4];
	uint32_t v;

	(void)state;
	/* sizes that would wrap or run past the end */
	for (uint32_t bad = 0xfffffff0u; bad != 0; bad++) {
		len = make_notes(buf, bounds);
		memcpy(buf, &bad, 4); /* namesz */
		assert_int_equal(parse_copy(buf, len, n, 4), -1);
		len = make_notes(buf, bounds);
		memcpy(buf + 4, &bad, 4); /* descsz */
		assert_int_equal(parse_copy(buf, len, n, 4), -1);
	}
	/* descriptor too short for its three addresses */
	len = put_note(buf, 0, "stapsdt", SDT_NOTE_TYPE, "0123456789abcdef", 16);
	assert_int_equal(parse_copy(buf, len, n, 4), -1);
	/* strings not terminated inside the descriptor */
	v = make_desc(desc, 1, "kaos", "send", "8@%rax");
	len = put_note(buf, 0, "stapsdt", SDT_NOTE_TYPE, desc, v - 1);
	assert_int_equal(parse_copy(buf, len, n, 4), -1);
	/* a missing argument string */
	v = make_desc(desc, 1, "kaos", "send", "");
	len = put_note(buf, 0, "stapsdt", SDT_NOTE_TYPE, desc, v - 1);
	assert_int_equal(parse_copy(buf, len, n, 4), -1);
	/* an empty probe name */
	v = make_desc(desc, 1, "kaos", "", "8@%rax");
	len = put_note(buf, 0, "stapsdt", SDT_NOTE_TYPE, desc, v);
	assert_int_equal(parse_copy(buf, len, n, 4), -1);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random bytes, and valid notes with random bytes changed: never a crash or an overread. */
static void test_parser_survives_garbage(void **state)
{
	unsigned char valid[512], buf[512];
	size_t bounds[4], vlen = make_notes(valid, bounds);
	struct sdt_note n[SDT_MAX_NOTES];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int accepted = 0, rejected = 0;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(xorshift(&x) % 97) + 1;

		for (size_t i = 0; i < len; i++)
			buf[i] = (unsigned char)xorshift(&x);
		assert_true(parse_copy(buf, len, n, SDT_MAX_NOTES) >= -1);
	}
	for (int round = 0; round < 4000; round++) {
		size_t len = vlen - (size_t)(xorshift(&x) % 8);
		int changes = 1 + (int)(xorshift(&x) % 4), r;

		memcpy(buf, valid, vlen);
		for (int c = 0; c < changes; c++)
			buf[xorshift(&x) % len] = (unsigned char)xorshift(&x);
		r = parse_copy(buf, len, n, SDT_MAX_NOTES);
		assert_true(r >= -1 && r <= 2);
		accepted += r > 0;
		rejected += r < 0;
	}
	print_message("damaged notes: %d accepted, %d rejected of 4000\n", accepted, rejected);
	/* both paths exercised, or this test checks less than it claims */
	assert_true(accepted > 0 && rejected > 0);
}

static void test_arg_syntax(void **state)
{
	static const char *const good_x86[] = {"8@%rax", "8@%rdi", "8@%r8", "8@%r15", "8@%rbp"};
	static const char *const bad_x86[] = {"8@%eax",		 "-4@%eax", "8@%rsp", "8@(%rax)",
					      "8@-8(%rbp)",	 "8@$5",    "4@%rax", "8@%r16",
					      "8@%rax,%rdx",	 "8@%rax)", "8@%ra",  "8@%raxx",
					      "8@(%rax,%rdx,8)", "8@",	    "@%rax",  "8@x0"};
	static const char *const good_a64[] = {"8@x0", "8@x9", "8@x10", "8@x30"};
	static const char *const bad_a64[] = {"8@x31",	   "8@w0",  "8@x",   "8@x00",  "8@sp",
					      "8@[sp, 8]", "8@x1a", "-4@x0", "8@%rax", "8@x123"};

	(void)state;
	for (size_t i = 0; i < sizeof(good_x86) / sizeof(*good_x86); i++)
		assert_true(sdt_arg_ok(good_x86[i], strlen(good_x86[i]), EM_X86_64));
	for (size_t i = 0; i < sizeof(bad_x86) / sizeof(*bad_x86); i++)
		if (sdt_arg_ok(bad_x86[i], strlen(bad_x86[i]), EM_X86_64))
			fail_msg("x86_64 argument '%s' accepted", bad_x86[i]);
	for (size_t i = 0; i < sizeof(good_a64) / sizeof(*good_a64); i++)
		assert_true(sdt_arg_ok(good_a64[i], strlen(good_a64[i]), EM_AARCH64));
	for (size_t i = 0; i < sizeof(bad_a64) / sizeof(*bad_a64); i++)
		if (sdt_arg_ok(bad_a64[i], strlen(bad_a64[i]), EM_AARCH64))
			fail_msg("arm64 argument '%s' accepted", bad_a64[i]);
	assert_int_equal(sdt_count_reg_args("8@%rax 8@%rdx  8@%r9", EM_X86_64), 3);
	assert_int_equal(sdt_count_reg_args("8@%rax -4@(%rax,%rdx,8)", EM_X86_64), -1);
	assert_int_equal(sdt_count_reg_args("", EM_X86_64), 0);
}

/* ------------------------------------------------------------ library tests */

static void test_probe_control_exported(void **state)
{
	struct lib *l = *state;
	struct kaos_probe_control init;
	const unsigned char *p;
	GElf_Sym sym = {0};
	GElf_Shdr sh;

	if (!find_dynsym(l->elf, KAOS_PROBE_CONTROL_SYMBOL, &sym))
		fail_msg("%s: %s is not defined in .dynsym", l->path, KAOS_PROBE_CONTROL_SYMBOL);
	assert_int_equal(GELF_ST_TYPE(sym.st_info), STT_OBJECT);
	assert_int_equal(GELF_ST_BIND(sym.st_info), STB_GLOBAL);
	assert_int_equal(GELF_ST_VISIBILITY(sym.st_other), STV_DEFAULT);
	assert_int_equal(sym.st_size, sizeof(struct kaos_probe_control));
	assert_int_equal(sym.st_value % _Alignof(struct kaos_probe_control), 0);
	p = bytes_at(l->elf, sym.st_value, sizeof(init), &sh);
	if (!p)
		fail_msg("%s: no initialised data for %s at 0x%llx", l->path,
			 KAOS_PROBE_CONTROL_SYMBOL, (unsigned long long)sym.st_value);
	assert_true(sh.sh_flags & SHF_WRITE); /* a tracer writes it */
	memcpy(&init, p, sizeof(init));
	assert_int_equal(init.magic, KAOS_PROBE_CONTROL_MAGIC);
	assert_int_equal(init.version, KAOS_PROBE_CONTROL_VERSION);
	assert_int_equal(init.sample_every, 1);
	assert_int_equal(init.nslots, KAOS_PROBE_CONTROL_SLOTS);
	for (int i = 0; i < KAOS_PROBE_CONTROL_SLOTS; i++) /* no tracer's request yet */
		assert_int_equal(init.slots[i].tracer_pid, 0);
}

/* The probes of docs/probes.md; all but kaos:batch (4) carry seven register arguments. */
static const char *const kaos_probes[] = {"send",	"recv",	      "backpressure",
					  "retransmit", "ring_close", "batch"};
#define KAOS_NPROBES (int)(sizeof(kaos_probes) / sizeof(kaos_probes[0]))
#define KAOS_NARGS   7
#define BATCH_NARGS  4 /* buffer, records, generation, pid tag */

static int probe_index(const char *name)
{
	for (int i = 0; i < KAOS_NPROBES; i++)
		if (!strcmp(name, kaos_probes[i]))
			return i;
	return -1;
}

static struct lib *lib_with_notes(void **state)
{
	struct lib *l = *state;

	if (l->nnotes < 0)
		fail_msg("%s: no readable .note.stapsdt section (missing or malformed)", l->path);
	return l;
}

/* Exactly the six kaos probes, each at one site or more, nothing else. */
static void test_probe_set(void **state)
{
	struct lib *l = lib_with_notes(state);
	int sites[KAOS_NPROBES] = {0};

	for (int i = 0; i < l->nnotes; i++) {
		const struct sdt_note *n = &l->notes[i];
		int p = probe_index(n->name);

		if (strcmp(n->provider, "kaos") || p < 0)
			fail_msg("%s: unexpected probe %s:%s", l->path, n->provider, n->name);
		sites[p]++;
	}
	for (int p = 0; p < KAOS_NPROBES; p++) {
		if (!sites[p])
			fail_msg("%s: probe kaos:%s is missing", l->path, kaos_probes[p]);
		print_message("kaos:%-12s %d site(s)\n", kaos_probes[p], sites[p]);
	}
}

/* 8@%reg / 8@xN only: libbpf 1.1 cannot read scaled-index memory operands. */
static void test_probe_args(void **state)
{
	struct lib *l = lib_with_notes(state);

	for (int i = 0; i < l->nnotes; i++) {
		const struct sdt_note *n = &l->notes[i];
		int nargs = sdt_count_reg_args(n->args, l->eh.e_machine);
		int want = strcmp(n->name, "batch") ? KAOS_NARGS : BATCH_NARGS;

		if (nargs != want)
			fail_msg("%s: kaos:%s at 0x%llx: arguments \"%s\": want %d of the form "
				 "8@<64-bit register>",
				 l->path, n->name, (unsigned long long)n->pc, n->args, want);
	}
}

/* Semaphores: in .probes, 2-byte aligned, one per probe, the exported kaos_<name>_semaphore. */
static void test_probe_semaphores(void **state)
{
	struct lib *l = lib_with_notes(state);
	uint64_t sema[KAOS_NPROBES] = {0};
	GElf_Shdr probes;

	if (!find_section(l->elf, ".probes", &probes))
		fail_msg("%s: no .probes section", l->path);
	assert_int_equal(probes.sh_type, SHT_PROGBITS);
	/* the kernel increments them in the tracee: allocated and writable */
	assert_int_equal(probes.sh_flags & (SHF_ALLOC | SHF_WRITE), SHF_ALLOC | SHF_WRITE);
	for (int i = 0; i < l->nnotes; i++) {
		const struct sdt_note *n = &l->notes[i];
		int p = probe_index(n->name);

		assert_true(p >= 0);
		if (n->sema < probes.sh_addr || n->sema + 2 > probes.sh_addr + probes.sh_size)
			fail_msg("kaos:%s semaphore 0x%llx outside .probes [0x%llx, 0x%llx)",
				 n->name, (unsigned long long)n->sema,
				 (unsigned long long)probes.sh_addr,
				 (unsigned long long)(probes.sh_addr + probes.sh_size));
		if (n->sema % 2)
			fail_msg("kaos:%s semaphore 0x%llx is not 2-byte aligned", n->name,
				 (unsigned long long)n->sema);
		if (sema[p] && sema[p] != n->sema)
			fail_msg("kaos:%s sites disagree on the semaphore (0x%llx, 0x%llx)",
				 n->name, (unsigned long long)sema[p], (unsigned long long)n->sema);
		sema[p] = n->sema;
	}
	for (int p = 0; p < KAOS_NPROBES; p++) {
		char name[64];
		GElf_Sym sym = {0};

		for (int q = 0; q < p; q++)
			if (sema[q] == sema[p])
				fail_msg("kaos:%s and kaos:%s share a semaphore", kaos_probes[q],
					 kaos_probes[p]);
		snprintf(name, sizeof(name), "kaos_%s_semaphore", kaos_probes[p]);
		if (!find_dynsym(l->elf, name, &sym))
			fail_msg("%s: %s not exported", l->path, name);
		if (sym.st_value != sema[p] || sym.st_size != 2)
			fail_msg("%s: %s is at 0x%llx (size %llu), the kaos:%s note says 0x%llx",
				 l->path, name, (unsigned long long)sym.st_value,
				 (unsigned long long)sym.st_size, kaos_probes[p],
				 (unsigned long long)sema[p]);
	}
}

/* Every site is the expected nop(s), in .text, at a distinct address. */
static void test_probe_sites(void **state)
{
	struct lib *l = lib_with_notes(state);
	/* the default combined site: a 1-byte nop, then a 10-byte one (include/kaos/probes.h) */
	static const unsigned char combined[] = {0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x84,
						 0x00, 0x00, 0x00, 0x00, 0x00};
	static const unsigned char nop1[] = {0x90};
	static const unsigned char a64_nop[] = {0x1f, 0x20, 0x03, 0xd5}; /* 0xd503201f, LE */
	const unsigned char *want;
	size_t want_len;
	GElf_Shdr text, base;

	if (l->eh.e_machine == EM_X86_64) {
#ifdef KAOS_PROBE_NOP1 /* the same PROBE_CFLAGS the library was built with */
		want = nop1, want_len = sizeof(nop1);
#else
		want = combined, want_len = sizeof(combined);
#endif
	} else if (l->eh.e_machine == EM_AARCH64) {
		want = a64_nop, want_len = sizeof(a64_nop);
	} else {
		fail_msg("%s: unexpected e_machine %u", l->path, (unsigned)l->eh.e_machine);
		return;
	}
	(void)nop1, (void)combined;
	if (!find_section(l->elf, ".text", &text))
		fail_msg("%s: no .text", l->path);
	if (!find_section(l->elf, ".stapsdt.base", &base))
		fail_msg("%s: no .stapsdt.base", l->path);
	for (int i = 0; i < l->nnotes; i++) {
		const struct sdt_note *n = &l->notes[i];
		const unsigned char *code;
		GElf_Shdr sh;

		/* the note's link-time base must match (nothing is prelinked here) */
		if (n->base != base.sh_addr)
			fail_msg("kaos:%s: note base 0x%llx != .stapsdt.base 0x%llx", n->name,
				 (unsigned long long)n->base, (unsigned long long)base.sh_addr);
		code = bytes_at(l->elf, n->pc, want_len, &sh);
		if (!code || sh.sh_addr != text.sh_addr)
			fail_msg("kaos:%s site 0x%llx is not inside .text", n->name,
				 (unsigned long long)n->pc);
		if (memcmp(code, want, want_len)) {
			char got[3 * sizeof(combined) + 1] = "";

			for (size_t k = 0; k < want_len; k++)
				snprintf(got + 3 * k, sizeof(got) - 3 * k, "%02x ", code[k]);
			fail_msg("kaos:%s site 0x%llx: bytes %sare not the expected %zu-byte site "
				 "(library built with another PROBE_NOP setting? make clean)",
				 n->name, (unsigned long long)n->pc, got, want_len);
		}
		for (int j = 0; j < i; j++)
			if (l->notes[j].pc == n->pc)
				fail_msg("two notes for one site 0x%llx",
					 (unsigned long long)n->pc);
	}
	print_message("%d sites, each the expected %zu bytes\n", l->nnotes, want_len);
}

int main(void)
{
	const struct CMUnitTest parser_tests[] = {
		cmocka_unit_test(test_parser_reads_valid_notes),
		cmocka_unit_test(test_parser_rejects_truncated_notes),
		cmocka_unit_test(test_parser_rejects_malformed_notes),
		cmocka_unit_test(test_parser_survives_garbage),
		cmocka_unit_test(test_arg_syntax),
	};
	const struct CMUnitTest lib_tests[] = {
		cmocka_unit_test(test_probe_control_exported),
		cmocka_unit_test(test_probe_set),
		cmocka_unit_test(test_probe_args),
		cmocka_unit_test(test_probe_semaphores),
		cmocka_unit_test(test_probe_sites),
	};
	int failed = cmocka_run_group_tests_name("probe note parser", parser_tests, NULL, NULL);

	failed += cmocka_run_group_tests_name("libkaos.so probe notes", lib_tests, lib_open,
					      lib_close);
	return failed ? 1 : 0;
}
