#!/usr/bin/env bash
# The kernel CI's guest tests (tests/vm/guest/test_*.sh) on the host's own
# kernel, with the same static binaries and POSIX sh: the host kernel is
# the newest of the matrix (docs/kernels.md). Measurements (@@ lines) are
# kept in the log.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
bin=$B/vm/guest/bin
[ -x "$bin/kaos-trace" ] || { echo "FAIL: $bin/kaos-trace missing (make vm-guest)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=0
for t in tests/vm/guest/test_*.sh; do
	name=$(basename "$t" .sh)
	rc=0
	BIN=$bin sh "$t" >"$out" 2>&1 || rc=$?
	if [ $rc -eq 0 ]; then
		echo "PASS ${name#test_}"
		grep '^@@ ' "$out" || true
	elif [ $rc -eq 77 ]; then
		echo "SKIP ${name#test_}: $(tail -n 1 "$out")"
	else
		echo "FAIL ${name#test_}"
		tail -n 30 "$out" | sed 's/^/  | /'
		failed=$((failed + 1))
	fi
done
[ $failed -eq 0 ]
