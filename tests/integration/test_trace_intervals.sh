#!/usr/bin/env bash
# -i and the interval JSON lines (issue 16, "Intervals"): each line says which
# figures it holds (schema 2: "span", "interval" and "total" counters, the
# totals of each process and series beside an interval's), the interval
# counters add up to the totals, the final line is the totals, and a ring
# closed in one interval leaves the intervals after it (the totals keep it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
CHURN=$B/tests/progs/kt_ring_churn
need "$KT" "$CHURN"

# 6 rings, one every 300 ms, each used and destroyed at once; then 1 s idle
"$KT" --sample 1 -i 0.4 --json "$TMP/iv.jsonl" -- "$CHURN" --rings 6 --msgs 100 --names 6 \
	--every-ms 300 --hold-ms 1000 >"$TMP/iv.txt" 2>"$TMP/iv.err" || fail "kaos-trace failed"
json_check "$TMP/iv.jsonl" \
	'all(l["schema"] == 2 for l in lines)' \
	'all(l["span"] == ("interval" if l["type"] == "interval" else "total") for l in lines)' \
	'len([l for l in lines if l["type"] == "interval"]) >= 5' \
	'final["total"] == {"fired": final["fired"], "delivered": final["delivered"], "lost": 0}' \
	'"interval" not in final' \
	'sum(l["interval"]["fired"] for l in lines if l["type"] == "interval") <= final["total"]["fired"]' \
	'all(l["interval"]["fired"] == l["total"]["fired"] - p["total"]["fired"] for p, l in zip(lines, lines[1:]) if l["type"] == "interval")' \
	'all(r["send"]["ops_total"] >= r["send"]["ops"] for l in lines if l["type"] == "interval" for p in l["processes"] for r in p["rings"])' \
	'all(p["probe_hits_total"] >= p["probe_hits"] for l in lines if l["type"] == "interval" for p in l["processes"])' \
	'sorted(r["name"] for p in final["processes"] for r in p["rings"]) == ["conn.%d" % i for i in range(6)]' \
	'all(r["send"]["ops"] == 100 for p in final["processes"] for r in p["rings"])' \
	'max(sum(1 for l in lines if l["type"] == "interval" for p in l["processes"] for r in p["rings"] if r["name"] == n) for n in ["conn.%d" % i for i in range(6)]) <= 2' \
	'[l for l in lines if l["type"] == "interval"][-1]["processes"][0]["rings"] == []'
grep -q "^-- interval [0-9.]* s, to [0-9.]* s after attach (figures: this interval): events [0-9]* delivered" \
	"$TMP/iv.txt" || fail "the text intervals do not say their figures are the interval's"
grep -q "^== kaos-trace summary, [0-9.]* s (figures: totals since attach): events" "$TMP/iv.txt" ||
	fail "the text summary does not say its figures are totals"
tail -n 30 "$TMP/iv.txt" | grep -q "conn.5" || fail "the final summary lacks a ring"
echo "PASS: test_trace_intervals"
