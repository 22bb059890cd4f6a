/* SPDX-License-Identifier: MIT */
/*
 * kt_addons: the timeline sink (its cap said once through the driver's
 * note, its closing line) and the alert log (stderr or a file, appended
 * or truncated), which the one-shot CLI and the daemon share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_addons.h"

struct notes {
	int n, warnings;
	char last[512];
};

static void collect(void *ctx, bool warning, const char *line)
{
	struct notes *nt = ctx;

	nt->n++;
	nt->warnings += warning;
	snprintf(nt->last, sizeof(nt->last), "%s", line);
}

static void fire(struct kt_session *s, int n)
{
	struct kt_event e;

	memset(&e, 0, sizeof(e));
	e.type = KT_EV_SEND;
	e.pid = (uint32_t)getpid();
	e.tid = e.pid;
	e.ring_id = 1;
	for (int i = 0; i < n; i++) {
		e.ts_ns = 1000000 + (uint64_t)i * 1000;
		s->hooks[0].fn(s->hooks[0].ctx, &e, KT_EVENT_BASE_SIZE);
	}
}

static void test_timeline_sink_cap_said_once(void **state)
{
	(void)state;
	static struct kt_session s; /* no BPF: the hook table and the aggregation only */
	struct notes nt = {0};
	struct kt_timeline_sink k = {
		.cap_hint = "--timeline-max-events", .note = collect, .note_ctx = &nt};
	char path[] = "/tmp/kt-addons.XXXXXX", msg[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	kt_agg_init(&s.agg, 0);
	struct kt_timeline_opts to = {.max_events = 3};

	assert_int_equal(kt_timeline_sink_open(&k, &s, path, &to, msg, sizeof(msg)), 0);
	assert_int_equal(s.nhooks, 1);
	fire(&s, 5);
	assert_int_equal(nt.n, 1); /* the cap, once */
	assert_int_equal(nt.warnings, 1);
	assert_non_null(strstr(nt.last, "cap of 3 events reached"));
	assert_non_null(strstr(nt.last, "(--timeline-max-events)"));
	assert_int_equal(kt_timeline_sink_close(&k, msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "wrote 3 events to timeline"));
	assert_non_null(strstr(msg, "cap reached"));
	fire(&s, 1); /* a late event after closing is ignored, not a crash */
	/* the file holds the 3 events written at close (kt_timeline.h: held in memory till then) */
	assert_int_equal(kt_timeline_sink_close(&k, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	kt_agg_free(&s.agg);
	unlink(path);
}

static void test_alert_log_stderr_append_truncate(void **state)
{
	(void)state;
	char path[] = "/tmp/kt-alertlog.XXXXXX", err[256], buf[64] = "";
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old\n", 4), 4);
	close(fd);
	assert_ptr_equal(kt_alert_log_open(NULL, true, err, sizeof(err)), stderr);
	assert_ptr_equal(kt_alert_log_open("-", false, err, sizeof(err)), stderr);
	assert_int_equal(kt_alert_log_close(stderr), 0);
	f = kt_alert_log_open(path, true, err, sizeof(err));
	assert_non_null(f);
	fputs("new\n", f);
	assert_int_equal(kt_alert_log_close(f), 0);
	f = fopen(path, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8); /* appended */
	fclose(f);
	f = kt_alert_log_open(path, false, err, sizeof(err));
	assert_int_equal(kt_alert_log_close(f), 0);
	f = fopen(path, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 0); /* truncated */
	fclose(f);
	assert_null(kt_alert_log_open("/nonexistent-dir/x", true, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot write /nonexistent-dir/x"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeline_sink_cap_said_once),
		cmocka_unit_test(test_alert_log_stderr_append_truncate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
