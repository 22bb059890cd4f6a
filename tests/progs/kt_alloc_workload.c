// SPDX-License-Identifier: MIT
/*
 * A deterministic heap workload with known allocations, the ground truth for
 * allocation tracers (kaos-trace --alloc, heaptrack, a bpftrace script):
 *   kt_alloc_workload [--allocs N] [--short N] [--leaks K] [--plateau BYTES]
 *                     [--free-null N] [--seed S] [--rounds R | --loop]
 *                     [--wait-start | --wait-file PATH] [--truth FILE] [--fns LIST]
 *                     [--fork N] [--threads N] [--hold-file PATH]
 *                     [--thread-exec TRUTH2]
 *
 * Each round runs, in this order (all sizes from a xorshift sequence seeded by S):
 *   leaks    K blocks never freed, from 4 distinct call sites (aw_leak_site_0..3)
 *            of fixed sizes 3001, 5003, 7007, 11011 bytes, cycled.
 *   mix      N allocations cycling through malloc, calloc, realloc,
 *            reallocarray, posix_memalign, aligned_alloc, memalign, valloc (or
 *            the comma-separated LIST of them given by --fns, in that order),
 *            of sizes 1..4096, into 61 slots: a slot's block is freed when the slot
 *            is reused (realloc and reallocarray resize it instead), all freed at
 *            the end of the phase.
 *   short    N malloc + free pairs (sizes 1..256), each freed at once.
 *   plateau  blocks of 4..64 KiB plus one 1 MiB block (above glibc's mmap
 *            threshold) until BYTES are held at once, then all freed: with the
 *            defaults this is the peak of the program's heap.
 *   free(NULL) N times (allowed, and counted apart: tracers differ on it).
 *
 * Ground truth: one JSON line, to --truth FILE, else to fd 3 if it is open,
 * else to stdout. Every number is counted from what the program did:
 *   calls.FN     calls per allocator function (free counts non-NULL frees only)
 *   allocs       calls that returned a block (realloc and reallocarray included)
 *   frees        free() of a non-NULL pointer
 *   bytes_allocated  sum of the sizes requested (calloc: nmemb * size;
 *                realloc/reallocarray: the new size)
 *   peak_bytes   most bytes held at once (requested sizes; a realloc counts
 *                new - old)
 *   leaked_blocks, leaked_bytes   still held at exit (the leak set)
 *   plateau_bytes  bytes held by the plateau phase alone
 *   short_lived  blocks freed right after their allocation (the short phase)
 *   leak_sites   per leak call site: its function, block size and blocks leaked
 *   run_ns       the rounds' wall time (not a count: what a tracer costs the program)
 *
 * The program's own allocations are only those above: it uses no stdio (no
 * FILE buffers; glibc's dprintf allocates one too), and writes with write()
 * from stack buffers. A
 * tracer that sees every allocator call also counts glibc's and ld.so's own
 * (run with --allocs 0 --leaks 0 --plateau 0 --short 0 to see that baseline),
 * and, under an LD_PRELOAD tracer, those made before it was loaded are not
 * seen. Build with -fno-builtin: GCC may otherwise remove malloc/free pairs.
 *
 * --wait-start: prints "ready PID" on stdout, then waits for SIGUSR1;
 * --wait-file PATH: the same, waiting until PATH exists. So a tracer can
 * attach with -p before the first allocation.
 * --loop: runs rounds until SIGINT or SIGTERM, finishes the round, then
 * writes the truth and exits 0.
 * --fork N: after the first round's leaks phase (the parent has allocated
 * under a tracer by then), forks N children that each run the mix, short
 * and plateau phases and exit 0; the parent waits for them before writing
 * its truth (its own calls only: fork and waitpid do not allocate) and
 * exits 1 if a child did not exit 0 ("child PID status S" on stderr).
 * --threads N: after the rounds, N threads one after another (each joined
 * before the next starts), each allocating 2 blocks (malloc and calloc,
 * counted like the rest) and freeing them: a long-lived process whose
 * threads come and go.
 * --hold-file PATH: after the truth is written, waits until PATH exists
 * before exiting (a tracer can look at the process's state then).
 * --thread-exec TRUTH2: after the truth is written, a second thread
 * allocates 2 blocks (not in the truth) and execs this program again from
 * that thread (the kernel kills the main thread and gives the exec'ing
 * thread the process's pid); the new image runs no phases, writes its truth
 * to TRUTH2 and waits for the same --hold-file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#define AW_FN	      __attribute__((noinline))
#define MIX_SLOTS     61
#define MIX_MAX	      4096
#define SHORT_MAX     256
#define PLATEAU_MIN   (4 << 10)
#define PLATEAU_MAX   (64 << 10)
#define PLATEAU_LARGE (1 << 20)
#define LEAK_SITES    4
#define ALIGNMENT     64

enum aw_fn {
	FN_MALLOC,
	FN_CALLOC,
	FN_REALLOC,
	FN_REALLOCARRAY,
	FN_POSIX_MEMALIGN,
	FN_ALIGNED_ALLOC,
	FN_MEMALIGN,
	FN_VALLOC,
	FN_ALLOC_COUNT, /* the allocating functions above, cycled by the mix phase */
	FN_FREE = FN_ALLOC_COUNT,
	FN_FREE_NULL,
	FN_COUNT
};

