#!/usr/bin/env bash
# --alloc with a full map of traced processes: a process that finds no slot
# is not traced, and that is counted everywhere the other alloc drops are:
# the daemon's /metrics (kaos_trace_alloc_processes_untracked_total, and
# kaos_trace_alloc_counts_exact 0), the one-shot's final JSON
# (processes_untracked, exact false, dropped true), its stderr drop line and
# its report. Real BPF, deterministic: the map holds 2 processes
# (KAOS_TRACE_ALLOC_MAX_PROCS=2) and 5 workload processes are held alive at
# once (each waits for a file before allocating), so exactly 3 find no slot;
# the 2 traced ones stay exact. Before the counter, /metrics had only a log line.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"
command -v curl >/dev/null || fail "curl is missing (make deps)"
AWARGS=(--allocs 200 --short 20 --leaks 4 --plateau 65536 --rounds 1)
N=5
SLOTS=2

# start_all TAG: N workloads, all waiting for $TMP/go.TAG; their pids in PIDS
start_all() {
	PIDS=()
	for i in $(seq 1 $N); do
		"$AW" "${AWARGS[@]}" --wait-file "$TMP/go.$1" --truth "$TMP/truth.$1.$i.json" >/dev/null &
		PIDS+=("$!")
		KT_PIDS+=("$!")
	done
}

# release_all TAG: lets the workloads allocate and exit; each must exit 0
release_all() {
	touch "$TMP/go.$1"
	for p in "${PIDS[@]}"; do wait "$p" || fail "kt_alloc_workload $p failed"; done
}

# metric NAME FILE: the value of the unlabelled series NAME, or "none"
metric() { awk -v n="$1" '$1 == n {print $2; f = 1} END {if (!f) print "none"}' "$2"; }

# the traced ones (by the figures FILE gives: "pid allocs bytes peak" lines) agree with their truth
check_exact() {
	python3 - "$1" "$TMP" "$2" "$SLOTS" "$N" <<'PY' || fail "a traced process's figures disagree with its truth"
import json, sys
got, tmp, tag, slots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
truth = {}
for i in range(1, int(sys.argv[5]) + 1):
    t = json.load(open("%s/truth.%s.%d.json" % (tmp, tag, i)))
    truth[t["pid"]] = t
rows = [list(map(int, l.split())) for l in open(got) if l.strip()]
assert len(rows) == slots, "want %d traced processes, got %s" % (slots, rows)
for pid, allocs, nbytes, peak in rows:
    t = truth[pid]
    assert (allocs, nbytes, peak) == (t["allocs"], t["bytes_allocated"], t["peak_bytes"]), (pid, allocs, nbytes, peak, t)
print("%s: %d traced processes exact" % (tag, len(rows)))
PY
}

# 1. the daemon: the counter, the exactness gauge, the traced ones exact
KAOS_TRACE_ALLOC_MAX_PROCS=$SLOTS start_daemon d --watch "$AW" --alloc --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
scrape >"$TMP/m0.txt" || fail "scrape failed"
[ "$(metric kaos_trace_alloc_processes_untracked_total "$TMP/m0.txt")" = 0 ] ||
	fail "untracked before any process: $(grep untracked "$TMP/m0.txt")"
[ "$(metric kaos_trace_alloc_counts_exact "$TMP/m0.txt")" = 1 ] || fail "not exact before any process"
grep -q '^# TYPE kaos_trace_alloc_processes_untracked_total counter$' "$TMP/m0.txt" || fail "no TYPE line"
grep -q '^# HELP kaos_trace_alloc_processes_untracked_total ' "$TMP/m0.txt" || fail "no HELP line"
start_all d
for _ in $(seq 1 400); do
	scrape >"$TMP/m1.txt" || fail "scrape failed"
	[ "$(metric kaos_trace_alloc_processes_untracked_total "$TMP/m1.txt")" = $((N - SLOTS)) ] &&
		[ "$(grep -c '^kaos_alloc_allocs_total{' "$TMP/m1.txt")" = $SLOTS ] && break
	kill -0 "$DPID" || fail "the daemon died"
	sleep 0.05
