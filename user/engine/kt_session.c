// SPDX-License-Identifier: MIT
#include "kt_session.h"
#include "kt_percpu.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kaos/probe_batch.h"
#include "kaos/probes.h"
#include "bpf/kaos_trace.skel.h"
#include "kt_bootcache.h"
#include "kt_control.h"
#include "kt_elf.h"
#include "kt_features.h"
#include "kt_folded.h"
#include "kt_phase.h"
#include "kt_waits.h"
#include "kt_sym.h"
#include "kt_target.h"

const char *const kt_session_probe_names[KT_SESSION_NPROBES] = {"send", "recv", "backpressure",
								"retransmit", "ring_close"};

/* ---------------------------------------------------------------- libbpf log */

/* Keeps libbpf's last lines so a load failure can show the verifier's verdict. */
static char bpf_log_tail[8][512];
static int bpf_log_n;
static void (*bpf_log_verbose)(const char *line); /* the driver's, for -v */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG && !bpf_log_verbose)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (bpf_log_verbose)
		bpf_log_verbose(line);
	snprintf(bpf_log_tail[bpf_log_n++ % 8], sizeof(bpf_log_tail[0]), "%s", line);
	return 0;
}

void kt_session_print_bpf_log(FILE *f)
{
	int first = bpf_log_n > 8 ? bpf_log_n - 8 : 0;

	for (int i = first; i < bpf_log_n; i++)
		fprintf(f, "  | %s", bpf_log_tail[i % 8]);
}

/* ---------------------------------------------------------------- events */

static int handle_event(void *ctx, void *data, size_t size)
{
	struct kt_session *s = ctx;
	const struct kt_event *e = data;

	if (size < KT_EVENT_BASE_SIZE || e->pid == (uint32_t)s->self)
		return 0; /* calibration events of our own */
	uint64_t dropped = s->agg.ring_filter ? s->agg.ring_filter->dropped : 0;

	struct kt_ring_agg *ring = kt_agg_add(&s->agg, e, size);
	if (s->agg.ring_filter && s->agg.ring_filter->dropped != dropped)
		return 0; /* -r NAME left its ring out: no stack, timeline slice or alert either */
	/* every event, stack or not: a send's own time needs its waits */
	uint64_t latency = s->waits ? kt_waits_weight(s->waits, e) : e->dur_ns;
	if (e->type == KT_EV_EXEC)
		return 0; /* not a probe: only splits the process into images */
	if (s->folded && e->stack_sz && size >= sizeof(*e)) {
		struct kt_proc *p = kt_agg_proc(&s->agg, e->pid);

		/* Cache its maps while it lives: stacks are symbolized at the end. */
		if (p && !p->sym_added) {
			kt_sym_add_pid(s->sym, (pid_t)e->pid);
			p->sym_added = true;
		}
		uint32_t nframes = e->stack_sz / sizeof(e->stack[0]);
		uint64_t w = s->weight_latency ? latency : 1;

		if (nframes > KT_MAX_STACK)
			nframes = KT_MAX_STACK;
		const char *ev = s->event_name ? s->event_name(s->event_name_ctx, e)
					       : kt_event_type_name(e->type);

		char ring_label[KT_NAME_LEN];

		/* pprof's ring label: its name, its id until the name is known */
		if (ring && ring->name[0])
			snprintf(ring_label, sizeof(ring_label), "%s", ring->name);
		else if (ring)
			snprintf(ring_label, sizeof(ring_label), "%u", ring->ring_id);
		kt_folded_add_probe_ring(s->folded, e->pid, p ? p->comm : NULL, ev,
					 ring ? ring_label : NULL, (const uint64_t *)e->stack,
					 nframes, w);
	}
	for (int i = 0; i < s->nhooks; i++)
		s->hooks[i].fn(s->hooks[i].ctx, e, size);
	return 0;
}

int kt_session_add_hook(struct kt_session *s, kt_session_event_fn fn, void *ctx)
{
	if (s->nhooks == KT_SESSION_MAX_HOOKS)
		return -E2BIG;
	s->hooks[s->nhooks].fn = fn;
	s->hooks[s->nhooks].ctx = ctx;
	s->nhooks++;
	return 0;
}

/* ---------------------------------------------------------------- open */

/* The aggregation learns comm, start times and ring names through kt_proc. */
static const struct kt_agg_lookup proc_lookup = {kt_proc_comm, kt_proc_start_ns, kt_proc_read_mem};

/*
 * With batching: a thread's pending records are sent before its memory goes
 * (exit; exec, Linux 6.10+). Without both tracepoints: per-op probes.
 */
static void attach_batch_drains(struct kt_session *s)
{
	s->batch_links[0] = bpf_program__attach_raw_tracepoint(s->skel->progs.kaos_batch_drain,
							       "sched_process_exit");
	s->batch_links[1] = bpf_program__attach_raw_tracepoint(s->skel->progs.kaos_batch_drain,
							       "sched_prepare_exec");
	if (s->batch_links[0] && s->batch_links[1])
		return;
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(s->batch_links[i]);
		s->batch_links[i] = NULL;
	}
	s->batch = false;
}

/*
 * Exec (always: keys series by process image) and, with a scope, fork and
 * exit. Raw tracepoints: attached by name, no tracefs, no kernel BTF.
 */
static int attach_tracepoints(struct kt_session *s, char *err, size_t errlen)
{
	s->exec_link =
		bpf_program__attach_raw_tracepoint(s->skel->progs.kaos_exec, "sched_process_exec");
	if (!s->exec_link) {
		snprintf(err, errlen, "cannot attach the sched_process_exec tracepoint: %s",
			 strerror(errno));
		return -1;
	}
	if (s->batch)
		attach_batch_drains(s);
	if (!s->scope)
		return 0;
	s->fork_link = bpf_program__attach_raw_tracepoint(s->skel->progs.kaos_scope_fork,
							  "sched_process_fork");
	s->exit_link = bpf_program__attach_raw_tracepoint(s->skel->progs.kaos_scope_exit,
							  "sched_process_exit");
	if (!s->fork_link || !s->exit_link) {
		snprintf(err, errlen, "cannot attach the sched_process_fork/exit tracepoints: %s",
			 strerror(errno));
		return -1;
	}
	/* our own calibration probe must pass the scope */
	int e = kt_session_scope_pid(s, s->self);

	if (e) {
		snprintf(err, errlen, "cannot set the process scope: %s", strerror(-e));
		return -1;
	}
	return 0;
}

