#!/usr/bin/env bash
# kaos-trace compare -- CMD_A ::: CMD_B (BPF loaded): kt_funcs traced with
# --func busy_20us in interleaved rounds. CMD_B 50 % slower (--slower 50):
# "slower", and --fail-if-slower 10 exits 5; the same command on both sides:
# exit 0 under the same gate. --json is one diff object. A failing command:
# one line naming the side, round and status, exit 1. SIGTERM and SIGINT
# during a run: the run (tracer and command) stopped, exit 128+N. The
# temporary directory is gone on every way out. Bad input (no :::, an empty
# side, no --, two :::, a bad --rounds): one line, exit 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
FUNCS=$B/tests/progs/kt_funcs
need "$KT" "$FUNCS"
export TMPDIR=$TMP/tmpdir # where compare puts its runs: must be empty after each
mkdir "$TMPDIR"

c() { # NAME COMPARE-ARGS... ; sets RC
	local name=$1
	shift
	RC=0
	"$KT" compare "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" || RC=$?
	[ -z "$(ls -A "$TMPDIR")" ] || fail "$name: left $(ls "$TMPDIR") in TMPDIR"
}
FN=(--func busy_20us)

c slow --rounds 3 --fail-if-slower 10 "${FN[@]}" -- "$FUNCS" --n20 300 ::: \
	"$FUNCS" --n20 300 --slower 50
[ "$RC" = 5 ] || fail "50 % slower: exit $RC, expected 5"
grep -q "^kaos-trace compare: before = CMD_A ($FUNCS), after = CMD_B ($FUNCS), 3 rounds" \
	"$TMP/slow.txt" || fail "no compare header"
grep -q "^kaos-trace diff: 3 runs before, 3 after" "$TMP/slow.txt" || fail "not 3 runs a side"
grep -q "^kt_funcs busy_20us call: slower (ops 900 -> 900" "$TMP/slow.txt" ||
	fail "busy_20us not slower"
grep -q "slower by more than 10 % at p50" "$TMP/slow.err" || fail "no gate line"

c same --rounds 3 --fail-if-slower 10 "${FN[@]}" -- "$FUNCS" --n20 300 ::: "$FUNCS" --n20 300
[ "$RC" = 0 ] || fail "same command both sides: exit $RC (false alarm)"
[ ! -s "$TMP/same.err" ] || fail "same command both sides wrote to stderr"

c json --json --rounds 2 "${FN[@]}" -- "$FUNCS" --n20 200 ::: "$FUNCS" --n20 200 --slower 50
[ "$RC" = 0 ] || fail "--json: exit $RC"
python3 - "$TMP/json.txt" <<'PY' || fail "compare --json"
import json, sys
d = json.load(open(sys.argv[1]))  # one object, no header line
assert d["type"] == "diff" and d["runs_before"] == 2 and d["runs_after"] == 2, d
s = {(x["ring"], x["op"]): x for x in d["series"]}
f = s[("busy_20us", "call")]
assert f["ops_before"] == 400 and f["ops_after"] == 400, f
assert 30 < f["quantiles"]["p50"]["change_pct"] < 70, f
PY

# a command that fails: which side, which round, its status and last words
c failing --rounds 2 "${FN[@]}" -- "$FUNCS" --n20 10 ::: "$FUNCS" --bogus
[ "$RC" = 1 ] || fail "failing CMD_B: exit $RC, expected 1"
[ "$(wc -l <"$TMP/failing.err")" = 1 ] || fail "failing CMD_B: not one line"
grep -q "CMD_B ($FUNCS, round 1 of 2) failed, exit status 2: kt_funcs: unknown argument" \
	"$TMP/failing.err" || fail "failing CMD_B: $(cat "$TMP/failing.err")"
[ ! -s "$TMP/failing.txt" ] || fail "failing CMD_B wrote a report"

# stopped during a run: the run's tracer and command go too, and the runs' files
stop() { # SIGNAL STATUS
	local marker=$((40000 + RANDOM)) pid i
	"$KT" compare "${FN[@]}" -- "$FUNCS" --hold-ms "$marker" ::: "$FUNCS" \
		>"$TMP/stop$1.txt" 2>"$TMP/stop$1.err" &
	pid=$!
	for ((i = 0; i < 300; i++)); do # until CMD_A runs (at most 30 s)
		pgrep -f -- "--hold-ms $marker" >/dev/null && break
		sleep 0.1
	done
	pgrep -f -- "--hold-ms $marker" >/dev/null || fail "SIG$1: CMD_A never started"
	kill -"$1" "$pid"
	RC=0
	wait "$pid" || RC=$?
	[ "$RC" = "$2" ] || fail "SIG$1: exit $RC, expected $2"
	grep -q "compare: stopped by signal" "$TMP/stop$1.err" || fail "SIG$1: $(cat "$TMP/stop$1.err")"
	! pgrep -f -- "--hold-ms $marker" >/dev/null || fail "SIG$1: CMD_A still runs"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "SIG$1: left $(ls "$TMPDIR") in TMPDIR"
}
stop TERM 143
stop INT 130

# bad input: one line on stderr, exit 2, no run
bad() { # NAME EXPECTED-RE COMPARE-ARGS...
	local name=$1 re=$2
	shift 2
	c "$name" "$@"
	[ "$RC" = 2 ] || fail "$name: exit $RC, expected 2"
	[ "$(wc -l <"$TMP/$name.err")" = 1 ] || fail "$name: not one line: $(cat "$TMP/$name.err")"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: $(cat "$TMP/$name.err")"
	[ ! -s "$TMP/$name.txt" ] || fail "$name wrote a report"
}
bad nosep "no ':::' between CMD_A and CMD_B" "${FN[@]}" -- "$FUNCS" --n20 10
bad emptya "CMD_A is empty" "${FN[@]}" -- ::: "$FUNCS" --n20 10
bad emptyb "CMD_B is empty" "${FN[@]}" -- "$FUNCS" --n20 10 :::
bad nodash "no -- before the commands" "${FN[@]}" "$FUNCS" ::: "$FUNCS"
bad twosep "more than one ':::'" -- "$FUNCS" ::: "$FUNCS" ::: "$FUNCS"
bad rounds "invalid --rounds '0'" --rounds 0 -- "$FUNCS" ::: "$FUNCS"
bad gate "invalid --fail-if-slower 'x'" --fail-if-slower x -- "$FUNCS" ::: "$FUNCS"

echo "PASS: compare detects a 50 % slower CMD_B (exit 5), no false alarm on the same command," \
	"--json, a failing command and SIGTERM/SIGINT reported, temporary files removed," \
	"bad input refused in one line"
