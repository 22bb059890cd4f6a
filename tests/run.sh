#!/usr/bin/env bash
# Test runner: runs each suite's executables, prints one line per test and
# a closing "N passed, N failed" line; exits non-zero if anything failed.
#   tests/run.sh unit|asan|tsan|valgrind|integration|all
set -u
B=${B:-build}
mode=${1:-all}
pass=0
fail=0
failed=()
logdir=$B/test-logs
mkdir -p "$logdir"

run_one() { # label, command...
	local label=$1
	shift
	local log="$logdir/$(echo "$label" | tr '/ ' '__').log"
	local t0=$SECONDS
	# a hung test fails instead of stalling the run (TEST_TIMEOUT seconds each)
	if timeout --kill-after=10 "${TEST_TIMEOUT:-900}" "$@" >"$log" 2>&1; then
		pass=$((pass + 1))
		printf 'PASS  %-48s %4ds\n' "$label" $((SECONDS - t0))
	else
		fail=$((fail + 1))
		failed+=("$label")
		printf 'FAIL  %-48s %4ds  (log: %s)\n' "$label" $((SECONDS - t0)) "$log"
		tail -n 25 "$log" | sed 's/^/      | /'
	fi
}

suite_dir() { # dir, label prefix, [wrapper...]
	local dir=$1 prefix=$2
	shift 2
	[ -d "$dir" ] || return 0
	for t in "$dir"/*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		run_one "$prefix/$(basename "$t")" "$@" "$t"
	done
}

unit() { suite_dir "$B/tests/unit" unit; }
asan() { ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 suite_dir "$B/tests/asan" asan; }
tsan() { TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 suite_dir "$B/tests/tsan" tsan; }
valgrind_suite() {
	# libkaos' and the tracer modules' unit tests: 0 leaks, 0 errors.
	suite_dir "$B/tests/unit" valgrind valgrind -q --error-exitcode=1 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible
}
integration() {
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .sh)" env B="$B" bash "$t"
	done
}

case $mode in
unit) unit ;;
asan) asan ;;
tsan) tsan ;;
valgrind) valgrind_suite ;;
integration) integration ;;
all)
	unit
	asan
	tsan
	valgrind_suite
	integration
	;;
*)
	echo "tests/run.sh: unknown suite '$mode' (unit|asan|tsan|valgrind|integration|all)" >&2
	exit 2
	;;
esac

echo
if [ $fail -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
