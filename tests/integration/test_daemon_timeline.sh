#!/usr/bin/env bash
# The daemon's flight recorder ([timeline] mode = last / --timeline-mode last,
# --timeline-last, --timeline-keep), the one-shot's timeline code: it writes a
# new timestamped file beside FILE (DIR/BASE-YYYYMMDDTHHMMSS.mmmZ.EXT) when an
# alert fires, on SIGUSR1 and at stop, each a complete trace with the newest
# events, and keeps only the newest --timeline-keep of them (other files in
# the directory are left alone).
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"

D=$TMP/tl
mkdir -p "$D"
: >"$D/rec.json.keepme"
: >"$D/rec-notastamp.json"
start_daemon tl --sample 1 --watch "$WORK" --listen off --eval-interval 500ms \
	--alert 'ring=work.0 send.count > 0' --alert-log "$TMP/alerts.jsonl" \
	--timeline "$D/rec.json" --timeline-last 30s --timeline-keep 2
"$WORK" --msgs 20000 >"$TMP/work.txt" || fail "workload failed"
STAMP='rec-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.json'
wait_log "an alert fired: wrote [1-9][0-9]* events to timeline $D/$STAMP" 20
kill -USR1 "$DPID"
wait_log "SIGUSR1: wrote [0-9]+ events to timeline $D/$STAMP" 20
sleep 0.01 # the next file gets another stamp (milliseconds)
kill -USR1 "$DPID"
for _ in $(seq 1 200); do
	[ "$(grep -Ec "SIGUSR1: wrote" "$DERR")" = 2 ] && break
	sleep 0.05
done
[ "$(grep -Ec "SIGUSR1: wrote" "$DERR")" = 2 ] || fail "the second SIGUSR1 wrote no timeline"
stop_daemon
grep -Eq "timeline: wrote [1-9][0-9]* events to timeline $D/$STAMP" "$DERR" ||
	fail "no timeline written at stop: $(grep timeline "$DERR")"
last=$(grep -Eo "timeline: wrote [0-9]+ events to timeline $D/$STAMP" "$DERR" | tail -1 | grep -Eo "$STAMP")
# four writes (alert, 2 x SIGUSR1, stop), two kept: the newest
ls "$D" >"$TMP/ls.txt"
n=$(grep -Ec "^$STAMP\$" "$TMP/ls.txt" || true)
[ "$n" = 2 ] || fail "$n timestamped files kept, expected 2: $(cat "$TMP/ls.txt")"
[ "$(grep -E "^$STAMP\$" "$TMP/ls.txt" | tail -1)" = "$last" ] ||
	fail "the newest file ($last) is not among those kept: $(cat "$TMP/ls.txt")"
[ -f "$D/rec.json.keepme" ] && [ -f "$D/rec-notastamp.json" ] || fail "other files were removed"
[ ! -e "$D/rec.json" ] || fail "the flight recorder wrote FILE itself"
! grep -q '\.tmp\.' "$TMP/ls.txt" || fail "a temporary file was left: $(cat "$TMP/ls.txt")"
for f in $(grep -E "^$STAMP\$" "$TMP/ls.txt"); do
	python3 - "$D/$f" <<'PY' || fail "$f is not a flight-recorder trace"
import json, sys
d = json.load(open(sys.argv[1]))
o = d["otherData"]
assert o["keep"] == "last" and o["last_s"] == 30, o
sends = [e for e in d["traceEvents"] if e.get("name") == "send"]
assert len(sends) > 0 and o["events"] > 0, o
PY
done
echo "PASS: daemon flight recorder: a timestamped timeline per alert, SIGUSR1 and stop; newest 2 kept"
