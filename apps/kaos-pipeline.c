/* SPDX-License-Identifier: MIT */
/*
 * kaos-pipeline: parallel chunked zlib compression on a libkaos pipeline.
 *
 *   kaos-pipeline compress IN OUT [--workers N] [--chunk-size BYTES] [--level 0-9]
 *   kaos-pipeline decompress IN OUT [--workers N]
 *
 * compress:   read -> compress (N workers) -> checksum -> write
 * decompress: read (parse frames) -> decompress (N workers, verifies) -> write
 *
 * The container format (docs/pipeline.md), all integers little-endian:
 *   file header  32 B: magic "KAOSPZ\x1a\n", version u32, codec u32 (1 =
 *                zlib), chunk_size u32, level u32, reserved u32, crc32c u32
 *                of the 28 bytes before it
 *   chunk frame  32 B: tag "KCHK", raw_len u32, comp_len u32, crc32c of the
 *                compressed bytes u32, crc32c of the raw bytes u32, seq u64,
 *                crc32c u32 of the 28 bytes before it; then comp_len bytes
 *                (one zlib stream)
 *   end marker   32 B: tag "KEND", reserved u32, chunk count u64, total raw
 *                bytes u64, reserved u32, crc32c u32 of the 28 bytes before it
 * Nothing may follow the end marker.
 *
 * Output: OUT is written as a temporary file beside it and renamed onto it
 * only when complete (see struct output), so a failure, SIGINT or SIGTERM
 * leaves an existing OUT as it was and nothing partial behind.
 *
 * Exit status: 0 done, 1 failed (I/O, damaged or foreign input, OUT exists
 * without --force), 2 bad usage; killed by SIGINT/SIGTERM/SIGHUP as usual.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kaos/crc32c.h"
#include "kaos/pipeline.h"
#include "kaos/ring.h"
#include "kaos/udp.h"
#include "kaos/version.h"
#include "kaos_build_version.h"

#define PROG	       "kaos-pipeline"
#define HDR_SIZE       32
#define FRAME_SIZE     32
#define END_SIZE       32
#define FORMAT_VERSION 1u
#define CODEC_ZLIB     1u
#define CHUNK_DEFAULT  (1u << 20)
#define CHUNK_MAX      (64u << 20)
#define WORKERS_MAX    64u
#define LEVEL_DEFAULT  6

static const uint8_t file_magic[8] = {'K', 'A', 'O', 'S', 'P', 'Z', 0x1a, '\n'};
#define TAG_CHUNK 0x4b48434bu /* "KCHK" */
#define TAG_END	  0x444e454bu /* "KEND" */

/* ------------------------------------------------------------------ small helpers */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static __attribute__((format(printf, 1, 2), noreturn)) void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '" PROG " --help')\n");
	exit(2);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " compress IN OUT [--workers N] [--chunk-size BYTES] "
		   "[--level 0-9] [--force]\n"
		   "       " PROG " decompress IN OUT [--workers N] [--force]\n"
		   "       " PROG " send FILE HOST:PORT [--workers N] [--chunk-size BYTES] "
		   "[--level 0-9]\n"
		   "       " PROG " recv [HOST:]PORT OUT [--workers N] [--force]\n"
		   "       " PROG " --help | --version\n"
		   "IN or OUT may be '-' (stdin/stdout). BYTES takes a k or m suffix (KiB, MiB).\n"
		   "An existing OUT is replaced only with --force (a symbolic link itself, never\n"
		   "its target), and only once the whole output is written.\n"
		   "send/recv: compress on one machine, decompress on another; reliable UDP\n"
		   "between (libkaos); recv keeps OUT only if the whole file arrived intact.\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads up to n bytes, retrying short reads: the count (n unless end of file), or -errno. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

/* ------------------------------------------------------------------ shared state */

/* One worker's zlib stream on its own cache lines: deflate updates it constantly. */
struct worker_z {
	_Alignas(64) z_stream z;
	bool ready;
};

struct job {
	const char *in_name, *out_name;
	int in_fd, out_fd;
	uint32_t chunk_size;
	uint32_t bound; /* largest compressed chunk */
	int level;
	uint32_t workers;

	/* per-worker zlib streams, set up lazily by the worker that owns the slot */
	struct worker_z *zs;

	/*
	 * compress from a regular file: the file as it was at the start, mapped
	 * (the workers deflate straight from the page cache, no copy); whatever
	 * was appended since is read after it
	 */
	const uint8_t *map;
	size_t map_size;
	size_t map_off; /* next byte of the mapping for the source */

	/* source side */
	uint64_t seq;
	uint64_t raw_total;
	bool saw_end;

	/* sink side */
	uint64_t out_chunks, out_raw;
};

/* ------------------------------------------------------------------ compress */

/* meta[3] of a chunk the source took from the mapping: its offset + 1 (0: read into data) */
static const uint8_t *raw_input(const struct job *j, const struct kaos_chunk *c)
{
	return c->meta[3] ? j->map + (c->meta[3] - 1) : NULL;
}

