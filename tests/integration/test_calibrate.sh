#!/usr/bin/env bash
# The probe cost is measured on a probe site kaos-trace owns (the probe ABI's
# macros, provider kaos_trace), not on a libkaos ring: kaos-trace carries that
# one note, no libkaos, and reports a plausible cost with exact counts (its
# own hits are not the traced process's). The figure is kept for the boot in
# /run/kaos-trace/probe-cost-BUILDID-OPTS: a second start says it used it and
# reports the same figure; a record that is not root's, is group/other-
# writable, is cut short, names another boot or kernel, or was taken with
# other BPF options is not used (a fresh measurement runs and replaces it).
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

BID=$(readelf -n "$KT" | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
[ -n "$BID" ] || fail "$KT has no build id"
CACHE=/run/kaos-trace/probe-cost-$BID-0
rm -f /run/kaos-trace/probe-cost-"$BID"-*
cost_line() { # run kaos-trace briefly (no scope, no stacks: options 0); print its cost line
	"$KT" -d 0.1 --sample 1 -b "$B/libkaos.so" "$@" 2>&1 >/dev/null |
		grep -o 'probe hit costs .*' || true
}
fresh() { [[ "$1" == 'probe hit costs '*' ns' ]]; }
cached() { [[ "$1" == *' ns (measured earlier this boot, /run/kaos-trace)' ]]; }

l1=$(cost_line)
fresh "$l1" || fail "no fresh measurement without a record: '$l1'"
[ -f "$CACHE" ] || fail "the measurement left no record at $CACHE"
[ "$(stat -c '%u %a' "$CACHE")" = "0 600" ] || fail "record owner/mode: $(stat -c '%u %a' "$CACHE")"
l2=$(cost_line)
cached "$l2" || fail "the second start did not use the record: '$l2'"
[ "${l2%% (*}" = "$l1" ] || fail "the record's figure differs: '$l1' then '$l2'"

# other BPF options (stacks): another record, measured afresh
l=$(cost_line --stacks)
fresh "$l" || fail "a record of other options was used: '$l'"
ls /run/kaos-trace/probe-cost-"$BID"-1 >/dev/null || fail "no record for --stacks"

# not trusted: other-writable, not root's, cut short, another boot, another kernel
chmod 0666 "$CACHE"
l=$(cost_line)
fresh "$l" || fail "an other-writable record was used: '$l'"
chown nobody "$CACHE"
l=$(cost_line)
fresh "$l" || fail "a record owned by nobody was used: '$l'"
cached "$(cost_line)" || fail "the untrusted record was not replaced"
head -c 40 "$CACHE" >"$TMP/short" && cat "$TMP/short" >"$CACHE"
l=$(cost_line)
fresh "$l" || fail "a cut-short record was used: '$l'"
cached "$(cost_line)" || fail "the cut-short record was not replaced"
# the boot id is stored at offset 12, the kernel release at 52
printf 'ffffffff' | dd of="$CACHE" bs=1 seek=12 conv=notrunc status=none
l=$(cost_line)
fresh "$l" || fail "a record of another boot was used: '$l'"
printf '0.0.0-other' | dd of="$CACHE" bs=1 seek=52 conv=notrunc status=none
l=$(cost_line)
fresh "$l" || fail "a record of another kernel was used: '$l'"
cached "$(cost_line)" || fail "the stale record was not replaced"
rm -f /run/kaos-trace/probe-cost-"$BID"-*
echo "PASS: probe cost measured on kaos-trace's own kaos_trace:calibrate site (no libkaos" \
	"linked), kept per boot, build and options; untrusted or stale records ignored"
