#!/usr/bin/env bash
# --alloc with --timeline: the heap bytes of each traced process as a
# counter track ("ph": "C", name heap_bytes, pid), sampled every 100 ms and
# at the end: the samples are in time order, never above the program's own
# peak, and the last one is its leak set exactly (traced from the start);
# nothing dropped; the process is named in the metadata.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
AW=$B/tests/progs/kt_alloc_workload
need "$KT" "$AW"

"$KT" --alloc --no-calibrate --timeline "$TMP/tl.json" -- "$AW" --truth "$TMP/truth.json" \
	>"$TMP/tl.txt" 2>"$TMP/tl.err" || fail "kaos-trace --alloc --timeline failed"
python3 - "$TMP/tl.json" "$TMP/truth.json" <<'PY' || fail "no right heap counter track in the timeline"
import json, sys
d = json.load(open(sys.argv[1]))
t = json.load(open(sys.argv[2]))
c = [e for e in d["traceEvents"] if e["ph"] == "C"]
vals = [e["args"]["heap_bytes"] for e in c]
print("heap_bytes track: %d samples, max %d, last %d (truth: peak %d, leaked %d)" % (
    len(c), max(vals), vals[-1], t["peak_bytes"], t["leaked_bytes"]))
assert len(c) >= 2, c
assert all(e["name"] == "heap_bytes" and e["pid"] == t["pid"] for e in c), c
ts = [e["ts"] for e in c]
assert ts == sorted(ts), ts
assert max(vals) <= t["peak_bytes"], vals
assert vals[-1] == t["leaked_bytes"], vals[-1]
assert d["otherData"]["counters_dropped"] == 0, d["otherData"]
assert any(e["ph"] == "M" and e["pid"] == t["pid"] and e["name"] == "process_name" for e in d["traceEvents"])
PY
echo "PASS: --alloc --timeline: a heap_bytes counter track per process, ending at the leak set"
