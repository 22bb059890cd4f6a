#!/usr/bin/env bash
# kaos-trace diff on real runs (BPF loaded): kt_workload traced three times
# per side, each message held 20 us in its ring (sojourn). The final --json
# line carries the histograms (latency_buckets, sojourn_buckets) that rebuild
# its percentiles. A side held 30 us: the sojourn is "slower" and
# --fail-if-slower 10 exits 5; a side identical to the first: no false alarm,
# exit 0 (one case: the 20-pair detection and false-alarm rates are a
# benchmark, not a test). A ring only in the after runs is "added", not an
# error. Files of another kind (folded, garbage, empty), a report without
# histograms, an empty run and bad arguments: one line, exit 2. --func
# functions are compared by name. --folded writes the differential folded
# stacks of two real --folded files (flamegraph.pl is not packaged in
# Debian: its rendering is not tested here).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

trace() { # NAME WORKLOAD-ARGS...
	local name=$1
	shift
	"$KT" --sample 1 --json "$TMP/$name.json" -- "$WORK" --msgs 2000 "$@" \
		>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "tracing $name"
}
for i in 1 2 3; do
	trace base$i --sojourn-us 20
	trace same$i --sojourn-us 20
	trace slow$i --sojourn-us 30
done
trace tworings --sojourn-us 20 --rings 2

