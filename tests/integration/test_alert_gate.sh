#!/usr/bin/env bash
# The one-shot CI gate (kt_gate.h): the exit status says the most important
# thing that went wrong. -- COMMAND that exits 7 while an alert fires: 7 (the
# command's failure is not hidden), also when the command outlives the run
# (-d); an alert that fired: 3; a rule whose ring selector has a typo: 4 and
# one line naming the rings that were seen; a rule without selectors on a run
# that saw no ring: 4. The firing line, in text and in the --alert-log JSON,
# names the ring (name, pid, process), the value and the threshold; the same
# for --func functions (func= rules).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

run() { # NAME KAOS-TRACE-ARGS... ; sets RC
	local name=$1
	shift
	RC=0
	"$KT" "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" || RC=$?
}
cmd_pid() { grep -o 'scope: the command (pid [0-9]*)' "$TMP/$1.err" | grep -o '[0-9]*' || true; }

slow='ring=work.0 sojourn.p50 > 50us'
# the command fails while an alert fires: its status wins
run fail7 --sample 1 --alert "$slow" --fail-on-alert --alert-log "$TMP/fail7.jsonl" \
	-- "$WORK" --msgs 3000 --sojourn-us 200 --exit 7
[ "$RC" = 7 ] || fail "command exit 7 + alert fired: exit $RC, expected 7"
grep -q "command exited with status 7" "$TMP/fail7.err" || fail "no command status line"
grep -q "alerts: 1 rule, 1 fired" "$TMP/fail7.err" || fail "the alert did not fire"
pid=$(cmd_pid fail7)
[ -n "$pid" ] || fail "no command pid in the scope line"
msg="'$slow' fired: ring work.0 \\(pid $pid, kt_workload\\) sojourn.p50 = [0-9.]+us > 50us"
grep -Eq "^kaos-trace: info: alert: $msg\$" "$TMP/fail7.err" ||
	fail "firing text line: $(grep 'alert:' "$TMP/fail7.err")"
python3 - "$TMP/fail7.jsonl" "$slow" "$pid" <<'PY' || fail "firing JSON line"
import json, re, sys
(l,) = [json.loads(x) for x in open(sys.argv[1])]
rule, pid = sys.argv[2], int(sys.argv[3])
assert l["alert"] == "firing" and l["rule"] == rule, l
w = l["worst"]
assert w["ring"] == "work.0" and w["pid"] == pid and w["process"] == "kt_workload", w
assert 150000 <= w["value"] <= 260000 and w["value"] == l["value"], l  # ~200 us in the ring
m = "alert '%s' fired: ring work.0 (pid %d, kt_workload) sojourn.p50 = " % (rule, pid)
assert l["message"].startswith(m) and re.search(r" = 1\d\d(\.\d)?us > 50us$", l["message"]), l
PY

# the command outlives the run (-d) and fails: its status, read correctly
run late7 --sample 1 -d 1 --alert 'ring=work.0 send.count > 1G' \
	-- "$WORK" --msgs 3000 --hold-ms 3000 --exit 7
[ "$RC" = 7 ] || fail "command exit 7 after the run: exit $RC, expected 7"

# a fired alert and a typo'd ring: 3, and the typo is said
run fired --sample 1 --alert "$slow" --alert 'ring=wrok.0 send.count > 0' --fail-on-alert \
	-- "$WORK" --msgs 3000 --sojourn-us 200
[ "$RC" = 3 ] || fail "alert fired (+ a typo): exit $RC, expected 3"
grep -q "alert 'ring=wrok.0 send.count > 0' matched nothing" "$TMP/fired.err" ||
	fail "the typo was not said: $(cat "$TMP/fired.err")"

# a typo alone: 4, one line that shows the right name next to it
run typo --sample 1 --alert 'ring=wrok.0 send.count > 0' --fail-on-alert -- "$WORK" --msgs 3000
[ "$RC" = 4 ] || fail "typo'd ring: exit $RC, expected 4"
pid=$(cmd_pid typo)
want="kaos-trace: alert 'ring=wrok.0 send.count > 0' matched nothing: no traced ring fits ring=wrok.0; rings seen: work.0 (pid $pid, kt_workload)"
[ "$(grep -c 'matched nothing' "$TMP/typo.err")" = 1 ] || fail "typo: not one line"
grep -qxF "$want" "$TMP/typo.err" || fail "typo line: $(grep 'matched nothing' "$TMP/typo.err")"

# nothing ran: a rule without selectors matched nothing either (lost always matches)
run idle -d 1 -b "$B/libkaos.so" --alert 'send.p99 > 1us' --alert 'lost > 0'
[ "$RC" = 4 ] || fail "no ring traced: exit $RC, expected 4"
grep -qxF "kaos-trace: alert 'send.p99 > 1us' matched nothing: no ring was traced during the run" \
	"$TMP/idle.err" || fail "idle line: $(cat "$TMP/idle.err")"
[ "$(grep -c 'matched nothing' "$TMP/idle.err")" = 1 ] || fail "idle: lost > 0 said to match nothing"
# func rules: a --func function's latency fires naming the function; a typo'd func= is said
PROG=$B/tests/progs/kt_funcs
need "$PROG"
start_tracer func -b "$PROG" --func 'busy_*' --alert 'func=busy_100us func.p50 > 50us' \
	--alert 'func=bsuy_20us func.count > 0' --fail-on-alert --alert-log "$TMP/func.jsonl"
"$PROG" --n20 10 --n100 20 >"$TMP/funcs_prog.txt" || fail "kt_funcs failed"
kill -INT "$TRACER_PID"
RC=0
wait "$TRACER_PID" || RC=$?
[ "$RC" = 3 ] || fail "func alert fired + func typo: exit $RC, expected 3"
grep -Eq "fired: function kt_funcs:busy_100us \(pid [0-9]+(, [^)]+)?\) func.p50 = [0-9.]+us > 50us\"" \
	"$TMP/func.jsonl" || fail "func firing message: $(cat "$TMP/func.jsonl")"
grep -q "^kaos-trace: alert 'func=bsuy_20us func.count > 0' matched nothing: no traced function fits func=bsuy_20us; functions probed: kt_funcs:busy_" \
	"$TMP/func.err" || fail "func typo line: $(grep 'matched nothing' "$TMP/func.err")"
echo "PASS: exit status precedence (command 7 > alert 3 > unmatched 4), typo'd ring said, firing message names ring or function, value, threshold"
