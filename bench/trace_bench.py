#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kaos-trace benchmark driver (bench/bench_trace.sh runs it; docs/bench.md explains it).

Every configuration traces the same workload, tests/progs/kt_bench_workload
(per-message SPSC through libkaos.so): untraced, kaos-trace (every operation,
sampled, --budget), bpftrace (USDT count, empty USDT action, uprobe/uretprobe
latency) and libbpf-tools funclatency. Each round runs every configuration
once, in an order that rotates from round to round; figures are medians over
rounds, ratios are taken within a round.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

B = os.environ.get("B", "build")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
RUN_MS = int(os.environ.get("RUN_MS", "1000"))
PAIR_CPUS = os.environ.get("PAIR_CPUS", "0,1")
LOCAL_CPU = os.environ.get("LOCAL_CPU", "1")
ONLY = set(filter(None, os.environ.get("CONFIGS", "").split(",")))
OUT = os.environ.get("OUT", f"{B}/bench")
BUDGET = os.environ.get("BUDGET", "3")
# processes run in phases untraced / traced / untraced / ... (the --budget throughput check)
ABA_ROUNDS = int(os.environ.get("ABA_ROUNDS", "6"))
ABA_CYCLES = int(os.environ.get("ABA_CYCLES", "3"))  # traced phases per process
ABA_MS = int(os.environ.get("ABA_MS", "500"))
ABA = [  # name, title, kaos-trace options, workloads
    ("aba-budget", f"kaos-trace --budget {BUDGET}", ["--budget", BUDGET], ("local", "pair")),
    # the cost of libkaos' traced-but-not-sampled path alone
    ("aba-nosample", "kaos-trace --sample 2^30 (attached, nothing fires)",
     ["--sample", str(1 << 30)], ("local",)),
]

KT = f"{B}/kaos-trace"
WORK = f"{B}/tests/progs/kt_bench_workload"
LIB = os.path.realpath(f"{B}/libkaos.so")
BPFTRACE = os.environ.get("BPFTRACE", "bpftrace")
FUNCLATENCY = os.environ.get("FUNCLATENCY", "")

for f in (KT, WORK):
    if not os.access(f, os.X_OK):
        sys.exit(f"bench_trace: {f} missing (run: make)")


def which(name):
    for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


BPFTRACE = which(BPFTRACE) if "/" not in BPFTRACE else BPFTRACE
FUNCLATENCY = FUNCLATENCY or which("funclatency") or which("funclatency-bpfcc")
STDBUF = which("stdbuf")

# ------------------------------------------------------------------ configurations

USDT_PAIR = f"usdt:{LIB}:kaos:send,usdt:{LIB}:kaos:recv"
BT_BEGIN = 'BEGIN { printf("attached\\n"); }'


def kt_cmd(*extra):
    return lambda pid, tmp: [KT, "-p", str(pid), "--json", f"{tmp}/kt.json", *extra]


CONFIGS = [
    # name, title, workloads, command (None: untraced), marker regex
    dict(name="untraced", title="untraced", wl=("local", "pair"), cmd=None),
    dict(name="kt-budget", title=f"kaos-trace --budget {BUDGET}", wl=("local", "pair"),
         cmd=kt_cmd("--budget", BUDGET), tool="kt"),
    dict(name="kt-s1024", title="kaos-trace --sample 1024", wl=("local", "pair"),
         cmd=kt_cmd("--sample", "1024"), tool="kt"),
    dict(name="kt-s64", title="kaos-trace --sample 64", wl=("local", "pair"),
         cmd=kt_cmd("--sample", "64"), tool="kt"),
    dict(name="kt-s1", title="kaos-trace --sample 1", wl=("local", "pair"),
         cmd=kt_cmd("--sample", "1"), tool="kt"),
    dict(name="bt-bare", title="bpftrace USDT send+recv, empty action (bare probe)",
         wl=("local", "pair"),
         cmd=lambda pid, tmp: [BPFTRACE, "-f", "json", "-p", str(pid), "-e",
                               f"{USDT_PAIR} {{ }} {BT_BEGIN}"],
         tool="bt", need=BPFTRACE),
    dict(name="bt-count", title="bpftrace USDT send+recv count()", wl=("local", "pair"),
         cmd=lambda pid, tmp: [BPFTRACE, "-f", "json", "-p", str(pid), "-e",
                               f"{USDT_PAIR} {{ @c[probe] = count(); }} {BT_BEGIN}"],
         tool="bt", need=BPFTRACE),
    dict(name="funclat", title="funclatency kaos:kaos_ring_send", wl=("local",),
         cmd=lambda pid, tmp: [STDBUF, "-oL", FUNCLATENCY, "-p", str(pid),
                               "kaos:kaos_ring_send"],
         tool="fl", need=FUNCLATENCY and STDBUF, marker=r"^Tracing"),
    dict(name="bt-lat", title="bpftrace uprobe+uretprobe kaos_ring_send latency",
         wl=("local",),
         cmd=lambda pid, tmp: [
             BPFTRACE, "-f", "json", "-p", str(pid), "-e",
             f"uprobe:{LIB}:kaos_ring_send {{ @s[tid] = nsecs; }} "
             f"uretprobe:{LIB}:kaos_ring_send /@s[tid]/ {{ $d = nsecs - @s[tid]; "
             f"@h = hist($d); @avg = avg($d); @n = count(); delete(@s[tid]); }} {BT_BEGIN}"],
         tool="bt", need=BPFTRACE),
]
for c in CONFIGS:
    # USDT tools: the workload starts once the kernel has set the probes' semaphores
    c.setdefault("wait_probes", c["name"].startswith(("kt-", "bt-count", "bt-bare")))
    c.setdefault("marker", r"attached")
    c.setdefault("tool", None)
    c.setdefault("need", True)
