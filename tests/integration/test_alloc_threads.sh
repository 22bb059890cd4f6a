#!/usr/bin/env bash
# --alloc on a long-lived process whose threads come and go: each exiting
# thread's per-thread entry leaves the kernel's alloc_threads map at its exit
# (the sched_process_exit hook sees its tid and queues its sums for
# kaos-trace), so the map stays bounded while the process lives, and the
# process's totals stay exact. Real BPF: kt_alloc_workload --threads 500
# creates and joins 500 threads one after another, each allocating 2 blocks,
# then holds (--hold-file) while the tracer's map is counted with bpftool.
# Before the sweep the map held one entry per thread that ever allocated
# (501 here; at 16,384 it is full and later threads' calls are dropped).
# glibc allocates on its own for the first thread (its TLS vector): a run
# with 1 thread gives that baseline, the same for 500 threads.
# Then two tracers on the one process (-p): each sweeps its own map and
# counts every call. Last, a thread other than the main one execs: the
# kernel gives it the process's pid, and its entry under its old tid leaves
# the map at the exec (no exit ever names that tid).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"
command -v bpftool >/dev/null || fail "bpftool is missing (make deps)"
NT=500
ZERO=(--allocs 0 --short 0 --leaks 0 --plateau 0 --free-null 0)

# map_ids PID: the ids of the BPF maps process PID holds (its fds)
map_ids() {
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^map_id:/ {print $2}' "$f" 2>/dev/null || true
	done | sort -un
}

# map_dump PID NAME: the JSON dump of the BPF map NAME held by process PID (a
# bpftool call that fails, as one did 1 run in 4 at load, is retried; its
# errors are kept in $TMP/bpftool.err)
map_dump() {
	local id
	for _ in 1 2 3 4 5; do
		for id in $(map_ids "$1"); do
			bpftool -j map show id "$id" 2>>"$TMP/bpftool.err" |
				grep -q "\"name\":\"$2\"" || continue
			bpftool -j map dump id "$id" 2>>"$TMP/bpftool.err" && return 0
		done
		sleep 0.2
	done
	echo "map_dump $1 $2: not found among maps $(map_ids "$1" | tr '\n' ' ')" >>"$TMP/bpftool.err"
}

# map_entries PID NAME: entries in the BPF map NAME held by process PID
map_entries() {
	map_dump "$@" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>>"$TMP/bpftool.err"
}

# 1. the baseline: one thread (glibc's own allocations for a first thread)
"$KT" --alloc --json "$TMP/one.json" -- "$AW" "${ZERO[@]}" --threads 1 --truth "$TMP/one.truth" \
	>"$TMP/one.txt" 2>"$TMP/one.err" || fail "kaos-trace --threads 1 failed"

# held_fail MSG: fail, releasing the held workload first (else its tracer waits for it)
held_fail() {
	touch "$TMP/hold"
	fail "$@"
}

# 2. 2000 threads; the map counted while the process still runs
"$KT" --alloc --json "$TMP/many.json" -- "$AW" "${ZERO[@]}" --threads $NT \
	--truth "$TMP/many.truth" --hold-file "$TMP/hold" >"$TMP/many.txt" 2>"$TMP/many.err" &
TRACER_PID=$!
KT_PIDS+=("$TRACER_PID")
for _ in $(seq 1 1200); do # traced, the threads take a few seconds
	[ -s "$TMP/many.truth" ] && break
	kill -0 "$TRACER_PID" || held_fail "kaos-trace exited early: $(cat "$TMP/many.err")"
	sleep 0.05
done
[ -s "$TMP/many.truth" ] || held_fail "the workload did not finish its threads within 60 s"
n=$(map_entries "$TRACER_PID" alloc_threads)
echo "alloc_threads entries after $NT threads came and went (the process alive): $n"
[ -n "$n" ] || held_fail "the tracer's alloc_threads map not found"
[ "$n" -le 2 ] || held_fail "alloc_threads holds $n entries after $NT threads exited (want <= 2)"
touch "$TMP/hold"
wait "$TRACER_PID" || fail "kaos-trace exited non-zero: $(tail -3 "$TMP/many.err")"

python3 - "$TMP" "$NT" <<'PY' || fail "--alloc totals disagree with the program's truth"
import json, sys
tmp, nt = sys.argv[1], int(sys.argv[2])
def run(name):
    final = json.loads([l for l in open("%s/%s.json" % (tmp, name)) if l.strip()][-1])
    a = final["alloc"]
    assert a["exact"] is True and a["dropped"] is False, a
    # every exit went through the exits queue: none waited in alloc_threads
    assert a["exited_threads_kept"] == 0 and a["calls_not_charged_to_thread"] == 0, a
    return a["processes"][0], json.load(open("%s/%s.truth" % (tmp, name)))
p1, t1 = run("one")
p, t = run("many")
assert t["allocs"] == 2 * nt, t["allocs"]
for k in ("allocs", "bytes_allocated", "peak_bytes", "leaked_blocks", "leaked_bytes"):
    extra = p1[k] - t1[k]  # glibc's own, for its first thread
    print("%-16s kaos-trace %9d  truth %9d + glibc's %d" % (k, p[k], t[k], extra))
    assert p[k] == t[k] + extra, (k, p[k], t[k], extra)
