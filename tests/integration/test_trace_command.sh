#!/usr/bin/env bash
# kaos-trace -- COMMAND: the command is traced from its first operation
# (exact counts), the tracer stops when it exits and returns its status.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

"$KT" --sample 1 --json "$TMP/cmd.json" -- "$WORK" --msgs 50000 --batch 4 --bp 3 >"$TMP/cmd.txt" 2>"$TMP/cmd.err" ||
	fail "kaos-trace -- kt_workload exited non-zero"
grep -q "command exited with status 0" "$TMP/cmd.err" || fail "no exit report"
json_check "$TMP/cmd.json" \
	'final["lost"] == 0' \
	'[p["comm"] for p in final["processes"]] == ["kt_workload"]' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [50000]' \
	'[r["backpressure"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.bp"] == [3]'
# the command's exit status comes back
rc=0
"$KT" -- "$WORK" --bogus >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "expected the command's status 2, got $rc"
# stopped by -d while the command runs: the tracer waits for it and gives its status
# (the raw wait status, 256 for exit 1, used to come back as 0)
rc=0
(sleep 1.5) | "$KT" -d 0.3 -- "$WORK" --wait >/dev/null 2>"$TMP/late.err" || rc=$?
[ $rc -eq 1 ] || fail "command outliving -d: expected its status 1, got $rc"
rc=0
"$KT" -- /nonexistent/cmd >/dev/null 2>"$TMP/nf.err" || rc=$?
[ $rc -eq 127 ] || fail "missing command: expected 127, got $rc"
grep -q "/nonexistent/cmd: No such file or directory" "$TMP/nf.err" || fail "missing command: $(cat "$TMP/nf.err")"
rc=0
"$KT" -- nonexistent-cmd-kt >/dev/null 2>"$TMP/nf2.err" || rc=$?
[ $rc -eq 127 ] || fail "command not on PATH: expected 127, got $rc"
grep -q "nonexistent-cmd-kt: command not found" "$TMP/nf2.err" || fail "command not on PATH: $(cat "$TMP/nf2.err")"
echo "PASS: -- COMMAND traced from its start"
