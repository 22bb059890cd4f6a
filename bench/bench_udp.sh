#!/usr/bin/env bash
# make bench (UDP_BENCH=1, the default): libkaos' reliable UDP next to ENet.
# Loopback: msgs/s for 64 B and 1 KiB messages (median of UDP_RUNS runs,
# kaos and ENet interleaved), one-way p50/p99 latency (ping-pong, RTT / 2, both
# in one process in alternating blocks; median of UDP_RUNS);
# between two network namespaces (root; veth, tc BPF drop: see
# tests/integration/udp_netns.sh): goodput of 1 KiB messages without loss and
# under 1 % loss each way. Prints the ratios against the targets of issue 17:
# msg rate >= 2x ENet's, p99 no worse than ENet's, goodput under 1 % loss
# >= 90 % of loss-free. Knobs: UDP_RUNS (5), UDP_MSGS (200000), UDP_LAT (20000),
# UDP_MIB (64, per goodput run).
set -u
B=${B:-build}
BIN=$PWD/$B/bench/bench_udp
RUNS=${UDP_RUNS:-5} MSGS=${UDP_MSGS:-200000} LAT=${UDP_LAT:-20000} MIB=${UDP_MIB:-64}
[ -x "$BIN" ] || { echo "bench_udp: $BIN missing (run: make bench)" >&2; exit 2; }
status=0

median() { sort -n | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'; }
field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; } # KEY: the number after it

declare -A R
echo "bench_udp: loopback, $RUNS runs of $MSGS messages each" >&2
for size in 64 1024; do
	for impl in kaos enet; do : >"/tmp/bench_udp.$$.$impl.$size"; done
	for _ in $(seq "$RUNS"); do
		for impl in kaos enet; do
			timeout 120 "$BIN" rate $impl $size "$MSGS" | field msgs_per_s \
				>>"/tmp/bench_udp.$$.$impl.$size" || status=1
		done
	done
	for impl in kaos enet; do
		R[$impl.$size]=$(median <"/tmp/bench_udp.$$.$impl.$size")
		rm -f "/tmp/bench_udp.$$.$impl.$size"
	done
done
# one process, both transports in alternating blocks of 100 pings: same load, same offered
# load (one message in flight); the median over UDP_RUNS runs of each percentile
echo "bench_udp: one-way latency, $RUNS runs of $LAT ping-pongs each (load $(cut -d' ' -f1 /proc/loadavg))" >&2
for _ in $(seq "$RUNS"); do
	timeout 300 "$BIN" lat both "$LAT" >>"/tmp/bench_udp.$$.lat" || status=1
done
for impl in kaos enet; do
	for q in p50 p99; do
		R[$impl.$q]=$(grep " $impl " "/tmp/bench_udp.$$.lat" | field ${q}_us | median)
	done
done
rm -f "/tmp/bench_udp.$$.lat"

goodput() { # IMPL DROP_PPM: MB/s of 1 KiB messages NSA -> NSB
	local impl=$1 drop=$2 a=kbA-$$ b=kbB-$$ net=10.78.$(($$ % 250)) rp out
	ip netns add $a && ip netns add $b || return 1
	ip link add vA netns $a type veth peer name vB netns $b
	ip -n $a addr add $net.1/24 dev vA
	ip -n $b addr add $net.2/24 dev vB
	for e in "$a vA" "$b vB"; do
		set -- $e
		ip -n "$1" link set lo up
		ip -n "$1" link set "$2" up
		if [ "$drop" -gt 0 ]; then
			tc -n "$1" qdisc add dev "$2" clsact
			tc -n "$1" filter add dev "$2" egress bpf direct-action obj "$OBJ" sec tc ||
				{ echo "bench_udp: no loss filter: goodput under loss not measured" >&2; status=1; }
		fi
	done
	ip netns exec $b "$BIN" recv $impl $net.2:7000 $((MIB << 20)) 1024 >"$TMPD/recv" &
	rp=$!
	for _ in $(seq 100); do grep -q ready "$TMPD/recv" && break; sleep 0.05; done
	timeout 300 ip netns exec $a "$BIN" send $impl $net.2:7000 $((MIB << 20)) 1024 $net.1 ||
		status=1
	wait $rp || status=1
	ip netns del $a
	ip netns del $b
	field MBps <"$TMPD/recv"
}

if [ "$(id -u)" = 0 ] && command -v tc >/dev/null && command -v clang >/dev/null; then
	TMPD=$(mktemp -d)
	trap 'rm -rf "$TMPD"' EXIT
	# tests/integration/udp_netns.sh's program (it only defines functions), 1 % drop only
	. "$(dirname "$0")/../tests/integration/udp_netns.sh"
	udp_impair_prog "$TMPD/impair.bpf.c"
	OBJ=$TMPD/impair.o
	clang -O2 -g -target bpf -DSEED=4242ULL -DDROP_PPM=10000 -DDUP_PPM=0 -DCORRUPT_PPM=0 \
		-I/usr/include/$(uname -m)-linux-gnu -c "$TMPD/impair.bpf.c" -o "$OBJ" ||
		{ echo "bench_udp: clang -target bpf failed" >&2; status=1; }
	echo "bench_udp: goodput between namespaces, $MIB MiB per run" >&2
	for impl in kaos enet; do
		R[$impl.clean]=$(goodput $impl 0)
		R[$impl.loss]=$(goodput $impl 10000)
	done
else
	echo "bench_udp: goodput between namespaces skipped (needs root, tc and clang)" >&2
fi

args=()
for k in "${!R[@]}"; do args+=("$k" "${R[$k]:-0}"); done
python3 - "${args[@]}" <<'PY'
import sys
args = sys.argv[1:]
kv = dict(zip(args[0::2], args[1::2]))
def g(k):
    try: return float(kv.get(k, "0") or 0)
    except ValueError: return 0.0
def ratio(a, b): return a / b if b else float("nan")
def verdict(ok): return "meets" if ok else "MISSES"
print("\nlibkaos reliable UDP vs ENet (same run; other processes share the CPUs)")
print(f"{'measure':34} {'kaos':>12} {'ENet':>12} {'ratio':>7}  target")
for size in ("64", "1024"):
    k, e = g(f"kaos.{size}"), g(f"enet.{size}")
    r = ratio(k, e)
    print(f"{'msgs/s, ' + size + ' B, loopback':34} {k:12.0f} {e:12.0f} {r:7.2f}  >= 2x ENet: {verdict(r >= 2)}")
for q in ("p50", "p99"):
    k, e = g(f"kaos.{q}"), g(f"enet.{q}")
    r = ratio(k, e)
    t = f"no worse than ENet: {verdict(r <= 1)}" if q == "p99" else ""
    print(f"{'one-way ' + q + ' us, 64 B, loopback':34} {k:12.1f} {e:12.1f} {r:7.2f}  {t}")
for impl in ("kaos", "enet"):
    c, l = g(f"{impl}.clean"), g(f"{impl}.loss")
    if c:
        r = ratio(l, c)
        print(f"{impl + ' goodput MB/s, 1 KiB, 0 / 1 % loss':34} {c:12.1f} {l:12.1f} {r:7.2f}  "
              + (f">= 0.9 of loss-free: {verdict(r >= 0.9)}" if impl == "kaos" else "(ENet, for reference)"))
PY
exit $status
