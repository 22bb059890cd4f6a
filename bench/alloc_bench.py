#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Heap tracers on one deterministic program (bench/bench_alloc.sh runs it;
docs/bench.md explains the output).

tests/progs/kt_alloc_workload runs untraced, under heaptrack (LD_PRELOAD),
under bench/alloc_peer.bt (bpftrace uprobes on libc) and under
kaos-trace --alloc. Each round runs every configuration once, in an order that
rotates from round to round; the slowdown is the program's own run time
(run_ns, measured inside it around its allocations, so tool start-up is not in
it) over the untraced run's of the same round.

Each tool also traces the program with every phase off: what it sees then is
not the program's (heaptrack's libstdc++ allocates its exception pool) and is
subtracted, so that every tool is compared on the program's own allocations.

Also used by tests/integration/test_alloc_truth.sh:
  alloc_bench.py heaptrack-totals FILE   totals of a heaptrack data file
  alloc_bench.py kaos-totals FILE PID    the `alloc` object of kaos-trace --json
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

B = os.environ.get("B", "build")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
OUT = os.environ.get("OUT", f"{B}/bench")
# heaptrack 1.4 does not see memalign (docs/bench.md): the comparison leaves it out
FNS = os.environ.get("FNS", "malloc,calloc,realloc,reallocarray,posix_memalign,aligned_alloc,valloc")
WORK_ARGS = ["--allocs", os.environ.get("ALLOCS", "20000"), "--short", os.environ.get("SHORT", "2000"),
             "--leaks", os.environ.get("LEAKS", "8"), "--plateau", os.environ.get("PLATEAU", "16777216"),
             "--fns", FNS]
BASELINE_ARGS = ["--allocs", "0", "--short", "0", "--leaks", "0", "--plateau", "0", "--free-null", "0"]
KT = os.environ.get("KT", f"{B}/kaos-trace")
WORK = f"{B}/tests/progs/kt_alloc_workload"
PEER_BT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alloc_peer.bt")
TIMEOUT_S = 600
KEYS = ("allocs", "bytes", "peak", "leaked_blocks", "leaked_bytes")
EXACT = ("allocs", "bytes", "leaked_blocks", "leaked_bytes")


