#!/usr/bin/env bash
# --alloc never harms the traced process:
#  - fork: kt_alloc_workload --fork 3 under -- COMMAND: the children (forked
#    after the parent allocated under the probes) allocate normally and exit
#    0; they are not traced (the kernel drops the inherited breakpoints at
#    their first hit); the parent's counts stay exact against its truth;
#  - -b PROGRAM: a process started after kaos-trace is found, attached and
#    counted (its leak set, by the leak sites' stacks);
#  - SIGKILL of the tracer while attached (-p): the process goes on
#    allocating and finishes normally, its truth written, exit 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"

# ---------------------------------------------------------------- fork
"$KT" --alloc --no-calibrate --json "$TMP/fork.json" -- "$AW" --fork 3 --truth "$TMP/fork.truth" \
	>"$TMP/fork.txt" 2>"$TMP/fork.err" || fail "kaos-trace --alloc -- kt_alloc_workload --fork 3 failed"
grep -q 'command exited with status 0' "$TMP/fork.err" || fail "fork: the workload (or a child) did not exit 0"
python3 - "$TMP/fork.json" "$TMP/fork.truth" <<'PY' || fail "fork: the parent's counts are not exact"
import json, sys
a = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])["alloc"]
t = json.load(open(sys.argv[2]))
assert a["exact"] is True and a["dropped"] is False, a
# the children are not traced: one process, the parent
assert [p["pid"] for p in a["processes"]] == [t["pid"]], [p["pid"] for p in a["processes"]]
p = a["processes"][0]
keys = (("allocs", "allocs"), ("bytes_allocated", "bytes_allocated"), ("free_calls", "frees"),
        ("peak_bytes", "peak_bytes"), ("leaked_blocks", "leaked_blocks"), ("leaked_bytes", "leaked_bytes"))
got, want = [p[k] for k, _ in keys], [t[k] for _, k in keys]
print("fork: parent kaos-trace %s, truth %s" % (got, want))
assert got == want
PY

# ---------------------------------------------------------------- -b PROGRAM
start_tracer b --alloc --no-calibrate -b "$AW" -i 0.2 --json "$TMP/b.json"
rm -f "$TMP/go"
"$AW" --wait-file "$TMP/go" --truth "$TMP/b.truth" >"$TMP/b.out" &
BP=$!
KT_PIDS+=("$BP")
# found and attached when an interval's heap lists it; then it allocates
for _ in $(seq 1 400); do
	grep -q "\"alloc_heap\":\[[^]]*\"pid\":${BP}[,}]" "$TMP/b.json" 2>/dev/null && break
	sleep 0.05
done
grep -q "\"alloc_heap\":\[[^]]*\"pid\":${BP}[,}]" "$TMP/b.json" || fail "-b: the process started after kaos-trace was not attached"
touch "$TMP/go"
wait "$BP" || fail "-b: kt_alloc_workload failed"
stop_tracer
python3 - "$TMP/b.json" "$TMP/b.truth" <<'PY' || fail "-b: the process is not counted"
import json, sys
a = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])["alloc"]
t = json.load(open(sys.argv[2]))
procs = [p for p in a["processes"] if p["pid"] == t["pid"]]
assert len(procs) == 1 and a["exact"] is False, a
p = procs[0]
print("-b: allocs %d (truth %d), leaked %d blocks %d bytes (truth %d, %d)" % (
    p["allocs"], t["allocs"], p["leaked_blocks"], p["leaked_bytes"], t["leaked_blocks"], t["leaked_bytes"]))
# attached before its first round: every call of the rounds is seen (and glibc's own after)
assert p["allocs"] >= t["allocs"] and p["bytes_allocated"] >= t["bytes_allocated"], p
leaks = [s for s in p["top_leaks"] if "phase_leaks" in s["stack"]]
assert sum(s["leaked_bytes"] for s in leaks) == t["leaked_bytes"], leaks
PY

# ---------------------------------------------------------------- SIGKILL of the tracer
rm -f "$TMP/go"
"$AW" --loop --wait-file "$TMP/go" --truth "$TMP/kill.truth" >"$TMP/kill.out" &
LP=$!
KT_PIDS+=("$LP")
wait_ready "$TMP/kill.out" "$LP"
touch "$TMP/go"
start_tracer kill --alloc --no-calibrate -p "$LP"
kill -KILL "$TRACER_PID"
wait "$TRACER_PID" 2>/dev/null || true
# the probes go with the tracer's links: the process allocates on, untraced
sleep 0.3
kill -0 "$LP" || fail "SIGKILL of the tracer: the traced process is gone"
kill -INT "$LP"
rc=0
wait "$LP" || rc=$?
[ $rc -eq 0 ] || fail "SIGKILL of the tracer: the traced process exited $rc"
python3 -c 'import json,sys; t = json.load(open(sys.argv[1])); assert t["rounds"] >= 1, t; print("after SIGKILL: %d rounds, exit 0" % t["rounds"])' \
	"$TMP/kill.truth" || fail "SIGKILL of the tracer: no truth written"

echo "PASS: --alloc with fork (children exit 0, parent exact), -b finds a later process, SIGKILL of the tracer leaves the process running"
