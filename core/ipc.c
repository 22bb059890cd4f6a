/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory IPC channels (include/kaos/ipc.h, docs/ipc.md): a header with
 * endpoint records, then a ring block placed with kaos_ring_init_at().
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "kaos/crc32c.h"
#include "kaos/ipc.h"
#include "ipc_layout.h"
#include "ring_internal.h"
#include "ring_layout.h"

#define IPC_DIR_DEFAULT "/dev/shm"
#define IPC_FILE_PREFIX "kaos-ipc-"
#define PEER_CHECK_NS	1000000ull /* look at the peers' pids once per ms of waiting */
#define SPIN_ROUNDS	1024u	   /* then sched_yield() ... */
#define YIELD_NS	2000000ull /* ... for 2 ms of waiting, then sleep */
#define SLEEP_NS	100000L
#define BEAT_EVERY_OPS	4096u

struct kaos_ipc {
	/*
	 * The per-message fast path of an SPSC channel reads only this first
	 * line: the ring, and the slot geometry copied from the validated header
	 * (never re-read from shared memory, so a slot index is always in bounds).
	 */
	struct kaos_ring *ring;
	uint8_t *slots;
	uint64_t mask;
	uint32_t slot_size;
	bool fast_send; /* SPSC producer */
	bool fast_recv; /* SPSC consumer */
	/* the heartbeat every BEAT_EVERY_OPS operations counts these: */
	uint32_t ops;			/* MPSC: channel operations */
	const _Atomic uint64_t *cursor; /* SPSC: this side's own ring cursor */
	enum kaos_ipc_role role;
	int fd;
	pid_t pid;	     /* the process that attached */
	uint64_t next_check; /* CLOCK_MONOTONIC ns: next look at the peers while waiting */
	struct kaos_ipc_hdr *hdr;
	struct kaos_ipc_ep *self; /* NULL for KAOS_IPC_NONE */
	size_t map_size;
	/*
	 * Consumer: the deaths already reported, per producer record (its owner
	 * word and attach time when it was reported; 0: none). A reported death
	 * is that producer's end of stream: reporting it again on every empty
	 * ring would turn every later wait into a busy loop of -KAOS_EPEER.
	 */
	uint64_t dead_told[KAOS_IPC_MAX_PRODUCERS];
	uint64_t dead_told_attach[KAOS_IPC_MAX_PRODUCERS];
};

/* ------------------------------------------------------------------ errors */

static _Thread_local char ipc_err[160];

const char *kaos_ipc_strerror(int code)
{
	return code == KAOS_IPC_EOF ? "end of stream: all producers closed" : kaos_strerror(code);
}

const char *kaos_ipc_last_error(void)
{
	return ipc_err[0] ? ipc_err : "no error";
}

__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ipc_err, sizeof(ipc_err), fmt, ap);
	va_end(ap);
	return code;
}

static int fail_sys(const char *what)
{
	int e = errno;

	fail(-KAOS_ESYS, "%s: %s", what, strerror(e));
	errno = e;
	return -KAOS_ESYS;
}

/* ------------------------------------------------------------------ helpers */

