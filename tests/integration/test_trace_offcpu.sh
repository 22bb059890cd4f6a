#!/usr/bin/env bash
# --off-cpu: a consumer thread that blocks ~95 % of its blocked time in
# wait_for_work() (futex, empty ring) and the rest in flush_output()
# (nanosleep 1 ms per batch) gets >= 70 % of its [off-cpu] ns in stacks
# through wait_for_work, symbolized, root first; flush_output shows too, much
# smaller; the consumer's total is close to what the program measured itself
# (a generous 0.6-1.3x: the machine is noisy); an untraced process that
# blocks gets nothing. The final --json object's "off_cpu" agrees with the
# stderr counters, the folded file and the text summary. Then -p with
# --profile and a 5 ms minimum (JSON intervals carry no off_cpu), and the
# error paths.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OFF=$B/tests/progs/kt_offcpu
need "$KT" "$OFF"

# an untraced process that blocks all the time: the pid filter must drop it
bash -c 'while :; do sleep 0.01; done' &
SLEEPER=$!
KT_PIDS+=("$SLEEPER")
"$KT" --sample 1 --off-cpu --folded "$TMP/off.folded" --json "$TMP/off.json" -- "$OFF" --ms 1500 \
	>"$TMP/off.txt" 2>"$TMP/off.err" ||
	fail "kaos-trace --off-cpu failed"
kill "$SLEEPER"
read -r _ _ wait_ns _ flush_ns _ batches _ < <(grep '^consumer wait_for_work_ns' "$TMP/off.txt") ||
	fail "the workload did not finish"
[ "$batches" -ge 10 ] || fail "only $batches batches"
grep -Eq 'off-cpu: [0-9]+ blocks >= 1.00us .* 0 lost' "$TMP/off.err" || fail "no off-cpu counters line (or blocks lost)"
grep -q '^off-cpu: time blocked' "$TMP/off.txt" || fail "no off-cpu summary"
grep -Eq '^  [0-9]+ +[0-9]+ +consumer ' "$TMP/off.txt" || fail "no consumer row in the summary"
grep -Eq '^ .*% [0-9]+ +consumer +.*;wait_for_work;' "$TMP/off.txt" || fail "wait_for_work not among the top stacks"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/off.folded" || true)
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... weight'"
grep -q '^\[off-cpu\];consumer;' "$TMP/off.folded" || fail "no [off-cpu] stacks of the consumer"
others=$(grep '^\[off-cpu\];' "$TMP/off.folded" | grep -Evc '^\[off-cpu\];(consumer|producer|kt_offcpu);' || true)
[ "$others" = 0 ] || fail "$others [off-cpu] stacks of other threads or processes"
# the ring traffic is traced too (one run answers both)
grep -Eq 'offcpu +recv +[0-9]+' "$TMP/off.txt" || fail "no recv row in the summary"
read -r waitf flushf total < <(grep '^\[off-cpu\];consumer;' "$TMP/off.folded" |
	awk '{t += $NF} /;wait_for_work[;. ]/ {w += $NF} /;flush_output[;. ]/ {f += $NF}
	     END {print w + 0, f + 0, t + 0}')
[ "$total" -gt 0 ] || fail "no consumer off-cpu time"
pct=$((100 * waitf / total))
echo "consumer off-cpu: $total ns, wait_for_work $waitf ns ($pct %), flush_output $flushf ns;" \
	"measured by the program: wait_for_work $wait_ns ns, flush_output $flush_ns ns, $batches batches"
[ "$pct" -ge 70 ] || fail "wait_for_work has $pct % of the consumer's blocked time, expected >= 70 %"
[ "$flushf" -gt 0 ] || fail "no blocked time in flush_output"
[ "$flushf" -lt "$waitf" ] || fail "flush_output ($flushf ns) not below wait_for_work ($waitf ns)"
measured=$((wait_ns + flush_ns))
ratio=$((100 * total / measured))
echo "consumer off-cpu / measured blocking calls: $ratio %"
[ "$ratio" -ge 60 ] && [ "$ratio" -le 130 ] ||
	fail "consumer off-cpu $total ns vs $measured ns measured ($ratio %, expected 60-130 %)"

# the final JSON object's "off_cpu": the counters of the stderr line, the one
# traced process, the consumer's totals equal to the folded file's and to the
# text summary's rows, its wait_for_work share from the JSON's stacks
nblocks=$(grep -Eo 'off-cpu: [0-9]+ blocks' "$TMP/off.err" | grep -Eo '[0-9]+')
read -r _ ttid _ tblocked tblocks _ < <(grep -E '^  [0-9]+ +[0-9]+ +consumer ' "$TMP/off.txt")
read -r tpid _ _ pblocked pblocks _ < <(grep -E '^  [0-9]+ +all ' "$TMP/off.txt")
unit() { echo "{'ns': 1, 'us': 1e3, 'ms': 1e6, 's': 1e9}['${1##*[0-9]}']"; }
num() { echo "${1%%[a-z]*}"; }
OC='final["off_cpu"]'
CONS="[t for p in $OC['processes'] for t in p['threads'] if t['comm'] == 'consumer']"
CSTK="[s for p in $OC['processes'] for s in p['top_stacks'] if s['comm'] == 'consumer']"
WAIT="sum(s['blocked_ns'] for s in $CSTK if any(f.split('.')[0] == 'wait_for_work' for f in s['frames']))"
json_check "$TMP/off.json" \
	"all(k in $OC for k in ('min_block_ns', 'blocked_ns', 'blocks', 'sleeps', 'in_progress',
	    'short_skipped', 'stack_errors', 'not_timed', 'lost_blocks', 'lost_ns', 'processes'))" \
	"$OC['min_block_ns'] == 1000 and $OC['lost_blocks'] == 0 and $OC['lost_ns'] == 0" \
	"$OC['blocks'] == $nblocks and $OC['sleeps'] >= $OC['blocks']" \
	"[p['pid'] for p in $OC['processes']] == [p['pid'] for p in final['processes']] == [$tpid]" \
	"$OC['blocked_ns'] == sum(p['blocked_ns'] for p in $OC['processes'])" \
	"all(p['blocked_ns'] == sum(t['blocked_ns'] for t in p['threads']) for p in $OC['processes'])" \
	"all(len(p['top_stacks']) == min(10, p['stack_count']) for p in $OC['processes'])" \
	"all(s['frames'] and s['blocked_ns'] > 0 for p in $OC['processes'] for s in p['top_stacks'])" \
	"len($CONS) == 1 and $CONS[0]['tid'] == $ttid and $CONS[0]['blocks'] == $tblocks" \
	"$CONS[0]['blocked_ns'] == $total" \
	"abs($CONS[0]['blocked_ns'] - $(num "$tblocked") * $(unit "$tblocked")) <= $(unit "$tblocked") / 200 + 1" \
	"$OC['processes'][0]['blocks'] == $pblocks" \
	"abs($OC['processes'][0]['blocked_ns'] - $(num "$pblocked") * $(unit "$pblocked")) <= $(unit "$pblocked") / 200 + 1" \
	"$WAIT * 100 >= 70 * $CONS[0]['blocked_ns']" \
	"$WAIT == $waitf or $OC['processes'][0]['stack_count'] > 10" \
	"not any('off_cpu' in l for l in lines[:-1])"

