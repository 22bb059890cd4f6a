// SPDX-License-Identifier: MIT
#include "kt_config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_array.h"
#include "kt_event.h"
#include "kt_pprof_push.h"
#include "kt_timeline.h"
#include "kt_units.h"

#define INI_LINE_MAX 4096

/* ---------------------------------------------------------------- INI */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

/* Cuts a comment: '#' or ';' at the start or after whitespace. */
static void cut_comment(char *s)
{
	for (char *p = s; *p; p++)
		if ((*p == '#' || *p == ';') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = 0;
			return;
		}
}

int kt_ini_parse(const char *text, const char *name, kt_ini_fn fn, void *ctx, char *err,
		 size_t errlen)
{
	char section[64] = "", line[INI_LINE_MAX], msg[512];
	const char *p = text;
	int lineno = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		lineno++;
		if (len >= sizeof(line)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", name, lineno,
				 sizeof(line) - 1);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = 0;
		p += len + (nl ? 1 : 0);
		if (memchr(line, 0, len)) {
			snprintf(err, errlen, "%s:%d: NUL byte in line", name, lineno);
			return -1;
		}
		cut_comment(line);
		char *s = trim(line);

		if (!*s)
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end || end[1]) {
				snprintf(err, errlen, "%s:%d: expected '[section]'", name, lineno);
				return -1;
			}
			*end = 0;
			char *sec = trim(s + 1);

			if (!*sec || strlen(sec) >= sizeof(section)) {
				snprintf(err, errlen, "%s:%d: bad section name", name, lineno);
				return -1;
			}
			snprintf(section, sizeof(section), "%s", sec);
			continue;
		}
		char *eq = strchr(s, '=');

		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'key = value' or '[section]'", name,
				 lineno);
			return -1;
		}
		*eq = 0;
		char *key = trim(s), *value = trim(eq + 1);

		if (!*key) {
			snprintf(err, errlen, "%s:%d: missing key before '='", name, lineno);
			return -1;
		}
		if (!section[0]) {
			snprintf(err, errlen, "%s:%d: '%s' outside a [section]", name, lineno, key);
			return -1;
		}
		msg[0] = 0;
		if (fn(ctx, section, key, value, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%d: %s", name, lineno, msg[0] ? msg : "invalid");
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- values */

void kt_config_init(struct kt_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:9464");
	c->windows[0] = 10000000000ull;
	c->windows[1] = 60000000000ull;
	c->windows[2] = 600000000000ull;
	c->nwindows = 3;
	c->eval_ns = 1000000000ull;
	c->ringbuf_bytes = 8u << 20;
	c->exec_timeout_ns = 10000000000ull;
	c->folded_interval_ns = 60000000000ull;
	c->folded_keep = 60;
	c->json_interval_ns = 60000000000ull;
	c->json_keep = 60;
	c->timeline_max = KT_TIMELINE_DEFAULT_MAX;
	c->timeline_keep = 10;
	c->off_cpu_min_ns = 1000;
	c->pprof_push_interval_ns = KT_PUSH_DEFAULT_INTERVAL_NS;
	snprintf(c->pprof_app_name, sizeof(c->pprof_app_name), "kaos-trace");
	c->metrics_max_rings = 32; /* KT_PROM_DEFAULT_MAX_RINGS; docs/daemon.md has the bound */
}

static void free_argv(char **argv)
{
	for (int i = 0; argv[i]; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
}

void kt_config_free(struct kt_config *c)
{
	for (int i = 0; i < c->nwatch; i++)
		free(c->watch[i]);
	for (int i = 0; i < c->nfuncs; i++)
		free(c->funcs[i]);
	free(c->rules);
	free_argv(c->exec_argv);
	memset(c, 0, sizeof(*c));
}

static int bad(char *msg, size_t n, const char *fmt, const char *a, const char *b)
{
	snprintf(msg, n, fmt, a, b);
	return -1;
}

static int set_duration(uint64_t *dst, const char *key, const char *v, uint64_t min, char *msg,
			size_t n)
{
	uint64_t ns;

	if (kt_parse_duration(v, &ns) || ns < min)
		return bad(msg, n, "%s: invalid duration '%s' (e.g. 10s, 1m)", key, v);
	*dst = ns;
	return 0;
}

static int set_bool(bool *dst, const char *key, const char *v, char *msg, size_t n)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*dst = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*dst = false;
	else
		return bad(msg, n, "%s: expected yes or no, got '%s'", key, v);
	return 0;
}

static int set_u64(uint64_t *dst, const char *key, const char *v, uint64_t min, uint64_t max,
		   char *msg, size_t n)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (!*v || *v == '-' || *end || errno || x < min || x > max) {
		snprintf(msg, n, "%s: expected a number %llu..%llu, got '%s'", key,
			 (unsigned long long)min, (unsigned long long)max, v);
		return -1;
	}
	*dst = x;
	return 0;
}

/*
 * budget: a percentage ("2.5", "2.5%"); probe_cost: ns, a bare number
 * (fractional, as before) or a duration ("1.5us"). Both through kt_units.
 */
static int parse_positive(const char *key, const char *v, double *x)
{
	size_t len = strlen(v);
	uint64_t ns;

	if (!strcmp(key, "budget"))
		return kt_parse_percent(v, x) || !(*x > 0) ? -1 : 0;
	if (len && v[len - 1] >= '0' && v[len - 1] <= '9') {
		if (kt_parse_percent(v, x)) /* a plain decimal (it ends in a digit: no '%') */
			return -1;
	} else if (kt_parse_duration(v, &ns)) {
		return -1;
	} else {
		*x = (double)ns;
	}
	return *x > 0 && isfinite(*x) ? 0 : -1;
}

static int set_path(char *dst, size_t dlen, const char *key, const char *v, char *msg, size_t n)
{
	if (strlen(v) >= dlen)
		return bad(msg, n, "%s: path too long: '%.64s...'", key, v);
	snprintf(dst, dlen, "%s", v);
	return 0;
}

/* "host:port" with a numeric port 0..65535; host may be [v6]. */
static int check_listen(const char *v, char *msg, size_t n)
{
	const char *colon = strrchr(v, ':');
	char *end;
	long port;

	if (!colon || colon == v)
		return bad(msg, n, "listen: expected ADDR:PORT (or off), got '%s'%s", v, "");
	if (v[0] == '[' && colon[-1] != ']')
		return bad(msg, n, "listen: expected [IPv6]:PORT, got '%s'%s", v, "");
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 0 || port > 65535)
		return bad(msg, n, "listen: bad port in '%s'%s", v, "");
	return 0;
}

