#!/usr/bin/env bash
# The shipped programs under valgrind memcheck (0 errors, 0 leaks of any
# kind), with real BPF: kaos-trace one-shot (-- COMMAND, stacks, folded,
# JSON, intervals, --off-cpu with a 300 ms sleep at the end), kaos-trace
# --func, the daemon (one /metrics scrape, then SIGTERM), and kaos-pipeline
# compress + decompress (libkaos' threads).
#
# kaos-trace runs with --probe-cost or --no-calibrate: its start-up
# self-measurement puts uprobes on its own code, and valgrind executes the
# int3 the kernel wrote there as a real SIGTRAP. tests/valgrind/libbpf.supp lists the libbpf
# bpf() calls valgrind misreads (and why).
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
FUNCS=$B/tests/progs/kt_funcs
need "$KT" "$WORK" "$FUNCS" "$B/kaos-pipeline"
command -v valgrind >/dev/null || fail "valgrind is missing (make deps)"
command -v curl >/dev/null || fail "curl is missing (make deps)"
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=all
	--errors-for-leak-kinds=all --suppressions=tests/valgrind/libbpf.supp \
	--suppressions=tests/valgrind/dlopen.supp)

# vg_check NAME RC: the valgrind run NAME exited RC; its log is $TMP/NAME.err
vg_check() {
	[ "$2" -ne 99 ] || fail "$1: valgrind found errors: $(grep '^==' "$TMP/$1.err" | head -40)"
	[ "$2" -eq 0 ] || fail "$1: exited $2"
	! grep -q '^==[0-9]*== ' "$TMP/$1.err" || fail "$1: valgrind said: $(grep '^==' "$TMP/$1.err" | head -20)"
}

# wait_attached NAME PID: until the tracer under valgrind says "attached" (slow: ~10 s)
wait_attached() {
	for _ in $(seq 1 1200); do
		grep -q "attached" "$TMP/$1.err" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || fail "$1 exited before attaching: $(tail -5 "$TMP/$1.err")"
		sleep 0.05
	done
	fail "$1 did not attach within 60 s"
}

echo "== kaos-trace -- COMMAND"
rc=0
# valgrind slows the consumer ~30x: a ring buffer big enough for the whole run
"${VG[@]}" "$KT" --sample 1 --probe-cost 1500 --ringbuf-size 67108864 --stacks --folded "$TMP/one.folded" \
	--json "$TMP/one.json" -i 0.5 --off-cpu -- "$WORK" --msgs 20000 --bp 10 --hold-ms 300 \
	>"$TMP/one.txt" 2>"$TMP/one.err" || rc=$?
vg_check one $rc
json_check "$TMP/one.json" \
	'final["lost"] == 0' \
	'[p["pid"] for p in final["off_cpu"]["processes"]] == [p["pid"] for p in final["processes"]]' \
	'final["off_cpu"]["processes"][0]["top_stacks"][0]["blocked_ns"] >= 250000000' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [20000]' \
	'[r["backpressure"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.bp"] == [10]'
grep -q 'kt_workload' "$TMP/one.folded" || fail "no kt_workload stack in the folded output"

echo "== kaos-trace --func"
"${VG[@]}" "$KT" --no-calibrate -b "$FUNCS" --func 'busy_*' --json "$TMP/func.json" \
	>"$TMP/func.txt" 2>"$TMP/func.err" &
vp=$!
KT_PIDS+=("$vp")
wait_attached func $vp
"$FUNCS" --n20 30 --n100 10 >/dev/null || fail "kt_funcs failed"
kill -INT $vp
rc=0
wait $vp || rc=$?
vg_check func $rc
json_check "$TMP/func.json" \
	'final["lost"] == 0' \
	"[f['calls'] for p in final['processes'] for f in p['functions'] if f['name'] == 'busy_20us'] == [30]" \
	"[f['calls'] for p in final['processes'] for f in p['functions'] if f['name'] == 'busy_100us'] == [10]"

echo "== kaos-trace daemon"
DERR=$TMP/daemon.err
"${VG[@]}" "$KT" daemon --sample 1 --probe-cost 1500 --watch "$WORK" --listen 127.0.0.1:0 \
	>"$TMP/daemon.out" 2>"$DERR" &
DPID=$!
KT_PIDS+=("$DPID")
for _ in $(seq 1 1200); do
	grep -Eq 'start: running|"msg":"running' "$DERR" 2>/dev/null && break
	kill -0 "$DPID" 2>/dev/null || fail "daemon exited: $(tail -5 "$DERR")"
	sleep 0.05
done
PORT=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$DERR" | tail -1 | grep -o '[0-9]*$' || true)
[ -n "$PORT" ] || fail "daemon: no /metrics port in its log: $(tail -5 "$DERR")"
"$WORK" --msgs 5000 --bp 2 >"$TMP/w.txt" || fail "workload failed"
want=$(awk '$3 == "work.0" {print $5}' "$TMP/w.txt")
ok=
for _ in $(seq 1 100); do
	scrape /metrics >"$TMP/metrics.txt" 2>/dev/null &&
		grep -Eq "^kaos_ring_messages_total\{.*ring=\"work.0\".*op=\"send\".*\} $want\$" "$TMP/metrics.txt" &&
		ok=1 && break
	sleep 0.2
done
[ -n "$ok" ] || fail "daemon: /metrics never showed $want sends on work.0: $(grep 'work.0' "$TMP/metrics.txt" | head -5)"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
vg_check daemon $rc

echo "== kaos-pipeline compress + decompress"
head -c 3000000 /dev/urandom >"$TMP/in.bin"
seq 1 200000 >>"$TMP/in.bin"
rc=0
"${VG[@]}" "$B/kaos-pipeline" compress --workers 2 --chunk-size 65536 "$TMP/in.bin" "$TMP/out.kp" \
	>"$TMP/comp.txt" 2>"$TMP/comp.err" || rc=$?
vg_check comp $rc
rc=0
"${VG[@]}" "$B/kaos-pipeline" decompress "$TMP/out.kp" "$TMP/rt.bin" \
	>"$TMP/decomp.txt" 2>"$TMP/decomp.err" || rc=$?
vg_check decomp $rc
cmp -s "$TMP/in.bin" "$TMP/rt.bin" || fail "kaos-pipeline round trip differs"
echo "PASS: kaos-trace (one-shot, --func, daemon) and kaos-pipeline clean under valgrind"
