# kaos-trace --func (plain uprobes, entry to return) on a statically linked
# program with functions of known call counts: exact counts, every call
# timed, 0 lost. Exit 77 (skipped) from a kaos-trace that has no --func.
. "$(dirname "$0")/lib.sh"

"$KT" --help 2>&1 | grep -q -- '--func' || {
	echo "this kaos-trace has no --func"
	exit 77
}
PROG=$BIN/kt_funcs
[ -x "$PROG" ] || fail "missing $PROG"

# json_func FILE NAME FIELD: a field of function NAME in the final line
json_func() {
	json_final "$1" | awk -v name="$2" -v field="$3" '{
		n = split($0, part, /\{"index":/)
		for (i = 2; i <= n; i++)
			if (index(part[i], "\"name\":\"" name "\"") &&
			    match(part[i], "\"" field "\":[0-9]+")) {
				s = substr(part[i], RSTART, RLENGTH)
				sub(/.*:/, "", s)
				print s
			}
	}'
}
# json_any FILE KEY: the first KEY:number anywhere in the final line
json_any() {
	json_final "$1" | sed -n "s/.*\"$2\":\\([0-9]*\\).*/\\1/p"
}

start_tracer fn -b "$PROG" --func 'busy_*' --json "$TMP/fn.json"
"$PROG" --n20 300 --n100 50 >"$TMP/prog.txt" || fail "kt_funcs failed"
stop_tracer
for f in busy_20us busy_100us; do
	want=$(sed -n "s/^calls $f=\([0-9]*\)$/\1/p" "$TMP/prog.txt")
	[ "${want:-0}" -gt 0 ] || fail "$f: the program reports no calls"
	expect "$f calls" "$(json_func "$TMP/fn.json" "$f" calls)" "$want"
	expect "$f timed calls" "$(json_func "$TMP/fn.json" "$f" samples)" "$want"
done
f=$TMP/fn.json
expect lost "$(json_top "$f" lost)" 0
expect delivered "$(json_top "$f" delivered)" "$(json_top "$f" fired)"
for k in unmatched_returns abandoned untimed not_counted; do
	v=$(json_any "$f" $k)
	[ -n "$v" ] || fail "no $k in the final JSON line"
	expect "$k" "$v" 0
done
echo "PASS: --func counts exact"
