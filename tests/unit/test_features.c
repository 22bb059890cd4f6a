/* SPDX-License-Identifier: MIT */
/*
 * kt_features: the decisions made from probed kernel features (what is
 * missing, what is only noted, the nop5 classification, the advice per
 * probe-site kind, where to attach on combined sites from the self-test's
 * results) and the probe-site reader on this very executable, whose
 * libkaos carries the build's probe instruction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kaos/ring.h"
#include "kt_features.h"

static struct kt_features all_there(void)
{
	struct kt_features f;

	memset(&f, 0, sizeof(f));
	strcpy(f.release, "6.1.0-test");
	strcpy(f.machine, "x86_64");
	f.btf = 1;
	f.uprobe_pmu = 1;
	f.ringbuf = 1;
	f.cookie = 1;
	f.nop5 = KT_NOP5_EMULATED;
	return f;
}

static void test_nothing_missing(void **state)
{
	struct kt_features f = all_there();
	char buf[512] = "x";

	(void)state;
	assert_int_equal(kt_features_missing(&f, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(kt_features_notes(&f, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void test_missing_named(void **state)
{
	struct kt_features f = all_there();
	char buf[1024];

	(void)state;
	f.ringbuf = 0;
	assert_int_equal(kt_features_missing(&f, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "BPF_MAP_TYPE_RINGBUF"));
	assert_non_null(strstr(buf, "5.8"));
	assert_null(strchr(buf, '\n'));

	f.btf = 0;
	f.uprobe_pmu = 0;
	assert_int_equal(kt_features_missing(&f, buf, sizeof(buf)), 3);
	assert_non_null(strstr(buf, "/sys/kernel/btf/vmlinux"));
	assert_non_null(strstr(buf, "CONFIG_UPROBE_EVENTS"));
	assert_non_null(strstr(buf, "; "));
	assert_null(strchr(buf, '\n'));
}

static void test_missing_truncates_safely(void **state)
{
	struct kt_features f = all_there();
	char buf[16];

	(void)state;
	f.btf = f.uprobe_pmu = f.ringbuf = 0;
	assert_int_equal(kt_features_missing(&f, buf, sizeof(buf)), 3);
	assert_true(strlen(buf) < sizeof(buf));
}

static void test_cookie_is_only_a_note(void **state)
{
	struct kt_features f = all_there();
	char buf[512];

	(void)state;
	f.cookie = 0;
	assert_int_equal(kt_features_missing(&f, buf, sizeof(buf)), 0);
	assert_int_equal(kt_features_notes(&f, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "bpf_get_attach_cookie"));
}

static void test_classify_nop5(void **state)
{
	(void)state;
	/* figures of the kinds measured in docs/kernels.md */
	assert_int_equal(kt_features_classify_nop5(1160, 4920), KT_NOP5_OPTIMISED);
	assert_int_equal(kt_features_classify_nop5(15000, 5000), KT_NOP5_SLOW);
	assert_int_equal(kt_features_classify_nop5(5100, 4900), KT_NOP5_EMULATED);
	assert_int_equal(kt_features_classify_nop5(0, 4900), KT_NOP5_UNKNOWN);
	assert_int_equal(kt_features_classify_nop5(4900, -1), KT_NOP5_UNKNOWN);
	assert_string_equal(kt_nop5_name(KT_NOP5_SLOW), "single-stepped");
}

static void test_site_from_bytes(void **state)
{
	static const uint8_t nop5[] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
	static const uint8_t nop1[] = {0x90, 0x48, 0x89};
	static const uint8_t combined[] = {0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x84,
					   0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t arm64_nop[] = {0x1f, 0x20, 0x03, 0xd5};

	(void)state;
	assert_int_equal(kt_site_from_bytes(nop5, 5), KT_SITE_NOP5);
	assert_int_equal(kt_site_from_bytes(nop5, 4), KT_SITE_OTHER); /* cut short */
	assert_int_equal(kt_site_from_bytes(nop1, 3), KT_SITE_NOP1);
	assert_int_equal(kt_site_from_bytes(combined, 11), KT_SITE_COMBINED);
	assert_int_equal(kt_site_from_bytes(combined, 10), KT_SITE_NOP1); /* cut short */
	assert_int_equal(kt_site_from_bytes(arm64_nop, 4), KT_SITE_OTHER);
	assert_int_equal(kt_site_from_bytes(nop5, 0), KT_SITE_UNKNOWN);
	assert_string_equal(kt_site_name(KT_SITE_COMBINED), "1-byte + 10-byte nop");
}

static void test_site_advice(void **state)
{
	struct kt_features f = all_there();
	char buf[512];

	(void)state;
	f.nop5_ns = 15000;
	f.nop1_ns = 5000;
	f.nop5 = KT_NOP5_SLOW;
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_NOP5, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "PROBE_NOP=1"));
	assert_non_null(strstr(buf, "6.1.0-test"));
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_NOP1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	/* 6.18: a traced nop5 is a CALL into a mapping forked children lack */
	f.nop5_ns = 1200;
	f.nop5 = KT_NOP5_OPTIMISED;
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_NOP5, buf, sizeof(buf)), 1);
	assert_non_null(strstr(buf, "WARNING"));
	assert_non_null(strstr(buf, "SIGSEGV"));
	/* ... which is no reason to rebuild 1-byte nops with a nop5 any more */
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_NOP1, buf, sizeof(buf)), 0);
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_COMBINED, buf, sizeof(buf)), 0);

	f.nop5 = KT_NOP5_EMULATED;
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_NOP5, buf, sizeof(buf)), 0);
	assert_int_equal(kt_features_site_advice(&f, KT_SITE_OTHER, buf, sizeof(buf)), 0);
}

