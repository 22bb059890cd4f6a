#!/usr/bin/env bash
# Folded stacks of a known call chain: main -> pump -> libkaos' send,
# root first, symbolized, in flamegraph.pl's grammar.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

start_tracer st --sample 1 -b "$B/libkaos.so" --folded "$TMP/out.folded"
"$WORK" --msgs 20000 --batch 1 --hold-ms 500 >"$TMP/work.txt" || fail "workload failed"
stop_tracer
[ -s "$TMP/out.folded" ] || fail "no folded output"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/out.folded" || true)
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... count'"
# the leaf is libkaos' send path (kaos_ring_send or the slow path it tail-calls)
grep -Eq '(^|;)main;pump;[^; ]*(kaos|send)[^ ]* [0-9]+$' "$TMP/out.folded" ||
	fail "chain main;pump;kaos_ring_send... not found root-first: $(head -5 "$TMP/out.folded")"
total=$(awk '{s += $NF} END {print s}' "$TMP/out.folded")
[ "$total" -ge 40000 ] || fail "folded weights sum to $total, expected >= 40000 events"
echo "PASS: folded stacks symbolized, root first"