static int set_windows(struct kt_config *c, const char *v, char *msg, size_t n)
{
	char buf[256], *save = NULL;
	int nw = 0;
	uint64_t w[KT_WIN_MAX];

	if (strlen(v) >= sizeof(buf))
		return bad(msg, n, "windows: value too long%s%s", "", "");
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t ns;

		if (kt_parse_duration(tok, &ns) || ns < 1000000000ull || ns > 86400000000000ull)
			return bad(msg, n, "windows: '%s' is not a duration of 1s..24h%s", tok, "");
		if (nw == KT_WIN_MAX)
			return bad(msg, n, "windows: at most 8 windows%s%s", "", "");
		w[nw++] = ns;
	}
	if (!nw)
		return bad(msg, n, "windows: expected a list like 10s, 1m, 10m%s%s", "", "");
	memcpy(c->windows, w, sizeof(w[0]) * (size_t)nw);
	c->nwindows = nw;
	return 0;
}

int kt_config_split_argv(const char *s, char **argv, int max, int *argc, char *msg, size_t n)
{
	size_t len = strlen(s);
	char *word = malloc(len + 1);
	int k = 0;

	if (!word)
		return bad(msg, n, "out of memory%s%s", "", "");
	argv[0] = NULL;
	while (*s) {
		size_t j = 0;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		while (*s && *s != ' ' && *s != '\t') {
			if (*s != '"') {
				word[j++] = *s++;
				continue;
			}
			s++; /* quoted part */
			while (*s && *s != '"') {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				word[j++] = *s++;
			}
			if (!*s) {
				free(word);
				free_argv(argv);
				return bad(msg, n, "exec: unterminated quote%s%s", "", "");
			}
			s++;
		}
		word[j] = 0;
		if (k == max) {
			free(word);
			free_argv(argv);
			snprintf(msg, n, "exec: more than %d arguments", max);
			return -1;
		}
		argv[k] = strdup(word);
		if (!argv[k]) {
			free(word);
			free_argv(argv);
			return bad(msg, n, "out of memory%s%s", "", "");
		}
		argv[++k] = NULL;
	}
	free(word);
	*argc = k;
	if (k == 0)
		return bad(msg, n, "exec: expected a program and its arguments%s%s", "", "");
	if (argv[0][0] != '/') {
		snprintf(msg, n, "exec: '%s' must be an absolute path (no shell, no PATH search)",
			 argv[0]);
		free_argv(argv);
		return -1;
	}
	return 0;
}

