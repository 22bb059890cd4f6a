#!/usr/bin/env bash
# The daemon's /debug/pprof/alloc (alloc = yes), real BPF: a daemon heap-
# profiling kt_alloc_workload --loop answers /debug/pprof/alloc?seconds=2
# with Go's heap sample types (alloc_objects, alloc_space in bytes,
# inuse_objects, inuse_space); `pprof -sample_index=alloc_space -top` names
# the workload's allocating function (block_alloc), with its calls
# (alloc_objects) counted, the window is 2 s.
# Without alloc the daemon answers 503 naming the setting.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
AW=$PWD/$B/tests/progs/kt_alloc_workload
PPROF=$PWD/$B/tools/pprof
need "$KT" "$AW" "$PPROF"
command -v curl >/dev/null || fail "curl is missing (make deps)"
export PPROF_TMPDIR=$TMP/pprof-home

start_daemon al -b "$AW" --sample 1 --alloc --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
URL=http://127.0.0.1:$PORT/debug/pprof
BG=()
# the workload writes its truth into $TMP when it ends: waited for before cleanup removes $TMP
trap 'rc=$?; for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; cleanup $rc' EXIT
"$AW" --loop --allocs 2000 --truth "$TMP/aw.truth" >"$TMP/aw.out" &
BG+=($!)
wait_log "process: pid [0-9]+ \(kt_alloc_worklo\) traced"

"$PPROF" -raw "$URL/alloc?seconds=2" >"$TMP/raw.txt" 2>"$TMP/raw.err" ||
	fail "pprof -raw $URL/alloc?seconds=2 failed: $(cat "$TMP/raw.err")"
grep -q '^alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes' \
	"$TMP/raw.txt" || fail "not Go's heap sample types: $(head -3 "$TMP/raw.txt")"
grep -Eq '^Duration: 2(\.[0-9]+)?s?$' "$TMP/raw.txt" || fail "not a 2 s window: $(grep Duration "$TMP/raw.txt")"
"$PPROF" -sample_index=alloc_space -top "$TMP/pprof-home"/pprof.* >"$TMP/top.txt" 2>&1 ||
	fail "pprof -top: $(cat "$TMP/top.txt")"
grep -q 'Type: alloc_space' "$TMP/top.txt" || fail "not alloc_space: $(head -5 "$TMP/top.txt")"
grep -Eq ' block_alloc$' "$TMP/top.txt" || fail "pprof -top does not name block_alloc: $(cat "$TMP/top.txt")"
# objects are the window's calls (2000+ a round), not one per stack
"$PPROF" -sample_index=alloc_objects -top "$TMP/pprof-home"/pprof.* >"$TMP/objs.txt" 2>&1 ||
	fail "pprof -top alloc_objects: $(cat "$TMP/objs.txt")"
awk '$NF == "block_alloc" && $1 + 0 >= 1000 {ok = 1} END {exit !ok}' "$TMP/objs.txt" ||
	fail "block_alloc's alloc_objects under 1000: $(cat "$TMP/objs.txt")"
kill -TERM "${BG[0]}"
wait "${BG[0]}" || fail "kt_alloc_workload --loop failed"
BG=()
stop_daemon

# without alloc: 503 naming the setting
HOT=$PWD/$B/tests/progs/kt_hotspin
need "$HOT"
start_daemon noal -b "$HOT" --sample 1 --listen 127.0.0.1:0
URL=http://127.0.0.1:$PORT/debug/pprof
code=$(curl -s --max-time 20 -o "$TMP/body.txt" -w '%{http_code}' "$URL/alloc?seconds=1") || true
[ "$code" = 503 ] || fail "/alloc without alloc: HTTP $code, expected 503"
grep -q '^no alloc profile: .*alloc = yes, or --alloc' "$TMP/body.txt" || fail "503 body: $(cat "$TMP/body.txt")"
stop_daemon
echo "PASS: /debug/pprof/alloc: Go's heap sample types, block_alloc on top of alloc_space, 2 s window; 503 without alloc"
