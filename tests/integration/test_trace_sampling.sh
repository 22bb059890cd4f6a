#!/usr/bin/env bash
# Sampling leaves no state behind and tracers on one process coexist
# (issue 11, items 2 and 3), checked by reading kaos_probe_control in the
# traced process itself (probe_control_poke), not by trusting the tracer:
#  1. the default run is budgeted: period > 1 on a busy process, said in
#     the start-up line, the report and the JSON;
#  2. a tracer with --sample 64 that exits cleanly restores every operation;
#  3. one that is SIGKILLed leaves 64 behind: the next tracer reclaims it,
#     says so, and reports (and gets) its own sampling; after it, 1 again;
#  4. two tracers at once asking 4 and 64 both report 4 in effect; once the
#     4-tracer exits the 64 request applies, and after both, 1; the cost
#     of 1 in 4 on a busy ring is warned about, with the number;
#  5. kaos-trace daemon --sample/--budget: accepted and applied (/metrics,
#     restored on SIGTERM), the cost warning logged and counted; bad values
#     refused with one line and exit 2.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/control_lib.sh"

WL=$B/tests/progs/kt_bench_workload
POKE=$B/tests/progs/probe_control_poke
LIB=$PWD/$B/libkaos.so
need "$KT" "$WL" "$POKE"

# sample_every PID: kaos_probe_control.sample_every as the process has it.
sample_every() {
	local exe addr
	exe=$(readlink "/proc/$1/exe")
	addr=$(control_file_addr "$exe" "$1") || fail "pid $1: cannot find kaos_probe_control"
	[ -n "$addr" ] || addr=$(control_file_addr "$(readlink -f "$LIB")" "$1") ||
		fail "pid $1: cannot find kaos_probe_control"
	[ -n "$addr" ] || fail "no kaos_probe_control in pid $1"
	"$POKE" "$1" "$addr" | sed -n 's/.*sample_every=\([0-9]*\).*/\1/p'
}

# wait_sampling PID N: until the process has sample_every N (at most 10 s).
wait_sampling() {
	local v=
	for _ in $(seq 1 200); do
		v=$(sample_every "$1")
		[ "$v" = "$2" ] && return 0
		sleep 0.05
	done
	fail "pid $1: sample_every $v, expected $2"
}

# wait_json FILE PYTHON-EXPR: until some line of FILE satisfies EXPR (on `l`), at most 10 s.
wait_json() {
	for _ in $(seq 1 200); do
		python3 - "$1" "$2" <<'PY' && return 0
import json, sys
for line in open(sys.argv[1]):
    try:
        l = json.loads(line)
    except ValueError:
        continue
    if eval(sys.argv[2], {"l": l}):
        sys.exit(0)
sys.exit(1)
PY
		sleep 0.05
	done
	fail "no line of $1 with $2"
}

# A busy process: one thread sending and receiving through libkaos.so.
"$WL" local --ms 120000 >"$TMP/wl.out" &
W=$!
# SIGTERM: a background job of a script ignores lib.sh's SIGINT
trap 'kt_rc=$?; kill -TERM "$W" 2>/dev/null || true; cleanup $kt_rc' EXIT
wait_sampling "$W" 1

echo "== 1. the default run is budgeted"
"$KT" -p "$W" -d 2 --json "$TMP/default.json" >"$TMP/default.txt" 2>"$TMP/default.err" ||
	fail "kaos-trace exited non-zero"
grep -q "sampling: default budget 1% of each process's CPU" "$TMP/default.err" ||
	fail "the start-up line does not say the default budget"
grep -Eq "^pid $W .*sampling 1 in [0-9]+ \(default budget 1%\)" "$TMP/default.txt" ||
	fail "the report does not say the default budget's period"
json_check "$TMP/default.json" \
	'final["sampling"] == {"mode": "default-budget", "budget_pct": 1}' \
	'final["processes"][0]["sample_every"] > 1'
wait_sampling "$W" 1

echo "== 2. --sample 64, clean exit: every operation again"
"$KT" -p "$W" -d 1 --sample 64 >"$TMP/clean.txt" 2>"$TMP/clean.err" || fail "kaos-trace failed"
grep -Eq "^pid $W .*sampling 1 in 64 \(--sample\)" "$TMP/clean.txt" || fail "64 not reported"
[ "$(sample_every "$W")" = 1 ] || fail "sample_every $(sample_every "$W") left behind"
[ -z "$(ls /run/kaos-trace/ 2>/dev/null | grep "control-$W-")" ] || fail "a lock file was left"

echo "== 3. --sample 64, SIGKILL: reclaimed by the next tracer"
start_tracer killed -p "$W" --sample 64
K=$TRACER_PID
wait_sampling "$W" 64
kill -KILL "$K"
wait "$K" 2>/dev/null || true
v=$(sample_every "$W")
[ "$v" = 64 ] || fail "sample_every $v after the SIGKILL: expected the killed tracer's 64 until reclaimed"
"$KT" -p "$W" -d 1.5 --sample 16 --json "$TMP/next.json" >"$TMP/next.txt" 2>"$TMP/next.err" ||
	fail "kaos-trace failed"
