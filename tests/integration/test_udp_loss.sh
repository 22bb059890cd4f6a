#!/usr/bin/env bash
# libkaos' reliable UDP over a lossy link: two network namespaces joined by a
# veth pair, each end's egress impaired by a tc BPF program (clsact, cls_bpf;
# this kernel has no netem): by a seeded PRNG it drops 3 % of IPv4 packets,
# duplicates 1 % (bpf_clone_redirect) and flips a byte in 0.2 %.
# 5,000 messages (0..3000 bytes) arrive exactly once, in order, intact; the
# receiver saw duplicates and counted corrupted datagrams as garbage; the
# sender retransmitted (fewer than 1 in 10 by timeout), and kaos-trace (tracing the sender inside its
# namespace) counts exactly the sender's own retransmits. Traffic stays in
# the namespaces this test makes and deletes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/udp_netns.sh"
PROG=$PWD/$B/tests/progs/kt_udp_loss
need "$KT" "$PROG"

MSGS=5000
udp_netns_up 30000 10000 2000

ip netns exec "$NSB" "$PROG" --recv "$NET.2:7000" --msgs $MSGS >"$TMP/receiver.txt" \
	2>"$TMP/receiver.err" &
rpid=$!
for _ in $(seq 300); do # until it is bound (it prints "ready" then)
	grep -q '^ready$' "$TMP/receiver.txt" && break
	kill -0 "$rpid" 2>/dev/null || fail "receiver exited early"
	sleep 0.1
done
grep -q '^ready$' "$TMP/receiver.txt" || fail "receiver did not start"

ip netns exec "$NSA" "$KT" --sample 1 --json "$TMP/sender.json" -- \
	"$PROG" --send "$NET.2:7000" --from "$NET.1" --msgs $MSGS >"$TMP/sender.txt" \
	2>"$TMP/sender.err" || fail "sender failed"
wait "$rpid" || fail "receiver failed"
read -r got dups garbage < <(sed -n 's/^udp udpr.rx received \([0-9]*\) duplicates \([0-9]*\) garbage \([0-9]*\)$/\1 \2 \3/p' "$TMP/receiver.txt")
[ "${got:-}" = $MSGS ] || fail "receiver did not get all $MSGS"
[ "$dups" -gt 0 ] || fail "no duplicates seen through a duplicating link"
[ "$garbage" -gt 0 ] || fail "no corrupted datagram counted as garbage"
own=$(sed -n "s/^udp udpl.tx sent $MSGS retransmits \([0-9]*\) .*/\1/p" "$TMP/sender.txt")
[ -n "$own" ] || fail "no counters from the sender"
[ "$own" -gt 0 ] || fail "no retransmits through a 3 % lossy link"
# losses are found by duplicate acks and SACKs, not left to the RTO (200 ms
# each): a lost ack, a lost retransmission, a short flight
tmo=$(sed -n "s/^udp udpl.tx sent $MSGS retransmits [0-9]* timeout \([0-9]*\) .*/\1/p" "$TMP/sender.txt")
[ $((tmo * 10)) -lt "$own" ] || fail "$tmo of $own retransmits waited for the timeout"
json_check "$TMP/sender.json" \
	'final["lost"] == 0' \
	"[r[\"retransmit\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$own]" \
	"[r[\"send\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$MSGS]"
echo "PASS: $MSGS messages exactly once over a veth with 3 % loss, 1 % duplication, 0.2 % corruption: $own retransmits (kaos-trace agrees), $dups duplicates, $garbage garbage"
