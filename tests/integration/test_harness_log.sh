#!/usr/bin/env bash
# The test harness itself: a test that a silent command ends under set -e
# (status 255, its stderr thrown away, as bpftool's) still leaves a FAIL
# line naming the command and its status; fail() and a skip (77) add none.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

# run_case NAME BODY: a test sourcing lib.sh whose body is BODY; its status
# in $TMP/NAME.rc, its stderr in $TMP/NAME.log
run_case() {
	local name=$1 body=$2 rc=0
	printf 'set -euo pipefail\n. "%s/lib.sh"\n%s\n' "$HERE" "$body" >"$TMP/$name.sh"
	bash "$TMP/$name.sh" >/dev/null 2>"$TMP/$name.log" || rc=$?
	echo "$rc" >"$TMP/$name.rc"
}

run_case silent 'left=$(sh -c "exit 255" 2>/dev/null | sort)'
[ "$(cat "$TMP/silent.rc")" = 255 ] || fail "silent case exited $(cat "$TMP/silent.rc"), expected 255"
grep -q '^FAIL: exit status 255 without a FAIL line; last command: .*exit 255' "$TMP/silent.log" ||
	fail "no FAIL line for a silent exit: '$(cat "$TMP/silent.log")'"

run_case in_function 'quiet() { sh -c "exit 3" 2>/dev/null; }; quiet'
grep -q '^FAIL: exit status 3 without a FAIL line' "$TMP/in_function.log" ||
	fail "no FAIL line for a silent exit in a function: '$(cat "$TMP/in_function.log")'"

run_case failed 'fail "the reason"'
[ "$(grep -c '^FAIL' "$TMP/failed.log")" = 1 ] || fail "fail() should print one FAIL line: '$(cat "$TMP/failed.log")'"

run_case skipped 'exit 77'
run_case passed 'true'
for c in skipped passed; do
	[ ! -s "$TMP/$c.log" ] || fail "$c case printed: '$(cat "$TMP/$c.log")'"
done
echo "PASS: a silent exit under set -e leaves a FAIL line naming the command"
