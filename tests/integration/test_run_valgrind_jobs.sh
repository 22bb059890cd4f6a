#!/usr/bin/env bash
# tests/run.sh valgrind, in a copy of the harness with stand-ins (unit tests
# and a valgrind that runs its program): on two CPUs or more, two tests run
# at once (each waits for the other to have started); every test is reported
# once, in the directory's order, with its own log; a failing one is a FAIL
# line, named and counted.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(nproc)" -ge 2 ] || { echo "one CPU: the valgrind tests run one at a time" >&2; exit 77; }

h=$TMP/harness
mkdir -p "$h/tests" "$h/build/tests/unit" "$TMP/bin" "$TMP/marks"
cp tests/run.sh "$h/tests/"
# shellcheck disable=SC2016 # the stand-in expands it
printf '#!/usr/bin/env bash\nexec "${@: -1}"\n' >"$TMP/bin/valgrind"
# t_N: marks itself started, waits (at most 20 s) for PARTNER, says whether it came
stand_in() { # NAME PARTNER STATUS
	cat >"$h/build/tests/unit/$1" <<STUB
#!/usr/bin/env bash
touch "$TMP/marks/$1"
for _ in \$(seq 1 400); do
	[ -z "$2" ] || [ -e "$TMP/marks/$2" ] && break
	sleep 0.05
done
[ -z "$2" ] || [ -e "$TMP/marks/$2" ] && echo "$1 met ${2:-nobody}" >>"$TMP/order" || echo "$1 alone" >>"$TMP/order"
echo "log of $1"
exit $3
STUB
}
stand_in t_1 t_2 0
stand_in t_2 t_1 1
stand_in t_3 "" 0
chmod +x "$TMP/bin/valgrind" "$h/build/tests/unit"/*
rc=0
(cd "$h" && PATH=$TMP/bin:$PATH B=build bash tests/run.sh valgrind) >"$TMP/out.txt" 2>&1 || rc=$?
cat "$TMP/order" "$TMP/out.txt"
[ $rc -eq 1 ] || fail "run.sh valgrind exited $rc, expected 1 (t_2 fails)"
grep -qx "t_1 met t_2" "$TMP/order" && grep -qx "t_2 met t_1" "$TMP/order" ||
	fail "t_1 and t_2 did not run at once"
grep -Eo '^(PASS|FAIL)  [a-z]+/[a-z0-9_]+' "$TMP/out.txt" >"$TMP/lines"
printf '%s\n' "PASS  valgrind/t_1" "FAIL  valgrind/t_2" "PASS  valgrind/t_3" | diff -u - "$TMP/lines" ||
	fail "not one line per test in the directory's order"
grep -q '| log of t_2' "$TMP/out.txt" || fail "the failing test's log is not shown"
for t in t_1 t_2 t_3; do
	grep -qx "log of $t" "$h/build/test-logs/valgrind_$t.log" || fail "$t: not its own log"
done
grep -qx 'failed: valgrind/t_2' "$TMP/out.txt" || fail "the failed test is not named"
grep -qx '2 passed, 1 failed' "$TMP/out.txt" || fail "the count"
echo "PASS: run.sh valgrind: two tests at once on two CPUs, reported in order with their own logs"
