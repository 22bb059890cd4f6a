#!/usr/bin/env bash
# --profile: a process spinning ~90 % of its time in hot_spin() (plus some
# ring traffic, so it is traced) gets >= 70 % of its [cpu] samples in stacks
# ending in hot_spin, symbolized; a busy untraced process gets none.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOT=$B/tests/progs/kt_hotspin
need "$KT" "$HOT"

# an untraced CPU hog next to it: the kernel-side pid filter must drop its samples
bash -c 'while :; do :; done' &
HOG=$!
KT_PIDS+=("$HOG")
"$KT" --sample 1 --profile 997 --folded "$TMP/prof.folded" -- "$HOT" --ms 1500 --spin-us 15000 --ops 50 >"$TMP/prof.txt" 2>"$TMP/prof.err" ||
	fail "kaos-trace --profile failed"
kill "$HOG"
grep -q '^hot_spin ' "$TMP/prof.txt" || fail "the workload did not finish"
grep -q 'profile: [0-9]* samples at 997 Hz' "$TMP/prof.err" || fail "no profile summary line"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/prof.folded" || true)
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... count'"
grep -q '^\[cpu\];' "$TMP/prof.folded" || fail "no [cpu] stacks"
# the summary of the ring traffic is there too (one run answers both)
grep -Eq 'hotspin +send +[0-9]+' "$TMP/prof.txt" || fail "no send row in the summary"
others=$(grep '^\[cpu\];' "$TMP/prof.folded" | grep -vc '^\[cpu\];kt_hotspin;' || true)
[ "$others" = 0 ] || fail "$others [cpu] stacks of other processes"
read -r hot total < <(grep '^\[cpu\];' "$TMP/prof.folded" |
	awk '{t += $NF} /;worker;hot_spin [0-9]+$/ {h += $NF} END {print h + 0, t + 0}')
[ "$total" -ge 50 ] || fail "only $total samples"
pct=$((100 * hot / total))
echo "hot_spin: $hot of $total samples ($pct %); workload: $(cat "$TMP/prof.txt" | grep '^hot_spin')"
[ "$pct" -ge 70 ] || fail "hot_spin has $pct % of the samples, expected >= 70 %"
echo "PASS: profile attributes $pct % of samples to hot_spin, symbolized"
