#!/usr/bin/env bash
# Real congestion still backs off (issue 17; core/udp_cc.h): libkaos' reliable
# UDP through a bottleneck, a tc tbf qdisc on the sender's veth (8 Mbit/s, a
# queue of 64 KB, about 50 datagrams; tail drop), then the relay
# (tests/progs/kt_udp_relay) adding 10 ms each way. The congestion controller
# ignores loss below a 15 % share (random loss); a queue that overflows must
# still make it cut. Checked, from counters:
#  - one transfer: every message arrives; the sender cut its window (cuts >= 1);
#    tbf's drops stay under 15 % of what it saw (slow start's overshoot
#    included), and under 2 % of what it saw after the receiver had a third
#    (a loss while the queue delays is a cut: ~0.1 % measured; with the 15 %
#    share alone some runs settled near 15 %); the relay saw at least half
#    the bottleneck's rate between the first and the last datagram (its own
#    clock: a loose bound, the point is "not collapsed");
#  - two transfers at once through the same queue: both complete, and when
#    the first ends the other already has at least a quarter of its messages
#    (neither starves; the receiver prints "got N" every 100).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/udp_netns.sh"
PROG=$PWD/$B/tests/progs/kt_udp_loss RELAY=$PWD/$B/tests/progs/kt_udp_relay
need "$PROG" "$RELAY"
N1=${UDP_BOTTLENECK_MSGS:-3000} N2=${UDP_BOTTLENECK_MSGS2:-2000}
LATE_PCT=2 # drops at the queue once slow start is over (the last two thirds of one transfer)

bottleneck() { # a fresh tbf (counters at 0) on the sender's side
	tc -n "$NSA" qdisc del dev vA root 2>/dev/null || true
	tc -n "$NSA" qdisc add dev vA root tbf rate 8mbit burst 4000 limit 64000
}

# tbf_counts: "sent dropped" packets so far
tbf_counts() {
	tc -s -n "$NSA" qdisc show dev vA | sed -n 's/.*Sent [0-9]* bytes \([0-9]*\) pkt (dropped \([0-9]*\),.*/\1 \2/p' | head -n 1
}

# flow NAME PORT N: relay NET.2:PORT -> 127.0.0.1:PORT+1 and a receiver in NSB
flow() {
	local name=$1 port=$2 n=$3
	ip netns exec "$NSB" "$RELAY" --listen "$NET.2:$port" --to "127.0.0.1:$((port + 1))" \
		--delay-ms 10 --jitter-ms 0 --reorder-pct 0 >"$TMP/$name.relay.txt" 2>"$TMP/$name.relay.err" &
	RL=$!
	KT_PIDS+=($RL)
	wait_ready "$TMP/$name.relay.txt" $RL relay
	ip netns exec "$NSB" "$PROG" --recv "127.0.0.1:$((port + 1))" --msgs "$n" --window 512 \
		--progress 100 >"$TMP/$name.receiver.txt" 2>"$TMP/$name.receiver.err" &
	RP=$!
	KT_PIDS+=($RP)
	wait_ready "$TMP/$name.receiver.txt" $RP receiver
}

# finish NAME N RELAY_PID RECEIVER_PID: the receiver got all, the relay's counts
finish() {
	wait "$4" || fail "$1: receiver failed"
	kill -TERM "$3" && wait "$3" || fail "$1: relay failed"
	grep -q "^udp udpr.rx received $2 " "$TMP/$1.receiver.txt" || fail "$1: not all $2 messages"
}

udp_netns_up 0 0 0
bottleneck

flow one 7000 "$N1"
rl=$RL rp=$RP
ip netns exec "$NSA" "$PROG" --send "$NET.2:7000" --from "$NET.1" --msgs "$N1" --window 512 \
	>"$TMP/one.sender.txt" 2>"$TMP/one.sender.err" &
s1=$!
# the queue's counts once a third has arrived: slow start's overshoot is behind
until [ "$(sed -n 's/^got \([0-9]*\)$/\1/p' "$TMP/one.receiver.txt" | tail -n 1)" -ge $((N1 / 3)) ] 2>/dev/null; do
	kill -0 $s1 2>/dev/null || break
	sleep 0.05
done
read -r sent0 dropped0 < <(tbf_counts)
wait $s1 || fail "one: sender failed"
finish one "$N1" $rl $rp
read -r sent dropped < <(tbf_counts)
read -r bytes span < <(sed -n 's/.* fwd_bytes \([0-9]*\) fwd_span_us \([0-9]*\)$/\1 \2/p' "$TMP/one.relay.txt")
cuts=$(sed -n 's/.* cuts \([0-9]*\) .*/\1/p' "$TMP/one.sender.txt")
echo "one: $N1 messages; tbf sent $sent dropped $dropped; $bytes bytes in $span us at the relay; sender: $(cat "$TMP/one.sender.txt")"
[ "${cuts:-0}" -ge 1 ] || fail "one: the sender never cut its window through an overflowing queue"
[ "$dropped" -gt 0 ] || fail "one: the queue never overflowed: no congestion tested"
[ $((dropped * 100)) -lt $(((sent + dropped) * 15)) ] || fail "one: tbf dropped $dropped of $((sent + dropped)) (>= 15 %)"
late=$((dropped - dropped0)) late_all=$((sent + dropped - sent0 - dropped0))
echo "one: after the first third tbf dropped $late of $late_all"
[ "$late_all" -gt 0 ] || fail "one: the last two thirds never reached the queue (got no snapshot)"
[ $((late * 100)) -lt $((late_all * LATE_PCT)) ] || fail "one: after slow start tbf dropped $late of $late_all (>= $LATE_PCT %)"
# 8 Mbit/s = 1,000,000 bytes/s = 1 byte/us: at least half of it
[ $((bytes * 2)) -ge "$span" ] || fail "one: $bytes bytes in $span us: under half the bottleneck's rate"

bottleneck
flow a 7100 "$N2"
rla=$RL rpa=$RP
flow b 7200 "$N2"
rlb=$RL rpb=$RP
ip netns exec "$NSA" "$PROG" --send "$NET.2:7100" --from "$NET.1" --msgs "$N2" --window 512 \
	>"$TMP/a.sender.txt" 2>"$TMP/a.sender.err" &
sa=$!
ip netns exec "$NSA" "$PROG" --send "$NET.2:7200" --from "$NET.1" --msgs "$N2" --window 512 \
	>"$TMP/b.sender.txt" 2>"$TMP/b.sender.err" &
sb=$!
wait -n $sa $sb || fail "a sender failed"
if kill -0 $sa 2>/dev/null; then other=a first=b; else other=b first=a; fi
got=$(sed -n 's/^got \([0-9]*\)$/\1/p' "$TMP/$other.receiver.txt" | tail -n 1)
wait $sa || fail "a: sender failed"
wait $sb || fail "b: sender failed"
finish a "$N2" $rla $rpa
finish b "$N2" $rlb $rpb
read -r sent dropped < <(tbf_counts)
echo "two: $first ended first, $other had ${got:-0} of $N2; tbf sent $sent dropped $dropped"
[ $((${got:-0} * 4)) -ge "$N2" ] || fail "two: $other had ${got:-0} of $N2 when $first ended: starved"
[ $((dropped * 100)) -lt $(((sent + dropped) * 15)) ] || fail "two: tbf dropped $dropped of $((sent + dropped)) (>= 15 %)"
echo "PASS: through an 8 Mbit/s tail-drop queue one transfer cut its window ($cuts cuts) with drops under 15 % and at least half the rate; two at once both progressed"