static bool name_ok(const char *name)
{
	size_t n;

	if (!name || !name[0] || name[0] == '.')
		return false;
	n = strlen(name);
	if (n > KAOS_IPC_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int kaos_ipc_path(const char *name, char *buf, size_t size)
{
	const char *dir = getenv("KAOS_IPC_DIR");
	int n;

	if (!name_ok(name))
		return fail(-KAOS_EINVAL,
			    "bad channel name (1..%u of [A-Za-z0-9._-], no leading '.')",
			    KAOS_IPC_NAME_MAX);
	if (!dir || !dir[0])
		dir = IPC_DIR_DEFAULT;
	n = snprintf(buf, size, "%s/" IPC_FILE_PREFIX "%s", dir, name);
	if (!buf || n < 0 || (size_t)n >= size)
		return fail(-KAOS_EINVAL, "channel path too long");
	return 0;
}

/*
 * /proc/PID/stat: state (field 3) and start time in clock ticks (field 22).
 * The comm field may hold spaces and parentheses, so parse after the last ')'.
 * Returns 0, or -1 if the process does not exist, -2 if /proc cannot say.
 */
static int proc_stat(int32_t pid, char *state, uint64_t *start)
{
	char path[40], buf[1024];
	ssize_t n;
	int fd;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -1 : -2;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 && errno == ESRCH ? -1 : -2;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -2;
	p += 2;
	*state = *p;
	/* p is at field 3; field 22 is 19 spaces further */
	for (int f = 3; f < 22; f++) {
		p = strchr(p, ' ');
		if (!p)
			return -2;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return 0;
}

static uint64_t self_start_ticks(void)
{
	static _Atomic uint64_t cached_start;
	static _Atomic int32_t cached_pid;
	int32_t pid = (int32_t)getpid();
	char st;
	uint64_t start = 0;

	if (atomic_load(&cached_pid) == pid)
		return atomic_load(&cached_start);
	if (proc_stat(0, &st, &start) != 0)
		start = 0;
	atomic_store(&cached_start, start);
	atomic_store(&cached_pid, pid);
	return start;
}

/* Is the process that attached as (pid, start) still running? */
static bool owner_alive(int32_t pid, uint64_t start)
{
	char st = 0;
	uint64_t now_start = 0;
	int rc;

	if (pid <= 0)
		return false;
	if (pid == (int32_t)getpid())
		return true;
	rc = proc_stat(pid, &st, &now_start);
	if (rc < 0) /* gone, or /proc cannot show it (none, hidepid): ask the kernel directly */
		return !(kill(pid, 0) < 0 && errno == ESRCH);
	if (st == 'Z' || st == 'X' || st == 'x')
		return false; /* exited, not yet reaped */
	if (start && now_start != start)
		return false; /* the pid was reused by another process */
	return true;
}

static void ep_beat(struct kaos_ipc_ep *ep)
{
	atomic_store_explicit(&ep->beat_ns, clock_ns(CLOCK_MONOTONIC), memory_order_relaxed);
	atomic_fetch_add_explicit(&ep->beats, 1, memory_order_relaxed);
}

/*
 * The state of one record, judged now. A live-looking record whose owner is
 * gone is marked DEAD so that nobody has to look at /proc for it again.
 */
static uint32_t ep_state(struct kaos_ipc_ep *ep, uint64_t stale_ns, bool probe)
{
	uint64_t w = atomic_load_explicit(&ep->owner, memory_order_acquire);
	uint32_t st = KAOS_IPC_EP_STATE(w);

	if (st != KAOS_IPC_EP_ALIVE)
		return st <= KAOS_IPC_EP_DEAD ? st : KAOS_IPC_EP_DEAD;
	if (!probe)
		return st;
	if (!owner_alive(KAOS_IPC_EP_PID(w), atomic_load(&ep->start_ticks))) {
		uint64_t dead = KAOS_IPC_EP_WORD(KAOS_IPC_EP_PID(w), KAOS_IPC_EP_DEAD);
		atomic_compare_exchange_strong(&ep->owner, &w, dead);
		return KAOS_IPC_EP_DEAD;
	}
	if (stale_ns && KAOS_IPC_EP_PID(w) != (int32_t)getpid()) {
		uint64_t last = atomic_load_explicit(&ep->beat_ns, memory_order_relaxed);
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (now > last && now - last > stale_ns)
			return KAOS_IPC_EP_DEAD;
	}
	return KAOS_IPC_EP_ALIVE;
}

/* Which record states a claim may take (bit 1 << KAOS_IPC_EP_*; DEAD also means "ALIVE, owner
 * gone"). */
#define CLAIM_FREE   (1u << KAOS_IPC_EP_FREE)
#define CLAIM_CLOSED (1u << KAOS_IPC_EP_CLOSED)
#define CLAIM_DEAD   (1u << KAOS_IPC_EP_DEAD)

/* Claims the record if its state is one of `accept`; a live-looking one is judged by its pid. */
static bool ep_claim(struct kaos_ipc_ep *ep, unsigned accept)
{
	int32_t me = (int32_t)getpid();

	for (int tries = 0; tries < 16; tries++) {
		uint64_t w = atomic_load_explicit(&ep->owner, memory_order_acquire);
		uint32_t st = KAOS_IPC_EP_STATE(w);

		if (st == KAOS_IPC_EP_ALIVE) {
			/* ep_state marks a gone owner DEAD; then judge the record again */
			if (!(accept & CLAIM_DEAD) || ep_state(ep, 0, true) == KAOS_IPC_EP_ALIVE)
				return false;
			continue;
		}
		if (st > KAOS_IPC_EP_DEAD)
			st = KAOS_IPC_EP_DEAD; /* a damaged word: nobody owns it */
		if (!(accept & (1u << st)))
			return false;
		/* start time first: an observer that sees ALIVE with start 0 judges by pid only */
		atomic_store(&ep->start_ticks, 0);
		if (atomic_compare_exchange_strong(&ep->owner, &w,
						   KAOS_IPC_EP_WORD(me, KAOS_IPC_EP_ALIVE))) {
			atomic_store(&ep->start_ticks, self_start_ticks());
			atomic_store(&ep->attach_ns, clock_ns(CLOCK_MONOTONIC));
			ep_beat(ep);
			return true;
		}
	}
	return false;
}

static int attach(struct kaos_ipc *ch, enum kaos_ipc_role role)
{
	struct kaos_ipc_hdr *h = ch->hdr;

	ch->role = role;
	ch->pid = getpid();
	ch->slots = (uint8_t *)(ch->ring + 1);
	ch->mask = h->slots - 1;
	ch->slot_size = h->slot_size;
	if (role == KAOS_IPC_NONE)
		return 0;
	if (role == KAOS_IPC_CONSUMER) {
		if (!ep_claim(&h->consumer, CLAIM_FREE | CLAIM_CLOSED | CLAIM_DEAD))
			return fail(-KAOS_EINVAL, "channel %s already has a live consumer (pid %d)",
				    h->name, (int)KAOS_IPC_EP_PID(atomic_load(&h->consumer.owner)));
		ch->self = &h->consumer;
		ch->fast_recv = h->kind == KAOS_RING_SPSC;
		ch->cursor = ch->fast_recv ? &ch->ring->cons.pos : NULL;
		return 0;
	}
	if (role != KAOS_IPC_PRODUCER)
		return fail(-KAOS_EINVAL, "bad role %d", (int)role);
	/*
	 * The consumer's EOF means "every one of the `producers` records was
	 * attached once and all are CLOSED", so a record that closed cleanly is
	 * reused only when no record is left that was never attached: a producer
	 * that started after another had already finished must not take the
	 * finished one's record, or the last record would stay FREE and the
	 * consumer would wait for it forever. A dead producer's record is taken
	 * over first, so that a restarted producer replaces the one that died.
	 */
	static const unsigned order[] = {CLAIM_DEAD, CLAIM_FREE, CLAIM_CLOSED};
	for (size_t pass = 0; pass < sizeof(order) / sizeof(order[0]); pass++) {
		for (uint32_t i = 0; i < h->producers; i++) {
			if (ep_claim(&h->producer[i], order[pass])) {
				ch->self = &h->producer[i];
				ch->fast_send = h->kind == KAOS_RING_SPSC;
				ch->cursor = ch->fast_send ? &ch->ring->prod.pos : NULL;
				return 0;
			}
		}
	}
	return fail(-KAOS_EINVAL, "channel %s already has %u live producer(s)", h->name,
		    h->producers);
}

/* ------------------------------------------------------------------ create */

static uint32_t hdr_crc(const struct kaos_ipc_hdr *h)
{
	return kaos_crc32c(0, h, __builtin_offsetof(struct kaos_ipc_hdr, hdr_crc));
}

static int config_check(const struct kaos_ipc_config *cfg, size_t *ring_size)
{
	if (!cfg)
		return fail(-KAOS_EINVAL, "no config");
	if (cfg->kind != KAOS_RING_SPSC && cfg->kind != KAOS_RING_MPSC)
		return fail(-KAOS_EKIND, "IPC channels are SPSC or MPSC");
	if (cfg->role != KAOS_IPC_NONE && cfg->role != KAOS_IPC_PRODUCER &&
	    cfg->role != KAOS_IPC_CONSUMER)
		return fail(-KAOS_EINVAL, "bad role %d", (int)cfg->role);
	if (cfg->producers > KAOS_IPC_MAX_PRODUCERS ||
	    (cfg->kind == KAOS_RING_SPSC && cfg->producers > 1))
		return fail(-KAOS_EINVAL, "producers must be 1 (SPSC) or 1..%u (MPSC)",
			    KAOS_IPC_MAX_PRODUCERS);
	*ring_size = kaos_ring_mem_size(cfg->slots, cfg->slot_size);
	if (!*ring_size)
		return fail(-KAOS_EINVAL, "bad geometry: %u slots of %u bytes", cfg->slots,
			    cfg->slot_size);
	return 0;
}

/* Formats the whole file in the mapping at base: ring first, then the header. */
static int format(void *base, size_t ring_size, const char *name, const struct kaos_ipc_config *cfg)
{
	struct kaos_ipc_hdr *h = base;
	char ring_name[KAOS_RING_NAME_MAX];
	uint32_t id = cfg->ring_id;
	int rc;

	/* the same id in every process, away from the small ids rings number themselves with */
	if (!id)
		id = 0x80000000u | (kaos_crc32c(0, name, strlen(name)) & 0x7fffffffu);
	snprintf(ring_name, sizeof(ring_name), "ipc:%s", name);
	struct kaos_ring_config rc_cfg = {
		.kind = cfg->kind,
		.slots = cfg->slots,
		.slot_size = cfg->slot_size,
		.id = id,
		.name = ring_name,
		.wait = KAOS_WAIT_FAIL,
	};
	rc = kaos_ring_init_at((char *)base + KAOS_IPC_HDR_SIZE, ring_size, &rc_cfg);
	if (rc)
		return fail(rc, "ring init: %s", kaos_strerror(rc));

	memset(h, 0, KAOS_IPC_HDR_SIZE);
	h->magic = KAOS_IPC_MAGIC;
	h->version = KAOS_IPC_VERSION;
	h->hdr_size = KAOS_IPC_HDR_SIZE;
	h->file_size = KAOS_IPC_HDR_SIZE + ring_size;
	h->ring_size = ring_size;
	h->kind = (uint32_t)cfg->kind;
	h->slots = cfg->slots;
	h->slot_size = cfg->slot_size;
	h->ring_id = id;
	h->producers = cfg->producers ? cfg->producers : 1;
	h->creator_pid = (int32_t)getpid();
	h->created_ns = clock_ns(CLOCK_REALTIME);
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->hdr_crc = hdr_crc(h);
	return 0;
}

static struct kaos_ipc *handle_new(int fd, void *base, size_t size)
{
	/* cache-line aligned: the fast path's fields share one line */
	struct kaos_ipc *ch = aligned_alloc(64, (sizeof(*ch) + 63) & ~(size_t)63);

	if (!ch)
		return NULL;
	memset(ch, 0, sizeof(*ch));
	ch->fd = fd;
	ch->hdr = base;
	ch->ring = (struct kaos_ring *)((char *)base + KAOS_IPC_HDR_SIZE);
	ch->map_size = size;
	return ch;
}

/* Sizes, reserves (so a full /dev/shm fails here, not as SIGBUS later), maps, formats. */
static int build(int fd, const char *name, const struct kaos_ipc_config *cfg, size_t ring_size,
		 struct kaos_ipc **out)
{
	size_t size = KAOS_IPC_HDR_SIZE + ring_size;
	struct kaos_ipc *ch;
	void *base;
	int rc;

	if (ftruncate(fd, (off_t)size) < 0)
		return fail_sys("ftruncate");
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc && rc != EOPNOTSUPP && rc != EINVAL) {
		errno = rc;
		return fail_sys("reserving shared memory");
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return fail_sys("mmap");
	rc = format(base, ring_size, name, cfg);
	if (!rc) {
		ch = handle_new(fd, base, size);
		if (!ch)
			rc = fail(-KAOS_ENOMEM, "out of memory");
		else if ((rc = attach(ch, cfg->role)) != 0)
			free(ch);
		else
			*out = ch;
	}
	if (rc)
		munmap(base, size);
	return rc;
}

int kaos_ipc_create(const char *name, const struct kaos_ipc_config *cfg, struct kaos_ipc **out)
{
	char path[256], tmp[300];
	size_t ring_size;
	int fd, rc;

	if (!out)
		return fail(-KAOS_EINVAL, "no output handle");
	*out = NULL;
	if ((rc = kaos_ipc_path(name, path, sizeof(path))) || (rc = config_check(cfg, &ring_size)))
		return rc;
	/*
	 * Built under a temporary name and linked into place when complete, so
	 * an opener never sees a half-formatted file; link() also makes the
	 * create exclusive.
	 */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d.%llx", path, (int)getpid(),
		 (unsigned long long)clock_ns(CLOCK_MONOTONIC));
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  cfg->mode ? (mode_t)cfg->mode : 0600);
	if (fd < 0)
		return fail_sys(tmp);
	rc = build(fd, name, cfg, ring_size, out);
	if (!rc && link(tmp, path) < 0) {
		struct kaos_ipc *ch = *out;

		rc = fail_sys(path);
		*out = NULL;
		ch->fd = -1; /* closed below */
		ch->pid = 0; /* nobody will ever see this file: skip detaching */
		kaos_ipc_close(ch);
	}
	int saved = errno;
	unlink(tmp);
	if (rc)
		close(fd);
	errno = saved;
	return rc;
}

int kaos_ipc_create_memfd(const char *name, const struct kaos_ipc_config *cfg,
			  struct kaos_ipc **out)
{
	char label[KAOS_IPC_NAME_MAX + 16];
	size_t ring_size;
	int fd, rc;

	if (!out)
		return fail(-KAOS_EINVAL, "no output handle");
	*out = NULL;
	if (!name_ok(name))
		return fail(-KAOS_EINVAL, "bad channel name");
	if ((rc = config_check(cfg, &ring_size)))
		return rc;
	snprintf(label, sizeof(label), "kaos-ipc:%s", name);
	fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fail_sys("memfd_create");
	rc = build(fd, name, cfg, ring_size, out);
	if (rc) {
		close(fd);
		return rc;
	}
	/* The size can never change again: a peer that maps it cannot be SIGBUSed by a shrink. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		rc = fail_sys("sealing memfd");
		kaos_ipc_close(*out);
		*out = NULL;
	}
	return rc;
}

/* ------------------------------------------------------------------ open */

/* Everything about the file is checked before the ring block is touched. */
static int validate_and_map(int fd, void **base_out, size_t *size_out)
{
	struct kaos_ipc_hdr h;
	struct stat st;
	ssize_t n;
	void *base;
	int rc;

	if (fstat(fd, &st) < 0)
		return fail_sys("fstat");
	if (!S_ISREG(st.st_mode))
		return fail(-KAOS_ECORRUPT, "not a regular file");
	if (st.st_size < (off_t)KAOS_IPC_HDR_SIZE)
		return fail(-KAOS_ECORRUPT, "file is %lld bytes, smaller than the %u-byte header",
			    (long long)st.st_size, KAOS_IPC_HDR_SIZE);
	n = pread(fd, &h, sizeof(h), 0);
	if (n != (ssize_t)sizeof(h))
		return n < 0 ? fail_sys("reading header") : fail(-KAOS_ECORRUPT, "short header");
	if (h.magic != KAOS_IPC_MAGIC)
		return fail(-KAOS_ECORRUPT, "bad magic: not a kaos IPC channel");
	if (h.version != KAOS_IPC_VERSION)
		return fail(-KAOS_EVERSION, "layout version %u, this libkaos speaks %u", h.version,
			    KAOS_IPC_VERSION);
	if (h.hdr_crc != hdr_crc(&h))
		return fail(-KAOS_ECORRUPT, "header checksum mismatch");
	if (h.hdr_size != KAOS_IPC_HDR_SIZE)
		return fail(-KAOS_ECORRUPT, "header size %u, expected %u", h.hdr_size,
			    KAOS_IPC_HDR_SIZE);
	if (h.kind != KAOS_RING_SPSC && h.kind != KAOS_RING_MPSC)
		return fail(-KAOS_ECORRUPT, "ring kind %u is not SPSC or MPSC", h.kind);
	if (h.producers < 1 || h.producers > KAOS_IPC_MAX_PRODUCERS ||
	    (h.kind == KAOS_RING_SPSC && h.producers != 1))
		return fail(-KAOS_ECORRUPT, "bad producer count %u", h.producers);
	if (memchr(h.name, 0, sizeof(h.name)) == NULL)
		return fail(-KAOS_ECORRUPT, "unterminated name");
	size_t ring_size = kaos_ring_mem_size(h.slots, h.slot_size);
	if (!ring_size || h.ring_size != ring_size)
		return fail(-KAOS_ECORRUPT,
			    "bad geometry: %u slots of %u bytes, ring of %llu bytes", h.slots,
			    h.slot_size, (unsigned long long)h.ring_size);
	if (h.file_size != (uint64_t)KAOS_IPC_HDR_SIZE + ring_size)
		return fail(-KAOS_ECORRUPT, "header says %llu bytes, geometry needs %llu",
			    (unsigned long long)h.file_size,
			    (unsigned long long)(KAOS_IPC_HDR_SIZE + ring_size));
	if ((uint64_t)st.st_size != h.file_size)
		return fail(-KAOS_ECORRUPT, "file is %lld bytes, header says %llu",
			    (long long)st.st_size, (unsigned long long)h.file_size);

	base = mmap(NULL, h.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return fail_sys("mmap");
	struct kaos_ring *r = (struct kaos_ring *)((char *)base + KAOS_IPC_HDR_SIZE);
	rc = kaos_ring_validate_at(r, ring_size);
	if (rc) {
		fail(rc, "ring block refused: %s", kaos_strerror(rc));
	} else if ((uint32_t)kaos_ring_kind(r) != h.kind || kaos_ring_capacity(r) != h.slots ||
		   kaos_ring_slot_size(r) != h.slot_size || kaos_ring_id(r) != h.ring_id) {
		rc = fail(-KAOS_ECORRUPT, "ring block does not match the header");
	}
	if (rc) {
		munmap(base, h.file_size);
		return rc;
	}
	*base_out = base;
	*size_out = h.file_size;
	return 0;
}

static int open_common(int fd, enum kaos_ipc_role role, struct kaos_ipc **out)
{
	struct kaos_ipc *ch;
	size_t size;
	void *base;
	int rc;

	if (role != KAOS_IPC_NONE && role != KAOS_IPC_PRODUCER && role != KAOS_IPC_CONSUMER)
		return fail(-KAOS_EINVAL, "bad role %d", (int)role);
	rc = validate_and_map(fd, &base, &size);
	if (rc)
		return rc;
	ch = handle_new(fd, base, size);
	if (!ch) {
		munmap(base, size);
		return fail(-KAOS_ENOMEM, "out of memory");
	}
	rc = attach(ch, role);
	if (rc) {
		munmap(base, size);
		free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int kaos_ipc_open(const char *name, enum kaos_ipc_role role, struct kaos_ipc **out)
{
	char path[256];
	int fd, rc;

	if (!out)
		return fail(-KAOS_EINVAL, "no output handle");
	*out = NULL;
	if ((rc = kaos_ipc_path(name, path, sizeof(path))))
		return rc;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail_sys(path);
	rc = open_common(fd, role, out);
	if (rc) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return rc;
}

int kaos_ipc_open_fd(int fd, enum kaos_ipc_role role, struct kaos_ipc **out)
{
	int own, rc;

	if (!out)
		return fail(-KAOS_EINVAL, "no output handle");
	*out = NULL;
	if (fd < 0)
		return fail(-KAOS_EINVAL, "bad file descriptor");
	own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (own < 0)
		return fail_sys("dup");
	rc = open_common(own, role, out);
	if (rc)
		close(own);
	return rc;
}

int kaos_ipc_unlink(const char *name)
{
	char path[256];
	int rc = kaos_ipc_path(name, path, sizeof(path));

	if (rc)
		return rc;
	if (unlink(path) < 0)
		return fail_sys(path);
	return 0;
}

void kaos_ipc_close(struct kaos_ipc *ch)
{
	if (!ch)
		return;
	/* only the attaching process detaches; an inherited copy after fork just unmaps */
	if (ch->pid == getpid()) {
		if (ch->self) {
			uint64_t w = KAOS_IPC_EP_WORD(ch->pid, KAOS_IPC_EP_ALIVE);
			/* release: everything published before is visible to whoever sees CLOSED */
			atomic_compare_exchange_strong_explicit(
				&ch->self->owner, &w, KAOS_IPC_EP_WORD(ch->pid, KAOS_IPC_EP_CLOSED),
				memory_order_acq_rel, memory_order_relaxed);
		}
		kaos_ring_destroy(ch->ring); /* placed: fires ring_close, frees nothing */
	}
	munmap(ch->hdr, ch->map_size);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch);
}

/* ------------------------------------------------------------------ fd passing */

int kaos_ipc_fd(const struct kaos_ipc *ch)
{
	return ch ? ch->fd : -1;
}

int kaos_ipc_send_fd(int sock, int fd)
{
	char byte = 'K';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;

	if (sock < 0 || fd < 0)
		return fail(-KAOS_EINVAL, "bad descriptor");
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return fail_sys("sendmsg(SCM_RIGHTS)");
	}
}

int kaos_ipc_recv_fd(int sock, int *fd)
{
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	ssize_t n;

	if (sock < 0 || !fd)
		return fail(-KAOS_EINVAL, "bad argument");
	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail_sys("recvmsg(SCM_RIGHTS)");
	if (n == 0)
		return fail(-KAOS_EPEER, "socket closed before a descriptor arrived");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int))) {
			memcpy(fd, CMSG_DATA(c), sizeof(int));
			if (msg.msg_flags & MSG_CTRUNC) {
				close(*fd);
				*fd = -1;
				break;
			}
			return 0;
		}
	}
	return fail(-KAOS_EINVAL, "message carried no descriptor");
}

