#!/usr/bin/env bash
# Start-up (issue #16: start to attached): KAOS_TRACE_TIMING=1 prints where
# the time went, per phase, wall and CPU (and nothing without it); the hash
# maps whose entries come and go at run time are allocated on insert, not
# all at creation (batch_threads' 8,192 entries cost ~5 ms of every start).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT"
LIB=$(readlink -f "$B/libkaos.so")

# the phase table, and only on request
KAOS_TRACE_TIMING=1 start_tracer timed --sample 1 -b "$LIB"
for phase in "main" "features check" "bpf load (maps, progs)" "attach target" "total (main on)"; do
	grep -q "timing: $phase  *\(wall\|at\) .*cpu  *[0-9.]* ms" "$TMP/timed.err" ||
		fail "no timing line for '$phase': $(cat "$TMP/timed.err")"
done

# maps_of PID: "type key value entries flags" of each BPF map it holds
maps_of() {
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^map_type:/ {t=$2} /^key_size:/ {k=$2} /^value_size:/ {v=$2}
		     /^max_entries:/ {n=$2} /^map_flags:/ {fl=$2}
		     END {if (t != "") print t, k, v, n, fl}' "$f" 2>/dev/null
	done
}
maps_of "$TRACER_PID" >"$TMP/maps"
stop_tracer

start_tracer plain --sample 1 -b "$LIB"
stop_tracer
grep -q "timing:" "$TMP/plain.err" && fail "timing lines without KAOS_TRACE_TIMING"
echo "ok: KAOS_TRACE_TIMING=1 prints the start-up phases, nothing without it"

# 1 = BPF_MAP_TYPE_HASH; batch_threads: u32 tid -> 24 bytes, 8192 entries
grep -q "^1 4 24 8192 " "$TMP/maps" || fail "no batch_threads map: $(cat "$TMP/maps")"
read -r major minor < <(uname -r | awk -F. '{print $1, $2}')
if [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 1 ]; }; then
	# BPF_F_NO_PREALLOC (0x1): bpf_mem_alloc makes it safe in tracing programs
	grep -q "^1 4 24 8192 0x1$" "$TMP/maps" ||
		fail "batch_threads is preallocated: $(grep '^1 4 24 8192 ' "$TMP/maps")"
	echo "ok: batch_threads allocated on insert (kernel $(uname -r))"
else
	grep -q "^1 4 24 8192 0x0$" "$TMP/maps" ||
		fail "batch_threads allocated on insert on a kernel before 6.1"
	echo "ok: batch_threads preallocated (kernel $(uname -r), before 6.1)"
fi
