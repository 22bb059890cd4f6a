# Failures are one line and a non-zero exit here too; a BPF load failure
# names the kernel's features under libbpf's last lines.
. "$(dirname "$0")/lib.sh"

expect_error() { # name regex cmd...
	name=$1 re=$2
	shift 2
	rc=0
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	[ $rc -ne 0 ] || fail "$name: exit status 0"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: stderr lacks /$re/"
	n=$(grep -vc '^  |' "$TMP/$name.err")
	[ "$n" -eq 1 ] || fail "$name: expected one message line, got $n"
}
expect_error noprobes "no kaos probes" "$KT" -b /bin/sh -d 1
# above pid_max: no such process can exist
expect_error nopid "no such process" "$KT" -p $(($(cat /proc/sys/kernel/pid_max) + 1)) -d 1
expect_error noarg "nothing to trace" "$KT"

rc=0
KAOS_TRACE_TEST_BREAK_LOAD=1 "$KT" -b "$WORK" -d 1 >/dev/null 2>"$TMP/load.err" || rc=$?
[ $rc -ne 0 ] || fail "broken load: exit 0"
grep -q "BPF load failed" "$TMP/load.err" || fail "broken load: no message"
grep -q "^kaos-trace: kernel $(uname -r) .*ringbuf yes" "$TMP/load.err" ||
	fail "broken load: no kernel feature line"
echo "PASS: errors"
