#!/usr/bin/env bash
# The ground truth of tests/progs/kt_alloc_workload (the numbers it prints of
# what it allocated) checked against tracers that see its allocator calls:
#  - heaptrack (LD_PRELOAD) on two workloads (seeds, sizes, counts): the
#    program's own allocations (heaptrack's minus what it sees when every phase
#    is off: libstdc++'s exception pool) match exactly in calls, bytes, blocks
#    released, leaked blocks and bytes, and the peak within 1 %; the leaks
#    come from the four aw_leak_site_N call sites with the blocks the program
#    says. heaptrack 1.4 does not see memalign: these runs leave it out.
#  - valgrind (memcheck's heap summary, every function): allocations, blocks
#    released, bytes, leaked blocks and bytes, and no memory error.
#  - bench/alloc_peer.bt (bpftrace uprobes on libc, every function, memalign
#    and free(NULL) included): all of the above exactly, and free(NULL).
#  - kaos-trace --alloc -- COMMAND (every function): exact counts, bytes,
#    blocks released, free() calls, leaks and leak sites, the peak within 1 %.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
AW=$(readlink -f "$B/tests/progs/kt_alloc_workload" || true)
BENCH=$(cd "$(dirname "$0")/../../bench" && pwd)
need "$AW"
bt_require
for c in heaptrack heaptrack_print zstdcat python3; do
	command -v "$c" >/dev/null || fail "$c not installed (make test-deps)"
done
HT_FNS=malloc,calloc,realloc,reallocarray,posix_memalign,aligned_alloc,valloc
BASELINE=(--allocs 0 --short 0 --leaks 0 --plateau 0 --free-null 0)
CASE_A=(--seed 1)
CASE_B=(--seed 7 --allocs 3001 --short 500 --leaks 5 --plateau 3000000 --free-null 3)

# ht NAME ARGS...: the program under heaptrack; $TMP/NAME.truth, $TMP/NAME.ht (totals)
ht() {
	local n=$1
	shift
	heaptrack -o "$TMP/$n" "$AW" "$@" --truth "$TMP/$n.truth" >"$TMP/$n.err" 2>&1 ||
		fail "$n: heaptrack exited non-zero"
	python3 "$BENCH/alloc_bench.py" heaptrack-totals "$TMP/$n.zst" >"$TMP/$n.ht"
}

