#!/usr/bin/env bash
# `make run`: the main job. kaos-pipeline compresses a generated input
# (read -> compress -> checksum -> write, stages connected by libkaos rings)
# under kaos-trace, which prints per-stage send/recv/sojourn percentiles and
# backpressure per ring, and writes folded stacks (out/stacks.folded, and
# out/stacks.svg when flamegraph.pl is on PATH). The output is then
# decompressed and compared with the input.
set -euo pipefail
B=${B:-build}
OUT=${OUT:-out}
MB=${KAOS_RUN_MB:-48}
mkdir -p "$OUT"

in=$OUT/input.txt
if [ ! -s "$in" ] || [ "$(($(stat -c %s "$in") / 1048576))" -ne "$MB" ]; then
	echo "== generating $MB MiB of input ($in)"
	# log-like lines: compressible, but not trivially
	awk -v mb="$MB" 'BEGIN { srand(7); n = 0; lim = mb * 1048576;
		split("send recv ack nack retry flush commit abort open close", w, " ");
		while (n < lim) {
			l = sprintf("%09d ts=%d op=%s ring=%d len=%d crc=%08x\n", n, n * 13 % 1000003,
				w[int(rand() * 10) + 1], int(rand() * 16), int(rand() * 4096), int(rand() * 4294967295));
			printf "%s", l; n += length(l) } }' >"$in"
fi

echo "== kaos-pipeline compress under kaos-trace (2 workers per stage, 1 MiB chunks)"
"$B/kaos-trace" --sample 1 --stacks --folded "$OUT/stacks.folded" --weight latency --json "$OUT/summary.json" \
	-- "$B/kaos-pipeline" compress "$in" "$OUT/input.kz" --workers 2 --chunk-size 1m --level 6

echo
echo "== round trip"
"$B/kaos-pipeline" decompress "$OUT/input.kz" "$OUT/input.out" --workers 2
cmp "$in" "$OUT/input.out"
echo "decompressed output is identical to the input ($(stat -c %s "$in") bytes -> $(stat -c %s "$OUT/input.kz") compressed)"
rm -f "$OUT/input.out"

echo
echo "folded stacks: $OUT/stacks.folded ($(wc -l <"$OUT/stacks.folded") stacks, weighted by latency)"
echo "JSON summary:  $OUT/summary.json"
if command -v flamegraph.pl >/dev/null; then
	flamegraph.pl "$OUT/stacks.folded" >"$OUT/stacks.svg"
	echo "flame graph:   $OUT/stacks.svg"
else
	echo "flame graph:   flamegraph.pl $OUT/stacks.folded > stacks.svg"
fi