/*
 * Hash maps whose entries come and go at run time, allocated as they are
 * inserted instead of all at creation: preallocating batch_threads' 8,192
 * entries took ~5 ms of start-up, libbpf's USDT ip map (1,024, unused
 * where the kernel has BPF cookies) and ring_filter's ~0.5 ms each. Linux
 * 6.1 allocates safely in any BPF context (bpf_mem_alloc); an older kernel
 * warns once about it in tracing programs: preallocated there.
 */
static void alloc_on_insert(struct kaos_trace_bpf *skel)
{
	struct bpf_map *maps[] = {skel->maps.batch_threads, skel->maps.__bpf_usdt_ip_to_spec_id,
				  skel->maps.ring_filter};

	if (!kt_kernel_at_least(6, 1))
		return;
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		bpf_map__set_map_flags(maps[i], bpf_map__map_flags(maps[i]) | BPF_F_NO_PREALLOC);
}

/* The BPF object's options and map sizes, before load: maps a run does not use stay tiny. */
static void size_skel(struct kaos_trace_bpf *skel, const struct kt_session_opts *o,
		      uint64_t rb_bytes)
{
	alloc_on_insert(skel);
	skel->rodata->filter_rings = o->nrings > 0;
	skel->rodata->scope_filter = o->scope;
	if (!o->scope) {
		/* unused: no preallocated kernel memory for them */
		bpf_map__set_max_entries(skel->maps.scope_tgids, 1);
		bpf_map__set_max_entries(skel->maps.scope_tasks, 1);
		bpf_program__set_autoload(skel->progs.kaos_scope_fork, false);
		bpf_program__set_autoload(skel->progs.kaos_scope_exit, false);
		bpf_program__set_autoload(skel->progs.kaos_scope_enter, false);
	}
	skel->rodata->want_stacks = o->stacks;
	skel->rodata->want_ts = o->want_ts;
	skel->rodata->wakeup_bytes = rb_bytes / 16;
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)rb_bytes);
	if (o->pmu_nr) {
		skel->rodata->pmu_nr = o->pmu_nr;
		skel->rodata->pmu_ncpus = o->pmu_ncpus;
		bpf_map__set_max_entries(skel->maps.pmu_events, KT_PMU_MAX * o->pmu_ncpus);
	} else {
		/* unused: preallocating 16,384 LRU entries took ~3 ms of start-up */
		bpf_map__set_max_entries(skel->maps.pmu_threads, 1);
	}
	if (!o->nrings) /* unused: no preallocated kernel memory */
		bpf_map__set_max_entries(skel->maps.ring_filter, 1);
	/* a previous tracer's leftovers are older than this (same clock as libkaos' records) */
	skel->rodata->batch_since_ns = kt_now_ns(CLOCK_MONOTONIC);
	if (o->batch && getenv("KAOS_TRACE_BATCH_THREADS")) {
		/* a smaller map, to check the count of untracked threads (docs/probes.md) */
		unsigned long n = strtoul(getenv("KAOS_TRACE_BATCH_THREADS"), NULL, 10);

		if (n >= 1 && n <= KT_BATCH_THREADS_MAX)
			bpf_map__set_max_entries(skel->maps.batch_threads, (uint32_t)n);
	}
	if (!o->batch) {
		bpf_map__set_max_entries(skel->maps.batch_threads, 1);
		bpf_program__set_autoload(skel->progs.kaos_batch, false);
		bpf_program__set_autoload(skel->progs.kaos_batch_drain, false);
	}
}

int kt_session_open(struct kt_session *s, const struct kt_session_opts *o, char *err, size_t errlen)
{
	uint64_t rb_bytes = o->ringbuf_bytes ? o->ringbuf_bytes : 2u << 20;
	uint8_t one = 1;
	int e;

	memset(s, 0, sizeof(*s));
	s->sampling = kt_sampling_from_flags(0, 0); /* the default budget unless the caller says */
	s->self = getpid();
	s->weight_latency = o->weight_latency;
	bpf_log_verbose = o->bpf_log;
	libbpf_set_print(libbpf_print);

	kt_phase("session init");
	s->skel = kaos_trace_bpf__open();
	if (!s->skel) {
		snprintf(err, errlen, "cannot open BPF object: %s", strerror(errno));
		return -1;
	}
	s->scope = o->scope;
	size_skel(s->skel, o, rb_bytes);
	s->batch = o->batch;
	/* Test hook: makes one program fail verification so the error path can be tested. */
	if (getenv("KAOS_TRACE_TEST_BREAK_LOAD"))
		bpf_program__set_type(s->skel->progs.kaos_probe, BPF_PROG_TYPE_SOCKET_FILTER);
	kt_phase("skeleton open");
	e = kaos_trace_bpf__load(s->skel);
	kt_phase("bpf load (maps, progs)");
	if (e) {
		snprintf(err, errlen, "BPF load failed: %s; libbpf said:", strerror(-e));
		kaos_trace_bpf__destroy(s->skel);
		s->skel = NULL;
		return -1;
	}
	for (int i = 0; i < o->nrings; i++)
		bpf_map_update_elem(bpf_map__fd(s->skel->maps.ring_filter), &o->rings[i], &one,
				    BPF_ANY);
	if (attach_tracepoints(s, err, errlen)) {
		kt_session_close(s);
		return -1;
	}
	kt_phase("tracepoints");
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (!s->rb) {
		snprintf(err, errlen, "cannot create ring buffer consumer: %s", strerror(errno));
		kaos_trace_bpf__destroy(s->skel);
		s->skel = NULL;
		return -1;
	}
	if (o->stacks || o->folded) {
		s->sym = kt_sym_new();
		s->folded = kt_folded_new();
		if (!s->sym || !s->folded) {
			snprintf(err, errlen, "out of memory");
			kt_session_close(s);
			return -1;
		}
		/* event stacks end at the libkaos call, not in its probe path */
		kt_folded_set_frame_fn(s->folded, kt_folded_frame_kt);
		s->waits = o->weight_latency ? kt_waits_new() : NULL;
		if (o->weight_latency && !s->waits) {
			snprintf(err, errlen, "out of memory");
			kt_session_close(s);
			return -1;
		}
	}
	kt_agg_init(&s->agg, kt_now_ns(CLOCK_BOOTTIME));
	s->agg.lookup = &proc_lookup;
	kt_phase("ringbuf, session");
	return 0;
}

