# kaos-trace --alloc (uprobes and uretprobes on glibc's allocator) on the
# dynamically linked kt_alloc_workload, traced from the start: allocations,
# bytes, free() calls, leaked blocks and bytes exactly the program's own
# ground truth, the peak within 1 % (exact on the host), nothing dropped;
# a static binary is refused in one line with exit 2. The guest has its
# loader and libc.so.6 at the target's paths (make vm-guest). Exit 77
# (skipped) from a kaos-trace that has no --alloc.
. "$(dirname "$0")/lib.sh"

"$KT" --help 2>&1 | grep -q -- '--alloc' || {
	echo "this kaos-trace has no --alloc"
	exit 77
}
AW=$BIN/kt_alloc_workload
[ -x "$AW" ] || fail "missing $AW"

# alloc_proc FILE KEY: KEY of the first process in the final line's "alloc"
# object (its counters come before its top_sites)
alloc_proc() {
	json_final "$1" | awk -v key="$2" '{
		s = substr($0, index($0, "\"alloc\":{\"allocator\""))
		s = substr(s, index(s, "\"processes\":[{"))
		if (match(s, "\"" key "\":[0-9]+")) {
			s = substr(s, RSTART, RLENGTH)
			sub(/.*:/, "", s)
			print s
		}
	}'
}
# truth FILE KEY: a top-level number of the program's ground truth
truth() {
	sed -n "s/.*[{,]\"$2\":\\([0-9]*\\).*/\\1/p" "$1"
}

f=$TMP/aw.json
t=$TMP/truth.json
"$KT" --alloc --json "$f" -- "$AW" --truth "$t" >"$TMP/aw.txt" 2>"$TMP/aw.err" ||
	fail "kaos-trace --alloc -- kt_alloc_workload failed"
[ -s "$t" ] || fail "the workload wrote no ground truth"
json_final "$f" | grep -q '"alloc":{"allocator":"glibc","exact":true,"dropped":false' ||
	fail "the alloc object is not glibc's, exact and without drops"
expect pid "$(alloc_proc "$f" pid)" "$(truth "$t" pid)"
seen=
for k in allocs:allocs bytes_allocated:bytes_allocated free_calls:frees \
	leaked_blocks:leaked_blocks leaked_bytes:leaked_bytes; do
	got=$(alloc_proc "$f" "${k%%:*}")
	want=$(truth "$t" "${k#*:}")
	seen="$seen ${k%%:*} $got/$want"
	[ -n "$want" ] && [ "$want" -gt 0 ] || fail "${k#*:}: no number in the ground truth"
	expect "${k%%:*}" "$got" "$want"
done
for k in freed_before_tracing failed; do
	expect "$k" "$(alloc_proc "$f" $k)" 0
done
got=$(alloc_proc "$f" peak_bytes)
want=$(truth "$t" peak_bytes)
echo "@@ ALLOC kaos-trace/truth:$seen peak_bytes $got/$want"
[ -n "$got" ] && [ "${want:-0}" -gt 0 ] || fail "no peak_bytes"
awk -v g="$got" -v w="$want" 'BEGIN {d = g - w; if (d < 0) d = -d; exit !(100 * d <= w)}' ||
	fail "peak_bytes: kaos-trace $got, truth $want: more than 1 % apart"

# a static binary: nothing to probe, one line, exit 2
rc=0
"$KT" --alloc -- "$WORK" --msgs 10 >"$TMP/static.out" 2>"$TMP/static.err" || rc=$?
expect "static binary: exit status" "$rc" 2
expect "static binary: lines on stderr" "$(wc -l <"$TMP/static.err" | tr -d ' ')" 1
grep -qF -- "--alloc: $WORK: static binary: no allocator to probe" "$TMP/static.err" ||
	fail "static binary: $(cat "$TMP/static.err")"
echo "PASS: --alloc exact against the program's ground truth; static binary refused"