/* ------------------------------------------------------------------ peers */

/*
 * The peers of this handle (see enum kaos_ipc_peer_state). Without probe,
 * records are taken at their word (no /proc reads): a death is then seen at
 * the next probing call, a clean close or a known death at once.
 */
static enum kaos_ipc_peer_state peers(struct kaos_ipc *ch, uint64_t stale, bool probe)
{
	bool any = false, alive = false, dead = false, all_came = true;

	if (ch->role == KAOS_IPC_PRODUCER) {
		uint32_t st = ep_state(&ch->hdr->consumer, stale, probe);
		return st == KAOS_IPC_EP_FREE	  ? KAOS_IPC_PEER_NONE
		       : st == KAOS_IPC_EP_ALIVE  ? KAOS_IPC_PEER_ALIVE
		       : st == KAOS_IPC_EP_CLOSED ? KAOS_IPC_PEER_CLOSED
						  : KAOS_IPC_PEER_DEAD;
	}
	/* consumer (or observer): the producers; CLOSED only once every expected one came and went
	 */
	for (uint32_t i = 0; i < ch->hdr->producers; i++) {
		uint32_t st = ep_state(&ch->hdr->producer[i], stale, probe);
		if (st == KAOS_IPC_EP_FREE) {
			all_came = false;
			continue;
		}
		any = true;
		alive |= st == KAOS_IPC_EP_ALIVE;
		dead |= st == KAOS_IPC_EP_DEAD;
	}
	if (dead)
		return KAOS_IPC_PEER_DEAD;
	if (alive)
		return KAOS_IPC_PEER_ALIVE;
	if (!any)
		return KAOS_IPC_PEER_NONE;
	return all_came ? KAOS_IPC_PEER_CLOSED : KAOS_IPC_PEER_ALIVE;
}