void kt_session_start(struct kt_session *s)
{
	s->t_start = kt_now_ns(CLOCK_MONOTONIC);
	kt_agg_free(&s->agg);
	kt_agg_init(&s->agg, kt_now_ns(CLOCK_BOOTTIME));
	s->agg.lookup = &proc_lookup;
}

/* ---------------------------------------------------------------- stats */

void kt_session_read_stats(struct kt_session *s, uint64_t out[KT_STAT_NR][KT_EV_TYPES])
{
	kt_percpu_sum_u64(bpf_map__fd(s->skel->maps.kt_stats), KT_STAT_NR * KT_EV_TYPES,
			  &out[0][0]);
	for (int st = 0; st < KT_STAT_NR; st++)
		for (int ty = 0; ty < KT_EV_TYPES; ty++)
			out[st][ty] -= s->stats_base[st][ty];
	for (int ty = 0; ty < KT_EV_TYPES; ty++) /* read by the tracer itself at stop */
		out[KT_STAT_FIRED][ty] += s->batch_drained[ty];
	/* The BPF side counts fired and lost only: every other fired hit was delivered. */
	for (int ty = 0; ty < KT_EV_TYPES; ty++)
		out[KT_STAT_DELIVERED][ty] = out[KT_STAT_FIRED][ty] - out[KT_STAT_LOST][ty];
}

void kt_session_totals(struct kt_session *s, struct kt_report_totals *tot)
{
	uint64_t st[KT_STAT_NR][KT_EV_TYPES];

	kt_session_read_stats(s, st);
	memset(tot, 0, sizeof(*tot));
	for (int ty = 0; ty < KT_EV_TYPES; ty++) {
		tot->fired += st[KT_STAT_FIRED][ty];
		tot->delivered += st[KT_STAT_DELIVERED][ty];
		tot->lost += st[KT_STAT_LOST][ty];
		tot->filtered += st[KT_STAT_FILTERED][ty];
		tot->stack_errors += st[KT_STAT_STACK_ERR][ty];
		tot->batch_untracked += st[KT_STAT_BATCH_UNTRACKED][ty];
	}
	tot->hit_ns = s->hit_ns;
	tot->batch_trap_ns = s->batch_trap_ns;
	tot->batch_record_ns = s->batch_record_ns;
	tot->sampling = s->sampling;
	tot->has_sampling = true;
}

/* ---------------------------------------------------------------- attach */

/* libkaos' probe p (kt_session_probe_names[p], its event type: KT_EV_* == p) on path. */
static struct bpf_link *attach_probe(struct kt_session *s, pid_t pid, const char *path,
				     const char *provider, unsigned int p)
{
	LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = p);

	return bpf_program__attach_usdt(s->skel->progs.kaos_probe, pid, path, provider,
					kt_session_probe_names[p], &uo);
}

struct kt_attachment *kt_session_find(struct kt_session *s, pid_t pid, const char *path)
{
	for (int i = 0; i < s->natt; i++)
		if (s->att[i]->pid == pid && !strcmp(s->att[i]->path, path))
			return s->att[i];
	return NULL;
}

static void attachment_free(struct kt_attachment *a)
{
	for (int i = 0; i < a->nlinks; i++)
		bpf_link__destroy(a->links[i]);
	free(a);
}

int kt_session_attach(struct kt_session *s, pid_t pid, const char *path, char *err, size_t errlen)
{
	struct kt_attachment *a;
	struct stat st;

	if (pid <= 0)
		pid = -1;
	if (kt_session_find(s, pid, path))
		return 0;
	if (s->natt == KT_SESSION_MAX_ATTACH) {
		snprintf(err, errlen, "too many targets (max %d)", KT_SESSION_MAX_ATTACH);
		return -1;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->pid = pid;
	snprintf(a->path, sizeof(a->path), "%s", path);
	if (stat(path, &st) == 0) {
		a->dev = st.st_dev;
		a->ino = st.st_ino;
	}
	/* batched where the object has kaos:batch (an older libkaos: per op) */
	struct bpf_link *bl = s->batch ? bpf_program__attach_usdt(s->skel->progs.kaos_batch, pid,
								  path, "kaos", "batch", NULL)
				       : NULL;
	if (bl)
		a->links[a->nlinks++] = bl;
	for (unsigned int p = bl ? KT_EV_RETRANSMIT : 0; p < KT_SESSION_NPROBES; p++) {
		struct bpf_link *l = attach_probe(s, pid, path, "kaos", p);

		if (!l) {
			int e = errno;

			snprintf(err, errlen, "cannot attach kaos:%s in %s: %s",
				 kt_session_probe_names[p], path, strerror(e));
			attachment_free(a);
			return -1;
		}
		a->links[a->nlinks++] = l;
	}
	s->att[s->natt++] = a;
	return 0;
}

int kt_session_detach(struct kt_session *s, pid_t pid, const char *path)
{
	if (pid <= 0)
		pid = -1;
	for (int i = 0; i < s->natt; i++) {
		if (s->att[i]->pid != pid || strcmp(s->att[i]->path, path))
			continue;
		attachment_free(s->att[i]);
		s->att[i] = s->att[--s->natt];
		return 0;
	}
	return -ENOENT;
}

/* The map's idea of a thread's buffer (bpf/kaos_trace.bpf.c). */
struct batch_thread {
	uint64_t buf;
	uint64_t gen;
	uint32_t done;
	uint32_t pid;
};

/* One record of a live thread's buffer, as the BPF side would have sent it. */
static void batch_record_event(struct kt_session *s, const struct kaos_probe_record *r,
			       uint32_t pid, uint32_t tid)
{
	struct kt_event e = {0};

	e.ts_ns = s->skel->rodata->want_ts ? r->ts_ns : 0;
	e.type = r->type <= KT_EV_BACKPRESSURE ? r->type : KT_EV_SEND;
	e.pid = pid;
	e.tid = tid;
	e.ring_id = r->ring_id;
	e.n = (uint32_t)r->n;
	e.count = r->count;
	e.bytes = r->bytes;
	e.dur_ns = r->dur_ns;
	e.extra = r->extra;
	e.name_ptr = r->name;
	e.flags = KT_EVF_BATCHED; /* read from outside: no trap */
	if (r->ts_ns < s->skel->rodata->batch_since_ns)
		return; /* a previous tracer's */
	s->batch_drained[e.type]++;
	handle_event(s, &e, KT_EVENT_BASE_SIZE);
}

/*
 * After the probes are gone (libkaos then keeps pending records in place):
 * reads what live threads still hold and was not sent, through their
 * process's memory. A thread gone meanwhile was drained at its exit.
 */
static void batch_drain_live(struct kt_session *s)
{
	int fd = bpf_map__fd(s->skel->maps.batch_threads);
	uint32_t key, next, *prev = NULL;
	struct kaos_probe_batch b;
	struct batch_thread t;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &t) ||
		    kt_proc_read_mem((pid_t)t.pid, t.buf, &b, sizeof(b)) || b.pid != (int32_t)t.pid)
			continue;
		uint32_t start = b.gen == t.gen ? t.done : 0;

		for (uint32_t i = start; i < b.n && i < KAOS_PROBE_BATCH_RECORDS; i++)
			batch_record_event(s, &b.rec[i], t.pid, key);
	}
}

