#!/usr/bin/env bash
# Every way kaos-trace can be misused or fail gives one line on stderr and
# a non-zero exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# expect_error NAME EXPECTED-REGEX CMD...: non-zero exit, one stderr line matching.
expect_error() {
	local name=$1 re=$2
	shift 2
	local rc=0
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	[ $rc -ne 0 ] || fail "$name: exit status 0"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: stderr lacks /$re/: $(cat "$TMP/$name.err")"
	local n
	n=$(grep -vc '^  |' "$TMP/$name.err" || true)
	[ "$n" -eq 1 ] || fail "$name: expected one message line, got $n: $(cat "$TMP/$name.err")"
}

# a pid that does not exist: the highest pid + 1 is free right after we checked
nopid=$(( $(cat /proc/sys/kernel/pid_max) - 1 ))
while [ -d /proc/$nopid ]; do nopid=$((nopid - 1)); done
expect_error nopid "no such process: $nopid" "$KT" -p "$nopid" -d 1
echo "not an elf" >"$TMP/text.txt"
expect_error notelf "not an ELF" "$KT" -b "$TMP/text.txt" -d 1
expect_error noprobes "no kaos probes" "$KT" -b /bin/true -d 1
expect_error nofile "No such file" "$KT" -b "$TMP/missing.so" -d 1
expect_error noarg "nothing to trace" "$KT"
expect_error badopt "invalid duration" "$KT" -b "$B/libkaos.so" -d abc
expect_error badrb "power of two" "$KT" -b "$B/libkaos.so" --ringbuf-size 5000
expect_error excl "exclusive" "$KT" -b "$B/libkaos.so" --sample 4 --budget 3
expect_error budget_noprice "budget needs the probe cost" "$KT" -b "$B/libkaos.so" --budget 3 --no-calibrate
expect_error json_unwritable "cannot write /nonexistent-dir/x.json" "$KT" -b "$B/libkaos.so" -d 1 --json /nonexistent-dir/x.json
expect_error folded_unwritable "cannot write /nonexistent-dir/x.folded" "$KT" -b "$B/libkaos.so" -d 1 --folded /nonexistent-dir/x.folded
expect_error list_notelf "not an ELF" "$KT" list "$TMP/text.txt"
# a live process without libkaos
sleep 30 &
sp=$!
expect_error pid_nolib "maps no object with kaos probes" "$KT" -p "$sp" -d 1
kill "$sp"
# not enough privilege: drop the capabilities BPF needs
if command -v capsh >/dev/null; then
	expect_error noprivs "CAP_BPF is missing" capsh --drop=cap_bpf,cap_perfmon,cap_sys_admin -- -c "$KT -b $B/libkaos.so -d 1"
else
	fail "capsh (libcap2-bin) is not installed: cannot test the privilege error"
fi
# BPF load failure: the verifier's last lines are shown, indented under one message line
rc=0
KAOS_TRACE_TEST_BREAK_LOAD=1 "$KT" -b "$B/libkaos.so" -d 1 >/dev/null 2>"$TMP/load.err" || rc=$?
[ $rc -ne 0 ] || fail "broken load: exit 0"
grep -q "BPF load failed" "$TMP/load.err" || fail "broken load: $(cat "$TMP/load.err")"
grep -q '^  | ' "$TMP/load.err" || fail "broken load: no verifier lines: $(cat "$TMP/load.err")"
echo "PASS: errors are one line and non-zero"
