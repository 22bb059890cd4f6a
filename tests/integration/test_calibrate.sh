#!/usr/bin/env bash
# The probe cost is measured on a probe site kaos-trace owns (the probe ABI's
# macros, provider kaos_trace), not on a libkaos ring: kaos-trace carries that
# one note, no libkaos, and reports a plausible cost with exact counts (its
# own hits are not the traced process's).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

readelf -n "$KT" >"$TMP/notes.txt"
grep -A1 'Provider: kaos_trace' "$TMP/notes.txt" | grep -q 'Name: calibrate' ||
	fail "no kaos_trace:calibrate probe note in $KT"
! grep -q 'Provider: kaos$' "$TMP/notes.txt" ||
	fail "$KT carries libkaos' own probes (libkaos linked in)"
! nm "$KT" | grep -Eq ' [TtWw] kaos_ring_(create|send|recv)$' ||
	fail "$KT links libkaos' ring API"

"$KT" --sample 1 --json "$TMP/run.json" -- "$WORK" --msgs 5000 --batch 1 \
	>"$TMP/run.txt" 2>"$TMP/run.err" || fail "kaos-trace failed: $(cat "$TMP/run.err")"
grep -Eq 'probe hit costs [0-9]+ ns' "$TMP/run.err" || fail "no probe cost line: $(cat "$TMP/run.err")"
json_check "$TMP/run.json" \
	'100 <= final["probe_hit_ns"] <= 1e6' \
	'len(final["processes"]) == 1' \
	'final["processes"][0]["rings"][0]["send"]["ops"] == 5000' \
	'all(r["name"] != "kaos-trace.calibrate" for p in final["processes"] for r in p["rings"])'
echo "PASS: probe cost measured on kaos-trace's own kaos_trace:calibrate site, no libkaos linked"