enum kaos_ipc_peer_state kaos_ipc_peer_state(struct kaos_ipc *ch, int stale_ms)
{
	if (!ch)
		return KAOS_IPC_PEER_NONE;
	return peers(ch, stale_ms > 0 ? (uint64_t)stale_ms * 1000000u : 0, true);
}

int kaos_ipc_peer_alive(struct kaos_ipc *ch, int stale_ms)
{
	return kaos_ipc_peer_state(ch, stale_ms) == KAOS_IPC_PEER_ALIVE;
}

void kaos_ipc_heartbeat(struct kaos_ipc *ch)
{
	if (ch && ch->self)
		ep_beat(ch->self);
}

/* ------------------------------------------------------------------ waiting */

struct waiter {
	uint64_t start, deadline; /* 0 until the first clock read */
	uint64_t timeout_ns;
	uint32_t rounds;
	bool forever;
};

/*
 * No clock read here: most waits of a busy channel end within the first
 * spins, so the clock (and with it the deadline) starts at the first check,
 * 64 pauses in (a few microseconds at most).
 */
static void waiter_init(struct waiter *w, int timeout_ms)
{
	w->start = 0;
	w->deadline = 0;
	w->forever = timeout_ms < 0;
	w->timeout_ns = timeout_ms > 0 ? (uint64_t)timeout_ms * 1000000u : 0;
	w->rounds = 0;
}