static int read_raw(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;

	if (j->map_off < j->map_size) {
		size_t n = j->map_size - j->map_off;
		if (n > j->chunk_size)
			n = j->chunk_size;
		/*
		 * Fault the pages in here, on the source's thread, not in the
		 * workers; a file cut short under us fails here, cleanly (a cut
		 * between this and the worker's read is a SIGBUS: see
		 * on_sigbus). Kernels before 5.14 say EINVAL: the workers fault.
		 */
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t start = j->map_off & ~(page - 1);
		if (madvise((void *)(uintptr_t)(j->map + start), j->map_off + n - start,
			    MADV_POPULATE_READ) < 0 &&
		    errno != EINVAL) {
			kaos_chunk_error(c, "read %s: %s (did the file shrink?)", j->in_name,
					 strerror(errno));
			return -KAOS_ESYS;
		}
		c->meta[3] = j->map_off + 1;
		c->len = n;
		j->map_off += n;
		if (j->map_off == j->map_size &&
		    lseek(j->in_fd, (off_t)j->map_size, SEEK_SET) < 0) {
			kaos_chunk_error(c, "seek %s: %s", j->in_name, strerror(errno));
			return -KAOS_ESYS;
		}
		return 1;
	}
	ssize_t n = read_full(j->in_fd, c->data, j->chunk_size);

	if (n < 0) {
		kaos_chunk_error(c, "read %s: %s", j->in_name, strerror((int)-n));
		return -KAOS_ESYS;
	}
	if (n == 0)
		return 0;
	c->len = (size_t)n;
	return 1;
}

static int compress_chunk(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	z_stream *z = &j->zs[c->worker].z;

	if (!j->zs[c->worker].ready) {
		memset(z, 0, sizeof(*z));
		if (deflateInit(z, j->level) != Z_OK) {
			kaos_chunk_error(c, "zlib deflateInit failed");
			return -KAOS_ENOMEM;
		}
		j->zs[c->worker].ready = true;
	} else {
		deflateReset(z);
	}
	const uint8_t *mapped = raw_input(j, c);
	z->next_in = mapped ? (Bytef *)(uintptr_t)mapped : c->data;
	z->avail_in = (uInt)c->len;
	z->next_out = c->scratch;
	z->avail_out = (uInt)c->cap;
	if (deflate(z, Z_FINISH) != Z_STREAM_END) {
		kaos_chunk_error(c, "zlib deflate did not finish (%s)",
				 z->msg ? z->msg : "no room");
		return -KAOS_EINVAL;
	}
	c->meta[0] = c->len; /* raw length */
	c->len = z->total_out;
	kaos_chunk_swap(c); /* data: compressed, scratch: raw */
	return 0;
}

static int checksum_chunk(void *arg, struct kaos_chunk *c)
{
	const uint8_t *mapped = raw_input(arg, c);

	c->meta[1] = kaos_crc32c(0, c->data, c->len);			       /* compressed */
	c->meta[2] = kaos_crc32c(0, mapped ? mapped : c->scratch, c->meta[0]); /* raw */
	return 0;
}

static int write_frame(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	uint8_t h[FRAME_SIZE];
	int rc;

	put32(h, TAG_CHUNK);
	put32(h + 4, (uint32_t)c->meta[0]);
	put32(h + 8, (uint32_t)c->len);
	put32(h + 12, (uint32_t)c->meta[1]);
	put32(h + 16, (uint32_t)c->meta[2]);
	put64(h + 20, c->seq);
	put32(h + 28, kaos_crc32c(0, h, 28));
	if ((rc = write_full(j->out_fd, h, sizeof(h))) ||
	    (rc = write_full(j->out_fd, c->data, c->len))) {
		kaos_chunk_error(c, "write %s: %s", j->out_name, strerror(-rc));
		return -KAOS_ESYS;
	}
	j->out_chunks++;
	j->out_raw += c->meta[0];
	return 0;
}

/* ------------------------------------------------------------------ decompress */

static int read_frame(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	uint8_t h[FRAME_SIZE], extra;
	ssize_t n = read_full(j->in_fd, h, sizeof(h));

	if (n < 0) {
		kaos_chunk_error(c, "read %s: %s", j->in_name, strerror((int)-n));
		return -KAOS_ESYS;
	}
	if (n < (ssize_t)sizeof(h)) {
		kaos_chunk_error(c, "%s: truncated (no end marker after %" PRIu64 " chunks)",
				 j->in_name, j->seq);
		return -KAOS_ECORRUPT;
	}
	if (get32(h + 28) != kaos_crc32c(0, h, 28)) {
		kaos_chunk_error(c, "%s: damaged frame header after chunk %" PRIu64, j->in_name,
				 j->seq);
		return -KAOS_ECORRUPT;
	}
	uint32_t tag = get32(h);
	if (tag == TAG_END) {
		if (get64(h + 8) != j->seq || get64(h + 16) != j->raw_total) {
			kaos_chunk_error(c,
					 "%s: end marker says %" PRIu64 " chunks / %" PRIu64
					 " bytes, stream had %" PRIu64 " / %" PRIu64,
					 j->in_name, get64(h + 8), get64(h + 16), j->seq,
					 j->raw_total);
			return -KAOS_ECORRUPT;
		}
		n = read_full(j->in_fd, &extra, 1);
		if (n != 0) {
			kaos_chunk_error(c, "%s: %s after the end marker", j->in_name,
					 n < 0 ? "read error" : "trailing data");
			return -KAOS_ECORRUPT;
		}
		j->saw_end = true;
		return 0;
	}
	uint32_t raw_len = get32(h + 4), comp_len = get32(h + 8);
	if (tag != TAG_CHUNK || raw_len == 0 || raw_len > j->chunk_size || comp_len == 0 ||
	    comp_len > j->bound || get64(h + 20) != j->seq) {
		kaos_chunk_error(c, "%s: bad frame %" PRIu64 " (tag, lengths or sequence)",
				 j->in_name, j->seq);
		return -KAOS_ECORRUPT;
	}
	n = read_full(j->in_fd, c->data, comp_len);
	if (n < 0) {
		kaos_chunk_error(c, "read %s: %s", j->in_name, strerror((int)-n));
		return -KAOS_ESYS;
	}
	if (n < (ssize_t)comp_len) {
		kaos_chunk_error(c, "%s: truncated in chunk %" PRIu64, j->in_name, j->seq);
		return -KAOS_ECORRUPT;
	}
	c->len = comp_len;
	c->meta[0] = raw_len;
	c->meta[1] = get32(h + 12);
	c->meta[2] = get32(h + 16);
	j->seq++;
	j->raw_total += raw_len;
	return 1;
}