# -p, with --profile and a 5 ms minimum: 1 ms flushes are skipped (and counted),
# the 20 ms waits are not; folded lines on stdout next to the [cpu] tower
"$OFF" --ms 2500 >"$TMP/p.prog" &
PROG=$!
KT_PIDS+=("$PROG")
wait_mapped "$PROG" 'libkaos\.so'
"$KT" --sample 1 -p "$PROG" -d 1 -i 0.4 --json "$TMP/p.json" --off-cpu --off-cpu-min-us 5000 --profile 997 \
	>"$TMP/p.txt" 2>"$TMP/p.err" || fail "kaos-trace -p --off-cpu failed"
wait "$PROG" || fail "the workload failed"
grep -q '^\[off-cpu\];consumer;.*;wait_for_work;' "$TMP/p.txt" || fail "-p: no wait_for_work stacks on stdout"
if grep -q '^\[off-cpu\];consumer;.*flush_output' "$TMP/p.txt"; then
	# a 1 ms nap may take > 5 ms on a loaded machine: rarely, never mostly
	nshort=$(grep -Eo '[0-9]+ shorter skipped' "$TMP/p.err" | cut -d' ' -f1)
	[ "${nshort:-0}" -ge 10 ] || fail "-p: flush_output charged and few short blocks skipped"
fi
grep -Eq 'off-cpu: [0-9]+ blocks >= 5.00ms .*, [1-9][0-9]* shorter skipped' "$TMP/p.err" ||
	fail "-p: short blocks not counted"
grep -q 'profile: [0-9]* samples at 997 Hz' "$TMP/p.err" || fail "-p: no profile line with --off-cpu"
# the kernel's sums are read once at the end: "off_cpu" in the final object only
nshort=$(grep -Eo '[0-9]+ shorter skipped' "$TMP/p.err" | cut -d' ' -f1)
json_check "$TMP/p.json" "len(lines) >= 2" "not any('off_cpu' in l for l in lines[:-1])" \
	"final['off_cpu']['min_block_ns'] == 5000000" \
	"final['off_cpu']['short_skipped'] == $nshort" \
	"[p['pid'] for p in final['off_cpu']['processes']] == [$PROG]"

# errors: one line, non-zero
rc=0
"$KT" -p "$$" --off-cpu-min-us 5 -d 1 >/dev/null 2>"$TMP/e1.err" || rc=$?
[ $rc -eq 2 ] && grep -q 'off-cpu-min-us needs --off-cpu' "$TMP/e1.err" &&
	[ "$(wc -l <"$TMP/e1.err")" -eq 1 ] || fail "--off-cpu-min-us alone: rc $rc: $(cat "$TMP/e1.err")"
rc=0
"$KT" -b "$B/libkaos.so" --off-cpu --off-cpu-min-us 1x -d 1 >/dev/null 2>"$TMP/e2.err" || rc=$?
[ $rc -eq 2 ] && grep -q "invalid --off-cpu-min-us '1x'" "$TMP/e2.err" &&
	[ "$(wc -l <"$TMP/e2.err")" -eq 1 ] || fail "bad --off-cpu-min-us: rc $rc: $(cat "$TMP/e2.err")"
# the sched_switch program fails to load: one line naming it, exit 1, the command never runs
rc=0
KAOS_TRACE_TEST_BREAK_OFFCPU=1 "$KT" --off-cpu --no-calibrate -- "$OFF" --ms 100 >"$TMP/e3.out" 2>"$TMP/e3.err" || rc=$?
[ $rc -eq 1 ] || fail "broken off-cpu load: exit $rc"
[ "$(grep -c 'off-cpu' "$TMP/e3.err")" -eq 1 ] &&
	grep -q '^kaos-trace: off-cpu: cannot load the sched_switch program: ' "$TMP/e3.err" ||
	fail "broken off-cpu load: $(cat "$TMP/e3.err")"
grep -q consumer "$TMP/e3.out" && fail "the command ran although tracing failed"
echo "PASS: off-cpu attributes $pct % of the consumer's blocked time to wait_for_work, $ratio % of what it measured"
