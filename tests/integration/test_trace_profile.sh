#!/usr/bin/env bash
# --profile: a process spending most of its CPU time in hot_spin() (plus some
# ring traffic, so it is traced) gets the share of its [cpu] samples in
# stacks through worker;hot_spin that it measured itself with its CPU clocks
# (within 10 points), symbolized; a busy untraced process gets none.
# CPU time, not wall time: at any load the split is the same (the probe hits
# of the ring traffic cost CPU, not wall time).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOT=$B/tests/progs/kt_hotspin
need "$KT" "$HOT"

# an untraced CPU hog next to it: the kernel-side pid filter must drop its samples
bash -c 'while :; do :; done' &
HOG=$!
KT_PIDS+=("$HOG")
"$KT" --sample 1 --profile 997 --folded "$TMP/prof.folded" -- "$HOT" --cpu-ms 500 --spin-us 15000 --ops 50 >"$TMP/prof.txt" 2>"$TMP/prof.err" ||
	fail "kaos-trace --profile failed"
kill "$HOG"
grep -q '^hot_spin ' "$TMP/prof.txt" || fail "the workload did not finish"
grep -q 'profile: [0-9]* samples at 997 Hz' "$TMP/prof.err" || fail "no profile summary line"
# every sample is accounted for: those whose stack was gone when folded too
grep -Eq 'profile: [0-9]+ samples at 997 Hz on [0-9]+ CPUs \([0-9]+ without a user stack, [0-9]+ lost, [0-9]+ unfolded: ' \
	"$TMP/prof.err" || fail "the profile line does not count unfolded samples: $(grep profile: "$TMP/prof.err")"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/prof.folded" || true)
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... count'"
grep -q '^\[cpu\];' "$TMP/prof.folded" || fail "no [cpu] stacks"
# the summary of the ring traffic is there too (one run answers both)
grep -Eq 'hotspin +send +[0-9]+' "$TMP/prof.txt" || fail "no send row in the summary"
others=$(grep '^\[cpu\];' "$TMP/prof.folded" | grep -vc '^\[cpu\];kt_hotspin;' || true)
[ "$others" = 0 ] || fail "$others [cpu] stacks of other processes"
# inclusive: hot_spin reads the thread's CPU clock, a syscall, and so does its measure
read -r hot total < <(grep '^\[cpu\];' "$TMP/prof.folded" |
	awk '{t += $NF} /;worker;hot_spin(;| )/ {h += $NF} END {print h + 0, t + 0}')
[ "$total" -ge 50 ] || fail "only $total samples"
# "hot_spin PCT cpu-us HOT of PROCESS ops N stalls-us STALL": the program's own
# measure, without the host's stops of the vCPU (STALL, see kt_hotspin.c)
read -r _ measured _ _ _ proc_us _ _ _ stall_us < <(grep '^hot_spin ' "$TMP/prof.txt")
pct=$(awk -v h="$hot" -v t="$total" 'BEGIN {printf "%.1f", 100 * h / t}')
echo "hot_spin: $hot of $total samples ($pct %); measured by the program: $measured % of $((proc_us / 1000)) ms CPU ($((stall_us / 1000)) ms of stalls left out)"
# the split must be lopsided, or a wrong attribution could pass
awk -v m="$measured" 'BEGIN {exit !(m >= 60)}' ||
	fail "the workload spent only $measured % of its CPU in hot_spin, expected >= 60 %"
# one sample per 1/997 s of the process's CPU: not idle or other tasks' time, none lost
awk -v t="$total" -v us="$proc_us" 'BEGIN {e = us * 997 / 1e6; exit !(t >= e / 2 && t <= e * 1.5)}' ||
	fail "$total samples for $((proc_us / 1000)) ms of CPU at 997 Hz"
awk -v p="$pct" -v m="$measured" 'BEGIN {d = p - m; exit !(d <= 10 && d >= -10)}' ||
	fail "hot_spin has $pct % of the samples, but $measured % of the process's CPU time"
echo "PASS: profile attributes $pct % of samples to hot_spin ($measured % measured), symbolized"
