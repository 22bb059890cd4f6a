#!/usr/bin/env bash
# make bench (third part): heap tracers on one deterministic program.
#
# tests/progs/kt_alloc_workload (known allocations, its own ground truth) runs
# untraced, under heaptrack, under a bpftrace uprobe script on libc
# (bench/alloc_peer.bt) and under kaos-trace --alloc, ROUNDS times each,
# interleaved; bench/alloc_bench.py prints total allocations, bytes, peak and
# leaked per tool, the slowdown against the untraced run (median, min..max)
# and whether each agrees with heaptrack (counts exact, peak within 1 %).
# docs/bench.md says what each tool counts and how the comparison is made fair.
#
# Knobs (environment): ROUNDS (5), ALLOCS (20000), SHORT (2000), LEAKS (8),
# PLATEAU (16777216 bytes), FNS (the allocator functions of the mix phase;
# default all but memalign, which heaptrack 1.4 does not see), OUT (build/bench:
# writes alloc_results.json there).
# Exit status: 0; 1 if a tool is missing, failed, or disagrees with heaptrack
# (a kaos-trace without --alloc is "not available": 1); 2 on bad set-up.
set -u
B=${B:-build}
export B

[ "$(id -u)" = 0 ] || { echo "bench_alloc: needs root (BPF, uprobes)" >&2; exit 2; }
for c in python3 heaptrack heaptrack_print bpftrace zstdcat; do
	command -v "$c" >/dev/null || { echo "bench_alloc: $c not found (run: make bench-deps)" >&2; exit 2; }
done
[ -x "$B/tests/progs/kt_alloc_workload" ] ||
	{ echo "bench_alloc: $B/tests/progs/kt_alloc_workload missing (run: make)" >&2; exit 2; }
exec python3 "$(dirname "$0")/alloc_bench.py"
