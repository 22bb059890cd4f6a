/* SPDX-License-Identifier: MIT */
/* kt_config: the INI parser and the daemon's settings, good and bad, with line numbers. */
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

#include "kt_config.h"

#define S 1000000000ull

struct seen {
	char log[1024];
	int n;
};

static int record(void *ctx, const char *section, const char *key, const char *value, char *msg,
		  size_t msglen)
{
	struct seen *s = ctx;
	size_t len = strlen(s->log);

	if (!strcmp(key, "fail")) {
		snprintf(msg, msglen, "told to fail");
		return -1;
	}
	snprintf(s->log + len, sizeof(s->log) - len, "%s.%s=%s|", section, key, value);
	s->n++;
	return 0;
}

static void test_ini(void **state)
{
	(void)state;
	struct seen s = {0};
	char err[256];
	const char *text = "# comment\n"
			   "; another\n"
			   "\n"
			   "[a]\n"
			   "  k = v  \n"
			   "k2=v2 # trailing comment\n"
			   "url = http://x/#frag\n"
			   "empty =\n"
			   "[ b ]\r\n"
			   "k = x = y\r\n"
			   "k = last"; /* no final newline */

	assert_int_equal(kt_ini_parse(text, "t.ini", record, &s, err, sizeof(err)), 0);
	assert_string_equal(s.log,
			    "a.k=v|a.k2=v2|a.url=http://x/#frag|a.empty=|b.k=x = y|b.k=last|");

	struct {
		const char *text, *err;
	} bad[] = {
		{"k = v\n", "t.ini:1: 'k' outside a [section]"},
		{"[a]\nnovalue\n", "t.ini:2: expected 'key = value' or '[section]'"},
		{"[a]\n= v\n", "t.ini:2: missing key before '='"},
		{"[a\n", "t.ini:1: expected '[section]'"},
		{"[a] x\n", "t.ini:1: expected '[section]'"},
		{"[]\n", "t.ini:1: bad section name"},
		{"[a]\n\n\nfail = 1\n", "t.ini:4: told to fail"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(kt_ini_parse(bad[i].text, "t.ini", record, &s, err, sizeof(err)),
				 -1);
		assert_string_equal(err, bad[i].err);
	}
	/* a line too long */
	size_t n = 5000;
	char *big = malloc(n + 8);

	assert_non_null(big);
	strcpy(big, "[a]\nk=");
	memset(big + 6, 'x', n);
	big[n + 6] = 0;
	assert_int_equal(kt_ini_parse(big, "t.ini", record, &s, err, sizeof(err)), -1);
	assert_string_equal(err, "t.ini:2: line longer than 4095 bytes");
	free(big);
}

static void test_config_full(void **state)
{
	(void)state;
	struct kt_config c;
	char err[512];
	const char *text = "[daemon]\n"
			   "listen = [::1]:9100\n"
			   "log_format = json\n"
			   "windows = 5s, 1m\n"
			   "eval_interval = 500ms\n"
			   "retain = 20m\n"
			   "metrics_max_rings = 100\n"
			   "ringbuf_size = 16777216\n"
			   "budget = 2.5\n"
			   "off_cpu = yes\n"
			   "off_cpu_min_block = 50us\n"
			   "[watch]\n"
			   "path = /usr/lib/libkaos.so\n"
			   "path = /opt/app/server\n"
			   "[alerts]\n"
			   "rule = send.p99 > 1us for 10s\n"
			   "rule = ring=compress.in recv.p999 > 5us over 2m\n"
			   "log = /var/log/kaos-trace/alerts.jsonl\n"
			   "exec = /bin/echo \"two words\" plain \"q\\\"uote\"\n"
			   "exec_timeout = 2s\n"
			   "[folded]\n"
			   "dir = /var/lib/kaos-trace/folded\n"
			   "interval = 30s\n"
			   "keep = 10\n"
			   "weight = latency\n"
			   "[timeline]\n"
			   "file = /tmp/t.json\n"
			   "max_events = 1000\n"
			   "last = 30s\n"
			   "keep = 3\n";

	kt_config_init(&c);
	assert_string_equal(c.listen, "127.0.0.1:9464");
	assert_int_equal(c.nwindows, 3);
	assert_false(c.off_cpu);
	assert_int_equal(c.off_cpu_min_ns, 1000);
	assert_int_equal(c.metrics_max_rings, 32);
	assert_int_equal(kt_config_parse(&c, text, "k.conf", err, sizeof(err)), 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), 0);
	assert_string_equal(c.listen, "[::1]:9100");
	assert_true(c.log_json);
	assert_int_equal(c.nwindows, 2);
	assert_int_equal(c.windows[0], 5 * S);
	assert_int_equal(c.windows[1], 60 * S);
	assert_int_equal(c.eval_ns, S / 2);
	assert_int_equal(c.retain_ns, 1200 * S);
	assert_int_equal(c.metrics_max_rings, 100);
	assert_int_equal(c.ringbuf_bytes, 16777216);
	assert_true(c.budget_pct == 2.5);
	assert_true(c.off_cpu);
	assert_int_equal(c.off_cpu_min_ns, 50000);
	assert_int_equal(c.nwatch, 2);
	assert_string_equal(c.watch[1], "/opt/app/server");
	assert_int_equal(c.nrules, 2);
	assert_string_equal(c.rules[1].ring, "compress.in");
	assert_string_equal(c.alert_log, "/var/log/kaos-trace/alerts.jsonl");
	assert_string_equal(c.exec_argv[0], "/bin/echo");
	assert_string_equal(c.exec_argv[1], "two words");
	assert_string_equal(c.exec_argv[2], "plain");
	assert_string_equal(c.exec_argv[3], "q\"uote");
	assert_null(c.exec_argv[4]);
	assert_int_equal(c.exec_timeout_ns, 2 * S);
	assert_string_equal(c.folded_dir, "/var/lib/kaos-trace/folded");
	assert_int_equal(c.folded_interval_ns, 30 * S);
	assert_int_equal(c.folded_keep, 10);
	assert_true(c.folded_latency);
	assert_string_equal(c.timeline, "/tmp/t.json");
	assert_int_equal(c.timeline_max, 1000);
	assert_true(c.timeline_keep_last); /* last implies mode = last */
	assert_int_equal(c.timeline_last_ns, 30 * S);
	assert_int_equal(c.timeline_keep, 3);

	uint64_t w[KT_WIN_MAX];

	assert_int_equal(kt_config_windows(&c, w, KT_WIN_MAX), 3);
	assert_int_equal(w[2], 120 * S);
	kt_config_free(&c);

	/* listen = off */
	kt_config_init(&c);
	assert_int_equal(kt_config_set(&c, "daemon", "listen", "off", err, sizeof(err)), 0);
	assert_string_equal(c.listen, "");
	kt_config_free(&c);
}

