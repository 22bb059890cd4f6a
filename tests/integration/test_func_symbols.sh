#!/usr/bin/env bash
# Symbols that are not in the file kaos-trace probes (tests/progs/kt_symbols):
#  1. --func on libc's IFUNCs strlen and memcpy with -p PID probes the
#     implementation the process uses (read from its IRELATIVE GOT slot),
#     says which symbol and address on stderr, and counts the real calls
#     (the program's own, plus at most a few libc makes for itself); list
#     --func shows the same implementation, by pid and by path (kaos-trace's
#     own choice on this CPU). Before: memcpy probed the unused compatibility
#     symbol memcpy@GLIBC_2.2.5 and counted 0, strlen was refused.
#  2. An IFUNC of a test library that the library never calls itself
#     (libkt_ifunc.so: kt_ifunc_sum, resolved to sum_unrolled): with -p PID
#     the choice is read from the caller's GOT slot and the calls counted
#     exactly; by path it is refused with the reason. Before: refused both
#     ways.
#  3. A static function of a stripped executable whose .symtab lives in a
#     separate debug file (objcopy --only-keep-debug, .gnu_debuglink, beside
#     it or in .debug/): --func finds it and counts exactly.
#  4. Folded stacks of calls made in a thread of that stripped executable
#     read start_thread (libc's debug file, libc6-dbg, by build-id) and the
#     executable's static functions (its debug file, by debuglink), not
#     libc.so.6+0x... and kt_symbols+0x....
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PROG=$PWD/$B/tests/progs/kt_symbols
need "$KT" "$PROG"
LIBC_DEBUG=$(readelf -n "/lib/$(uname -m)-linux-gnu/libc.so.6" |
	sed -n 's/.*Build ID: \(..\)\(.*\)/\/usr\/lib\/debug\/.build-id\/\1\/\2.debug/p' | head -1)
[ -n "$LIBC_DEBUG" ] && [ -f "$LIBC_DEBUG" ] ||
	fail "libc's debug file ${LIBC_DEBUG:-?} is missing: install libc6-dbg (make deps)"
calls() { sed -n "s/^calls $2=\([0-9]*\)$/\1/p" "$1"; }
# fcalls JSON NAME: the calls kaos-trace counted for function NAME
fcalls() {
	python3 - "$1" "$2" <<'PY'
import json, sys
final = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
print(sum(f["calls"] for p in final["processes"] for f in p["functions"] if f["name"] == sys.argv[2]))
PY
}

echo "== 1. IFUNCs: the implementation the process uses"
coproc W { "$PROG" --wait --strlen 5000 --memcpy 3000; }
cpid=$W_PID
read -r ready wpid <&"${W[0]}"
# a copy: bash closes and unsets W once it reaps the coprocess, which
# can be before the cat below (a short workload, once it has its go)
exec {W_OUT}<&"${W[0]}"
[ "$ready" = ready ] || fail "kt_symbols did not start"
"$KT" list --func 'libc.so.6:strlen' --func 'libc.so.6:memcpy' "$wpid" >"$TMP/list_pid.txt" ||
	fail "list by pid failed"
start_tracer ifunc -p "$wpid" --func 'libc.so.6:strlen' --func 'libc.so.6:memcpy' \
	--json "$TMP/ifunc.json"
echo go >&"${W[1]}"
cat <&"$W_OUT" >"$TMP/prog1.txt"
exec {W_OUT}<&-
wait "$cpid" || fail "kt_symbols failed"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
for f in strlen memcpy; do
	line=$(grep -E "^kaos-trace: --func 'libc.so.6:$f': $f is an IFUNC: probing [^ ]+ at libc.so.6\+0x[0-9a-f]+ \(file offset 0x[0-9a-f]+\), the implementation pid $wpid uses$" "$TMP/ifunc.err") ||
		fail "$f: no line naming the implementation probed"
	impl=$(echo "$line" | sed 's/.* probing \([^ ]*\) at libc.so.6+\(0x[0-9a-f]*\) .*/\1/')
	addr=$(echo "$line" | sed 's/.* probing \([^ ]*\) at libc.so.6+0x0*\([0-9a-f]*\) .*/\2/')
	grep -Eq "^kaos-trace: --func: probing $impl at 0x0*$addr \(file offset 0x[0-9a-f]+, [^)]+\) in .*/libc\.so\.6, the implementation of IFUNC $f in use$" "$TMP/ifunc.err" ||
		fail "$f: the start-up lines do not name $impl at 0x$addr"
	want=$(calls "$TMP/prog1.txt" $f)
	got=$(fcalls "$TMP/ifunc.json" "$impl")
	echo "$f -> $impl at 0x$addr: $got calls counted, the program made $want"
	[ "$got" -ge "$want" ] && [ "$got" -le $((want + 64)) ] ||
		fail "$f: $got calls of $impl counted, the program made $want (+ at most 64 of libc's own)"
	grep -Eq "^  $impl +0x0*$addr .* ok \(the implementation of IFUNC $f in use\)$" "$TMP/list_pid.txt" ||
		fail "list by pid does not show $impl at 0x$addr for $f: $(cat "$TMP/list_pid.txt")"
	"$KT" list --func "libc.so.6:$f" "$PROG" >"$TMP/list_path.txt" || fail "list by path failed"
	grep -Eq "^  $impl +0x0*$addr .* ok \(the implementation of IFUNC $f in use\)$" "$TMP/list_path.txt" ||
		fail "list by path does not pick $impl for $f: $(cat "$TMP/list_path.txt")"
