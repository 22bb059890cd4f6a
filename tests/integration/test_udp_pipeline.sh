#!/usr/bin/env bash
# kaos-pipeline send/recv: the compressed, checksummed pipeline with libkaos'
# reliable UDP between its stages. A file arrives byte-identical over
# loopback and over a veth between two namespaces that drops 3 %, duplicates
# 1 % and corrupts 0.2 % of packets; recv writes OUT only when the whole file
# arrived intact: a sender killed mid-transfer leaves no OUT and no temporary
# file, and both sides fail with one clear line (a dead connection, no
# answer, a bad HOST:PORT, an existing OUT).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/udp_netns.sh"
P=$PWD/$B/kaos-pipeline
need "$P"

# ~12 MiB: random bytes (incompressible) and text (compressible)
head -c 6000000 /dev/urandom >"$TMP/in"
seq 1 900000 | sed 's/$/ kaos over udp/' >>"$TMP/in"

# one_line FILE WHAT: FILE holds exactly one line, matching WHAT
one_line() {
	[ "$(wc -l <"$1")" = 1 ] && grep -q -- "$2" "$1" || fail "expected one line '$2', got: $(cat "$1")"
}

# transfer NAME PREFIX_RECV PREFIX_SEND RECV_AT SEND_TO: a whole transfer, checked
transfer() {
	local name=$1 rns=$2 sns=$3 at=$4 to=$5 rp
	$rns "$P" recv "$at" "$TMP/out_$name" 2>"$TMP/recv_$name.err" &
	rp=$!
	KT_PIDS+=($rp) # the EXIT trap stops what is left (SIGINT)
	$sns "$P" send "$TMP/in" "$to" 2>"$TMP/send_$name.err" || fail "$name: send failed"
	wait "$rp" || fail "$name: recv failed"
	cmp "$TMP/in" "$TMP/out_$name" || fail "$name: the file differs"
	[ ! -s "$TMP/recv_$name.err" ] && [ ! -s "$TMP/send_$name.err" ] || fail "$name: messages"
	ls -a "$TMP" | grep -q 'kaos-' && fail "$name: a temporary file is left"
	return 0
}

transfer loopback "" "" 127.0.0.1:17311 127.0.0.1:17311
echo "ok: loopback transfer byte-identical"

# usage errors: exit 2, one line
for bad in "send $TMP/in 127.0.0.1" "send $TMP/in 127.0.0.1:0" "send $TMP/in :9" \
	"send $TMP/in h:70000" "recv x:y $TMP/o" "recv 12ab $TMP/o" "recv 17312"; do
	rc=0
	$P $bad 2>"$TMP/err" || rc=$?
	[ $rc = 2 ] || fail "'$bad' exited $rc, not 2"
	one_line "$TMP/err" "kaos-pipeline: "
done
echo "ok: bad HOST:PORT and missing arguments: exit 2, one line"

# an existing OUT is refused at once and kept
echo keep >"$TMP/exists"
rc=0
$P recv 17313 "$TMP/exists" 2>"$TMP/err" || rc=$?
[ $rc = 1 ] && [ "$(cat "$TMP/exists")" = keep ] || fail "existing OUT: exit $rc"
one_line "$TMP/err" "already exists"
# nobody listening: no answer, exit 1 (after the 5 s peer timeout)
rc=0
$P send "$TMP/in" 127.0.0.1:17314 2>"$TMP/err" || rc=$?
[ $rc = 1 ] || fail "send to nobody exited $rc"
one_line "$TMP/err" "no answer from 127.0.0.1:17314"
echo "ok: existing OUT refused; unreachable peer: one line, exit 1"

# A sender killed mid-transfer: it has sent 3 MiB of a stream that never
# ends, then SIGKILL; the receiver has written part of its temporary file.
mkfifo "$TMP/fifo"
$P recv 127.0.0.1:17315 "$TMP/out_killed" 2>"$TMP/recv_killed.err" &
rp=$!
$P send - 127.0.0.1:17315 <"$TMP/fifo" 2>"$TMP/send_killed.err" &
sp=$!
exec 7>"$TMP/fifo"
head -c 3000000 "$TMP/in" >&7
for _ in $(seq 200); do # until the first chunks landed in the temporary file
	[ -n "$(find "$TMP" -name '.out_killed.kaos-*' -size +1k)" ] && break
	sleep 0.05
done
[ -n "$(find "$TMP" -name '.out_killed.kaos-*' -size +1k)" ] || fail "no data reached the receiver"
{ kill -KILL $sp && wait $sp; } 2>/dev/null || true
exec 7>&-
rc=0
wait $rp || rc=$?
[ $rc = 1 ] || fail "receiver after a killed sender exited $rc"
one_line "$TMP/recv_killed.err" "connection to the sender is dead"
[ ! -e "$TMP/out_killed" ] || fail "OUT exists after a killed sender"
ls -a "$TMP" | grep -q 'out_killed.kaos' && fail "the temporary file was left"
echo "ok: killed sender: recv exits 1 (dead connection), no OUT, no temporary file"

udp_netns_up 30000 10000 2000
t0=$SECONDS
transfer veth "ip netns exec $NSB" "ip netns exec $NSA" "$NET.2:7000" "$NET.2:7000"
echo "ok: veth transfer in $((SECONDS - t0)) s"
echo "PASS: byte-identical over loopback and over a veth with 3 % loss, 1 % duplication, 0.2 % corruption; failures are clean"
