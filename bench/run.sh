#!/usr/bin/env bash
# make bench: libkaos rings vs DPDK rte_ring vs Concurrency Kit ck_ring.
#
# Runs every case of build/bench/bench_rings (one process per case), then the
# untraced-probe cost (bench_rings vs bench_rings-noprobes, interleaved),
# prints one summary table with ratios and targets, and writes
# $B/bench/results.json (raw records: $B/bench/raw.txt). docs/bench.md
# explains the output.
#
# Knobs (environment): RUNS (7) measured runs per ring and case, DUR_MS (300)
# per run, WARM_MS (100) unrecorded warm-up, PROBE_ROUNDS (10) probes/noprobes
# pairs of PROBE_DUR_MS (200) runs, SLOTS (4096) ring size, CPUS ("A,B",
# default the first two allowed), IPC_BENCH (1; 0 skips build/bench/bench_ipc, whose
# knobs are in bench/bench_ipc.c), UDP_BENCH (1; 0 skips bench/bench_udp.sh, reliable
# UDP vs ENet, its knobs there), TRACE_BENCH (1; 0 skips bench/bench_trace.sh,
# which runs after the rings and has its own knobs), ALLOC_BENCH (1; 0 skips
# bench/bench_alloc.sh, heap tracers on one program), DIFF_BENCH (1; 0 skips
# bench/bench_diff.sh, kaos-trace diff's detection and false-alarm rates),
# TOP_BENCH (1; 0 skips bench/bench_top.sh, kaos-trace top's own CPU, last; its
# knobs are its own).
# Exit status: 0, or 1 if a run failed verification or hung, 2 on bad set-up.
set -u
B=${B:-build}
RUNS=${RUNS:-7}
DUR_MS=${DUR_MS:-300}
WARM_MS=${WARM_MS:-100}
PROBE_ROUNDS=${PROBE_ROUNDS:-10}
PROBE_DUR_MS=${PROBE_DUR_MS:-200}
SLOTS=${SLOTS:-4096}
CPUS=${CPUS:-}

bin=$B/bench/bench_rings
nop=$B/bench/bench_rings-noprobes
out=$B/bench
raw=$out/raw.txt
json=$out/results.json

