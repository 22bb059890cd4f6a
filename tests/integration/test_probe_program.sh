#!/usr/bin/env bash
# Every libkaos probe (send, recv, backpressure, retransmit, ring_close) runs
# one BPF program, told apart by the attach's USDT cookie: the verifier's
# work at start-up is done once, not five times. The counts per probe stay
# right (test_trace_counts.sh: backpressure; test_daemon_cardinality.sh:
# ring_close). A batching tracer (docs/probes.md) has one more: kaos_batch, the
# kaos:batch probe that carries 32 operations a hit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT"
command -v bpftool >/dev/null || fail "bpftool is missing"

start_tracer prog --sample 1 -b "$B/libkaos.so"
names=()
for fd in /proc/"$TRACER_PID"/fd/*; do
	[ "$(readlink "$fd")" = anon_inode:bpf-prog ] || continue
	id=$(awk '/^prog_id:/ {print $2}' "/proc/$TRACER_PID/fdinfo/${fd##*/}")
	names+=("$(bpftool prog show id "$id" | sed -n 's/^[0-9]*: \([a-z_]*\) *name \([a-z_0-9]*\).*/\1:\2/p')")
done
stop_tracer
kprobes=$(printf '%s\n' "${names[@]}" | grep '^kprobe:' | sort -u | tr '\n' ' ')
[ "$kprobes" = "kprobe:kaos_batch kprobe:kaos_probe " ] ||
	fail "libkaos' probes run these programs: '$kprobes' (expected kaos_batch and kaos_probe)"
echo "PASS: one BPF program (kaos_probe) serves every per-op libkaos probe, one (kaos_batch) the batches"
