#!/usr/bin/env bash
# libkaos' reliable UDP under every impairment of issue 17 at once: two
# namespaces joined by a veth whose tc BPF program drops 5 %, duplicates 1 %
# and corrupts 0.1 % of packets each way, and the relay
# (tests/progs/kt_udp_relay, in the receiver's namespace) that delays every
# datagram 10 ms +- 5 ms and sends 10 % at once, ahead of the queue
# (reordering). Checked:
#  - 10^6 messages arrive exactly once and in order (the receiver checks the
#    length and bytes of message i, which follow from i alone);
#  - kaos-trace (-- on the sender, --json, --sample 1000: sends are counted
#    exactly from the ring's counters, retransmits are never sampled) counts exactly the sender's own
#    retransmits, by reason (timeout, fast), and classes them as the table says (none 0, low < 1 %,
#    high >= 1 % of sends; user/data/kt_classify);
#  - a file arrives byte-identical through kaos-pipeline send/recv: the
#    issue's 256 MiB (UDP_IMPAIRED_MIB sets it; core/udp_cc.h reads 5 %
#    random loss as no congestion: ~2-4 MB/s here where Reno-style AIMD gave
#    0.15-0.5 MB/s; docs/udp.md has the times);
#  - without impairment (loopback through the relay with delay and jitter but
#    no reordering): zero retransmits, class none.
# Long: see the times it prints (docs/udp.md has the measured ones).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/udp_netns.sh"
PROG=$PWD/$B/tests/progs/kt_udp_loss RELAY=$PWD/$B/tests/progs/kt_udp_relay P=$PWD/$B/kaos-pipeline
need "$KT" "$PROG" "$RELAY" "$P"
MSGS=${UDP_IMPAIRED_MSGS:-1000000} MIB=${UDP_IMPAIRED_MIB:-256}

# messages NAME NS_RECV NS_SEND RELAY_LISTEN RELAY_TO SENDER_FROM RELAY_ARGS...:
# MSGS messages through the relay; leaves $TMP/NAME.{json,sender.txt}
messages() {
	local name=$1 rns=$2 sns=$3 listen=$4 to=$5 from=$6 rl rp
	shift 6
	$rns "$RELAY" --listen "$listen" --to "$to" "$@" >"$TMP/$name.relay.txt" \
		2>"$TMP/$name.relay.err" &
	rl=$!
	KT_PIDS+=($rl) # the EXIT trap stops what is left (SIGINT)
	wait_ready "$TMP/$name.relay.txt" $rl relay
	$rns "$PROG" --recv "$to" --msgs "$MSGS" --max-len 64 --window 512 \
		>"$TMP/$name.receiver.txt" 2>"$TMP/$name.receiver.err" &
	rp=$!
	KT_PIDS+=($rp)
	wait_ready "$TMP/$name.receiver.txt" $rp receiver
	local t0=$SECONDS
	$sns "$KT" --sample 1000 --json "$TMP/$name.json" -- "$PROG" --send "$listen" --from "$from" \
		--msgs "$MSGS" --max-len 64 --window 512 >"$TMP/$name.sender.txt" \
		2>"$TMP/$name.sender.err" || fail "$name: sender failed"
	wait $rp || fail "$name: receiver failed"
	kill -TERM $rl && wait $rl || fail "$name: relay failed"
	grep -q "^udp udpr.rx received $MSGS " "$TMP/$name.receiver.txt" ||
		fail "$name: the receiver did not get all $MSGS in order"
	echo "$name: $MSGS messages in $((SECONDS - t0)) s; $(tail -n 1 "$TMP/$name.relay.txt")"
}

# check_trace NAME: kaos-trace's count and class against the sender's own counters
check_trace() {
	local name=$1 own tmo fast class
	read -r own tmo fast < <(sed -n "s/^udp udpl.tx sent $MSGS retransmits \([0-9]*\) timeout \([0-9]*\) fast \([0-9]*\) .*/\1 \2 \3/p" "$TMP/$name.sender.txt")
	[ -n "$own" ] || fail "$name: no counters from the sender"
	if [ "$own" = 0 ]; then class=none; elif [ $((own * 100)) -lt "$MSGS" ]; then class=low; else class=high; fi
	json_check "$TMP/$name.json" 'final["lost"] == 0' \
		"[r[\"retransmit\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\" and \"retransmit\" in r] in ([$own], [] if $own == 0 else None)" \
		"[r[\"send\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$MSGS]" \
		"[r[\"retransmit\"][\"class\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\" and \"retransmit\" in r] in ([\"$class\"], [] if $own == 0 else None)" \
		"[r[\"retransmit\"][\"reasons\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\" and \"retransmit\" in r] in ([{\"timeout\": $tmo, \"fast\": $fast, \"unspecified\": 0}], [] if $own == 0 else None)"
	echo "$name: $own retransmits ($tmo timeout, $fast fast; kaos-trace agrees), class $class"
	OWN=$own
}

# without impairment: loopback, the relay delays (10 +- 5 ms) but never reorders
messages clean "" "" 127.0.0.1:17500 127.0.0.1:17501 127.0.0.1 --reorder-pct 0 --seed 7
check_trace clean
[ "$OWN" = 0 ] || fail "clean: $OWN retransmits without loss or reordering"

udp_netns_up 50000 10000 1000
messages impaired "ip netns exec $NSB" "ip netns exec $NSA" "$NET.2:7000" 127.0.0.1:7001 "$NET.1" \
	--delay-ms 10 --jitter-ms 5 --reorder-pct 10 --seed 11
check_trace impaired
[ "$OWN" -gt 0 ] || fail "impaired: no retransmits"

# a file through kaos-pipeline: half random, half text
head -c $((MIB << 19)) /dev/urandom >"$TMP/in"
{ seq 1 100000000 | head -c $((MIB << 19)) || true; } >>"$TMP/in" # head ends seq early
ip netns exec "$NSB" "$RELAY" --listen "$NET.2:7100" --to 127.0.0.1:7101 --seed 13 \
	>"$TMP/pipe.relay.txt" 2>"$TMP/pipe.relay.err" &
rl=$!
KT_PIDS+=($rl)
wait_ready "$TMP/pipe.relay.txt" $rl relay
ip netns exec "$NSB" "$P" recv 127.0.0.1:7101 "$TMP/out" 2>"$TMP/pipe.recv.err" &
rp=$!
KT_PIDS+=($rp)
t0=$SECONDS
ip netns exec "$NSA" "$P" send "$TMP/in" "$NET.2:7100" 2>"$TMP/pipe.send.err" || fail "send failed"
wait $rp || fail "recv failed"
kill -TERM $rl && wait $rl || fail "relay failed"
cmp "$TMP/in" "$TMP/out" || fail "the $MIB MiB file differs"
echo "pipeline: $MIB MiB byte-identical in $((SECONDS - t0)) s; $(tail -n 1 "$TMP/pipe.relay.txt")"
echo "PASS: $MSGS messages exactly once in order, $MIB MiB byte-identical under 5 % loss, 1 % duplication, 0.1 % corruption, 10 +- 5 ms delay, 10 % reordering; kaos-trace counts and classes the retransmits as the transport; none without impairment"