static int decompress_chunk(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	z_stream *z = &j->zs[c->worker].z;
	int zrc;

	if (kaos_crc32c(0, c->data, c->len) != (uint32_t)c->meta[1]) {
		kaos_chunk_error(c, "%s: checksum mismatch in the compressed data", j->in_name);
		return -KAOS_ECORRUPT;
	}
	if (!j->zs[c->worker].ready) {
		memset(z, 0, sizeof(*z));
		if (inflateInit(z) != Z_OK) {
			kaos_chunk_error(c, "zlib inflateInit failed");
			return -KAOS_ENOMEM;
		}
		j->zs[c->worker].ready = true;
	} else {
		inflateReset(z);
	}
	z->next_in = c->data;
	z->avail_in = (uInt)c->len;
	z->next_out = c->scratch;
	z->avail_out = (uInt)c->meta[0];
	zrc = inflate(z, Z_FINISH);
	if (zrc != Z_STREAM_END || z->avail_in != 0 || z->total_out != c->meta[0]) {
		kaos_chunk_error(c, "%s: compressed data does not inflate to %" PRIu64 " bytes",
				 j->in_name, c->meta[0]);
		return -KAOS_ECORRUPT;
	}
	c->len = z->total_out;
	kaos_chunk_swap(c);
	if (kaos_crc32c(0, c->data, c->len) != (uint32_t)c->meta[2]) {
		kaos_chunk_error(c, "%s: checksum mismatch in the restored data", j->in_name);
		return -KAOS_ECORRUPT;
	}
	return 0;
}

static int write_raw(void *arg, struct kaos_chunk *c)
{
	struct job *j = arg;
	int rc = write_full(j->out_fd, c->data, c->len);

	if (rc) {
		kaos_chunk_error(c, "write %s: %s", j->out_name, strerror(-rc));
		return -KAOS_ESYS;
	}
	j->out_chunks++;
	j->out_raw += c->len;
	return 0;
}

/* ------------------------------------------------------------------ running */

static void progress(struct kaos_pipeline *p, uint64_t t0, bool final)
{
	struct kaos_pipeline_stats st;
	double secs = (double)(now_ns() - t0) / 1e9;

	kaos_pipeline_stats(p, &st);
	fprintf(stderr, "\r%8.1f MiB in %8.1f MiB out %7.1f MB/s | queues:",
		(double)st.bytes_in / 1048576.0, (double)st.bytes_out / 1048576.0,
		secs > 0 ? (double)st.bytes_in / 1e6 / secs : 0.0);
	for (uint32_t k = 0; k < st.nstages; k++)
		fprintf(stderr, " %s %u", st.stage[k].name, st.stage[k].queued);
	fprintf(stderr, " | free %u/%u ", st.free_chunks, st.chunks);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static bool net_failed(void);

static int run(const struct kaos_pipeline_config *cfg)
{
	struct kaos_pipeline *p;
	bool show = isatty(STDERR_FILENO);
	uint64_t t0 = now_ns();
	int rc;

	rc = kaos_pipeline_create(cfg, &p);
	if (rc) {
		fprintf(stderr, PROG ": cannot set up the pipeline: %s\n", kaos_strerror(rc));
		return rc;
	}
	rc = kaos_pipeline_start(p);
	while (!rc && show && kaos_pipeline_running(p)) {
		struct timespec ts = {0, 200000000};
		nanosleep(&ts, NULL);
		if (kaos_pipeline_running(p))
			progress(p, t0, false);
	}
	int wrc = kaos_pipeline_wait(p);
	if (show)
		progress(p, t0, true);
	rc = rc ? rc : wrc;
	if (rc) {
		const struct kaos_pipeline_error *e = kaos_pipeline_error(p);
		if (net_failed())
			; /* the network's error caused this one: the caller says it */
		else if (e->msg[0])
			fprintf(stderr, PROG ": %s\n", e->msg);
		else
			fprintf(stderr, PROG ": stage %s failed on chunk %" PRIu64 ": %s\n",
				e->stage_name, e->seq, kaos_strerror(e->code));
	}
	kaos_pipeline_destroy(p);
	return rc;
}

static void free_streams(struct job *j, bool inflating)
{
	for (uint32_t i = 0; i < j->workers; i++) {
		if (!j->zs[i].ready)
			continue;
		if (inflating)
			inflateEnd(&j->zs[i].z);
		else
			deflateEnd(&j->zs[i].z);
	}
	free(j->zs);
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* ------------------------------------------------------------------ output */

/*
 * Never destroy user data: OUT is written under a temporary name in its own
 * directory (created O_EXCL, mode 0600 until done), fsync'ed, given its final
 * mode and renamed onto OUT only after the whole output is written. Until
 * then an existing OUT is untouched; a failure, SIGINT, SIGTERM, SIGHUP or a
 * SIGBUS (mapped input cut short) removes the temporary file. An existing OUT
 * is replaced only with --force, like gzip; a symbolic link is never written
 * through (rename replaces the link itself). A device, FIFO or socket OUT
 * (/dev/null, a named pipe) is a stream, not a file to replace: it is
 * written directly, and so is stdout ('-'). Only SIGKILL can leave a
 * temporary file (".NAME.kaos-XXXXXX") behind; OUT is intact even then.
 */
struct output {
	const char *path; /* OUT as given */
	int fd;
	bool replace; /* writing a temporary file to rename onto path */
	mode_t mode;  /* the final mode of a replaced/created OUT */
};

/* The temporary file the signal handlers remove; armed only while it exists. */
static char tmp_path[PATH_MAX];
static volatile sig_atomic_t tmp_armed;

static void on_fatal_signal(int sig)
{
	int saved = errno;

	if (tmp_armed)
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig); /* die of the signal, as the caller expects */
	errno = saved;
}

static void on_sigbus(int sig)
{
	static const char msg[] = PROG ": input file shrank while it was being read\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)w;
	if (tmp_armed)
		unlink(tmp_path);
	_exit(1);
}

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void block_fatal_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaddset(&set, fatal_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;
		/* a signal the caller ignores (nohup) stays ignored */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(fatal_signals[i], &sa, NULL);
	}
}

