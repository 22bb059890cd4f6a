#!/usr/bin/env bash
# Start-up (issue #16): kaos-trace -p PID looks for the process's sampling
# control (kaos_probe_control) in the program and the objects it attached
# to, not in every mapped object: reading libc's 3,000 dynamic symbols cost
# ~1 ms of each start. The control is still found (the budgeted sampling is
# applied), and the other objects are read only if those lack it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
WL=$B/tests/progs/kt_bench_workload
need "$KT" "$WL"
bt_require

# --wait: it runs until its stdin ends, here when this script exits and
# with it fd 3, the FIFO's only writer (a background job ignores SIGINT)
mkfifo "$TMP/in"
"$WL" local --ms 120000 --wait <"$TMP/in" >"$TMP/wl.out" 2>&1 &
PID=$!
exec 3>"$TMP/in"
for _ in $(seq 100); do grep -q ready "$TMP/wl.out" && break; sleep 0.05; done
grep -q ready "$TMP/wl.out" || fail "workload not ready: $(cat "$TMP/wl.out")"
# libc as the process maps it: the path a lookup in every object opens
LIBC=$(awk '$6 ~ /\/libc\.so\.6$/ {print $6; exit}' "/proc/$PID/maps")
[ -n "$LIBC" ] || fail "pid $PID maps no libc.so.6"

bt_run "$TMP/run" "tracepoint:syscalls:sys_enter_openat /pid == cpid/ {
	if (str(args->filename) == \"$LIBC\") { @libc = count(); } }" "$KT -p $PID -d 0.1"
expect_eq "opens of $LIBC by the control lookup" "$(bt_map "$TMP/run.out" libc)" 0
grep -q "^pid $PID .*sampling 1 in [0-9]* (default budget" "$TMP/run.out" ||
	fail "no budgeted sampling in the report: $(grep "^pid" "$TMP/run.out")"
grep -q "cannot set sampling" "$TMP/run.out" "$TMP/run.err" && fail "sampling refused"
echo "PASS: the sampling control is looked for where the probes are, and found"
