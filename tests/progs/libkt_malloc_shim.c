// SPDX-License-Identifier: MIT
/*
 * A malloc of its own for LD_PRELOAD (tests of kaos-trace --alloc with a
 * preloaded allocator): malloc, free, calloc, realloc, reallocarray,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * malloc_usable_size, none of which ever calls glibc's. Power-of-two size
 * classes (32 B .. 1 MiB) on free lists under one spinlock, larger blocks
 * mmap()ed each. A block's 16-byte header sits just before the pointer
 * returned: a magic, its class, its offset from the raw block, its size.
 * A pointer it did not hand out (ld.so's early blocks) is ignored by free.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAGIC	  0x6b74736du /* "ktsm" */
#define MIN_CLASS 5	      /* 32 B */
#define MAX_CLASS 20	      /* 1 MiB; above: mmap per block */
#define CHUNK	  (64u << 10)
#define HDR	  16u

struct hdr {
	uint32_t magic;
	uint16_t cls; /* 0: mmap()ed on its own */
	uint16_t pad;
	uint32_t base_off; /* from the raw block to the pointer */
	uint32_t size;	   /* asked for (this shim's tests stay below 4 GiB) */
};

struct free_block {
	struct free_block *next;
};

static struct free_block *lists[MAX_CLASS + 1];
static atomic_flag lock = ATOMIC_FLAG_INIT;

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A raw block of class k, from its free list (refilled with a fresh chunk). */
static void *class_take(unsigned k)
{
	size_t bs = (size_t)1 << k, chunk = bs > CHUNK ? bs : CHUNK;
	struct free_block *b;

	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
	if (!lists[k]) {
		char *c = map(chunk);

		for (size_t off = 0; c && off + bs <= chunk; off += bs) {
			b = (struct free_block *)(c + off);
			b->next = lists[k];
			lists[k] = b;
		}
	}
	b = lists[k];
	if (b)
		lists[k] = b->next;
	atomic_flag_clear_explicit(&lock, memory_order_release);
	return b;
}

static void class_put(unsigned k, void *raw)
{
	struct free_block *b = raw;

	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
	b->next = lists[k];
	lists[k] = b;
	atomic_flag_clear_explicit(&lock, memory_order_release);
}

/* size bytes aligned to align (a power of two >= 16), or NULL. */
static void *take(size_t size, size_t align)
{
	size_t need = size + align + HDR;
	unsigned k = MIN_CLASS;
	char *raw, *user;
	struct hdr *h;

	if (size > UINT32_MAX - (1u << 21) || align > ((size_t)1 << 20))
		return NULL;
	while (k <= MAX_CLASS && ((size_t)1 << k) < need)
		k++;
	raw = k <= MAX_CLASS ? class_take(k) : map(need);
	if (!raw)
		return NULL;
	user = (char *)(((uintptr_t)raw + HDR + align - 1) & ~(uintptr_t)(align - 1));
	h = (struct hdr *)(user - HDR);
	h->magic = MAGIC;
	h->cls = k <= MAX_CLASS ? (uint16_t)k : 0;
	h->base_off = (uint32_t)(user - raw);
	h->size = (uint32_t)size;
	h->pad = 0;
	return user;
}

static struct hdr *hdr_of(void *p)
{
	struct hdr *h = (struct hdr *)((char *)p - HDR);

	return h->magic == MAGIC ? h : NULL;
}

void free(void *p)
{
	struct hdr *h = p ? hdr_of(p) : NULL;
	char *raw;

	if (!h)
		return;
	raw = (char *)p - h->base_off;
	h->magic = 0;
	if (h->cls)
		class_put(h->cls, raw);
	else
		munmap(raw, (size_t)h->base_off + h->size);
}

void *malloc(size_t size)
{
	return take(size, 16);
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = take(n * size, 16);
	if (p)
		memset(p, 0, n * size);
	return p;
}

size_t malloc_usable_size(void *p)
{
	struct hdr *h = p ? hdr_of(p) : NULL;

	return h ? h->size : 0;
}

void *realloc(void *old, size_t size)
{
	size_t have = malloc_usable_size(old);
	void *p;

	if (old && !size) {
		free(old);
		return NULL;
	}
	p = take(size, 16);
	if (p && old) {
		memcpy(p, old, have < size ? have : size);
		free(old);
	}
	return p;
}

void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

static int pow2(size_t a)
{
	return a && !(a & (a - 1));
}

void *memalign(size_t align, size_t size)
{
	return take(size, pow2(align) && align > 16 ? align : 16);
}

void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!pow2(align) || align % sizeof(void *))
		return EINVAL;
	p = memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *valloc(size_t size)
{
	return take(size, (size_t)sysconf(_SC_PAGESIZE));
}

void *pvalloc(size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return take((size + pg - 1) & ~(pg - 1), pg);
}