# compare NAME TOTALS BASELINE exact|within1pct: the truth of run NAME against
# a tool's totals (JSON files; BASELINE: what the tool sees with every phase
# off; "frees", blocks released, is compared when the tool has it), the peak
# exactly or within 1 %
compare() {
	python3 - "$TMP/$1.truth" "$2" "$3" "$4" <<'PY' || fail "$1: the truth and the tracer disagree"
import json, sys
truth, tool, base = (json.load(open(f)) for f in sys.argv[1:4])
peak_exact = sys.argv[4] == "exact"
own = {k: tool[k] - base.get(k, 0) for k in ("allocs", "bytes", "peak", "frees",
                                             "leaked_blocks", "leaked_bytes")
       if tool.get(k) is not None}
want = dict(allocs=truth["allocs"], bytes=truth["bytes_allocated"], peak=truth["peak_bytes"],
            leaked_blocks=truth["leaked_blocks"], leaked_bytes=truth["leaked_bytes"],
            # every block but the leaked is released once: by free() or by a realloc
            frees=truth["allocs"] - truth["leaked_blocks"])
bad = [f"{k}: tracer {own.get(k)}, truth {want[k]}" for k in want
       if k != "peak" and own.get(k, want[k]) != want[k]]
bad += [f"{k}: the tracer has no figure" for k in want if k not in own and k != "frees"]
if (own["peak"] != want["peak"]) if peak_exact else abs(own["peak"] - want["peak"]) > want["peak"] / 100:
    bad.append(f"peak: tracer {own['peak']}, truth {want['peak']}")
if truth["allocs"] == 0 or truth["leaked_blocks"] == 0:
    bad.append("the truth is empty")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# leak_sites NAME: heaptrack_print's leak report names each aw_leak_site_N with its blocks
leak_sites() {
	heaptrack_print -f "$TMP/$1.zst" -l >"$TMP/$1.print" 2>/dev/null
	python3 - "$TMP/$1.truth" "$TMP/$1.print" <<'PY' || fail "$1: the leak sites differ"
import json, re, sys
truth = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
leaks = text[text.index("MEMORY LEAKS"):]
seen = {m.group(2): int(m.group(1))
        for m in re.finditer(r"leaked over (\d+) calls from\n(aw_leak_site_\d)\n", leaks)}
want = {s["site"]: s["blocks"] for s in truth["leak_sites"] if s["blocks"]}
if seen != want:
    print(f"  heaptrack {seen}, truth {want}", file=sys.stderr)
    sys.exit(1)
PY
}

ht base "${BASELINE[@]}"
ht a "${CASE_A[@]}" --fns "$HT_FNS"
compare a "$TMP/a.ht" "$TMP/base.ht" within1pct
leak_sites a
ht b "${CASE_B[@]}" --fns "$HT_FNS"
compare b "$TMP/b.ht" "$TMP/base.ht" within1pct
leak_sites b
echo "heaptrack agrees with the truth (cases a and b)"

# valgrind's memcheck replaces every allocator function (memalign included):
# its heap summary is the truth's, with no memory error on the way
command -v valgrind >/dev/null || fail "valgrind not installed (make test-deps)"
valgrind --error-exitcode=3 "$AW" "${CASE_B[@]}" --truth "$TMP/vg.truth" >/dev/null 2>"$TMP/vg.err" ||
	fail "vg: valgrind found errors or the program failed"
python3 - "$TMP/vg.truth" "$TMP/vg.err" <<'PY' || fail "vg: valgrind's heap summary differs from the truth"
import json, re, sys
truth = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read().replace(",", "")
use = re.search(r"in use at exit: (\d+) bytes in (\d+) blocks", text)
tot = re.search(r"total heap usage: (\d+) allocs (\d+) frees (\d+) bytes allocated", text)
got = tuple(map(int, use.groups() + tot.groups()))
want = (truth["leaked_bytes"], truth["leaked_blocks"], truth["allocs"],
        truth["allocs"] - truth["leaked_blocks"], truth["bytes_allocated"])
if got != want:
    sys.exit(f"  valgrind {got}, truth {want} (leaked bytes, blocks, allocs, frees, bytes)")
PY
echo "valgrind agrees with the truth"

# bpftrace on every allocator function (the program's default: memalign included)
LIBC=$(ldd "$AW" | awk '$1 == "libc.so.6" {print $3}')
[ -f "$LIBC" ] || fail "the program's libc not found"
sed "s#LIBC#$(readlink -f "$LIBC")#g" "$BENCH/alloc_peer.bt" >"$TMP/peer.bt"
echo '{}' >"$TMP/zero.json"
for n in a b; do
	[ $n = a ] && args=("${CASE_A[@]}") || args=("${CASE_B[@]}")
	BPFTRACE_MAP_KEYS_MAX=1048576 bpftrace "$TMP/peer.bt" \
		-c "$AW ${args[*]} --truth $TMP/bt$n.truth" >"$TMP/bt$n.out" 2>"$TMP/bt$n.raw" ||
		fail "bt$n: bpftrace exited non-zero: $(bt_filter_noise <"$TMP/bt$n.raw")"
	python3 - "$TMP/bt$n.out" "$TMP/bt$n.truth" >"$TMP/bt$n.json" <<'PY' || fail "bt$n: free() calls differ"
import json, re, sys
m = re.search(r"bpftrace_alloc (.*)", open(sys.argv[1]).read())
kv = {k: int(v) for k, v in (x.split("=") for x in m.group(1).split())}
calls = json.load(open(sys.argv[2]))["calls"]
# the script counts free() calls (non-NULL and NULL), not blocks released
if (kv["frees"], kv["free_null"]) != (calls["free"], calls["free_null"]) or not calls["memalign"]:
    sys.exit(f"  free: bpftrace {kv['frees']} and {kv['free_null']} of NULL, truth "
             f"{calls['free']} and {calls['free_null']}")
kv["frees"] = None
print(json.dumps(kv))
PY
	compare "bt$n" "$TMP/bt$n.json" "$TMP/zero.json" exact
done
echo "bpftrace agrees with the truth (every allocator function, free(NULL))"

# kaos-trace --alloc, traced from the start: exact but for the peak (within 1 %)
need "$KT"
for n in a b; do
	[ $n = a ] && args=("${CASE_A[@]}") || args=("${CASE_B[@]}")
	"$KT" --alloc --json "$TMP/kt$n.json" -- "$AW" "${args[@]}" --truth "$TMP/kt$n.truth" \
		>"$TMP/kt$n.txt" 2>"$TMP/kt$n.err" || fail "kt$n: kaos-trace exited non-zero"
	pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$TMP/kt$n.truth")
	python3 "$BENCH/alloc_bench.py" kaos-totals "$TMP/kt$n.json" "$pid" >"$TMP/kt$n.totals" ||
		fail "kt$n: no alloc totals for pid $pid"
	compare "kt$n" "$TMP/kt$n.totals" "$TMP/zero.json" within1pct
	python3 - "$TMP/kt$n.truth" "$TMP/kt$n.totals" <<'PY' || fail "kt$n: leak sites or free() calls differ"
import json, sys
truth, kt = (json.load(open(f)) for f in sys.argv[1:3])
want = {s["site"]: s["blocks"] for s in truth["leak_sites"] if s["blocks"]}
if kt["leak_sites"] != want:
    sys.exit(f"  kaos-trace {kt['leak_sites']}, truth {want}")
if kt["free_calls"] != truth["calls"]["free"]:
    sys.exit(f"  free() calls: kaos-trace {kt['free_calls']}, truth {truth['calls']['free']}")
PY
done
echo "kaos-trace --alloc agrees with the truth"
