#!/usr/bin/env bash
# tests/run.sh vm, with a stand-in vmtest.sh in a copy of the harness: two
# x86_64 kernels (single-threaded TCG guests) run at once, an aarch64 one
# (multi-threaded TCG) never beside another; every kernel is reported once,
# in the matrix's order, a failing one as FAIL with the count.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ -w /dev/kvm ]; then echo "SKIP: /dev/kvm here: x86_64 guests use KVM, never paired" >&2; exit 77; fi
[ "$(nproc)" -ge 2 ] || { echo "one CPU: no VMs are paired" >&2; exit 77; }

h=$TMP/harness
mkdir -p "$h/tests/vm" "$TMP/running" "$TMP/started"
cp tests/run.sh "$h/tests/"
# stand-in: marks itself running, checks its company, waits for a partner if told
cat >"$h/tests/vm/vmtest.sh" <<'STUB'
#!/usr/bin/env bash
k=$4 dir=$KT_STUB_DIR
touch "$dir/running/$k" "$dir/started/$k"
case $k in x1) p=x2 ;; x2) p=x1 ;; x4) p=x5 ;; x5) p=x4 ;; *) p= ;; esac
if [ -n "$p" ]; then
	# its partner: the other x86_64 kernel of its pair, started (at most 20 s) while it runs
	for _ in $(seq 1 400); do
		[ -e "$dir/started/$p" ] && break
		sleep 0.05
	done
	[ -e "$dir/started/$p" ] && echo "$k met $p" >>"$dir/order" || echo "$k ran alone" >>"$dir/order"
else
	others=$(ls "$dir/running" | grep -vx "$k" | tr '\n' ' ')
	echo "$k beside: ${others:-nothing}" >>"$dir/order"
fi
rm "$dir/running/$k"
echo "vmtest: $2 $k: 1 passed, 0 failed"
[ "$k" != x5 ]
STUB
chmod +x "$h/tests/vm/vmtest.sh"
printf '# arch spec\nx86_64 x1\nx86_64 x2\naarch64 a3\n\nx86_64 x4\nx86_64 x5\nx86_64 x6\n' \
	>"$h/tests/vm/matrix"
rc=0
(cd "$h" && KT_STUB_DIR=$TMP B=build bash tests/run.sh vm) >"$TMP/out.txt" 2>&1 || rc=$?
cat "$TMP/order" "$TMP/out.txt"
[ $rc -eq 1 ] || fail "run.sh vm exited $rc, expected 1 (x5 fails)"
sort "$TMP/order" >"$TMP/got"
printf '%s\n' "a3 beside: nothing" "x1 met x2" "x2 met x1" "x4 met x5" "x5 met x4" \
	"x6 beside: nothing" >"$TMP/want"
diff -u "$TMP/want" "$TMP/got" || fail "the kernels did not run as paired"
grep -Eo '^(PASS|FAIL)  vm/[a-z0-9_]+-[a-z0-9]+' "$TMP/out.txt" >"$TMP/lines"
printf '%s\n' "PASS  vm/x86_64-x1" "PASS  vm/x86_64-x2" "PASS  vm/aarch64-a3" \
	"PASS  vm/x86_64-x4" "FAIL  vm/x86_64-x5" "PASS  vm/x86_64-x6" | diff -u - "$TMP/lines" ||
	fail "not one line per kernel in the matrix's order"
grep -q '^5 passed, 1 failed$' "$TMP/out.txt" || fail "the count"
grep -q '^      vmtest: x86_64 x1: 1 passed' "$TMP/out.txt" || fail "no guest lines under a paired kernel"
echo "PASS: two x86_64 VMs at once, aarch64 alone, reported in order"
