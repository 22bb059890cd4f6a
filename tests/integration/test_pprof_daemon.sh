#!/usr/bin/env bash
# The daemon's /debug/pprof endpoints, read by Go's pprof (built by make),
# real BPF: `pprof -top http://.../debug/pprof/profile?seconds=2` against a
# daemon profiling a program spinning in hot_spin names hot_spin, the
# profile covers the 2 s after the request (its duration), `pprof -raw`
# shows the program's build-id; /debug/pprof/latency has the send stacks
# labelled with their ring. Bad input and limits: bad seconds -> 400 (one
# line), a kind the daemon does not collect (off-cpu, alloc) -> 503, a fifth
# profile at once -> 429 while /metrics is still served, and the profiles
# pending at SIGTERM -> 503 with a clear body, the daemon exiting 0.
# /debug/pprof/off-cpu has the blocked time of kt_offcpu's consumer thread;
# --profile without a folded dir serves /debug/pprof/profile.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
HOT=$PWD/$B/tests/progs/kt_hotspin
PPROF=$PWD/$B/tools/pprof
need "$KT" "$HOT" "$PPROF"
command -v curl >/dev/null || fail "curl is missing (make deps)"
export PPROF_TMPDIR=$TMP/pprof-home # where pprof saves what it fetched

mkdir -p "$TMP/folded"
start_daemon pp -b "$HOT" --sample 1 --profile 997 --folded-dir "$TMP/folded" \
	--folded-interval 1s --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
URL=http://127.0.0.1:$PORT/debug/pprof
# CPU time for the whole test at any load. Background jobs of a script
# ignore SIGINT (the cleanup's): they are sent SIGTERM.
BG=()
trap 'rc=$?; for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; cleanup $rc' EXIT
"$HOT" --cpu-ms 120000 --spin-us 15000 --ops 50 >"$TMP/hot.txt" &
BG+=($!)
wait_log "process: pid [0-9]+ \(kt_hotspin\) traced"

# CPU: the next 2 seconds, hot_spin on top
"$PPROF" -top "$URL/profile?seconds=2" >"$TMP/top.txt" 2>"$TMP/top.err" ||
	fail "pprof -top $URL/profile?seconds=2 failed"
grep -q '^Type: cpu$' "$TMP/top.txt" || fail "not a cpu profile"
pp=$(awk '$NF == "hot_spin" {sub("%", "", $2); print $2}' "$TMP/top.txt")
[ -n "$pp" ] || fail "pprof -top does not name hot_spin"
awk -v a="$pp" 'BEGIN {exit !(a >= 40)}' || fail "hot_spin only $pp %"
# the window is the 2 s after the request, not what was counted before it
grep -Eq '^Duration: 2(\.[0-9]+)?s,' "$TMP/top.txt" || fail "not a 2 s window: $(grep Duration "$TMP/top.txt")"

# the body itself: gzip, the program's build-id in its mappings
curl -sf --max-time 20 -o "$TMP/cpu.pb.gz" "$URL/profile?seconds=1" || fail "curl profile failed"
gzip -t "$TMP/cpu.pb.gz" || fail "the profile is not gzip"
id=$(readelf -n "$HOT" | awk '/Build ID:/ {print $3}')
"$PPROF" -raw "$TMP/cpu.pb.gz" >"$TMP/raw.txt" 2>"$TMP/raw.err" || fail "pprof -raw failed"
grep -Eq "kt_hotspin $id \[FN\]" "$TMP/raw.txt" || fail "pprof -raw lacks kt_hotspin's build-id $id"

# latency: the send stacks of the window, with ring and op labels
curl -sf --max-time 20 -o "$TMP/lat.pb.gz" "$URL/latency?seconds=1" || fail "curl latency failed"
"$PPROF" -sample_index=send -tagfocus=ring=hotspin -top "$TMP/lat.pb.gz" >"$TMP/send.txt" 2>&1 ||
	fail "pprof latency: $(cat "$TMP/send.txt")"
awk '$NF == "kaos_ring_send" && $2 == "100%" {ok = 1} END {exit !ok}' "$TMP/send.txt" ||
	fail "send stacks of ring hotspin do not end at kaos_ring_send: $(cat "$TMP/send.txt")"
"$PPROF" -sample_index=send_latency -top "$TMP/lat.pb.gz" >"$TMP/sendlat.txt" 2>&1 ||
	fail "no send_latency type"

