/* SPDX-License-Identifier: MIT */
/* kt_timeline: trace-event records, names, the cap and its report. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_timeline.h"
#include "kt_test_events.h"

static char *slurp(const char *path)
{
	static char buf[1 << 24]; /* 65,536 counter samples fit */
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

/* memmem, not strstr: ASan's strstr reads the whole rest of the string at each
 * call, which made counting 65,536 counter samples take minutes. */
static int count(const char *s, const char *needle)
{
	const char *end = s + strlen(s), *p = s;
	size_t len = strlen(needle);
	int n = 0;

	while ((p = memmem(p, (size_t)(end - p), needle, len))) {
		n++;
		p++;
	}
	return n;
}

static struct kt_event ev(uint32_t type, uint64_t ts, uint64_t dur, uint64_t extra)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.pid = (uint32_t)getpid();
	e.tid = e.pid;
	e.ring_id = 1;
	e.n = 4;
	e.bytes = 32;
	e.count = 9;
	e.ts_ns = ts;
	e.dur_ns = dur;
	e.extra = extra;
	return e;
}

static void test_events_and_cap(void **state)
{
	(void)state;
	char path[] = "/tmp/kt-timeline.XXXXXX", err[256];
	int fd = mkstemp(path);
	struct kt_agg a;

	assert_true(fd >= 0);
	close(fd);
	kt_agg_init(&a, 0);
	kt_test_event(&a, KT_EV_SEND, 0, 1, 10, 0); /* names ring 1 "work.0" */
	struct kt_timeline_opts o = {.max_events = 4};
	struct kt_timeline *t = kt_timeline_open(path, &o, &a, err, sizeof(err));

	assert_non_null(t);
	struct kt_event e[] = {
		ev(KT_EV_SEND, 1000000, 500, 0),	  ev(KT_EV_RECV, 1002000, 250, 7000),
		ev(KT_EV_BACKPRESSURE, 1005000, 3000, 0), ev(KT_EV_RETRANSMIT, 1006000, 0, 42),
		ev(KT_EV_SEND, 1007000, 100, 0),	  ev(KT_EV_SEND, 1008000, 100, 0),
	};
	bool capped[6];

	for (int i = 0; i < 6; i++)
		capped[i] = kt_timeline_add(t, &e[i], KT_EVENT_BASE_SIZE);
	assert_false(capped[3]);
	assert_true(capped[4]); /* the fifth event hits the cap of 4, once */
	assert_false(capped[5]);
	assert_int_equal(kt_timeline_written(t), 4);
	assert_int_equal(kt_timeline_dropped(t), 2);
	assert_false(kt_timeline_add(t, &e[0], 8)); /* malformed: ignored */
	assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);

	const char *s = slurp(path);

	assert_int_equal(strncmp(s, "{\"traceEvents\":[", 16), 0);
	/* send starts at ts - dur: the first one is time 0 */
	assert_non_null(strstr(
		s, "{\"name\":\"send\",\"cat\":\"kaos\",\"ph\":\"X\",\"ts\":0,\"dur\":0.5,"));
	assert_non_null(
		strstr(s, "\"args\":{\"ring\":\"work.0\",\"ring_id\":1,\"msgs\":4,\"bytes\":32}"));
	assert_non_null(strstr(
		s, "{\"name\":\"recv\",\"cat\":\"kaos\",\"ph\":\"X\",\"ts\":2.25,\"dur\":0.25,"));
	assert_non_null(strstr(s, "\"sojourn_ns\":7000"));
	assert_non_null(strstr(
		s,
		"{\"name\":\"backpressure\",\"cat\":\"kaos\",\"ph\":\"X\",\"ts\":2.5,\"dur\":3,"));
	assert_non_null(strstr(
		s,
		"{\"name\":\"retransmit\",\"cat\":\"kaos\",\"ph\":\"i\",\"s\":\"t\",\"ts\":6.5,"));
	assert_non_null(strstr(s, "\"seq\":42"));
	assert_int_equal(count(s, "\"cat\":\"kaos\""), 4);
	assert_int_equal(count(s, "\"name\":\"timeline cap reached\""), 1);
	assert_non_null(strstr(s, "{\"name\":\"process_name\",\"ph\":\"M\""));
	assert_non_null(strstr(s, "{\"name\":\"thread_name\",\"ph\":\"M\""));
	assert_non_null(strstr(s, "\"otherData\":{\"tool\":\"kaos-trace\",\"events\":4,\"events_"
				  "dropped\":2,\"max_events\":4}}\n"));
	unlink(path);
	kt_agg_free(&a);

	/* unwritable */
	assert_null(kt_timeline_open("/nonexistent-dir/t.json", &o, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot write /nonexistent-dir/t.json"));
}

/* A fresh path in /tmp (the file does not exist yet). */
static void tmp_path(char *path, size_t n)
{
	static int k;

	snprintf(path, n, "/tmp/kt-timeline-%d-%d.json", (int)getpid(), k++);
	unlink(path);
}

static struct kt_timeline *open_or_fail(const char *path, const struct kt_timeline_opts *o)
{
	char err[256];
	struct kt_timeline *t = kt_timeline_open(path, o, NULL, err, sizeof(err));

	if (!t)
		fail_msg("%s", err);
	return t;
}

/* The flight recorder holds the newest max_events: the oldest are replaced, said once. */
static void test_flight_recorder_keeps_newest(void **state)
{
	(void)state;
	char path[64], err[256];
	struct kt_timeline_opts o = {.max_events = 3, .keep_last = true};
	struct kt_timeline *t;
	bool said[5];

	tmp_path(path, sizeof(path));
	t = open_or_fail(path, &o);
	for (int i = 0; i < 5; i++) {
		/* sends 1..5 us long: each one's length tells which it is */
		struct kt_event e =
			ev(KT_EV_SEND, 1000000 + (uint64_t)i * 10000, 1000 * (uint64_t)(i + 1), 0);

		said[i] = kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	}
	assert_false(said[2]);
	assert_true(said[3]); /* the first replacement */
	assert_false(said[4]);
	assert_int_equal(kt_timeline_written(t), 3);
	assert_int_equal(kt_timeline_dropped(t), 2);
	assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);

	const char *s = slurp(path);

	assert_null(strstr(s, "\"dur\":1,"));
	assert_null(strstr(s, "\"dur\":2,"));
	assert_non_null(strstr(s, "\"ph\":\"X\",\"ts\":0,\"dur\":3,"));
	assert_non_null(strstr(s, "\"dur\":4,"));
	assert_non_null(strstr(s, "\"dur\":5,"));
	assert_int_equal(count(s, "\"cat\":\"kaos\""), 3);
	assert_int_equal(count(s, "timeline cap reached"), 0);
	assert_non_null(strstr(s, "\"events\":3,\"events_dropped\":2,\"max_events\":3,"
				  "\"keep\":\"last\""));
	unlink(path);
}