/* A number in [min, max] into a narrower field. */
static int set_u32(uint32_t *dst, const char *key, const char *v, uint64_t min, uint64_t max,
		   char *msg, size_t n)
{
	uint64_t x;

	if (set_u64(&x, key, v, min, max, msg, n))
		return -1;
	*dst = (uint32_t)x;
	return 0;
}

/* The collectors' keys, named as the CLI's options: 1 if key is not one of them. */
static int set_collector(struct kt_config *c, const char *key, const char *v, char *msg, size_t n)
{
	uint64_t x;

	if (!strcmp(key, "func")) {
		if (!*v)
			return bad(msg, n, "func: empty%s%s", "", "");
		if (c->nfuncs == KT_CONFIG_MAX_FUNCS)
			return bad(msg, n, "more than 64 func patterns%s%s", "", "");
		if (!(c->funcs[c->nfuncs] = strdup(v)))
			return bad(msg, n, "out of memory%s%s", "", "");
		c->nfuncs++;
		return 0;
	}
	if (!strcmp(key, "max_funcs"))
		return set_u32(&c->max_funcs, key, v, 1, KT_FUNC_MAX - 1, msg, n);
	if (!strcmp(key, "max_rate"))
		return set_u64(&c->max_rate, key, v, 1, 1ull << 32, msg, n);
	if (!strcmp(key, "no_usdt"))
		return set_bool(&c->no_usdt, key, v, msg, n);
	if (!strcmp(key, "profile"))
		return set_u32(&c->profile_hz, key, v, 1, 100000, msg, n);
	if (!strcmp(key, "pmu"))
		return set_path(c->pmu, sizeof(c->pmu), key, v, msg, n);
	if (!strcmp(key, "alloc"))
		return set_bool(&c->alloc, key, v, msg, n);
	if (!strcmp(key, "alloc_lib")) {
		if (strcmp(v, "glibc") && strcmp(v, "jemalloc") && strcmp(v, "tcmalloc"))
			return bad(msg, n,
				   "alloc_lib: expected glibc, jemalloc or tcmalloc, got '%s'%s", v,
				   "");
		return set_path(c->alloc_lib, sizeof(c->alloc_lib), key, v, msg, n);
	}
	if (!strcmp(key, "alloc_short"))
		return set_duration(&c->alloc_short_ns, key, v, 1, msg, n);
	if (!strcmp(key, "off_cpu_min_us")) {
		/* as the CLI's --off-cpu-min-us: a duration, a bare number in microseconds */
		if (kt_parse_duration_in(v, KT_NS_PER_US, &x) || x > 60 * KT_NS_PER_S)
			return bad(msg, n,
				   "%s: expected a duration up to 1m (5us, 1ms; bare: us), "
				   "got '%s'",
				   key, v);
		c->off_cpu_min_ns = x;
		return 0;
	}
	return 1;
}

