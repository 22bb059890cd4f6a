#!/usr/bin/env bash
# --timeline (issue 16, "Timeline"), on real runs:
#  0. its options' bad values: one line, exit 2;
#  1. the flight recorder (--timeline-last) holds the newest events only: the
#     file spans the last DURATION of the run, and says what it left out;
#  2. SIGUSR1 writes the file while the tracer runs (a whole JSON document);
#     an alert that fires writes it too;
#  3. a backpressure wait is drawn inside the send that waited;
#  4. a full disk: one line naming the error, exit 1, no temporary file left;
#  5. --timeline does not change sampling: with --sample 64 and a timeline
#     whose file is slow to take data (a FIFO read slowly), or with events
#     coming from two threads, the probe hits and lost events are those of
#     the run without --timeline.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BENCH=$B/tests/progs/kt_bench_workload
need "$KT" "$WORK" "$BENCH"

# tl_check FILE PYTHON-EXPR...: asserts on a timeline file (d: the document, ev: its kaos events).
tl_check() {
	local file=$1
	shift
	python3 - "$file" "$@" <<'PY' || fail "timeline assertion failed on $file"
import json, sys
d = json.load(open(sys.argv[1]))
ev = [e for e in d["traceEvents"] if e.get("cat") == "kaos"]
ok = True
for expr in sys.argv[2:]:
    try:
        v = eval(expr, {"d": d, "ev": ev, "os": __import__("os"), "path": sys.argv[1]})
    except Exception as e:
        v = "error: %r" % (e,)
    if v is not True:
        print("assertion %s -> %s" % (expr, v), file=sys.stderr)
        ok = False
print("otherData:", d.get("otherData"), "events:", len(ev), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

echo "== 0. bad values: one line, exit 2"
bad() { # bad EXPECTED-LINE ARGS...
	local want=$1 rc=0
	shift
	"$KT" "$@" >/dev/null 2>"$TMP/bad.err" || rc=$?
	[ $rc -eq 2 ] || fail "$*: exit $rc, expected 2"
	[ "$(wc -l <"$TMP/bad.err")" -eq 1 ] && grep -q "^kaos-trace: $want" "$TMP/bad.err" ||
		fail "$*: $(cat "$TMP/bad.err")"
}
bad "--timeline-mode: expected first or last, got 'bogus'" --timeline "$TMP/x.json" --timeline-mode bogus -- true
bad "invalid --timeline-last '1x'" --timeline "$TMP/x.json" --timeline-last 1x -- true
bad "--timeline-last keeps the newest events: not with --timeline-mode first" \
	--timeline "$TMP/x.json" --timeline-last 2s --timeline-mode first -- true
bad "--timeline-last needs --timeline FILE" --timeline-last 2s -- true
bad "--timeline-mode needs --timeline FILE" --timeline-mode last -- true

echo "== 1. flight recorder: the last 300 ms"
"$KT" --sample 16 --timeline "$TMP/last.json" --timeline-last 300ms \
	-- "$BENCH" local --ms 1500 >"$TMP/last.txt" 2>"$TMP/last.err" || fail "kaos-trace failed"
grep -q "timeline $TMP/last.json: holding the newest 250000 events of the last 0.3 s in memory (at most [0-9.]* MiB)" \
	"$TMP/last.err" || fail "the start-up line does not say what the timeline holds"
tl_check "$TMP/last.json" \
	'len(ev) > 100' \
	'max(e["ts"] + e.get("dur", 0) for e in ev) - min(e["ts"] for e in ev) <= 300000' \
	'd["otherData"]["keep"] == "last"' \
	'd["otherData"]["events"] == len(ev)' \
	'd["otherData"]["events_dropped"] > len(ev)' \
	'not [n for n in os.listdir(os.path.dirname(path)) if ".tmp." in n]'
# and by count: the newest N
"$KT" --sample 16 --timeline "$TMP/lastn.json" --timeline-mode last --timeline-max-events 500 \
	-- "$BENCH" local --ms 500 >"$TMP/lastn.txt" 2>"$TMP/lastn.err" || fail "kaos-trace failed"
grep -q "older ones are now replaced by newer" "$TMP/lastn.err" || fail "the replacement is not said"
tl_check "$TMP/lastn.json" 'len(ev) == 500' 'd["otherData"]["events_dropped"] > 0'

echo "== 2. SIGUSR1 writes the file during the run; so does an alert that fires"
"$BENCH" local --ms 60000 >/dev/null &
W=$!
trap 'kt_rc=$?; kill -TERM "$W" 2>/dev/null || true; cleanup $kt_rc' EXIT
# -p needs the program running with libkaos mapped, not the shell's fork before its exec
for _ in $(seq 1 100); do
	grep -q 'libkaos\.so' "/proc/$W/maps" 2>/dev/null && break
	sleep 0.05
done
grep -q 'libkaos\.so' "/proc/$W/maps" || fail "the workload did not start"
# 20,000 events, not the default 250,000: each write (SIGUSR1, alert, exit) is
# then quick; what is checked here is when the file is written, not its cap
start_tracer usr1 --sample 64 -p "$W" --timeline "$TMP/usr1.json" --timeline-mode last \
	--timeline-max-events 20000
sleep 0.5
[ ! -e "$TMP/usr1.json" ] || fail "the timeline was written before it was asked for"
kill -USR1 "$TRACER_PID"
for _ in $(seq 1 200); do
	grep -q "SIGUSR1: wrote [0-9]* events to timeline" "$TMP/usr1.err" && break
	sleep 0.05
done
grep -q "SIGUSR1: wrote [1-9][0-9]* events to timeline $TMP/usr1.json" "$TMP/usr1.err" ||
	fail "SIGUSR1 did not write the timeline: $(cat "$TMP/usr1.err")"
kill -0 "$TRACER_PID" || fail "SIGUSR1 stopped the tracer"
tl_check "$TMP/usr1.json" 'len(ev) > 0'
stop_tracer
start_tracer alert --sample 64 -p "$W" --timeline "$TMP/alert.json" --timeline-mode last \
	--timeline-max-events 20000 --alert 'send.count > 0'
for _ in $(seq 1 100); do
	grep -q "an alert fired: wrote [1-9][0-9]* events to timeline" "$TMP/alert.err" && break
	sleep 0.05
done
grep -q "an alert fired: wrote [1-9][0-9]* events to timeline $TMP/alert.json" "$TMP/alert.err" ||
	fail "a firing alert did not write the timeline: $(cat "$TMP/alert.err")"
stop_tracer
kill -TERM "$W"
wait "$W" 2>/dev/null || true

echo "== 3. a backpressure wait lies inside its send"
"$KT" --sample 1 --timeline "$TMP/nest.json" -- "$BENCH" pair --ms 600 --slots 8 \
	>"$TMP/nest.txt" 2>"$TMP/nest.err" || fail "kaos-trace failed"
python3 - "$TMP/nest.json" <<'PY' || fail "backpressure slices outside their sends"
import bisect, json, sys
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("cat") == "kaos"]
sends = {}
for e in ev:
    if e["name"] == "send":
        sends.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
for v in sends.values():
    v.sort()
paired = outside = 0
for e in ev:
    if e["name"] != "backpressure" or e["dur"] == 0:
        continue
    start, end = e["ts"], e["ts"] + e["dur"]
    v = sends.get((e["pid"], e["tid"]), [])
    i = bisect.bisect_right(v, (end, float("inf")))
    # the send under way when the wait ended
    s = [x for x in v[max(0, i - 3):i + 3] if x[0] < end <= x[1]]
    if not s:
        continue
    paired += 1
    if start < s[0][0]:
        outside += 1
        print("wait", start, end, "starts before its send", s[0], file=sys.stderr)
print("waits inside a send:", paired - outside, "of", paired, file=sys.stderr)
sys.exit(0 if paired >= 5 and outside == 0 else 1)
PY

echo "== 4. a full disk is an error, exit 1, nothing half-written left"
mkdir "$TMP/small"
mount -t tmpfs -o size=64k tmpfs "$TMP/small" || fail "cannot mount a small tmpfs"
rc=0
"$KT" --sample 1 --timeline "$TMP/small/t.json" -- "$WORK" --msgs 20000 \
	>"$TMP/full.txt" 2>"$TMP/full.err" || rc=$?
leftover=$(ls -A "$TMP/small")
umount "$TMP/small"
[ $rc -eq 1 ] || fail "a full disk: exit $rc, expected 1"
grep -q "^kaos-trace: timeline: writing $TMP/small/t.json failed: No space left on device" \
	"$TMP/full.err" || fail "a full disk: $(cat "$TMP/full.err")"
[ -z "$leftover" ] || fail "a full disk left files behind: $leftover"

echo "== 5. --timeline does not change sampling, even when its file is slow"
# hits: the probe hits of the run's final JSON line
hits() {
	python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1]) if x.strip()][-1]; print(l["fired"], l["lost"])' "$1"
}
"$KT" --sample 64 --json "$TMP/plain.jsonl" -- "$WORK" --msgs 1000000 \
	>"$TMP/plain.txt" 2>"$TMP/plain.err" || fail "kaos-trace failed"