/*
 * Counter samples: a "C" event each, timed against the events' base; beyond
 * KT_TIMELINE_MAX_COUNTERS the first mode keeps the first and the flight
 * recorder the newest, the others counted as dropped.
 */
static void test_counters(void **state)
{
	(void)state;
	for (int last = 0; last < 2; last++) {
		char path[64], err[256], want[128];
		struct kt_timeline_opts o = {.max_events = 4, .keep_last = last};
		struct kt_timeline *t;
		struct kt_event e = ev(KT_EV_SEND, 1000000, 1000, 0);

		tmp_path(path, sizeof(path));
		t = open_or_fail(path, &o);
		kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
		for (uint64_t i = 0; i < KT_TIMELINE_MAX_COUNTERS + 3; i++)
			kt_timeline_add_counter(t, "heap_bytes", 42, 1000000 + i * 1000, i);
		assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);

		const char *s = slurp(path);

		assert_int_equal(count(s, "\"ph\":\"C\""), KT_TIMELINE_MAX_COUNTERS);
		assert_non_null(strstr(s, "\"counters_dropped\":3"));
		/* the first kept: value 0 at 1 us (first), value 3 at 4 us (last); the send began 1
		 * us before sample 0 */
		snprintf(want, sizeof(want),
			 "{\"name\":\"heap_bytes\",\"cat\":\"kaos\",\"ph\":\"C\",\"ts\":%d,"
			 "\"pid\":42,\"args\":{\"heap_bytes\":%d}}",
			 last ? 4 : 1, last ? 3 : 0);
		assert_non_null(strstr(s, want));
		snprintf(want, sizeof(want), "\"heap_bytes\":%d}",
			 last ? 2 : KT_TIMELINE_MAX_COUNTERS);
		assert_null(strstr(s, want));
		unlink(path);
	}
}