static int set_daemon(struct kt_config *c, const char *key, const char *v, char *msg, size_t n)
{
	int e = set_collector(c, key, v, msg, n);

	if (e <= 0)
		return e;
	if (!strcmp(key, "listen")) {
		if (!strcmp(v, "off")) {
			c->listen[0] = 0;
			return 0;
		}
		if (check_listen(v, msg, n))
			return -1;
		return set_path(c->listen, sizeof(c->listen), key, v, msg, n);
	}
	if (!strcmp(key, "log_format")) {
		if (strcmp(v, "plain") && strcmp(v, "json"))
			return bad(msg, n, "log_format: expected plain or json, got '%s'%s", v, "");
		c->log_json = !strcmp(v, "json");
		return 0;
	}
	if (!strcmp(key, "verbose"))
		return set_bool(&c->verbose, key, v, msg, n);
	if (!strcmp(key, "off_cpu"))
		return set_bool(&c->off_cpu, key, v, msg, n);
	if (!strcmp(key, "allow_nop5_sites"))
		return set_bool(&c->allow_nop5_sites, key, v, msg, n);
	if (!strcmp(key, "off_cpu_min_block")) {
		if (set_duration(&c->off_cpu_min_ns, key, v, 0, msg, n))
			return -1;
		if (c->off_cpu_min_ns > 60000000000ull)
			return bad(msg, n, "off_cpu_min_block: '%s' is over 1m%s", v, "");
		return 0;
	}
	if (!strcmp(key, "windows"))
		return set_windows(c, v, msg, n);
	if (!strcmp(key, "eval_interval"))
		return set_duration(&c->eval_ns, key, v, 100000000ull, msg, n);
	if (!strcmp(key, "retain"))
		return set_duration(&c->retain_ns, key, v, 0, msg, n);
	if (!strcmp(key, "metrics_max_rings")) {
		uint64_t x;

		if (set_u64(&x, key, v, 1, 100000, msg, n))
			return -1;
		c->metrics_max_rings = (uint32_t)x;
		return 0;
	}
	if (!strcmp(key, "ringbuf_size")) {
		/* kt_units: 16777216, 0x1000000 or 16M */
		if (kt_parse_size(v, &c->ringbuf_bytes) || c->ringbuf_bytes < 4096 ||
		    c->ringbuf_bytes > (1ull << 30))
			return bad(msg, n,
				   "ringbuf_size: expected a number 4096..1G (e.g. 2M), got '%s'%s",
				   v, "");
		if (c->ringbuf_bytes & (c->ringbuf_bytes - 1))
			return bad(msg, n, "ringbuf_size: '%s' is not a power of two%s", v, "");
		return 0;
	}
	if (!strcmp(key, "sample")) {
		uint64_t x;

		if (set_u64(&x, key, v, 1, 1u << 30, msg, n))
			return -1;
		c->sample = (uint32_t)x;
		return 0;
	}
	if (!strcmp(key, "budget") || !strcmp(key, "probe_cost")) {
		double x;

		if (parse_positive(key, v, &x) || (!strcmp(key, "budget") && x > 100))
			return bad(msg, n, "%s: expected a positive number, got '%s'", key, v);
		if (!strcmp(key, "budget"))
			c->budget_pct = x;
		else
			c->probe_cost_ns = x;
		return 0;
	}
	return bad(msg, n, "unknown key '%s' in [daemon]%s", key, "");
}

