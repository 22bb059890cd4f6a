#!/usr/bin/env bash
# Latency accuracy: every message waits a calibrated 50 us in the ring;
# the reported sojourn p50 must be within 5 % of it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

start_tracer lat --sample 1 -b "$B/libkaos.so" --json "$TMP/lat.json" -H
"$WORK" --msgs 2000 --sojourn-us 50 >"$TMP/work.txt" || fail "workload failed"
stop_tracer
json_check "$TMP/lat.json" \
	'[abs(r["sojourn"]["p50"] - 50000) <= 2500 for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [True]' \
	'[r["sojourn"]["count"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [2000]'
grep -q "sojourn" "$TMP/lat.txt" || fail "no sojourn row/histogram in the text summary"
grep -q "@" "$TMP/lat.txt" || fail "no ASCII histogram with -H"
echo "PASS: sojourn p50 within 5 % of 50 us"