static const char *const fn_names[FN_COUNT] = {
	"malloc",	 "calloc",   "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc",	"free",		"free_null",
};

struct aw_truth {
	uint64_t calls[FN_COUNT];
	uint64_t allocs, frees, bytes_allocated;
	uint64_t held, peak_bytes;
	uint64_t leaked_blocks, leaked_bytes;
	uint64_t leaked_per_site[LEAK_SITES]; /* blocks leaked by aw_leak_site_N */
	uint64_t plateau_bytes, short_lived;
	uint64_t run_ns; /* time in the rounds: the cost a tracer adds shows here */
};

struct aw_opts {
	uint64_t allocs, short_lived, leaks, plateau, free_null, seed, rounds, forks, threads;
	int loop, wait_signal;
	const char *wait_file, *truth_file, *hold_file, *exec_truth;
	enum aw_fn mix_fns[FN_ALLOC_COUNT]; /* the functions the mix phase cycles through */
	unsigned mix_fn_count;
};

/* A block and the size it was requested with (what tracers record). */
struct aw_block {
	void *ptr;
	uint64_t size;
};

static struct aw_truth truth;
static uint64_t rng_state;
static volatile sig_atomic_t stop_requested;
/*
 * Leaked blocks stay reachable, chained through their first bytes (no
 * allocation for the bookkeeping): the leak is "never freed", not lost.
 */
static void *leak_chain;

