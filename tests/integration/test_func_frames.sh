#!/usr/bin/env bash
# Call shapes that break a naive entry/return pairing, in one run:
#  - jump_out_a/b longjmp() back to their caller 150 times: each call is
#    counted; the frame it leaves is dropped at the next probed entry at the
#    same depth (as the kernel drops its return instance), so the 64-frame
#    per-thread stack never fills up and later calls are still timed;
#  - tail_busy is only a jmp to busy_20us: both are timed (their returns
#    arrive together, the first frame is not mistaken for a dead one);
#  - rec_busy recursing 70 deep: the 7 innermost levels of each call are
#    past the kernel's 64 return probes per thread: counted, not timed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FUNCS=$PWD/$B/tests/progs/kt_funcs
need "$KT" "$FUNCS"

start_tracer frames -b "$FUNCS" --no-usdt --func 'jump_out_*' --func '*_busy' --func busy_20us \
	--json "$TMP/frames.json"
"$FUNCS" --rec 2 --depth 70 --tail 100 --jumps 150 >"$TMP/prog.txt" || fail "kt_funcs failed"
stop_tracer
grep -q "^calls jump_out_a=75$" "$TMP/prog.txt" || fail "the program did not make 75 jump_out_a calls"
# C(name): (calls, samples) of a function
C='lambda n: [(f["calls"], f["samples"]) for p in final["processes"] for f in p["functions"] if f["name"] == n][0]'
json_check "$TMP/frames.json" \
	"(lambda C: C('jump_out_a') == (75, 0) and C('jump_out_b') == (75, 0))($C)" \
	"(lambda C: C('tail_busy') == (100, 100) and C('busy_20us') == (100, 100))($C)" \
	"(lambda C: C('rec_busy') == (142, 128))($C)" \
	'final["func"]["abandoned"] == 149' \
	'final["func"]["untimed"] == 14' \
	'final["func"]["unmatched_returns"] == 0' \
	'[abs(f["latency_corrected"]["p50"] - 20000) <= 4000 for p in final["processes"] for f in p["functions"] if f["name"] in ("tail_busy", "busy_20us")] == [True, True]'
grep -q "14 calls not timed (nested deeper than 64), 0 returns without entry, 149 calls that never returned" "$TMP/frames.txt" ||
	fail "the summary does not report the untimed and abandoned calls"
echo "PASS: longjmp()ed calls, tail calls and recursion past 64 levels"