mkfifo "$TMP/fifo.json"
# a reader that takes 4 KiB every 20 ms (a slow disk); the file ends up replaced by a rename
python3 -c '
import sys, time
f = open(sys.argv[1], "rb")
while f.read(4096):
    time.sleep(0.02)
' "$TMP/fifo.json" &
R=$!
"$KT" --sample 64 --json "$TMP/tl.jsonl" --timeline "$TMP/fifo.json" -- "$WORK" --msgs 1000000 \
	>"$TMP/tl.txt" 2>"$TMP/tl.err" || fail "kaos-trace --timeline failed"
kill "$R" 2>/dev/null || true
wait "$R" 2>/dev/null || true
read -r plain_fired plain_lost < <(hits "$TMP/plain.jsonl")
read -r tl_fired tl_lost < <(hits "$TMP/tl.jsonl")
echo "probe hits: $plain_fired without --timeline, $tl_fired with (lost $plain_lost, $tl_lost)"
# 1,000,000 sends and recvs at 1 in 64: 31,250 hits, plus what fires before the period applies
[ "$tl_lost" -eq 0 ] || fail "--timeline: $tl_lost events lost"
[ "$plain_lost" -eq 0 ] || fail "without --timeline: $plain_lost events lost"
[ "$tl_fired" -le 40000 ] || fail "--timeline: $tl_fired probe hits, sampling 1 in 64 gives ~31250"
[ "$plain_fired" -le 40000 ] || fail "without --timeline: $plain_fired probe hits"
tl_check "$TMP/fifo.json" 'len(ev) == d["otherData"]["events"]' 'len(ev) > 30000'
# a regular file, sender and receiver on two threads (events twice as fast): the
# old consumer, slower than the probes with its timeline hook, drained on and on
# without setting the period (46,504 and 183,406 hits in two of three runs here)
"$KT" --sample 64 --json "$TMP/thr.jsonl" --timeline "$TMP/thr.json" -- "$WORK" --msgs 1000000 \
	--threads >"$TMP/thr.txt" 2>"$TMP/thr.err" || fail "kaos-trace --timeline failed"
read -r thr_fired thr_lost < <(hits "$TMP/thr.jsonl")
echo "probe hits: $thr_fired with --timeline, two threads (lost $thr_lost)"
[ "$thr_lost" -eq 0 ] || fail "--timeline, two threads: $thr_lost events lost"
[ "$thr_fired" -le 40000 ] || fail "--timeline, two threads: $thr_fired probe hits, 1 in 64 gives ~31250"

echo "PASS: test_trace_timeline"