static uint64_t rng_next(void)
{
	/* xorshift64: the same sizes for the same seed, on every libc */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rng_range(uint64_t lo, uint64_t hi)
{
	return lo + rng_next() % (hi - lo + 1);
}

/* dprintf() without its heap buffer: the program's only allocations are the counted ones */
__attribute__((format(printf, 2, 3))) static void say(int fd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (n > 0 && write(fd, buf, (size_t)n) < 0)
		return; /* nowhere left to report it */
}

static void die_oom(const char *fn, uint64_t size)
{
	say(2, "kt_alloc_workload: %s(%llu) failed\n", fn, (unsigned long long)size);
	exit(1);
}

static void note_alloc(enum aw_fn fn, uint64_t size)
{
	truth.calls[fn]++;
	truth.allocs++;
	truth.bytes_allocated += size;
	truth.held += size;
	if (truth.held > truth.peak_bytes)
		truth.peak_bytes = truth.held;
}

static void block_free(struct aw_block *b)
{
	if (!b->ptr)
		return;
	free(b->ptr);
	truth.calls[FN_FREE]++;
	truth.frees++;
	truth.held -= b->size;
	b->ptr = NULL;
	b->size = 0;
}

static uint64_t round_up(uint64_t size, uint64_t align)
{
	return (size + align - 1) / align * align;
}

/* Allocates a fresh block of about size bytes with fn; sets b's exact size. */
AW_FN static void block_alloc(struct aw_block *b, enum aw_fn fn, uint64_t size)
{
	void *p = NULL;

	switch (fn) {
	case FN_CALLOC:
		size = round_up(size, 16);
		p = calloc(size / 16, 16);
		break;
	case FN_POSIX_MEMALIGN:
		if (posix_memalign(&p, ALIGNMENT, size))
			p = NULL;
		break;
	case FN_ALIGNED_ALLOC:
		/* C11: the size must be a multiple of the alignment */
		size = round_up(size, ALIGNMENT);
		p = aligned_alloc(ALIGNMENT, size);
		break;
	case FN_MEMALIGN:
		p = memalign(ALIGNMENT, size);
		break;
	case FN_VALLOC:
		p = valloc(size);
		break;
	default:
		fn = FN_MALLOC;
		p = malloc(size);
		break;
	}
	if (!p)
		die_oom(fn_names[fn], size);
	note_alloc(fn, size);
	b->ptr = p;
	b->size = size;
}

/* Resizes b (or allocates it when empty) with realloc or reallocarray. */
AW_FN static void block_resize(struct aw_block *b, enum aw_fn fn, uint64_t size)
{
	void *p;

	if (fn == FN_REALLOCARRAY) {
		size = round_up(size, 8);
		p = reallocarray(b->ptr, size / 8, 8);
	} else {
		p = realloc(b->ptr, size);
	}
	if (!p)
		die_oom(fn_names[fn], size);
	truth.held -= b->size;
	note_alloc(fn, size);
	b->ptr = p;
	b->size = size;
}

/* Four call sites, four sizes: a tracer's leak report names each once. */
AW_FN static void *aw_leak_site_0(void)
{
	return malloc(3001);
}

AW_FN static void *aw_leak_site_1(void)
{
	return malloc(5003);
}

AW_FN static void *aw_leak_site_2(void)
{
	return malloc(7007);
}

AW_FN static void *aw_leak_site_3(void)
{
	return malloc(11011);
}

static void *(*const leak_sites[LEAK_SITES])(void) = {aw_leak_site_0, aw_leak_site_1,
						      aw_leak_site_2, aw_leak_site_3};
static const uint64_t leak_sizes[LEAK_SITES] = {3001, 5003, 7007, 11011};

AW_FN static void phase_leaks(uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		unsigned site = (unsigned)(i % LEAK_SITES);
		void *p = leak_sites[site]();

		if (!p)
			die_oom("malloc", leak_sizes[site]);
		note_alloc(FN_MALLOC, leak_sizes[site]);
		*(void **)p = leak_chain;
		leak_chain = p;
		truth.leaked_blocks++;
		truth.leaked_bytes += leak_sizes[site];
		truth.leaked_per_site[site]++;
	}
}

AW_FN static void phase_mix(uint64_t n, const enum aw_fn *fns, unsigned fn_count)
{
	struct aw_block slots[MIX_SLOTS] = {{0}};

	for (uint64_t i = 0; i < n; i++) {
		struct aw_block *b = &slots[i % MIX_SLOTS];
		enum aw_fn fn = fns[i % fn_count];
		uint64_t size = rng_range(1, MIX_MAX);

		if (fn == FN_REALLOC || fn == FN_REALLOCARRAY) {
			block_resize(b, fn, size);
		} else {
			block_free(b);
			block_alloc(b, fn, size);
		}
	}
	for (int i = 0; i < MIX_SLOTS; i++)
		block_free(&slots[i]);
}

AW_FN static void phase_short(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct aw_block b;

		block_alloc(&b, FN_MALLOC, rng_range(1, SHORT_MAX));
		block_free(&b);
		truth.short_lived++;
	}
}

