#!/usr/bin/env bash
# make bench (UDP_BENCH=1, the default): libkaos' reliable UDP next to ENet.
# Loopback: msgs/s for 64 B and 1 KiB messages (median of UDP_RUNS runs,
# kaos and ENet interleaved), one-way p50/p99 latency (ping-pong, RTT / 2, both
# in one process, one ping of each in turn; per run the p99 ratio and a paired
# chunk statistic; medians of UDP_RUNS);
# between two network namespaces (root; veth, tc BPF drop: see
# tests/integration/udp_netns.sh): goodput of 1 KiB messages without loss and
# under 1 % loss each way, UDP_GP_RUNS interleaved pairs in the same
# namespaces (kaos and ENet in turn), the median of the pairs' ratios. Prints the ratios against the
# targets of issue 17: msg rate >= 2x ENet's, p99 no worse than ENet's,
# goodput under 1 % loss >= 90 % of loss-free. Knobs: UDP_RUNS (5), UDP_MSGS
# (200000), UDP_LAT (20000), UDP_MIB (64, per goodput run), UDP_GP_RUNS (5).
set -u
B=${B:-build}
BIN=$PWD/$B/bench/bench_udp
RUNS=${UDP_RUNS:-5} MSGS=${UDP_MSGS:-200000} LAT=${UDP_LAT:-20000} MIB=${UDP_MIB:-64}
GP_RUNS=${UDP_GP_RUNS:-5}
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
# One process, one pinging and one echoing thread for both transports, one ping of each in
# turn (same load, same offered load: one message in flight). Per run: each one's pooled
# p50/p99 and their ratio (paired: same run), and the median over chunks of 1000 ping pairs
# of the p99 ratio with its quartiles. Reported: the median over runs of each figure, the
# ratios' range over runs, and the load (1-min average) at each run.
echo "bench_udp: one-way latency, $RUNS runs of $LAT ping pairs each" >&2
: >"/tmp/bench_udp.$$.lat"
: >"/tmp/bench_udp.$$.ratio"
for run in $(seq "$RUNS"); do
	out=$(timeout 300 "$BIN" lat both "$LAT") || status=1
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "$out" >>"/tmp/bench_udp.$$.lat"
	k=$(echo "$out" | grep " kaos " | field p99_us) e=$(echo "$out" | grep " enet " | field p99_us)
	echo "$out" | awk -v r="$run" -v k="${k:-0}" -v e="${e:-0}" -v l="$load" '
		/ pairs / { for (i = 1; i < NF; i++) v[$i] = $(i + 1) }
		/ kaos / { for (i = 1; i < NF; i++) if ($i == "retransmits") rt = $(i + 1) }
		END {
			f = "bench_udp: lat run %d (load %s): p99 kaos / ENet %s / %s us = %.2f, "
			f = f "chunk median %.2f [q1 %.2f, q3 %.2f], kaos retransmits %d\n"
			printf f, r, l, k, e, (e > 0 ? k / e : 0), v["p99_ratio_median"],
				v["p99_ratio_q1"], v["p99_ratio_q3"], rt
		}' >&2
	echo "$k $e" | awk '$2 > 0 {print $1 / $2}' >>"/tmp/bench_udp.$$.ratio"
done
for impl in kaos enet; do
	for q in p50 p99; do
		R[$impl.$q]=$(grep " $impl " "/tmp/bench_udp.$$.lat" | field ${q}_us | median)
	done
done
R[lat.ratio]=$(median <"/tmp/bench_udp.$$.ratio")
R[lat.ratio_min]=$(sort -n "/tmp/bench_udp.$$.ratio" | head -1)
R[lat.ratio_max]=$(sort -n "/tmp/bench_udp.$$.ratio" | tail -1)
R[lat.chunks]=$(grep " pairs " "/tmp/bench_udp.$$.lat" | field p99_ratio_median | median)
rm -f "/tmp/bench_udp.$$.lat" "/tmp/bench_udp.$$.ratio"

