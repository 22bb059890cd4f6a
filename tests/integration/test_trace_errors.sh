#!/usr/bin/env bash
# Every way kaos-trace can be misused or fail gives one line on stderr and
# a non-zero exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# expect_error NAME EXPECTED-REGEX CMD...: non-zero exit, one stderr line matching.
expect_error() {
	local name=$1 re=$2
	shift 2
	local rc=0
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	echo $rc >"$TMP/$name.rc"
	[ $rc -ne 0 ] || fail "$name: exit status 0"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: stderr lacks /$re/: $(cat "$TMP/$name.err")"
	local n
	n=$(grep -vc '^  |' "$TMP/$name.err" || true)
	[ "$n" -eq 1 ] || fail "$name: expected one message line, got $n: $(cat "$TMP/$name.err")"
}

# a pid that does not exist: the highest pid + 1 is free right after we checked
nopid=$(( $(cat /proc/sys/kernel/pid_max) - 1 ))
while [ -d /proc/$nopid ]; do nopid=$((nopid - 1)); done
expect_error nopid "no such process: $nopid" "$KT" -p "$nopid" -d 1
echo "not an elf" >"$TMP/text.txt"
expect_error notelf "not an ELF" "$KT" -b "$TMP/text.txt" -d 1
expect_error noprobes "no kaos probes" "$KT" -b /bin/true -d 1
expect_error nofile "No such file" "$KT" -b "$TMP/missing.so" -d 1
expect_error noarg "nothing to trace" "$KT"
expect_error badopt "invalid duration" "$KT" -b "$B/libkaos.so" -d abc
expect_error badrb "power of two" "$KT" -b "$B/libkaos.so" --ringbuf-size 5000
expect_error excl "exclusive" "$KT" -b "$B/libkaos.so" --sample 4 --budget 3
expect_error budget_noprice "budget needs the probe cost" "$KT" -b "$B/libkaos.so" --budget 3 --no-calibrate
expect_error json_unwritable "cannot write /nonexistent-dir/x.json" "$KT" -b "$B/libkaos.so" -d 1 --json /nonexistent-dir/x.json
expect_error folded_unwritable "cannot write /nonexistent-dir/x.folded" "$KT" -b "$B/libkaos.so" -d 1 --folded /nonexistent-dir/x.folded
expect_error list_notelf "not an ELF" "$KT" list "$TMP/text.txt"
# argument errors: one line each (no "Try --help" second line), exit 2
expect_usage() {
	expect_error "$@"
	[ "$(cat "$TMP/$1.rc")" -eq 2 ] || fail "$1: exit $(cat "$TMP/$1.rc"), expected 2 (usage)"
}
expect_usage unknown_opt "^kaos-trace: unrecognized option '--bogus'" "$KT" --bogus
expect_usage missing_arg "^kaos-trace: option requires an argument -- 'p'" "$KT" -p
expect_usage duration_huge "invalid duration '99999999999' \\(at most" "$KT" -b "$B/libkaos.so" -d 99999999999
expect_usage interval_inf "invalid interval 'inf'" "$KT" -b "$B/libkaos.so" -i inf
expect_usage alertlog_noalert "^kaos-trace: --alert-log needs at least one --alert" "$KT" -b "$B/libkaos.so" --alert-log "$TMP/a.log"
expect_usage tlmax_notl "^kaos-trace: --timeline-max-events needs --timeline" "$KT" -b "$B/libkaos.so" --timeline-max-events 5
expect_usage features_extra "usage: kaos-trace features" "$KT" features extra
expect_usage weight_nostacks "^kaos-trace: --weight needs --stacks or --folded FILE" "$KT" -b "$B/libkaos.so" --weight latency
expect_usage daemon_unknown_opt "^kaos-trace daemon: unrecognized option '--bogus'" "$KT" daemon --bogus
expect_usage daemon_missing_arg "^kaos-trace daemon: option '--listen' requires an argument" "$KT" daemon --listen
expect_error daemon_timeline_dir "timeline /nonexistent-dir/t.json: No such file or directory" "$KT" daemon --watch "$B/libkaos.so" --timeline /nonexistent-dir/t.json
expect_error cmd_notexec "text.txt: Permission denied" "$KT" -- "$TMP/text.txt"
# a --json file that fails while writing: non-zero exit, the error named
rc=0
"$KT" -b "$B/libkaos.so" -d 0.3 --json /dev/full >/dev/null 2>"$TMP/jfull.err" </dev/null || rc=$?
[ $rc -ne 0 ] || fail "--json /dev/full: exit status 0"
grep -q "writing /dev/full failed: No space left on device" "$TMP/jfull.err" ||
	fail "--json /dev/full: $(cat "$TMP/jfull.err")"
