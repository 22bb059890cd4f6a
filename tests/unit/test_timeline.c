/* SPDX-License-Identifier: MIT */
/* kt_timeline: trace-event records, names, the cap and its report. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_timeline.h"
#include "kt_test_events.h"

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
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
	struct kt_timeline *t = kt_timeline_open(path, 4, &a, err, sizeof(err));

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
	assert_null(kt_timeline_open("/nonexistent-dir/t.json", 10, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot write /nonexistent-dir/t.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_and_cap),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