AW_FN static void phase_plateau(uint64_t bytes)
{
	uint64_t cap = bytes / PLATEAU_MIN + 2, n = 0, held = 0;
	struct aw_block array, *blocks;

	if (!bytes)
		return;
	/* the block array itself is a counted allocation too */
	block_alloc(&array, FN_CALLOC, cap * sizeof(*blocks));
	blocks = array.ptr;
	if (bytes > PLATEAU_LARGE) {
		block_alloc(&blocks[n], FN_MALLOC, PLATEAU_LARGE);
		held += blocks[n++].size;
	}
	while (held < bytes) {
		uint64_t size = rng_range(PLATEAU_MIN, PLATEAU_MAX);

		if (size > bytes - held)
			size = bytes - held;
		block_alloc(&blocks[n], FN_MALLOC, size);
		held += blocks[n++].size;
	}
	truth.plateau_bytes = held;
	while (n)
		block_free(&blocks[--n]);
	block_free(&array);
}

AW_FN static void phase_free_null(uint64_t n)
{
	/* volatile: the compiler must keep each free(NULL) call */
	void *volatile nothing = NULL;

	for (uint64_t i = 0; i < n; i++) {
		free(nothing);
		truth.calls[FN_FREE_NULL]++;
	}
}

/*
 * One short-lived thread's allocations. Threads run one at a time (the
 * creator joins each before the next): truth needs no lock.
 */
AW_FN static void *thread_allocs(void *arg)
{
	struct aw_block b[2];

	block_alloc(&b[0], FN_MALLOC, 24 + (uintptr_t)arg % 1000);
	block_alloc(&b[1], FN_CALLOC, 64);
	block_free(&b[1]);
	block_free(&b[0]);
	return NULL;
}

/* --thread-exec: allocates from this thread, then execs the program again
 * with no phases; returns only if the exec failed. */
static void *thread_exec(void *arg)
{
	const struct aw_opts *o = arg;
	char *argv[] = {"kt_alloc_workload",
			"--rounds",
			"0",
			"--truth",
			(char *)o->exec_truth,
			o->hold_file ? "--hold-file" : NULL,
			(char *)o->hold_file,
			NULL};

	thread_allocs(NULL);
	execv("/proc/self/exe", argv);
	return NULL;
}

/* --threads N: threads come and go; 0, or -1 if one could not be created. */
static int phase_threads(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_allocs, (void *)(uintptr_t)i) ||
		    pthread_join(t, NULL))
			return -1;
	}
	return 0;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Until path exists: 0, or -1 if it cannot be looked up or SIGINT/SIGTERM
 * came first (a test that failed before creating it stops us that way). */