/* A self-test result on an x86 kernel where +1 can be probed. */
static struct kt_features at1_probed(double at1_ns, double at0_ns)
{
	struct kt_features f = all_there();

	f.site_tested = true;
	f.at1_fork_status = 0; /* exited 0 */
	f.at1_ns = at1_ns;
	f.at0_ns = at0_ns;
	return f;
}

static void assert_site(struct kt_features *f, int at, const char *why)
{
	char line[256];

	kt_features_choose_site(f);
	assert_int_equal(f->site_at, at);
	kt_features_site_line(f, line, sizeof(line));
	if (!strstr(line, why))
		fail_msg("site line '%s' lacks '%s'", line, why);
	assert_null(strchr(line, '\n'));
}

static void test_choose_site(void **state)
{
	struct kt_features f = all_there();

	(void)state;
	f.site_tested = false;
	assert_site(&f, 0, "self-test did not run");
	f.nop5 = KT_NOP5_NOT_X86;
	strcpy(f.machine, "aarch64");
	assert_site(&f, 0, "+0 (arm64: nops are emulated)");

	f = at1_probed(0, 0);
	f.at1_err = -524; /* 6.18 refuses a uprobe on the cs-prefixed nop10 */
	assert_site(&f, 0,
		    "+0 (the 1-byte nop, emulated): the kernel refuses a uprobe on the "
		    "10-byte nop (ENOTSUPP)");
	f = at1_probed(150, 5000);
	f.at1_fork_status = 11; /* killed by SIGSEGV: the 6.18 nop5 hazard, moved */
	assert_site(&f, 0, "did not exit normally (signal 11)");
	f = at1_probed(150, 5000);
	f.at1_redzone_bad = 63;
	assert_site(&f, 0, "corrupted red-zone data (63 of 64 calls)");
	f = at1_probed(4900, 5000);
	assert_site(&f, 0, "no cheaper (4900 ns a hit against 5000 ns)");
	/* safe and cheaper: still +0 while attaching goes through libbpf's USDT code */
	f = at1_probed(150, 5000);
	assert_site(&f, 0, "safe and cheaper here (150 ns a hit against 5000 ns)");
}

/* This executable links libkaos.a: its kaos:send site is the build's instruction. */
static void test_site_of_self(void **state)
{
	struct kaos_ring_config cfg = {.kind = KAOS_RING_SPSC, .slots = 8, .slot_size = 8};
	struct kaos_ring *r;
	enum kt_site want;

	(void)state;
#if defined(KAOS_PROBE_NOP1)
	want = KT_SITE_NOP1;
#elif defined(__x86_64__)
	want = KT_SITE_COMBINED;
#else
	want = KT_SITE_OTHER;
#endif
	/* keeps libkaos' ring (and its probe sites) linked in */
	assert_int_equal(kaos_ring_create(&cfg, &r), 0);
	kaos_ring_destroy(r);
	assert_int_equal(kt_site_of("/proc/self/exe", "kaos", "send"), want);
	assert_int_equal(kt_site_of("/proc/self/exe", "kaos", "no_such_probe"), KT_SITE_UNKNOWN);
	assert_int_equal(kt_site_of("/nonexistent/file", "kaos", NULL), KT_SITE_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_missing),
		cmocka_unit_test(test_missing_named),
		cmocka_unit_test(test_missing_truncates_safely),
		cmocka_unit_test(test_cookie_is_only_a_note),
		cmocka_unit_test(test_classify_nop5),
		cmocka_unit_test(test_site_from_bytes),
		cmocka_unit_test(test_site_advice),
		cmocka_unit_test(test_choose_site),
		cmocka_unit_test(test_site_of_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
