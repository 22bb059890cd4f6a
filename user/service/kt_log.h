/* SPDX-License-Identifier: MIT */
/*
 * kt_log: the daemon's log lines on stderr (journald reads them there).
 *
 * plain (default), one greppable line per message:
 *   kaos-trace: info: reload: config /etc/kaos-trace.conf applied (2 watches, 3 rules)
 *   <program>: <level>: <event>: <message>
 * json (--log-format json), one object per line:
 *   {"time":"2026-01-02T03:04:05.678Z","level":"info","event":"reload","msg":"..."}
 * <event> is a short fixed word (start, attach, reload, alert, http, ...)
 * to grep or filter on; the message is free text.
 */
#ifndef KT_LOG_H
#define KT_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum kt_log_level { KT_LOG_ERROR, KT_LOG_WARN, KT_LOG_INFO, KT_LOG_DEBUG };

/* Output stream (default stderr), format, and the most verbose level shown (default info). */
void kt_log_setup(FILE *f, bool json, enum kt_log_level max_level);
bool kt_log_json(void);

void kt_log(enum kt_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "2026-01-02T03:04:05.678Z" (UTC, CLOCK_REALTIME) into buf (>= 32 bytes). */
const char *kt_log_time(char *buf, size_t n);

#endif /* KT_LOG_H */