static uint64_t waiter_now(struct waiter *w)
{
	uint64_t now = clock_ns(CLOCK_MONOTONIC);

	if (!w->start) {
		w->start = now;
		w->deadline = now + w->timeout_ns;
	}
	return now;
}

enum wait_verdict { WAIT_AGAIN, WAIT_TIMEOUT, WAIT_PEER_GONE, WAIT_EOF, WAIT_STUCK };

/* Whether this consumer already reported the death now recorded in producer record i. */
static bool death_told(const struct kaos_ipc *ch, uint32_t i)
{
	struct kaos_ipc_ep *ep = &ch->hdr->producer[i];

	return ch->dead_told[i] == atomic_load_explicit(&ep->owner, memory_order_acquire) &&
	       ch->dead_told_attach[i] == atomic_load(&ep->attach_ns);
}

/*
 * A consumer's view of its producers: a death not yet reported is news
 * (WAIT_PEER_GONE); a reported death counts as that producer's end, like a
 * clean close. EOF once every expected producer attached and each closed or
 * died-and-was-reported; a live or never-attached producer keeps it waiting.
 * If they are all done but the ring still counts messages that cannot be
 * read, a dead producer claimed a slot and never published it (WAIT_STUCK).
 */
static enum wait_verdict consumer_verdict(struct kaos_ipc *ch, bool probe)
{
	bool waiting = false;

	for (uint32_t i = 0; i < ch->hdr->producers; i++) {
		uint32_t st = ep_state(&ch->hdr->producer[i], 0, probe);
		if (st == KAOS_IPC_EP_DEAD && !death_told(ch, i))
			return WAIT_PEER_GONE;
		waiting |= st == KAOS_IPC_EP_FREE || st == KAOS_IPC_EP_ALIVE;
	}
	if (waiting)
		return WAIT_AGAIN;
	return kaos_ring_count(ch->ring) ? WAIT_STUCK : WAIT_EOF;
}