CONFIGS = [c for c in CONFIGS if not ONLY or c["name"] in ONLY or c["name"] == "untraced"]
MISSING = {c["name"]: "tool not installed" for c in CONFIGS if not c["need"]}
CONFIGS = [c for c in CONFIGS if c["need"]]

# ------------------------------------------------------------------ running


class HwmSampler(threading.Thread):
    """Polls a process's VmHWM (its peak RSS since exec) until it exits.

    Not rusage's ru_maxrss: after a fork/vfork + exec that also holds the
    parent's (Python's) peak, ~16 MB here.
    """

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.kb, self.stop = pid, None, threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.kb = int(line.split()[1])
            except (OSError, ValueError):
                pass
            self.stop.wait(0.005)


class Reader(threading.Thread):
    """Collects a pipe's lines with their arrival time; flags the first marker match."""

    def __init__(self, pipe, marker):
        super().__init__(daemon=True)
        self.pipe, self.marker = pipe, re.compile(marker) if marker else None
        self.lines, self.hit = [], threading.Event()
        self.hit_t = None
        self.start()

    def run(self):
        for line in self.pipe:
            now = time.monotonic()
            self.lines.append(line)
            if self.marker and not self.hit.is_set() and self.marker.search(line):
                self.hit_t = now
                self.hit.set()
        self.pipe.close()

    def text(self):
        return "".join(self.lines)


def kv(line):
    return {k: (int(v) if v.isdigit() else v) for k, v in
            (t.split("=", 1) for t in line.split()[1:] if "=" in t)}


def run_one(cfg, wl, rnd, tmp):
    rec = dict(config=cfg["name"], wl=wl, round=rnd)
    args = [WORK, wl, "--ms", str(RUN_MS), "--wait"]
    if cfg.get("wait_probes"):
        args.append("--wait-probes")
    if wl == "pair":
        args += ["--slots", "4096"]  # as bench_rings' spsc-msg8
    if wl == "pair" and PAIR_CPUS:
        args += ["--cpus", PAIR_CPUS]
    elif wl == "local" and LOCAL_CPU:
        args += ["--cpus", LOCAL_CPU]
    w = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = w.stdout.readline().split()
    if len(ready) != 2 or ready[0] != "ready":
        w.kill()
        w.wait()
        return dict(rec, error=f"workload did not start: {ready}")
    pid = int(ready[1])
    rec["pid"] = pid
    tr = None
    if cfg["cmd"]:
        argv = cfg["cmd"](pid, tmp)
        t0 = time.monotonic()
        # kaos-trace: its CPU time to 'attached' too (phase lines on stderr, after it):
        # far less noisy than wall time on a shared machine
        env = dict(os.environ, KAOS_TRACE_TIMING="1") if cfg["tool"] == "kt" else None
        tr = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, env=env)
        ro, re_ = Reader(tr.stdout, cfg["marker"]), Reader(tr.stderr, cfg["marker"])
        hwm = HwmSampler(tr.pid)
        deadline = t0 + 30
        while not (ro.hit.is_set() or re_.hit.is_set()):
            if tr.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.0005)
        if not (ro.hit.is_set() or re_.hit.is_set()):
            w.kill()
            w.wait()
            if tr.poll() is None:
                tr.kill()
            tr.wait()
            hwm.stop.set()
            ro.join(2)
            re_.join(2)
            return dict(rec, error="tracer did not attach: "
                        + (re_.text() + ro.text()).strip().replace("\n", " | ")[-300:])
        rec["startup_ms"] = ((ro.hit_t if ro.hit.is_set() else re_.hit_t) - t0) * 1e3
    w.stdin.write("go\n")
    w.stdin.flush()
    out, _ = w.communicate(timeout=RUN_MS / 1000 + 120)
    res = [l for l in out.splitlines() if l.startswith("result ")]
    if w.returncode or not res:
        rec["error"] = f"workload failed (exit {w.returncode})"
    else:
        rec.update(kv(res[0]))
    if tr:
        # kaos-trace -p stops when its process exits; the others need SIGINT.
        # os.wait4 (not Popen.wait) to get the tracer's max RSS and CPU time.
        end = time.monotonic() + (10 if cfg["tool"] == "kt" else 0.3)
        done, sent_int = None, False
        while True:
            p, status, ru = os.wait4(tr.pid, os.WNOHANG)
            if p:
                break
            if time.monotonic() > end and not sent_int:
                os.kill(tr.pid, signal.SIGINT)
                sent_int, end = True, time.monotonic() + 30
            elif time.monotonic() > end:
                os.kill(tr.pid, signal.SIGKILL)
            time.sleep(0.005)
        tr.returncode = os.waitstatus_to_exitcode(status)
        if tr.returncode and not (sent_int and tr.returncode in (-signal.SIGINT, 130)):
            rec["error"] = f"tracer exited with {tr.returncode}"
        ro.join(10)
        re_.join(10)
        hwm.stop.set()
        hwm.join(1)
        rec["tracer_rss_kb"] = hwm.kb
        if ru:
            rec["tracer_cpu_s"] = ru.ru_utime + ru.ru_stime
        rec.update(parse_tool(cfg, ro.text(), re_.text(), tmp, rec))
        cpu = startup_cpu_ms(re_.text())
        if cpu is not None:
            rec["startup_cpu_ms"] = cpu
    return rec