# Two namespaces joined by a veth, made once for every goodput run; the 1 % drop
# filter (both ways) is attached for a lossy run and removed after it.
A=kbA-$$ BNS=kbB-$$ NET=10.78.$(($$ % 250))
netns_up() {
	ip netns add $A && ip netns add $BNS || return 1
	ip link add vA netns $A type veth peer name vB netns $BNS
	ip -n $A addr add $NET.1/24 dev vA
	ip -n $BNS addr add $NET.2/24 dev vB
	for e in "$A vA" "$BNS vB"; do
		set -- $e
		ip -n "$1" link set lo up
		ip -n "$1" link set "$2" up
		tc -n "$1" qdisc add dev "$2" clsact
	done
}
netns_down() {
	ip netns del $A 2>/dev/null
	ip netns del $BNS 2>/dev/null
	rm -rf "$TMPD"
}
loss() { # on|off: the drop filter on both ends' egress
	local e
	for e in "$A vA" "$BNS vB"; do
		set -- $e
		if [ "$LOSS_MODE" = on ]; then
			tc -n "$1" filter add dev "$2" egress bpf direct-action obj "$OBJ" sec tc ||
				{ echo "bench_udp: no loss filter: goodput under loss not measured" >&2; status=1; }
		else
			tc -n "$1" filter del dev "$2" egress
		fi
	done
}
goodput() { # IMPL on|off: MB/s of 1 KiB messages A -> B; the sender's counters to $TMPD/sends
	local impl=$1 rp
	LOSS_MODE=$2
	[ "$2" = on ] && loss
	ip netns exec $BNS "$BIN" recv $impl $NET.2:7000 $((MIB << 20)) 1024 >"$TMPD/recv" &
	rp=$!
	for _ in $(seq 100); do grep -q ready "$TMPD/recv" && break; sleep 0.05; done
	timeout 300 ip netns exec $A "$BIN" send $impl $NET.2:7000 $((MIB << 20)) 1024 $NET.1 \
		>>"$TMPD/sends" || status=1
	wait $rp || status=1
	LOSS_MODE=off
	[ "$2" = on ] && loss
	field MBps <"$TMPD/recv"
}

if [ "$(id -u)" = 0 ] && command -v tc >/dev/null && command -v clang >/dev/null; then
	TMPD=$(mktemp -d)
	trap netns_down EXIT
	# tests/integration/udp_netns.sh's program (it only defines functions), 1 % drop only
	. "$(dirname "$0")/../tests/integration/udp_netns.sh"
	udp_impair_prog "$TMPD/impair.bpf.c"
	OBJ=$TMPD/impair.o
	clang -O2 -g -target bpf -DSEED=4242ULL -DDROP_PPM=10000 -DDUP_PPM=0 -DCORRUPT_PPM=0 \
		-I/usr/include/$(uname -m)-linux-gnu -c "$TMPD/impair.bpf.c" -o "$OBJ" ||
		{ echo "bench_udp: clang -target bpf failed" >&2; status=1; }
	netns_up || { echo "bench_udp: cannot make the namespaces" >&2; exit 1; }
	# UDP_GP_RUNS rounds of a pair (loss-free, then 1 % loss) of kaos, then of ENet, in the same
	# namespaces; the ratio of each pair (adjacent runs see about the same load), the median of
	# the pairs
	echo "bench_udp: goodput between namespaces, $MIB MiB per run, $GP_RUNS pairs each (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	: >"$TMPD/kaos.pairs"
	: >"$TMPD/enet.pairs"
	for _ in $(seq "$GP_RUNS"); do
		for impl in kaos enet; do
			c=$(goodput $impl off)
			l=$(goodput $impl on)
			echo "$c $l" >>"$TMPD/$impl.pairs"
			echo "bench_udp: $impl goodput $c / $l MB/s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
		done
	done
	for impl in kaos enet; do
		R[$impl.clean]=$(cut -d' ' -f1 "$TMPD/$impl.pairs" | median)
		R[$impl.loss]=$(cut -d' ' -f2 "$TMPD/$impl.pairs" | median)
		R[$impl.ratio]=$(awk '$1 > 0 {print $2 / $1}' "$TMPD/$impl.pairs" | median)
	done
	grep kaos "$TMPD/sends" | sed 's/^/bench_udp: /' >&2
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
k, e = g("kaos.p50"), g("enet.p50")
print(f"{'one-way p50 us, 64 B, loopback':34} {k:12.1f} {e:12.1f} {ratio(k, e):7.2f}")
# p99: the median over runs of each run's own ratio (paired), its range over runs; then the
# median over runs of the chunk-pair medians
r = g("lat.ratio")
print(f"{'one-way p99 us, 64 B, loopback':34} {g('kaos.p99'):12.1f} {g('enet.p99'):12.1f} {r:7.2f}"
      f"  no worse than ENet: {verdict(0 < r <= 1)}"
      f" (runs {g('lat.ratio_min'):.2f}..{g('lat.ratio_max'):.2f})")
c = g("lat.chunks")
print(f"{'  p99 ratio, median of 1000-pair chunks':34} {'':12} {'':12} {c:7.2f}"
      f"  no worse than ENet: {verdict(0 < c <= 1)}")
for impl in ("kaos", "enet"):
    c, l = g(f"{impl}.clean"), g(f"{impl}.loss")
    if c:
        r = g(f"{impl}.ratio")
        print(f"{impl + ' goodput MB/s, 1 KiB, 0 / 1 % loss':34} {c:12.1f} {l:12.1f} {r:7.2f}  "
              + (f">= 0.9 of loss-free: {verdict(r >= 0.9)}" if impl == "kaos" else "(ENet, for reference)"))
PY
exit $status
