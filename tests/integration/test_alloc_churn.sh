#!/usr/bin/env bash
# --alloc in a daemon that runs for days sees processes come and go: an exited
# process leaves the kernel's maps at once (its slot in alloc_procs, its
# outstanding blocks, sites, threads, its uprobe links), keeps its final
# figures in /metrics until the daemon retires it (retain), then leaves
# /metrics too. Real BPF: the map of traced processes is made small at load
# (KAOS_TRACE_ALLOC_MAX_PROCS=3) and 3x as many short allocating processes
# run one after another: each is attached before its first allocation
# (it waits for a file), and each one's figures, the last ones' included,
# agree with its own ground truth. Before the fix the 4th found no slot.
# Then, with --retain 1s, the series of gone processes disappear, the
# daemon's alloc maps hold no entry, it holds no more BPF links than before
# the processes ran, and its RSS does not grow with the number of processes.
# Last, the one-shot -b PROGRAM: nine processes through three slots, each
# exact in its final JSON, and the tracer's maps empty once they are gone
# (the engine's tick sweeps them, as the daemon's).
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v bpftool >/dev/null || fail "bpftool is missing (make deps)"
AWARGS=(--allocs 300 --short 50 --leaks 8 --plateau 65536 --rounds 1)

# run_one I: one workload process, attached before it allocates; truth in $TMP/truth.I.json
run_one() {
	local i=$1 pid
	rm -f "$TMP/go"
	"$AW" "${AWARGS[@]}" --wait-file "$TMP/go" --truth "$TMP/truth.$i.json" >/dev/null &
	pid=$!
	KT_PIDS+=("$pid")
	for _ in $(seq 1 400); do
		scrape >"$TMP/m.txt" || fail "scrape failed"
		grep -q "^kaos_alloc_allocs_total{pid=\"$pid\"," "$TMP/m.txt" && break
		kill -0 "$DPID" || fail "the daemon died"
		sleep 0.05
	done
	grep -q "^kaos_alloc_allocs_total{pid=\"$pid\"," "$TMP/m.txt" ||
		fail "process $i (pid $pid) not traced: $(grep -i alloc "$DERR" | tail -3)"
	touch "$TMP/go"
	wait "$pid" || fail "kt_alloc_workload $i failed"
}