for f in "$bin" "$nop"; do
	[ -x "$f" ] || { echo "bench: $f missing (run: make bench)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "bench: python3 is needed for the summary" >&2; exit 2; }
mkdir -p "$out"
: >"$raw"

common=(-s "$SLOTS")
[ -n "$CPUS" ] && common+=(-c "$CPUS")
status=0

# A failed process has already printed its FAIL record; keep going.
bench() { # binary, args...
	"$@" >>"$raw" || status=1
}

read -r load1 _ </proc/loadavg
stat0=$(head -1 /proc/stat)
t0=$SECONDS
cases=$("$bin" list)
n=$(echo "$cases" | wc -l)
i=0
for c in $cases; do
	i=$((i + 1))
	printf 'bench: [%d/%d] %-14s (%d runs per ring)\n' "$i" "$n" "$c" "$RUNS" >&2
	bench "$bin" "${common[@]}" -d "$DUR_MS" -w "$WARM_MS" -r "$RUNS" -t main "$c"
done

# Probe-site cost: the same kaos cases from the two builds, alternating which
# goes first (ABBA) so that drift in the VM's placement hits both alike.
printf 'bench: untraced probe cost, %d rounds of probes vs noprobes\n' "$PROBE_ROUNDS" >&2
for ((r = 0; r < PROBE_ROUNDS; r++)); do
	if ((r % 2 == 0)); then order=("$bin" "$nop"); else order=("$nop" "$bin"); fi
	for b in "${order[@]}"; do
		bench "$b" "${common[@]}" -d "$PROBE_DUR_MS" -w 50 -r 1 -t "probecost-$r" \
			-i kaos,kaos-inline,kaos-zc,kaos-copy spsc-msg8 spsc-batch8 local-msg8 local-batch8
	done
done
stat1=$(head -1 /proc/stat)
elapsed=$((SECONDS - t0))

python3 - "$raw" "$json" "$load1" "$stat0" "$stat1" "$elapsed" "$RUNS" "$DUR_MS" "$PROBE_ROUNDS" \
	"$SLOTS" <<'PY' || status=1
import json, os, platform, statistics, subprocess, sys, time

raw, out, load1, stat0, stat1, elapsed, runs, dur_ms, rounds, slots = sys.argv[1:]

CASES = [  # name, title, metric
    ("spsc-msg8", "SPSC, one message per call, 8 B", "mps"),
    ("spsc-msg64", "SPSC, one message per call, 64 B", "mps"),
    ("spsc-batch8", "SPSC, batches of up to 256, 8 B", "mps"),
    ("spsc-batch64", "SPSC, batches of up to 256, 64 B", "mps"),
    ("mpsc-2p1c", "MPSC, 2 producers 1 consumer, 8 B", "mps"),
    ("mpmc-1p1c", "MPMC ring, 1 producer 1 consumer, 8 B", "mps"),
    ("mpmc-2p2c", "MPMC ring, 2 producers 2 consumers, 8 B", "mps"),
    ("rtt", "Round trip through two SPSC rings, 8 B", "rtt_ns"),
    ("local-msg8", "Same thread: 256 sends then 256 receives, one per call, 8 B", "mps"),
    ("local-batch8", "Same thread: a batch of 256 sent then received, 8 B", "mps"),
]
TARGET_NOTE = {
    "spsc-msg8": "target: kaos >= 425 M/s and >= rte_ring",
    "spsc-batch8": "target: kaos >= 2.2 G/s and >= rte_ring",
    "mpmc-1p1c": "target: kaos >= 100 M/s and >= rte_ring",
    "rtt": "target: kaos <= 250 ns and <= rte_ring",
    "local-msg8": "no cross-CPU traffic: per-call CPU cost; no target",
    "local-batch8": "no cross-CPU traffic: per-call CPU cost; no target",
}
VS_RTE = ("spsc-msg8", "spsc-msg64", "spsc-batch8", "spsc-batch64", "mpsc-2p1c", "mpmc-1p1c",
          "mpmc-2p2c", "rtt")
IMPL = {"kaos": "kaos", "kaos-inline": "kaos, header-inline fast path",
        "kaos-zc": "kaos claim/peek (zero-copy)",
        "kaos-copy": "kaos send/recv_batch (copy)", "rte": "DPDK rte_ring",
        "ck": "CK ck_ring", "bare": "bare cache-line ping-pong"}
PEERS = ("rte", "ck")

main, probe, na, fails = {}, {}, {}, []
for line in open(raw):
    line = line.rstrip("\n")
    head, _, rest = line.partition(" ")
    if head == "R":
        rec = dict(t.split("=", 1) for t in rest.split())
        for k, v in rec.items():
            try:
                rec[k] = float(v)
            except ValueError:
                pass
        key = (rec["case"], rec["impl"])
        if rec["set"] == "main":
            main.setdefault(key, []).append(rec)
        elif rec["set"].startswith("probecost-"):
            probe.setdefault(key, {}).setdefault(rec["variant"], {})[rec["set"]] = rec
    elif head in ("NA", "FAIL"):
        kv, _, reason = rest.partition(" reason=")
        rec = dict(t.split("=", 1) for t in kv.split())
        rec["reason"] = reason
        if head == "NA":
            na[(rec["case"], rec["impl"])] = reason
        else:
            fails.append(rec)


def rate(x):
    return f"{x / 1e9:.2f} G" if x >= 1e9 else f"{x / 1e6:.1f} M"


def fmt(x, metric):
    return rate(x) if metric == "mps" else f"{x:.0f} ns"


def stats(recs, metric):
    vals = [r[metric] for r in recs]
    return {"runs": vals, "median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "pp_ns_median": statistics.median(r["pp_ns"] for r in recs)}


def cpu_line(s):
    f = [int(x) for x in s.split()[1:]]
    return sum(f), (f[7] if len(f) > 7 else 0)


tot0, st0 = cpu_line(stat0)
tot1, st1 = cpu_line(stat1)
steal = 100.0 * (st1 - st0) / max(1, tot1 - tot0)
try:
    model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                 if l.startswith("model name"))
except StopIteration:
    model = platform.machine()
try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
except OSError:
    rev = ""
allpp = [r["pp_ns"] for recs in main.values() for r in recs]
res = {"meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": rev, "cpu": model,
                "cpus_online": os.cpu_count(), "kernel": platform.release(),
                "runs": int(runs), "run_ms": int(dur_ms), "slots": int(slots),
                "probe_rounds": int(rounds), "elapsed_s": int(elapsed),
                "loadavg_1min_before": float(load1), "steal_pct": round(steal, 2),
                "placement_pp_ns_median": statistics.median(allpp) if allpp else None},
       "cases": [], "probe_cost": [], "targets": [], "failures": fails}

