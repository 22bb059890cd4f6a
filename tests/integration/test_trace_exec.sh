#!/usr/bin/env bash
# A process that execs (same pid) gets one row set per image: its new
# image's rings restart their ids and counters, and merging them into the
# old image's rows reported COUNT N where 2N happened and SAMPLES above
# COUNT. Checked for -- COMMAND, -b PROGRAM and -b LIBRARY.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SCOPE=$B/tests/progs/kt_scope
need "$KT" "$SCOPE"
N=40000

# check NAME: two images of one pid, exact counts N each, samples <= count
check() {
	local pid
	pid=$(awk '/scope.img/ {print $NF; exit}' "$TMP/$1.out")
	[ -n "$pid" ] || fail "$1: kt_scope printed no pid"
	[ "$(grep -c "scope.img sent $N recv $N pid $pid" "$TMP/$1.out")" = 2 ] ||
		fail "$1: kt_scope's own counters: $(cat "$TMP/$1.out")"
	json_check "$TMP/$1.json" \
		'final["lost"] == 0' \
		"sorted(p['exec'] for p in final['processes'] if p['pid'] == $pid) == [0, 1]" \
		"[p['replaced_by_exec'] for p in sorted(final['processes'], key=lambda p: p['exec']) if p['pid'] == $pid] == [True, False]" \
		"[r[k]['ops'] for p in final['processes'] if p['pid'] == $pid for r in p['rings'] for k in ('send', 'recv')] == [$N] * 4" \
		"all(r[k]['samples'] <= r[k]['ops'] for p in final['processes'] for r in p['rings'] for k in ('send', 'recv'))"
	grep -Eq "^pid $pid \(kt_scope\) after exec #1( \[exited\])?: " "$TMP/$1.txt" || fail "$1: the report has no second image"
	grep -q "^pid $pid (kt_scope) \[replaced by exec\]: " "$TMP/$1.txt" ||
		fail "$1: the report does not mark the first image"
}

"$KT" --sample 1 --ringbuf-size 67108864 --json "$TMP/cmd.json" -- "$SCOPE" exec $N >"$TMP/cmd.txt" 2>"$TMP/cmd.err" ||
	fail "kaos-trace -- kt_scope exec failed"
grep "scope.img" "$TMP/cmd.txt" >"$TMP/cmd.out"
check cmd

for mode in prog lib; do
	target=$SCOPE
	[ $mode = lib ] && target=$B/libkaos.so
	start_tracer $mode -b "$target" --sample 1 --ringbuf-size 67108864 --json "$TMP/$mode.json"
	"$SCOPE" exec $N >"$TMP/$mode.out" || fail "kt_scope exec failed"
	stop_tracer
	check $mode
done
echo "PASS: exec splits a pid into images with exact counts ($N + $N), for --, -b PROGRAM, -b LIB"
