#!/usr/bin/env bash
# `kaos-trace features` reports what the running kernel offers (the same
# probes kaos-trace runs at start), and a start names no missing feature here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

rc=0
"$KT" features >"$TMP/features.txt" 2>"$TMP/features.err" || rc=$?
for key in kernel btf uprobes ringbuf bpf_cookie uprobe_nop5 probe_site; do
	grep -q "^$key: " "$TMP/features.txt" || fail "no '$key:' line"
done
grep -q "^kernel: $(uname -r) $(uname -m)$" "$TMP/features.txt" || fail "wrong kernel line"
# the tracer's own tests pass on this kernel: nothing it needs can be missing
[ $rc -eq 0 ] || fail "features exited $rc"
! grep -q '^missing:' "$TMP/features.txt" || fail "features reports something missing"
for key in btf uprobes ringbuf; do
	grep -q "^$key: yes$" "$TMP/features.txt" || fail "$key is not 'yes'"
done
grep -Eq '^bpf_cookie: (yes|no)$' "$TMP/features.txt" || fail "bad bpf_cookie line"
if [ "$(uname -m)" = x86_64 ]; then
	# measured, so the class is not asserted; the measurement must exist
	grep -Eq '^uprobe_nop5: (optimised|emulated|single-stepped) \(hit on nop5 [0-9]+ ns, on nop1 [0-9]+ ns\)$' \
		"$TMP/features.txt" || fail "bad uprobe_nop5 line: $(grep nop5 "$TMP/features.txt")"
	# where kaos-trace attaches on combined sites, and why: +1 only if safe and cheaper
	grep -Eq '^probe_site: \+[01] \(the 1-byte nop, emulated|the 10-byte nop\): .+$' \
		"$TMP/features.txt" || fail "bad probe_site line: $(grep probe_site "$TMP/features.txt")"
else
	grep -q '^uprobe_nop5: not-x86$' "$TMP/features.txt" || fail "bad uprobe_nop5 line"
	grep -q '^probe_site: +0 (arm64: nops are emulated)$' "$TMP/features.txt" ||
		fail "bad probe_site line"
fi
# a normal start probes the same things and complains about none of them
"$KT" -b "$WORK" -d 0.2 >"$TMP/start.txt" 2>"$TMP/start.err" || fail "kaos-trace -b failed"
! grep -Eqi 'missing' "$TMP/start.err" || fail "start reports something missing: $(cat "$TMP/start.err")"
if [ "$(uname -m)" = x86_64 ]; then # kt_workload's libkaos has combined sites: one line says where
	[ "$(grep -c '^kaos-trace: probe sites: attaching at +[01] (' "$TMP/start.err")" = 1 ] ||
		fail "start: not one 'probe sites: attaching at' line: $(cat "$TMP/start.err")"
fi
echo "PASS: features reported"
