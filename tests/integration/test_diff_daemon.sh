#!/usr/bin/env bash
# kaos-trace diff on the daemon's interval JSON (BPF loaded): two daemon
# sessions with --json-dir and --json-interval 1s watch a private copy of
# kt_funcs (-b, --func busy_20us), the second while it runs 50 % slower
# (--slower 50). Every file is one "type":"interval" line carrying the
# histograms; diff reads the files of each side as runs (a quiet interval
# is no run, and no error) and finds busy_20us slower, --fail-if-slower 10
# exits 5. A --json-dir that is not there: one line, refused.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$B/tests/progs/kt_funcs"
# a copy: another inode, so that other kt_funcs runs on this machine are not traced
PROG=$TMP/kt_funcs_d
cp "$B/tests/progs/kt_funcs" "$PROG"

session() { # NAME KT_FUNCS-ARGS...
	local name=$1
	shift
	mkdir "$TMP/$name"
	start_daemon "$name" -b "$PROG" --func busy_20us --json-dir "$TMP/$name" \
		--json-interval 1s --listen off
	for i in 1 2 3; do
		# held alive until the daemon has its name (read from /proc at its first call
		# seen: a process gone by then is "?"), then stopped: its calls are done
		"$PROG" --n20 300 --hold-ms 600000 "$@" >"$TMP/$name-run$i.txt" &
		local pid=$!
		wait_file "$TMP/$name-run$i.txt" "^calls busy_20us=300$"
		wait_log "process: pid $pid \(kt_funcs_d\) traced"
		kill -TERM "$pid"
		wait "$pid" || true
	done
	stop_daemon # the last interval is written at stop
	ls "$TMP/$name"/kaos-trace-*.json >/dev/null 2>&1 || fail "$name: no JSON file written"
	! ls "$TMP/$name"/*.tmp >/dev/null 2>&1 || fail "$name: a .tmp file left"
}
session base
session slow --slower 50

# each file: one interval line with the histograms, all calls accounted for
python3 - "$TMP"/base/kaos-trace-*.json <<'PY' || fail "interval files"
import json, sys
calls = 0
for path in sys.argv[1:]:
    lines = [json.loads(l) for l in open(path) if l.strip()]
    assert len(lines) == 1 and lines[0]["type"] == "interval", (path, lines)
    assert lines[0]["span"] == "interval", path
    for p in lines[0]["processes"]:
        for f in p.get("functions", []):
            assert sum(c for _, c in f["latency_corrected_buckets"]) == f["samples"], f
            calls += f["calls"]
assert calls == 900, calls
PY

RC=0
"$KT" diff --fail-if-slower 10 "$TMP"/base/*.json -- "$TMP"/slow/*.json >"$TMP/diff.txt" \
	2>"$TMP/diff.err" || RC=$?
[ "$RC" = 5 ] || fail "daemon files, 50 % slower: exit $RC, expected 5"
grep -q "^kt_funcs_d busy_20us call: slower (ops 900 -> 900" "$TMP/diff.txt" ||
	fail "busy_20us not slower: $(cat "$TMP/diff.txt")"
grep -q "slower by more than 10 % at p50" "$TMP/diff.err" || fail "no gate line"

# a side of quiet intervals only: one line, exit 2
python3 - "$(ls "$TMP"/base/*.json | head -1)" "$TMP/quiet.json" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1]).readline())
line["processes"] = [dict(p, rings=[], functions=[]) for p in line["processes"]]
open(sys.argv[2], "w").write(json.dumps(line) + "\n")
PY
RC=0
"$KT" diff "$TMP/quiet.json" -- "$TMP"/slow/*.json >"$TMP/quiet.txt" 2>"$TMP/quiet.err" || RC=$?
[ "$RC" = 2 ] || fail "quiet side: exit $RC, expected 2"
grep -q "no samples in the 1 interval file of the before side" "$TMP/quiet.err" ||
	fail "quiet side: $(cat "$TMP/quiet.err")"

RC=0
"$KT" daemon -b "$PROG" --func busy_20us --json-dir "$TMP/nope" --listen off \
	>/dev/null 2>"$TMP/nodir.err" || RC=$?
[ "$RC" != 0 ] || fail "--json-dir missing: exit 0"
grep -q "json dir $TMP/nope: No such file or directory" "$TMP/nodir.err" ||
	fail "--json-dir missing: $(cat "$TMP/nodir.err")"

echo "PASS: the daemon's interval JSON (--json-dir) carries the histograms; diff reads it:" \
	"50 % slower found (exit 5), a side of quiet intervals refused"
