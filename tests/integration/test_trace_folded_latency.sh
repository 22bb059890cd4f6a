#!/usr/bin/env bash
# --weight latency counts a backpressure wait once: in the [backpressure]
# tower, not also in the [send] tower of the send that waited. A workload
# whose sends block on a full 4-slot ring (kt_workload --block) reports the
# ring's own wait total W and the time T it spent in kaos_ring_send, timed
# around each call. Then, exactly and whatever the machine's speed:
#   [backpressure] tower == W   (backpressure is never sampled)
#   [send] + [backpressure] <= T (each send's own time + every wait, once)
# Counting waits twice makes the sum about 2 W > T. With --sample 1 and 4,
# for a -- COMMAND and for a program traced with -b.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# tower FILE EVENT: the summed weight of the EVENT lines of block_sends' sends.
tower() {
	awk -v ev="[$2];" 'index($0, ev) == 1 && /;block_sends;kaos_ring_send [0-9]+$/ {s += $NF}
		END {printf "%d\n", s}' "$1"
}

# The command (-- WORK) and a short-lived program started under -b: its
# first probe hit wakes kaos-trace, which reads its maps (symbols) and sets
# its sampling while it lives (it runs for a few ms).
for run in "command 1" "command 4" "program 4"; do
	read -r how sample <<<"$run"
	f=$TMP/lat-$how$sample.folded
	out=$TMP/lat-$how$sample.out
	if [ "$how" = command ]; then
		"$KT" --sample "$sample" --weight latency --folded "$f" -- "$WORK" --msgs 1 --block 200 \
			>"$out" 2>"$TMP/lat-$how$sample.err" || fail "kaos-trace --sample $sample failed"
	else
		start_tracer "lat-$how$sample" --sample "$sample" --weight latency --folded "$f" -b "$WORK"
		"$WORK" --msgs 1 --block 200 >"$out" || fail "the workload failed"
		stop_tracer
	fi
	[ "$sample" = 1 ] || ! grep -H "cannot set sampling" "$TMP/lat-$how$sample.err" ||
		fail "$how --sample $sample: its sampling was not set"
	read -r _ _ sends _ t _ w _ bp < <(grep '^block ' "$out") ||
		fail "no block line from the workload"
	[ "$sends" = 200 ] && [ "$bp" -gt 0 ] || fail "the workload's sends did not block (bp $bp)"
	send=$(tower "$f" send)
	wait=$(tower "$f" backpressure)
	[ "$send" -gt 0 ] || fail "$how --sample $sample: no [send] tower: $(cat "$f")"
	[ "$wait" = "$w" ] || fail "$how --sample $sample: [backpressure] tower $wait ns, the ring waited $w ns"
	[ $((send + wait)) -le "$t" ] ||
		fail "$how --sample $sample: [send] $send + [backpressure] $wait ns > $t ns spent in the sends: waits counted twice"
	echo "$how --sample $sample: send $send + backpressure $wait <= $t ns in sends ($bp waits)"
done
echo "PASS: --weight latency counts each backpressure wait once"
