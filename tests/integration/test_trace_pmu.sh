#!/usr/bin/env bash
# --pmu: per-operation counter values next to the library's durations.
# cpu-clock is per CPU: the value of an operation is the CPU time between
# the thread's previous probe hit and this one, so it covers the operation
# (>= its duration) plus one probe hit and the loop around it. Tolerance:
# p50(dur) <= p50(cpu-clock/op) <= p50(dur) + 4 probe hits + 20 us.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# an unknown name: one line, close matches, exit 2
rc=0
"$KT" --pmu cycels -p 1 >"$TMP/bad.txt" 2>"$TMP/bad.err" || rc=$?
[ $rc -eq 2 ] || fail "unknown event: exit $rc, expected 2"
[ "$(wc -l <"$TMP/bad.err")" -eq 1 ] || fail "unknown event: not one line: $(cat "$TMP/bad.err")"
grep -q "unknown event 'cycels'.*close matches:.*CYCLES" "$TMP/bad.err" ||
	fail "no close matches: $(cat "$TMP/bad.err")"

# libpfm4 is dlopen()ed only for --pmu and `pmu list`: not mapped by a plain run,
# and a missing library is one line naming the package, exit 1, for both
if ldd "$KT" | grep -q libpfm; then
	fail "kaos-trace is linked against libpfm (it should dlopen it for --pmu)"
fi
for cmd in "--pmu cpu-clock -p 1" "pmu list"; do
	rc=0
	# shellcheck disable=SC2086 # the words of the command
	KAOS_TRACE_TEST_LIBPFM=libpfm-missing.so.4 "$KT" $cmd >"$TMP/nolib.txt" \
		2>"$TMP/nolib.err" || rc=$?
	[ $rc -eq 1 ] || fail "$cmd without libpfm4: exit $rc, expected 1"
	[ "$(wc -l <"$TMP/nolib.err")" -eq 1 ] ||
		fail "$cmd without libpfm4: not one line: $(cat "$TMP/nolib.err")"
	grep -q "cannot load libpfm4 (libpfm-missing.so.4: .*install the libpfm4 package" \
		"$TMP/nolib.err" || fail "$cmd without libpfm4: $(cat "$TMP/nolib.err")"
done

# pmu list: the generic and software events, cpu-clock openable
"$KT" pmu list >"$TMP/list.txt" || fail "pmu list failed"
grep -Eq '^  CPU-CLOCK +yes$' "$TMP/list.txt" || fail "pmu list: CPU-CLOCK not openable"
grep -Eq '^  (CYCLES|CPU-CYCLES) +(yes|no)$' "$TMP/list.txt" || fail "pmu list: no CYCLES line"

# cycles where there is no PMU: one line naming what works, then carry on
"$KT" --sample 1 --pmu cycles,cpu-clock --json "$TMP/pmu.json" -- "$WORK" --msgs 20000 --batch 1 \
	>"$TMP/pmu.txt" 2>"$TMP/pmu.err" || fail "kaos-trace --pmu failed"
if grep -Eq '^  CYCLES +no$' "$TMP/list.txt"; then
	grep -q -- "--pmu cycles: cannot count it here.*software events that work: cpu-clock" \
		"$TMP/pmu.err" || fail "no 'cannot count cycles' line"
fi
grep -Eq 'send cpu-clock/op +[0-9]+' "$TMP/pmu.txt" || fail "no send cpu-clock/op row"
json_check "$TMP/pmu.json" \
	'final["processes"][0]["rings"][0]["send"]["ops"] == 20000' \
	'final["processes"][0]["rings"][0]["send"]["pmu"]["cpu-clock"]["count"] >= 19000' \
	'final["processes"][0]["rings"][0]["recv"]["pmu"]["cpu-clock"]["count"] >= 19000'
python3 - "$TMP/pmu.json" <<'PY' || fail "cpu-clock per op not consistent with the durations"
import json, sys
f = json.loads(open(sys.argv[1]).readlines()[-1])
hit = f["probe_hit_ns"]
r = f["processes"][0]["rings"][0]
for op in ("send", "recv"):
    dur = r[op]["latency"]["p50"]
    clk = r[op]["pmu"]["cpu-clock"]["p50"]
    hi = dur + 4 * hit + 20000
    print("%s: p50 dur %d ns, p50 cpu-clock/op %d ns, probe hit %.0f ns, allowed [%d, %d]"
          % (op, dur, clk, hit, dur, hi))
    if not (dur <= clk <= hi):
        sys.exit(1)
PY
echo "PASS: --pmu cpu-clock per operation within [dur, dur + 4 hits + 20 us]"
