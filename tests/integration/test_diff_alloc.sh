#!/usr/bin/env bash
# kaos-trace diff on --alloc runs (BPF loaded): kt_alloc_workload, whose
# allocations are deterministic, traced with --allocs 2000 (twice) and 4000.
# Sites are matched by comm + symbolized stack: 2000 vs 2000 is "no change"
# everywhere (and --fail-if-more-allocs exits 0); 2000 vs 4000 has more
# allocations at the mix phase's site and in the process total, and
# --fail-if-more-allocs 10 exits 6. --json rows have kind alloc_site /
# alloc_total. A side without --alloc, a malformed "alloc" object: said, the
# latter in one line with exit 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW" "$WORK"

trace() { # NAME WORKLOAD-ARGS...
	local name=$1
	shift
	"$KT" --alloc --json "$TMP/$name.json" -- "$AW" --truth "$TMP/$name.truth" "$@" \
		>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "tracing $name: $(cat "$TMP/$name.err")"
}
trace base1 --allocs 2000
trace base2 --allocs 2000
trace more --allocs 4000

d() { # NAME DIFF-ARGS... ; sets RC
	local name=$1
	shift
	RC=0
	"$KT" diff "$@" >"$TMP/$name.out" 2>"$TMP/$name.errout" || RC=$?
}
SITE='kt_alloc_worklo [^ ]*main;phase_mix;block_alloc'

# the same counts: no change anywhere, the gate stays quiet
d same --fail-if-more-allocs 10 "$TMP/base1.json" "$TMP/base2.json"
cat "$TMP/same.out"
[ "$RC" = 0 ] || fail "same/same: exit $RC"
[ ! -s "$TMP/same.errout" ] || fail "same/same wrote to stderr: $(cat "$TMP/same.errout")"
grep -Eq "^$SITE: no change in allocations \(runs 1 -> 1\)$" "$TMP/same.out" ||
	fail "same/same: the mix site is not matched with no change"
grep -q '^kt_alloc_worklo (process total): no change in allocations' "$TMP/same.out" ||
	fail "same/same: the process total changed"
! grep -Eq ': (more|fewer) allocations|not in the top sites' "$TMP/same.out" ||
	fail "same/same: a change or an unmatched site"

# twice the mix phase's allocations: more, first, and the gate exits 6
d more --fail-if-more-allocs 10 "$TMP/base1.json" "$TMP/more.json"
cat "$TMP/more.out"
[ "$RC" = 6 ] || fail "more allocations: exit $RC, expected 6"
grep -q "more allocations by more than 10 % (--fail-if-more-allocs)" "$TMP/more.errout" ||
	fail "no gate line: $(cat "$TMP/more.errout")"
grep -Eq "^$SITE: more allocations" "$TMP/more.out" || fail "the mix site is not 'more'"
grep -A1 -E "^$SITE: more" "$TMP/more.out" | grep -Eq '^  allocs +1500 -> 3000 +\+100\.0%' ||
	fail "the mix site's allocations are not 1500 -> 3000"
grep -q '^kt_alloc_worklo (process total): more allocations' "$TMP/more.out" ||
	fail "the process total is not 'more'"

# two runs before: the interval is their envelope, still 'more'
d runs --json "$TMP/base1.json" "$TMP/base2.json" -- "$TMP/more.json"
[ "$RC" = 0 ] || fail "--json: exit $RC"
python3 - "$TMP/runs.out" <<'PY' || fail "diff --json on --alloc runs: $(cat "$TMP/runs.out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["alloc_runs_before"] == 2 and d["alloc_runs_after"] == 1, d
rows = d["series"]
tot = [r for r in rows if r["kind"] == "alloc_total"]
sites = {r["stack"].split(";", 1)[-1]: r for r in rows if r["kind"] == "alloc_site"}
assert [t["comm"] for t in tot] == ["kt_alloc_worklo"], tot
assert tot[0]["verdict"] == "more" and tot[0]["runs_before"] == 2, tot
assert set(tot[0]["counts"]) == {"allocs", "bytes", "peak_bytes", "leaked_bytes"}, tot
mix = [r for k, r in sites.items() if k.endswith("main;phase_mix;block_alloc")][0]
a = mix["counts"]["allocs"]
assert mix["presence"] == "both" and mix["verdict"] == "more", mix
assert a["before"] == a["before_lo"] == a["before_hi"] == 1500 and a["after"] == 3000, a
assert a["change_pct"] == 100 and a["change_pct_lo"] == 100, a
assert rows.index(tot[0]) < rows.index(mix), "totals come first"
PY

# a side without --alloc: said, nothing compared
"$KT" --sample 1 --json "$TMP/ring.json" -- "$WORK" --msgs 200 >/dev/null 2>"$TMP/ring.err" ||
	fail "tracing kt_workload"
d noalloc "$TMP/base1.json" "$TMP/ring.json"
[ "$RC" = 0 ] || fail "a side without --alloc: exit $RC"
grep -q "only the before runs traced allocations" "$TMP/noalloc.out" ||
	fail "a side without --alloc: $(cat "$TMP/noalloc.out")"

# a malformed "alloc" object: one line, exit 2, no report
python3 - "$TMP/base1.json" "$TMP/bad.json" <<'PY'
import json, sys
final = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
final["alloc"]["processes"][0]["top_sites"][0]["stack"] = 7
open(sys.argv[2], "w").write(json.dumps(final) + "\n")
PY
d bad "$TMP/base1.json" "$TMP/bad.json"
[ "$RC" = 2 ] || fail "malformed alloc: exit $RC"
[ "$(wc -l <"$TMP/bad.errout")" = 1 ] || fail "malformed alloc: not one line"
grep -q 'bad.json: not a kaos-trace JSON report (malformed' "$TMP/bad.errout" ||
	fail "malformed alloc: $(cat "$TMP/bad.errout")"
[ ! -s "$TMP/bad.out" ] || fail "malformed alloc wrote a report"
d badgate --fail-if-more-allocs x "$TMP/base1.json" "$TMP/more.json"
[ "$RC" = 2 ] && grep -q "invalid --fail-if-more-allocs 'x'" "$TMP/badgate.errout" ||
	fail "bad --fail-if-more-allocs: exit $RC"

echo "PASS: diff on --alloc runs: sites matched by comm + stack, no change on same/same," \
	"more allocations (exit 6) on 2000 -> 4000, --json alloc rows, bad input in one line"
