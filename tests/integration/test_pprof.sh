#!/usr/bin/env bash
# --pprof FILE, read back by Go's pprof (built by make from Debian's sources):
# one run of a program spinning in hot_spin writes --folded and --pprof; the
# share `pprof -top` gives hot_spin is the folded output's (within 2 points),
# `pprof -raw` shows the program's build-id and the labels (-tagfocus=ring=
# keeps the ring's sends, another ring's none), the ring traffic's event stacks
# are a send sample type ending at kaos_ring_send, counting what the folded
# output and the summary count, with a send_latency type beside it, --off-cpu
# is an off-cpu type with the folded nanoseconds, and `--pprof -` writes to
# stdout. Bad input: an unwritable FILE is one line and exit 1, a full
# device is an error and exit 1, --pprof - next to --json - is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOT=$B/tests/progs/kt_hotspin
PPROF=$B/tools/pprof
need "$KT" "$HOT" "$PPROF"

"$KT" --sample 1 --profile 997 --folded "$TMP/p.folded" --pprof "$TMP/p.pb.gz" -- "$HOT" --cpu-ms 1500 \
	--spin-us 15000 --ops 50 >"$TMP/run.txt" 2>"$TMP/run.err" || fail "kaos-trace --pprof failed"
grep -q "wrote a pprof profile ([0-9]* bytes) to $TMP/p.pb.gz" "$TMP/run.err" || fail "no 'wrote' line"
[ -z "$(find "$TMP" -name 'p.pb.gz.tmp*')" ] || fail "a temporary file was left"
gzip -t "$TMP/p.pb.gz" || fail "not a gzip file"

"$PPROF" -top "$TMP/p.pb.gz" >"$TMP/top.txt" 2>"$TMP/top.err" || fail "pprof -top failed"
grep -q '^Type: cpu$' "$TMP/top.txt" || fail "the default sample type is not cpu"
pp=$(awk '$NF == "hot_spin" {sub("%", "", $2); print $2}' "$TMP/top.txt")
[ -n "$pp" ] || fail "pprof -top does not name hot_spin"
fp=$(grep '^\[cpu\];' "$TMP/p.folded" |
	awk '{t += $NF} /;hot_spin [0-9]+$/ {h += $NF} END {if (t) printf "%.2f", 100 * h / t}')
[ -n "$fp" ] || fail "no [cpu] stacks in the folded output"
echo "hot_spin: pprof $pp %, folded $fp %"
awk -v a="$pp" -v b="$fp" 'BEGIN {d = a - b; exit !(a >= 40 && d <= 2 && d >= -2)}' ||
	fail "hot_spin: pprof $pp % vs folded $fp %"

# mappings: the program's build-id, as readelf reads it from the file
id=$(readelf -n "$HOT" | awk '/Build ID:/ {print $3}')
[ -n "$id" ] || fail "no build-id in $HOT"
"$PPROF" -raw "$TMP/p.pb.gz" >"$TMP/raw.txt" 2>"$TMP/raw.err" || fail "pprof -raw failed"
grep -Eq "kt_hotspin $id \[FN\]" "$TMP/raw.txt" || fail "pprof -raw lacks the mapping of kt_hotspin with build-id $id"
grep -q 'pid:\[[0-9]*\]' "$TMP/raw.txt" || fail "no pid label"
grep -q 'comm:\[kt_hotspin\]' "$TMP/raw.txt" || fail "no comm label"

# labels ring and op: -tagfocus=ring=hotspin keeps every send, another ring none
grep -q 'ring:\[hotspin\]' "$TMP/raw.txt" || fail "no ring label"
grep -q 'op:\[send\]' "$TMP/raw.txt" || fail "no op label"
"$PPROF" -sample_index=send -tagfocus=ring=hotspin -top "$TMP/p.pb.gz" >"$TMP/ring.txt" 2>&1 ||
	fail "pprof -tagfocus=ring=hotspin failed: $(cat "$TMP/ring.txt")"
"$PPROF" -sample_index=send -tagfocus=ring=other -top "$TMP/p.pb.gz" >"$TMP/noring.txt" 2>&1 || true

# the event stacks: a send sample type, stacks ending at the API call
"$PPROF" -sample_index=send -top "$TMP/p.pb.gz" >"$TMP/send.txt" 2>"$TMP/send.err" ||
	fail "pprof -sample_index=send failed"
grep -q '^Type: send$' "$TMP/send.txt" || fail "no send sample type"
awk '$NF == "kaos_ring_send" && $2 == "100%" {ok = 1} END {exit !ok}' "$TMP/send.txt" ||
	fail "send stacks do not all end at kaos_ring_send"
# counts and latencies both: the send count is the folded output's (which
# --pprof leaves counting events) and the summary's
sends=$(awk '/^\[send\];/ {t += $NF} END {print t + 0}' "$TMP/p.folded")
grep -Eq "Total samples = $sends *\$" "$TMP/send.txt" || fail "pprof send total is not the folded $sends"
grep -Eq "hotspin +send +$sends " "$TMP/run.txt" || fail "the summary's send count is not $sends"
grep -q "^Showing nodes accounting for $sends, 100% of $sends total" "$TMP/ring.txt" ||
	fail "-tagfocus=ring=hotspin does not keep the $sends sends"
grep -q "^Showing nodes accounting for 0, 0% of $sends total" "$TMP/noring.txt" ||
	fail "-tagfocus=ring=other kept sends"