static int wait_file(const char *path)
{
	while (access(path, F_OK)) {
		struct timespec ts = {0, 1000000L};

		if (errno != ENOENT || stop_requested)
			return -1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int wait_start(const struct aw_opts *o)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	/* blocked before "ready" is printed: a SIGUSR1 sent right after is not lost */
	sigprocmask(SIG_BLOCK, &set, NULL);
	say(1, "ready %d\n", (int)getpid());
	if (o->wait_signal) {
		int sig;

		/* SIGINT/SIGTERM end the wait too (the test gave up on us) */
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if (sigwait(&set, &sig) || sig != SIGUSR1)
			return -1;
		sigdelset(&set, SIGUSR1);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		return 0;
	}
	return wait_file(o->wait_file);
}

static int format_truth(char *buf, size_t len, uint64_t rounds)
{
	int n = snprintf(buf, len, "{\"pid\":%d,\"rounds\":%llu,\"calls\":{", (int)getpid(),
			 (unsigned long long)rounds);

	for (int i = 0; i < FN_COUNT; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s\"%s\":%llu", i ? "," : "", fn_names[i],
			      (unsigned long long)truth.calls[i]);
	n += snprintf(
		buf + n, len - (size_t)n,
		"},\"allocs\":%llu,\"frees\":%llu,\"bytes_allocated\":%llu,"
		"\"peak_bytes\":%llu,\"leaked_blocks\":%llu,\"leaked_bytes\":%llu,"
		"\"plateau_bytes\":%llu,\"short_lived\":%llu,\"run_ns\":%llu,\"leak_sites\":[",
		(unsigned long long)truth.allocs, (unsigned long long)truth.frees,
		(unsigned long long)truth.bytes_allocated, (unsigned long long)truth.peak_bytes,
		(unsigned long long)truth.leaked_blocks, (unsigned long long)truth.leaked_bytes,
		(unsigned long long)truth.plateau_bytes, (unsigned long long)truth.short_lived,
		(unsigned long long)truth.run_ns);
	for (int i = 0; i < LEAK_SITES; i++)
		n += snprintf(buf + n, len - (size_t)n,
			      "%s{\"site\":\"aw_leak_site_%d\",\"size\":%llu,\"blocks\":%llu}",
			      i ? "," : "", i, (unsigned long long)leak_sizes[i],
			      (unsigned long long)truth.leaked_per_site[i]);
	n += snprintf(buf + n, len - (size_t)n, "]}\n");
	return n;
}

static int write_truth(const struct aw_opts *o, uint64_t rounds)
{
	char buf[2048];
	int n = format_truth(buf, sizeof(buf), rounds), fd = 1, rc;

	if (o->truth_file)
		fd = open(o->truth_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	else if (fcntl(3, F_GETFD) >= 0)
		fd = 3;
	if (fd < 0)
		return -1;
	rc = write(fd, buf, (size_t)n) == n ? 0 : -1;
	if (o->truth_file && close(fd))
		rc = -1;
	return rc;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return (errno || end == s || *end || *s == '-') ? -1 : 0;
}

/* --fns malloc,calloc,...: the mix phase's functions, in that order */
static int parse_fns(char *list, struct aw_opts *o)
{
	char *save = NULL;

	o->mix_fn_count = 0;
	for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int fn = 0;

		while (fn < FN_ALLOC_COUNT && strcmp(fn_names[fn], name))
			fn++;
		if (fn == FN_ALLOC_COUNT || o->mix_fn_count == FN_ALLOC_COUNT) {
			say(2, "kt_alloc_workload: --fns: '%s' is not an allocating function\n",
			    name);
			return -1;
		}
		o->mix_fns[o->mix_fn_count++] = (enum aw_fn)fn;
	}
	if (!o->mix_fn_count) {
		say(2, "kt_alloc_workload: --fns: the list is empty\n");
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct aw_opts *o)
{
	static const struct option longopts[] = {{"allocs", required_argument, NULL, 'a'},
						 {"short", required_argument, NULL, 's'},
						 {"leaks", required_argument, NULL, 'k'},
						 {"plateau", required_argument, NULL, 'p'},
						 {"free-null", required_argument, NULL, 'n'},
						 {"seed", required_argument, NULL, 'S'},
						 {"rounds", required_argument, NULL, 'r'},
						 {"loop", no_argument, NULL, 'l'},
						 {"wait-start", no_argument, NULL, 'w'},
						 {"wait-file", required_argument, NULL, 'f'},
						 {"truth", required_argument, NULL, 't'},
						 {"fns", required_argument, NULL, 'F'},
						 {"fork", required_argument, NULL, 'K'},
						 {"threads", required_argument, NULL, 'T'},
						 {"hold-file", required_argument, NULL, 'H'},
						 {"thread-exec", required_argument, NULL, 'X'},
						 {NULL, 0, NULL, 0}};
	uint64_t *dest[128] = {['a'] = &o->allocs,  ['s'] = &o->short_lived, ['k'] = &o->leaks,
			       ['p'] = &o->plateau, ['n'] = &o->free_null,   ['S'] = &o->seed,
			       ['r'] = &o->rounds,  ['K'] = &o->forks,	     ['T'] = &o->threads};
	int c;

	*o = (struct aw_opts){.allocs = 10000,
			      .short_lived = 1000,
			      .leaks = 8,
			      .plateau = 8 << 20,
			      .free_null = 16,
			      .seed = 1,
			      .rounds = 1,
			      .mix_fn_count = FN_ALLOC_COUNT};
	for (int fn = 0; fn < FN_ALLOC_COUNT; fn++)
		o->mix_fns[fn] = (enum aw_fn)fn;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'l') {
			o->loop = 1;
		} else if (c == 'w') {
			o->wait_signal = 1;
		} else if (c == 'f') {
			o->wait_file = optarg;
		} else if (c == 't') {
			o->truth_file = optarg;
		} else if (c == 'H') {
			o->hold_file = optarg;
		} else if (c == 'X') {
			o->exec_truth = optarg;
		} else if (c == 'F') {
			if (parse_fns(optarg, o))
				return -1;
		} else if (c > 0 && c < 128 && dest[c]) {
			if (parse_u64(optarg, dest[c])) {
				say(2, "kt_alloc_workload: bad number '%s'\n", optarg);
				return -1;
			}
		} else {
			return -1;
		}
	}
	if (optind < argc || !o->seed) {
		say(2, "kt_alloc_workload: bad arguments (the seed must not be 0)\n");
		return -1;
	}
	return 0;
}