/* With last_ns, only the events that start within it of the newest end are written. */
static void test_flight_recorder_last_span(void **state)
{
	(void)state;
	char path[64], err[256];
	struct kt_timeline_opts o = {.max_events = 100, .keep_last = true, .last_ns = 25000};
	struct kt_timeline *t;

	tmp_path(path, sizeof(path));
	t = open_or_fail(path, &o);
	/* ends at 10, 20, ..., 50 us, each 1 us long: the newest ends at 50 us */
	for (int i = 1; i <= 5; i++) {
		struct kt_event e = ev(KT_EV_RECV, (uint64_t)i * 10000, 1000, 0);

		kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	}
	assert_int_equal(kt_timeline_write(t, err, sizeof(err)), 0);
	/* starts 9, 19, 29, 39, 49 us; the span begins at 25 us: three are in it */
	assert_int_equal(kt_timeline_last_written(t), 3);
	const char *s = slurp(path);

	assert_int_equal(count(s, "\"cat\":\"kaos\""), 3);
	assert_non_null(strstr(s, "\"ts\":0,\"dur\":1,"));  /* 29 us is time 0 */
	assert_non_null(strstr(s, "\"ts\":20,\"dur\":1,")); /* 49 us */
	assert_non_null(strstr(s, "\"events\":3,\"events_dropped\":2,"));
	assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);
	unlink(path);
}

/*
 * A wait measured to start 9 ns before its send (the probes' end times
 * differ) is drawn inside the send; its measured length stays in args.
 * A wait that does not overlap the thread's next send is left alone.
 */
static void test_backpressure_nests_in_send(void **state)
{
	(void)state;
	char path[64], err[256];
	struct kt_timeline_opts o = {.max_events = 16};
	struct kt_timeline *t;
	struct kt_event e[] = {
		ev(KT_EV_BACKPRESSURE, 1005000, 3000, 0), /* 1002000 .. 1005000 */
		ev(KT_EV_SEND, 1006000, 3991, 0),	  /* 1002009 .. 1006000 */
		ev(KT_EV_BACKPRESSURE, 1010000, 1000, 0), /* 1009000 .. 1010000 */
		ev(KT_EV_SEND, 1020000, 5000, 0),	  /* 1015000: a later call */
	};

	tmp_path(path, sizeof(path));
	t = open_or_fail(path, &o);
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		kt_timeline_add(t, &e[i], KT_EVENT_BASE_SIZE);
	assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);

	const char *s = slurp(path);

	/* time 0 is the send's start: the wait starts there too, 9 ns shorter */
	assert_non_null(strstr(s, "{\"name\":\"backpressure\",\"cat\":\"kaos\",\"ph\":\"X\","
				  "\"ts\":0,\"dur\":2.991,"));
	assert_non_null(strstr(s, "\"episode\":9,\"wait_ns\":3000}"));
	assert_non_null(strstr(
		s, "{\"name\":\"send\",\"cat\":\"kaos\",\"ph\":\"X\",\"ts\":0,\"dur\":3.991,"));
	assert_non_null(strstr(s, "{\"name\":\"backpressure\",\"cat\":\"kaos\",\"ph\":\"X\","
				  "\"ts\":6.991,\"dur\":1,"));
	assert_non_null(strstr(
		s, "{\"name\":\"send\",\"cat\":\"kaos\",\"ph\":\"X\",\"ts\":12.991,\"dur\":5,"));
	unlink(path);
}

static size_t file_size(const char *path)
{
	FILE *f = fopen(path, "r");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return (size_t)n;
}

/*
 * Each write replaces the file whole. A write that cannot complete (here
 * the file size limit, as a full disk would) is an error and leaves the
 * previous file as it was, with no temporary file behind.
 */