# status CODE BODY-RE PATH: the daemon answers PATH with CODE and a body matching BODY-RE
status() {
	local code body
	code=$(curl -s --max-time 20 -o "$TMP/body.txt" -w '%{http_code}' "$URL$3") || true
	body=$(cat "$TMP/body.txt")
	[ "$code" = "$1" ] || fail "$3: HTTP $code, expected $1 ($body)"
	[ "$(wc -l <"$TMP/body.txt")" = 1 ] && grep -Eq "$2" "$TMP/body.txt" || fail "$3: body '$body'"
}
status 400 '^seconds must be an integer from 1 to 300$' "/profile?seconds=0"
status 400 '^seconds must be an integer from 1 to 300$' "/profile?seconds=abc"
status 400 '^seconds must be an integer from 1 to 300$' "/profile?seconds=301"
status 400 '^seconds must be an integer from 1 to 300$' "/profile?seconds=2x"
status 503 '^no off-CPU profile: .*off_cpu = yes' "/off-cpu?seconds=1"
status 503 '^no alloc profile: .*alloc = yes' "/alloc?seconds=1"
status 404 '^unknown profile' "/heap"

# four long profiles at once; a fifth is refused, /metrics still answers
for i in 1 2 3 4; do
	curl -s --max-time 60 -o "$TMP/long$i.txt" -w '%{http_code}' "$URL/profile?seconds=60" \
		>"$TMP/long$i.code" &
	LONG[$i]=$!
	BG+=($!)
done
# once the four are pending (the index page counts them)
for _ in $(seq 1 200); do
	scrape /debug/pprof/ | grep -q '^4 of at most 4 profiles being taken$' && break
	sleep 0.05
done
scrape /debug/pprof/ | grep -q '^4 of at most 4 profiles being taken$' ||
	fail "the four profiles are not pending: $(scrape /debug/pprof/ | tail -1)"
code=$(curl -s --max-time 20 -o "$TMP/fifth.txt" -w '%{http_code}' "$URL/profile?seconds=1") || true
[ "$code" = 429 ] || fail "a fifth profile: HTTP $code, expected 429"
grep -q '^too many profiles being taken (at most 4 at once): retry later$' "$TMP/fifth.txt" ||
	fail "429 body: $(cat "$TMP/fifth.txt")"
scrape /metrics >"$TMP/metrics.txt" || fail "/metrics not served while profiles are pending"
grep -q '^kaos_trace_' "$TMP/metrics.txt" || fail "/metrics empty"

# SIGTERM: the pending ones get a 503 saying why, the daemon exits 0
stop_daemon
for i in 1 2 3 4; do
	wait "${LONG[$i]}" || true
	[ "$(cat "$TMP/long$i.code")" = 503 ] || fail "pending profile $i at shutdown: HTTP $(cat "$TMP/long$i.code")"
	grep -q '^kaos-trace is shutting down: no profile$' "$TMP/long$i.txt" ||
		fail "pending profile $i: body '$(cat "$TMP/long$i.txt")'"
done
# off-cpu and --profile without a folded dir (the endpoint alone takes the
# CPU stacks): the consumer thread's blocked time, a cpu profile; no event
# stacks there: 503 saying which setting turns them on
OFF=$PWD/$B/tests/progs/kt_offcpu
need "$OFF"
start_daemon off -b "$OFF" --sample 1 --off-cpu --profile 997 --listen 127.0.0.1:0
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
URL=http://127.0.0.1:$PORT/debug/pprof
"$OFF" --ms 30000 >"$TMP/off.txt" &
BG+=($!)
wait_log "process: pid [0-9]+ \(kt_offcpu\) traced"
curl -sf --max-time 20 -o "$TMP/off.pb.gz" "$URL/off-cpu?seconds=1" || fail "curl off-cpu failed"
"$PPROF" -raw "$TMP/off.pb.gz" >"$TMP/offraw.txt" 2>"$TMP/offraw.err" || fail "pprof -raw (off-cpu) failed"
grep -q '^off-cpu/nanoseconds' "$TMP/offraw.txt" || fail "no off-cpu/nanoseconds type"
grep -q 'comm:\[consumer\]' "$TMP/offraw.txt" || fail "no off-cpu sample of the consumer thread"
curl -sf --max-time 20 -o "$TMP/offcpu-cpu.pb.gz" "$URL/profile?seconds=1" || fail "curl profile (no folded dir) failed"
"$PPROF" -raw "$TMP/offcpu-cpu.pb.gz" >"$TMP/offcpuraw.txt" 2>&1 || fail "pprof -raw (cpu, no folded dir) failed"
grep -q '^samples/count cpu/nanoseconds' "$TMP/offcpuraw.txt" || fail "no cpu sample types: $(head -3 "$TMP/offcpuraw.txt")"
status 503 '^no latency profile: event stacks are off' "/latency?seconds=1"
stop_daemon

echo "PASS: /debug/pprof: hot_spin $pp % in a 2 s window, build-id, latency by ring, off-cpu, 400/404/503/429, 503 at shutdown"
