#!/usr/bin/env bash
# The daemon end to end, real BPF: it follows a program by path while
# workloads start, exit and restart under it; /metrics counts equal the
# workloads' own counters and pass promtool; the timeline parses and holds
# the events; SIGTERM exits 0 and leaves none of its BPF links behind.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"

start_daemon e2e --sample 1 --watch "$WORK" --listen 127.0.0.1:0 --windows 2s,10s \
	--timeline "$TMP/timeline.json" --timeline-max-events 30000
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
links=$(link_ids "$DPID")
nlinks=$(echo "$links" | grep -c . || true)
[ "$nlinks" -ge 5 ] || fail "daemon holds $nlinks BPF links, expected >= 5"

# the same program twice (a restart: new pid, same path), then another shape
run_workload() { # NAME ARGS...
	local name=$1
	shift
	"$WORK" "$@" >"$TMP/$name.txt" &
	local p=$!
	wait "$p" || fail "workload $name failed"
	echo "$p" >"$TMP/$name.pid"
}
run_workload w1 --msgs 100000 --bp 50
run_workload w2 --msgs 100000 --bp 50
run_workload w3 --msgs 40000 --batch 16 --rings 2 --threads
for w in w1 w2 w3; do
	wait_log "process: pid $(cat "$TMP/$w.pid") \(kt_workload\) traced"
done

# /metrics must reach the workloads' own counters (events may still be in flight)
check_counts() {
	python3 - "$TMP/metrics.txt" "$TMP" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
samples = {}
for line in text.splitlines():
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
    assert m, "bad line: " + line
    labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or "")))
    samples[(m.group(1), labels)] = float(m.group(4))
def get(name, **lab):
    want = set((k, str(v)) for k, v in lab.items())
    got = [v for (n, l), v in samples.items() if n == name and want <= set(l)]
    return sum(got) if got else None
bad = []
for w in ("w1", "w2", "w3"):
    pid = open(f"{sys.argv[2]}/{w}.pid").read().strip()
    for line in open(f"{sys.argv[2]}/{w}.txt"):
        _, rid, name, _, sent, _, recv, _, bp = line.split()
        for op, want in (("send", int(sent)), ("recv", int(recv))):
            got = get("kaos_ring_messages_total", pid=pid, ring=name, op=op)
            if got != want:
                bad.append(f"{w} pid {pid} ring {name} {op}: {got} != {want}")
        got = get("kaos_ring_backpressure_episodes_total", pid=pid, ring=name)
        if int(bp) and got != int(bp):
            bad.append(f"{w} pid {pid} ring {name} backpressure: {got} != {bp}")
        # kt_workload never retransmits: a sending ring shows an explicit 0
        got = get("kaos_ring_retransmits_total", pid=pid, ring=name)
        if got != 0:
            bad.append(f"{w} pid {pid} ring {name} retransmits: {got} != 0")
lost = get("kaos_trace_events_lost_total")
if lost != 0:
    bad.append(f"lost {lost}")
if get("kaos_trace_counts_exact") != 1:
    bad.append("kaos_trace_counts_exact is not 1 without loss")
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}
ok=0
for _ in $(seq 1 100); do
	scrape /metrics >"$TMP/metrics.txt" || fail "scrape failed"
	if check_counts 2>"$TMP/counts.err"; then
		ok=1
		break
	fi
	sleep 0.1
done
[ $ok = 1 ] || fail "metrics never matched the workloads' counters: $(cat "$TMP/counts.err")"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
grep -q '^kaos_ring_operation_duration_seconds_bucket{.*op="send",le="+Inf"}' "$TMP/metrics.txt" ||
	fail "no send latency histogram"
grep -q '^kaos_ring_sojourn_window_seconds{.*window="2s",quantile="0.99"}' "$TMP/metrics.txt" ||
	fail "no sojourn window summary"

# OpenMetrics on request; other paths
scrape /metrics -H 'Accept: application/openmetrics-text; version=1.0.0' -D "$TMP/om.hdr" >"$TMP/om.txt" ||
	fail "OpenMetrics scrape failed"
grep -qi '^content-type: application/openmetrics-text' "$TMP/om.hdr" || fail "OpenMetrics content type"
[ "$(tail -n 1 "$TMP/om.txt")" = "# EOF" ] || fail "OpenMetrics output does not end with # EOF"
[ "$(scrape /healthz)" = ok ] || fail "/healthz"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope" || true)
[ "$code" = 404 ] || fail "/nope gave $code"

for w in w1 w2; do
	wait_log "process: pid $(cat "$TMP/$w.pid") \(kt_workload\) exited"
done

stop_daemon
grep -Eq "stop: Terminated: detaching [0-9]+ probe links" "$DERR" || fail "no detach log line"
# each link by its id: a system-wide `bpftool link list` exits 255 (EAGAIN)
# when it meets another process's link that is being created at that moment
for id in $links; do
	if out=$(bpftool link show id "$id" 2>&1); then fail "BPF link $id is still there after SIGTERM: $out"; fi
	case $out in
	*"No such file or directory"*) ;;
	*) fail "bpftool link show id $id: $out" ;;
	esac
done

# the timeline: valid JSON, capped, holding the first workload's sends and receives
grep -q "timeline: .*cap of 30000 events reached" "$DERR" || fail "no timeline cap log line"
python3 - "$TMP/timeline.json" "$(cat "$TMP/w1.pid")" <<'PY' || fail "timeline check"
import json, sys
d = json.load(open(sys.argv[1]))
pid = int(sys.argv[2])
ev = d["traceEvents"]
od = d["otherData"]
assert od["events"] == 30000 and od["events_dropped"] > 0, od
mine = [e for e in ev if e.get("pid") == pid and e.get("cat") == "kaos"]
sends = [e for e in mine if e["name"] == "send"]
recvs = [e for e in mine if e["name"] == "recv"]
assert len(sends) > 1000 and len(recvs) > 1000, (len(sends), len(recvs))
assert all(e["ph"] == "X" and e["dur"] >= 0 and e["args"]["ring"] == "work.0" for e in sends[:100]), sends[0]
# real probe timestamps (ts_ns is read only when a timeline asks for it)
ts = [e["ts"] for e in sends]
assert min(ts) >= 0 and max(ts) - min(ts) > 100, (min(ts), max(ts))
assert any(e.get("ph") == "M" and e["name"] == "process_name" and e["pid"] == pid for e in ev)
assert any(e.get("name") == "timeline cap reached" for e in ev)
PY
echo "PASS: daemon follows restarts, exact /metrics (promtool ok), timeline, no links left"