/* --fork: N children that allocate as the parent does, then exit 0. */
static int fork_children(const struct aw_opts *o)
{
	for (uint64_t i = 0; i < o->forks; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return -1;
		if (pid == 0) {
			phase_mix(o->allocs, o->mix_fns, o->mix_fn_count);
			phase_short(o->short_lived);
			phase_plateau(o->plateau);
			_exit(0);
		}
	}
	return 0;
}

/* The children of --fork: 0 if every one exited 0. */
static int wait_children(void)
{
	int status, bad = 0;
	pid_t pid;

	while ((pid = wait(&status)) > 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			say(2, "kt_alloc_workload: child %d status %d\n", (int)pid, status);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct aw_opts o;
	uint64_t r, t0;

	if (parse_opts(argc, argv, &o))
		return 2;
	/* before the waits: a background job of a script inherits SIGINT ignored */
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	if ((o.wait_signal || o.wait_file) && wait_start(&o)) {
		say(2, "kt_alloc_workload: stopped or failed while waiting for the start\n");
		return 1;
	}
	rng_state = o.seed;
	t0 = monotonic_ns();
	for (r = 0; o.loop ? !stop_requested : r < o.rounds; r++) {
		phase_leaks(o.leaks);
		if (r == 0 && o.forks && fork_children(&o)) {
			say(2, "kt_alloc_workload: fork failed\n");
			return 1;
		}
		phase_mix(o.allocs, o.mix_fns, o.mix_fn_count);
		phase_short(o.short_lived);
		phase_plateau(o.plateau);
		phase_free_null(o.free_null);
	}
	if (phase_threads(o.threads)) {
		say(2, "kt_alloc_workload: --threads: cannot create or join a thread\n");
		return 1;
	}
	truth.run_ns = monotonic_ns() - t0;
	if (o.forks && wait_children())
		return 1;
	if (write_truth(&o, r)) {
		say(2, "kt_alloc_workload: cannot write the ground truth\n");
		return 1;
	}
	if (o.exec_truth) {
		pthread_t t;

		/* the exec ends this thread too; the join returns only if it failed */
		if (!pthread_create(&t, NULL, thread_exec, &o))
			pthread_join(t, NULL);
		say(2, "kt_alloc_workload: --thread-exec: cannot exec from a thread\n");
		return 1;
	}
	if (o.hold_file && wait_file(o.hold_file)) {
		say(2, "kt_alloc_workload: --hold-file: stopped, or cannot look it up\n");
		return 1;
	}
	return 0;
}
