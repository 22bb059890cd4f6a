#!/usr/bin/env bash
# --profile, --off-cpu and --func on a program without libkaos (kt_plain),
# each of -p PID, -b PATH and -- COMMAND: the folded output names the
# program's own functions (plain_spin on CPU, plain_block off CPU) and
# --func counts exactly the calls the program says it made, in itself
# (plain_call) and in a library it needs (libz's crc32; with -- COMMAND
# found before the program runs; libc's strchr: not one call of
# kaos-trace's own on the way to exec). USDT tracing alone still refuses such a
# target with its one-line reason.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PLAIN=$PWD/$B/tests/progs/kt_plain
need "$KT" "$PLAIN"
readelf -d "$PLAIN" | grep -q 'libkaos' && fail "$PLAIN links libkaos"
ZLIB=$(ldd "$PLAIN" | awk '$1 ~ /^libz\.so/ {print $3}')
[ -f "$ZLIB" ] || fail "kt_plain's libz not found"
CALL_ADDR=$(nm "$PLAIN" | awk '$3 == "plain_call" {sub(/^0+/, "", $1); print $1}')
WORKLOAD=(--calls 5000 --zlib 300 --spin-ms 800 --block-ms 300)
COLLECT=(--profile 199 --off-cpu --func plain_call --func 'libz.so.1:crc32')

calls() { sed -n "s/^calls $2=\([0-9]*\)$/\1/p" "$1"; }
# fcalls JSON NAME PID: the calls kaos-trace counted for function NAME in
# process PID (a library probed by path with -b counts every process's)
fcalls() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
print(sum(f["calls"] for p in final["processes"] if p["pid"] == int(sys.argv[3])
          for f in p["functions"] if f["name"] == sys.argv[2]))
PY
}
# check NAME: the run's scope line, folded stacks and exact call counts
check() {
	local n=$1 pid
	pid=$(sed -n 's/^pid \([0-9]*\)$/\1/p' "$TMP/$n.prog")
	[ -n "$pid" ] || fail "$n: kt_plain did not print its pid"
	grep -q 'scope: .*(no kaos probes there: --func, --profile, --off-cpu)' "$TMP/$n.err" ||
		fail "$n: the start-up line does not say there are no kaos probes"
	grep -Eq '^\[cpu\];kt_plain;.*;main;plain_spin[; ]' "$TMP/$n.folded" ||
		fail "$n: no [cpu] stack through plain_spin"
	grep -Eq '^\[off-cpu\];kt_plain;.*;main;plain_block[; ]' "$TMP/$n.folded" ||
		fail "$n: no [off-cpu] stack through plain_block"
	for f in plain_call crc32; do
		[ "$(calls "$TMP/$n.prog" $f)" -gt 0 ] || fail "$n: the program did not call $f"
		got=$(fcalls "$TMP/$n.json" $f "$pid")
		[ "$got" = "$(calls "$TMP/$n.prog" $f)" ] ||
			fail "$n: $f: $got calls counted in pid $pid, the program made $(calls "$TMP/$n.prog" $f)"
	done
	# --func names the symbol and address it probed (nm's, in the program itself)
	grep -q "^kaos-trace: --func: probing plain_call at 0x$CALL_ADDR (file offset 0x[0-9a-f]*, .symtab) in $PLAIN$" "$TMP/$n.err" ||
		fail "$n: no line naming plain_call and its address 0x$CALL_ADDR"
	grep -Eq "^kaos-trace: --func: probing crc32 at 0x[0-9a-f]+ \(file offset 0x[0-9a-f]+, .dynsym\) in .*/libz\.so" "$TMP/$n.err" ||
		fail "$n: no line naming crc32 in libz"
	echo "ok: $n: plain_spin on CPU, plain_block off CPU, plain_call 5000 and crc32 300 calls exact"
}

