#!/usr/bin/env bash
# A workload that outruns the consumer of a tiny ring buffer: events are
# lost, and every one is counted: delivered + lost == fired == the probe
# hits the workload's own counters imply. (Counts from the cumulative
# counters can fall short when the last events are lost; never over.) Every
# output says the counts are not exact: the final and interval JSON lines
# (counts_exact false, the interval's own loss) and the text summary.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

start_tracer flood --sample 1 -b "$B/libkaos.so" --ringbuf-size 4096 -i 0.2 --json "$TMP/flood.json"
"$WORK" --msgs 300000 --batch 1 --rings 2 >"$TMP/work.txt" || fail "workload failed"
stop_tracer
# 2 rings x (300000 sends + 300000 recvs) + 2 ring_close = probe hits of the workload
json_check "$TMP/flood.json" \
	'final["lost"] > 0' \
	'final["delivered"] + final["lost"] == final["fired"]' \
	'final["fired"] == 2 * (300000 + 300000) + 2' \
	'sum(r["send"]["ops"] for p in final["processes"] for r in p["rings"]) <= 600000' \
	'final["counts_exact"] is False' \
	'all(l["counts_exact"] is (l["lost"] == 0) for l in lines)' \
	'any(l["type"] == "interval" and l["lost_interval"] > 0 for l in lines)' \
	'sum(l.get("lost_interval", 0) for l in lines) <= final["lost"]'
grep -Eq "events lost: [1-9][0-9]*; counts are lower bounds" "$TMP/flood.txt" ||
	fail "summary does not say the counts are lower bounds"
grep -Eq "events lost: [1-9][0-9]* \([0-9]+ in this interval\); counts not exact" "$TMP/flood.txt" ||
	fail "no interval says its counts are not exact"
echo "PASS: flood accounted exactly"