/* "DIR/.BASE.kaos-XXXXXX" for OUT = "DIR/BASE"; false if it does not fit. */
static bool tmp_name_for(const char *out, char *buf, size_t size)
{
	const char *slash = strrchr(out, '/');
	const char *base = slash ? slash + 1 : out;
	int dirlen = slash ? (int)(slash - out + 1) : 0;
	/* keep the name under NAME_MAX whatever OUT's length */
	int n = snprintf(buf, size, "%.*s.%.200s.kaos-XXXXXX", dirlen, out, base);

	return n > 0 && (size_t)n < size;
}

/* The mode gzip gives: the input file's permissions, or 0666 less the umask for a stream. */
static mode_t output_mode(int in_fd)
{
	struct stat st;
	mode_t mask = umask(0);

	umask(mask);
	if (fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode))
		return st.st_mode & 0777;
	return 0666 & ~mask;
}

/* Creates the temporary file beside OUT, armed for removal by the signal handlers. */
static int output_create_tmp(struct output *o)
{
	sigset_t old;
	int err;

	if (!tmp_name_for(o->path, tmp_path, sizeof(tmp_path))) {
		fprintf(stderr, PROG ": %s: name too long\n", o->path);
		return -1;
	}
	block_fatal_signals(&old); /* no window where the file exists unarmed */
	o->fd = mkostemp(tmp_path, O_CLOEXEC);
	err = errno;
	tmp_armed = o->fd >= 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (o->fd < 0) {
		fprintf(stderr, PROG ": cannot create a file beside %s: %s\n", o->path,
			strerror(err));
		return -1;
	}
	o->replace = true;
	return 0;
}

/*
 * Opens OUT for writing: 0, or -1 after saying why (exit 1). in_fd is the
 * input, to refuse writing onto it and to copy its mode.
 */
static int output_open(struct output *o, int in_fd, bool force)
{
	struct stat st, ist;

	o->fd = -1;
	o->replace = false;
	if (!strcmp(o->path, "-")) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	if (lstat(o->path, &st) < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, PROG ": %s: %s\n", o->path, strerror(errno));
			return -1;
		}
	} else if (S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": %s is a directory\n", o->path);
		return -1;
	} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) ||
		   S_ISSOCK(st.st_mode)) {
		o->fd = open(o->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (o->fd < 0) {
			fprintf(stderr, PROG ": cannot open %s: %s\n", o->path, strerror(errno));
			return -1;
		}
		return 0;
	} else if (S_ISREG(st.st_mode) && fstat(in_fd, &ist) == 0 && st.st_dev == ist.st_dev &&
		   st.st_ino == ist.st_ino) {
		fprintf(stderr, PROG ": input and %s are the same file\n", o->path);
		return -1;
	} else if (!force) {
		fprintf(stderr, PROG ": %s already exists; not overwritten (--force replaces it)\n",
			o->path);
		return -1;
	}
	o->mode = output_mode(in_fd);
	return output_create_tmp(o);
}