# the buckets rebuild the summary's count and p50 (within one bucket: 1/32)
python3 - "$TMP/base1.json" <<'PY' || fail "latency_buckets do not match the summary"
import json, sys
final = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
ring = final["processes"][0]["rings"][0]
for lat, buckets in ((ring["send"]["latency"], ring["send"]["latency_buckets"]),
                     (ring["sojourn"], ring["sojourn_buckets"])):
    assert sum(c for _, c in buckets) == lat["count"] > 0, (lat, buckets)
    assert [b for b, _ in buckets] == sorted(b for b, _ in buckets)
    rank, seen = (lat["count"] + 1) // 2, 0
    for lo, c in buckets:
        seen += c
        if seen >= rank:
            break
    assert lo <= lat["p50"] <= lo + max(1, lo // 32), (lo, lat["p50"])
PY

d() { # NAME DIFF-ARGS... ; sets RC
	local name=$1
	shift
	RC=0
	"$KT" diff "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" || RC=$?
}
B3=("$TMP/base1.json" "$TMP/base2.json" "$TMP/base3.json")

# slower by 50 %: detected, and the gate fails the build
d slow --fail-if-slower 10 "${B3[@]}" -- "$TMP/slow1.json" "$TMP/slow2.json" "$TMP/slow3.json"
[ "$RC" = 5 ] || fail "slower side: exit $RC, expected 5"
grep -q "slower by more than 10 % at p50" "$TMP/slow.err" || fail "no gate line"
grep -q "^kt_workload work.0 sojourn: slower" "$TMP/slow.txt" || fail "sojourn not slower"
head -2 "$TMP/slow.txt" | tail -1 | grep -q "sojourn" || fail "the biggest change is not first"

# identical sides: no false alarm
d same --fail-if-slower 10 "${B3[@]}" -- "$TMP/same1.json" "$TMP/same2.json" "$TMP/same3.json"
[ "$RC" = 0 ] || fail "identical sides: exit $RC (false alarm)"
[ ! -s "$TMP/same.err" ] || fail "identical sides wrote to stderr"

# JSON, and the two-file form
d json --json "$TMP/base1.json" "$TMP/slow1.json"
[ "$RC" = 0 ] || fail "--json: exit $RC"
python3 - "$TMP/json.txt" <<'PY' || fail "diff --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["type"] == "diff" and d["runs_before"] == 1 and d["runs_after"] == 1, d
s = {(x["ring"], x["op"]): x for x in d["series"]}
soj = s[("work.0", "sojourn")]
assert soj["kind"] == "ring", soj
assert soj["presence"] == "both" and soj["verdict"] == "slower", soj
q = soj["quantiles"]["p50"]
assert 30 < q["change_pct"] < 70 and q["change_pct_lo"] > 0, q
assert q["before_lo"] <= q["before"] <= q["before_hi"], q
PY

# --func functions: by name, op "call" (the corrected latency)
FUNCS=$B/tests/progs/kt_funcs
need "$FUNCS"
for i in 1 2; do
	"$KT" --json "$TMP/func$i.json" --func 'busy_20us' -- "$FUNCS" --n20 500 \
		>"$TMP/func$i.txt" 2>"$TMP/func$i.err" || fail "tracing --func run $i"
done
d func "$TMP/func1.json" "$TMP/func2.json"
[ "$RC" = 0 ] || fail "--func diff: exit $RC"
grep -q "^kt_funcs busy_20us call: .*(ops 500 -> 500" "$TMP/func.txt" ||
	fail "--func diff: $(cat "$TMP/func.txt")"
d funcjson --json "$TMP/func1.json" "$TMP/func2.json"
python3 - "$TMP/funcjson.txt" <<'PY' || fail "--func diff --json: $(cat "$TMP/funcjson.txt")"
import json, sys
s = json.load(open(sys.argv[1]))["series"]
assert [(x["kind"], x["ring"], x["op"]) for x in s] == [("function", "busy_20us", "call")], s
PY

# --folded: real folded stacks in, "STACK BEFORE AFTER" out, the after counts
# scaled to the before total (twice the messages after: every count halves)
"$KT" --sample 1 --folded "$TMP/f1.folded" -- "$WORK" --msgs 2000 >/dev/null 2>"$TMP/f1.err" ||
	fail "tracing for --folded"
"$KT" --sample 1 --folded "$TMP/f2.folded" -- "$WORK" --msgs 4000 >/dev/null 2>"$TMP/f2.err" ||
	fail "tracing for --folded (after)"
d folded --folded "$TMP/f1.folded" "$TMP/f2.folded"
[ "$RC" = 0 ] || fail "--folded: exit $RC"
grep -Eq '^\[send\];kt_workload;.*;kaos_ring_send 2000 (19[89][0-9]|20[01][0-9])$' \
	"$TMP/folded.txt" || fail "--folded: $(cat "$TMP/folded.txt")"
[ "$(wc -l <"$TMP/folded.txt")" = "$(cat "$TMP/f1.folded" "$TMP/f2.folded" | sed 's/ [0-9]*$//' |
	sort -u | wc -l)" ] || fail "--folded: not one line per stack"
python3 - "$TMP/folded.txt" <<'PY' || fail "--folded: not three columns, or totals differ"
import sys
tb = ta = 0
for l in open(sys.argv[1]):
    stack, b, a = l.rsplit(" ", 2)
    tb, ta = tb + int(b), ta + int(a)
assert abs(tb - ta) <= tb / 100, (tb, ta)
PY

# a stdout that does not take the report: exit 1, said once
RC=0
"$KT" diff "$TMP/base1.json" "$TMP/slow1.json" >/dev/full 2>"$TMP/full.err" || RC=$?
[ "$RC" = 1 ] || fail "stdout on /dev/full: exit $RC, expected 1"
[ "$(cat "$TMP/full.err")" = "kaos-trace: write stdout: No space left on device" ] ||
	fail "/dev/full: $(cat "$TMP/full.err")"

# a ring on one side only: reported, not an error
d added "$TMP/base1.json" "$TMP/tworings.json"
[ "$RC" = 0 ] || fail "added ring: exit $RC"
grep -q "^kt_workload work.1 sojourn: added (only after" "$TMP/added.txt" || fail "work.1 not added"
d removed "$TMP/tworings.json" "$TMP/base1.json"
grep -q "^kt_workload work.1 send: removed" "$TMP/removed.txt" || fail "work.1 not removed"

# bad input: one line on stderr, exit 2, nothing on stdout
bad() { # NAME EXPECTED-RE DIFF-ARGS...
	local name=$1 re=$2
	shift 2
	d "$name" "$@"
	[ "$RC" = 2 ] || fail "$name: exit $RC, expected 2"
	[ "$(wc -l <"$TMP/$name.err")" = 1 ] || fail "$name: not one line: $(cat "$TMP/$name.err")"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: $(cat "$TMP/$name.err")"
	[ ! -s "$TMP/$name.txt" ] || fail "$name wrote a report"
}
printf 'main;kaos_ring_send 12\n' >"$TMP/x.folded"
head -c 300 /dev/urandom >"$TMP/garbage.json"
: >"$TMP/empty.json"
python3 - "$TMP/base1.json" "$TMP/old.json" "$TMP/norings.json" <<'PY'
import json, sys
final = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
def strip(o):  # the report of a kaos-trace before diff: no *_buckets anywhere
    if isinstance(o, dict):
        for k in [k for k in o if k.endswith("_buckets")]:
            del o[k]
    for v in o.values() if isinstance(o, dict) else o if isinstance(o, list) else ():
        strip(v)
strip(final)
assert "_buckets" not in json.dumps(final)
open(sys.argv[2], "w").write(json.dumps(final) + "\n")
final["processes"][0]["rings"] = []
open(sys.argv[3], "w").write(json.dumps(final) + "\n")
PY
bad folded "x.folded: not a kaos-trace JSON report \(line 1" "$TMP/base1.json" "$TMP/x.folded"
bad garbage "garbage.json: not a kaos-trace JSON report" "$TMP/garbage.json" "$TMP/base1.json"
bad empty "empty.json: empty file" "$TMP/base1.json" "$TMP/empty.json"
bad old "old.json: no latency histograms" "$TMP/old.json" "$TMP/base1.json"
bad norings "norings.json: empty run" "${B3[@]}" -- "$TMP/norings.json"
bad missing "nope.json: No such file" "$TMP/base1.json" "$TMP/nope.json"
bad one "usage: kaos-trace diff" "$TMP/base1.json"
bad noafter "usage: kaos-trace diff" "$TMP/base1.json" --
bad folded_json "base1.json: not folded stacks \(line 1" --folded "$TMP/f1.folded" "$TMP/base1.json"
bad folded_empty "empty.json: empty file, no folded stacks" --folded "$TMP/f1.folded" "$TMP/empty.json"
bad folded_gate "no --json, no --fail-if-\*" --folded --json "$TMP/f1.folded" "$TMP/f2.folded"
bad gate "invalid --fail-if-slower 'x'" --fail-if-slower x "$TMP/base1.json" "$TMP/slow1.json"

echo "PASS: diff detects a 50 % slower sojourn (exit 5), no false alarm on identical sides," \
	"--json, added/removed rings, bad input refused in one line"
