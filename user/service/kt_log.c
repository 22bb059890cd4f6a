// SPDX-License-Identifier: MIT
#include "kt_log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "kt_json.h"

static FILE *log_fp;
static bool log_as_json;
static enum kt_log_level log_max = KT_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void kt_log_setup(FILE *f, bool json, enum kt_log_level max_level)
{
	log_fp = f;
	log_as_json = json;
	log_max = max_level;
}

bool kt_log_json(void)
{
	return log_as_json;
}

const char *kt_log_time(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
	return buf;
}

void kt_log(enum kt_log_level level, const char *event, const char *fmt, ...)
{
	FILE *f = log_fp ? log_fp : stderr;
	char msg[1024], tb[40];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* one message, one line: newlines from outside (paths, errors) are flattened */
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (!log_as_json) {
		fprintf(f, "kaos-trace: %s: %s: %s\n", level_names[level], event, msg);
		fflush(f);
		return;
	}
	struct kt_json w;

	kt_json_init_buf(&w);
	kt_json_object_begin(&w);
	kt_json_kv_string(&w, "time", kt_log_time(tb, sizeof(tb)));
	kt_json_kv_string(&w, "level", level_names[level]);
	kt_json_kv_string(&w, "event", event);
	kt_json_kv_string(&w, "msg", msg);
	kt_json_object_end(&w);
	kt_json_eol(&w);
	if (!kt_json_error(&w)) {
		size_t len;
		const char *s = kt_json_buf(&w, &len);

		fwrite(s, 1, len, f);
		fflush(f);
	}
	kt_json_free(&w);
}
