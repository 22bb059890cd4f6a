#!/usr/bin/env bash
# `make run`: the main job. A real libkaos workload runs under kaos-trace,
# which prints its latency summary and writes folded stacks for
# flamegraph.pl to out/stacks.folded (and out/stacks.svg when flamegraph.pl
# is on PATH).
set -euo pipefail
B=${B:-build}
OUT=${OUT:-out}
MSGS=${KAOS_DEMO_MSGS:-2000000}
mkdir -p "$OUT"

echo "== kaos-demo under kaos-trace: $MSGS messages per ring, every 64th operation traced"
"$B/kaos-trace" --sample 64 --stacks --folded "$OUT/stacks.folded" --json "$OUT/summary.json" \
	-H -- "$B/kaos-demo" --msgs "$MSGS"

echo
echo "folded stacks: $OUT/stacks.folded ($(wc -l <"$OUT/stacks.folded") stacks)"
echo "JSON summary:  $OUT/summary.json"
if command -v flamegraph.pl >/dev/null; then
	flamegraph.pl "$OUT/stacks.folded" >"$OUT/stacks.svg"
	echo "flame graph:   $OUT/stacks.svg"
else
	echo "flame graph:   flamegraph.pl $OUT/stacks.folded > stacks.svg"
fi
