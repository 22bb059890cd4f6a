#!/usr/bin/env bash
# The daemon with --alloc, real BPF: it follows tests/progs/kt_alloc_workload
# by path and attaches to it before its first allocation (the program waits
# for a file); /metrics then has, per traced process (pid and process labels),
# kaos_alloc_heap_bytes and kaos_alloc_peak_bytes (gauges),
# kaos_alloc_allocs_total, kaos_alloc_frees_total and
# kaos_alloc_allocated_bytes_total (counters), which after the program's run
# agree with its own ground truth (attached before the first allocation:
# every call of the program seen); the families pass promtool; the --json-dir
# interval reports have the heap then ("alloc_heap", as the one-shot's -i
# lines): one written after the program's exit has its final figures;
# the folded files (--folded-dir) have [alloc] towers (bytes allocated in
# each file's interval: summed over the files, the program's bytes) and a
# [leak] tower (bytes outstanding at the file's end: in the last file, the
# leak set under phase_leaks); SIGTERM exits 0.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"

mkdir -p "$TMP/json" "$TMP/folded"
start_daemon alloc --watch "$AW" --alloc --listen 127.0.0.1:0 --json-dir "$TMP/json" --json-interval 1s \
	--folded-dir "$TMP/folded" --folded-interval 1s
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
scrape >"$TMP/m0.txt" || fail "scrape 0 failed"
if grep -q '^kaos_alloc_heap_bytes{' "$TMP/m0.txt"; then fail "heap series before any process"; fi

rm -f "$TMP/go"
"$AW" --wait-file "$TMP/go" --truth "$TMP/truth.json" >"$TMP/aw.out" &
AP=$!
KT_PIDS+=("$AP")
# attached when /metrics lists it (the probes go in before its first allocation)
for _ in $(seq 1 400); do
	scrape >"$TMP/m1.txt" || fail "scrape 1 failed"
	grep -q "^kaos_alloc_heap_bytes{pid=\"$AP\",process=\"kt_alloc_worklo\"} " "$TMP/m1.txt" && break
	kill -0 "$DPID" || fail "the daemon died"
	sleep 0.05
done
grep -q "^kaos_alloc_heap_bytes{pid=\"$AP\"," "$TMP/m1.txt" || fail "no heap series of the workload: $(grep alloc "$TMP/m1.txt")"
touch "$TMP/go"
wait "$AP" || fail "kt_alloc_workload failed"
scrape >"$TMP/m2.txt" || fail "scrape 2 failed"
python3 - "$TMP/m2.txt" "$TMP/truth.json" "$AP" <<'PY' || fail "/metrics disagrees with the program's truth"
import json, re, sys
t = json.load(open(sys.argv[2]))
pid = sys.argv[3]
v = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(kaos_alloc_\w+)\{pid="(\d+)",process="[^"]*"\} (\d+)$', line)
    if m and m.group(2) == pid:
        v[m.group(1)] = int(m.group(3))
print("metrics %s; truth allocs %d frees %d bytes %d peak %d leaked %d" % (
    v, t["allocs"], t["frees"], t["bytes_allocated"], t["peak_bytes"], t["leaked_bytes"]))
assert v["kaos_alloc_allocs_total"] == t["allocs"], v
assert v["kaos_alloc_allocated_bytes_total"] == t["bytes_allocated"], v
assert v["kaos_alloc_peak_bytes"] == t["peak_bytes"], v
# frees: free() calls and realloc's releases; what is left is the leak set
assert v["kaos_alloc_frees_total"] >= t["frees"], v
assert v["kaos_alloc_heap_bytes"] == t["leaked_bytes"], v
PY
promtool check metrics <"$TMP/m2.txt" >"$TMP/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
# a report written after the exit holds the program's final heap (leaks, peak, calls)
final_heap() {
	python3 - "$TMP/truth.json" "$TMP"/json/*.json <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        continue
    for h in r.get("alloc_heap", []):
        if h["pid"] == t["pid"] and (h["bytes"], h["peak_bytes"], h["allocs"]) == (
                t["leaked_bytes"], t["peak_bytes"], t["allocs"]):
            print("json-dir %s: alloc_heap %s" % (path.rsplit("/", 1)[-1], h))
            sys.exit(0)
sys.exit(1)
PY
}
for _ in $(seq 1 200); do
	final_heap && break
	kill -0 "$DPID" || fail "the daemon died"
	sleep 0.1
done
final_heap || fail "no --json-dir report with the program's final heap: $(grep -ho '"alloc_heap":[^]]*]' "$TMP"/json/*.json | tail -2)"
stop_daemon
python3 - "$TMP/truth.json" "$TMP"/folded/*.folded <<'PY' || fail "the folded files' [alloc] and [leak] towers disagree with the program"
import json, sys
t = json.load(open(sys.argv[1]))
files = sorted(sys.argv[2:])
def tower(path, name):
    out = []
    for line in open(path):
        stack, _, w = line.rstrip("\n").rpartition(" ")
        if stack.startswith("[%s];" % name):
            out.append((stack, int(w)))
    return out
alloc = sum(w for f in files for _, w in tower(f, "alloc"))
leak = [(s, w) for s, w in tower(files[-1], "leak")]
in_phase = sum(w for s, w in leak if ";main;phase_leaks;aw_leak_site_" in s)
print("folded: %d files, [alloc] %d bytes (truth %d), last [leak] %d bytes under phase_leaks (truth %d)" % (
    len(files), alloc, t["bytes_allocated"], in_phase, t["leaked_bytes"]))
assert alloc == t["bytes_allocated"]
assert in_phase == t["leaked_bytes"], leak
PY
echo "PASS: daemon --alloc: per-process heap, peak, allocation and free counters in /metrics agree with the program, promtool ok, alloc_heap in --json-dir, [alloc] and [leak] folded towers, SIGTERM exit 0"
