#!/usr/bin/env bash
# kaos-trace --func refuses with one line on stderr and a non-zero exit:
# a pattern matching nothing, more functions than --max-funcs, functions it
# cannot probe (a .cold fragment, a symbol of size 0), unknown libraries,
# bad patterns and options; `list --func` shows the refused ones and why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FUNCS=$PWD/$B/tests/progs/kt_funcs
need "$KT" "$FUNCS"

# expect_error NAME EXPECTED-REGEX CMD...: non-zero exit, one stderr line matching.
expect_error() {
	local name=$1 re=$2
	shift 2
	local rc=0
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	[ $rc -ne 0 ] || fail "$name: exit status 0"
	grep -Eq -e "$re" "$TMP/$name.err" || fail "$name: stderr lacks /$re/: $(cat "$TMP/$name.err")"
	local n
	n=$(wc -l <"$TMP/$name.err")
	[ "$n" -eq 1 ] || fail "$name: expected one line, got $n: $(cat "$TMP/$name.err")"
	echo "ok: $name: $(cat "$TMP/$name.err")"
}

expect_error nomatch "--func 'nosuch_\*': no function matches 'nosuch_\*' in .*kt_funcs" \
	"$KT" -b "$FUNCS" --func 'nosuch_*' -d 1
expect_error toomany "--func matches 7 functions, more than --max-funcs 2" \
	"$KT" -b "$FUNCS" --func '*busy*' --max-funcs 2 -d 1
expect_error toomany2 "more than --max-funcs 64" "$KT" -b /usr/bin/bash --func '*' -d 1
expect_error cold "matches only functions that cannot be probed: frag_busy.cold \[.cold fragment" \
	"$KT" -b "$FUNCS" --func 'frag_*' -d 1
expect_error nosize "cannot be probed: nosize_busy \[size 0" "$KT" -b "$FUNCS" --func 'kt_funcs:nosize_busy' -d 1
expect_error badlib_b "'libnosuch.so' is not .*kt_funcs nor a library it needs" \
	"$KT" -b "$FUNCS" --func 'libnosuch.so:f' -d 1
expect_error badpath "/nonexistent/libx.so: No such file or directory" \
	"$KT" -b "$FUNCS" --func '/nonexistent/libx.so:f' -d 1
expect_error badpat "expected \[LIBRARY:\]FUNCTION-GLOB" "$KT" -b "$FUNCS" --func 'libz:' -d 1
expect_error maxfuncs "invalid --max-funcs '0'" "$KT" -b "$FUNCS" --func 'busy_*' --max-funcs 0
expect_error maxrate "invalid --max-rate 'x'" "$KT" -b "$FUNCS" --func 'busy_*' --max-rate x
expect_error needfunc "need --func" "$KT" -b "$FUNCS" --max-rate 10 -d 1
expect_error notarget "nothing to trace" "$KT" --func 'busy_*'
nopid=$(($(cat /proc/sys/kernel/pid_max) - 1))
while [ -d /proc/$nopid ]; do nopid=$((nopid - 1)); done
expect_error nopid "no such process: $nopid" "$KT" -p "$nopid" --func 'busy_*' -d 1
sleep 30 &
sp=$!
expect_error badlib_p "no file named 'libnosuch.so' is mapped by pid $sp" \
	"$KT" -p "$sp" --func 'libnosuch.so:f' -d 1
expect_error exe_nomatch "no function matches 'busy_\*' in /usr/bin/sleep" "$KT" -p "$sp" --func 'busy_*' -d 1
kill "$sp"
expect_error list_nomatch "no function matches" "$KT" list --func 'nosuch_*' "$FUNCS"
expect_error list_usage "usage: kaos-trace list --func PATTERN PID\|PATH" "$KT" list --func 'busy_*'

# list shows what it would probe, and what it refuses with the reason
"$KT" list --func '*busy*' "$FUNCS" >"$TMP/list.txt" || fail "list --func failed"
grep -Eq "^  busy_20us +0x[0-9a-f]+ +0x[0-9a-f]+ +[0-9]+ +push +ok$" "$TMP/list.txt" ||
	fail "list: no busy_20us row: $(cat "$TMP/list.txt")"
grep -q "frag_busy.cold .*refused: .cold fragment" "$TMP/list.txt" || fail "list: no refused .cold row"
grep -q "nosize_busy .*refused: size 0" "$TMP/list.txt" || fail "list: no refused size-0 row"
grep -q "^7 functions would be probed, 2 refused$" "$TMP/list.txt" || fail "list: wrong summary"
# a glob that also matches refused ones traces the others, with one note
start_tracer note -b "$FUNCS" --func '*busy*' -d 0.2
wait "$TRACER_PID" || fail "kaos-trace with a partly refused glob failed"
grep -q "skipping 2 functions that cannot be probed" "$TMP/note.err" || fail "no note about the skipped functions"
echo "PASS: --func errors are one line and non-zero"