static void test_write_is_atomic(void **state)
{
	(void)state;
	char path[64], tmp[96], err[256];
	struct kt_timeline_opts o = {.max_events = 10000, .keep_last = true};
	struct kt_timeline *t;
	struct kt_event e = ev(KT_EV_SEND, 1000000, 500, 0);
	struct rlimit old, lim;
	size_t first;

	tmp_path(path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	t = open_or_fail(path, &o);
	assert_int_equal(access(tmp, F_OK), -1); /* the check at open left nothing */
	kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	assert_int_equal(kt_timeline_write(t, err, sizeof(err)), 0);
	first = file_size(path);
	for (int i = 0; i < 5000; i++)
		kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(kt_timeline_write(t, err, sizeof(err)), -1);
	setrlimit(RLIMIT_FSIZE, &old);
	assert_non_null(strstr(err, "writing "));
	if (!strstr(err, "File too large"))
		fail_msg("%s", err);
	assert_int_equal(file_size(path), first);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(kt_timeline_last_written(t), 1);
	/* and the next write, with room again, holds them all */
	assert_int_equal(kt_timeline_close(t, err, sizeof(err)), 0);
	assert_true(file_size(path) > 64 * 1024);
	unlink(path);
}

/*
 * A background write: the file appears with what was held when it began,
 * even if more events come meanwhile; its failure (the size limit, as a
 * full disk) comes back as an error line, and nothing is left behind.
 */
static void test_background_write(void **state)
{
	(void)state;
	char dir[] = "/tmp/kt-timeline-bg.XXXXXX", path[64], err[256];
	struct kt_timeline_opts o = {.max_events = 10000};
	struct kt_timeline *t;
	struct kt_event e = ev(KT_EV_SEND, 1000000, 500, 0);
	struct rlimit old, lim;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.json", dir);
	t = open_or_fail(path, &o);
	assert_int_equal(kt_timeline_reap(t, true, err, sizeof(err)), 0); /* none under way */
	for (int i = 0; i < 3; i++)
		kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	assert_int_equal(kt_timeline_write_bg(t, err, sizeof(err)), 0);
	kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE); /* after the snapshot */
	assert_int_equal(kt_timeline_reap(t, true, err, sizeof(err)), 2);
	assert_int_equal(kt_timeline_last_written(t), 3);
	assert_int_equal(count(slurp(path), "\"cat\":\"kaos\""), 3);

	for (int i = 0; i < 5000; i++)
		kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(kt_timeline_write_bg(t, err, sizeof(err)), 0);
	setrlimit(RLIMIT_FSIZE, &old);
	assert_int_equal(kt_timeline_reap(t, true, err, sizeof(err)), -1);
	if (!strstr(err, "File too large"))
		fail_msg("%s", err);
	assert_int_equal(count(slurp(path), "\"cat\":\"kaos\""), 3); /* the previous file */
	kt_timeline_free(t);
	unlink(path);
	assert_int_equal(rmdir(dir), 0); /* empty: no temporary file left */
}

/* "-": one document on stdout when closed; no background write, said why. */
static void test_stdout(void **state)
{
	(void)state;
	char path[] = "/tmp/kt-timeline-out.XXXXXX", err[256];
	struct kt_timeline_opts o = {.max_events = 8, .keep_last = true};
	struct kt_timeline *t = open_or_fail("-", &o);
	struct kt_event e = ev(KT_EV_SEND, 1000000, 500, 0);
	int fd = mkstemp(path), saved = dup(1);

	assert_true(fd >= 0 && saved >= 0);
	kt_timeline_add(t, &e, KT_EVENT_BASE_SIZE);
	assert_int_equal(kt_timeline_write_bg(t, err, sizeof(err)), -2);
	assert_non_null(strstr(err, "stdout: written once, at exit"));
	fflush(stdout);
	assert_int_equal(dup2(fd, 1), 1);
	int rc = kt_timeline_close(t, err, sizeof(err));

	dup2(saved, 1);
	close(saved);
	close(fd);
	assert_int_equal(rc, 0);
	const char *s = slurp(path);

	assert_int_equal(strncmp(s, "{\"traceEvents\":[", 16), 0);
	assert_int_equal(count(s, "\"cat\":\"kaos\""), 1);
	assert_int_equal(count(s, "{\"traceEvents\""), 1);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_and_cap),
		cmocka_unit_test(test_flight_recorder_keeps_newest),
		cmocka_unit_test(test_flight_recorder_last_span),
		cmocka_unit_test(test_backpressure_nests_in_send),
		cmocka_unit_test(test_write_is_atomic),
		cmocka_unit_test(test_background_write),
		cmocka_unit_test(test_stdout),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