/* The output is complete: flush it to disk and put it in place. 0, or -1 after saying why. */
static int output_commit(struct output *o)
{
	sigset_t old;
	int rc = 0;

	if (!o->replace) {
		if (o->fd != STDOUT_FILENO && close(o->fd) < 0) {
			fprintf(stderr, PROG ": write %s: %s\n", o->path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (fchmod(o->fd, o->mode) < 0 || fsync(o->fd) < 0 || close(o->fd) < 0) {
		fprintf(stderr, PROG ": write %s: %s\n", o->path, strerror(errno));
		unlink(tmp_path);
		tmp_armed = 0;
		return -1;
	}
	block_fatal_signals(&old);
	if (rename(tmp_path, o->path) < 0) {
		fprintf(stderr, PROG ": cannot rename the output onto %s: %s\n", o->path,
			strerror(errno));
		unlink(tmp_path);
		rc = -1;
	}
	tmp_armed = 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Failed: the temporary file goes; OUT (if it existed) was never touched. */
static void output_abort(struct output *o)
{
	if (o->fd >= 0 && o->fd != STDOUT_FILENO)
		close(o->fd);
	if (o->replace) {
		unlink(tmp_path);
		tmp_armed = 0;
	}
}

/*
 * A regular, non-empty input read from its start is mapped; anything else
 * (a pipe, a descriptor someone already read from, mmap refused) is read.
 */
static void map_input(struct job *j)
{
	struct stat st;

	if (fstat(j->in_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX || lseek(j->in_fd, 0, SEEK_CUR) != 0)
		return;
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, j->in_fd, 0);
	if (m == MAP_FAILED)
		return;
	madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);
	j->map = m;
	j->map_size = (size_t)st.st_size;
	j->map_off = 0;
}

static int do_compress(struct job *j)
{
	uint8_t h[HDR_SIZE], e[END_SIZE];
	int rc;

	memcpy(h, file_magic, 8);
	put32(h + 8, FORMAT_VERSION);
	put32(h + 12, CODEC_ZLIB);
	put32(h + 16, j->chunk_size);
	put32(h + 20, (uint32_t)j->level);
	put32(h + 24, 0);
	put32(h + 28, kaos_crc32c(0, h, 28));
	if ((rc = write_full(j->out_fd, h, sizeof(h)))) {
		fprintf(stderr, PROG ": write %s: %s\n", j->out_name, strerror(-rc));
		return 1;
	}
	map_input(j);
	struct kaos_stage_def stages[2] = {
		{.name = "compress", .fn = compress_chunk, .arg = j, .workers = j->workers},
		{.name = "checksum", .fn = checksum_chunk, .arg = j, .workers = 1},
	};
	struct kaos_pipeline_config cfg = {
		.chunk_size = max_u32(j->chunk_size, j->bound),
		.source_name = "read",
		.source = read_raw,
		.source_arg = j,
		.stages = stages,
		.nstages = 2,
		.sink_name = "write",
		.sink = write_frame,
		.sink_arg = j,
	};
	rc = run(&cfg);
	free_streams(j, false);
	if (j->map)
		munmap((void *)(uintptr_t)j->map, j->map_size);
	if (rc)
		return 1;
	put32(e, TAG_END);
	put32(e + 4, 0);
	put64(e + 8, j->out_chunks);
	put64(e + 16, j->out_raw);
	put32(e + 24, 0);
	put32(e + 28, kaos_crc32c(0, e, 28));
	if ((rc = write_full(j->out_fd, e, sizeof(e)))) {
		fprintf(stderr, PROG ": write %s: %s\n", j->out_name, strerror(-rc));
		return 1;
	}
	return 0;
}

static int do_decompress(struct job *j)
{
	uint8_t h[HDR_SIZE];
	ssize_t n = read_full(j->in_fd, h, sizeof(h));
	int rc;

	if (n < 0) {
		fprintf(stderr, PROG ": read %s: %s\n", j->in_name, strerror((int)-n));
		return 1;
	}
	if (n < (ssize_t)sizeof(h) || memcmp(h, file_magic, 8) != 0) {
		fprintf(stderr, PROG ": %s: not a kaos-pipeline file\n", j->in_name);
		return 1;
	}
	if (get32(h + 28) != kaos_crc32c(0, h, 28)) {
		fprintf(stderr, PROG ": %s: damaged file header\n", j->in_name);
		return 1;
	}
	if (get32(h + 8) != FORMAT_VERSION || get32(h + 12) != CODEC_ZLIB) {
		fprintf(stderr, PROG ": %s: format version %u codec %u not supported\n", j->in_name,
			get32(h + 8), get32(h + 12));
		return 1;
	}
	j->chunk_size = get32(h + 16);
	if (j->chunk_size == 0 || j->chunk_size > CHUNK_MAX) {
		fprintf(stderr, PROG ": %s: bad chunk size %u in header\n", j->in_name,
			j->chunk_size);
		return 1;
	}
	j->bound = (uint32_t)compressBound(j->chunk_size);
	struct kaos_stage_def stage = {
		.name = "decompress", .fn = decompress_chunk, .arg = j, .workers = j->workers};
	struct kaos_pipeline_config cfg = {
		.chunk_size = max_u32(j->chunk_size, j->bound),
		.source_name = "read",
		.source = read_frame,
		.source_arg = j,
		.stages = &stage,
		.nstages = 1,
		.sink_name = "write",
		.sink = write_raw,
		.sink_arg = j,
	};
	rc = run(&cfg);
	free_streams(j, true);
	if (rc)
		return 1;
	if (!j->saw_end) { /* cannot happen: the source ends only at the end marker */
		fprintf(stderr, PROG ": %s: no end marker\n", j->in_name);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ arguments */

static uint64_t parse_num(const char *opt, const char *s, bool suffix, uint64_t lo, uint64_t hi)
{
	char *end;
	uint64_t v, mul = 1;

	if (s && s[0] == '-' && s[1] >= '0' && s[1] <= '9') /* a negative number */
		usage_error("%s must be %" PRIu64 "..%" PRIu64, opt, lo, hi);
	if (!s || !*s || *s == '-')
		usage_error("%s needs a number", opt);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (suffix && (*end == 'k' || *end == 'K'))
		mul = 1024, end++;
	else if (suffix && (*end == 'm' || *end == 'M'))
		mul = 1024 * 1024, end++;
	if (errno || end == s || *end)
		usage_error("%s: '%s' is not a number", opt, s);
	if (v > hi / mul || v * mul < lo || v * mul > hi)
		usage_error("%s must be %" PRIu64 "..%" PRIu64, opt, lo, hi);
	return v * mul;
}

static uint32_t default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > (long)WORKERS_MAX ? WORKERS_MAX : (uint32_t)n;
}

/* The workers' zlib streams: 0, or -1 after saying why. */
static int alloc_streams(struct job *j)
{
	j->bound = (uint32_t)compressBound(j->chunk_size);
	j->zs = aligned_alloc(64, j->workers * sizeof(*j->zs));
	if (!j->zs) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	memset(j->zs, 0, j->workers * sizeof(*j->zs));
	return 0;
}

/* Opens IN (refusing a directory), then OUT, runs the job, and commits or aborts OUT. */
static int run_job(struct job *j, bool compress, bool force)
{
	struct output out = {.path = j->out_name};
	struct stat st;
	int rc;

	j->in_fd = strcmp(j->in_name, "-") ? open(j->in_name, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (j->in_fd < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", j->in_name, strerror(errno));
		return 1;
	}
	if (fstat(j->in_fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		fprintf(stderr, PROG ": %s is a directory\n", j->in_name);
		return 1;
	}
	if (alloc_streams(j) < 0)
		return 1;
	install_signal_handlers();
	if (output_open(&out, j->in_fd, force) < 0)
		return 1;
	j->out_fd = out.fd;
	rc = compress ? do_compress(j) : do_decompress(j);
	if (rc == 0 && output_commit(&out) < 0)
		rc = 1;
	else if (rc)
		output_abort(&out);
	if (j->in_fd != STDIN_FILENO)
		close(j->in_fd);
	return rc;
}

/* ------------------------------------------------------------------ network (send / recv) */

/*
 * send: read -> compress -> checksum -> write into a pipe -> the network
 * thread -> libkaos reliable UDP.  recv: UDP -> the network thread -> a pipe
 * -> read frames -> decompress (verifies) -> write OUT. The stream on the
 * wire is exactly the container format, cut into messages of up to 64 KiB;
 * a zero-length message ends it. The receiver answers one byte once OUT is
 * in place ('Y') or was not kept ('N'), so the sender exits 0 only when the
 * file arrived intact. The network thread owns the endpoint; it polls it all
 * along (acks, keepalives), so a slow disk never looks like a dead peer.
 */
#define NET_PIPE_SIZE	    (1 << 20)
#define NET_PEER_TIMEOUT_MS 5000u /* silence that ends a connection */
#define VERDICT_OK	    'Y'
#define VERDICT_FAIL	    'N'

struct net {
	struct kaos_udp *ep;
	const char *peer;   /* HOST:PORT as the user wrote it, for messages */
	int pipe_fd;	    /* send: the pipe's read end; recv: its write end */
	int verdict_fd;	    /* recv: the verdict from main (a pipe's read end) */
	bool connected;	    /* the handshake was done once */
	atomic_bool abort;  /* send: the pipeline failed, do not end the stream */
	atomic_bool failed; /* err says why */
	char err[256];
	uint8_t *buf; /* one message */
	pthread_t thread;
};

/* The network thread's failure, if any: main prints it instead of what it caused. */
static struct net *active_net;

static bool net_failed(void)
{
	return active_net && atomic_load(&active_net->failed);
}

static __attribute__((format(printf, 2, 3))) int net_fail(struct net *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->err, sizeof(n->err), fmt, ap);
	va_end(ap);
	atomic_store(&n->failed, true);
	return -1;
}

/* A transport error as one line naming the peer. */
static int net_error(struct net *n, int e)
{
	if (e == -KAOS_ETIMEDOUT && !n->connected)
		return net_fail(n, "no answer from %s (is 'kaos-pipeline recv' running there?)",
				n->peer);
	if (e == -KAOS_ETIMEDOUT)
		return net_fail(n, "connection to %s is dead: nothing heard from it for %u s",
				n->peer, NET_PEER_TIMEOUT_MS / 1000);
	if (e == -KAOS_ECLOSED)
		return net_fail(n, "%s closed the connection before the end of the file", n->peer);
	if (e == -KAOS_ESYS)
		return net_fail(n, "network (%s): %s", n->peer, strerror(errno));
	return net_fail(n, "connection to %s: %s", n->peer, kaos_strerror(e));
}

/* Polls the endpoint, then sleeps until the socket, fd (for events) or a timer has work. */
static int net_wait(struct net *n, int fd, short events)
{
	struct pollfd p[2] = {{.fd = kaos_udp_fd(n->ep), .events = POLLIN},
			      {.fd = fd, .events = events}};
	int e = kaos_udp_poll(n->ep);

	if (e == -KAOS_ESYS)
		return net_error(n, e);
	if (kaos_udp_state(n->ep) == KAOS_UDP_ESTABLISHED)
		n->connected = true;
	if (e < 0)
		return e; /* terminal: the caller's recv/send reports it once drained */
	if (poll(p, fd >= 0 ? 2 : 1, kaos_udp_timeout_ms(n->ep)) < 0 && errno != EINTR)
		return net_fail(n, "poll: %s", strerror(errno));
	return 0;
}

/* Queues one message, waiting while the send queue is full. */
static int net_send_msg(struct net *n, const void *msg, size_t len)
{
	for (;;) {
		int e = kaos_udp_send(n->ep, msg, len);

		if (e == 0)
			return 0;
		if (e != -KAOS_EFULL)
			return net_error(n, e);
		e = net_wait(n, -1, 0);
		if (e < 0)
			return atomic_load(&n->failed) ? -1 : net_error(n, e);
	}
}

/* send: the pipe's bytes as messages, then the zero-length end (unless aborted). */
static int net_send_stream(struct net *n)
{
	for (;;) {
		ssize_t r = read(n->pipe_fd, n->buf, KAOS_UDP_MSG_MAX);

		if (r > 0) {
			if (net_send_msg(n, n->buf, (size_t)r) < 0)
				return -1;
			continue;
		}
		if (r == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			return net_fail(n, "read the pipeline's output: %s", strerror(errno));
		int e = net_wait(n, n->pipe_fd, POLLIN);
		if (e < 0)
			return atomic_load(&n->failed) ? -1 : net_error(n, e);
	}
	if (atomic_load(&n->abort))
		return -1; /* main reports the pipeline's error; close() tells the peer */
	return net_send_msg(n, "", 0);
}

/* send: everything acked, then the receiver's verdict. */
static int net_send_finish(struct net *n)
{
	uint8_t v;
	int e = kaos_udp_flush(n->ep, -1);

	if (e == 0)
		e = kaos_udp_recv_wait(n->ep, &v, 1, -1);
	if (e < 0)
		return net_error(n, e);
	if (e != 1 || v != VERDICT_OK)
		return net_fail(n, "the receiver at %s did not keep the file (it says why)",
				n->peer);
	return 0;
}

static void *net_send_thread(void *arg)
{
	struct net *n = arg;

	if (net_send_stream(n) == 0)
		net_send_finish(n);
	close(n->pipe_fd); /* a pipeline still writing gets EPIPE and stops */
	n->pipe_fd = -1;
	return NULL;
}

/* recv: messages into the pipe until the zero-length end; 0 or -1. */
static int net_recv_stream(struct net *n)
{
	size_t have = 0, off = 0;

	for (;;) {
		if (off < have) {
			ssize_t w = write(n->pipe_fd, n->buf + off, have - off);
			if (w > 0)
				off += (size_t)w;
			else if (w < 0 && errno == EPIPE)
				off = have; /* the pipeline gave up (it says why): drain to the end
					     */
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				return net_fail(n, "write into the pipeline: %s", strerror(errno));
			if (w > 0 || off == have)
				continue;
		} else {
			int m = kaos_udp_recv(n->ep, n->buf, KAOS_UDP_MSG_MAX);
			if (m == 0)
				return 0;
			if (m > 0) {
				have = (size_t)m, off = 0;
				continue;
			}
			if (m != -KAOS_EEMPTY)
				return net_error(n, m);
		}
		if (net_wait(n, off < have ? n->pipe_fd : -1, POLLOUT) < 0 &&
		    atomic_load(&n->failed))
			return -1;
	}
}

/* recv: keeps the connection alive until main's verdict, sends it, waits for its ack. */
static int net_recv_finish(struct net *n)
{
	uint8_t v;

	for (;;) {
		ssize_t r = read(n->verdict_fd, &v, 1);
		if (r == 1)
			break;
		if (r == 0)
			v = VERDICT_FAIL;
		if (r == 0)
			break;
		int e = net_wait(n, n->verdict_fd, POLLIN);
		if (e < 0)
			return atomic_load(&n->failed) ? -1 : net_error(n, e);
	}
	int e = net_send_msg(n, &v, 1);
	/* the sender closes only once it has the verdict: its FIN is an answer too */
	if (e == 0 && (e = kaos_udp_flush(n->ep, -1)) < 0 && e != -KAOS_ECLOSED)
		return net_error(n, e);
	return e < 0 && e != -KAOS_ECLOSED ? e : 0;
}

static void *net_recv_thread(void *arg)
{
	struct net *n = arg;
	int rc = net_recv_stream(n);

	close(n->pipe_fd); /* the end of the stream, or a truncation the pipeline notices */
	n->pipe_fd = -1;
	if (rc == 0)
		net_recv_finish(n);
	return NULL;
}

/* "HOST:PORT" (HOST optional when allowed) -> an IPv4 literal and a port; usage error if malformed.
 */
static void parse_hostport(const char *s, bool need_host, char *addr, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *ps = colon ? colon + 1 : s;
	char host[256], *end;
	unsigned long p;

	if (!colon && need_host)
		usage_error("'%s' is not HOST:PORT", s);
	errno = 0;
	p = strtoul(ps, &end, 10);
	if (!*ps || *end || errno || p == 0 || p > 65535 || *ps == '-' || *ps == '+')
		usage_error("'%s': the port must be 1..65535", s);
	*port = (uint16_t)p;
	if (!colon || colon == s) {
		if (need_host)
			usage_error("'%s' has no HOST", s);
		snprintf(addr, cap, "0.0.0.0");
		return;
	}
	if ((size_t)(colon - s) >= sizeof(host))
		usage_error("'%s': host name too long", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai;
	int e = getaddrinfo(host, NULL, &hints, &ai);
	if (e) {
		fprintf(stderr, PROG ": cannot resolve %s: %s\n", host, gai_strerror(e));
		exit(1);
	}
	inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, (socklen_t)cap);
	freeaddrinfo(ai);
}

/* The endpoint and the buffer; 0, or -1 after saying why. */
static int net_open(struct net *n, const char *peer, const char *bind_addr, uint16_t port)
{
	struct kaos_udp_config cfg = {
		.bind_addr = bind_addr,
		.port = port,
		.queue_msgs = 64, /* 64 KiB messages: 4 MiB queued */
		.window = 1024,	  /* a long fat pipe still fills */
		.peer_timeout_ms = NET_PEER_TIMEOUT_MS,
		.name = "pipeline",
	};
	int e;

	memset(n, 0, sizeof(*n));
	n->peer = peer;
	n->pipe_fd = n->verdict_fd = -1;
	n->buf = malloc(KAOS_UDP_MSG_MAX);
	if (!n->buf) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	e = kaos_udp_open(&cfg, &n->ep);
	if (e) {
		fprintf(stderr, PROG ": cannot open a UDP socket on %s:%u: %s%s%s\n", bind_addr,
			port, kaos_strerror(e), e == -KAOS_ESYS ? ": " : "",
			e == -KAOS_ESYS ? strerror(errno) : "");
		free(n->buf);
		return -1;
	}
	return 0;
}

static void net_close(struct net *n)
{
	kaos_udp_close(n->ep); /* a FIN: a receiver still waiting learns the sender gave up */
	free(n->buf);
	active_net = NULL;
}

/* A pipe whose `nonblock_end` (0 or 1) the network thread uses without blocking. */
static int net_pipe(int p[2], int nonblock_end)
{
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		return -1;
	}
	fcntl(p[0], F_SETPIPE_SZ, NET_PIPE_SIZE); /* fewer wakeups; the default works too */
	fcntl(p[nonblock_end], F_SETFL, O_NONBLOCK);
	return 0;
}

static int net_start(struct net *n, void *(*fn)(void *))
{
	int e = pthread_create(&n->thread, NULL, fn, n);

	if (e) {
		fprintf(stderr, PROG ": cannot start the network thread: %s\n", strerror(e));
		return -1;
	}
	active_net = n;
	return 0;
}

/* kaos-pipeline send FILE HOST:PORT */
static int run_send(struct job *j, const char *hostport)
{
	char addr[INET_ADDRSTRLEN];
	uint16_t port;
	struct net n;
	int p[2], rc, e;

	parse_hostport(hostport, true, addr, sizeof(addr), &port);
	j->in_fd = strcmp(j->in_name, "-") ? open(j->in_name, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (j->in_fd < 0) {
		fprintf(stderr, PROG ": cannot open %s: %s\n", j->in_name, strerror(errno));
		return 1;
	}
	if (alloc_streams(j) < 0 || net_open(&n, hostport, "0.0.0.0", 0) < 0)
		return 1;
	if ((e = kaos_udp_connect(n.ep, addr, port))) {
		fprintf(stderr, PROG ": cannot connect to %s: %s\n", hostport, kaos_strerror(e));
		net_close(&n);
		return 1;
	}
	if (net_pipe(p, 0) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN); /* a dead connection is an EPIPE, reported as such */
	n.pipe_fd = p[0];
	j->out_fd = p[1];
	j->out_name = hostport;
	if (net_start(&n, net_send_thread) < 0)
		return 1;
	rc = do_compress(j);
	atomic_store(&n.abort, rc != 0);
	close(p[1]);
	pthread_join(n.thread, NULL);
	if (atomic_load(&n.failed)) {
		fprintf(stderr, PROG ": %s\n", n.err);
		rc = 1;
	}
	net_close(&n);
	return rc;
}

/* kaos-pipeline recv [HOST:]PORT OUT */
static int run_recv(struct job *j, const char *hostport, bool force)
{
	struct output out = {.path = j->out_name};
	char addr[INET_ADDRSTRLEN];
	uint16_t port;
	struct net n;
	int p[2], v[2], rc;
	uint8_t verdict;

	parse_hostport(hostport, false, addr, sizeof(addr), &port);
	if (alloc_streams(j) < 0 || net_open(&n, "the sender", addr, port) < 0)
		return 1;
	if (net_pipe(p, 1) < 0 || net_pipe(v, 0) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	install_signal_handlers();
	if (output_open(&out, p[0], force) < 0) {
		net_close(&n);
		return 1;
	}
	n.pipe_fd = p[1];
	n.verdict_fd = v[0];
	j->in_fd = p[0];
	j->in_name = "the stream";
	j->out_fd = out.fd;
	if (net_start(&n, net_recv_thread) < 0)
		return 1;
	rc = do_decompress(j);
	close(p[0]); /* the network thread stops feeding a pipeline that gave up */
	if (rc == 0 && output_commit(&out) < 0)
		rc = 1;
	else if (rc)
		output_abort(&out);
	verdict = rc ? VERDICT_FAIL : VERDICT_OK;
	ssize_t w = write(v[1], &verdict, 1); /* if it could fail: EOF reads as a failure */
	(void)w;
	close(v[1]);
	pthread_join(n.thread, NULL);
	close(v[0]);
	if (atomic_load(&n.failed) && rc)
		fprintf(stderr, PROG ": %s\n", n.err);
	else if (atomic_load(&n.failed))
		fprintf(stderr, PROG ": %s is complete, but the sender did not hear so: %s\n",
			j->out_name, n.err);
	net_close(&n);
	return rc;
}

int main(int argc, char **argv)
{
	struct job j = {.level = LEVEL_DEFAULT, .chunk_size = CHUNK_DEFAULT};
	const char *pos[2] = {NULL, NULL};
	bool compress, net, force = false;
	int npos = 0;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, PROG ": write stdout: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc >= 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		/* the libkaos.so it runs with may be another build than its headers */
		printf(PROG " %s (libkaos %s)\n", KAOS_BUILD_VERSION, kaos_version());
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, PROG ": write stdout: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc < 2)
		usage_error("missing command (compress, decompress, send or recv)");
	/* send compresses onto the network, recv decompresses from it */
	compress = !strcmp(argv[1], "compress") || !strcmp(argv[1], "send");
	net = !strcmp(argv[1], "send") || !strcmp(argv[1], "recv");
	if (!compress && !net && strcmp(argv[1], "decompress"))
		usage_error("unknown command '%s'", argv[1]);
	j.workers = default_workers();

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq = strchr(a, '=');
		char opt[32];

		if ((!net || !compress) && (!strcmp(a, "--force") || !strcmp(a, "-f"))) {
			force = true;
			continue;
		}
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (npos == 2)
				usage_error("unexpected argument '%s'", a);
			pos[npos++] = a;
			continue;
		}
		if (eq && eq - a < (ptrdiff_t)sizeof(opt)) {
			memcpy(opt, a, (size_t)(eq - a));
			opt[eq - a] = 0;
			val = eq + 1;
		} else {
			snprintf(opt, sizeof(opt), "%s", a);
			if (i + 1 < argc)
				val = argv[i + 1];
		}
		if (!strcmp(opt, "--workers")) {
			j.workers = (uint32_t)parse_num(opt, val, false, 1, WORKERS_MAX);
		} else if (compress && !strcmp(opt, "--chunk-size")) {
			j.chunk_size = (uint32_t)parse_num(opt, val, true, 1, CHUNK_MAX);
		} else if (compress && !strcmp(opt, "--level")) {
			j.level = (int)parse_num(opt, val, false, 0, 9);
		} else {
			usage_error("unknown option '%s' for %s", a, argv[1]);
		}
		if (!eq)
			i++;
	}
	if (npos != 2 && net)
		usage_error("%s", compress ? "send needs FILE and HOST:PORT"
					   : "recv needs [HOST:]PORT and OUT");
	if (npos != 2)
		usage_error("%s needs IN and OUT", argv[1]);
	if (net && compress) {
		j.in_name = pos[0];
		return run_send(&j, pos[1]);
	}
	if (net) {
		j.out_name = pos[1];
		return run_recv(&j, pos[0], force);
	}

	j.in_name = pos[0];
	j.out_name = pos[1];
	return run_job(&j, compress, force);
}
