#!/usr/bin/env bash
# Where kaos-trace --func finds functions, with exact counts each time:
#  1. -p PID: libkaos by file-name prefix ("libkaos.so") and by soname
#     ("libkaos.so.0"), beside the USDT probes of the same calls: function
#     calls = USDT operations = what the workload did; and the executable
#     itself without a library part. The tracer stops when the pid exits.
#  2. -b PROGRAM, library part a DT_NEEDED of it (resolved like ld.so).
#  3. A stripped PIE (symbols only in .dynsym), by path.
#  4. A stripped shared library that the process dlopen()s after the attach
#     by path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FUNCS=$PWD/$B/tests/progs/kt_funcs
RDYN=$PWD/$B/tests/progs/kt_funcs_rdynamic
DLLIB=$PWD/$B/tests/progs/libkt_funcs_dl.so
need "$KT" "$WORK" "$FUNCS" "$RDYN"
[ -f "$DLLIB" ] || fail "missing $DLLIB (run make first)"
calls() { sed -n "s/^calls $2=\([0-9]*\)$/\1/p" "$1"; }
# fcalls JSON NAME: the calls kaos-trace counted for function NAME
fcalls() {
	python3 - "$1" "$2" <<'PY'
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
print(sum(f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == sys.argv[2]))
PY
}

echo "== 1. -p PID: libkaos by name prefix and by soname, with its USDT probes"
coproc W { "$WORK" --wait --msgs 20000 --batch 1; }
cpid=$W_PID
read -r ready wpid <&"${W[0]}"
# a copy: bash closes and unsets W once it reaps the coprocess, which
# can be before the cat below (a short workload, once it has its go)
exec {W_OUT}<&"${W[0]}"
[ "$ready" = ready ] || fail "workload did not start"
start_tracer pid -p "$wpid" --func 'libkaos.so:kaos_ring_send' --func 'libkaos.so.0:kaos_ring_recv' \
	--func 'pump' --json "$TMP/pid.json"
echo go >&"${W[1]}"
cat <&"$W_OUT" >"$TMP/work.txt"
exec {W_OUT}<&-
wait "$cpid" || fail "workload failed"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
grep -q "pid $wpid exited" "$TMP/pid.err" || fail "tracer did not report the exit of pid $wpid"
json_check "$TMP/pid.json" \
	'final["lost"] == 0' \
	'[f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == "kaos_ring_send"] == [20000]' \
	'[f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == "kaos_ring_recv"] == [20000]' \
	'[f["module"] for p in final["processes"] for f in p["functions"] if f["name"] == "kaos_ring_recv"] == ["libkaos.so.0.1"]' \
	'[f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == "pump"] == [1]' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [20000]' \
	'[r["recv"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [20000]'
echo "ok: 20000 kaos_ring_send/recv calls = 20000 USDT sends/recvs, pump called once"

echo "== 2. -b PROGRAM with a library it needs"
start_tracer needed -b "$WORK" --no-usdt --func 'libkaos.so:kaos_ring_send' --json "$TMP/needed.json"
"$WORK" --msgs 5000 --batch 1 >/dev/null || fail "workload failed"
stop_tracer
[ "$(fcalls "$TMP/needed.json" kaos_ring_send)" = 5000 ] || fail "needed: $(fcalls "$TMP/needed.json" kaos_ring_send) calls, expected 5000"
grep -q "libkaos.so.0.1:kaos_ring_send" "$TMP/needed.txt" || fail "needed: no kaos_ring_send row"
echo "ok: DT_NEEDED libkaos.so resolved, 5000 calls"

echo "== 3. a stripped PIE: functions only in .dynsym"
cp "$RDYN" "$TMP/kt_stripped"
strip --strip-all "$TMP/kt_stripped"
readelf -S "$TMP/kt_stripped" | grep -c '\.symtab' >/dev/null && fail "strip left a .symtab"
"$KT" list --func 'busy_*' "$TMP/kt_stripped" >"$TMP/list3.txt" || fail "list failed"
grep -q "(.dynsym)" "$TMP/list3.txt" || fail "list does not say .dynsym: $(cat "$TMP/list3.txt")"
start_tracer stripped -b "$TMP/kt_stripped" --func 'busy_*' --func rec_busy --json "$TMP/stripped.json"
"$TMP/kt_stripped" --n20 200 --rec 20 --depth 3 >"$TMP/prog3.txt" || fail "stripped program failed"
stop_tracer
for f in busy_20us rec_busy; do
	got=$(fcalls "$TMP/stripped.json" $f)
	[ "$got" = "$(calls "$TMP/prog3.txt" $f)" ] || fail "stripped: $f: $got calls, program made $(calls "$TMP/prog3.txt" $f)"
done
echo "ok: stripped PIE: exact counts"

echo "== 4. a stripped library dlopen()ed after the attach, by path"
cp "$DLLIB" "$TMP/libkt_dl_stripped.so"
strip --strip-all "$TMP/libkt_dl_stripped.so"
start_tracer dl -b "$TMP/libkt_dl_stripped.so" --func 'dl_*' --json "$TMP/dl.json"
"$FUNCS" --sleep-ms 100 --dlopen "$TMP/libkt_dl_stripped.so" --dl-calls 300 >"$TMP/prog4.txt" ||
	fail "dlopen program failed"
stop_tracer
[ "$(calls "$TMP/prog4.txt" dl_busy_20us)" = 300 ] || fail "the program did not call dl_busy_20us 300 times"
[ "$(fcalls "$TMP/dl.json" dl_busy_20us)" = 300 ] || fail "dlopen: $(fcalls "$TMP/dl.json" dl_busy_20us) calls, expected 300"
json_check "$TMP/dl.json" \
	'[abs(f["latency_corrected"]["p50"] - 20000) <= 2000 for p in final["processes"] for f in p["functions"]] == [True]'
echo "PASS: -p by name and soname, -b with DT_NEEDED, stripped PIE, dlopen()ed stripped library"
