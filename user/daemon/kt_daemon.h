/* SPDX-License-Identifier: MIT */
/*
 * kt_daemon: kaos-trace as a service (docs/daemon.md). It sits on
 * kt_session: the events are aggregated once, by the tracer's own kt_agg;
 * windows, alerts, /metrics and the timeline read from it.
 *
 *   kaos-trace daemon [--config FILE] [--watch PATH]... [--listen ADDR:PORT] ...
 *
 * The daemon attaches by path (every process mapping a watched object,
 * now and later), keeps rolling windows, evaluates alert rules, serves
 * /metrics, writes folded stacks per interval, and runs until SIGTERM or
 * SIGINT (detach, drain, exit 0). SIGHUP rereads the config file and
 * reapplies the flags; a config that fails any check is rejected with a
 * log line and the running one stays.
 */
#ifndef KT_DAEMON_H
#define KT_DAEMON_H

#include <stdint.h>

#include "kt_session.h"

/* argv[0] is "daemon". Returns the process exit status. */
int kt_daemon_main(int argc, char **argv);

#endif /* KT_DAEMON_H */