void kt_session_detach_all(struct kt_session *s)
{
	for (int i = 0; i < s->natt; i++)
		attachment_free(s->att[i]);
	s->natt = 0;
	if (s->batch)
		batch_drain_live(s);
	/* after the links: released first, every operation would fire until they are gone */
	kt_session_release_sampling(s);
}

int kt_session_nlinks(const struct kt_session *s)
{
	int n = 0;

	for (int i = 0; i < s->natt; i++)
		n += s->att[i]->nlinks;
	return n;
}

/* ---------------------------------------------------------------- calibration */

/*
 * The calibration site: a probe of kaos-trace's own, written with the probe
 * ABI's macros (include/kaos/probes.h), so it is the same instruction and
 * note as a libkaos site of this build and the same BPF program serves it.
 * kaos-trace does not link libkaos for this: a ring of its own would measure
 * a ring operation as well and tie the tracer to libkaos' ring API.
 */
KAOS_PROBE_SEMA_DEFINE(kaos_trace, calibrate);
static const char calib_ring_name[] = "kaos-trace.calibrate";

/* Thread CPU time of n passes over the site: time slices lost to others do not count. */
static uint64_t time_hits(int n)
{
	uint64_t t0 = kt_now_ns(CLOCK_THREAD_CPUTIME_ID);

	for (int i = 0; i < n; i++) {
		/* libkaos' arguments: ring id, count, messages, bytes, ns, extra, name */
		if (KAOS_PROBE_ENABLED(kaos_trace, calibrate))
			KAOS_PROBE7(kaos_trace, calibrate, 0, i + 1, 1, 8, 0, 0, calib_ring_name);
		__asm__ __volatile__("" ::: "memory"); /* one check per pass */
	}
	return kt_now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of rounds of n passes. */
static uint64_t median_hits(uint64_t *t, int rounds, int n)
{
	for (int i = 0; i < rounds; i++)
		t[i] = time_hits(n);
	qsort(t, (size_t)rounds, sizeof(t[0]), cmp_u64);
	return t[rounds / 2];
}

/*
 * The probe cost depends on the kernel, this binary (its site, its BPF
 * programs) and the options compiled into the programs: it is kept for the
 * boot under a name with this build's id (builds side by side do not take
 * turns replacing one file) and a key with those options.
 */
struct calib_key {
	uint8_t build_id[KT_ELF_BUILD_ID_MAX];
	uint32_t build_id_len;
	uint32_t opts; /* CALIB_* */
};

enum { CALIB_STACKS = 1, CALIB_TS = 2, CALIB_SCOPE = 4, CALIB_FILTER = 8, CALIB_PMU_SHIFT = 8 };

/*
 * The key and the record's name; false if this binary has no build id. The
 * id is read from memory: reading /proc/self/exe with libelf cost more than
 * the rest of a cached calibration.
 */
static bool calib_key(const struct kt_session *s, struct calib_key *k, char *name, size_t len)
{
	const struct kaos_trace_bpf__rodata *ro = s->skel->rodata;
	char hex[2 * KT_ELF_BUILD_ID_MAX + 1];
	int len_id;

	memset(k, 0, sizeof(*k));
	len_id = kt_elf_self_build_id(k->build_id, sizeof(k->build_id));
	if (len_id <= 0)
		return false;
	k->build_id_len = (uint32_t)len_id;
	k->opts = (ro->want_stacks ? CALIB_STACKS : 0) | (ro->want_ts ? CALIB_TS : 0) |
		  (ro->scope_filter ? CALIB_SCOPE : 0) | (ro->filter_rings ? CALIB_FILTER : 0) |
		  (uint32_t)ro->pmu_nr << CALIB_PMU_SHIFT;
	kt_elf_hex(k->build_id, (size_t)len_id, hex);
	snprintf(name, len, "probe-cost-%s-%x", hex, k->opts);
	return true;
}

/* After a measurement: its events are discarded and its counts are not the traced processes'. */
static void calib_stats_base(struct kt_session *s)
{
	uint64_t base[KT_STAT_NR][KT_EV_TYPES];

	ring_buffer__consume(s->rb); /* our own events: handle_event drops them */
	memset(s->stats_base, 0, sizeof(s->stats_base));
	kt_session_read_stats(s, base);
	memcpy(s->stats_base, base, sizeof(base));
}

/*
 * Passes over kaos-trace's own probe site, untraced and traced by the send
 * program, in thread CPU time (the median of a few rounds: the wall clock
 * also counted time slices lost to other processes, 2-4x the real cost on
 * a busy machine). The probe stays attached (it never fires again) until
 * kt_session_close(): detaching a uprobe took ~65 ms here (the kernel
 * waits for handlers in flight), more than the whole start-up takes
 * without it.
 */
static double measure_hit(struct kt_session *s)
{
	enum { ROUNDS = 5, ITERS = 200 };
	uint64_t t[ROUNDS], untraced, traced;
	struct bpf_link *l;
	/* priced as a send: the same program as every probe, with a send's cookie */
	LIBBPF_OPTS(bpf_usdt_opts, uo, .usdt_cookie = KT_EV_SEND);

	time_hits(ITERS); /* warm up */
	untraced = median_hits(t, ROUNDS, ITERS);
	l = bpf_program__attach_usdt(s->skel->progs.kaos_probe, s->self, "/proc/self/exe",
				     "kaos_trace", "calibrate", &uo);
	if (!l)
		return 0;
	/* the semaphore is set by the attach (ref_ctr_offset); the first hit of a
	 * site may take the kernel's slow path: warm up */
	time_hits(16);
	traced = median_hits(t, ROUNDS, ITERS);
	s->calib_link = l;
	calib_stats_base(s);
	return traced > untraced ? (double)(traced - untraced) / ITERS : 0;
}

/*
 * The batched path (kaos:batch, docs/probes.md "Batching") costs a process
 * per operation its record (libkaos writes it, the program reads and sends
 * it) and per fire one trap: a hit's price for each would claim ~10x what
 * it costs. Measured here as for a hit, with a buffer of kaos-trace's own
 * in libkaos' layout fired by a site of its own: operations recorded 32 to
 * a fire and 1 to a fire give both prices.
 */
KAOS_PROBE_SEMA_DEFINE(kaos_trace, calibrate_batch);
static struct kaos_probe_batch calib_batch __attribute__((aligned(64)));

/* As libkaos' batch_fire. */
static __attribute__((noinline)) void calib_batch_fire(struct kaos_probe_batch *b)
{
	KAOS_PROBE4(kaos_trace, calibrate_batch, b, b->n, b->gen, b->pid);
	b->n = 0;
	b->gen++;
}

/*
 * One operation as libkaos records it while kaos:batch is attached: the
 * clock read at its start and end (its duration, the record's time) and
 * the record (kaos_probe_batch_add()), the buffer fired every per_fire.
 * Records before since (the tracer's start) would be filtered, not sent.
 */
static __attribute__((noinline)) void calib_batch_add(struct kaos_probe_batch *b, uint64_t i,
						      uint64_t since, uint32_t per_fire)
{
	uint64_t t0 = kt_now_ns(CLOCK_MONOTONIC), ts = kt_now_ns(CLOCK_MONOTONIC);

	b->rec[b->n] = (struct kaos_probe_record){.type = KT_EV_SEND,
						  .ring_id = 1, /* named, as a ring's first */
						  .count = i + 1,
						  .n = 1,
						  .bytes = 8,
						  .dur_ns = ts - t0,
						  .name = (uintptr_t)calib_ring_name,
						  .ts_ns = ts > since ? ts : since};
	if (!b->n)
		b->oldest_ns = ts;
	if (++b->n >= per_fire)
		calib_batch_fire(b);
}

/* Thread CPU time of n operations; ts: their records' time (past the tracer's start). */
static uint64_t time_batch_ops(int n, uint32_t per_fire, uint64_t ts)
{
	uint64_t t0 = kt_now_ns(CLOCK_THREAD_CPUTIME_ID);

	for (int i = 0; i < n; i++) {
		if (KAOS_PROBE_ENABLED(kaos_trace, calibrate_batch))
			calib_batch_add(&calib_batch, (uint64_t)i, ts, per_fire);
		__asm__ __volatile__("" ::: "memory"); /* one check per operation */
	}
	return kt_now_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/*
 * Median thread CPU time of rounds of n operations. Traced (rb set), the
 * ring buffer is emptied before each round: full of our own unread events
 * it would make every fire force a wakeup of its reader (a self-IPI, a VM
 * exit here) that a traced process, whose events are read, seldom pays.
 */
static uint64_t median_batch_ops(struct ring_buffer *rb, int n, uint32_t per_fire, uint64_t ts)
{
	enum { ROUNDS = 5 };
	uint64_t t[ROUNDS];

	for (int i = 0; i < ROUNDS; i++) {
		if (rb)
			ring_buffer__consume(rb);
		t[i] = time_batch_ops(n, per_fire, ts);
	}
	qsort(t, ROUNDS, sizeof(t[0]), cmp_u64);
	return t[ROUNDS / 2];
}

static double per_op(uint64_t traced, uint64_t untraced, int n)
{
	return traced > untraced ? (double)(traced - untraced) / n : 0;
}

/*
 * Per operation, A = trap/32 + record with 32 records a fire and B = trap +
 * record with one: trap = (B - A) * 32/31, record = A - trap/32. Noise can
 * make that nonsense (a negative price): false then.
 */
static bool batch_prices(double a, double b, double *trap, double *record)
{
	enum { FULL = KAOS_PROBE_BATCH_RECORDS };

	*trap = (b - a) * FULL / (FULL - 1);
	*record = a - *trap / FULL;
	return a > 0 && *trap > 0 && *record > 0;
}

/*
 * Operations recorded untraced and traced by kaos_batch, 32 and 1 to a
 * fire. Up to 3 tries for sensible prices; then, if a full fire's cost per
 * operation was measured, that alone is the record's price (trap 0: the
 * fires' price is spread over full ones). False if nothing was measured:
 * records are priced as hits.
 */
static bool measure_batch(struct kt_session *s)
{
	enum { FULL = KAOS_PROBE_BATCH_RECORDS, FULL_OPS = 20 * FULL, SINGLE_OPS = 200 };
	uint64_t ts = kt_now_ns(CLOCK_MONOTONIC), untraced_full, untraced_single;
	double a = 0, b, trap = 0, record = 0;
	struct bpf_link *l;
	bool ok = false;

	calib_batch = (struct kaos_probe_batch){.pid = (int32_t)getpid()};
	time_batch_ops(FULL_OPS, FULL, ts); /* warm up */
	untraced_full = median_batch_ops(NULL, FULL_OPS, FULL, ts);
	untraced_single = median_batch_ops(NULL, SINGLE_OPS, 1, ts);
	l = bpf_program__attach_usdt(s->skel->progs.kaos_batch, s->self, "/proc/self/exe",
				     "kaos_trace", "calibrate_batch", NULL);
	if (!l)
		return false;
	s->calib_batch_link = l;
	time_batch_ops(2 * FULL, FULL, ts); /* the site's first hits may take a slow path */
	for (int i = 0; i < 3 && !ok; i++) {
		a = per_op(median_batch_ops(s->rb, FULL_OPS, FULL, ts), untraced_full, FULL_OPS);
		b = per_op(median_batch_ops(s->rb, SINGLE_OPS, 1, ts), untraced_single, SINGLE_OPS);
		ok = batch_prices(a, b, &trap, &record);
	}
	calib_batch.n = 0; /* nothing for the drain at stop */
	calib_stats_base(s);
	if (!ok && !(a > 0))
		return false;
	s->batch_trap_ns = ok ? trap : 0;
	s->batch_record_ns = ok ? record : a;
	return true;
}

/*
 * The batch prices, as the hit's: kept for the boot under the hit's name
 * and key (one record each), measured when either is missing.
 */
static void calibrate_batch(struct kt_session *s, const struct calib_key *k, const char *name)
{
	char trap_name[224], rec_name[224];

	snprintf(trap_name, sizeof(trap_name), "%s-batch-trap", name);
	snprintf(rec_name, sizeof(rec_name), "%s-batch-record", name);
	if (k && kt_bootcache_min_get(trap_name, k, sizeof(*k), &s->batch_trap_ns) &&
	    kt_bootcache_min_get(rec_name, k, sizeof(*k), &s->batch_record_ns)) {
		s->batch_cached = true;
		return;
	}
	s->batch_trap_ns = s->batch_record_ns = 0;
	if (!measure_batch(s) || !k)
		return;
	s->batch_trap_ns = kt_bootcache_min_put(trap_name, k, sizeof(*k), s->batch_trap_ns);
	s->batch_record_ns = kt_bootcache_min_put(rec_name, k, sizeof(*k), s->batch_record_ns);
}

/*
 * Once at start; the result prices every later hit. Earlier starts on this
 * boot with this build and these options measured it already: their lowest
 * figure is used once settled (kt_bootcache_min_get: the measurement's
 * attach and ~1,000 hits cost 10-50 ms of start-up here).
 */
#define CALIB_RECORDS_KEPT 16 /* the newest records: ~5 builds (a hit, a batch trap and record) */
double kt_session_calibrate(struct kt_session *s)
{
	struct calib_key k;
	char name[192];
	bool keyed;

	if (s->calib_link || s->hit_cached)
		return s->hit_ns;
	keyed = calib_key(s, &k, name, sizeof(name));
	if (keyed && kt_bootcache_min_get(name, &k, sizeof(k), &s->hit_ns)) {
		s->hit_cached = true;
	} else {
		s->hit_ns = measure_hit(s);
		/* the lowest figure of this boot: one measured under load reads high */
		if (keyed && s->hit_ns > 0)
			s->hit_ns = kt_bootcache_min_put(name, &k, sizeof(k), s->hit_ns);
	}
	if (s->batch && !s->calib_batch_link)
		calibrate_batch(s, keyed ? &k : NULL, name);
	if (keyed && (s->calib_link || s->calib_batch_link)) /* something was measured */
		kt_bootcache_prune("probe-cost-", CALIB_RECORDS_KEPT);
	return s->hit_ns;
}

/* ---------------------------------------------------------------- poll */

int kt_session_poll(struct kt_session *s, int timeout_ms)
{
	int e = ring_buffer__poll(s->rb, timeout_ms);

	if (e < 0 && e != -EINTR)
		return e;
	int c = ring_buffer__consume(s->rb); /* records submitted without a wakeup */

	if (c < 0)
		return c;
	return (e > 0 ? e : 0) + c;
}

int kt_session_consume(struct kt_session *s)
{
	return ring_buffer__consume(s->rb);
}

int kt_session_fd(const struct kt_session *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

/* ---------------------------------------------------------------- sampling */

/* Send and receive operations of a process image so far, exact (the probes' counters). */
static uint64_t proc_ops(const struct kt_agg *a, const struct kt_proc *p)
{
	uint64_t n = 0;

	for (const struct kt_ring_agg *r = a->rings; r; r = r->next)
		if (kt_ring_of(r, p))
			n += kt_series_count(&r->s[KT_EV_SEND]) +
			     kt_series_count(&r->s[KT_EV_RECV]);
	return n;
}

static void note(struct kt_session *s, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(struct kt_session *s, bool warning, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!s->note)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->note)
		s->note(s->note_ctx, warning, line);
}

/* Says what a change of the control found: stale requests reclaimed, an orphaned period. */
static void note_change(struct kt_session *s, const struct kt_proc *p,
			const struct kt_control_state *st)
{
	for (int i = 0; i < st->nreclaimed; i++)
		note(s, true, "pid %u: a stale sampling 1/%u %s pid %d was reclaimed", p->pid,
		     st->reclaimed_every[i],
		     st->inherited ? "inherited from its parent, requested by" : "left by",
		     (int)st->reclaimed_pid[i]);
	if (st->orphan_every)
		note(s, true,
		     "pid %u: a stale sampling 1/%u without a live tracer's request was reset",
		     p->pid, st->orphan_every);
}

/* The inodes of the objects attached for pid (or for any process): where its control likely is. */
static int control_hints(const struct kt_session *s, uint32_t pid, uint64_t *ino)
{
	int n = 0;

	for (int i = 0; i < s->natt; i++)
		if (s->att[i]->pid == -1 || s->att[i]->pid == (pid_t)pid)
			ino[n++] = s->att[i]->ino;
	return n;
}

/* Finds the control of p once; false if it has none (said once). */
static bool sampling_setup(struct kt_session *s, struct kt_proc *p)
{
	uint64_t hints[KT_SESSION_MAX_ATTACH];
	char msg[256];
	int e;

	if (p->ctl_tried && (p->ctl.addr || !p->ctl_retry || !p->hits))
		return p->ctl.addr != 0;
	p->ctl_tried = true;
	p->ctl_retry = false;
	e = kt_control_open(&p->ctl, (pid_t)p->pid, hints, control_hints(s, p->pid, hints), msg,
			    sizeof(msg));
	if (e == -ENOENT && !p->hits) {
		/*
		 * Seen at its exec (a -- COMMAND, a -b program): ld.so may not have
		 * mapped libkaos yet. Its first probe hit says it has: look again then.
		 */
		p->ctl.addr = 0;
		p->ctl_retry = true;
		return false;
	}
	if (e) {
		p->ctl.addr = 0;
		/* a zombie (the -- COMMAND not yet reaped) has no memory left to sample */
		p->exited = !kt_proc_running((pid_t)p->pid);
		/* a process without libkaos (a --func target) has nothing to sample */
		if (!p->exited &&
		    (e != -ENOENT || s->sampling.mode != KT_SAMPLING_DEFAULT_BUDGET)) {
			note(s, true, "pid %u: cannot set sampling: %s", p->pid, msg);
			p->ctl_failed = true;
		}
		return false;
	}
	if (!p->ctl.nslots)
		note(s, true,
		     "pid %u: its sampling control (version %u%s) has no slots: one tracer at a "
		     "time, another tracer's sampling would be overwritten",
		     p->pid, p->ctl.version,
		     p->ctl.version >= 2 ? ", a copy of version 1's size in the program" : "");
	return true;
}

/* What probing costs the traced processes (a hit unmeasured: the slowest site's price). */
static struct kt_price session_price(const struct kt_session *s)
{
	return (struct kt_price){s->hit_ns > 0 ? s->hit_ns : KT_BUDGET_ASSUMED_HIT_NS,
				 s->batch_trap_ns, s->batch_record_ns};
}

/* What p's tracing has cost it so far, by what it paid: per-op hits, traps and records. */
static double proc_cost_ns(const struct kt_price *pr, const struct kt_proc *p)
{
	return kt_price_cost_ns(pr, p->hits, p->batched, p->traps);
}

/* The period this tracer asks for p now. */
static uint32_t sampling_want(struct kt_session *s, struct kt_proc *p, uint64_t now)
{
	struct kt_price price = session_price(s);
	/* an object without kaos:batch (an older libkaos) is traced per op */
	struct kt_budget_price bp = {&price, s->batch && (p->batched || !p->hits)};

	if (s->sampling.mode == KT_SAMPLING_FIXED)
		return kt_pow2_floor(s->sampling.period);
	return kt_budget_step(&p->budget, p->sample_asked, proc_ops(&s->agg, p), now,
			      kt_proc_cpu_ns((pid_t)p->pid), &bp, s->sampling.budget_pct);
}

void kt_session_update_sampling(struct kt_session *s, bool new_only)
{
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	for (struct kt_proc *p = s->agg.procs; p; p = p->next) {
		struct kt_control_state st = {0};
		char msg[256];
		uint32_t want;
		int e = 0;

		if (p->execed) {
			/* replaced by exec: the request died with the image; never write to the
			 * new image on the old one's behalf (its own entry registers anew) */
			p->ctl.requested = 0;
			continue;
		}
		if (p->exited && p->ctl.requested) {
			/* gone: nothing to restore, but its lock file goes (kt_control_request) */
			kt_control_release(&p->ctl, &st, msg, sizeof(msg));
			p->ctl.requested = 0;
		}
		if (p->exited || (new_only && p->ctl_tried) || !sampling_setup(s, p))
			continue;
		want = sampling_want(s, p, now);
		/* a dead tracer's request is reclaimed as soon as it is seen */
		if (want == p->sample_asked && (e = kt_control_read(&p->ctl, &st)) == 0 &&
		    !st.nstale)
			goto done;
		if (!e)
			e = kt_control_request(&p->ctl, want, &st, msg, sizeof(msg));
		if (e == -ESRCH) {
			p->exited = true;
			continue;
		}
		if (e) {
			if (!p->ctl_failed)
				note(s, true, "pid %u: cannot set sampling: %s", p->pid, msg);
			p->ctl_failed = true;
			continue;
		}
		p->ctl_failed = false;
		p->sample_asked = want;
		note_change(s, p, &st);
	done:
		p->sample_every = st.effective;
		p->sample_by = st.finest_pid;
	}
}

void kt_session_check_cost(struct kt_session *s)
{
	struct kt_price price = session_price(s);
	double limit = kt_sampling_warn_pct(&s->sampling);
	uint64_t now = kt_now_ns(CLOCK_MONOTONIC);

	for (struct kt_proc *p = s->agg.procs; p; p = p->next) {
		uint64_t cpu = kt_proc_cpu_ns((pid_t)p->pid), wall, spent;
		double pct, cost;

		if (p->exited)
			continue;
		if (!p->cost_wall0 || cpu < p->cost_cpu0 || p->hits < p->cost_hits0) {
			p->cost_wall0 = now;
			p->cost_cpu0 = cpu;
			p->cost_hits0 = p->hits;
			p->cost_ns0 = proc_cost_ns(&price, p);
			continue;
		}
		wall = now - p->cost_wall0;
		if (wall < 1000000000ull)
			continue;
		/* priced per second the process ran, as the budget is (per wall second without it)
		 */
		spent = cpu && p->cost_cpu0 && cpu - p->cost_cpu0 < wall ? cpu - p->cost_cpu0
									 : wall;
		cost = proc_cost_ns(&price, p);
		pct = spent ? (cost - p->cost_ns0) / (double)spent * 100.0 : 0;
		p->cost_wall0 = now;
		p->cost_cpu0 = cpu;
		p->cost_hits0 = p->hits;
		p->cost_ns0 = cost;
		if (pct <= limit) {
			p->cost_warned = false;
			continue;
		}
		if (p->cost_warned)
			continue;
		p->cost_warned = true;
		s->cost_warnings++;
		if (p->sample_by && p->sample_by != (int32_t)getpid() &&
		    p->sample_every < p->sample_asked)
			note(s, true,
			     "pid %u: tracing cost %.1f%% of its CPU, above %g%%: pid %d's "
			     "finer sampling 1/%u is in effect (this tracer asked 1/%u)",
			     p->pid, pct, limit, (int)p->sample_by, p->sample_every,
			     p->sample_asked);
		else
			note(s, true,
			     "pid %u: tracing cost %.1f%% of its CPU, above %g%% (sampling "
			     "1/%u%s)",
			     p->pid, pct, limit, p->sample_every ? p->sample_every : 1,
			     s->sampling.mode == KT_SAMPLING_FIXED
				     ? "; a larger --sample costs less"
				     : "");
	}
}

void kt_session_release_sampling(struct kt_session *s)
{
	for (struct kt_proc *p = s->agg.procs; p; p = p->next) {
		struct kt_control_state st;
		char msg[256];
		int e;

		if (!p->ctl.addr || !p->ctl.requested || p->execed)
			continue;
		e = kt_control_release(&p->ctl, &st, msg, sizeof(msg));
		/* p->sample_every stays what was in effect while traced, for the final report */
		if (e && e != -ESRCH)
			note(s, true, "pid %u: cannot withdraw this tracer's sampling: %s", p->pid,
			     msg);
	}
}

int kt_session_check_exited(struct kt_session *s)
{
	int n = 0;

	for (struct kt_proc *p = s->agg.procs; p; p = p->next) {
		if (p->exited || p->execed)
			continue;
		if (kill((pid_t)p->pid, 0) != 0 && errno == ESRCH) {
			p->exited = true;
			n++;
		}
	}
	return n;
}

/* ---------------------------------------------------------------- scope */

int kt_session_scope_pid(struct kt_session *s, pid_t pid)
{
	uint32_t tgid = (uint32_t)pid;
	uint8_t pinned = KT_SCOPE_PINNED;

	if (!s->scope)
		return 0;
	return bpf_map_update_elem(bpf_map__fd(s->skel->maps.scope_tgids), &tgid, &pinned, BPF_ANY)
		       ? -errno
		       : 0;
}

void kt_session_wake_at_first_hit(struct kt_session *s, pid_t pid)
{
	if (s->skel && s->skel->bss)
		s->skel->bss->first_hit_tgid = (uint32_t)pid;
}

static void scope_add_running(void *ctx, pid_t pid)
{
	struct kt_session *s = ctx;
	uint32_t tgid = (uint32_t)pid;
	uint8_t by_program = KT_SCOPE_BY_PROGRAM;

	/* NOEXIST: a process pinned by pid stays pinned */
	bpf_map_update_elem(bpf_map__fd(s->skel->maps.scope_tgids), &tgid, &by_program,
			    BPF_NOEXIST);
}

int kt_session_scope_program(struct kt_session *s, const char *path, char *err, size_t errlen)
{
	struct kt_scope_program *sp;
	unsigned long entry;
	struct stat st;
	int n;

	if (!s->scope || s->nscope == KT_SESSION_MAX_SCOPE) {
		snprintf(err, errlen, "%s: %s", path,
			 s->scope ? "too many programs in scope" : "no process scope loaded");
		return -1;
	}
	if (stat(path, &st)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (kt_program_entry(path, &entry, err, errlen))
		return -1;
	if (!s->scope_progs &&
	    !(s->scope_progs = calloc(KT_SESSION_MAX_SCOPE, sizeof(*s->scope_progs)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sp = &s->scope_progs[s->nscope];
	memset(sp, 0, sizeof(*sp));
	/* the entry first: a process starting during the scan is not missed */
	sp->enter =
		bpf_program__attach_uprobe(s->skel->progs.kaos_scope_enter, false, -1, path, entry);
	if (!sp->enter) {
		snprintf(err, errlen, "cannot attach to the entry point of %s: %s", path,
			 strerror(errno));
		return -1;
	}
	snprintf(sp->path, sizeof(sp->path), "%s", path);
	sp->dev = st.st_dev;
	sp->ino = st.st_ino;
	s->nscope++;
	/*
	 * A process found is in scope and its forks from then on are tracked; a
	 * child forked just before, and listed before it by /proc (pids wrapped),
	 * is found by a second pass. None found: a process starting meanwhile
	 * runs the entry point, attached first.
	 */
	n = kt_program_pids(&st, scope_add_running, s);
	if (n > 0)
		n = kt_program_pids(&st, scope_add_running, s);
	if (n < 0) {
		snprintf(err, errlen, "cannot read /proc: %s", strerror(errno));
		return -1;
	}
	return n;
}

int kt_session_scope_sweep(struct kt_session *s)
{
	int fd, n = 0, ndead = 0;
	uint32_t key, next, dead[256];
	uint32_t *prev = NULL;

	if (!s->scope)
		return 0;
	fd = bpf_map__fd(s->skel->maps.scope_tgids);
	while (ndead < 256 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (kill((pid_t)key, 0) != 0 && errno == ESRCH)
			dead[ndead++] = key;
	}
	/*
	 * A pid reused meanwhile went through fork, which set its own answer;
	 * deleting it here would need the whole pid space to wrap in between.
	 */
	for (int i = 0; i < ndead; i++)
		n += bpf_map_delete_elem(fd, &dead[i]) == 0;
	return n;
}

void kt_session_scope_stats(struct kt_session *s, uint64_t out[KT_SCOPE_STAT_NR])
{
	memset(out, 0, sizeof(uint64_t) * KT_SCOPE_STAT_NR);
	kt_percpu_sum_u64(bpf_map__fd(s->skel->maps.scope_stats), KT_SCOPE_STAT_NR, out);
}

/* ---------------------------------------------------------------- close */

static void scope_close(struct kt_session *s)
{
	for (int i = 0; i < s->nscope; i++)
		bpf_link__destroy(s->scope_progs[i].enter);
	s->nscope = 0;
	free(s->scope_progs);
	s->scope_progs = NULL;
	bpf_link__destroy(s->fork_link);
	bpf_link__destroy(s->exit_link);
	bpf_link__destroy(s->exec_link);
	s->fork_link = s->exit_link = s->exec_link = NULL;
	for (int i = 0; i < 2; i++) {
		bpf_link__destroy(s->batch_links[i]);
		s->batch_links[i] = NULL;
	}
}

void kt_session_close(struct kt_session *s)
{
	kt_session_detach_all(s);
	scope_close(s);
	bpf_link__destroy(s->calib_link);
	s->calib_link = NULL;
	bpf_link__destroy(s->calib_batch_link);
	s->calib_batch_link = NULL;
	if (s->rb)
		ring_buffer__free(s->rb);
	if (s->skel)
		kaos_trace_bpf__destroy(s->skel);
	kt_folded_free(s->folded);
	kt_waits_free(s->waits);
	s->waits = NULL;
	kt_sym_free(s->sym);
	kt_agg_free(&s->agg);
	s->rb = NULL;
	s->skel = NULL;
	s->folded = NULL;
	s->sym = NULL;
}
