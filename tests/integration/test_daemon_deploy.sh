#!/usr/bin/env bash
# deploy/: the systemd unit passes `systemd-analyze verify` with no warning
# (a typo'd copy does not: the check can fail); its capability set is
# enough to run the daemon as an unprivileged user against another user's
# process (probes attach, ring names are read); without CAP_SYS_PTRACE the
# names still arrive with batched records (read in BPF). The example config checks.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"
root=$(cd "$(dirname "$0")/../.." && pwd)
unit=$root/deploy/kaos-trace.service
kt_abs=$(cd "$(dirname "$KT")" && pwd)/$(basename "$KT")
lib_abs=$(cd "$B" && pwd)/libkaos.so

# What the unprivileged user runs and reads, copied where it can reach them: the
# clone may live under a directory only its owner can enter (mktemp -d makes 0700).
# The workload maps the copied library, the one the daemon watches.
pub=$(reachable "$KT" "$WORK") || fail "cannot copy $KT, $WORK for nobody"
cp "$(readlink -f "$lib_abs")" "$pub/libkaos.so.0"

# the example config is valid (its library path swapped for the one built here)
sed "s|^path = /usr/local/lib/libkaos.so.0$|path = $lib_abs|" \
	"$root/deploy/kaos-trace.conf" >"$TMP/example.conf"
"$KT" daemon --config "$TMP/example.conf" --check-config >"$TMP/check.txt" 2>&1 ||
	fail "deploy/kaos-trace.conf: $(cat "$TMP/check.txt")"
grep -q "config OK: 1 watch (1 object with probes), 5 rules" "$TMP/check.txt" || fail "$(cat "$TMP/check.txt")"

if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart: point it at the binary built here
	mkdir -p "$TMP/unit"
	sed "s|/usr/local/bin/kaos-trace|$kt_abs|; s|/etc/kaos-trace/kaos-trace.conf|$TMP/example.conf|" \
		"$unit" >"$TMP/unit/kaos-trace.service"
	# its Documentation= names man:kaos-trace(8): the page of this tree (man/man8)
	export MANPATH=$root/man
	out=$(systemd-analyze verify "$TMP/unit/kaos-trace.service" 2>&1) || fail "verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
	sed 's/^ProtectSystem=strict/ProtectSytem=strict/' "$TMP/unit/kaos-trace.service" \
		>"$TMP/unit/kaos-trace-typo.service"
	out=$(systemd-analyze verify "$TMP/unit/kaos-trace-typo.service" 2>&1 || true)
	[ -n "$out" ] || fail "verify did not notice a typo'd key: the check above proves nothing"
	score=$(systemd-analyze security --offline=yes "$TMP/unit/kaos-trace.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	echo "systemd-analyze security exposure: $score"
	awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 < 4.0) }' ||
		fail "exposure '$score' is not below 4.0"
else
	fail "systemd-analyze is missing (make test-deps installs systemd): the unit cannot be verified"
fi

# The unit's capabilities, as an unprivileged user (nobody), root's workload.
command -v capsh >/dev/null || fail "capsh (libcap2-bin) is missing"
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z ' 'a-z,')
[ -n "$caps" ] || fail "no AmbientCapabilities= in the unit"
run_as_nobody() { # NAME CAPS
	local name=$1 c=$2
	DERR=$TMP/$name.err
	capsh --caps="$c+eip cap_setpcap,cap_setuid,cap_setgid+ep" --keep=1 --user=nobody \
		--addamb="$c" -- -c "exec $pub/kaos-trace daemon --watch $pub/libkaos.so.0 --listen 127.0.0.1:0" \
		>"$TMP/$name.out" 2>"$DERR" &
	DPID=$!
	KT_PIDS+=("$DPID")
	for _ in $(seq 1 400); do
		grep -q "start: running" "$DERR" 2>/dev/null && break
		kill -0 "$DPID" 2>/dev/null || fail "$name: daemon exited: $(cat "$DERR")"
		sleep 0.05
	done
	grep -q "start: running" "$DERR" || fail "$name: daemon did not start"
	PORT=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$DERR" | grep -o '[0-9]*$')
	# a process of root's, alive while the daemon reads its ring names
	LD_LIBRARY_PATH=$pub "$pub/kt_workload" --msgs 5000 --hold-ms 4000 >/dev/null &
	local wp=$!
	for _ in $(seq 1 100); do
		grep -q "$pub/libkaos.so.0" "/proc/$wp/maps" 2>/dev/null && break
		sleep 0.05
	done
	grep -q "$pub/libkaos.so.0" "/proc/$wp/maps" ||
		fail "$name: the workload does not map $pub/libkaos.so.0"
	RING=""
	for _ in $(seq 1 60); do
		scrape /metrics >"$TMP/$name.metrics" || fail "$name: scrape failed"
		RING=$(sed -n "s/^kaos_ring_messages_total{pid=\"$wp\",.*ring=\"\([^\"]*\)\".*op=\"send\"} 5000$/\1/p" "$TMP/$name.metrics")
		[ -n "$(grep "pid=\"$wp\".*op=\"send\"} 5000$" "$TMP/$name.metrics")" ] && break
		sleep 0.1
	done
	grep -q "pid=\"$wp\".*op=\"send\"} 5000$" "$TMP/$name.metrics" ||
		fail "$name: the workload's 5000 sends never showed"
	kill "$wp" 2>/dev/null || true
	wait "$wp" 2>/dev/null || true
	stop_daemon
}
run_as_nobody unitcaps "$caps"
[ "$RING" = work.0 ] || fail "with the unit's capabilities the ring name was '$RING'"
run_as_nobody noptrace "$(echo "$caps" | sed 's/,cap_sys_ptrace//; s/cap_sys_ptrace,//')"
# batched records carry their ring's name, read by the BPF program itself: no
# process_vm_readv, so no CAP_SYS_PTRACE for names (the unit keeps it for the sampling
# control word, written into the process, and per-op tracing's name reads)
[ "$RING" = work.0 ] || fail "without CAP_SYS_PTRACE the batched ring name was '$RING', not work.0"
echo "PASS: unit verified; its capabilities run the daemon as nobody; example config valid"
