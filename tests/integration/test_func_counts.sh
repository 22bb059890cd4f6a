#!/usr/bin/env bash
# kaos-trace --func on tests/progs/kt_funcs (functions of known duration and
# known call counts: busy 20/100 us, a recursive one (50 us per level, depth
# 2: calls of 50, 100 and 150 us, the outer ones holding the probes of the
# inner ones), one of 90 us calling a probed one twice, one run by two
# threads at once, one that moves itself to another CPU mid-call and times
# itself):
#  1. exact counts, cross-checked with bpftrace counting the same uprobes in
#     the same run (and the program's own counts);
#  2. in a run of its own (no second tracer inside the timings): corrected
#     p50 within 10 % of the known durations, raw above corrected.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
PROG=$PWD/$B/tests/progs/kt_funcs
need "$KT" "$PROG"
bt_require

FUNCS="busy_20us busy_100us rec_busy nest_busy thread_busy_50us migrate_busy"
ARGS=(--n20 300 --n100 100 --rec 60 --depth 2 --nest 100 --threads 150 --migrate 100)
# calls the program made (its "calls NAME=N" lines)
calls() { sed -n "s/^calls $2=\([0-9]*\)$/\1/p" "$1"; }

echo "== 1. counts: kaos-trace and bpftrace on the same uprobes, same run"
script=""
for f in $FUNCS; do
	script="$script uprobe:$PROG:$f { @entry[\"$f\"] = count(); }"
	script="$script uretprobe:$PROG:$f { @ret[\"$f\"] = count(); }"
done
start_tracer counts -b "$PROG" --func 'kt_funcs:*_busy*' --func 'busy_*' --json "$TMP/counts.json"
# bpftrace runs the program itself (-c): it stops when the program ends
bt_run "$TMP/bt" "$script" "$PROG ${ARGS[*]}"
stop_tracer
grep '^calls \|^migrated\|^self' "$TMP/bt.out" >"$TMP/prog1.txt"
cat "$TMP/prog1.txt"
for f in $FUNCS; do
	want=$(calls "$TMP/prog1.txt" "$f")
	[ "$want" -gt 0 ] || fail "$f: the program made no calls"
	expect_eq "$f: bpftrace entries" "$(bt_kmap "$TMP/bt.out" entry "$f")" "$want" || fail "bpftrace"
	expect_eq "$f: bpftrace returns" "$(bt_kmap "$TMP/bt.out" ret "$f")" "$want" || fail "bpftrace"
	json_check "$TMP/counts.json" \
		"[f['calls'] for p in final['processes'] for f in p['functions'] if f['name'] == '$f'] == [$want]" \
		"[f['samples'] for p in final['processes'] for f in p['functions'] if f['name'] == '$f'] == [$want]"
	echo "ok: $f: kaos-trace counted $want calls, timed all of them"
done
json_check "$TMP/counts.json" \
	'final["lost"] == 0' \
	'final["delivered"] == final["fired"]' \
	'final["func"]["unmatched_returns"] == 0 and final["func"]["abandoned"] == 0' \
	'final["func"]["untimed"] == 0 and final["func"]["not_counted"] == 0'
grep -q "migrated 100$" "$TMP/prog1.txt" || fail "migrate_busy did not change CPU on every call"

echo "== 2. accuracy: corrected p50 within 10 % of the known durations"
# (rec_busy: the p50 of 60 calls each of 50, 100 and 150 us is the middle of the 100 us ones)
start_tracer acc -b "$PROG" --func 'kt_funcs:*busy*' --json "$TMP/acc.json" -H
"$PROG" "${ARGS[@]}" >"$TMP/prog2.txt" || fail "kt_funcs failed"
stop_tracer
self=$(sed -n 's/^self_p50_ns migrate_busy=\([0-9]*\)$/\1/p' "$TMP/prog2.txt")
[ -n "$self" ] || fail "no self-measured migrate_busy duration"
sed -n '/FUNCTION/,/^$/p' "$TMP/acc.txt"
# F(name, key): a latency figure of the function
F='lambda n, k: [f[k] for p in final["processes"] for f in p["functions"] if f["name"] == n][0]'
json_check "$TMP/acc.json" \
	"(lambda F: abs(F('busy_20us', 'latency_corrected')['p50'] - 20000) <= 2000)($F)" \
	"(lambda F: abs(F('busy_100us', 'latency_corrected')['p50'] - 100000) <= 10000)($F)" \
	"(lambda F: abs(F('thread_busy_50us', 'latency_corrected')['p50'] - 50000) <= 5000)($F)" \
	"(lambda F: abs(F('rec_busy', 'latency_corrected')['min'] - 50000) <= 5000)($F)" \
	"(lambda F: abs(F('rec_busy', 'latency_corrected')['p50'] - 100000) <= 10000)($F)" \
	"(lambda F: abs(F('nest_busy', 'latency_corrected')['p50'] - 90000) <= 9000)($F)" \
	"(lambda F: abs(F('migrate_busy', 'latency_corrected')['p50'] - $self) <= $self / 10)($F)" \
	"(lambda F: all(F(n, 'latency_raw')['p50'] > F(n, 'latency_corrected')['p50'] for n in ['busy_20us', 'rec_busy']))($F)" \
	"(lambda F: F('busy_20us', 'probe_bias_ns') > 0 and F('busy_20us', 'probe_pair_ns') > F('busy_20us', 'probe_bias_ns'))($F)" \
	'final["func"]["calibrated"] is True'
grep -q "corrected" "$TMP/acc.txt" || fail "no corrected row in the text summary"
grep -q "function kt_funcs:busy_20us: corrected latency" "$TMP/acc.txt" || fail "no -H histogram"
echo "PASS: exact counts (= bpftrace), corrected latency within 10 %"
