/* SPDX-License-Identifier: MIT */
/*
 * kt_profile_fold_since over many intervals (the daemon's use): the stack
 * ids folded are freed, so a small stack map does not fill. Each interval
 * samples this process at a new recursion depth (new stacks); once a map
 * that kept every id would be full, samples would all fail to take their
 * stack (stack_err). Loads BPF: needs root, never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_folded.h"
#include "kt_profile.h"

#define MAP_STACKS 64 /* stack ids: a few intervals' worth of new stacks */
#define INTERVALS  64
#define SPIN_NS	   15000000ull /* CPU time per interval: some 15 samples at 1 kHz */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Burns ns of CPU time depth calls deep: one stack per depth (frame pointers). */
static __attribute__((noinline)) int spin_at(int depth, uint64_t ns)
{
	volatile uint64_t x = 0;

	if (depth > 0)
		return spin_at(depth - 1, ns) + (int)(x & 1); /* not a tail call */
	for (uint64_t end = thread_cpu_ns() + ns; thread_cpu_ns() < end;)
		for (int i = 0; i < 100000; i++)
			x += (uint64_t)i;
	return (int)(x & 1);
}

static void test_fold_since_frees_stacks(void **state)
{
	struct kt_profile_stats st, half = {0};
	struct kt_profile *p;
	struct kt_folded *f = kt_folded_new();
	char err[256];

	(void)state;
	assert_non_null(f);
	if (kt_profile_open_sized(&p, 1000, NULL, MAP_STACKS, err, sizeof(err)))
		fail_msg("%s (needs root and BPF)", err);
	assert_int_equal(kt_profile_add_pid(p, (uint32_t)getpid()), 0);
	for (int i = 0; i < INTERVALS; i++) {
		spin_at(i + 1, SPIN_NS);
		assert_true(kt_profile_fold_since(p, f) >= 0);
		kt_folded_clear(f);
		if (i == INTERVALS / 2 - 1)
			kt_profile_get_stats(p, &half);
	}
	kt_profile_get_stats(p, &st);
	/* the second half: enough samples, and most of them with their stack */
	uint64_t samples = st.samples - half.samples, no_stack = st.stack_err - half.stack_err;

	print_message("second half: %llu samples, %llu without stack, %llu unfolded\n",
		      (unsigned long long)samples, (unsigned long long)no_stack,
		      (unsigned long long)st.unfolded);
	assert_true(samples >= 50);
	assert_true(no_stack * 2 < samples);
	kt_profile_free(p);
	kt_folded_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold_since_frees_stacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