W = 100
print()
print("=" * W)
print(f"kaos ring benchmarks   {res['meta']['date']}   git {rev}")
print(f"{model}, {os.cpu_count()} CPUs, kernel {platform.release()}; {runs} runs/ring/case "
      f"of ~{dur_ms} ms, {slots}-slot rings; {elapsed} s")
print(f"load average before: {load1}   CPU steal during run: {steal:.1f}%   "
      f"placement (bare ping-pong, all runs): median "
      + (f"{statistics.median(allpp):.0f} ns [{min(allpp):.0f}..{max(allpp):.0f}]" if allpp
         else "n/a"))
if allpp and statistics.median(allpp) > 250:
    print("NOTE: bare ping-pong above 250 ns: poor vCPU placement (or busy CPUs) this run; "
          "absolute figures are pessimistic.")
print("Medians of the runs [min..max]; 'pp' = bare cache-line round trip measured just before "
      "each run.")
print("=" * W)

med = {}
for name, title, metric in CASES:
    impls = sorted({i for (c, i) in main if c == name},
                   key=lambda i: list(IMPL).index(i))
    failed = [f for f in fails if f["case"] == name]
    if not impls and not failed and not any(c == name for (c, _) in na):
        continue
    better = "higher is better" if metric == "mps" else "lower is better"
    unit = "msgs/s" if metric == "mps" else "per round trip"
    print(f"\n{title}   ({unit}, {better}; "
          f"{TARGET_NOTE.get(name, 'target: kaos >= rte_ring')})")
    crec = {"case": name, "title": title, "metric": metric, "impls": {}, "ratios": {}}
    kaos_impls = [i for i in impls if i.startswith("kaos")]
    for impl in impls:
        s = stats(main[(name, impl)], metric)
        med[(name, impl)] = s["median"]
        crec["impls"][impl] = s
        ratio = ""
        if impl in PEERS:
            parts = []
            for k in kaos_impls:
                r = med[(name, k)] / s["median"] if s["median"] else float("nan")
                crec["ratios"][f"{k}/{impl}"] = r
                parts.append(f"{k}/{impl} {r:.2f}x")
            ratio = ", ".join(parts)
        spread = f"[{fmt(s['min'], metric)}..{fmt(s['max'], metric)}]"
        print(f"  {IMPL[impl]:<30} {fmt(s['median'], metric):>10}  {spread:<22} "
              f"pp {s['pp_ns_median']:4.0f}  {ratio}")
    for (c, i), why in na.items():
        if c == name:
            print(f"  {IMPL[i]:<30} {'n/a':>10}   {why}")
            crec["impls"][i] = {"na": why}
    for f in failed:
        print(f"  {IMPL.get(f['impl'], f['impl']):<30} {'FAILED':>10}   {f['reason']}")
        crec["impls"][f["impl"]] = {"failed": f["reason"]}
    res["cases"].append(crec)

# ----- untraced probe-site cost
print(f"\nUntraced probe sites: build with probes vs probes compiled out "
      f"({rounds} interleaved rounds, paired; noise = half the interquartile range "
      f"of the per-round costs)")
for (name, impl), var in sorted(probe.items()):
    a, b = var.get("probes", {}), var.get("noprobes", {})
    pairs = [(a[k]["mps"], b[k]["mps"]) for k in a if k in b]
    if not pairs:
        continue
    costs = [100.0 * (1 - p / q) for p, q in pairs]
    c = statistics.median(costs)
    q = statistics.quantiles(costs, n=4) if len(costs) > 1 else [c, c, c]
    noise = (q[2] - q[0]) / 2
    pm, qm = statistics.median(p for p, _ in pairs), statistics.median(q for _, q in pairs)
    res["probe_cost"].append({"case": name, "impl": impl, "probes_median": pm,
                              "noprobes_median": qm, "cost_pct_median": c,
                              "cost_pct_min": min(costs), "cost_pct_max": max(costs),
                              "noise_pct": noise, "pairs": len(pairs)})
    print(f"  {name:<13} {impl:<10} probes {rate(pm):>8}  noprobes {rate(qm):>8}  "
          f"cost {c:+5.1f}% +-{noise:.1f}  (per-round [{min(costs):+.1f}%..{max(costs):+.1f}%])")