/* [json] dir, interval, keep: the daemon's interval reports (--json-dir). */
static int set_json(struct kt_config *c, const char *key, const char *v, char *msg, size_t n)
{
	uint64_t k;

	if (!strcmp(key, "dir"))
		return set_path(c->json_dir, sizeof(c->json_dir), key, v, msg, n);
	if (!strcmp(key, "interval"))
		return set_duration(&c->json_interval_ns, key, v, 1000000000ull, msg, n);
	if (!strcmp(key, "keep")) {
		if (set_u64(&k, key, v, 1, 100000, msg, n))
			return -1;
		c->json_keep = (int)k;
		return 0;
	}
	return bad(msg, n, "unknown key '%s' in [json]%s", key, "");
}

static int set_alerts(struct kt_config *c, const char *key, const char *v, char *msg, size_t n)
{
	if (!strcmp(key, "rule")) {
		struct kt_rule_error e;
		struct kt_rule r;
		char eb[256];

		if (kt_rule_parse(v, &r, &e)) {
			snprintf(msg, n, "rule '%s': %s", v, kt_rule_strerror(&e, eb, sizeof(eb)));
			return -1;
		}
		if (c->nrules == KT_CONFIG_MAX_RULES)
			return bad(msg, n, "more than 256 rules%s%s", "", "");
		if (kt_array_reserve(c->rules, c->rules_cap, (size_t)c->nrules + 1))
			return bad(msg, n, "out of memory%s%s", "", "");
		c->rules[c->nrules++] = r;
		return 0;
	}
	if (!strcmp(key, "log"))
		return set_path(c->alert_log, sizeof(c->alert_log), key, v, msg, n);
	if (!strcmp(key, "exec")) {
		char *argv[KT_CONFIG_MAX_ARGS + 1];
		int argc;

		if (kt_config_split_argv(v, argv, KT_CONFIG_MAX_ARGS, &argc, msg, n))
			return -1;
		if (access(argv[0], X_OK)) {
			snprintf(msg, n, "exec: cannot run %s: %s", argv[0], strerror(errno));
			free_argv(argv);
			return -1;
		}
		free_argv(c->exec_argv);
		memcpy(c->exec_argv, argv, sizeof(argv[0]) * (size_t)(argc + 1));
		return 0;
	}
	if (!strcmp(key, "exec_timeout"))
		return set_duration(&c->exec_timeout_ns, key, v, 1000000ull, msg, n);
	return bad(msg, n, "unknown key '%s' in [alerts]%s", key, "");
}

static int set_pprof(struct kt_config *c, const char *key, const char *v, char *msg, size_t n)
{
	if (!strcmp(key, "push_url")) {
		struct kt_push_url u;

		if (*v && kt_push_url_parse(v, &u, msg, n))
			return -1;
		if (strlen(v) >= sizeof(c->pprof_push_url))
			return bad(msg, n, "push_url: longer than 511 bytes%s%s", "", "");
		snprintf(c->pprof_push_url, sizeof(c->pprof_push_url), "%s", v);
		return 0;
	}
	if (!strcmp(key, "push_interval"))
		return set_duration(&c->pprof_push_interval_ns, key, v, 1000000000ull, msg, n);
	if (!strcmp(key, "push_format")) {
		if (strcmp(v, "pprof") && strcmp(v, "folded"))
			return bad(msg, n, "push_format: expected pprof or folded, got '%s'%s", v,
				   "");
		c->pprof_push_folded = !strcmp(v, "folded");
		return 0;
	}
	if (!strcmp(key, "app_name")) {
		if (!kt_push_app_name_ok(v))
			return bad(msg, n,
				   "app_name: '%s': expected 1 to 127 letters, digits, '.', '_', "
				   "'-'%s",
				   v, "");
		snprintf(c->pprof_app_name, sizeof(c->pprof_app_name), "%s", v);
		return 0;
	}
	return bad(msg, n,
		   "unknown key '%s' in [pprof] (expected push_url, push_interval, "
		   "push_format, app_name)%s",
		   key, "");
}

