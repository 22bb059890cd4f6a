#!/usr/bin/env bash
# Counts under loss, daemon side (issue 11 item 6): a flood into a tiny ring
# buffer loses events; /metrics exports the loss and kaos_trace_counts_exact
# 0, its HELP texts promise "exact" only with that gauge at 1, the output
# passes promtool, and the log says so once per 10 s at most, with the
# numbers. (Without loss: test_daemon_e2e.sh checks kaos_trace_counts_exact 1.)
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"

start_daemon loss --sample 1 --watch "$WORK" --listen 127.0.0.1:0 --ringbuf-size 4096 --windows 2s
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
t0=$SECONDS
"$WORK" --msgs 300000 --batch 1 --rings 2 >"$TMP/work.txt" || fail "workload failed"
wait_log "loss: [0-9]+ events lost in the last [0-9.]+ s \([0-9]+ of [0-9]+ fired since start\): ring counts are lower bounds"
scrape /metrics >"$TMP/metrics.txt" || fail "scrape failed"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
python3 - "$TMP/metrics.txt" <<'PY' || fail "metrics under loss"
import re, sys
text = open(sys.argv[1]).read()
val = {}
for line in text.splitlines():
    m = re.match(r'^(kaos_trace_[a-z_]+) (\S+)$', line)
    if m:
        val[m.group(1)] = float(m.group(2))
assert val["kaos_trace_events_lost_total"] > 0, val
assert val["kaos_trace_counts_exact"] == 0, val
assert val["kaos_trace_events_delivered_total"] + val["kaos_trace_events_lost_total"] == \
    val["kaos_trace_probe_fired_total"], val
for line in text.splitlines():
    if line.startswith("# HELP") and "exact" in line:
        assert "kaos_trace_counts_exact" in line or line.startswith(
            "# HELP kaos_offcpu"), "HELP promises exact unconditionally: " + line
sent = sum(float(v) for v in re.findall(r'^kaos_ring_messages_total\{[^}]*op="send"\} (\S+)$',
                                         text, re.M))
assert sent <= 600000, sent
print("lost %d of %d fired; sends counted %d of 600000" % (
    val["kaos_trace_events_lost_total"], val["kaos_trace_probe_fired_total"], sent))
PY
stop_daemon
# rate-limited: at most one loss line per started 10 s
n=$(grep -c "loss: .* events lost" "$DERR" || true)
max=$(((SECONDS - t0) / 10 + 1))
[ "$n" -ge 1 ] && [ "$n" -le "$max" ] || fail "$n loss lines in $((SECONDS - t0)) s (at most $max)"
echo "PASS: loss exported, counts marked lower bounds, logged $n time(s)"
