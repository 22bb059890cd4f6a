# kaos-trace --off-cpu (sched_switch, tp_btf): a consumer thread blocked
# mostly in wait_for_work() (~95 % by design, less in a loaded guest) gets
# 60-130 % of the ns the program measured there itself as [off-cpu] ns under
# wait_for_work, symbolized from the static executable; its total is within
# 50-150 % of what the program measured (emulated guests are slow and
# noisy). Exit 77 (skipped) from a kaos-trace that has no --off-cpu.
. "$(dirname "$0")/lib.sh"

"$KT" --help 2>&1 | grep -q -- '--off-cpu' || {
	echo "this kaos-trace has no --off-cpu"
	exit 77
}
OFF=$BIN/kt_offcpu
[ -x "$OFF" ] || fail "missing $OFF"

"$KT" --sample 1 --off-cpu --folded "$TMP/off.folded" -- "$OFF" --ms 1500 >"$TMP/off.txt" 2>"$TMP/off.err" ||
	fail "kaos-trace --off-cpu failed"
line=$(grep '^consumer wait_for_work_ns' "$TMP/off.txt") || fail "the workload did not finish"
measured=$(echo "$line" | awk '{print $3 + $5}')
own_wait=$(echo "$line" | awk '{print $3}')
# the program's own split: its 1 ms flushes can take 10-25 ms in a guest whose
# two vCPUs share one host thread (single-threaded TCG) on a busy host
own_pct=$(echo "$line" | awk '$3 + $5 > 0 {printf "%d", 100 * $3 / ($3 + $5)}')
grep -Eq 'off-cpu: [0-9]+ blocks .* 0 lost' "$TMP/off.err" || fail "no off-cpu counters line (or blocks lost)"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/off.folded")
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... weight'"
set -- $(grep '^\[off-cpu\];consumer;' "$TMP/off.folded" |
	awk '{t += $NF} /;wait_for_work[;. ]/ {w += $NF} END {printf "%.0f %.0f\n", w, t}')
waitf=${1:-0} total=${2:-0}
[ "$total" -gt 0 ] || fail "no consumer off-cpu time"
pct=$((100 * waitf / total))
ratio=$(awk -v t="$total" -v m="$measured" 'BEGIN {printf "%d", 100 * t / m}')
echo "@@ OFFCPU consumer $total ns blocked, wait_for_work $pct % (the program measured $own_pct %)," \
	"$ratio % of the $measured ns measured"
# Compared with the program's own clock, in ns, not with a fixed share nor the
# program's share: on a busy host the program itself measured 26-63 % in
# wait_for_work in some runs (its flushes ran long), where the tracer's share
# was up to 15 points above it. The tracer leaves out the wake-up-to-run delay the program counts:
# 82-100 % of the program's wait_for_work ns in 9 runs here.
[ "${own_wait:-0}" -gt 0 ] || fail "the workload measured no time in wait_for_work: $line"
wratio=$(awk -v w="$waitf" -v m="$own_wait" 'BEGIN {printf "%d", 100 * w / m}')
echo "@@ OFFCPU wait_for_work: $waitf ns traced, $wratio % of the $own_wait ns the program measured"
[ "$wratio" -ge 60 ] && [ "$wratio" -le 130 ] ||
	fail "wait_for_work: $waitf ns off-cpu traced, $wratio % of the $own_wait ns the program measured"
[ "$ratio" -ge 50 ] && [ "$ratio" -le 150 ] || fail "consumer off-cpu is $ratio % of what it measured"
echo "PASS: off-cpu time attributed to wait_for_work"