/* Marks the first unreported death as told: the consumer is returning -KAOS_EPEER for it. */
static void death_tell(struct kaos_ipc *ch)
{
	for (uint32_t i = 0; i < ch->hdr->producers; i++) {
		struct kaos_ipc_ep *ep = &ch->hdr->producer[i];
		uint64_t w = atomic_load_explicit(&ep->owner, memory_order_acquire);
		if (KAOS_IPC_EP_STATE(w) == KAOS_IPC_EP_DEAD && !death_told(ch, i)) {
			ch->dead_told[i] = w;
			ch->dead_told_attach[i] = atomic_load(&ep->attach_ns);
			return;
		}
	}
}

/*
 * The peers' records; their pids at most once per PEER_CHECK_NS per handle
 * (a /proc read costs microseconds). A consumer's peers: see
 * consumer_verdict(); a producer's are gone when the consumer died or
 * closed. Also this endpoint's heartbeat while it waits.
 */
static enum wait_verdict check_peers(struct kaos_ipc *ch, uint64_t now)
{
	bool probe = now >= ch->next_check;

	if (probe) {
		ch->next_check = now + PEER_CHECK_NS;
		ep_beat(ch->self);
	}
	if (ch->role == KAOS_IPC_CONSUMER)
		return consumer_verdict(ch, probe);
	switch (peers(ch, 0, probe)) {
	case KAOS_IPC_PEER_DEAD:
	case KAOS_IPC_PEER_CLOSED:
		return WAIT_PEER_GONE;
	default:
		return WAIT_AGAIN;
	}
}

/* What a receive that found the ring empty ends with, after verdict v (not WAIT_AGAIN). */
static int recv_verdict(struct kaos_ipc *ch, enum wait_verdict v, int empty_code)
{
	switch (v) {
	case WAIT_TIMEOUT:
		return empty_code;
	case WAIT_EOF:
		return KAOS_IPC_EOF;
	case WAIT_STUCK:
		return fail(-KAOS_EPEER, "%s is stuck at a slot a dead producer never published",
			    ch->hdr->name);
	default:
		death_tell(ch);
		return fail(-KAOS_EPEER, "a producer of %s died", ch->hdr->name);
	}
}

/* One backoff step (spin, then yield, then sleep), then the peers and the clock. */
static enum wait_verdict wait_step(struct kaos_ipc *ch, struct waiter *w)
{
	enum wait_verdict v;
	uint64_t now;

	if (w->rounds < SPIN_ROUNDS) {
		w->rounds++;
		cpu_relax();
		if (w->rounds & 63)
			return WAIT_AGAIN;
	} else if (waiter_now(w) - w->start < YIELD_NS) {
		sched_yield();
	} else {
		struct timespec ts = {0, SLEEP_NS};
		nanosleep(&ts, NULL);
	}
	now = waiter_now(w);
	v = check_peers(ch, now);
	if (v != WAIT_AGAIN)
		return v;
	if (!w->forever && now >= w->deadline)
		return WAIT_TIMEOUT;
	return WAIT_AGAIN;
}

static __attribute__((noinline, cold)) void op_beat(struct kaos_ipc *ch)
{
	ep_beat(ch->self);
}

/*
 * n operations done: beat whenever the count passes a multiple of
 * BEAT_EVERY_OPS. An SPSC handle counts with its own ring cursor (so that
 * its fast path keeps no counter: see beat_due()), an MPSC handle with ops.
 */
static inline void op_done(struct kaos_ipc *ch, uint32_t n)
{
	uint64_t after, before;

	if (ch->cursor) {
		after = atomic_load_explicit(ch->cursor, memory_order_relaxed);
		before = after - n;
	} else {
		before = ch->ops;
		after = ch->ops += n;
	}
	if (__builtin_expect(((before ^ after) & ~(uint64_t)(BEAT_EVERY_OPS - 1)) != 0, 0))
		op_beat(ch);
}

static int role_check(struct kaos_ipc *ch, enum kaos_ipc_role want)
{
	if (!ch)
		return fail(-KAOS_EINVAL, "no channel");
	if (ch->role != want)
		return fail(-KAOS_EINVAL, "handle is not attached as a %s",
			    want == KAOS_IPC_PRODUCER ? "producer" : "consumer");
	return 0;
}

/*
 * A sender found the ring full: waits until it has room (0), or returns the
 * code the send should end with. Room is judged from the cursors so that a
 * waiting sender does not count a backpressure episode per retry.
 */
static int wait_room(struct kaos_ipc *ch, struct waiter *w)
{
	struct kaos_ring *r = ch->ring;

	for (;;) {
		enum wait_verdict v = wait_step(ch, w);
		if (kaos_ring_count(r) < kaos_ring_capacity(r))
			return 0;
		if (v == WAIT_TIMEOUT)
			return -KAOS_EFULL;
		if (v != WAIT_AGAIN)
			return fail(-KAOS_EPEER, "consumer of %s is gone", ch->hdr->name);
	}
}

/*
 * A receiver found the ring empty: 0 means try again. The ring is always
 * tried between steps (not just its count: a producer that died between
 * claiming and publishing an MPSC slot leaves the count non-zero forever),
 * and once more after a peer event, so what was published before a
 * producer closed or died is delivered first.
 */
static int wait_msgs(struct kaos_ipc *ch, struct waiter *w, bool *final)
{
	enum wait_verdict v = wait_step(ch, w);

	if (v == WAIT_AGAIN)
		return 0;
	if (!*final) {
		*final = true; /* one more try before reporting */
		return 0;
	}
	return recv_verdict(ch, v, -KAOS_EEMPTY);
}

/* timeout 0: no waiting, but a consumer that polls must still learn about EOF and deaths. */
static int poll_verdict(struct kaos_ipc *ch, int empty_code)
{
	enum wait_verdict v = check_peers(ch, clock_ns(CLOCK_MONOTONIC));

	if (v == WAIT_AGAIN)
		return empty_code;
	if (ch->role == KAOS_IPC_CONSUMER)
		return recv_verdict(ch, v, empty_code);
	return fail(-KAOS_EPEER, "consumer of %s is gone", ch->hdr->name);
}