# a live process without libkaos
sleep 30 &
sp=$!
expect_error pid_nolib "maps no object with kaos probes" "$KT" -p "$sp" -d 1
kill "$sp"
# not enough privilege: drop the capabilities BPF needs
if command -v capsh >/dev/null; then
	expect_error noprivs "CAP_BPF is missing" capsh --drop=cap_bpf,cap_perfmon,cap_sys_admin -- -c "$KT -b $B/libkaos.so -d 1"
else
	fail "capsh (libcap2-bin) is not installed: cannot test the privilege error"
fi
# BPF load failure: the verifier's last lines are shown, indented under one message line
rc=0
KAOS_TRACE_TEST_BREAK_LOAD=1 "$KT" -b "$B/libkaos.so" -d 1 >/dev/null 2>"$TMP/load.err" || rc=$?
[ $rc -ne 0 ] || fail "broken load: exit 0"
grep -q "BPF load failed" "$TMP/load.err" || fail "broken load: $(cat "$TMP/load.err")"
grep -q '^  | ' "$TMP/load.err" || fail "broken load: no verifier lines: $(cat "$TMP/load.err")"
# unprivileged (nobody, no capabilities): a permission refusal is named as one, with what is needed
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all "$@"; }
as_nobody "$KT" features >"$TMP/nobody_features.out" 2>&1 || true
grep -q '^ringbuf: unknown (check refused: permission)$' "$TMP/nobody_features.out" ||
	fail "features as nobody: $(cat "$TMP/nobody_features.out")"
grep -q 'refused for permission.*CAP_SYS_ADMIN' "$TMP/nobody_features.out" ||
	fail "features as nobody does not name the capability: $(cat "$TMP/nobody_features.out")"
! grep -q 'ring buffer is missing' "$TMP/nobody_features.out" || fail "features as nobody: says missing"
sleep 30 &
rootpid=$!
expect_error nobody_pid "cannot read /proc/$rootpid/maps: Permission denied \\(pid $rootpid belongs to another user: CAP_SYS_PTRACE or root is needed\\)" \
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$KT" -p "$rootpid" -d 1
kill "$rootpid"

# write failures: stdout on a full device is exit 1 with one line, never 0
expect_error full_help "write stdout: No space left" sh -c '"$1" --help >/dev/full' sh "$KT"
expect_error full_features "write stdout: No space left" sh -c '"$1" features >/dev/full' sh "$KT"
expect_error full_list "write stdout: No space left" sh -c '"$1" list "$2" >/dev/full' sh "$KT" "$B/libkaos.so"
rc=0
"$KT" -b "$B/libkaos.so" -d 1 >/dev/full 2>"$TMP/full_report.err" || rc=$?
[ $rc = 1 ] || fail "report to /dev/full: exit $rc"
grep -q "write stdout: No space left" "$TMP/full_report.err" || fail "report to /dev/full: $(cat "$TMP/full_report.err")"
# an alert log on a full device: the lost lines are said and the run fails
rc=0
"$KT" --sample 1 --alert 'send.count > 0' --alert-log /dev/full -- "$WORK" --msgs 2000 --hold-ms 1500 \
	>/dev/null 2>"$TMP/full_alert.err" || rc=$?
[ $rc = 1 ] || fail "--alert-log /dev/full: exit $rc: $(cat "$TMP/full_alert.err")"
grep -q "writing /dev/full failed: No space left on device (1 alert line lost)" "$TMP/full_alert.err" ||
	fail "--alert-log /dev/full: $(cat "$TMP/full_alert.err")"

# --check-config says OK only for what can start: read errors, a missing folded
# directory and a listen port in use fail as they would at start
expect_error cc_procmem "cannot read config /proc/self/mem: Input/output error" \
	"$KT" daemon --config /proc/self/mem --watch "$WORK" --check-config
printf '[watch]\npath = %s\n[folded]\ndir = %s/no-such-dir\n' "$WORK" "$TMP" >"$TMP/cc_folded.conf"
expect_error cc_folded "folded dir $TMP/no-such-dir: No such file or directory" \
	"$KT" daemon --config "$TMP/cc_folded.conf" --listen off --check-config
python3 - "$KT" "$WORK" "$TMP" <<'PY' || fail "check-config with the port in use"
import socket, subprocess, sys
kt, work, tmp = sys.argv[1:]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
port = s.getsockname()[1]
r = subprocess.run([kt, "daemon", "--watch", work, "--listen", "127.0.0.1:%d" % port,
                    "--check-config"], capture_output=True, text=True)
want = "listen 127.0.0.1:%d: Address already in use" % port
assert r.returncode != 0 and want in r.stderr and r.stderr.count("\n") == 1, (r.returncode, r.stderr)
PY
"$KT" daemon --watch "$WORK" --listen 127.0.0.1:0 --folded-dir "$TMP" --check-config >"$TMP/cc_ok.out" ||
	fail "check-config of a startable config failed"
grep -q "^config OK" "$TMP/cc_ok.out" || fail "check-config: $(cat "$TMP/cc_ok.out")"
echo "PASS: errors are one line and non-zero"
