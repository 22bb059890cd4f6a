#!/usr/bin/env bash
# --alloc finds an allocator preloaded with LD_PRELOAD, as ld.so binds the
# process's malloc: tests/progs/libkt_malloc_shim.so is a malloc of its own
# (it never calls glibc's), so probing libc.so (the program's own
# dependency) would see no allocation at all. Real BPF, kt_alloc_workload's
# ground truth: with the preload in the -- COMMAND's environment (traced
# from the start: allocations, bytes, peak and leaks exact), and with -p PID
# of a process started with the preload (its LD_PRELOAD read from
# /proc/PID/environ, the file found in its maps; attached before its first
# allocation: allocations and bytes exact), and set by the command for the
# program it execs (-- env LD_PRELOAD=X PROG: the probes move after the exec,
# said, and the report is not exact). Before the fix all three reported 0
# allocations of the program.
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
# -p reads what the process has mapped: wait until ld.so has mapped libc
wait_mapped "$AP" 'libc\.so'
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
# 3. a preload the command sets for the program it execs (env LD_PRELOAD=...): the
# probes, on env's libc first, move to the new image's allocator after the exec
# (said); the program waits until then, so its allocations are all seen
rm -f "$TMP/go"
"$KT" --alloc --json "$TMP/env.json" -- env LD_PRELOAD="$SHIM" "$AW" --wait-file "$TMP/go" \
	--truth "$TMP/env.truth" >"$TMP/env.txt" 2>"$TMP/env.err" &
KP=$!
KT_PIDS+=("$KP")
for _ in $(seq 1 400); do
	grep -q "exec'd into another allocator" "$TMP/env.err" 2>/dev/null && break
	kill -0 "$KP" 2>/dev/null || fail "kaos-trace -- env exited: $(cat "$TMP/env.err")"
	sleep 0.05
done
grep -q "exec'd into another allocator (.*libkt_malloc_shim.so)" "$TMP/env.err" ||
	fail "the probes did not follow the exec to the preload: $(cat "$TMP/env.err")"
touch "$TMP/go"
wait "$KP" || fail "kaos-trace -- env failed: $(cat "$TMP/env.err")"
python3 - "$TMP/env.json" "$TMP/env.truth" <<'PY' || fail "-- env LD_PRELOAD=...: the report misses the program's allocations"
import json, sys
j, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
a = j["alloc"]
p = [p for p in a["processes"] if p["pid"] == t["pid"]][0]
# env's own few allocations come before the exec: at least the program's, not much more
print("after the exec: allocs %d (truth %d), bytes %d (truth %d), moved %d, exact %s" % (
    p["allocs"], t["allocs"], p["bytes_allocated"], t["bytes_allocated"],
    a["processes_moved_at_exec"], a["exact"]))
assert t["allocs"] <= p["allocs"] < t["allocs"] + 1000
assert t["bytes_allocated"] <= p["bytes_allocated"]
assert a["processes_moved_at_exec"] == 1 and a["exact"] is False
PY
grep -q "1 processes exec'd into another allocator: probed from then on, not exact" "$TMP/env.txt" ||
	fail "the report does not say the probes moved"
echo "PASS: --alloc probes an LD_PRELOAD allocator: -- COMMAND exact (allocs, bytes, peak, leaks), -p PID exact allocs and bytes, a preload set by the command followed across its exec (said, not exact)"
