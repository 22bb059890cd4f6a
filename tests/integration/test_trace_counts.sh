#!/usr/bin/env bash
# kaos-trace reports exact counts with 0 lost: 1,000,000 sends and recvs
# and 1,000 forced backpressure episodes, traced by path (-b) and by pid (-p).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# -b: every process mapping libkaos.so, started after the tracer.
start_tracer by_path --sample 1 -b "$B/libkaos.so" --ringbuf-size 67108864 --json "$TMP/by_path.json"
"$WORK" --msgs 1000000 --batch 1 --bp 1000 >"$TMP/work1.txt" || fail "workload failed"
wpid=$(pgrep -n -f "$WORK" || true)
stop_tracer
grep -q "^ring .* work.0 sent 1000000 recv 1000000" "$TMP/work1.txt" || fail "workload's own counters"
json_check "$TMP/by_path.json" \
	'final["lost"] == 0' \
	'final["counts_exact"] is True' \
	'final["delivered"] == final["fired"]' \
	'final["fired"] >= 2001000' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [1000000]' \
	'[r["recv"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [1000000]' \
	'[r["send"]["samples"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [1000000]' \
	'[r["backpressure"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.bp"] == [1000]'
grep -q "events lost: 0; counts exact" "$TMP/by_path.txt" ||
	fail "summary does not report 'events lost: 0; counts exact'"

# -p: one running process; it waits for the tracer before starting.
coproc W { "$WORK" --wait --msgs 200000 --batch 16 --bp 10; }
cpid=$W_PID # bash unsets W_PID once the coprocess exits
read -r ready wpid <&"${W[0]}"
[ "$ready" = ready ] || fail "workload did not start"
start_tracer by_pid --sample 1 -p "$wpid" --json "$TMP/by_pid.json"
# Another process of the same library at the same time: the kernel runs the
# probes' programs for the traced pid only (kaos-trace has no pid filter).
"$WORK" --msgs 200000 --batch 16 --bp 10 >"$TMP/work_other.txt" &
opid=$!
echo go >&"${W[1]}"
cat <&"${W[0]}" >"$TMP/work2.txt"
wait "$cpid" || fail "workload failed"
wait "$opid" || fail "the other workload failed"
# the tracer stops by itself once its only pid has exited
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
grep -q "pid $wpid exited" "$TMP/by_pid.err" || fail "tracer did not report the exit of pid $wpid"
json_check "$TMP/by_pid.json" \
	'final["lost"] == 0' \
	'final["delivered"] == final["fired"]' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [200000]' \
	'[r["recv"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [200000]' \
	'[r["backpressure"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.bp"] == [10]' \
	"[p[\"pid\"] for p in final[\"processes\"]] == [$wpid]" \
	'final["fired"] == sum(p["probe_hits"] for p in final["processes"])'
echo "PASS: exact counts by path and by pid (another process untraced), 0 lost"