done
grep -q '(.symtab of its separate debug file)' "$TMP/list_pid.txt" ||
	fail "list does not say libc's symbols come from its debug file"
echo "ok: strlen and memcpy counted in the implementations the process uses"

echo "== 2. an IFUNC only its callers' GOT slots resolve"
coproc W { "$PROG" --wait --ifunc 3000; }
cpid=$W_PID
read -r ready wpid <&"${W[0]}"
# a copy: bash closes and unsets W once it reaps the coprocess, which
# can be before the cat below (a short workload, once it has its go)
exec {W_OUT}<&"${W[0]}"
[ "$ready" = ready ] || fail "kt_symbols did not start"
start_tracer lib -p "$wpid" --func 'libkt_ifunc.so:kt_ifunc_sum' --json "$TMP/lib.json"
echo go >&"${W[1]}"
cat <&"$W_OUT" >"$TMP/prog_lib.txt"
exec {W_OUT}<&-
wait "$cpid" || fail "kt_symbols failed"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc"
grep -Eq "^kaos-trace: --func 'libkt_ifunc.so:kt_ifunc_sum': kt_ifunc_sum is an IFUNC: probing sum_unrolled at libkt_ifunc.so\+0x[0-9a-f]+ \(file offset 0x[0-9a-f]+\), the implementation pid $wpid uses$" "$TMP/lib.err" ||
	fail "no line naming sum_unrolled"
[ "$(calls "$TMP/prog_lib.txt" kt_ifunc_sum)" = 3000 ] || fail "the program did not make 3000 calls"
[ "$(fcalls "$TMP/lib.json" sum_unrolled)" = 3000 ] ||
	fail "sum_unrolled: $(fcalls "$TMP/lib.json" sum_unrolled) calls counted, expected 3000"
rc=0
"$KT" list --func 'libkt_ifunc.so:kt_ifunc_sum' "$PROG" >"$TMP/list_lib.txt" 2>&1 || rc=$?
grep -q "kt_ifunc_sum .* refused: IFUNC its own object never calls .*give -p PID" "$TMP/list_lib.txt" ||
	fail "by path: no refusal with the reason: $(cat "$TMP/list_lib.txt")"
echo "ok: kt_ifunc_sum -> sum_unrolled through the caller's GOT slot, 3000 calls; refused by path"

echo "== 3. a static function of a stripped executable, through its debug file"
mkdir "$TMP/dbg"
objcopy --only-keep-debug "$PROG" "$TMP/dbg/kt_symbols.debug"
objcopy --strip-all --add-gnu-debuglink="$TMP/dbg/kt_symbols.debug" "$PROG" "$TMP/dbg/kt_symbols"
readelf -S "$TMP/dbg/kt_symbols" | grep -c '\.symtab' >/dev/null && fail "objcopy left a .symtab"
nm -D "$TMP/dbg/kt_symbols" | grep -c local_busy >/dev/null && fail "local_busy is exported"
"$KT" list --func local_busy "$TMP/dbg/kt_symbols" >"$TMP/list2.txt" || fail "list: $(cat "$TMP/list2.txt")"
grep -q "(.symtab of its separate debug file)" "$TMP/list2.txt" || fail "list does not name the debug file"
# the other place of a debuglink name: the .debug/ directory beside the file
mkdir -p "$TMP/dbg2/.debug"
cp "$TMP/dbg/kt_symbols" "$TMP/dbg2/kt_symbols"
cp "$TMP/dbg/kt_symbols.debug" "$TMP/dbg2/.debug/"
"$KT" list --func local_busy "$TMP/dbg2/kt_symbols" >"$TMP/list2b.txt" || fail "list (.debug/): $(cat "$TMP/list2b.txt")"
grep -Eq "^  local_busy .* ok$" "$TMP/list2b.txt" || fail "local_busy not found through .debug/"
start_tracer local -b "$TMP/dbg/kt_symbols" --func local_busy --json "$TMP/local.json" \
	--folded "$TMP/local.folded"
# the copy lost its $ORIGIN rpath to libkaos.so and libkt_ifunc.so
LD_LIBRARY_PATH=$PWD/$B:$PWD/$B/tests/progs "$TMP/dbg/kt_symbols" --local 2000 --thread >"$TMP/prog2.txt" ||
	fail "stripped kt_symbols failed"
stop_tracer
[ "$(fcalls "$TMP/local.json" local_busy)" = 2000 ] ||
	fail "local_busy: $(fcalls "$TMP/local.json" local_busy) calls counted, expected 2000"
echo "ok: local_busy found in the debug file, 2000 calls"

echo "== 4. folded stacks through libc and the stripped executable"
cat "$TMP/local.folded"
grep -Eq '^\[local_busy\];kt_symbols;start_thread;run [0-9]+$' "$TMP/local.folded" ||
	fail "no [local_busy];kt_symbols;start_thread;run stack: $(head -3 "$TMP/local.folded")"
grep -Eq '\+0x' "$TMP/local.folded" && fail "unsymbolized frames left: $(grep '+0x' "$TMP/local.folded")"
echo "PASS: IFUNC implementations, static functions and thread roots through separate debug files"