# ----- targets
def target(label, value, ok, shown, noisy=False):
    st = "n/a" if value is None else ("MET" if ok else "MISSED")
    if value is not None and noisy:
        st += " (within noise)"
    res["targets"].append({"target": label, "measured": value, "status": st})
    print(f"  {label:<58} {shown if value is not None else 'no data':>16}   {st}")


print("\nTargets (medians of this run)")
for case, impl, thr, label in [
        ("spsc-msg8", "kaos", 425e6, "SPSC per message 8 B >= 425 M msgs/s"),
        ("spsc-batch8", "kaos-zc", 2.2e9, "SPSC batch 8 B, zero-copy >= 2.2 G msgs/s"),
        ("spsc-batch8", "kaos-copy", 2.2e9, "SPSC batch 8 B, copy >= 2.2 G msgs/s"),
        ("mpmc-1p1c", "kaos", 100e6, "MPMC 1P1C 8 B >= 100 M msgs/s")]:
    v = med.get((case, impl))
    target(label, v, v is not None and v >= thr, rate(v) if v is not None else "")
v = med.get(("rtt", "kaos"))
target("round trip <= 250 ns", v, v is not None and v <= 250, f"{v:.0f} ns" if v else "")
for name, title, metric in CASES:
    if name not in VS_RTE:
        continue
    for k in ("kaos", "kaos-inline", "kaos-zc", "kaos-copy"):
        if (name, k) not in med or (name, "rte") not in med:
            continue
        kv, rv = med[(name, k)], med[(name, "rte")]
        ok = kv >= rv if metric == "mps" else kv <= rv
        target(f"{name} {k} {'>=' if metric == 'mps' else '<='} rte_ring", kv / rv, ok,
               f"{kv / rv:.2f}x")
for p in res["probe_cost"]:
    target(f"untraced probes {p['case']} {p['impl']} <= 2 % cost", p["cost_pct_median"],
           p["cost_pct_median"] <= 2.0, f"{p['cost_pct_median']:+.1f}%",
           abs(p["cost_pct_median"] - 2.0) < p["noise_pct"])
if fails:
    print("\nFAILED runs (a ring that fails verification or hangs has no figure):")
    for f in fails:
        print(f"  {f['case']} {f['impl']}: {f['reason']}")
print("\nOther processes may share these CPUs; compare figures only within one run "
      "(see docs/bench.md).")
with open(out, "w") as fh:
    json.dump(res, fh, indent=1)
print(f"results: {out}  raw records: {raw}")
sys.exit(1 if fails else 0)
PY

# IPC channels (one thread, two threads, two processes) and kaos-pipeline vs gzip.
if [ "${IPC_BENCH:-1}" = 1 ]; then
	echo
	"$B/bench/bench_ipc" || status=1
fi

# libkaos' reliable UDP next to ENet (bench/bench_udp.sh has its own knobs).
if [ "${UDP_BENCH:-1}" = 1 ]; then
	echo
	B="$B" "$(dirname "$0")/bench_udp.sh" || status=1
fi

# Then the cost of tracing: kaos-trace next to bpftrace and funclatency.
if [ "${TRACE_BENCH:-1}" = 1 ]; then
	"$(dirname "$0")/bench_trace.sh" || status=1
fi

# Heap tracers (heaptrack, bpftrace, kaos-trace --alloc) on one deterministic program.
if [ "${ALLOC_BENCH:-1}" = 1 ]; then
	"$(dirname "$0")/bench_alloc.sh" || status=1
fi

# Then whether kaos-trace diff tells a 10 % slowdown from noise.
if [ "${DIFF_BENCH:-1}" = 1 ]; then
	"$(dirname "$0")/bench_diff.sh" || status=1
fi

# The live view's own cost: kaos-trace top's CPU at its default refresh.
if [ "${TOP_BENCH:-1}" = 1 ]; then
	"$(dirname "$0")/bench_top.sh" || status=1
fi
exit $status