int kt_config_set(struct kt_config *c, const char *section, const char *key, const char *value,
		  char *msg, size_t n)
{
	if (!strcmp(section, "daemon"))
		return set_daemon(c, key, value, msg, n);
	if (!strcmp(section, "watch")) {
		/* binary: named as the CLI's -b/--binary */
		if (strcmp(key, "path") && strcmp(key, "binary"))
			return bad(msg, n, "unknown key '%s' in [watch] (expected path)%s", key,
				   "");
		if (!*value)
			return bad(msg, n, "path: empty%s%s", "", "");
		if (c->nwatch == KT_CONFIG_MAX_WATCH)
			return bad(msg, n, "more than 64 watch paths%s%s", "", "");
		if (!(c->watch[c->nwatch] = strdup(value)))
			return bad(msg, n, "out of memory%s%s", "", "");
		c->nwatch++;
		return 0;
	}
	if (!strcmp(section, "alerts"))
		return set_alerts(c, key, value, msg, n);
	if (!strcmp(section, "folded")) {
		if (!strcmp(key, "dir"))
			return set_path(c->folded_dir, sizeof(c->folded_dir), key, value, msg, n);
		if (!strcmp(key, "interval"))
			return set_duration(&c->folded_interval_ns, key, value, 1000000000ull, msg,
					    n);
		if (!strcmp(key, "keep")) {
			uint64_t k;

			if (set_u64(&k, key, value, 1, 100000, msg, n))
				return -1;
			c->folded_keep = (int)k;
			return 0;
		}
		if (!strcmp(key, "weight")) {
			if (strcmp(value, "count") && strcmp(value, "latency"))
				return bad(msg, n, "weight: expected count or latency, got '%s'%s",
					   value, "");
			c->folded_latency = !strcmp(value, "latency");
			return 0;
		}
		return bad(msg, n, "unknown key '%s' in [folded]%s", key, "");
	}
	if (!strcmp(section, "json"))
		return set_json(c, key, value, msg, n);
	if (!strcmp(section, "pprof"))
		return set_pprof(c, key, value, msg, n);
	if (!strcmp(section, "timeline")) {
		if (!strcmp(key, "file"))
			return set_path(c->timeline, sizeof(c->timeline), key, value, msg, n);
		if (!strcmp(key, "max_events"))
			return set_u64(&c->timeline_max, key, value, 1, 100000000, msg, n);
		if (!strcmp(key, "mode") && (!strcmp(value, "first") || !strcmp(value, "last"))) {
			c->timeline_keep_last = !strcmp(value, "last");
			return 0;
		}
		if (!strcmp(key, "mode"))
			return bad(msg, n, "mode: expected first or last, got '%s'%s", value, "");
		if (!strcmp(key, "last")) {
			c->timeline_keep_last = true;
			return set_duration(&c->timeline_last_ns, key, value, 1, msg, n);
		}
		if (!strcmp(key, "keep"))
			return set_u64(&c->timeline_keep, key, value, 1, 100000, msg, n);
		return bad(msg, n, "unknown key '%s' in [timeline]%s", key, "");
	}
	return bad(msg, n,
		   "unknown section [%s] (expected daemon, watch, alerts, folded, json, pprof, "
		   "timeline)%s",
		   section, "");
}

static int ini_cb(void *ctx, const char *section, const char *key, const char *value, char *msg,
		  size_t msglen)
{
	return kt_config_set(ctx, section, key, value, msg, msglen);
}

int kt_config_parse(struct kt_config *c, const char *text, const char *name, char *err,
		    size_t errlen)
{
	return kt_ini_parse(text, name, ini_cb, c, err, errlen);
}

#define CONFIG_MAX (1 << 20)

/*
 * Reads a whole config file into a NUL-terminated buffer. Read until end of
 * file, never trusting st_size: /proc files say 0, and a read error (EIO
 * from /proc/self/mem) must be an error, not an empty config. 0 or -1 with err.
 */
