/* SPDX-License-Identifier: MIT */
/*
 * Versions: the public header's macros agree with each other and with the
 * library, kaos-trace's build version starts with the release, and /metrics
 * carries it as kaos_build_info{version="..."} 1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kaos/version.h"
#include "kt_prom.h"
#include "kt_version.h"

static void test_header_macros_agree(void **state)
{
	(void)state;
	char parts[32];

	snprintf(parts, sizeof(parts), "%d.%d.%d", KAOS_VERSION_MAJOR, KAOS_VERSION_MINOR,
		 KAOS_VERSION_PATCH);
	assert_string_equal(parts, KAOS_VERSION);
	assert_int_equal(KAOS_VERSION_NUMBER, KAOS_VERSION_MAJOR * 10000 +
						      KAOS_VERSION_MINOR * 100 +
						      KAOS_VERSION_PATCH);
	assert_true(KAOS_VERSION_ENCODE(0, 10, 0) > KAOS_VERSION_ENCODE(0, 9, 99));
}

static void test_library_version(void **state)
{
	(void)state;
	assert_string_equal(kaos_version(), KAOS_VERSION);
}

/* The release, then nothing or "+git.<describe>" (a build in a git checkout). */
static void test_tracer_version(void **state)
{
	(void)state;
	const char *v = kt_version();
	size_t n = strlen(KAOS_VERSION);

	assert_memory_equal(v, KAOS_VERSION, n);
	if (v[n])
		assert_true(!strncmp(v + n, "+git.", 5) && v[n + 5]);
}

static void test_build_info_metric(void **state)
{
	(void)state;
	struct kt_agg a;
	struct kt_report_totals tot = {0};
	struct kt_prom_src src = {.agg = &a, .tot = &tot};
	char *buf = NULL, want[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	kt_agg_init(&a, 0);
	assert_int_equal(kt_prom_write(f, &src, false), 0);
	fclose(f);
	snprintf(want, sizeof(want),
		 "# HELP kaos_build_info Always 1; the version label names this build.\n"
		 "# TYPE kaos_build_info gauge\n"
		 "kaos_build_info{version=\"%s\"} 1\n",
		 kt_version());
	assert_non_null(strstr(buf, want));
	free(buf);
	kt_agg_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_macros_agree),
		cmocka_unit_test(test_library_version),
		cmocka_unit_test(test_tracer_version),
		cmocka_unit_test(test_build_info_metric),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
