# Exact counts and 0 lost, by path (-b: the statically linked workload
# carries libkaos' probes itself) and by pid (-p).
. "$(dirname "$0")/lib.sh"

start_tracer by_path --sample 1 -b "$WORK" --ringbuf-size 16777216 --json "$TMP/by_path.json"
"$WORK" --msgs 40000 --batch 1 --bp 100 >"$TMP/work1.txt" || fail "workload failed"
stop_tracer
grep -q "^ring .* work.0 sent 40000 recv 40000" "$TMP/work1.txt" || fail "workload's own counters"
f=$TMP/by_path.json
expect lost "$(json_top "$f" lost)" 0
fired=$(json_top "$f" fired)
expect delivered "$(json_top "$f" delivered)" "$fired"
[ "$fired" -ge 80100 ] || fail "fired $fired < 80100"
expect send.ops "$(json_ring "$f" work.0 send ops)" 40000
expect recv.ops "$(json_ring "$f" work.0 recv ops)" 40000
expect send.samples "$(json_ring "$f" work.0 send samples)" 40000
expect recv.samples "$(json_ring "$f" work.0 recv samples)" 40000
expect backpressure.ops "$(json_ring "$f" work.bp backpressure ops)" 100
grep -q "events lost: 0" "$TMP/by_path.txt" || fail "summary lacks 'events lost: 0'"

# -p: a running process that waits for the tracer (a FIFO as its stdin)
mkfifo "$TMP/go"
"$WORK" --wait --msgs 20000 --batch 16 --bp 10 <"$TMP/go" >"$TMP/work2.txt" &
wjob=$!
exec 3>"$TMP/go"
i=0
while ! grep -q '^ready ' "$TMP/work2.txt" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "workload did not start"
	sleep 0.1
done
wpid=$(awk '/^ready/ {print $2}' "$TMP/work2.txt")
start_tracer by_pid --sample 1 -p "$wpid" --json "$TMP/by_pid.json"
# Another process with the same rings meanwhile: the kernel runs the probes'
# programs for the traced pid only (kaos-trace has no pid filter of its own);
# were it traced, json_ring would show two values below.
"$WORK" --msgs 20000 --batch 16 --bp 10 >"$TMP/work_other.txt" &
ojob=$!
echo go >&3
exec 3>&-
wait "$wjob" || fail "workload failed"
wait "$ojob" || fail "the other workload failed"
# the tracer stops by itself once its only pid has exited
rc=0
wait "$TRACER_PID" || rc=$?
TRACER_PID=
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
grep -q "pid $wpid exited" "$TMP/by_pid.err" || fail "no exit report for pid $wpid"
f=$TMP/by_pid.json
expect lost "$(json_top "$f" lost)" 0
expect delivered "$(json_top "$f" delivered)" "$(json_top "$f" fired)"
expect send.ops "$(json_ring "$f" work.0 send ops)" 20000
expect recv.ops "$(json_ring "$f" work.0 recv ops)" 20000
expect backpressure.ops "$(json_ring "$f" work.bp backpressure ops)" 10
echo "PASS: exact counts by path and by pid (another process untraced), 0 lost"