grep -q "pid $W: a stale sampling 1/64 left by pid $K was reclaimed" "$TMP/next.err" ||
	fail "the reclaim was not said"
grep -Eq "^pid $W .*sampling 1 in 16 \(--sample\)" "$TMP/next.txt" || fail "16 not reported"
# what it reports is what the process did: about 1 sampled send in 16
json_check "$TMP/next.json" \
	'final["processes"][0]["sample_every"] == 16' \
	'8 <= final["processes"][0]["rings"][0]["send"]["ops"] / max(1, final["processes"][0]["rings"][0]["send"]["samples"]) <= 32'
[ "$(sample_every "$W")" = 1 ] || fail "sample_every $(sample_every "$W") left behind"

echo "== 4. two tracers: 64 and 4"
start_tracer t64 -p "$W" --sample 64 -i 0.2 --json "$TMP/t64.json"
T64=$TRACER_PID
wait_sampling "$W" 64
"$KT" -p "$W" --sample 4 --json "$TMP/t4.json" >"$TMP/t4.txt" 2>"$TMP/t4.err" &
T4=$!
KT_PIDS+=("$T4")
wait_sampling "$W" 4
# the 64-tracer reads the 4 in effect back and says whose it is
wait_json "$TMP/t64.json" "l['processes'][0]['sample_every'] == 4 and l['processes'][0]['sample_by_pid'] == $T4 and l['processes'][0]['sample_asked'] == 64"
# 1 in 4 on a busy ring costs far more than 10 %: said once, with the number
for _ in $(seq 1 200); do
	grep -Eq "pid $W: tracing cost [0-9.]+% of its CPU, above 10%" "$TMP/t4.err" && break
	sleep 0.05
done
grep -Eq "pid $W: tracing cost [0-9.]+% of its CPU, above 10% \(sampling 1/4" "$TMP/t4.err" ||
	fail "no cost warning from the 4-tracer"
kill -INT "$T4"
wait "$T4" || fail "the 4-tracer exited non-zero"
json_check "$TMP/t4.json" 'final["processes"][0]["sample_every"] == 4'
wait_sampling "$W" 64
n4=$(wc -l <"$TMP/t64.json")
wait_json "$TMP/t64.json" "l['processes'][0]['sample_every'] == 64 and l['elapsed_s'] > 0 and l['processes'][0]['sample_by_pid'] == $T64"
TRACER_PID=$T64
stop_tracer
grep -Eq "^pid $W .*sampling 1 in 64 \(--sample\)" "$TMP/t64.txt" || fail "64 not reported at the end"
[ "$(wc -l <"$TMP/t64.json")" -gt "$n4" ] || fail "no report after the 4-tracer left"
[ "$(sample_every "$W")" = 1 ] || fail "sample_every $(sample_every "$W") left behind"

echo "== 5. daemon --sample / --budget"
for bad in "--sample 0" "--sample x" "--budget 0" "--budget 200" "--budget abc" \
	"--sample 4 --budget 1"; do
	rc=0
	# shellcheck disable=SC2086
	"$KT" daemon --listen off --watch "$LIB" $bad >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
	[ $rc = 2 ] || fail "daemon $bad: exit $rc, expected 2"
	[ "$(wc -l <"$TMP/bad.err")" = 1 ] || fail "daemon $bad: not one line: $(cat "$TMP/bad.err")"
done
start_daemon d --listen 127.0.0.1:0 --watch "$LIB" --sample 32
grep -q "sampling: fixed 1 in 32 (--sample)" "$DERR" || fail "the daemon does not say its sampling"
wait_sampling "$W" 32
# (the page is saved first: grep -q closing the pipe early would fail curl under pipefail)
for _ in $(seq 1 100); do
	scrape >"$TMP/metrics.txt" || fail "scrape failed"
	grep -q "^kaos_trace_process_sample_every{pid=\"$W\",[^}]*} 32$" "$TMP/metrics.txt" && break
	sleep 0.1
done
grep -q "^kaos_trace_process_sample_every{pid=\"$W\",[^}]*} 32$" "$TMP/metrics.txt" ||
	fail "/metrics does not show the sampling in effect"
# 1 in 32 on a busy ring costs far more than 10 %: logged with the number, and counted
wait_log "sampling: pid $W: tracing cost [0-9.]+% of its CPU, above 10% \(sampling 1/32"
scrape >"$TMP/metrics.txt" || fail "scrape failed"
grep -Eq "^kaos_trace_cost_warnings_total [1-9]" "$TMP/metrics.txt" ||
	fail "the cost warning is not counted: $(grep cost_warnings "$TMP/metrics.txt")"
stop_daemon
[ "$(sample_every "$W")" = 1 ] || fail "the daemon left sample_every $(sample_every "$W")"
start_daemon db --listen off --watch "$LIB" --budget 2
grep -q "sampling: budget 2% of each process's CPU (--budget)" "$DERR" ||
	fail "the daemon does not say its budget"
stop_daemon
kill -TERM "$W"
wait "$W" 2>/dev/null || true
echo "PASS"
