#!/usr/bin/env bash
# A program built with old plain 5-byte-nop probe sites is the fork hazard on
# kernels that optimise them (6.18: a child forked while traced dies with
# SIGSEGV). kaos-trace refuses to attach to it, with one line naming the way
# out, before the command runs; whether or not the self-test ran
# (--no-calibrate); --allow-nop5-sites traces it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
NOP5=$B/vm/guest/bin/kt_probe_cost-nop5 # static, measuring-only nop5 build (make vm-guest)
need "$KT" "$NOP5"

for extra in "" --no-calibrate; do
	rc=0
	"$KT" --sample 1 $extra -- "$NOP5" --pairs 1000 >"$TMP/out.txt" 2>"$TMP/err.txt" || rc=$?
	[ $rc -ne 0 ] || fail "nop5 target ${extra:-(self-test)}: exit 0, expected a refusal"
	grep -q 'plain 5-byte nops.*--allow-nop5-sites' "$TMP/err.txt" ||
		fail "nop5 target ${extra:-(self-test)}: no refusal line: $(cat "$TMP/err.txt")"
	[ "$(grep -c '^kaos-trace: .*5-byte nops' "$TMP/err.txt")" -eq 1 ] ||
		fail "nop5 target: the refusal is not one line: $(cat "$TMP/err.txt")"
	! grep -q 'pairs' "$TMP/out.txt" || fail "the refused command ran: $(cat "$TMP/out.txt")"
done
"$KT" --sample 1 --allow-nop5-sites --json "$TMP/ok.json" -- "$NOP5" --pairs 1000 \
	>"$TMP/ok.txt" 2>"$TMP/ok.err" || fail "--allow-nop5-sites: $(tail -3 "$TMP/ok.err")"
python3 - "$TMP/ok.json" <<'PY' || fail "--allow-nop5-sites: the sends were not counted"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
sends = sum(r["send"]["ops"] for p in last["processes"] for r in p["rings"] if "send" in r)
sys.exit(0 if sends >= 1000 else 1)
PY
# the daemon: a watched nop5 program stops the start with one error line
rc=0
timeout 60 "$KT" daemon --watch "$NOP5" --listen off --sample 1 >"$TMP/d.out" 2>"$TMP/d.err" || rc=$?
[ $rc -eq 1 ] || fail "daemon --watch nop5: exit $rc, expected 1"
grep -q 'error: .*plain 5-byte nops.*allow[-_]nop5[-_]sites' "$TMP/d.err" ||
	fail "daemon --watch nop5: no refusal: $(cat "$TMP/d.err")"
"$KT" daemon --watch "$NOP5" --listen off --sample 1 --allow-nop5-sites >"$TMP/d2.out" \
	2>"$TMP/d2.err" &
dpid=$!
for _ in $(seq 1 300); do
	grep -q 'running: .* probe links on 1 path' "$TMP/d2.err" && break
	kill -0 $dpid 2>/dev/null || break
	sleep 0.1
done
kill -TERM $dpid 2>/dev/null || true
wait $dpid || true
grep -q 'running: .* probe links on 1 path' "$TMP/d2.err" ||
	fail "daemon --allow-nop5-sites did not attach: $(cat "$TMP/d2.err")"
echo "PASS: nop5 targets refused (CLI with and without the self-test, daemon), traced with --allow-nop5-sites"