# the threads' own calls, by their stack: every one of the 2 x 2000
mine = [s for s in p["top_sites"] if "thread_allocs" in s["stack"]]
assert sum(s["allocs"] for s in mine) == 2 * nt, mine
print("%d threads: totals exact, %d allocations under thread_allocs" % (nt, 2 * nt))
PY

# 3. two tracers on the one process (-p, both attached before its first
# allocation): each sweeps its own map, each counts every call
"$AW" "${ZERO[@]}" --threads $NT --wait-file "$TMP/go2" --truth "$TMP/two.truth" \
	--hold-file "$TMP/hold2" >"$TMP/two.out" &
WP=$!
KT_PIDS+=("$WP")
wait_ready "$TMP/two.out" "$WP"
start_tracer ta --alloc --no-calibrate -p "$WP" --json "$TMP/ta.json"
TA=$TRACER_PID
start_tracer tb --alloc --no-calibrate -p "$WP" --json "$TMP/tb.json"
TB=$TRACER_PID
touch "$TMP/go2"
for _ in $(seq 1 2400); do # two tracers: twice the traps
	[ -s "$TMP/two.truth" ] && break
	kill -0 "$WP" || fail "the workload exited early"
	sleep 0.05
done
[ -s "$TMP/two.truth" ] || { touch "$TMP/hold2"; fail "the workload did not finish its threads within 120 s"; }
na=$(map_entries "$TA" alloc_threads)
nb=$(map_entries "$TB" alloc_threads)
touch "$TMP/hold2"
echo "two tracers: alloc_threads entries $na and $nb"
[ -n "$na" ] && [ "$na" -le 2 ] && [ -n "$nb" ] && [ "$nb" -le 2 ] ||
	fail "two tracers: alloc_threads holds '$na' and '$nb' entries (want <= 2 each)"
wait "$WP" || fail "the workload exited non-zero under two tracers"
wait "$TA" || fail "tracer a exited non-zero: $(tail -3 "$TMP/ta.err")"
wait "$TB" || fail "tracer b exited non-zero: $(tail -3 "$TMP/tb.err")"
python3 - "$TMP" <<'PY' || fail "two tracers: a tracer's totals disagree with the truth"
import json, sys
tmp = sys.argv[1]
def proc(name):
    return json.loads([l for l in open("%s/%s.json" % (tmp, name)) if l.strip()][-1])["alloc"]
one = proc("one")["processes"][0]
t1 = json.load(open("%s/one.truth" % tmp))
t = json.load(open("%s/two.truth" % tmp))
for name in ("ta", "tb"):
    a = proc(name)
    assert a["dropped"] is False, a
    p = [q for q in a["processes"] if q["pid"] == t["pid"]][0]
    for k in ("allocs", "bytes_allocated", "peak_bytes"):
        assert p[k] == t[k] + one[k] - t1[k], (name, k, p[k], t[k])
print("two tracers: each counted %d allocations" % p["allocs"])
PY
# 4. an exec from a second thread: no entry left under the thread's old tid
"$KT" --alloc --json "$TMP/ex.json" -- "$AW" "${ZERO[@]}" --truth "$TMP/ex.truth" \
	--thread-exec "$TMP/ex2.truth" --hold-file "$TMP/hold3" >"$TMP/ex.txt" 2>"$TMP/ex.err" &
TRACER_PID=$!
KT_PIDS+=("$TRACER_PID")
for _ in $(seq 1 600); do
	[ -s "$TMP/ex2.truth" ] && break
	kill -0 "$TRACER_PID" || fail "kaos-trace exited early: $(cat "$TMP/ex.err")"
	sleep 0.05
done
[ -s "$TMP/ex2.truth" ] || { touch "$TMP/hold3"; fail "the workload's exec from a thread did not run within 30 s"; }
map_dump "$TRACER_PID" alloc_threads >"$TMP/ex.map" || true
touch "$TMP/hold3"
wait "$TRACER_PID" || fail "kaos-trace exited non-zero: $(tail -3 "$TMP/ex.err")"
python3 - "$TMP" <<'PY' || fail "an exec from a thread left its old tid's entry in alloc_threads"
import json, sys
tmp = sys.argv[1]
pid = json.load(open("%s/ex2.truth" % tmp))["pid"]
entries = json.load(open("%s/ex.map" % tmp))
stale = [e["formatted"]["key"] for e in entries if e["formatted"]["key"]["tid"] != pid]
print("after an exec from a thread of pid %d: alloc_threads keys %s" % (
    pid, [e["formatted"]["key"] for e in entries]))
assert not stale, stale
final = json.loads([l for l in open("%s/ex.json" % tmp) if l.strip()][-1])["alloc"]
p = final["processes"][0]
# glibc's TLS block for the second thread, then its 2 blocks (24 and 64 bytes)
assert (p["allocs"], p["bytes_allocated"]) == (3, 272 + 24 + 64), p
assert final["exited_threads_kept"] == 0 and final["calls_not_charged_to_thread"] == 0, final
PY
echo "PASS: --alloc: $NT threads came and went, alloc_threads held at most 2 entries, totals exact, also with two tracers on one process; an exec from a thread leaves no entry behind"
