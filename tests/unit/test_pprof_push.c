/* SPDX-License-Identifier: MIT */
/*
 * kt_pprof_push: the push URL, app names, the bounded queue, the [pprof] config keys,
 * the request: Pyroscope's multipart pprof (profile + sample_type_config) or folded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_config.h"
#include "kt_pprof_push.h"

static void url_ok(const char *url, const char *host, const char *port, const char *path)
{
	struct kt_push_url u;
	char msg[256] = "";

	assert_int_equal(kt_push_url_parse(url, &u, msg, sizeof(msg)), 0);
	assert_string_equal(u.host, host);
	assert_string_equal(u.port, port);
	assert_string_equal(u.path, path);
}

static void url_bad(const char *url, const char *want)
{
	struct kt_push_url u;
	char msg[256] = "";

	assert_int_equal(kt_push_url_parse(url, &u, msg, sizeof(msg)), -1);
	if (!strstr(msg, want))
		fail_msg("'%s': '%s' lacks '%s'", url, msg, want);
	assert_null(strchr(msg, '\n'));
}

static void test_url(void **state)
{
	(void)state;
	url_ok("http://127.0.0.1:4040/ingest", "127.0.0.1", "4040", "/ingest");
	url_ok("http://pyroscope:4040", "pyroscope", "4040", "/ingest");
	url_ok("http://pyroscope", "pyroscope", "80", "/ingest");
	url_ok("http://[::1]:4040/x/ingest?tenant=a", "::1", "4040", "/x/ingest?tenant=a");
	url_ok("http://[::1]/", "::1", "80", "/");
	url_bad("https://127.0.0.1:4040/ingest", "https is not supported");
	url_bad("ftp://h/ingest", "expected http://HOST[:PORT][/PATH]");
	url_bad("127.0.0.1:4040", "expected http://");
	url_bad("http://", "bad host or port");
	url_bad("http://:4040/ingest", "bad host or port");
	url_bad("http://h:0/ingest", "bad host or port");
	url_bad("http://h:65536/ingest", "bad host or port");
	url_bad("http://h:12x/ingest", "bad host or port");
	url_bad("http://h:/ingest", "bad host or port");
	url_bad("http://user@h/ingest", "bad host or port");
	url_bad("http://[::1/ingest", "bad host or port");
	url_bad("http://[::1]x/ingest", "bad host or port");
	url_bad("http://h?x=1", "expected a path from '/'");
	url_bad("http://h/in gest", "blank, control or '#'");
	url_bad("http://h/ingest#f", "blank, control or '#'");
}

static void test_app_name(void **state)
{
	char longname[200];

	(void)state;
	assert_true(kt_push_app_name_ok("kaos-trace"));
	assert_true(kt_push_app_name_ok("my.app_1"));
	assert_false(kt_push_app_name_ok(""));
	assert_false(kt_push_app_name_ok("a b"));
	assert_false(kt_push_app_name_ok("a&b"));
	assert_false(kt_push_app_name_ok("a{b}"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_false(kt_push_app_name_ok(longname));
}

static struct kt_push_item item(enum kt_push_kind kind, int64_t from)
{
	struct kt_push_item it = {.kind = kind, .from = from, .len = 1};

	it.body = malloc(1);
	assert_non_null(it.body);
	return it;
}

static void test_queue(void **state)
{
	struct kt_push_queue q = {0};
	struct kt_push_item it;

	(void)state;
	assert_null(kt_push_queue_peek(&q));
	assert_false(kt_push_queue_take(&q, &it));
	/* fill: nothing dropped */
	for (int i = 0; i < KT_PUSH_QUEUE_MAX; i++) {
		it = item(i % 2 ? KT_PUSH_OFFCPU : KT_PUSH_CPU, i);
		assert_int_equal(kt_push_queue_add(&q, &it, false), -1);
	}
	assert_int_equal(q.n, KT_PUSH_QUEUE_MAX);
	/* full: the oldest (from 0, cpu) makes room; its kind says what to count */
	it = item(KT_PUSH_LATENCY, 100);
	assert_int_equal(kt_push_queue_add(&q, &it, false), KT_PUSH_CPU);
	assert_int_equal(q.n, KT_PUSH_QUEUE_MAX);
	assert_int_equal(kt_push_queue_peek(&q)->from, 1);
	/* one out (being sent), a retry goes back first */
	assert_true(kt_push_queue_take(&q, &it));
	assert_int_equal(it.from, 1);
	assert_int_equal(kt_push_queue_add(&q, &it, true), -1);
	assert_int_equal(kt_push_queue_peek(&q)->from, 1);
	/* a retry into a full queue is itself the oldest: it is dropped */
	assert_true(kt_push_queue_take(&q, &it));
	{
		struct kt_push_item fill = item(KT_PUSH_CPU, 200);

		assert_int_equal(kt_push_queue_add(&q, &fill, false), -1);
	}
	assert_int_equal(kt_push_queue_add(&q, &it, true), KT_PUSH_OFFCPU);
	assert_int_equal(kt_push_queue_peek(&q)->from, 2);
	/* the order: 2..7, 100, 200 */
	int64_t want[] = {2, 3, 4, 5, 6, 7, 100, 200};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(kt_push_queue_take(&q, &it));
		assert_int_equal(it.from, want[i]);
		free(it.body);
	}
	assert_false(kt_push_queue_take(&q, &it));
	kt_push_queue_clear(&q);
}

