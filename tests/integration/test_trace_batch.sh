#!/usr/bin/env bash
# Batched probes (kaos:batch, docs/probes.md): kaos-trace takes 32 ops a
# trap, and nothing is lost or doubled however the traced process goes:
# _exit and SIGKILL with records pending (drained at sched_process_exit),
# a thread's exit, fork (the child's copy of the parent's pending records
# is not sent twice), exec, a raw clone (its records are counted lost, not
# sent as the parent's), a per-op tracer (bpftrace) alongside, and SIGKILL
# of the tracer (the process runs on; the next tracer's counts are exact).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
BX=$B/tests/progs/kt_batch_exit
need "$KT" "$WORK" "$BX"
trap 'kt_rc=$?; bt_cleanup; cleanup $kt_rc' EXIT
N=1013 # not a multiple of 32: every thread ends with records pending

# events NAME OP: the traced events (samples) of op OP on every ring NAME, by pid order
events() { echo "[r['$2']['samples'] for p in final['processes'] for r in p['rings'] if r['name'] == '$1']"; }

LIB=$(readlink -f "$B/libkaos.so")
# trace_mode MODE: kt_batch_exit MODE N under kaos-trace -b LIB (children
# included); the report in $TMP/MODE.*
trace_mode() {
	start_tracer "$1" --sample 1 -b "$LIB" --json "$TMP/$1.json"
	grep -q "attached 3 probes" "$TMP/$1.err" ||
		fail "$1: not batched (kaos:batch, retransmit, ring_close): $(grep attached "$TMP/$1.err")"
	"$BX" "$1" $N >"$TMP/$1.out" 2>&1 || [ "$1" = kill ] || fail "$1: kt_batch_exit failed: $(cat "$TMP/$1.out")"
	stop_tracer
}

for mode in _exit thread fork exec; do
	trace_mode $mode
	checks=('final["lost"] == 0' "$(events batch.main send) == [$N]" "$(events batch.main recv) == [$N]")
	case $mode in
	thread) checks+=("$(events batch.thread send) == [$N]" "$(events batch.thread recv) == [$N]") ;;
	fork) checks+=("$(events batch.child send) == [$N]" "$(events batch.child recv) == [$N]") ;;
	# the new image (same pid) does its own N pairs: two images, N each
	exec) checks=('final["lost"] == 0' "$(events batch.main send) == [$N, $N]") ;;
	esac
	json_check "$TMP/$mode.json" "${checks[@]}"
	echo "ok: $mode: $N sends and recvs per ring, none lost or doubled"
done

# SIGKILL of the traced process: its pending records are read at its exit
trace_mode kill
json_check "$TMP/kill.json" 'final["lost"] == 0' "$(events batch.main send) == [$N]" \
	"$(events batch.main recv) == [$N]"
echo "ok: kill: $N sends and recvs after SIGKILL of the traced process"

# raw clone: no atfork handler cleared the copy; its pid tag is the parent's
trace_mode rawclone
json_check "$TMP/rawclone.json" "$(events batch.main send) == [$N]" "$(events batch.raw send) == []" \
	"final['lost'] >= 2 * $N"
grep -q "lost" "$TMP/rawclone.txt" || fail "rawclone: the lost records are not shown"
echo "ok: rawclone: the raw clone's records counted lost, the parent's exact"

# a per-op tracer (bpftrace on kaos:send) and a batching one at once: both exact
bt_start "$TMP/bt" "usdt:$LIB:kaos:send { @sends = count(); }"
start_tracer both --sample 1 -b "$LIB" --json "$TMP/both.json"
grep -q "attached 3 probes" "$TMP/both.err" || fail "two tracers: kaos-trace not batched"
"$WORK" --msgs 100000 --batch 1 >"$TMP/work.txt" || fail "workload failed"
stop_tracer
bt_stop "$TMP/bt"
expect_eq "bpftrace's sends beside a batching kaos-trace" "$(bt_map "$TMP/bt.out" sends)" 100000
json_check "$TMP/both.json" 'final["lost"] == 0' "$(events work.0 send) == [100000]" \
	"$(events work.0 recv) == [100000]"
echo "ok: a per-op tracer (bpftrace) and a batching one at once: both exact"

# SIGKILL of the tracer: the process runs on (batching stops with the
# semaphore); the next tracer counts only its own ops, exactly
FORK=$B/tests/progs/kt_fork
need "$FORK"
coproc W { exec "$FORK" --ops 5000; }
cpid=$W_PID
wait_mapped "$cpid" libkaos
start_tracer k1 --sample 1 -p "$cpid"
echo ops >&"${W[1]}"
read -r line <&"${W[0]}"
[ "$line" = "ops done" ] || fail "kt_fork: $line"
kill -KILL "$TRACER_PID"
wait "$TRACER_PID" 2>/dev/null || true
echo ops >&"${W[1]}" # untraced: the semaphore is down
read -r line <&"${W[0]}"
[ "$line" = "ops done" ] || fail "kt_fork after its tracer was killed: $line"
start_tracer k2 --sample 1 -p "$cpid" --json "$TMP/k2.json"
echo ops >&"${W[1]}"
read -r line <&"${W[0]}"
[ "$line" = "ops done" ] || fail "kt_fork under the second tracer: $line"
stop_tracer
echo quit >&"${W[1]}"
wait "$cpid" || fail "kt_fork failed"
# only the second tracer's ops, each once: the first one's pending records
# are older than it (an untraced ring notices a new tracer within 4096 ops)
json_check "$TMP/k2.json" 'final["lost"] == 0' \
	"$(events fork.parent send) == [r['send']['ops'] for p in final['processes'] for r in p['rings'] if r['name'] == 'fork.parent']" \
	"$(events fork.parent recv) == [r['recv']['ops'] for p in final['processes'] for r in p['rings'] if r['name'] == 'fork.parent']" \
	"$(events fork.parent send)[0] > 0"
echo "ok: SIGKILL of a batching tracer: the process ran on, the next tracer exact"
echo "PASS: batched probes: exact across exit, SIGKILL, threads, fork, exec, clone, two tracers"
