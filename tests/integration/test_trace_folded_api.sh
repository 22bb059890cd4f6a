#!/usr/bin/env bash
# Folded event stacks end at the libkaos call the program made
# (kaos_ring_send, kaos_ring_recv, their _batch forms), with no frame of
# libkaos' probe path below it (fire_send, send1_probed_spsc.cold,
# send1_slow, send_wait...): with libkaos.so, per message and in batches, and
# with libkaos.a linked into the program (its .symtab globals are the API);
# through kaos_ipc_send (which calls kaos_ring_send); in the daemon's folded
# files too.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
STATIC=$B/tests/progs/kt_workload_static
IPC=$B/tests/progs/kt_ipc_send
need "$KT" "$WORK" "$STATIC" "$IPC"

# folded NAME ARGS...: kaos-trace --folded over a command; prints the file.
folded() {
	local name=$1
	shift
	"$KT" --sample 1 --folded "$TMP/$name.folded" -- "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" ||
		fail "$name: kaos-trace failed"
	[ -s "$TMP/$name.folded" ] || fail "$name: no folded output"
	echo "$TMP/$name.folded"
}

# check FILE CALLER SUFFIX: no probe-path frame; every event line ends
# CALLER;kaos_ring_<op>SUFFIX (send, recv and backpressure lines alike).
check() {
	local f=$1 caller=$2 suffix=$3 internals
	internals=$(grep -E 'fire_|_probed|\.cold|_slow[; ]|send_wait|bp_(begin|end)' "$f" || true)
	[ -z "$internals" ] || fail "probe-path frames in $f: $internals"
	grep -Eq "^\[send\];.*;$caller;kaos_ring_send$suffix [0-9]+\$" "$f" ||
		fail "no [send] line ending $caller;kaos_ring_send$suffix in $f: $(cat "$f")"
	grep -Eq "^\[recv\];.*;kaos_ring_recv$suffix [0-9]+\$" "$f" ||
		fail "no [recv] line ending kaos_ring_recv$suffix in $f: $(cat "$f")"
	local other
	other=$(grep -Ev ";kaos_ring_(send|recv)$suffix [0-9]+\$" "$f" || true)
	[ -z "$other" ] || fail "event lines not ending in the API call: $other"
}

check "$(folded one "$WORK" --msgs 20000 --batch 1)" "main;pump" ""
check "$(folded batch "$WORK" --msgs 20000 --batch 8)" "main;pump" "_batch"
f=$(folded static "$STATIC" --msgs 20000 --threads --bp 5)
check "$f" "start_thread;producer" ""
grep -Eq '^\[backpressure\];.*;main;kaos_ring_send [0-9]+$' "$f" ||
	fail "no [backpressure] line ending main;kaos_ring_send: $(cat "$f")"

# kaos_ipc_send sends with kaos_ring_send: the stack ends at the call the program made
f=$(folded ipc "$IPC" --msgs 20000 --hold-ms 300)
grep -Eq '^\[send\];.*;main;client;kaos_ipc_send [0-9]+$' "$f" ||
	fail "no [send] line ending main;client;kaos_ipc_send: $(cat "$f")"
inner=$(grep -E 'kaos_ring_send|send_one|fire_|_probed|\.cold' "$f" || true)
[ -z "$inner" ] || fail "libkaos frames below kaos_ipc_send: $inner"

# the daemon: its interval files of a watched program
mkdir -p "$TMP/folded"
start_daemon d --sample 1 --watch "$WORK" --folded-dir "$TMP/folded" --folded-interval 1s \
	--probe-cost 1000 --listen off
"$WORK" --msgs 20000 --batch 1 --hold-ms 1500 >/dev/null || fail "workload failed"
wait_log 'wrote [1-9][0-9]* stacks'
stop_daemon
cat "$TMP"/folded/*.folded >"$TMP/daemon.folded"
check "$TMP/daemon.folded" "main;pump" ""
echo "PASS: folded event stacks end at the libkaos API call (libkaos.so and libkaos.a, daemon)"
