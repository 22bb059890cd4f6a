#!/usr/bin/env bash
# -b PROGRAM traces the processes of that program only, although its probes
# live in libkaos.so (attached for every process mapping it): another
# program of the same library never appears (report, JSON, alerts); a
# child PROGRAM forks is in scope, a child that execs something else is
# not; a PROGRAM already running when the tracer starts is found.
# -b LIBRARY keeps tracing every process that maps it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SCOPE=$B/tests/progs/kt_scope
need "$KT" "$WORK" "$SCOPE"

# rings NAME: the send ops of every ring called NAME in the final JSON, by pid order
ops() { echo "[r['send']['ops'] for p in final['processes'] for r in p['rings'] if r['name'] == '$1']"; }

# A process of PROGRAM running before the tracer: found by the /proc scan.
coproc W { "$SCOPE" wait 20000; }
cpid=$W_PID
read -r ready early <&"${W[0]}"
[ "$ready" = ready ] || fail "kt_scope wait did not start"

start_tracer scope -b "$SCOPE" --sample 1 --ringbuf-size 67108864 --json "$TMP/scope.json" \
	--alert 'ring=work.* send.count > 0' --alert-log "$TMP/alerts.jsonl"
grep -q "^kaos-trace: scope: processes of $SCOPE, now and later, children included (1 running)" \
	"$TMP/scope.err" || fail "the start-up line does not say the scope"
echo go >&"${W[1]}"
cat <&"${W[0]}" >"$TMP/early.txt"
wait "$cpid" || fail "kt_scope wait failed"
# Another program linking the same libkaos.so, during the trace: out of scope.
"$WORK" --msgs 100000 --batch 1 >"$TMP/other.txt" || fail "the other workload failed"
# A child forked by PROGRAM is in scope; one that execs another program is not.
"$SCOPE" fork 30000 >"$TMP/fork.txt" || fail "kt_scope fork failed"
"$SCOPE" spawn "$WORK" --msgs 50000 --batch 1 >"$TMP/spawn.txt" || fail "kt_scope spawn failed"
# the alert rule saw no work.* ring in scope: it matched nothing (exit 4, said)
kill -INT "$TRACER_PID"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc = 4 ] || fail "a rule that matched no ring in scope: exit $rc, expected 4"
grep -q "^kaos-trace: alert 'ring=work.\* send.count > 0' matched nothing: no traced ring fits ring=work.\*; rings seen: scope." \
	"$TMP/scope.err" || fail "the unmatched rule was not said: $(grep 'alert' "$TMP/scope.err")"
grep -q "scope.child sent 30000" "$TMP/fork.txt" || fail "the forked child's own counters"
child=$(awk '/scope.child/ {print $NF}' "$TMP/fork.txt")
parent=$(awk '/scope.parent/ {print $NF}' "$TMP/fork.txt")
json_check "$TMP/scope.json" \
	'final["lost"] == 0' \
	"$(ops scope.ops) == [20000]" \
	"$(ops scope.child) == [30000]" \
	"$(ops scope.parent) == [30000]" \
	"[p['pid'] for p in final['processes'] if any(r['name'] == 'scope.child' for r in p['rings'])] == [$child]" \
	"[p['pid'] for p in final['processes'] if any(r['name'] == 'scope.parent' for r in p['rings'])] == [$parent]" \
	"[r for p in final['processes'] for r in p['rings'] if r['name'].startswith('work.')] == []" \
	"[p['pid'] for p in final['processes'] if p['comm'] == 'kt_workload'] == []" \
	"final['scope'].startswith('processes of $SCOPE')" \
	"final['out_of_scope_hits'] >= 300000"
grep -q "^scope: processes of $SCOPE" "$TMP/scope.txt" || fail "the report does not say the scope"
if grep -q "work\.0" "$TMP/scope.txt"; then fail "another program's ring in the report"; fi
if grep -q '"firing"' "$TMP/alerts.jsonl" 2>/dev/null; then
	fail "an alert fired on another program's rings: $(cat "$TMP/alerts.jsonl")"
fi

# -b LIBRARY: every process mapping it, both programs.
start_tracer lib -b "$B/libkaos.so" --sample 1 --ringbuf-size 67108864 --json "$TMP/lib.json"
"$WORK" --msgs 10000 --batch 1 >/dev/null || fail "workload failed"
"$SCOPE" ops 10000 >/dev/null || fail "kt_scope ops failed"
stop_tracer
grep -q "^kaos-trace: scope: every process mapping $B/libkaos.so" "$TMP/lib.err" ||
	fail "the start-up line does not say the library's scope"
json_check "$TMP/lib.json" \
	"$(ops work.0) == [10000]" \
	"$(ops scope.ops) == [10000]"
echo "PASS: -b PROGRAM traces its processes and children only (other program: 0 rings, no alert); -b LIB traces all"
