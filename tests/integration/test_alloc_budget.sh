#!/usr/bin/env bash
# --alloc --budget: a process allocating faster than the budget allows is
# duty-cycled (the allocator probes attached part of each second, detached
# for the rest), and the report says so:
#  - kt_alloc_workload --loop under --alloc --budget 1: the text report has
#    the SAMPLED line with the fraction, the JSON "alloc" (top level and the
#    process's) says "sampled": true, 0 < "attached_fraction" < 1, exact
#    false; the workload keeps running and finishes cleanly (its rounds are
#    printed for comparison with an untraced run: a benchmark, not asserted);
#  - without --budget: never sampled, attached_fraction 1, and a command
#    traced from its start is still exact, with the program's own truth.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"
AL='final["alloc"]'
P="$AL['processes'][0]"

# loop_run NAME [KAOS-TRACE OPTIONS...]: kt_alloc_workload --loop for ~2.5 s,
# traced for 2 s with the options (none: not traced); its truth in NAME.truth.
loop_run() {
	local name=$1 lp
	shift
	"$AW" --loop --wait-file "$TMP/$name.go" --truth "$TMP/$name.truth" >"$TMP/$name.out" &
	lp=$!
	KT_PIDS+=("$lp")
	wait_ready "$TMP/$name.out" "$lp"
	touch "$TMP/$name.go"
	sleep 0.3
	if [ $# -gt 0 ]; then
		"$KT" "$@" -p "$lp" -d 2 --json "$TMP/$name.json" >"$TMP/$name.txt" 2>"$TMP/$name.err" ||
			fail "kaos-trace $* -p failed"
	else
		sleep 2
	fi
	sleep 0.2
	kill -INT "$lp"
	wait "$lp" || fail "kt_alloc_workload --loop ($name) failed"
	echo "$name: rounds $(python3 -c "import json; print(json.load(open('$TMP/$name.truth'))['rounds'])")"
}

# ---------------------------------------------------------------- over the budget: duty cycle
loop_run plain
loop_run budget --alloc --budget 1
grep -A8 '^alloc: heap' "$TMP/budget.txt"
grep -E '^  SAMPLED \(--budget\): probes attached [0-9]+% of the time \(attached_fraction 0\.[0-9]+\); counts are a sample, outstanding/leaks are upper bounds' \
	"$TMP/budget.txt" || fail "--budget 1: no SAMPLED line"
json_check "$TMP/budget.json" \
	"$AL['sampled'] is True and 0 < $AL['attached_fraction'] < 1 and $AL['exact'] is False" \
	"final['processes'][0]['alloc']['sampled'] is True" \
	"final['processes'][0]['alloc']['attached_fraction'] == $AL['attached_fraction']" \
	"$P['allocs'] > 0"

# ---------------------------------------------------------------- no budget: exact
loop_run full --alloc
if grep -q SAMPLED "$TMP/full.txt"; then fail "sampled without --budget"; fi
json_check "$TMP/full.json" \
	"$AL['sampled'] is False and $AL['attached_fraction'] == 1" \
	"final['processes'][0]['alloc']['sampled'] is False and $P['allocs'] > 0"
"$KT" --alloc --json "$TMP/cmd.json" -- "$AW" --truth "$TMP/cmd.truth" >"$TMP/cmd.txt" 2>"$TMP/cmd.err" ||
	fail "kaos-trace --alloc -- kt_alloc_workload failed"
TRUTH=$(cat "$TMP/cmd.truth")
json_check "$TMP/cmd.json" \
	"$AL['exact'] is True and $AL['sampled'] is False and $AL['attached_fraction'] == 1" \
	"$P['allocs'] == $TRUTH['allocs'] and $P['leaked_blocks'] == $TRUTH['leaked_blocks']"
echo "PASS"
