#!/usr/bin/env bash
# make bench (second part): the cost of tracing libkaos with kaos-trace, next to
# bpftrace and libbpf-tools funclatency, on the same workload in one run.
#
# Configurations (each run ROUNDS times, interleaved; docs/bench.md explains the
# output): untraced; kaos-trace --sample 1, 64, 1024 and --budget BUDGET;
# bpftrace on the send/recv USDT probes, counting and with an empty action (the
# bare-probe baseline); bpftrace uprobe+uretprobe and funclatency on
# kaos_ring_send. Workload: build/tests/progs/kt_bench_workload, per-message
# SPSC through libkaos.so, in one thread (local) and in two (pair).
#
# Then ABA_ROUNDS processes run ABA_MS phases alternately untraced and under
# kaos-trace --budget (started and stopped around each of ABA_CYCLES traced
# phases): the --budget throughput check, free of the run-to-run spread of
# separate processes.
#
# Knobs (environment): ROUNDS (5), RUN_MS (1000) per run, ABA_ROUNDS (6),
# ABA_CYCLES (3), ABA_MS (500), BUDGET (3),
# LOCAL_CPU (1; empty: unpinned), PAIR_CPUS ("0,1"), CONFIGS (comma-separated
# subset, e.g. kt-s1,bt-bare), OUT (build/bench). Writes $OUT/trace_results.json
# and every run to $OUT/trace_raw.jsonl.
# Exit status: 0, 1 if a run failed, 2 on bad set-up (not root, no build).
set -u
B=${B:-build}
export B

[ "$(id -u)" = 0 ] || { echo "bench_trace: needs root (BPF, uprobes)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench_trace: python3 is needed" >&2; exit 2; }
for f in "$B/kaos-trace" "$B/tests/progs/kt_bench_workload" "$B/libkaos.so"; do
	[ -e "$f" ] || { echo "bench_trace: $f missing (run: make)" >&2; exit 2; }
done
command -v bpftrace >/dev/null || echo "bench_trace: bpftrace not found: its rows are skipped" >&2
command -v funclatency >/dev/null || [ -x /usr/sbin/funclatency ] ||
	echo "bench_trace: funclatency (libbpf-tools) not found: its row is skipped" >&2
exec python3 "$(dirname "$0")/trace_bench.py"