done
[ "$(metric kaos_trace_alloc_processes_untracked_total "$TMP/m1.txt")" = $((N - SLOTS)) ] ||
	fail "want $((N - SLOTS)) untracked: $(grep -E '^kaos_(trace_)?alloc' "$TMP/m1.txt")"
release_all d
sleep 0.5 # the 2 slots free again: nobody else may take them now (the 3 are given up)
scrape >"$TMP/m2.txt" || fail "scrape failed"
echo "daemon: $(grep -E '^kaos_trace_alloc' "$TMP/m2.txt" | tr '\n' ' ')"
[ "$(metric kaos_trace_alloc_processes_untracked_total "$TMP/m2.txt")" = $((N - SLOTS)) ] ||
	fail "the count moved after the processes ran: $(grep untracked "$TMP/m2.txt")"
[ "$(metric kaos_trace_alloc_counts_exact "$TMP/m2.txt")" = 0 ] ||
	fail "counts still marked exact with untracked processes"
scrape /metrics -H 'Accept: application/openmetrics-text' >"$TMP/om.txt" || fail "OpenMetrics scrape failed"
grep -q "^kaos_trace_alloc_processes_untracked_total $((N - SLOTS))$" "$TMP/om.txt" ||
	fail "OpenMetrics: $(grep untracked "$TMP/om.txt")"
grep -q '^# TYPE kaos_trace_alloc_processes_untracked counter$' "$TMP/om.txt" ||
	fail "OpenMetrics family not named without _total"
sed -nE 's/^kaos_alloc_(allocs_total|allocated_bytes_total|peak_bytes)\{pid="([0-9]+)".* ([0-9]+)$/\2 \1 \3/p' \
	"$TMP/m2.txt" | python3 -c '
import sys
v = {}
for l in sys.stdin:
    pid, name, x = l.split()
    v.setdefault(pid, {})[name] = x
for pid, f in v.items():
    print(pid, f["allocs_total"], f["allocated_bytes_total"], f["peak_bytes"])' >"$TMP/d.rows"
check_exact "$TMP/d.rows" d
# logged as they are found (one line per tick that found some): 3 in all
logged=$(sed -n 's/.*alloc: \([0-9]*\) processes not traced: .*/\1/p' "$DERR" | awk '{s += $1} END {print s + 0}')
[ "$logged" = $((N - SLOTS)) ] || fail "the log says $logged untracked processes, want $((N - SLOTS))"
stop_daemon

# 2. the one-shot -b: final JSON, stderr drop line, report
KAOS_TRACE_ALLOC_MAX_PROCS=$SLOTS start_tracer o --alloc -b "$AW" -d 60 -i 0.1 --json "$TMP/o.json"
start_all o
# every one of them seen (an interval line lists it: the tick that found it tried to attach it)
for _ in $(seq 1 400); do
	tail -n 1 "$TMP/o.json" | python3 -c '
import json, sys
seen = {p["pid"] for p in json.loads(sys.stdin.read()).get("processes", [])}
sys.exit(0 if all(int(p) in seen for p in sys.argv[1:]) else 1)' "${PIDS[@]}" 2>/dev/null && break
	kill -0 "$TRACER_PID" || fail "kaos-trace exited: $(cat "$TMP/o.err")"
	sleep 0.05
done
release_all o
stop_tracer
python3 - "$TMP/o.json" <<'PY' >"$TMP/o.rows" || fail "one-shot JSON: $(tail -c 2000 "$TMP/o.json")"
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
a = final["alloc"]
assert a["processes_untracked"] == 3, a["processes_untracked"]
assert a["exact"] is False and a["dropped"] is True, (a["exact"], a["dropped"])
for p in a["processes"]:
    print(p["pid"], p["allocs"], p["bytes_allocated"], p["peak_bytes"])
PY
check_exact "$TMP/o.rows" o
grep -q "never seen returning, 3 processes untracked: the figures are lower bounds$" "$TMP/o.err" ||
	fail "stderr drop line: $(grep 'alloc:' "$TMP/o.err")"
grep -q "3 processes not traced: no room" "$TMP/o.txt" || fail "report: no untracked line"
echo "PASS: --alloc with $SLOTS slots and $N processes at once: $((N - SLOTS)) untracked counted in /metrics (counts_exact 0), the one-shot's JSON, stderr and report; the traced ones exact"