def startup_cpu_ms(err):
    """kaos-trace's CPU time from exec to 'attached' (KAOS_TRACE_TIMING lines), or None."""
    before = re.search(r"timing: main\s+at \S+ \(CLOCK_MONOTONIC\) cpu\s+([\d.]+) ms", err)
    after = re.search(r"timing: total \(main on\)\s+wall\s+[\d.]+ ms cpu\s+([\d.]+) ms", err)
    if not before or not after:
        return None
    return float(before.group(1)) + float(after.group(1))


def log2_p50(buckets):
    """buckets: [(lo, hi, count)] -> (lo, hi) of the bucket holding the median, mean estimate."""
    n = sum(c for _, _, c in buckets)
    if not n:
        return None, None
    acc = 0
    p50 = None
    for lo, hi, c in buckets:
        acc += c
        if p50 is None and acc * 2 >= n:
            p50 = (lo, hi)
    mean = sum((lo + hi) / 2 * c for lo, hi, c in buckets) / n
    return p50, mean


def parse_tool(cfg, out, err, tmp, rec):
    t = cfg["tool"]
    r = {}
    if t == "kt":
        try:
            lines = [json.loads(l) for l in open(f"{tmp}/kt.json") if l.strip()]
            os.unlink(f"{tmp}/kt.json")
        except (OSError, ValueError) as e:
            return dict(error=f"no kaos-trace JSON: {e}; stderr: {err.strip()[-300:]}")
        fin = lines[-1]
        procs = [p for p in fin["processes"] if p["pid"] == rec.get("pid", p["pid"])]
        r["hits"] = fin["fired"]
        r["lost"] = fin["lost"]
        r["hit_ns_claimed"] = fin["probe_hit_ns"]
        r["kt_elapsed_s"] = fin["elapsed_s"]
        if procs:
            p = procs[0]
            r["cost_pct_claimed"] = p["cost_pct"]
            # the tracer's own claim: batched records and traps priced apart (issue 16)
            r["cost_ns_claimed"] = p.get("cost_ns")
            r["sample_every"] = p["sample_every"]
            rings = p["rings"]
            if rings:
                rg = rings[0]
                r["kt_sent"] = rg.get("send", {}).get("ops", 0)
                r["kt_recv"] = rg.get("recv", {}).get("ops", 0)
                lat = rg.get("send", {}).get("latency", {})
                if lat.get("count"):
                    r["lat_p50"] = lat["p50"]
                    r["lat_p99"] = lat["p99"]
                    r["lat_n"] = lat["count"]
    elif t == "bt":
        hits = 0
        for l in out.splitlines():
            try:
                j = json.loads(l)
            except ValueError:
                continue
            d = j.get("data")
            if j.get("type") == "map" and isinstance(d, dict):
                for k, v in d.items():
                    if k == "@c":
                        hits += sum(v.values())
                    elif k == "@n":
                        hits += v
            elif j.get("type") == "stats" and isinstance(d, dict) and "@avg" in d:
                r["lat_avg"] = d["@avg"]
            elif j.get("type") == "hist" and isinstance(d, dict) and "@h" in d:
                bk = [(b.get("min", 0), b.get("max", 0), b["count"]) for b in d["@h"]]
                p50, _ = log2_p50(bk)
                r["lat_p50_bucket"] = p50
        if cfg["name"] == "bt-bare":
            # no counting in an empty action: every send and recv fired (sample_every 1)
            hits = rec.get("sent", 0) + rec.get("recv", 0)
            r["hits_computed"] = True
        r["hits"] = hits
    elif t == "fl":
        bk = []
        for l in out.splitlines():
            m = re.match(r"\s*(\d+)\s*->\s*(\d+)\s*:\s*(\d+)", l)
            if m:
                bk.append(tuple(int(x) for x in m.groups()))
        unit = 1000 if re.search(r"^\s*usecs", out, re.M) else 1
        bk = [(lo * unit, hi * unit, c) for lo, hi, c in bk]
        r["hits"] = sum(c for _, _, c in bk)
        p50, mean = log2_p50(bk)
        r["lat_p50_bucket"] = p50
        r["lat_avg"] = mean
        r["lat_avg_estimated"] = True
    return r