def heaptrack_totals(path):
    """Replays heaptrack's data file: 'a SIZE TRACE' defines allocation info
    number N (hex, in order), '+ N' allocates a block of it, '- N' frees one
    (a realloc is a '-' of the old block and a '+' of the new)."""
    sizes, t = [], dict(allocs=0, bytes=0, peak=0, frees=0, leaked_blocks=0, leaked_bytes=0)
    cat = ["zstdcat", path] if path.endswith(".zst") else ["zcat", path]
    text = subprocess.run(cat, capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        if line.startswith("a "):
            sizes.append(int(line.split()[1], 16))
        elif line.startswith("+ "):
            size = sizes[int(line[2:], 16)]
            t["allocs"] += 1
            t["bytes"] += size
            t["leaked_blocks"] += 1
            t["leaked_bytes"] += size
            t["peak"] = max(t["peak"], t["leaked_bytes"])
        elif line.startswith("- "):
            t["frees"] += 1
            t["leaked_blocks"] -= 1
            t["leaked_bytes"] -= sizes[int(line[2:], 16)]
    return t


def heaptrack_print_calls(path):
    """heaptrack's own count ('calls to allocation functions'), to check the replay."""
    out = subprocess.run(["heaptrack_print", "-f", path, "-a", "0", "-p", "0", "-T", "0"],
                         capture_output=True, text=True).stdout
    m = re.search(r"calls to allocation functions: (\d+)", out)
    return int(m.group(1)) if m else None


def kaos_totals(path, pid):
    """The alloc figures of the process in kaos-trace's final --json line
    (the top-level `alloc` object's processes[]); `leak_sites` maps the leaf
    frame of each top leak to its leaked blocks."""
    with open(path) as fh:
        lines = [l for l in fh if l.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    final = json.loads(lines[-1])
    for a in final.get("alloc", {}).get("processes", []):
        if a.get("pid") != pid:
            continue
        sites = {}
        for leak in a.get("top_leaks", []):
            leaf = leak["stack"][-1] if leak.get("stack") else "?"
            sites[leaf] = sites.get(leaf, 0) + leak["leaked_blocks"]
        return dict(allocs=a["allocs"], bytes=a["bytes_allocated"], peak=a["peak_bytes"],
                    frees=a["frees"], free_calls=a.get("free_calls"),
                    leaked_blocks=a["leaked_blocks"],
                    leaked_bytes=a["leaked_bytes"], leak_sites=sites)
    raise ValueError(f"{path}: no alloc figures for pid {pid}")


def kaos_available():
    if not os.access(KT, os.X_OK):
        return False
    r = subprocess.run([KT, "--help"], capture_output=True, text=True)
    return "--alloc" in r.stdout


def libc_path():
    out = subprocess.run(["ldd", WORK], capture_output=True, text=True).stdout
    m = re.search(r"libc\.so\.6 => (\S+)", out)
    return os.path.realpath(m.group(1)) if m else None


def run_one(tool, args, tmp, bt_script):
    """Runs the program (under tool); returns (truth, totals or None)."""
    truth_file = f"{tmp}/truth.json"
    prog = [WORK, *args, "--truth", truth_file]
    env = dict(os.environ)
    if tool == "untraced":
        cmd = prog
    elif tool == "heaptrack":
        cmd = ["heaptrack", "-o", f"{tmp}/ht", *prog]
    elif tool == "bpftrace":
        cmd = ["bpftrace", bt_script, "-c", " ".join(prog)]
        env["BPFTRACE_MAP_KEYS_MAX"] = "1048576"
    else:
        cmd = [KT, "--alloc", "--json", f"{tmp}/kt.json", "--", *prog]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    if r.returncode != 0:
        raise RuntimeError(f"{tool}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    with open(truth_file) as fh:
        truth = json.load(fh)
    if tool == "untraced":
        return truth, None
    if tool == "heaptrack":
        data = (glob.glob(f"{tmp}/ht.zst") + glob.glob(f"{tmp}/ht.gz"))[0]
        totals = heaptrack_totals(data)
        totals["data"] = data
        return truth, totals
    if tool == "bpftrace":
        m = re.search(r"bpftrace_alloc (.*)", r.stdout)
        if not m:
            raise RuntimeError("bpftrace: no totals line")
        kv = dict(x.split("=") for x in m.group(1).split())
        return truth, {k: int(v) for k, v in kv.items()}
    return truth, kaos_totals(f"{tmp}/kt.json", truth["pid"])


def truth_totals(t):
    return dict(allocs=t["allocs"], bytes=t["bytes_allocated"], peak=t["peak_bytes"],
                leaked_blocks=t["leaked_blocks"], leaked_bytes=t["leaked_bytes"])


def own(totals, base):
    return {k: totals[k] - base[k] for k in KEYS}


def agrees(a, ref):
    bad = [k for k in EXACT if a[k] != ref[k]]
    if abs(a["peak"] - ref["peak"]) > 0.01 * ref["peak"]:
        bad.append("peak")
    return bad


def measure(tools, bt_script):
    """Baselines, then ROUNDS interleaved rounds. Returns the per-tool records."""
    rec = {t: dict(run_ns=[], totals=[], errors=[]) for t in tools}
    with tempfile.TemporaryDirectory(prefix="bench_alloc.") as tmp:
        for t in tools:
            if t != "untraced":
                try:
                    rec[t]["baseline"] = run_one(t, BASELINE_ARGS, tmp, bt_script)[1]
                except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as e:
                    rec[t]["errors"].append(f"baseline: {e}")
        for r in range(ROUNDS):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            print(f"bench_alloc: round {r + 1}/{ROUNDS}: {' '.join(order)}", file=sys.stderr)
            for t in order:
                if rec[t]["errors"]:
                    continue
                try:
                    truth, totals = run_one(t, WORK_ARGS, tmp, bt_script)
                except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as e:
                    rec[t]["errors"].append(str(e))
                    continue
                if t == "heaptrack" and r == 0:
                    totals["print_calls"] = heaptrack_print_calls(totals["data"])
                rec[t]["run_ns"].append(truth["run_ns"])
                rec[t]["totals"].append(totals)
                rec[t]["truth"] = truth
    return rec


def fmt_slowdown(rec, t, base_ns, calls):
    """Slowdown against the same round's untraced run, and the time added per
    allocator call (free and free(NULL) included): median of the rounds."""
    ratios = [a / b for a, b in zip(rec[t]["run_ns"], base_ns)]
    if not ratios:
        return "", None, None
    med = statistics.median(ratios)
    per_call = statistics.median((a - b) / calls for a, b in zip(rec[t]["run_ns"], base_ns))
    return (f"{med:7.2f}x [{min(ratios):.2f}..{max(ratios):.2f}] {per_call / 1e3:6.1f}",
            med, per_call)


def report(rec, tools):
    truth = next((rec[t]["truth"] for t in tools if "truth" in rec[t]), None)
    if truth is None:
        print("bench_alloc: no run finished")
        return 1
    status, res = 0, dict(args=WORK_ARGS, rounds=ROUNDS, truth=truth, tools={})
    rows = {"truth (the program's own)": truth_totals(truth)}
    ht = rec.get("heaptrack", {})
    ref = own(ht["totals"][0], ht["baseline"]) if ht.get("totals") else None
    base_ns = rec["untraced"]["run_ns"]
    calls = sum(truth["calls"].values())
    print(f"\nHeap tracers on {WORK} {' '.join(WORK_ARGS)}, {ROUNDS} interleaved rounds")
    print(f"untraced run time: median {statistics.median(base_ns) / 1e6:.1f} ms"
          if base_ns else "untraced: no run")
    hdr = f"{'':34} {'allocs':>8} {'bytes':>11} {'peak':>10} {'leaked':>6} {'leaked B':>8}"
    print(hdr + f"  {'slowdown median [min..max] us/call':>34}  agrees with heaptrack")
    t_row = rows["truth (the program's own)"]
    print(f"{'truth (the program)':34} " + " ".join(
        f"{t_row[k]:>{w}}" for k, w in zip(KEYS, (8, 11, 10, 6, 8))) + f"  {'':34}  " +
          ("yes" if ref and not agrees(t_row, ref) else
           f"NO ({', '.join(agrees(t_row, ref))})" if ref else "-"))
    if ref and agrees(t_row, ref):
        status = 1
    for t in tools:
        slow, med, per_call = fmt_slowdown(rec, t, base_ns, calls)
        entry = dict(run_ns=rec[t]["run_ns"], slowdown_median=med, added_ns_per_call=per_call,
                     errors=rec[t]["errors"])
        res["tools"][t] = entry
        if t == "untraced":
            print(f"{'untraced':34} {'':47}  {slow:>34}")
            continue
        title = dict(heaptrack="heaptrack", bpftrace="bpftrace uprobes (alloc_peer.bt)",
                     kaos="kaos-trace --alloc")[t]
        if rec[t]["errors"] or not rec[t]["totals"]:
            print(f"{title:34} {rec[t]['errors'][0] if rec[t]['errors'] else 'no run'}")
            status = 1
            continue
        totals = [own(x, rec[t]["baseline"]) for x in rec[t]["totals"]]
        varying = [x for x in totals if x != totals[0]]
        bad = agrees(totals[0], ref) if ref else ["no heaptrack"]
        if varying:
            bad.append(f"{len(varying)} rounds differ")
        entry.update(own=totals[0], baseline=rec[t]["baseline"], disagree=bad)
        print(f"{title:34} " + " ".join(f"{totals[0][k]:>{w}}" for k, w in
                                         zip(KEYS, (8, 11, 10, 6, 8))) +
              f"  {slow:>34}  " + ("yes" if not bad else f"NO ({', '.join(bad)})"))
        base = rec[t]["baseline"]
        if any(base[k] for k in KEYS):
            print(f"{'':4}(minus what it sees with every phase off: {base['allocs']} allocations,"
                  f" {base['bytes']} bytes, peak {base['peak']})")
        if t == "heaptrack" and rec[t]["totals"][0].get("print_calls") != rec[t]["totals"][0]["allocs"]:
            print(f"{'':4}heaptrack_print counts {rec[t]['totals'][0].get('print_calls')} calls,"
                  f" the replay {rec[t]['totals'][0]['allocs']}: the replay is wrong")
            bad.append("heaptrack_print")
        if bad:
            status = 1
    os.makedirs(OUT, exist_ok=True)
    with open(f"{OUT}/alloc_results.json", "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"results: {OUT}/alloc_results.json")
    return status


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "heaptrack-totals":
        print(json.dumps(heaptrack_totals(sys.argv[2])))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "kaos-totals":
        print(json.dumps(kaos_totals(sys.argv[2], int(sys.argv[3]))))
        return 0
    if len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    tools = ["untraced", "heaptrack", "bpftrace", "kaos"]
    libc = libc_path()
    if not libc:
        print(f"bench_alloc: cannot find the libc of {WORK}", file=sys.stderr)
        return 2
    with open(PEER_BT) as fh:
        script = fh.read().replace("LIBC", libc)
    with tempfile.NamedTemporaryFile("w", suffix=".bt", delete=False) as fh:
        fh.write(script)
    rec = measure([t for t in tools if t != "kaos" or kaos_available()], fh.name)
    os.unlink(fh.name)
    if "kaos" not in rec:
        rec["kaos"] = dict(run_ns=[], totals=[], errors=["kaos-trace --alloc not available"])
    return report(rec, tools)


if __name__ == "__main__":
    sys.exit(main())
