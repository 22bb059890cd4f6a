#!/usr/bin/env bash
# libkaos' reliable UDP over a lossy link: two network namespaces joined by a
# veth pair, each end's egress impaired by a tc BPF program (clsact, cls_bpf;
# this kernel has no netem) that drops 3 % of IPv4 packets by a seeded PRNG.
# 5,000 messages (0..3000 bytes) arrive exactly once, in order, intact;
# the sender retransmitted, and kaos-trace (tracing the sender inside its
# namespace) counts exactly the sender's own retransmits. Traffic stays in
# the namespaces this test makes and deletes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PROG=$PWD/$B/tests/progs/kt_udp_loss
need "$KT" "$PROG"
command -v tc >/dev/null && command -v ip >/dev/null || fail "tc and ip (iproute2) are needed"
[ "$(id -u)" = 0 ] || fail "needs root (namespaces, tc, BPF)"

NSA=kudpA-$$ NSB=kudpB-$$ NET=10.77.$(($$ % 250)) MSGS=5000
udp_cleanup() {
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	cleanup
}
trap udp_cleanup EXIT

# The drop program: xorshift64* seeded at compile time, so a failing run reproduces
# (up to the interleaving of the two CPUs); non-IPv4 (ARP) always passes.
cat >"$TMP/drop.bpf.c" <<'BPF'
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

__u64 state = SEED;

SEC("tc")
int drop_some(struct __sk_buff *skb)
{
	if (skb->protocol != __builtin_bswap16(0x0800))
		return TC_ACT_OK;
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (state * 0x2545f4914f6cdd1dULL >> 32) % 1000000 < DROP_PPM ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
BPF
for end in a b; do
	seed=$([ $end = a ] && echo 12345 || echo 67890)
	clang -O2 -g -target bpf -DSEED=${seed}ULL -DDROP_PPM=30000 -I/usr/include/$(uname -m)-linux-gnu \
		-c "$TMP/drop.bpf.c" -o "$TMP/drop_$end.o" 2>"$TMP/clang.err" || fail "clang -target bpf failed"
done

ip netns add "$NSA"
ip netns add "$NSB"
ip link add vA netns "$NSA" type veth peer name vB netns "$NSB"
ip -n "$NSA" addr add "$NET.1/24" dev vA
ip -n "$NSB" addr add "$NET.2/24" dev vB
for ns in "$NSA:vA:a" "$NSB:vB:b"; do
	IFS=: read -r n dev end <<<"$ns"
	ip -n "$n" link set lo up
	ip -n "$n" link set "$dev" up
	tc -n "$n" qdisc add dev "$dev" clsact
	tc -n "$n" filter add dev "$dev" egress bpf direct-action obj "$TMP/drop_$end.o" sec tc \
		2>"$TMP/tc_$end.err" || fail "tc filter on $dev: $(cat "$TMP/tc_$end.err")"
done

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
grep -q "^udp udpr.rx received $MSGS$" "$TMP/receiver.txt" || fail "receiver did not get all $MSGS"
own=$(sed -n "s/^udp udpl.tx sent $MSGS retransmits \([0-9]*\) .*/\1/p" "$TMP/sender.txt")
[ -n "$own" ] || fail "no counters from the sender"
[ "$own" -gt 0 ] || fail "no retransmits through a 3 % lossy link"
json_check "$TMP/sender.json" \
	'final["lost"] == 0' \
	"[r[\"retransmit\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$own]" \
	"[r[\"send\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$MSGS]"
echo "PASS: $MSGS messages exactly once over a 3 % lossy veth; $own retransmits, kaos-trace agrees"