# ------------------------------------------------------------------ main loop


def run_aba(name, opts, wl, rnd, tmp):
    """One process, phases untraced / under kaos-trace OPTS / untraced / ... (ABA_CYCLES traced).

    Each traced phase is compared with the untraced phases on either side of
    it; kaos-trace is started for each traced phase and stopped (detached)
    after it. Phases are ABA_MS long: short phases follow the machine's drift.
    """
    rec = dict(config=name, wl=wl, round=rnd, aba=True)
    nph = 2 * ABA_CYCLES + 1
    args = [WORK, wl, "--ms", str(ABA_MS), "--wait", "--phases", str(nph)]
    if wl == "pair":
        args += ["--slots", "4096"] + (["--cpus", PAIR_CPUS] if PAIR_CPUS else [])
    elif LOCAL_CPU:
        args += ["--cpus", LOCAL_CPU]
    w = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    tr = None
    try:
        pid = int(w.stdout.readline().split()[1])
        phases, traced = [], []

        def phase():
            w.stdin.write("go\n")
            w.stdin.flush()
            ph = w.stdout.readline()
            if not ph.startswith("phase "):
                raise RuntimeError(f"workload said {ph.strip()!r}")
            phases.append(kv(ph))

        for k in range(nph):
            if k % 2 == 0:
                phase()
                continue
            tr = subprocess.Popen([KT, "-p", str(pid), "--json", f"{tmp}/aba.json", *opts],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            err = Reader(tr.stderr, r"attached")
            if not err.hit.wait(30):
                raise RuntimeError("kaos-trace did not attach: " + err.text().strip()[-200:])
            phase()
            tr.send_signal(signal.SIGINT)  # detaches: the next phase runs untraced
            if tr.wait(60):
                raise RuntimeError(f"kaos-trace exited with {tr.returncode}")
            fin = [json.loads(l) for l in open(f"{tmp}/aba.json") if l.strip()][-1]
            ps = [p for p in fin["processes"] if p["pid"] == pid]
            traced.append(dict(hits=fin["fired"],
                               sample_every=ps[0]["sample_every"] if ps else None,
                               cost_pct=ps[0]["cost_pct"] if ps else None))
            os.unlink(f"{tmp}/aba.json")
        w.communicate(timeout=60)
        tkey = "cpu_ns" if wl == "local" else "ns"
        thr = [p["msgs"] / p[tkey] for p in phases]
        rec.update(phases=phases, traced=traced,
                   ratios=[thr[k] / ((thr[k - 1] + thr[k + 1]) / 2) for k in range(1, nph, 2)],
                   drifts=[thr[k + 1] / thr[k - 1] for k in range(1, nph, 2)],
                   sample_every=med(t["sample_every"] for t in traced),
                   cost_pct_claimed=med(t["cost_pct"] for t in traced))
    except (RuntimeError, OSError, ValueError, IndexError, subprocess.TimeoutExpired) as e:
        rec["error"] = str(e)
        for p in (w, tr):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    return rec


def run_logged(c, wl, rnd, tmp, runs, raw):
    rec = run_one(c, wl, rnd, tmp)
    if "error" in rec:
        print(f"bench_trace:   FAILED: {rec['error']}", file=sys.stderr)
    runs.append(rec)
    raw.write(json.dumps(rec) + "\n")
    raw.flush()


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = f"{OUT}/trace.tmp"
    os.makedirs(tmp, exist_ok=True)
    raw_path = f"{OUT}/trace_raw.jsonl"
    runs = []
    t_start = time.time()
    with open(raw_path, "w") as raw:
        for rnd in range(ROUNDS):
            # Configurations compared with each other run next to each other (CONFIGS
            # order); every other round reverses the order and swaps the workloads (ABBA).
            wls = ("local", "pair") if rnd % 2 == 0 else ("pair", "local")
            cfgs = CONFIGS if rnd % 2 == 0 else CONFIGS[::-1]
            order = [(c, wl) for wl in wls for c in cfgs if wl in c["wl"]]
            for i, (c, wl) in enumerate(order):
                print(f"bench_trace: round {rnd + 1}/{ROUNDS} [{i + 1}/{len(order)}] "
                      f"{wl:<5} {c['name']}", file=sys.stderr, flush=True)
                run_logged(c, wl, rnd, tmp, runs, raw)
        for k in range(ABA_ROUNDS if not ONLY or "kt-budget" in ONLY else 0):
            for wl in (("local", "pair") if k % 2 == 0 else ("pair", "local")):
                for name, title, opts, wls in (ABA if k % 2 == 0 else ABA[::-1]):
                    if wl not in wls:
                        continue
                    print(f"bench_trace: same-process {k + 1}/{ABA_ROUNDS} {wl:<5} {name}",
                          file=sys.stderr, flush=True)
                    rec = run_aba(name, opts, wl, k, tmp)
                    if "error" in rec:
                        print(f"bench_trace:   FAILED: {rec['error']}", file=sys.stderr)
                    runs.append(rec)
                    raw.write(json.dumps(rec) + "\n")
                    raw.flush()
    try:
        os.rmdir(tmp)
    except OSError:
        pass
    return summarize(runs, raw_path, time.time() - t_start)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def fns(x):
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f} ms"
    if abs(x) >= 1e3:
        return f"{x / 1e3:.2f} us"
    return f"{x:.0f} ns"