# alloc_entries: entries in the daemon's alloc_* maps, "name count" per map
alloc_entries() {
	for f in /proc/"$DPID"/fdinfo/*; do
		awk '/^map_id:/ {print $2}' "$f" 2>/dev/null || true
	done | sort -un | while read -r id; do
		name=$(bpftool map show id "$id" 2>/dev/null | grep -o 'name [a-z_]*' | cut -d' ' -f2)
		case $name in
		alloc_procs | alloc_blocks | alloc_sites | alloc_threads | alloc_calls)
			echo "$name $(bpftool -j map dump id "$id" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" ;;
		esac
	done
}

rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/"$DPID"/status; }

# 1. nine processes through a map of three: each traced, each exact
N=9
KAOS_TRACE_ALLOC_MAX_PROCS=3 start_daemon churn --watch "$AW" --alloc --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
for i in $(seq 1 $N); do
	run_one "$i"
done
scrape >"$TMP/m_all.txt" || fail "scrape failed"
python3 - "$TMP/m_all.txt" "$TMP" "$N" <<'PY' || fail "/metrics disagrees with the processes' truth"
import json, re, sys
m, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
v = {}
for line in open(m):
    g = re.match(r'^(kaos_alloc_\w+)\{pid="(\d+)",process="[^"]*"\} (\d+)$', line)
    if g:
        v.setdefault(int(g.group(2)), {})[g.group(1)] = int(g.group(3))
for i in range(1, n + 1):
    t = json.load(open("%s/truth.%d.json" % (tmp, i)))
    got = v.get(t["pid"])
    assert got, "process %d (pid %d) has no series" % (i, t["pid"])
    assert got["kaos_alloc_allocs_total"] == t["allocs"], (i, got, t["allocs"])
    assert got["kaos_alloc_allocated_bytes_total"] == t["bytes_allocated"], (i, got)
    assert got["kaos_alloc_peak_bytes"] == t["peak_bytes"], (i, got)
    assert got["kaos_alloc_heap_bytes"] == t["leaked_bytes"], (i, got)  # at its exit
print("%d processes through a map of 3: each one's allocs, bytes, peak and heap at exit exact (retained series)" % n)
PY
if grep -q "processes not traced" "$DERR"; then fail "a process found no slot: $(grep 'not traced' "$DERR")"; fi
alloc_entries >"$TMP/maps1.txt"
awk '$2 != 0 {bad = 1} END {exit bad}' "$TMP/maps1.txt" ||
	fail "the kernel's maps still hold gone processes: $(tr '\n' ' ' <"$TMP/maps1.txt")"
stop_daemon

# 2. --retain 1s: gone processes leave /metrics; maps, links and RSS stay flat
KAOS_TRACE_ALLOC_MAX_PROCS=3 start_daemon retire --watch "$AW" --alloc --listen 127.0.0.1:0 --retain 1s
links0=$(link_ids "$DPID" | wc -l)
for i in $(seq 1 4); do run_one "r$i"; done
rss1=$(rss_kb)
for i in $(seq 5 16); do run_one "r$i"; done
for _ in $(seq 1 200); do
	scrape >"$TMP/m_ret.txt" || fail "scrape failed"
	grep -q '^kaos_alloc_allocs_total{' "$TMP/m_ret.txt" || break
	sleep 0.1
done
if grep -q '^kaos_alloc_allocs_total{' "$TMP/m_ret.txt"; then
	fail "gone processes never retired from /metrics: $(grep -c '^kaos_alloc_allocs_total{' "$TMP/m_ret.txt") series"
fi
rss2=$(rss_kb)
# a gone process's links go on the daemon's closer thread (~70 ms each,
# up to 17 a process): wait for them
for _ in $(seq 1 600); do
	links1=$(link_ids "$DPID" | wc -l)
	[ "$links1" -gt "$links0" ] || break
	sleep 0.1
done
alloc_entries >"$TMP/maps2.txt"
echo "links before $links0 after $links1; RSS after 4 processes ${rss1} kB, after 16 ${rss2} kB; maps: $(tr '\n' ' ' <"$TMP/maps2.txt")"
[ "$links1" -le "$links0" ] || fail "the daemon holds $((links1 - links0)) more BPF links after the processes left"
awk '$2 != 0 {bad = 1} END {exit bad}' "$TMP/maps2.txt" || fail "the kernel's maps still hold gone processes"
[ $((rss2 - rss1)) -lt 4096 ] || fail "RSS grew by $((rss2 - rss1)) kB over 12 processes"
stop_daemon

# 3. the one-shot -b PROGRAM sweeps gone processes the same way (the engine's tick):
# nine processes through a map of three, each exact in the final JSON, and the
# kernel's maps empty once they are gone, while the tracer still runs
KAOS_TRACE_ALLOC_MAX_PROCS=3 start_tracer os --alloc -b "$AW" -d 120 -i 0.1 --json "$TMP/os.json"
DPID=$TRACER_PID
# os_run I: one workload process, attached (in an interval's alloc_heap) before it allocates
os_run() {
	local i=$1 pid
	rm -f "$TMP/go"
	"$AW" "${AWARGS[@]}" --wait-file "$TMP/go" --truth "$TMP/truth.os$i.json" >/dev/null &
	pid=$!
	KT_PIDS+=("$pid")
	for _ in $(seq 1 400); do
		tail -n 1 "$TMP/os.json" | python3 -c '
import json, sys
h = json.loads(sys.stdin.read()).get("alloc_heap", [])
sys.exit(0 if any(x["pid"] == int(sys.argv[1]) for x in h) else 1)' "$pid" 2>/dev/null && break
		kill -0 "$DPID" || fail "kaos-trace exited: $(cat "$TMP/os.err")"
		sleep 0.05
	done
	touch "$TMP/go"
	wait "$pid" || fail "kt_alloc_workload os$i failed"
}
for i in $(seq 1 $N); do os_run "$i"; done
for _ in $(seq 1 100); do # the tick after the last exit moves it out
	alloc_entries >"$TMP/maps3.txt"
	awk '$2 != 0 {bad = 1} END {exit bad}' "$TMP/maps3.txt" && break
	sleep 0.1
done
echo "one-shot, after $N processes: $(tr '\n' ' ' <"$TMP/maps3.txt")"
[ "$(wc -l <"$TMP/maps3.txt")" -eq 5 ] || fail "the tracer's alloc maps not found: $(cat "$TMP/maps3.txt")"
awk '$2 != 0 {bad = 1} END {exit bad}' "$TMP/maps3.txt" ||
	fail "the one-shot's maps still hold gone processes: $(tr '\n' ' ' <"$TMP/maps3.txt")"
kill -INT "$DPID"
wait "$DPID" || fail "kaos-trace exited non-zero: $(tail -3 "$TMP/os.err")"
python3 - "$TMP/os.json" "$TMP" "$N" <<'PY' || fail "the one-shot's JSON disagrees with the processes' truth"
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
a, tmp, n = final["alloc"], sys.argv[2], int(sys.argv[3])
assert a["processes_untracked"] == 0 and not a["dropped"], a
procs = {p["pid"]: p for p in a["processes"]}
for i in range(1, n + 1):
    t = json.load(open("%s/truth.os%d.json" % (tmp, i)))
    p = procs.get(t["pid"])
    assert p, "process %d (pid %d) missing" % (i, t["pid"])
    for k in ("allocs", "bytes_allocated", "peak_bytes", "leaked_blocks", "leaked_bytes"):
        assert p[k] == t[k], (i, k, p[k], t[k])
print("one-shot: %d processes through a map of 3, each exact" % n)
PY
echo "PASS: --alloc daemon: $N processes through a map of 3 each traced exactly; gone processes leave the kernel's maps at exit and /metrics at retain; links and RSS flat; the one-shot -b sweeps them too"
