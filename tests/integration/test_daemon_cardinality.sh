#!/usr/bin/env bash
# Prometheus cardinality is bounded (issue 11 item 7): one process makes 200
# short-lived rings under the daemon with --metrics-max-rings 8. /metrics
# never holds more than 8 rings plus the overflow set, the rings past the
# cap are counted in kaos_ring_series_folded_total and summed into
# ring="_overflow" (monotonic, and equal to their messages in the end), the
# closed rings are retired `retain` after their close while the process
# still runs, and promtool check metrics passes throughout. Prints the
# series count and bytes per scrape.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
CHURN=$B/tests/progs/kt_ring_churn
need "$KT" "$CHURN"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"

start_daemon card --sample 1 --watch "$CHURN" --listen 127.0.0.1:0 --windows 2s --retain 3s \
	--metrics-max-rings 8
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
"$CHURN" --rings 200 --msgs 100 --names 3 --every-ms 10 --hold-ms 60000 >"$TMP/churn.txt" &
cpid=$!
KT_PIDS+=("$cpid")

python3 - "$PORT" "$TMP" <<'PY' || fail "cardinality"
import re, subprocess, sys, time, urllib.request
port, tmp = sys.argv[1], sys.argv[2]
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')

def scrape():
    body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10).read()
    text = body.decode()
    open(tmp + "/metrics.txt", "w").write(text)
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert p.returncode == 0, "promtool: " + (p.stdout + p.stderr).decode()[:2000]
    s = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = sample.match(line)
        assert m, line
        s[(m.group(1), m.group(3) or "")] = float(m.group(4))
    return text, s

def get(s, name, labels=""):
    return s.get((name, labels))

ovf = 'ring="_overflow",op="send"'
last_ovf, most_series, most_bytes, retired_all = 0, 0, 0, False
deadline = time.monotonic() + 40
while time.monotonic() < deadline:
    text, s = scrape()
    ring_sets = {l for (n, l) in s if n == "kaos_ring_messages_total"}
    ring_series = sum(1 for (n, l) in s if n.startswith("kaos_ring_") and "ring=" in l)
    most_series = max(most_series, len(s))
    most_bytes = max(most_bytes, len(text))
    # 8 rings + the overflow, each with send and recv
    assert len(ring_sets) <= 9 * 2, sorted(ring_sets)
    assert get(s, "kaos_ring_series") <= 8
    o = get(s, "kaos_ring_messages_total", ovf) or 0
    assert o >= last_ovf, ("overflow counter went down", last_ovf, o)
    last_ovf = o
    if get(s, "kaos_ring_series_retired_total") == 200:
        retired_all = True
        break
    time.sleep(0.25)
assert retired_all, "not all 200 closed rings retired: %r" % get(s, "kaos_ring_series_retired_total")
assert get(s, "kaos_ring_series") == 0
folded = get(s, "kaos_ring_series_folded_total")
# 8 places, freed again as closed rings retire: most of the 200 are folded
assert 100 <= folded <= 192, folded
assert get(s, "kaos_trace_events_lost_total") == 0
assert last_ovf == folded * 100, (last_ovf, folded)
assert not [l for (n, l) in s if n == "kaos_ring_messages_total" and 'ring="conn' in l]
print("200 rings, cap 8: at most %d series and %d bytes per scrape; %d folded, 200 retired; "
      "overflow sends %d" % (most_series, most_bytes, folded, last_ovf))
PY
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
stop_daemon
echo "PASS: ring series bounded by the cap, folded into the overflow, retired after close"
