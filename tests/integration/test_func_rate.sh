#!/usr/bin/env bash
# A hot function: kaos-trace --func warns once, with the measured cost, that
# tracing slows the process past the budget; --max-rate times only some of
# the calls and still counts every one: each call is either timed (a
# sample) or counted as sampled out, exactly. Also folded stacks of probed
# functions: the function is the root, its callers follow, main first.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FUNCS=$PWD/$B/tests/progs/kt_funcs
need "$KT" "$FUNCS"

start_tracer rate -b "$FUNCS" --no-usdt --func hot_empty --func busy_20us --max-rate 200 \
	--json "$TMP/rate.json" --folded "$TMP/out.folded"
"$FUNCS" --hot 60000 --n20 200 --hold-ms 300 >"$TMP/prog.txt" || fail "kt_funcs failed"
stop_tracer
json_check "$TMP/rate.json" \
	'[f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == "hot_empty"] == [60000]' \
	'[f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == "busy_20us"] == [200]' \
	'0 < [f["samples"] for p in final["processes"] for f in p["functions"] if f["name"] == "hot_empty"][0] < 30000' \
	'final["func"]["sampled_out"] + sum(f["samples"] for p in final["processes"] for f in p["functions"]) == 60200' \
	'final["delivered"] == final["fired"] == sum(f["samples"] for p in final["processes"] for f in p["functions"])' \
	'final["lost"] == 0'
n=$(grep -c "warning: pid [0-9]* (kt_funcs): probed functions run .* calls/s; at .* per probed call (measured) tracing takes [0-9]*% of its time, over the 5.0% budget" "$TMP/rate.err" || true)
[ "$n" = 1 ] || fail "expected one cost warning, got $n: $(cat "$TMP/rate.err")"
grep -q "^\[busy_20us\];kt_funcs;.*main [0-9][0-9]*$" "$TMP/out.folded" ||
	fail "no folded stack [busy_20us];kt_funcs;...;main: $(head -5 "$TMP/out.folded")"
w=$(awk '/^\[busy_20us\]/ {s += $NF} END {print s + 0}' "$TMP/out.folded")
json_check "$TMP/rate.json" \
	"[f['samples'] for p in final['processes'] for f in p['functions'] if f['name'] == 'busy_20us'] == [$w]"
cat "$TMP/rate.err" "$TMP/rate.txt" "$TMP/out.folded"
echo "PASS: one cost warning, --max-rate samples with exact counts, folded stacks"
