#!/usr/bin/env bash
# make bench (last part): how well kaos-trace diff tells a real slowdown from
# noise on this machine (issue #12's targets: a 10 % slower traced function
# detected in >= 95 % of 20 pairs, a false alarm in <= 5 % of 20 no-change
# pairs).
#
# Workload: build/tests/progs/kt_funcs --n20 CALLS, traced with --func
# busy_20us (uprobe + uretprobe, corrected latency); the slower side runs it
# with --slower SLOWER (every spin SLOWER % longer). A pair is RUNS traced runs
# a side, taken in interleaved order (A B B A A B ...) so that a drift of the
# machine's load hits both sides alike, compared by `kaos-trace diff
# --fail-if-slower GATE`: exit 5 is a detection (on a slower pair) or a false
# alarm (on a baseline/baseline pair).
#
# Knobs (environment): DIFF_PAIRS (20) of each kind, DIFF_RUNS (3) runs a side,
# DIFF_SLOWER (10) percent, DIFF_CALLS (500) calls a run, DIFF_GATE (0@p50:
# any significant slowdown at p50), OUT (build/bench). Every diff's text report
# goes to $OUT/diff_bench/. Exit status: 0, 1 if a run or a diff failed, 2 on
# bad set-up (not root, no build).
set -u
B=${B:-build}
PAIRS=${DIFF_PAIRS:-20}
RUNS=${DIFF_RUNS:-3}
SLOWER=${DIFF_SLOWER:-10}
CALLS=${DIFF_CALLS:-500}
GATE=${DIFF_GATE:-0@p50}
OUT=${OUT:-$B/bench}
KT=$B/kaos-trace
FUNCS=$B/tests/progs/kt_funcs

[ "$(id -u)" = 0 ] || { echo "bench_diff: needs root (BPF, uprobes)" >&2; exit 2; }
for f in "$KT" "$FUNCS"; do
	[ -x "$f" ] || { echo "bench_diff: $f missing (run: make)" >&2; exit 2; }
done
dir=$OUT/diff_bench
mkdir -p "$dir" || exit 2
rm -f "$dir"/*.json "$dir"/*.txt
status=0

trace() { # FILE KT_FUNCS-ARGS...
	local file=$1
	shift
	"$KT" --json "$file" --func busy_20us -- "$FUNCS" --n20 "$CALLS" "$@" >/dev/null \
		2>"$file.err" || { echo "bench_diff: tracing failed: $(tail -1 "$file.err")" >&2; status=1; }
}

# One pair: RUNS runs of each side, interleaved (ABBA...); sets RC, the diff's exit status.
pair() { # NAME SLOWER-PCT-OF-SIDE-B
	local name=$1 slow=$2 a=() b=() rc=0 order side f
	for ((r = 0; r < RUNS; r++)); do
		if (((r % 2) == 0)); then order=(a b); else order=(b a); fi
		for side in "${order[@]}"; do
			f=$dir/$name-$side$r.json
			if [ "$side" = a ]; then
				trace "$f"
				a+=("$f")
			else
				trace "$f" --slower "$slow"
				b+=("$f")
			fi
		done
	done
	"$KT" diff --fail-if-slower "$GATE" "${a[@]}" -- "${b[@]}" >"$dir/$name.txt" \
		2>"$dir/$name.err" || rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then
		echo "bench_diff: diff $name: exit $rc: $(cat "$dir/$name.err")" >&2
		status=1
	fi
	RC=$rc
}

# p50 change of the pair's report, for the summary
change() { # NAME
	awk '/^kt_funcs busy_20us call:/ { f = 1 } f && $1 == "p50" { print $5; exit }' "$dir/$1.txt"
}

echo
echo "kaos-trace diff: detection and false alarms ($PAIRS pairs each, $RUNS runs a side," \
	"busy_20us ${SLOWER} % slower, --fail-if-slower $GATE)"
t0=$SECONDS
det=0 fa=0 dchg="" fchg=""
for ((p = 0; p < PAIRS; p++)); do
	# alternate the two kinds of pair so that both see the same machine
	pair slow$p "$SLOWER"
	[ "$RC" = 5 ] && det=$((det + 1))
	dchg+=" $(change slow$p)"
	pair same$p 0
	[ "$RC" = 5 ] && fa=$((fa + 1))
	fchg+=" $(change same$p)"
	printf 'bench_diff: [%d/%d] detected %d, false alarms %d\n' $((p + 1)) "$PAIRS" "$det" \
		"$fa" >&2
done
verdict() { # OK
	[ "$1" = 1 ] && echo "target met" || echo "TARGET MISSED"
}
dpct=$((100 * det / PAIRS))
fpct=$((100 * fa / PAIRS))
printf '  detection    %3d/%d = %3d %%  (target >= 95 %%)  %s\n' "$det" "$PAIRS" "$dpct" \
	"$(verdict $((dpct >= 95)))"
printf '  false alarms %3d/%d = %3d %%  (target <= 5 %%)   %s\n' "$fa" "$PAIRS" "$fpct" \
	"$(verdict $((fpct <= 5)))"
echo "  p50 change, slower pairs:$dchg"
echo "  p50 change, no-change pairs:$fchg"
echo "  $((SECONDS - t0)) s; reports in $dir"
exit $status
