# kaos-trace's feature probing on this kernel: what it needs is there, and
# what it measured is reported (@@ FEATURE lines reach the host's log).
. "$(dirname "$0")/lib.sh"

"$KT" features >"$TMP/features.txt" 2>&1 || fail "kaos-trace features exited non-zero"
sed 's/^/@@ FEATURE /' "$TMP/features.txt"
for key in btf uprobes ringbuf; do
	grep -q "^$key: yes$" "$TMP/features.txt" || fail "$key is not 'yes'"
done
grep -q "^kernel: $(uname -r) $(uname -m)$" "$TMP/features.txt" || fail "wrong kernel line"
case $(uname -m) in
x86_64) grep -Eq '^uprobe_nop5: (optimised|emulated|single-stepped) \(' "$TMP/features.txt" ;;
*) grep -q '^uprobe_nop5: not-x86$' "$TMP/features.txt" ;;
esac || fail "bad uprobe_nop5 line"
# where kaos-trace attaches on combined sites and why (arm64: one emulated nop)
case $(uname -m) in
x86_64) grep -Eq '^probe_site: \+[01] \(.+\): .+' "$TMP/features.txt" ;;
*) grep -q '^probe_site: +0 (arm64: nops are emulated)$' "$TMP/features.txt" ;;
esac || fail "bad probe_site line"
echo "PASS: features"
