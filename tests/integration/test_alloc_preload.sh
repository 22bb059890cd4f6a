#!/usr/bin/env bash
# --alloc finds an allocator preloaded with LD_PRELOAD, as ld.so binds the
# process's malloc: tests/progs/libkt_malloc_shim.so is a malloc of its own
# (it never calls glibc's), so probing libc.so (the program's own
# dependency) would see no allocation at all. Real BPF, kt_alloc_workload's
# ground truth: with the preload in the -- COMMAND's environment (traced
# from the start: allocations, bytes, peak and leaks exact), and with -p PID
# of a process started with the preload (its LD_PRELOAD read from
# /proc/PID/environ, the file found in its maps; attached before its first
# allocation: allocations and bytes exact). Before the fix both reported 0
# allocations.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
SHIM=$(realpath "$B/tests/progs/libkt_malloc_shim.so")
need "$KT" "$AW" "$SHIM"

# check JSON TRUTH KEYS...: the traced process's figures in JSON equal the truth's
check() {
	local json=$1 truth=$2
	shift 2
	python3 - "$json" "$truth" "$@" <<'PY'
import json, sys
j, t, keys = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3:]
procs = [p for p in j["alloc"]["processes"] if p["pid"] == t["pid"]]
assert procs, "pid %d not in the report" % t["pid"]
p = procs[0]
for k in keys:
    print("%-16s kaos-trace %10d  truth %10d" % (k, p[k], t[k]))
    assert p[k] == t[k], k
PY
}

# 1. the command, LD_PRELOAD in its environment (inherited from kaos-trace's)
LD_PRELOAD=$SHIM "$KT" --alloc --json "$TMP/cmd.json" -- "$AW" --truth "$TMP/cmd.truth" \
	>"$TMP/cmd.txt" 2>"$TMP/cmd.err" || fail "kaos-trace -- COMMAND failed: $(cat "$TMP/cmd.err")"
check "$TMP/cmd.json" "$TMP/cmd.truth" allocs bytes_allocated peak_bytes leaked_blocks leaked_bytes ||
	fail "-- COMMAND with LD_PRELOAD: the report disagrees with the program"

# 2. -p PID of a process started with the preload, attached before it allocates
rm -f "$TMP/go"
LD_PRELOAD=$SHIM "$AW" --wait-file "$TMP/go" --truth "$TMP/pid.truth" >/dev/null &
AP=$!
KT_PIDS+=("$AP")
"$KT" --alloc -p "$AP" --json "$TMP/pid.json" >"$TMP/pid.txt" 2>"$TMP/pid.err" &
KP=$!
KT_PIDS+=("$KP")
for _ in $(seq 1 400); do
	grep -q "attached" "$TMP/pid.err" 2>/dev/null && break
	kill -0 "$KP" 2>/dev/null || fail "kaos-trace -p exited: $(cat "$TMP/pid.err")"
	sleep 0.05
done
grep -q "attached" "$TMP/pid.err" || fail "kaos-trace -p did not attach: $(cat "$TMP/pid.err")"
touch "$TMP/go"
wait "$AP" || fail "kt_alloc_workload failed"
wait "$KP" || fail "kaos-trace -p failed: $(cat "$TMP/pid.err")"
check "$TMP/pid.json" "$TMP/pid.truth" allocs bytes_allocated ||
	fail "-p PID with LD_PRELOAD: the report disagrees with the program"
echo "PASS: --alloc probes an LD_PRELOAD allocator: -- COMMAND exact (allocs, bytes, peak, leaks), -p PID exact allocs and bytes"
