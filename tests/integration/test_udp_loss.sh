#!/usr/bin/env bash
# libkaos' reliable UDP over a lossy link: two network namespaces joined by a
# veth pair, each end's egress impaired by a tc BPF program (clsact, cls_bpf;
# this kernel has no netem): by a seeded PRNG it drops 3 % of IPv4 packets,
# duplicates 1 % (bpf_clone_redirect) and flips a byte in 0.2 %.
# 5,000 messages (0..3000 bytes) arrive exactly once, in order, intact; the
# receiver saw duplicates and counted corrupted datagrams as garbage; the
# sender retransmitted, and kaos-trace (tracing the sender inside its
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
cat >"$TMP/impair.bpf.c" <<'BPF'
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

__u64 state = SEED;

static __u32 ppm(void)
{
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (state * 0x2545f4914f6cdd1dULL >> 32) % 1000000;
}

SEC("tc")
int impair(struct __sk_buff *skb)
{
	__u8 last;

	if (skb->protocol != __builtin_bswap16(0x0800))
		return TC_ACT_OK;
	if (ppm() < DROP_PPM)
		return TC_ACT_SHOT;
	if (ppm() < DUP_PPM) /* the copy passes here again: it may be dropped or copied too */
		bpf_clone_redirect(skb, skb->ifindex, 0);
	/* flip the last byte: veth keeps CHECKSUM_PARTIAL, so only our crc32c can notice */
	if (ppm() < CORRUPT_PPM && skb->len > 0 && !bpf_skb_load_bytes(skb, skb->len - 1, &last, 1)) {
		last ^= 0x5a;
		bpf_skb_store_bytes(skb, skb->len - 1, &last, 1, 0);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
BPF
for end in a b; do
	seed=$([ $end = a ] && echo 12345 || echo 67890)
	clang -O2 -g -target bpf -DSEED=${seed}ULL -DDROP_PPM=30000 -DDUP_PPM=10000 -DCORRUPT_PPM=2000 \
		-I/usr/include/$(uname -m)-linux-gnu -c "$TMP/impair.bpf.c" -o "$TMP/impair_$end.o" \
		2>"$TMP/clang.err" || fail "clang -target bpf failed"
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
	tc -n "$n" filter add dev "$dev" egress bpf direct-action obj "$TMP/impair_$end.o" sec tc \
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
read -r got dups garbage < <(sed -n 's/^udp udpr.rx received \([0-9]*\) duplicates \([0-9]*\) garbage \([0-9]*\)$/\1 \2 \3/p' "$TMP/receiver.txt")
[ "${got:-}" = $MSGS ] || fail "receiver did not get all $MSGS"
[ "$dups" -gt 0 ] || fail "no duplicates seen through a duplicating link"
[ "$garbage" -gt 0 ] || fail "no corrupted datagram counted as garbage"
own=$(sed -n "s/^udp udpl.tx sent $MSGS retransmits \([0-9]*\) .*/\1/p" "$TMP/sender.txt")
[ -n "$own" ] || fail "no counters from the sender"
[ "$own" -gt 0 ] || fail "no retransmits through a 3 % lossy link"
json_check "$TMP/sender.json" \
	'final["lost"] == 0' \
	"[r[\"retransmit\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$own]" \
	"[r[\"send\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$MSGS]"
echo "PASS: $MSGS messages exactly once over a veth with 3 % loss, 1 % duplication, 0.2 % corruption: $own retransmits (kaos-trace agrees), $dups duplicates, $garbage garbage"
