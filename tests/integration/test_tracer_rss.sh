#!/usr/bin/env bash
# kaos-trace's own footprint (issue 16: max RSS under 8 MB): a plain run maps
# no libpfm (dlopen()ed for --pmu only) and a 1 MiB event ring by default
# (its pages are mapped twice and all count in RSS). The peak (VmHWM) after
# attaching, with the default options, stays under 8 MB.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

start_tracer rss --sample 1 -b "$B/libkaos.so"
"$WORK" --msgs 20000 --batch 1 >/dev/null
maps=$(cat "/proc/$TRACER_PID/maps")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$TRACER_PID/status")
stop_tracer
! grep -q libpfm <<<"$maps" || fail "libpfm is mapped without --pmu"
# the event ring: the consumer page, the producer page, then the data twice
rb_kb=0
while read -r range perms _ _ _ name; do
	[ "$perms" = r--s ] && [ "$name" = anon_inode:bpf-map ] || continue
	rb_kb=$((rb_kb + (0x${range#*-} - 0x${range%-*}) / 1024))
done <<<"$maps"
[ "$rb_kb" -lt 3072 ] || fail "BPF maps mapped read-only: ${rb_kb} kB (a 1 MiB event ring: ~2 MB)"
[ "$hwm" -lt 8192 ] || fail "max RSS ${hwm} kB (>= 8 MB)"
echo "PASS: no libpfm, ${rb_kb} kB of event ring mapped, max RSS ${hwm} kB < 8 MB"