/* The ring was full: wait for room (or the timeout, or the consumer's end) and retry. */
static __attribute__((noinline, cold)) int send_slow(struct kaos_ipc *ch, const void *msg,
						     int timeout_ms, int rc)
{
	struct waiter w;

	if (!ch || ch->role != KAOS_IPC_PRODUCER)
		return role_check(ch, KAOS_IPC_PRODUCER);
	if (rc != -KAOS_EFULL)
		return rc;
	if (timeout_ms == 0)
		return poll_verdict(ch, -KAOS_EFULL);
	waiter_init(&w, timeout_ms);
	for (;;) {
		rc = wait_room(ch, &w);
		if (rc)
			return rc;
		rc = kaos_ring_send(ch->ring, msg);
		if (rc != -KAOS_EFULL) {
			if (!rc)
				op_done(ch, 1);
			return rc;
		}
	}
}

/* One message through the ring calls, with the heartbeat count; the waiting is in send_slow. */
static __attribute__((noinline)) int send_one(struct kaos_ipc *ch, const void *msg, int timeout_ms)
{
	int rc = -KAOS_EINVAL;

	if (__builtin_expect(ch && ch->role == KAOS_IPC_PRODUCER, 1)) {
		rc = kaos_ring_send(ch->ring, msg);
		if (__builtin_expect(rc == 0, 1)) {
			op_done(ch, 1);
			return 0;
		}
	}
	return send_slow(ch, msg, timeout_ms, rc);
}

/* Messages other than 8 bytes (16..128, a multiple of 8): out of line, word by word. */
static __attribute__((noinline)) void slot_copy_words(void *restrict dst, const void *restrict src,
						      uint32_t size)
{
	for (uint32_t i = 0; i < size; i += 8)
		memcpy((uint8_t *)dst + i, (const uint8_t *)src + i, 8);
}

/* The slot of ring position pos; 8-byte slots need no multiply. */
static inline uint8_t *slot_of(const struct kaos_ipc *ch, uint64_t pos)
{
	size_t idx = (size_t)(pos & ch->mask);

	if (__builtin_expect(ch->slot_size == 8, 1))
		return ch->slots + idx * 8;
	return ch->slots + idx * ch->slot_size;
}

/*
 * SPSC handles beat when their own cursor reaches a multiple of
 * BEAT_EVERY_OPS: the fast path hands that one message to the general path
 * (send_one / recv_one), which beats after it moved it.
 */
static inline bool beat_due(uint64_t pos)
{
	return ((pos + 1) & (BEAT_EVERY_OPS - 1)) == 0;
}

/* A message is 8..128 bytes, a multiple of 8 (checked at create and open). */
static inline void slot_copy(void *restrict dst, const void *restrict src, uint32_t size)
{
	if (__builtin_expect(size == 8, 1))
		memcpy(dst, src, 8);
	else
		slot_copy_words(dst, src, size);
}

/*
 * SPSC fast path: the ring's own headline path (one compare of the cursor
 * against the producer's `limit`, then copy and a release store), inlined
 * so that a channel send costs no call and no stack frame. `limit` is
 * min(probe_at, room the cached consumer cursor allows), so every message
 * that must run the probe gate, and every time the ring looks full, goes
 * to kaos_ring_send() as before: probes fire with the channel's ring id and
 * counts stay exact. Every BEAT_EVERY_OPS-th operation also goes there, for
 * the heartbeat.
 */
int kaos_ipc_send(struct kaos_ipc *ch, const void *msg, int timeout_ms)
{
	if (__builtin_expect(ch && ch->fast_send && msg, 1)) {
		struct kaos_ring *r = ch->ring;
		uint64_t pos = atomic_load_explicit(&r->prod.pos, memory_order_relaxed);

		if (__builtin_expect(pos < r->prod.limit && !beat_due(pos), 1)) {
			slot_copy(slot_of(ch, pos), msg, ch->slot_size);
			atomic_store_explicit(&r->prod.pos, pos + 1, memory_order_release);
			return 0;
		}
	}
	return send_one(ch, msg, timeout_ms);
}

int kaos_ipc_send_batch(struct kaos_ipc *ch, const void *msgs, uint32_t n, int timeout_ms)
{
	const char *p = msgs;
	uint32_t sent = 0, size;
	struct waiter w;
	int rc;

	if (!ch || ch->role != KAOS_IPC_PRODUCER)
		return role_check(ch, KAOS_IPC_PRODUCER);
	size = ch->slot_size;
	bool waiting = false; /* the clock is read only once the ring was full */
	while (sent < n) {
		rc = kaos_ring_send_batch(ch->ring, p + (size_t)sent * size, n - sent);
		if (rc < 0)
			return sent ? (int)sent : rc;
		if (rc > 0) {
			sent += (uint32_t)rc;
			op_done(ch, (uint32_t)rc);
			continue;
		}
		if (timeout_ms == 0)
			return sent ? (int)sent : poll_verdict(ch, -KAOS_EFULL);
		if (!waiting) {
			waiter_init(&w, timeout_ms);
			waiting = true;
		}
		rc = wait_room(ch, &w);
		if (rc)
			return sent ? (int)sent : rc;
	}
	return (int)sent;
}

enum recv_op { RECV_ONE, RECV_BATCH, RECV_PEEK };

/* One receive attempt: > 0 messages got, 0 none, < 0 error. */
static inline int recv_try(struct kaos_ipc *ch, enum recv_op op, void *buf, uint32_t max,
			   const void **slots)
{
	int rc;

	switch (op) {
	case RECV_ONE:
		rc = kaos_ring_recv(ch->ring, buf);
		if (rc == 0) {
			op_done(ch, 1);
			return 1;
		}
		return rc == -KAOS_EEMPTY ? 0 : rc;
	case RECV_BATCH:
		rc = kaos_ring_recv_batch(ch->ring, buf, max);
		if (rc > 0)
			op_done(ch, (uint32_t)rc);
		return rc;
	default:
		return kaos_ring_peek(ch->ring, max, slots);
	}
}