static void expect_bad(const char *text, const char *want)
{
	struct kt_config c;
	char err[512];

	kt_config_init(&c);
	assert_int_equal(kt_config_parse(&c, text, "k.conf", err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' lacks '%s'", text, err, want);
	kt_config_free(&c);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_bad("[daemon]\nlisen = x\n", "k.conf:2: unknown key 'lisen' in [daemon]");
	expect_bad("[deamon]\nx = 1\n", "k.conf:2: unknown section [deamon]");
	expect_bad("[daemon]\nlisten = 9464\n", "listen: expected ADDR:PORT");
	expect_bad("[daemon]\nlisten = 127.0.0.1:99999\n", "listen: bad port");
	expect_bad("[daemon]\nlisten = [::1:80\n", "expected [IPv6]:PORT");
	expect_bad("[daemon]\nlog_format = xml\n", "log_format: expected plain or json");
	expect_bad("[daemon]\nwindows = 10s, 0.5s\n", "'0.5s' is not a duration of 1s..24h");
	expect_bad("[daemon]\nwindows =\n", "windows: expected a list");
	expect_bad("[daemon]\nwindows = 1s,2s,3s,4s,5s,6s,7s,8s,9s\n", "at most 8 windows");
	expect_bad("[daemon]\neval_interval = 10ms\n", "eval_interval: invalid duration");
	expect_bad("[daemon]\nringbuf_size = 5000\n", "not a power of two");
	expect_bad("[daemon]\nmetrics_max_rings = 0\n", "metrics_max_rings");
	expect_bad("[daemon]\nmetrics_max_rings = 100001\n", "metrics_max_rings");
	expect_bad("[daemon]\nringbuf_size = -4096\n", "expected a number");
	expect_bad("[daemon]\nbudget = 200\n", "budget: expected a positive number");
	expect_bad("[daemon]\noff_cpu = maybe\n", "off_cpu: expected yes or no");
	expect_bad("[daemon]\noff_cpu_min_block = 5\n", "off_cpu_min_block: invalid duration");
	expect_bad("[daemon]\noff_cpu_min_block = 2m\n", "off_cpu_min_block: '2m' is over 1m");
	expect_bad("[watch]\nfile = /x\n", "unknown key 'file' in [watch]");
	expect_bad("[alerts]\n\nrule = send.p99 > 1\n",
		   "k.conf:3: rule 'send.p99 > 1': column 13: expected a time unit");
	expect_bad("[alerts]\nexec = notify --x\n", "must be an absolute path");
	expect_bad("[alerts]\nexec = /nonexistent/notify\n", "cannot run /nonexistent/notify");
	expect_bad("[alerts]\nexec = /bin/echo \"open\n", "unterminated quote");
	expect_bad("[folded]\nweight = bytes\n", "weight: expected count or latency");
	expect_bad("[folded]\nkeep = 0\n", "keep: expected a number 1..100000");
	expect_bad("[timeline]\nmax_events = lots\n", "max_events: expected a number");
	expect_bad("[timeline]\nmode = middle\n", "mode: expected first or last, got 'middle'");
	expect_bad("[timeline]\nlast = soon\n", "last: invalid duration");
	expect_bad("[timeline]\nkeep = 0\n", "keep: expected a number 1..100000");

	/* whole-config checks */
	struct kt_config c;
	char err[256];

	kt_config_init(&c);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nothing to watch"));
	assert_int_equal(kt_config_set(&c, "watch", "path", "/x", err, sizeof(err)), 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(
		kt_config_set(&c, "daemon", "windows", "1s,2s,3s,4s,5s,6s,7s", err, sizeof(err)),
		0);
	assert_int_equal(kt_config_set(&c, "alerts", "rule", "lost > 0 over 8s", err, sizeof(err)),
			 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(kt_config_set(&c, "alerts", "rule", "lost > 0 over 9s", err, sizeof(err)),
			 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 8 distinct windows"));
	kt_config_free(&c);

	/* a missing file */
	kt_config_init(&c);
	assert_int_equal(kt_config_load(&c, "/nonexistent/k.conf", err, sizeof(err)), -1);
	assert_string_equal(err,
			    "cannot read config /nonexistent/k.conf: No such file or directory");
	/* a directory */
	assert_int_equal(kt_config_load(&c, "/", err, sizeof(err)), -1);
	assert_string_equal(err, "config / is not a regular file");
	kt_config_free(&c);
}

/* Unwritable-as-config files: a read error, an empty file, a size the file does not tell. */
/* Sizes, percentages and probe costs take units (kt_units), bare numbers as before. */
static void test_config_units(void **state)
{
	struct kt_config c;
	char err[512];

	(void)state;
	kt_config_init(&c);
	assert_int_equal(kt_config_parse(&c,
					 "[daemon]\nringbuf_size = 16M\nbudget = 2.5%\n"
					 "probe_cost = 1.5us\noff_cpu_min_block = 5us\n",
					 "k.conf", err, sizeof(err)),
			 0);
	assert_int_equal(c.ringbuf_bytes, 16u << 20);
	assert_true(c.budget_pct == 2.5);
	assert_true(c.probe_cost_ns == 1500);
	assert_int_equal(c.off_cpu_min_ns, 5000);
	kt_config_free(&c);
	kt_config_init(&c);
	assert_int_equal(
		kt_config_parse(&c, "[daemon]\nprobe_cost = 1500.5\n", "k.conf", err, sizeof(err)),
		0);
	assert_true(c.probe_cost_ns == 1500.5);
	kt_config_free(&c);
	expect_bad("[daemon]\nprobe_cost = 1x\n", "probe_cost: expected a positive number");
	expect_bad("[daemon]\nprobe_cost = inf\n", "probe_cost: expected a positive number");
	expect_bad("[daemon]\nbudget = nan\n", "budget: expected a positive number");
	expect_bad("[daemon]\nbudget = 0%\n", "budget: expected a positive number");
	expect_bad("[daemon]\nringbuf_size = 2X\n", "ringbuf_size: expected a number");
	expect_bad("[daemon]\nringbuf_size = 2G\n", "ringbuf_size: expected a number");
}

static void test_config_load_reads(void **state)
{
	char err[512], path[] = "/tmp/kt-config-test.XXXXXX";
	struct kt_config c;
	int fd;
	(void)state;

	/* a read error is an error, not an empty config ("config OK" before) */
	kt_config_init(&c);
	assert_int_equal(kt_config_load(&c, "/proc/self/mem", err, sizeof(err)), -1);
	assert_string_equal(err, "cannot read config /proc/self/mem: Input/output error");
	kt_config_free(&c);

	/* an empty file (one being rewritten when a SIGHUP came) is not "all defaults" */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	kt_config_init(&c);
	assert_int_equal(kt_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is empty"));
	kt_config_free(&c);

	/* NUL inside, and a file whose size says 0 while it has text (/proc) */
	assert_int_equal(write(fd, "[daemon]\nlisten = off\n\0x", 24), 24);
	kt_config_init(&c);
	assert_int_equal(kt_config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL byte"));
	kt_config_free(&c);
	kt_config_init(&c);
	assert_int_equal(kt_config_load(&c, "/proc/self/comm", err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: ")); /* its text was read and parsed */
	kt_config_free(&c);
	close(fd);
	unlink(path);
}

/* The collectors' keys mirror the CLI's long options (--func, --profile, ...). */
static void test_config_collectors(void **state)
{
	(void)state;
	static const char text[] = "[daemon]\n"
				   "func = libkaos.so:kaos_ring_*\n"
				   "func = busy_*\n"
				   "max_funcs = 8\n"
				   "max_rate = 1000\n"
				   "no_usdt = yes\n"
				   "profile = 99\n"
				   "pmu = cpu-clock\n"
				   "off_cpu_min_us = 25\n" /* bare: microseconds */
				   "[watch]\n"
				   "binary = /x\n"
				   "path = /y\n";
	struct kt_config c;
	char err[256];

	kt_config_init(&c);
	assert_int_equal(kt_config_parse(&c, text, "k.conf", err, sizeof(err)), 0);
	assert_int_equal(c.nfuncs, 2);
	assert_string_equal(c.funcs[1], "busy_*");
	assert_int_equal(c.max_funcs, 8);
	assert_int_equal(c.max_rate, 1000);
	assert_true(c.no_usdt);
	assert_int_equal(c.profile_hz, 99);
	assert_string_equal(c.pmu, "cpu-clock");
	assert_int_equal(c.off_cpu_min_ns, 25000);
	assert_int_equal(c.nwatch, 2);
	assert_string_equal(c.watch[0], "/x");
	/* func calls go to the folded files or the JSON reports */
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), -1);
	assert_string_equal(
		err, "func needs [folded] dir or [json] dir (--folded-dir DIR, --json-dir DIR)");
	int nfuncs = c.nfuncs;

	c.nfuncs = 0;
	/* cpu stacks in the folded files, or on /debug/pprof/profile */
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), 0);
	assert_int_equal(kt_config_set(&c, "daemon", "listen", "off", err, sizeof(err)), 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), -1);
	assert_string_equal(err, "profile needs [folded] dir (--folded-dir DIR) or a listen "
				 "address (/debug/pprof/profile)");
	c.nfuncs = nfuncs;
	assert_int_equal(kt_config_set(&c, "folded", "dir", "/tmp", err, sizeof(err)), 0);
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), 0);
	kt_config_free(&c);
	expect_bad("[daemon]\nprofile = 0\n", "profile: expected a number 1..100000");
	expect_bad("[daemon]\nmax_funcs = 1024\n", "max_funcs: expected a number 1..1023");
	expect_bad("[daemon]\noff_cpu_min_us = 5parsecs\n", "off_cpu_min_us: expected a duration");
	expect_bad("[daemon]\nfunc =\n", "func: empty");
}

/* [json]: the daemon's interval reports; --func's latencies need no folded dir with them */
static void test_config_json(void **state)
{
	(void)state;
	const char *text = "[daemon]\n"
			   "func = busy_*\n"
			   "[json]\n"
			   "dir = /tmp\n"
			   "interval = 10s\n"
			   "keep = 7\n"
			   "[watch]\n"
			   "binary = /x\n";
	struct kt_config c;
	char err[256];

	kt_config_init(&c);
	assert_int_equal(c.json_interval_ns, 60000000000ull); /* 1m by default */
	assert_int_equal(kt_config_parse(&c, text, "k.conf", err, sizeof(err)), 0);
	assert_string_equal(c.json_dir, "/tmp");
	assert_int_equal(c.json_interval_ns, 10000000000ull);
	assert_int_equal(c.json_keep, 7);
	if (kt_config_check(&c, err, sizeof(err)))
		fail_msg("check: %s", err);
	c.json_dir[0] = '\0';
	assert_int_equal(kt_config_check(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "func needs [folded] dir or [json] dir"));
	kt_config_free(&c);
	expect_bad("[json]\ninterval = 10ms\n", "interval: invalid duration");
	expect_bad("[json]\nkeep = 0\n", "keep: expected a number 1..100000");
	expect_bad("[json]\nwhat = 1\n", "unknown key 'what' in [json]");
}

static void test_split_argv(void **state)
{
	(void)state;
	char *argv[5], msg[128];
	int argc;

	assert_int_equal(kt_config_split_argv("  /bin/x  a\tb  ", argv, 4, &argc, msg, sizeof(msg)),
			 0);
	assert_int_equal(argc, 3);
	assert_string_equal(argv[2], "b");
	assert_null(argv[3]);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	assert_int_equal(kt_config_split_argv("/bin/x \"a b\"c \"\" $HOME;rm", argv, 4, &argc, msg,
					      sizeof(msg)),
			 0);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[1], "a bc");
	assert_string_equal(argv[2], "");
	assert_string_equal(argv[3], "$HOME;rm"); /* nothing is expanded */
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	assert_int_equal(kt_config_split_argv("/bin/x 1 2 3 4", argv, 4, &argc, msg, sizeof(msg)),
			 -1);
	assert_non_null(strstr(msg, "more than 4 arguments"));
	assert_int_equal(kt_config_split_argv("   ", argv, 4, &argc, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "expected a program"));
}

/* --alloc's keys: alloc, alloc_lib (three names), alloc_short (a duration). */
static void test_config_alloc(void **state)
{
	struct kt_config c;
	char err[256];

	(void)state;
	kt_config_init(&c);
	assert_false(c.alloc);
	assert_int_equal(kt_config_parse(&c,
					 "[daemon]\nalloc = yes\nalloc_lib = jemalloc\n"
					 "alloc_short = 250us\n",
					 "k.conf", err, sizeof(err)),
			 0);
	assert_true(c.alloc);
	assert_string_equal(c.alloc_lib, "jemalloc");
	assert_int_equal(c.alloc_short_ns, 250000);
	kt_config_free(&c);
	expect_bad("[daemon]\nalloc_lib = mimalloc\n",
		   "alloc_lib: expected glibc, jemalloc or tcmalloc, got 'mimalloc'");
	expect_bad("[daemon]\nalloc_short = 0\n", "alloc_short");
	expect_bad("[daemon]\nalloc = maybe\n", "alloc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ini),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_load_reads),
		cmocka_unit_test(test_split_argv),
		cmocka_unit_test(test_config_units),
		cmocka_unit_test(test_config_collectors),
		cmocka_unit_test(test_config_json),
		cmocka_unit_test(test_config_alloc),
	};
	return cmocka_run_group_tests(tests, 0, 0);
}
