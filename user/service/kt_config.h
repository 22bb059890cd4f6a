/* SPDX-License-Identifier: MIT */
/*
 * kt_config: the daemon's settings, from an INI file (deploy/kaos-trace.conf
 * is the commented reference) and/or command-line flags, which go through
 * the same setter and checks.
 *
 * INI as parsed here: "[section]" lines, "key = value" lines, comments
 * from '#' or ';' at the start of a line or after whitespace, blank lines.
 * Keys may repeat where a list is meant (watch path, alert rule). Values
 * are taken verbatim after trimming (no quotes, no escapes, no variable
 * expansion); the exec action's value is split into an argv (see below).
 * Errors name the file and line: "FILE:12: unknown key 'lisen' in [daemon]".
 */
#ifndef KT_CONFIG_H
#define KT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_rule.h"
#include "kt_window.h"

#define KT_CONFIG_MAX_WATCH 64
#define KT_CONFIG_MAX_RULES 256
#define KT_CONFIG_MAX_ARGS  32
#define KT_CONFIG_MAX_FUNCS 64

struct kt_config {
	/* [daemon] */
	char listen[128]; /* "ADDR:PORT", "[v6]:PORT"; "" (listen = off): no endpoint */
	bool log_json;
	bool verbose;
	uint64_t windows[KT_WIN_MAX]; /* as configured (rules may add theirs) */
	int nwindows;
	uint64_t eval_ns;   /* alert evaluation interval */
	uint64_t retain_ns; /* keep an exited process's series this long (0: longest window) */
	uint32_t metrics_max_rings; /* rings with their own /metrics series; more: overflow */
	uint64_t ringbuf_bytes;
	uint32_t sample;
	double budget_pct;
	double probe_cost_ns;  /* > 0: skip calibration */
	bool allow_nop5_sites; /* attach to old plain nop5 probe sites (fork hazard, docs/probes.md)
				*/
	bool off_cpu;	       /* blocked time of the traced threads (kt_offcpu); restart only */
	uint64_t off_cpu_min_ns; /* blocks shorter than this are not charged */
	/* the collectors, keys named as the CLI's long options (restart only) */
	char *funcs[KT_CONFIG_MAX_FUNCS]; /* func = [LIB:]GLOB (repeatable) */
	int nfuncs;
	uint32_t max_funcs;
	uint64_t max_rate;
	bool no_usdt;
	unsigned int profile_hz; /* profile = HZ */
	char pmu[256];		 /* pmu = EVENT[,EVENT] */
	bool alloc;		 /* alloc = yes: heap profiling (kt_alloc) */
	char alloc_lib[16];	 /* alloc_lib = glibc|jemalloc|tcmalloc ("": glibc) */
	uint64_t alloc_short_ns; /* alloc_short = DURATION (0: 1ms) */
	/* [watch] */
	char *watch[KT_CONFIG_MAX_WATCH];
	int nwatch;
	/* [alerts] */
	struct kt_rule *rules;
	int nrules;
	size_t rules_cap;
	char alert_log[PATH_MAX]; /* "" or "-": stderr */
	char *exec_argv[KT_CONFIG_MAX_ARGS + 1];
	uint64_t exec_timeout_ns;
	/* [folded] */
	char folded_dir[PATH_MAX]; /* "": no folded stacks */
	uint64_t folded_interval_ns;
	int folded_keep;
	bool folded_latency;
	/* [json]: interval reports (kaos-trace diff reads them) */
	char json_dir[PATH_MAX]; /* "": none */
	uint64_t json_interval_ns;
	int json_keep;
	/* [pprof]: push to a Pyroscope-compatible /ingest (kt_pprof_push.h) */
	char pprof_push_url[512]; /* "": no push */
	uint64_t pprof_push_interval_ns;
	bool pprof_push_folded; /* push_format = folded (default pprof) */
	char pprof_app_name[128];
	/* [timeline] */
	char timeline[PATH_MAX];
	uint64_t timeline_max;
	bool timeline_keep_last;   /* mode = last: a flight recorder */
	uint64_t timeline_last_ns; /* last = DURATION (implies mode last; 0: all held) */
	uint64_t timeline_keep;	   /* flight recorder: its timestamped files kept */
};

/* INI callback: 0 to go on, or -1 with msg (msglen bytes) set. */
typedef int (*kt_ini_fn)(void *ctx, const char *section, const char *key, const char *value,
			 char *msg, size_t msglen);

/*
 * Parses INI text, calling fn for each key. 0, or -1 with
 * "NAME:LINE: message" in err. Lines longer than 4095 bytes are errors.
 */
int kt_ini_parse(const char *text, const char *name, kt_ini_fn fn, void *ctx, char *err,
		 size_t errlen);

void kt_config_init(struct kt_config *c); /* defaults */
void kt_config_free(struct kt_config *c);

/* One setting; the same checks for the file and the flags. 0 or -1 with msg. */
int kt_config_set(struct kt_config *c, const char *section, const char *key, const char *value,
		  char *msg, size_t msglen);

/* Parses text / reads and parses path into c (on top of what c holds). 0 or -1 with err. */
int kt_config_parse(struct kt_config *c, const char *text, const char *name, char *err,
		    size_t errlen);
int kt_config_load(struct kt_config *c, const char *path, char *err, size_t errlen);

/*
 * Whole-config checks once everything is set: something to watch, the
 * windows of all rules fit in KT_WIN_MAX. 0 or -1 with err.
 */
int kt_config_check(const struct kt_config *c, char *err, size_t errlen);

/*
 * Every window length the daemon keeps: the configured ones, then those
 * of rules ("over"), without duplicates. Returns the count (<= max).
 */
int kt_config_windows(const struct kt_config *c, uint64_t *out, int max);

/*
 * Splits an exec action into an argv: words separated by blanks; "..."
 * groups words (with \" and \\ inside); nothing else is special. argv[0]
 * must be an absolute path. 0 or -1 with msg; *argc words in argv (NULL
 * terminated, strings malloc'd).
 */
int kt_config_split_argv(const char *s, char **argv, int max, int *argc, char *msg, size_t msglen);

#endif /* KT_CONFIG_H */