/* The ring was empty: wait, trying it between steps, until messages, a timeout or a peer event. */
static int recv_wait(struct kaos_ipc *ch, int timeout_ms, enum recv_op op, void *buf, uint32_t max,
		     const void **slots)
{
	struct waiter w;
	bool final = false;
	int rc;

	if (timeout_ms == 0) {
		return poll_verdict(ch, -KAOS_EEMPTY);
	}
	waiter_init(&w, timeout_ms);
	for (;;) {
		rc = wait_msgs(ch, &w, &final);
		if (rc)
			return rc;
		rc = recv_try(ch, op, buf, max, slots);
		if (rc != 0)
			return rc;
	}
}

static __attribute__((noinline, cold)) int recv_slow(struct kaos_ipc *ch, void *msg, int timeout_ms,
						     int rc)
{
	if (!ch || ch->role != KAOS_IPC_CONSUMER)
		return role_check(ch, KAOS_IPC_CONSUMER);
	if (rc != -KAOS_EEMPTY)
		return rc;
	rc = recv_wait(ch, timeout_ms, RECV_ONE, msg, 1, NULL);
	return rc > 0 ? 0 : rc;
}

static __attribute__((noinline)) int recv_one(struct kaos_ipc *ch, void *msg, int timeout_ms)
{
	int rc = -KAOS_EINVAL;

	if (__builtin_expect(ch && ch->role == KAOS_IPC_CONSUMER, 1)) {
		rc = kaos_ring_recv(ch->ring, msg);
		if (__builtin_expect(rc == 0, 1)) {
			op_done(ch, 1);
			return 0;
		}
	}
	return recv_slow(ch, msg, timeout_ms, rc);
}

/*
 * SPSC fast path, as kaos_ipc_send: the consumer's `limit` is min(probe_at,
 * the producer cursor it last loaded with acquire), so the slots below it
 * are published and visible; anything else goes to kaos_ring_recv().
 */
int kaos_ipc_recv(struct kaos_ipc *ch, void *msg, int timeout_ms)
{
	if (__builtin_expect(ch && ch->fast_recv && msg, 1)) {
		struct kaos_ring *r = ch->ring;
		uint64_t pos = atomic_load_explicit(&r->cons.pos, memory_order_relaxed);

		if (__builtin_expect(pos < r->cons.limit && !beat_due(pos), 1)) {
			slot_copy(msg, slot_of(ch, pos), ch->slot_size);
			atomic_store_explicit(&r->cons.pos, pos + 1, memory_order_release);
			return 0;
		}
	}
	return recv_one(ch, msg, timeout_ms);
}

int kaos_ipc_recv_batch(struct kaos_ipc *ch, void *msgs, uint32_t max, int timeout_ms)
{
	int rc;

	if (!ch || ch->role != KAOS_IPC_CONSUMER)
		return role_check(ch, KAOS_IPC_CONSUMER);
	if (!max)
		return 0;
	rc = recv_try(ch, RECV_BATCH, msgs, max, NULL);
	if (rc == 0)
		rc = recv_wait(ch, timeout_ms, RECV_BATCH, msgs, max, NULL);
	return rc;
}

int kaos_ipc_peek(struct kaos_ipc *ch, uint32_t max, const void **slots, int timeout_ms)
{
	int rc;

	if (!ch || ch->role != KAOS_IPC_CONSUMER)
		return role_check(ch, KAOS_IPC_CONSUMER);
	if (!max)
		return 0;
	rc = recv_try(ch, RECV_PEEK, NULL, max, slots);
	if (rc == 0)
		rc = recv_wait(ch, timeout_ms, RECV_PEEK, NULL, max, slots);
	return rc;
}

void kaos_ipc_release(struct kaos_ipc *ch, uint32_t n)
{
	if (!ch || ch->role != KAOS_IPC_CONSUMER || !n)
		return;
	kaos_ring_release(ch->ring, n);
	op_done(ch, n);
}

/* ------------------------------------------------------------------ info */

struct kaos_ring *kaos_ipc_ring(struct kaos_ipc *ch)
{
	return ch ? ch->ring : NULL;
}

void kaos_ipc_info(const struct kaos_ipc *ch, struct kaos_ipc_info *out)
{
	const struct kaos_ipc_hdr *h;

	if (!ch || !out)
		return;
	h = ch->hdr;
	memset(out, 0, sizeof(*out));
	out->version = h->version;
	out->kind = (enum kaos_ring_kind)h->kind;
	out->slots = h->slots;
	out->slot_size = h->slot_size;
	out->ring_id = h->ring_id;
	out->producers = h->producers;
	out->creator_pid = h->creator_pid;
	out->file_size = h->file_size;
	size_t n = strnlen(h->name, KAOS_IPC_NAME_MAX);
	memcpy(out->name, h->name, n);
	out->name[n] = 0;
}

static void ep_info(struct kaos_ipc_ep *ep, enum kaos_ipc_role role, uint32_t index,
		    struct kaos_ipc_endpoint_info *o)
{
	uint32_t st = ep_state(ep, 0, true);
	uint64_t w = atomic_load(&ep->owner), now = clock_ns(CLOCK_MONOTONIC);
	uint64_t last = atomic_load(&ep->beat_ns);

	o->role = role;
	o->index = index;
	o->state = st == KAOS_IPC_EP_FREE     ? KAOS_IPC_PEER_NONE
		   : st == KAOS_IPC_EP_ALIVE  ? KAOS_IPC_PEER_ALIVE
		   : st == KAOS_IPC_EP_CLOSED ? KAOS_IPC_PEER_CLOSED
					      : KAOS_IPC_PEER_DEAD;
	o->pid = KAOS_IPC_EP_PID(w);
	o->heartbeats = atomic_load(&ep->beats);
	o->heartbeat_age_ns = last && now > last ? now - last : 0;
}

int kaos_ipc_endpoints(struct kaos_ipc *ch, struct kaos_ipc_endpoint_info *out, uint32_t max)
{
	uint32_t n = 0;

	if (!ch || !out)
		return fail(-KAOS_EINVAL, "bad argument");
	if (n < max)
		ep_info(&ch->hdr->consumer, KAOS_IPC_CONSUMER, 0, &out[n++]);
	for (uint32_t i = 0; i < ch->hdr->producers && n < max; i++)
		ep_info(&ch->hdr->producer[i], KAOS_IPC_PRODUCER, i, &out[n++]);
	return (int)n;
}
