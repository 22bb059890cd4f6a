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

log_of() { echo "$logdir/$(echo "$1" | tr '/ ' '__').log"; }

# run_cmd LABEL COMMAND...: runs it into LABEL's log; sets RC (its exit status)
run_cmd() {
	local log
	log=$(log_of "$1")
	shift
	RC=0
	# a hung test fails instead of stalling the run (TEST_TIMEOUT seconds each;
	# the slowest passes in ~90 s here, so 600 s leaves a slow host room)
	timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$log" 2>&1 || RC=$?
	# 124: timeout sent SIGTERM; 137: SIGKILL 10 s later. Said last, so the
	# tail shown for a failure names the cause.
	case $RC in
	124 | 137) echo "tests/run.sh: stopped after ${TEST_TIMEOUT:-600} s (exit $RC): it hung" >>"$log" ;;
	esac
}

run_one() { # label, command...
	local t0=$SECONDS
	run_cmd "$@"
	report "$1" $RC $((SECONDS - t0))
}

report() { # label, exit status, seconds
	local label=$1 rc=$2 secs=$3 log
	log=$(log_of "$label")
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
		printf 'PASS  %-48s %4ds\n' "$label" "$secs"
	elif [ "$rc" -eq 77 ]; then
		skip=$((skip + 1))
		printf 'SKIP  %-48s %4ds  (%s)\n' "$label" "$secs" "$(tail -n1 "$log")"
	else
		fail=$((fail + 1))
		failed+=("$label")
		printf 'FAIL  %-48s %4ds  (log: %s)\n' "$label" "$secs" "$log"
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

# suite_dir_jobs JOBS DIR PREFIX [WRAPPER...]: as suite_dir, JOBS tests at a
# time (each runs alone in its process; the labels name their logs), reported
# in the directory's order as soon as the ones before have finished
suite_dir_jobs() {
	local jobs=$1 dir=$2 prefix=$3
	shift 3
	[ -d "$dir" ] || return 0
	local tests=() pids=() t i st
	for t in "$dir"/*; do
		[ -x "$t" ] && [ -f "$t" ] && tests+=("$t")
	done
	st=$(mktemp -d "$logdir/.jobs.XXXXXX")
	jobs_next=0
	for i in "${!tests[@]}"; do
		while [ $((i - $(find "$st" -name '[0-9]*' | wc -l))) -ge "$jobs" ]; do
			wait -n || true
			jobs_report "$st" "$prefix" "${tests[@]}"
		done
		(
			t0=$SECONDS
			run_cmd "$prefix/$(basename "${tests[$i]}")" "$@" "${tests[$i]}"
			echo "$RC $((SECONDS - t0))" >"$st/.$i" && mv "$st/.$i" "$st/$i"
		) &
		pids+=($!)
	done
	wait "${pids[@]}"
	jobs_report "$st" "$prefix" "${tests[@]}"
	rm -rf "$st"
}

# jobs_report STATUS-DIR PREFIX TESTS...: reports the finished tests from jobs_next on
jobs_report() {
	local st=$1 prefix=$2 rc secs
	shift 2
	local tests=("$@")
	while [ -f "$st/$jobs_next" ]; do
		read -r rc secs <"$st/$jobs_next"
		report "$prefix/$(basename "${tests[$jobs_next]}")" "$rc" "$secs"
		jobs_next=$((jobs_next + 1))
	done
}

unit() { suite_dir "$B/tests/unit" unit; }
asan() { ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 suite_dir "$B/tests/asan" asan; }
tsan() { TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 suite_dir "$B/tests/tsan" tsan; }
valgrind_suite() {
	# libkaos' and the tracer modules' unit tests: 0 leaks, 0 errors (the unit tests that
	# load BPF go through libbpf: its bpf_attr false positives are suppressed, as for the tools).
	# One test at a time per CPU: valgrind runs a program's threads one at a time.
	suite_dir_jobs "$(nproc)" "$B/tests/unit" valgrind valgrind -q --error-exitcode=1 --leak-check=full \
		--suppressions=tests/valgrind/libbpf.supp --suppressions=tests/valgrind/dlopen.supp \
		--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible
}
integration() {
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .sh)" env B="$B" bash "$t"
	done
}
# vm_report LABEL RC SECONDS: the kernel's line, then the guest's own per-test lines
vm_report() {
	local failed_before=$fail
	report "$@"
	# a failure has already shown the log's tail
	[ $fail -ne "$failed_before" ] ||
		grep -E '^  (PASS|FAIL|SKIP|COST) |^vmtest: .*(passed|once more)' \
			"$(log_of "$1")" 2>/dev/null | sed 's/^ */      /'
}

# vm_alone ARCH: its VM keeps more than one host CPU busy. An x86_64 guest under
# TCG runs single-threaded (tests/vm/vmtest.sh): two at once on two cores take
# each the time of one alone.
vm_alone() {
	[ "$1" != x86_64 ] || [ "$(nproc)" -lt 2 ] ||
		{ [ "$(uname -m)" = x86_64 ] && [ -w /dev/kvm ]; }
}

# vm_wait_bg: waits for the VM in the background (vm), if any, and reports it
vm_wait_bg() {
	[ -n "$bg_label" ] || return 0
	local rc=0 secs
	wait "$bg_pid" || rc=$?
	secs=$(cat "$(log_of "$bg_label").secs" 2>/dev/null) && rm -f "$(log_of "$bg_label").secs"
	vm_report "$bg_label" $rc "${secs:-0}"
	bg_label=
}

vm() {
	# The BPF integration tests inside qemu, one kernel per line of tests/vm/matrix,
	# two single-threaded VMs at once (vm_alone); reported in the matrix's order.
	local arch kernel label t0 bg_label='' bg_pid=''
	while read -r arch kernel _; do
		case $arch in '' | '#'*) continue ;; esac
		label=vm/$arch-$kernel
		if vm_alone "$arch"; then
			vm_wait_bg
		elif [ -z "$bg_label" ]; then
			t0=$SECONDS
			(
				run_cmd "$label" env B="$B" tests/vm/vmtest.sh --arch "$arch" --kernel "$kernel"
				echo $((SECONDS - t0)) >"$(log_of "$label").secs" # its own time
				exit $RC
			) </dev/null &
			bg_label=$label bg_pid=$!
			continue
		fi
		t0=$SECONDS
		run_cmd "$label" env B="$B" tests/vm/vmtest.sh --arch "$arch" --kernel "$kernel" </dev/null
		local rc=$RC secs=$((SECONDS - t0))
		vm_wait_bg
		vm_report "$label" $rc $secs
	done < <(cat tests/vm/matrix)
	vm_wait_bg
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