static int parse(struct kt_config *c, const char *text, char *err, size_t n)
{
	kt_config_init(c);
	if (kt_config_parse(c, text, "t.conf", err, n))
		return -1;
	return kt_config_check(c, err, n);
}

static void test_config(void **state)
{
	struct kt_config c;
	char err[512];

	(void)state;
	assert_int_equal(parse(&c,
			       "[watch]\npath = /bin/true\n[daemon]\nprofile = 99\nlisten = off\n"
			       "[pprof]\npush_url = http://127.0.0.1:4040/ingest\n"
			       "push_interval = 10s\npush_format = folded\napp_name = svc.a\n",
			       err, sizeof(err)),
			 0);
	assert_string_equal(c.pprof_push_url, "http://127.0.0.1:4040/ingest");
	assert_true(c.pprof_push_interval_ns == 10000000000ull);
	assert_true(c.pprof_push_folded);
	assert_string_equal(c.pprof_app_name, "svc.a");
	kt_config_free(&c);

	kt_config_init(&c); /* defaults */
	assert_true(c.pprof_push_interval_ns == KT_PUSH_DEFAULT_INTERVAL_NS);
	assert_false(c.pprof_push_folded);
	assert_string_equal(c.pprof_app_name, "kaos-trace");
	assert_string_equal(c.pprof_push_url, "");
	kt_config_free(&c);

	static const struct {
		const char *text, *err;
	} bad[] = {
		{"[pprof]\npush_url = https://h/ingest\n",
		 "t.conf:2: push_url 'https://h/ingest': https is not supported"},
		{"[pprof]\npush_url = h:4040\n", "t.conf:2: push_url 'h:4040': expected http://"},
		{"[pprof]\npush_format = json\n",
		 "t.conf:2: push_format: expected pprof or folded, got 'json'"},
		{"[pprof]\npush_interval = 500ms\n", "t.conf:2: push_interval: invalid duration"},
		{"[pprof]\napp_name = a/b\n", "t.conf:2: app_name: 'a/b'"},
		{"[pprof]\npush = x\n", "t.conf:2: unknown key 'push' in [pprof]"},
		/* nothing collected to push */
		{"[watch]\npath = /bin/true\n[pprof]\npush_url = http://h/ingest\n",
		 "push_url has nothing to push"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(parse(&c, bad[i].text, err, sizeof(err)), -1);
		if (strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("'%s': got '%s'", bad[i].text, err);
		kt_config_free(&c);
	}
	/* --profile with only a push: its stacks have somewhere to go */
	assert_int_equal(parse(&c,
			       "[watch]\npath = /bin/true\n[daemon]\nprofile = 99\nlisten = off\n"
			       "[pprof]\npush_url = http://h/ingest\n",
			       err, sizeof(err)),
			 0);
	kt_config_free(&c);
	/* --alloc with only a push: its alloc profile is pushed */
	assert_int_equal(parse(&c,
			       "[watch]\npath = /bin/true\n[daemon]\nalloc = yes\nlisten = off\n"
			       "[pprof]\npush_url = http://h/ingest\n",
			       err, sizeof(err)),
			 0);
	kt_config_free(&c);
}

static void test_resolve(void **state)
{
	struct kt_push_cfg c = {.url = "http://127.0.0.1:4040/ingest"};
	struct kt_push_target t;
	char err[256];

	(void)state;
	assert_int_equal(kt_push_target_resolve(&c, &t, err, sizeof(err)), 0);
	assert_true(t.on);
	assert_true(t.addrlen > 0);
	c.url = "";
	assert_int_equal(kt_push_target_resolve(&c, &t, err, sizeof(err)), 0);
	assert_false(t.on);
	c.url = "https://127.0.0.1/ingest";
	assert_int_equal(kt_push_target_resolve(&c, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "https is not supported"));
}

static void test_type_config(void **state)
{
	const char *cpu[] = {"cpu"}, *off[] = {"off-cpu"}, *lat[] = {"send", "a\"b c"},
		   *heap[] = {"alloc", "leak"};
	char *j;

	(void)state;
	j = kt_push_type_config(cpu, 1, true, false);
	assert_string_equal(j, "{\"samples\":{\"units\":\"samples\",\"aggregation\":\"sum\","
			       "\"display-name\":\"cpu_samples\",\"sampled\":true},"
			       "\"cpu\":{\"units\":\"samples\",\"aggregation\":\"sum\","
			       "\"display-name\":\"cpu\",\"sampled\":true}}");
	free(j);
	j = kt_push_type_config(cpu, 1, false, false);
	assert_non_null(strstr(j, "\"samples\":{"));
	assert_null(strstr(j, "\"cpu\":{"));
	free(j);
	j = kt_push_type_config(off, 1, true, false);
	assert_string_equal(j, "{\"off-cpu\":{\"units\":\"samples\",\"aggregation\":\"sum\","
			       "\"display-name\":\"off_cpu\",\"sampled\":false}}");
	free(j);
	/* keys as JSON strings, display-names as app-name characters */
	j = kt_push_type_config(lat, 2, true, true);
	assert_non_null(strstr(j, "{\"send\":{\"units\":\"samples\",\"aggregation\":\"sum\","
				  "\"display-name\":\"send_count\",\"sampled\":false},"
				  "\"send_latency\":{"));
	assert_non_null(strstr(j, "\"display-name\":\"send_latency\""));
	assert_non_null(strstr(j, "\"a\\\"b c\":{"));
	assert_non_null(strstr(j, "\"display-name\":\"a_b_c_count\""));
	assert_non_null(strstr(j, "\"a\\\"b c_latency\":{"));
	free(j);
	/* --alloc: Go's four heap types, objects/bytes, alloc_* summed, inuse_* averaged */
	j = kt_push_type_config(heap, 2, true, false);
	assert_string_equal(j, "{\"alloc_objects\":{\"units\":\"objects\",\"aggregation\":\"sum\","
			       "\"display-name\":\"alloc_objects\",\"sampled\":false},"
			       "\"alloc_space\":{\"units\":\"bytes\",\"aggregation\":\"sum\","
			       "\"display-name\":\"alloc_space\",\"sampled\":false},"
			       "\"inuse_objects\":{\"units\":\"objects\",\"aggregation\":"
			       "\"average\",\"display-name\":\"inuse_objects\",\"sampled\":false},"
			       "\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\","
			       "\"display-name\":\"inuse_space\",\"sampled\":false}}");
	free(j);
}

static void test_multipart(void **state)
{
	char b[KT_PUSH_BOUNDARY_LEN + 1], b2[KT_PUSH_BOUNDARY_LEN + 1], want[1024];
	char prof[64] = "\x1f\x8b gzip";
	void *out;
	size_t len;
	int n;

	(void)state;
	assert_int_equal(kt_push_multipart(prof, 7, "{}", b, &out, &len), 0);
	assert_int_equal(strlen(b), KT_PUSH_BOUNDARY_LEN);
	assert_memory_equal(b, "kaos-trace-", 11);
	n = snprintf(want, sizeof(want),
		     "--%s\r\nContent-Disposition: form-data; name=\"profile\"; "
		     "filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n"
		     "\x1f\x8b gzip\r\n--%s\r\nContent-Disposition: form-data; "
		     "name=\"sample_type_config\"; filename=\"sample_type_config.json\"\r\n"
		     "Content-Type: application/json\r\n\r\n{}\r\n--%s--\r\n",
		     b, b, b);
	assert_int_equal(len, (size_t)n);
	assert_memory_equal(out, want, len);
	free(out);
	/* the boundary found in the profile, then in the config: another one */
	memcpy(prof + 20, b, KT_PUSH_BOUNDARY_LEN);
	assert_int_equal(kt_push_multipart(prof, sizeof(prof), "{}", b2, &out, &len), 0);
	assert_string_not_equal(b, b2);
	assert_null(memmem(prof, sizeof(prof), b2, KT_PUSH_BOUNDARY_LEN));
	free(out);
	snprintf(want, sizeof(want), "{\"%s\":1}", b);
	assert_int_equal(kt_push_multipart("x", 1, want, b2, &out, &len), 0);
	assert_string_not_equal(b, b2);
	free(out);
}

static void test_request_head(void **state)
{
	struct kt_push_url u;
	struct kt_push_item it = {
		.kind = KT_PUSH_OFFCPU, .len = 42, .from = 1700000000, .until = 1700000015};
	char msg[128], buf[2048];
	int n;

	(void)state;
	assert_int_equal(
		kt_push_url_parse("http://[::1]:4040/x/ingest?tenant=a", &u, msg, sizeof(msg)), 0);
	/* pprof: the app name as Pyroscope's prefix, multipart with our boundary */
	snprintf(it.boundary, sizeof(it.boundary), "kaos-trace-0123456789abcdef");
	n = kt_push_request_head(buf, sizeof(buf), &u, "my.app", 997, &it);
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "POST /x/ingest?tenant=a&name=my.app%7B%7D&from=1700000000"
				    "&until=1700000015&format=pprof&spyName=kaos-trace HTTP/1.1\r\n"
				    "Host: [::1]:4040\r\n"));
	assert_non_null(strstr(buf, "\r\nContent-Type: multipart/form-data; "
				    "boundary=kaos-trace-0123456789abcdef\r\n"
				    "Content-Length: 42\r\nConnection: close\r\n\r\n"));
	/* folded: the full name, ns weights as samples at 1e9/s; cpu at its rate */
	it.boundary[0] = 0;
	assert_true(kt_push_request_head(buf, sizeof(buf), &u, "my.app", 997, &it) > 0);
	assert_non_null(strstr(buf,
			       "?tenant=a&name=my.app.off_cpu&from=1700000000"
			       "&until=1700000015&format=folded&units=samples"
			       "&aggregationType=sum&sampleRate=1000000000&spyName=kaos-trace "));
	assert_non_null(strstr(buf, "\r\nContent-Type: text/plain\r\n"));
	it.kind = KT_PUSH_CPU;
	assert_true(kt_push_request_head(buf, sizeof(buf), &u, "my.app", 997, &it) > 0);
	assert_non_null(strstr(buf, "name=my.app.cpu&"));
	assert_non_null(strstr(buf, "&sampleRate=997&"));
	assert_int_equal(kt_push_request_head(buf, 64, &u, "my.app", 997, &it), -1);
	/* alloc folded: the alloc_space tower, in bytes */
	it.kind = KT_PUSH_ALLOC;
	assert_true(kt_push_request_head(buf, sizeof(buf), &u, "my.app", 997, &it) > 0);
	assert_non_null(
		strstr(buf, "?tenant=a&name=my.app.alloc&from=1700000000&until=1700000015"
			    "&format=folded&units=bytes&aggregationType=sum&spyName=kaos-trace "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),	  cmocka_unit_test(test_app_name),
		cmocka_unit_test(test_queue),	  cmocka_unit_test(test_config),
		cmocka_unit_test(test_resolve),	  cmocka_unit_test(test_type_config),
		cmocka_unit_test(test_multipart), cmocka_unit_test(test_request_head),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
