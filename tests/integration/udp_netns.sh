# Two network namespaces joined by an impaired veth, for the UDP tests
# (sourced after lib.sh, not run). This kernel has no netem: each end's
# egress runs a tc BPF program (clsact, cls_bpf) that, by a PRNG seeded at
# compile time (a failing run reproduces, up to the two CPUs' interleaving),
# drops, duplicates (bpf_clone_redirect) and corrupts (one flipped byte)
# IPv4 packets; ARP always passes. Traffic stays in the namespaces made here.
#   udp_netns_up DROP_PPM DUP_PPM CORRUPT_PPM
# makes $NSA ($NET.1, dev vA) and $NSB ($NET.2, dev vB); udp_netns_down
# (the EXIT trap) deletes them.

NSA=kudpA-$$ NSB=kudpB-$$ NET=10.77.$(($$ % 250))

udp_netns_down() {
	local rc=$?
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	cleanup "$rc"
}

udp_impair_prog() { # FILE: the BPF program's source
	cat >"$1" <<'BPF'
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
	/* flip the last byte: veth keeps CHECKSUM_PARTIAL, so only the crc32c can notice */
	if (ppm() < CORRUPT_PPM && skb->len > 0 && !bpf_skb_load_bytes(skb, skb->len - 1, &last, 1)) {
		last ^= 0x5a;
		bpf_skb_store_bytes(skb, skb->len - 1, &last, 1, 0);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
BPF
}

udp_netns_up() {
	local drop=$1 dup=$2 corrupt=$3 ns n dev end seed
	command -v tc >/dev/null && command -v ip >/dev/null || fail "tc and ip (iproute2) are needed"
	[ "$(id -u)" = 0 ] || fail "needs root (namespaces, tc, BPF)"
	trap udp_netns_down EXIT
	udp_impair_prog "$TMP/impair.bpf.c"
	for end in a b; do
		seed=$([ $end = a ] && echo 12345 || echo 67890)
		clang -O2 -g -target bpf -DSEED=${seed}ULL -DDROP_PPM="$drop" -DDUP_PPM="$dup" \
			-DCORRUPT_PPM="$corrupt" -I/usr/include/$(uname -m)-linux-gnu \
			-c "$TMP/impair.bpf.c" -o "$TMP/impair_$end.o" 2>"$TMP/clang.err" ||
			fail "clang -target bpf failed"
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
		tc -n "$n" filter add dev "$dev" egress bpf direct-action obj "$TMP/impair_$end.o" \
			sec tc 2>"$TMP/tc_$end.err" || fail "tc filter on $dev: $(cat "$TMP/tc_$end.err")"
	done
}

