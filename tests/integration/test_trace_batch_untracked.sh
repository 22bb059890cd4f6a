#!/usr/bin/env bash
# Batching remembers each thread's buffer in a kernel map (batch_threads) so
# that BPF can drain it when the thread dies. A thread the map has no room
# for is still traced, but what it holds when killed would be lost without a
# count: its fires are counted (batch_untracked) and the counts are marked
# lower bounds. KAOS_TRACE_BATCH_THREADS=1 shrinks the map to one thread; the
# pair workload has two that send or receive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BENCH=$B/tests/progs/kt_bench_workload
need "$KT" "$BENCH"

run() { # NAME [ENV...]: a traced pair run, JSON in $TMP/NAME.json
	local name=$1
	shift
	env "$@" "$KT" --sample 1 --ringbuf-size 16M --json "$TMP/$name.json" -- "$BENCH" pair --ms 300 \
		>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "kaos-trace ($name) failed: $(cat "$TMP/$name.err")"
}

run room
json_check "$TMP/room.json" 'final["counts_exact"] is True' '"batch_untracked" not in final' \
	'final["lost"] == 0'
grep -q "could not remember" "$TMP/room.txt" && fail "a warning with room for every thread"
echo "ok: room for both threads: counts exact"

run full KAOS_TRACE_BATCH_THREADS=1
json_check "$TMP/full.json" 'final["counts_exact"] is False' 'final["batch_untracked"] > 0' 'final["lost"] == 0'
grep -q "batched probe fires came from threads kaos-trace could not remember" "$TMP/full.txt" ||
	fail "no warning: $(cat "$TMP/full.txt")"
grep -q "counts are lower bounds" "$TMP/full.txt" || fail "counts not marked lower bounds"
echo "ok: one thread too many: $(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["batch_untracked"])' "$TMP/full.json") fires counted, counts are lower bounds"
echo "PASS: untracked batching threads are counted, never silent"