def frate(x):
    if x is None:
        return "-"
    return f"{x / 1e9:.2f} G" if x >= 1e9 else (f"{x / 1e6:.1f} M" if x >= 1e6
                                              else f"{x / 1e3:.1f} k")


def features_site():
    """The chosen site and the nop1/nop5 hit costs, from `kaos-trace features`."""
    out = {"site": "?", "nop5": "?", "short": "?"}
    try:
        text = subprocess.run([KT, "features"], capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return dict(out, site=f"unknown ({e})")
    for line in text.splitlines():
        key, _, val = line.partition(": ")
        if key == "probe_site":
            out["site"] = val
            out["short"] = val.split(":")[0]
        elif key == "uprobe_nop5":
            out["nop5"] = val
    return out


def summarize(runs, raw_path, elapsed):
    ok = [r for r in runs if "error" not in r and not r.get("aba")]
    aba = [r for r in runs if "error" not in r and r.get("aba")]
    fails = [r for r in runs if "error" in r]
    by = {}
    for r in ok:
        by.setdefault((r["wl"], r["config"]), []).append(r)
    # per-round untraced baselines (CPU ns and wall ns per message)
    base = {}
    for r in by.get(("local", "untraced"), []) + by.get(("pair", "untraced"), []):
        base[(r["wl"], r["round"])] = (r["cpu_ns"] / r["msgs"], r["ns"] / r["msgs"])
    med_base = {wl: (med(b[0] for (w, _), b in base.items() if w == wl),
                     med(b[1] for (w, _), b in base.items() if w == wl))
                for wl in ("local", "pair")}
    for r in ok:
        b = base.get((r["wl"], r["round"]), med_base[r["wl"]])
        if b[0] is None:
            continue
        r["tput"] = r["msgs"] / r["ns"] * 1e9
        r["cpu_per_msg"] = r["cpu_ns"] / r["msgs"]
        r["tput_ratio_wall"] = b[1] / (r["ns"] / r["msgs"])
        r["tput_ratio_cpu"] = b[0] / r["cpu_per_msg"]
        over_cpu = r["cpu_ns"] - r["msgs"] * b[0]
        over_wall = r["ns"] - r["msgs"] * b[1]
        r["over_cpu_ns"] = over_cpu
        if r.get("hits"):
            r["per_hit_cpu"] = over_cpu / r["hits"]
            r["per_hit_wall"] = over_wall / r["hits"]
            if r.get("tracer_cpu_s") is not None:
                r["tracer_cpu_per_hit"] = r["tracer_cpu_s"] * 1e9 / r["hits"]
        if r.get("cost_ns_claimed") is not None:
            r["cost_claimed_ns"] = r["cost_ns_claimed"]
        elif r.get("hit_ns_claimed") is not None and r.get("hits"):
            r["cost_claimed_ns"] = r["hits"] * r["hit_ns_claimed"]  # before cost_ns
        if r["config"].startswith("kt-"):
            r["exact"] = r.get("kt_sent") == r["sent"] and r.get("kt_recv") == r["recv"] \
                and r["sent"] == r["msgs"]

    W = 118
    res = {"meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rounds": ROUNDS,
                    "run_ms": RUN_MS, "elapsed_s": round(elapsed), "lib": LIB,
                    "loadavg": open("/proc/loadavg").read().split()[:3]},
           "configs": [], "targets": [], "failures": fails}
    try:
        res["meta"]["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    print()
    print("=" * W)
    print(f"kaos-trace benchmark   {res['meta']['date']}   git {res['meta'].get('git', '')}   "
          f"{ROUNDS} rounds x {RUN_MS} ms per run (+{ABA_ROUNDS} phased processes), "
          f"{round(elapsed)} s; "
          f"load average now {' '.join(res['meta']['loadavg'])}")
    print("Workload: tests/progs/kt_bench_workload; local = one thread sends a message and "
          "receives it back, pair = producer")
    print(f"and consumer threads on CPUs {PAIR_CPUS}. Medians over rounds [min..max]. "
          "CPU = the workload's own CPU time (user+sys; a")
    print("probe hit's kernel work is charged to it; time slices lost to other processes "
          "are not), wall = elapsed time.")
    print("overhead/hit = (traced time - messages x untraced time per message of the same "
          "round) / probe hits.")
    print("=" * W)
    # the probe site: where kaos-trace (and bpftrace, at the note) attach, and the plain
    # nop1 vs nop5 hit costs side by side (kaos-trace's own self-test, perf uprobes, no BPF)
    site = features_site()
    res["meta"]["probe_site"] = site
    print(f"\nProbe sites (libkaos' default combined site): kaos-trace attaches at {site['site']}")
    print(f"  a bare uprobe hit, plain sites side by side: {site['nop5']}")
    for wl in ("local", "pair"):
        print(f"\n{wl}: {'one thread, send + recv per message' if wl == 'local' else 'two threads, per-message SPSC'}")
        print(f"  {'configuration':<50} {'msgs/s':>8} {'CPU/msg':>9} {'hits':>9} "
              f"{'ovh/hit CPU':>22} {'ovh/hit wall':>12} {'vs untraced':>11}")
        for c in CONFIGS:
            rs = by.get((wl, c["name"]), [])
            if wl not in c["wl"]:
                continue
            if not rs:
                print(f"  {c['title']:<50} {'no data':>8}")
                continue
            ph = [r.get("per_hit_cpu") for r in rs]
            lo, hi = rng(ph)
            span = f"[{fns(lo)}..{fns(hi)}]" if lo is not None else ""
            rat = med(r.get("tput_ratio_cpu" if wl == "local" else "tput_ratio_wall")
                      for r in rs)
            print(f"  {c['title']:<50} {frate(med(r.get('tput') for r in rs)):>8} "
                  f"{fns(med(r.get('cpu_per_msg') for r in rs)):>9} "
                  f"{med(r.get('hits') for r in rs) or 0:>9.0f} "
                  f"{fns(med(ph)):>9} {span:<12} "
                  f"{fns(med(r.get('per_hit_wall') for r in rs)):>12} "
                  f"{(f'{rat * 100:.1f}%' if rat else '-'):>11}")
            res["configs"].append({
                "wl": wl, "config": c["name"], "title": c["title"], "runs": len(rs),
                "tput_median": med(r.get("tput") for r in rs),
                "cpu_per_msg_median": med(r.get("cpu_per_msg") for r in rs),
                "hits_median": med(r.get("hits") for r in rs),
                "per_hit_cpu_median": med(ph), "per_hit_cpu_min": lo, "per_hit_cpu_max": hi,
                "per_hit_wall_median": med(r.get("per_hit_wall") for r in rs),
                "tput_ratio_cpu_median": med(r.get("tput_ratio_cpu") for r in rs),
                "tput_ratio_wall_median": med(r.get("tput_ratio_wall") for r in rs),
                "startup_ms_median": med(r.get("startup_ms") for r in rs),
                "startup_cpu_ms_median": med(r.get("startup_cpu_ms") for r in rs),
                "tracer_rss_kb_max": max((r.get("tracer_rss_kb") or 0) for r in rs) or None,
                "tracer_cpu_per_hit_median": med(r.get("tracer_cpu_per_hit") for r in rs)})
        print("  ('vs untraced': throughput per CPU-second for local, per wall second for "
              "pair, relative to the same round's untraced run)")

    # ---- the tools themselves
    print(f"\nTracers: startup (exec to its 'attached' line; +probes live: until the kernel "
          f"had set the USDT semaphores),")
    print("max RSS (VmHWM), own CPU per probe hit (incl. its start-up; local + pair runs)")
    print(f"  {'configuration':<50} {'startup':>9} {'[min..max]':<19} {'+probes live':>12} "
          f"{'max RSS':>8} {'own CPU/hit':>11}")
    for c in CONFIGS:
        if not c["cmd"]:
            continue
        rs = [r for wl in c["wl"] for r in by.get((wl, c["name"]), [])]
        if not rs:
            continue
        s = [r.get("startup_ms") for r in rs]
        lo, hi = rng(s)
        rss = max((r.get("tracer_rss_kb") or 0) for r in rs)
        live = med(r.get("probe_wait_ns") for r in rs) if c["wait_probes"] else None
        print(f"  {c['title']:<50} {med(s):>6.1f} ms {f'[{lo:.1f}..{hi:.1f} ms]':<19} "
              f"{(f'{live / 1e6:+.1f} ms' if live is not None else '-'):>12} "
              f"{rss / 1024:>5.1f} MB {fns(med(r.get('tracer_cpu_per_hit') for r in rs)):>11}")

    # ---- latency reported for kaos_ring_send
    print("\nLatency of kaos_ring_send as each tool reports it (local workload)")
    u = med_base["local"][0]
    print(f"  untraced: a send + recv pair costs {fns(u)} of CPU (workload's own figure)")
    for c in CONFIGS:
        rs = by.get(("local", c["name"]), [])
        if not rs or c["tool"] not in ("kt", "bt", "fl") or c["name"] in ("bt-count",
                                                                          "bt-bare"):
            continue
        if c["tool"] == "kt":
            s = (f"p50 {fns(med(r.get('lat_p50') for r in rs))}, "
                 f"p99 {fns(med(r.get('lat_p99') for r in rs))}  (measured inside libkaos, "
                 f"{med(r.get('lat_n') for r in rs) or 0:.0f} samples/run)")
        else:
            b = [r.get("lat_p50_bucket") for r in rs if r.get("lat_p50_bucket")]
            bs = f"{fns(statistics.median(x[0] for x in b))}..{fns(statistics.median(x[1] for x in b))}" if b else "-"
            est = " (estimated from the log2 buckets)" if c["tool"] == "fl" else ""
            s = f"p50 in [{bs}], mean {fns(med(r.get('lat_avg') for r in rs))}{est}"
        print(f"  {c['title']:<50} {s}")

    # ---- kaos-trace's own estimate of its cost
    print("\nkaos-trace's reported cost of tracing vs measured (local; claimed = its cost_ns: "
          "per-op hits, batched records and traps at their calibrated prices)")
    for c in CONFIGS:
        rs = by.get(("local", c["name"]), [])
        if c["tool"] != "kt" or not rs:
            continue
        cl = med(r.get("hit_ns_claimed") for r in rs)
        me = med(r.get("per_hit_cpu") for r in rs)
        ratio = med(r["cost_claimed_ns"] / r["over_cpu_ns"] for r in rs
                    if r.get("cost_claimed_ns") and r.get("over_cpu_ns", 0) > 0)
        se = med(r.get("sample_every") for r in rs)
        print(f"  {c['title']:<50} calibrated hit {fns(cl):>9}, measured {fns(me):>9}; "
              f"claimed/measured cost {ratio if ratio else float('nan'):.2f}x; "
              f"final sampling 1/{se or 0:.0f}")

    # ---- same process: untraced, traced, untraced
    if aba:
        print(f"\nSame process, {ABA_MS} ms phases untraced / traced / untraced / ... "
              f"({ABA_CYCLES} traced per process, {ABA_ROUNDS} processes): a traced phase's")
        print("throughput / the mean of its neighbours (per CPU-second for local, wall for pair); "
              "'drift' = the neighbours' ratio, the noise floor")
        for wl in ("local", "pair"):
            for name, title, _, _ in ABA:
                rs = [r for r in aba if r["wl"] == wl and r["config"] == name]
                if not rs:
                    continue
                ratios = [x for r in rs for x in r["ratios"]]
                lo, hi = rng(ratios)
                dl, dh = rng(x for r in rs for x in r["drifts"])
                print(f"  {wl:<5} {title:<52} {med(ratios) * 100:6.1f}% "
                      f"[{lo * 100:.1f}..{hi * 100:.1f}%]  drift [{dl * 100:.0f}..{dh * 100:.0f}%]"
                      f"  sampling 1/{med(r.get('sample_every') for r in rs) or 0:.0f}, "
                      f"claimed cost {med(r.get('cost_pct_claimed') for r in rs) or 0:.2f}%")

    # ---- targets
    print("\nTargets (medians of this run)")

    def target(label, value, ok, shown, note="", noisy=False):
        st = "n/a" if value is None else ("MET" if ok else "MISSED")
        if noisy:
            st += " (within noise)"
        res["targets"].append({"target": label, "measured": value, "status": st})
        print(f"  {label:<64} {shown if value is not None else 'no data':>16}   {st}"
              + (f"  {note}" if note else ""))

    def per_round_ratio(wl, a, b, key):
        ra = {r["round"]: r.get(key) for r in by.get((wl, a), [])}
        rb = {r["round"]: r.get(key) for r in by.get((wl, b), [])}
        xs = [ra[k] / rb[k] for k in ra if k in rb and ra[k] and rb[k]]
        return med(xs), rng(xs)

    r, (lo, hi) = per_round_ratio("local", "kt-s1", "bt-bare", "per_hit_cpu")
    target(f"kaos-trace per traced op <= 1.2x a bare USDT hit ({site['short']})", r,
           r is not None and r <= 1.2, f"{r:.2f}x" if r else "",
           f"per-round [{lo:.2f}..{hi:.2f}]" if r else "")
    r, (lo, hi) = per_round_ratio("local", "funclat", "kt-s1", "per_hit_cpu")
    target("kaos-trace >= 10x cheaper per op than funclatency", r,
           r is not None and r >= 10, f"{r:.1f}x" if r else "",
           f"per-round [{lo:.1f}..{hi:.1f}]" if r else "")
    for wl, how in (("local", "per CPU-second"), ("pair", "wall")):
        rs = [r for r in aba if r["wl"] == wl and r["config"] == "aba-budget"]
        ratios = [x for r in rs for x in r["ratios"]]
        v = med(ratios)
        lo, hi = rng(ratios)
        # noise: half the interquartile range of the untraced phases' ratios around each
        dr = [x for r in rs for x in r["drifts"]] or [1.0]
        q = statistics.quantiles(dr, n=4) if len(dr) > 1 else [1, 1, 1]
        noise = (q[2] - q[0]) / 2
        target(f"--budget {BUDGET}: {wl} keeps >= 97 % of untraced ({how}, same process)", v,
               v is not None and v >= 0.97, f"{v * 100:.1f}%" if v else "",
               f"[{lo * 100:.1f}..{hi * 100:.1f}%] {len(ratios)} phases; noise +-{noise * 100:.1f}%"
               f" (untraced phases differ by {min(dr) * 100 - 100:+.0f}..{max(dr) * 100 - 100:+.0f}%)"
               if v else "", noisy=v is not None and abs(v - 0.97) < noise)
        ex = [r.get("exact") for r in by.get((wl, "kt-budget"), [])]
        target(f"--budget {BUDGET}: {wl} counts equal the workload's, every run",
               len(ex) if ex else None, ex and all(ex), f"{sum(map(bool, ex))}/{len(ex)} runs")
    kt_runs = [r for r in ok if r["config"].startswith("kt-")]
    ex = [r.get("exact") for r in kt_runs]
    target("every kaos-trace run: exact send/recv counts", len(ex) if ex else None,
           ex and all(ex), f"{sum(map(bool, ex))}/{len(ex)} runs")
    s = med(r.get("startup_ms") for r in kt_runs)
    sc = med(r.get("startup_cpu_ms") for r in kt_runs)
    # issue 16's targets
    target("kaos-trace startup to attached < 25 ms (median)", s, s is not None and s < 25,
           (f"{s:.1f} ms" if s else "")
           + (f"; its own CPU to attached {sc:.1f} ms" if sc is not None else ""))
    rss = max((r.get("tracer_rss_kb") or 0) for r in kt_runs) if kt_runs else None
    target("kaos-trace max RSS < 8 MB (worst run)", rss, rss is not None and rss < 8192,
           f"{rss / 1024:.1f} MB" if rss else "")
    for name, why in MISSING.items():
        print(f"  ({name}: not run, {why})")
    if fails:
        print("\nFAILED runs:")
        for f in fails:
            print(f"  round {f['round']} {f['wl']} {f['config']}: {f['error']}")
    out = f"{OUT}/trace_results.json"
    with open(out, "w") as fh:
        json.dump(res, fh, indent=1, default=str)
    print(f"\nresults: {out}  raw records: {raw_path}")
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        # re-print the summary of an earlier run from its raw records
        recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
        sys.exit(summarize(recs, sys.argv[2], 0))
    sys.exit(main())