static int read_config_text(const char *path, char **out, size_t *out_len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t len = 0;
	char *text;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read config %s: %s", path, strerror(errno));
		return -1;
	}
	/* a directory opens too; a FIFO would block a reload */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "config %s is not a regular file", path);
		close(fd);
		return -1;
	}
	text = malloc(CONFIG_MAX + 1);
	if (!text) {
		snprintf(err, errlen, "cannot read config %s: out of memory", path);
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, text + len, CONFIG_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read config %s: %s", path, strerror(errno));
			break;
		}
		if (r == 0) {
			close(fd);
			text[len] = 0;
			*out = text;
			*out_len = len;
			return 0;
		}
		len += (size_t)r;
		if (len > CONFIG_MAX) {
			snprintf(err, errlen, "config %s is larger than 1 MiB", path);
			break;
		}
	}
	close(fd);
	free(text);
	return -1;
}

int kt_config_load(struct kt_config *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text;
	int rc;

	if (read_config_text(path, &text, &len, err, errlen))
		return -1;
	if (strlen(text) != len) {
		snprintf(err, errlen, "config %s: NUL byte in the file", path);
		free(text);
		return -1;
	}
	if (!len) {
		/* an empty read is no config: taken as one, it silently meant the defaults */
		snprintf(err, errlen, "config %s is empty", path);
		free(text);
		return -1;
	}
	rc = kt_config_parse(c, text, path, err, errlen);
	free(text);
	return rc;
}

int kt_config_windows(const struct kt_config *c, uint64_t *out, int max)
{
	int n = 0;

	for (int i = 0; i < c->nwindows + c->nrules; i++) {
		uint64_t w = i < c->nwindows ? c->windows[i] : c->rules[i - c->nwindows].window_ns;
		bool dup = false;

		if (!w)
			continue;
		for (int j = 0; j < n; j++)
			dup |= out[j] == w;
		if (dup)
			continue;
		if (n == max)
			return max + 1;
		out[n++] = w;
	}
	return n;
}

int kt_config_check(const struct kt_config *c, char *err, size_t errlen)
{
	uint64_t w[KT_WIN_MAX + 1];

	if (c->nwatch == 0) {
		snprintf(err, errlen, "nothing to watch: give [watch] path = ... or -b PATH");
		return -1;
	}
	if (kt_config_windows(c, w, KT_WIN_MAX) > KT_WIN_MAX) {
		snprintf(err, errlen,
			 "more than %d distinct windows (windows + the rules' 'over'): use fewer",
			 KT_WIN_MAX);
		return -1;
	}
	if (c->nfuncs && !c->folded_dir[0] && !c->json_dir[0]) {
		/* --func's calls: in the folded files, its latencies in the JSON reports */
		snprintf(
			err, errlen,
			"func needs [folded] dir or [json] dir (--folded-dir DIR, --json-dir DIR)");
		return -1;
	}
	if (c->pprof_push_url[0] && !c->profile_hz && !c->off_cpu && !c->folded_dir[0] &&
	    !c->alloc) {
		/* the kinds pushed: cpu, off-cpu, latency (event stacks), alloc */
		snprintf(err, errlen,
			 "push_url has nothing to push: it needs profile, off_cpu, alloc or "
			 "[folded] "
			 "dir (--profile HZ, --off-cpu, --alloc, --folded-dir DIR)");
		return -1;
	}
	if (c->profile_hz && !c->folded_dir[0] && !c->listen[0] && !c->pprof_push_url[0]) {
		/* CPU stacks go to the folded files or /debug/pprof/profile */
		snprintf(err, errlen,
			 "profile needs [folded] dir (--folded-dir DIR) or a listen address "
			 "(/debug/pprof/profile)");
		return -1;
	}
	if (c->sample && c->budget_pct) {
		snprintf(err, errlen, "sample and budget are exclusive");
		return -1;
	}
	return 0;
}