"$PPROF" -sample_index=send_latency -top "$TMP/p.pb.gz" >"$TMP/lat.txt" 2>"$TMP/lat.err" ||
	fail "pprof -sample_index=send_latency failed"
grep -q '^Type: send_latency$' "$TMP/lat.txt" || fail "no send_latency sample type"
grep -Eq 'Total samples = [0-9.]+(ns|us|ms|s)( |$)' "$TMP/lat.txt" || fail "no send latency total in time units"

# --off-cpu: an off-cpu/nanoseconds type (the first column without --profile)
# holding the folded output's nanoseconds, thread names as comm labels
OFF=$B/tests/progs/kt_offcpu
need "$OFF"
"$KT" --sample 1 --off-cpu --folded "$TMP/off.folded" --pprof "$TMP/off.pb.gz" -- "$OFF" --ms 800 \
	>"$TMP/off.txt" 2>"$TMP/off.err" || fail "kaos-trace --off-cpu --pprof failed"
"$PPROF" -raw "$TMP/off.pb.gz" >"$TMP/offraw.txt" 2>"$TMP/offraw.err" || fail "pprof -raw (off-cpu) failed"
grep -q '^off-cpu/nanoseconds ' "$TMP/offraw.txt" || fail "off-cpu/nanoseconds is not the first sample type"
pns=$(awk '/^Samples:/ {s = 1; next} /^Locations/ {s = 0} s && /^ +[0-9]+ .*:/ {t += $1} END {printf "%.0f", t}' "$TMP/offraw.txt")
fns=$(awk '/^\[off-cpu\];/ {t += $NF} END {printf "%.0f", t}' "$TMP/off.folded")
if [ "$fns" -le 0 ] || [ "$pns" != "$fns" ]; then fail "off-cpu ns: pprof $pns, folded $fns"; fi
grep -q 'comm:\[consumer\]' "$TMP/offraw.txt" || fail "no comm label of the consumer thread"

# - is stdout; the text report then goes to stderr
"$KT" --profile 97 --pprof - -- "$HOT" --cpu-ms 300 --spin-us 5000 --ops 5 >"$TMP/out.pb.gz" 2>"$TMP/out.err" ||
	fail "--pprof - failed"
gzip -t "$TMP/out.pb.gz" || fail "--pprof - wrote no gzip stream to stdout"
"$PPROF" -top "$TMP/out.pb.gz" >"$TMP/out-top.txt" 2>&1 || fail "pprof cannot read --pprof - output"

# bad input
# --alloc's towers as Go's heap profile: alloc_objects/alloc_space, inuse_* for the leaks;
# the totals are the workload's own (traced from the start: exact)
AW=$B/tests/progs/kt_alloc_workload
need "$AW"
"$KT" --alloc --pprof "$TMP/heap.pb.gz" -- "$AW" --truth "$TMP/truth.json" >"$TMP/heap.txt" 2>"$TMP/heap.err" ||
	fail "--alloc --pprof failed: $(tail -3 "$TMP/heap.err")"
"$PPROF" -raw "$TMP/heap.pb.gz" >"$TMP/heap.raw" 2>/dev/null || fail "pprof -raw of the heap profile failed"
grep -q '^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes$' "$TMP/heap.raw" ||
	fail "heap sample types: $(grep -A1 '^Samples:' "$TMP/heap.raw")"
sums=$(awk '/^Samples:/ {s = 1; next} s && /^ *[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+:/ {
	a += $1; b += $2; c += $3; d += $4 } /^Locations/ {s = 0} END {print a, b, c, d}' "$TMP/heap.raw")
want=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["allocs"], t["bytes_allocated"], t["leaked_blocks"], t["leaked_bytes"])' "$TMP/truth.json")
[ "$sums" = "$want" ] || fail "heap profile sums (objects bytes leaked-objects leaked-bytes) $sums, truth $want"
rc=0
"$KT" --profile 97 --pprof /nonexistent-dir/x.pb.gz -- "$HOT" --cpu-ms 100 >"$TMP/bad.txt" 2>"$TMP/bad.err" || rc=$?
[ "$rc" = 1 ] || fail "unwritable FILE: exit $rc, expected 1"
[ "$(wc -l <"$TMP/bad.err")" = 1 ] || fail "unwritable FILE: not one line: $(cat "$TMP/bad.err")"
grep -q '^kaos-trace: cannot write /nonexistent-dir/x.pb.gz: No such file or directory$' "$TMP/bad.err" ||
	fail "unwritable FILE: $(cat "$TMP/bad.err")"
rc=0
"$KT" --profile 97 --pprof /dev/full -- "$HOT" --cpu-ms 300 --spin-us 5000 --ops 5 >"$TMP/full.txt" 2>"$TMP/full.err" || rc=$?
[ "$rc" = 1 ] || fail "full device: exit $rc, expected 1"
grep -q '^kaos-trace: writing /dev/full failed: No space left on device$' "$TMP/full.err" ||
	fail "full device: $(cat "$TMP/full.err")"
rc=0
"$KT" --profile 97 --pprof - --json - -- "$HOT" --cpu-ms 100 >"$TMP/two.txt" 2>"$TMP/two.err" || rc=$?
[ "$rc" = 2 ] || fail "--pprof - --json -: exit $rc, expected 2"
grep -q 'would both write to stdout' "$TMP/two.err" || fail "--pprof - --json -: $(cat "$TMP/two.err")"
echo "PASS: --pprof read by Go's pprof: hot_spin $pp % (folded $fp %), build-id, send stacks, heap profile = the truth ($want), stdout, errors"
