#!/usr/bin/env bash
# Test runner: runs each suite's executables, prints one line per test and
# a closing "N passed, N failed" line; exits non-zero if anything failed.
#   tests/run.sh unit|asan|tsan|valgrind|integration|vm|all
# A test exiting 77 is skipped (counted apart, not a failure).
set -u
B=${B:-build}
mode=${1:-all}
pass=0
fail=0
skip=0
failed=()
logdir=$B/test-logs
mkdir -p "$logdir"

run_one() { # label, command...
	local label=$1
	shift
	local log="$logdir/$(echo "$label" | tr '/ ' '__').log"
	local t0=$SECONDS rc=0
	# a hung test fails instead of stalling the run (TEST_TIMEOUT seconds each)
	timeout --kill-after=10 "${TEST_TIMEOUT:-1800}" "$@" >"$log" 2>&1 || rc=$?
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		printf 'PASS  %-48s %4ds\n' "$label" $((SECONDS - t0))
	elif [ $rc -eq 77 ]; then
		skip=$((skip + 1))
		printf 'SKIP  %-48s %4ds  (%s)\n' "$label" $((SECONDS - t0)) "$(tail -n1 "$log")"
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
	# libkaos' and the tracer modules' unit tests: 0 leaks, 0 errors (the unit tests that
	# load BPF go through libbpf: its bpf_attr false positives are suppressed, as for the tools).
	suite_dir "$B/tests/unit" valgrind valgrind -q --error-exitcode=1 --leak-check=full \
		--suppressions=tests/valgrind/libbpf.supp --suppressions=tests/valgrind/dlopen.supp \
		--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible
}
integration() {
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .sh)" env B="$B" bash "$t"
	done
}
vm() {
	# The BPF integration tests inside qemu, one kernel per line of tests/vm/matrix;
	# the guest's own per-test lines are shown under each kernel's line.
	local arch kernel
	while read -r arch kernel _; do
		case $arch in '' | '#'*) continue ;; esac
		local failed_before=$fail
		run_one "vm/$arch-$kernel" env B="$B" tests/vm/vmtest.sh --arch "$arch" \
			--kernel "$kernel" </dev/null
		# a failure has already shown the log's tail
		[ $fail -ne "$failed_before" ] ||
			grep -E '^  (PASS|FAIL|SKIP|COST) |^vmtest: .*(passed|once more)' \
				"$logdir/vm_$arch-$kernel.log" 2>/dev/null | sed 's/^ */      /'
	done < <(cat tests/vm/matrix)
}

case $mode in
unit) unit ;;
asan) asan ;;
tsan) tsan ;;
valgrind) valgrind_suite ;;
integration) integration ;;
vm) vm ;;
all)
	unit
	asan
	tsan
	valgrind_suite
	integration
	vm
	;;
*)
	echo "tests/run.sh: unknown suite '$mode' (unit|asan|tsan|valgrind|integration|vm|all)" >&2
	exit 2
	;;
esac

echo
if [ $fail -gt 0 ]; then
	echo "failed: ${failed[*]}"
fi
echo "$pass passed, $fail failed$([ $skip -eq 0 ] || echo ", $skip skipped")"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