echo "== 1. -p PID"
coproc W { "$PLAIN" --wait "${WORKLOAD[@]}"; }
cpid=$W_PID
read -r ready ppid <&"${W[0]}"
# a copy: bash closes and unsets W once it reaps the coprocess, which
# can be before the cat below (a short workload, once it has its go)
exec {W_OUT}<&"${W[0]}"
[ "$ready" = ready ] || fail "kt_plain did not start"
start_tracer pid -p "$ppid" "${COLLECT[@]}" --folded "$TMP/pid.folded" --json "$TMP/pid.json"
echo go >&"${W[1]}"
cat <&"$W_OUT" >"$TMP/pid.prog"
exec {W_OUT}<&-
wait "$cpid" || fail "kt_plain failed"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
check pid

echo "== 2. -b PATH (processes started after the attach)"
start_tracer path -b "$PLAIN" "${COLLECT[@]}" --folded "$TMP/path.folded" --json "$TMP/path.json"
"$PLAIN" "${WORKLOAD[@]}" >"$TMP/path.prog" || fail "kt_plain failed"
stop_tracer
check path

echo "== 3. -- COMMAND"
"$KT" "${COLLECT[@]}" --func 'libc.so.6:memcpy' --folded "$TMP/cmd.folded" --json "$TMP/cmd.json" \
	-- "$PLAIN" "${WORKLOAD[@]}" >"$TMP/cmd.prog" 2>"$TMP/cmd.err" || fail "kaos-trace -- COMMAND failed"
check cmd
# libc's memcpy by path (the command has not run yet): kaos-trace's own choice of IFUNC
grep -Eq "memcpy is an IFUNC: probing [^ ]+ .*, the implementation kaos-trace itself \(pid [0-9]+\) uses on this CPU$" "$TMP/cmd.err" ||
	fail "cmd: no note naming memcpy's implementation"

# a libc function: only the command's own calls, none of kaos-trace's on the way to exec
"$KT" --func 'libc.so.6:strchr' --json "$TMP/strchr.json" -- "$PLAIN" --strchr 100 >"$TMP/strchr.prog" 2>"$TMP/strchr.err" ||
	fail "kaos-trace --func strchr -- COMMAND failed"
[ "$(calls "$TMP/strchr.prog" strchr)" = 100 ] || fail "kt_plain did not call strchr 100 times"
got=$(python3 - "$TMP/strchr.json" <<'PY'
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
print(sum(f["calls"] for p in final["processes"] for f in p["functions"]))
PY
)
[ "$got" = 100 ] || fail "cmd: strchr: $got calls counted, the program made 100"
echo "ok: cmd: libc's strchr: 100 calls, the program's own"

echo "== 4. USDT tracing alone: still refused, with the reason"
coproc W2 { "$PLAIN" --wait; }
read -r ready ppid <&"${W2[0]}"
# one collector alone (no --func) takes the same pid
"$KT" -p "$ppid" --profile 99 -d 0.3 >/dev/null 2>"$TMP/alone.err" || fail "-p --profile alone failed"
grep -q "scope: pid $ppid (no kaos probes there: --profile)$" "$TMP/alone.err" || fail "-p --profile alone: no scope line"
rc=0
"$KT" -p "$ppid" -d 1 >/dev/null 2>"$TMP/e1.err" || rc=$?
echo go >&"${W2[1]}"
[ $rc -ne 0 ] || fail "-p of a process without kaos probes, no collector: accepted"
grep -q "pid $ppid maps no object with kaos probes" "$TMP/e1.err" || fail "-p: $(cat "$TMP/e1.err")"
rc=0
"$KT" -d 1 -- "$PLAIN" >/dev/null 2>"$TMP/e2.err" || rc=$?
[ $rc -ne 0 ] || fail "-- COMMAND without kaos probes, no collector: accepted"
grep -q "kt_plain: no kaos probes" "$TMP/e2.err" || fail "--: $(cat "$TMP/e2.err")"
rc=0
"$KT" -b "$ZLIB" --profile 99 -d 1 >/dev/null 2>"$TMP/e3.err" || rc=$?
[ $rc -eq 2 ] || fail "--profile -b LIBRARY without kaos probes: exit $rc, expected 2"
grep -q "a library without kaos probes" "$TMP/e3.err" || fail "-b LIB: $(cat "$TMP/e3.err")"
echo "PASS: --profile, --off-cpu and --func on a program without libkaos by -p, -b and -- COMMAND"
