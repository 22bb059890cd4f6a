#!/usr/bin/env bash
# The daemon with --off-cpu, real BPF: it follows tests/progs/kt_offcpu by
# path; /metrics gets kaos_offcpu_seconds_total/blocks_total for its
# threads, the consumer's grows while it runs and ends within a generous
# tolerance of the blocked time the program measured itself (the daemon only
# starts timing a process once it has seen its first event); the families
# pass promtool; the folded files carry [off-cpu] stacks of the consumer in
# wait_for_work; a reload keeps the (restart-only) minimum; `retain` after the exit the series go (and the kernel's
# sums with them) while the folded files keep the blocks; a flag error is one line and exit 2; SIGTERM exits 0.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
OFF=$B/tests/progs/kt_offcpu
need "$KT" "$OFF"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"

# bad minimum: one line, exit 2, before any BPF
rc=0
"$KT" daemon --watch "$OFF" --off-cpu --off-cpu-min-block 5parsecs >"$TMP/bad.out" 2>"$TMP/bad.err" ||
	rc=$?
[ $rc -eq 2 ] || fail "bad --off-cpu-min-block: exit $rc, expected 2"
[ "$(wc -l <"$TMP/bad.err")" -eq 1 ] && grep -q 'off-cpu-min-block.*5parsecs' "$TMP/bad.err" ||
	fail "bad --off-cpu-min-block: $(cat "$TMP/bad.err")"

mkdir -p "$TMP/folded"
# the minimum from the file, --off-cpu from the flags (on top of it)
printf '[daemon]\noff_cpu_min_block = 2us\n[watch]\npath = %s\n' "$OFF" >"$TMP/off.conf"
start_daemon off --sample 1 --config "$TMP/off.conf" --listen 127.0.0.1:0 --off-cpu \
	--folded-dir "$TMP/folded" --folded-interval 1s --probe-cost 1000 --retain 6s
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
grep -q 'off-cpu: sched_switch traced, blocks >= 2us counted' "$DERR" || fail "no off-cpu start line"

"$OFF" --ms 3000 >"$TMP/prog.txt" &
PROG=$!
wait_log "process: pid $PROG \(kt_offcpu\) traced"

# the consumer's seconds: $1 = a metrics file
consumer_s() {
	awk -v pid="$PROG" '$1 ~ "^kaos_offcpu_seconds_total[{]" && $1 ~ "pid=\"" pid "\"" &&
		$1 ~ "thread=\"consumer\"" {print $2}' "$1"
}
sleep 0.5
scrape >"$TMP/m1.txt" || fail "scrape 1 failed"
s1=$(consumer_s "$TMP/m1.txt")
[ -n "$s1" ] || fail "no kaos_offcpu_seconds_total of the consumer: $(grep offcpu "$TMP/m1.txt")"
sleep 1
scrape >"$TMP/m2.txt" || fail "scrape 2 failed"
s2=$(consumer_s "$TMP/m2.txt")
python3 -c "import sys; sys.exit(0 if float('$s2') > float('$s1') else 1)" ||
	fail "consumer off-cpu did not grow while it ran: $s1 s then $s2 s"
wait "$PROG" || fail "kt_offcpu failed"
read -r _ _ wait_ns _ flush_ns _ < <(grep '^consumer wait_for_work_ns' "$TMP/prog.txt") ||
	fail "no consumer line from kt_offcpu: $(cat "$TMP/prog.txt")"
scrape >"$TMP/metrics.txt" || fail "scrape 3 failed"
s3=$(consumer_s "$TMP/metrics.txt")
[ -n "$s3" ] || fail "the consumer's off-cpu series went before retain: $(grep "process" "$DERR" | tail -3)"
blocks=$(awk -v pid="$PROG" '$1 ~ "^kaos_offcpu_blocks_total[{]" && $1 ~ "pid=\"" pid "\"" &&
	$1 ~ "thread=\"consumer\"" {print $2}' "$TMP/metrics.txt")
ratio=$(python3 -c "print(round(100 * $s3 * 1e9 / ($wait_ns + $flush_ns)))")
echo "consumer off-cpu: $s1 s, $s2 s, at the end $s3 s in $blocks blocks; it measured" \
	"$wait_ns + $flush_ns ns blocked: $ratio %"
[ "$ratio" -ge 50 ] && [ "$ratio" -le 130 ] ||
	fail "consumer off-cpu $s3 s vs $((wait_ns + flush_ns)) ns measured ($ratio %, expected 50-130 %)"
[ "${blocks:-0}" -gt 10 ] || fail "consumer blocks: '$blocks'"
grep -q '^kaos_offcpu_dropped_total{reason="count_map_full"} 0$' "$TMP/metrics.txt" ||
	fail "no (or non-zero) count_map_full drop counter"
grep -q '^kaos_offcpu_dropped_total{reason="start_map_full"} 0$' "$TMP/metrics.txt" ||
	fail "no (or non-zero) start_map_full drop counter"
grep -q '^kaos_offcpu_min_block_seconds 2e-06$' "$TMP/metrics.txt" || fail "no min block gauge"
# the minimum changes on restart only: a reload keeps it, with a warning
sed -i 's/2us/5us/' "$TMP/off.conf"
kill -HUP "$DPID"
wait_log 'reload: applied'
grep -q 'off_cpu and off_cpu_min_block change on restart only: kept' "$DERR" ||
	fail "no restart-only warning for off_cpu_min_block"
scrape >"$TMP/m5.txt" || fail "scrape after reload failed"
grep -q '^kaos_offcpu_min_block_seconds 2e-06$' "$TMP/m5.txt" || fail "reload changed the min block"
# per thread, not per stack: one series per thread of the program
nser=$(grep -c "^kaos_offcpu_seconds_total{pid=\"$PROG\"" "$TMP/metrics.txt" || true)
[ "$nser" -le 3 ] || fail "$nser off-cpu series for a 3-thread program"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
scrape /metrics -H 'Accept: application/openmetrics-text' >"$TMP/om.txt" ||
	fail "OpenMetrics scrape failed"
grep -q '^# TYPE kaos_offcpu_seconds counter$' "$TMP/om.txt" ||
	fail "OpenMetrics: kaos_offcpu_seconds family not named without _total"

# retain (6 s: scrape 3 must come before it, and a loaded machine can take 2 s
# between the exit and that scrape) after its exit the process is forgotten: its off-cpu series go too
gone=0
for _ in $(seq 1 100); do
	scrape >"$TMP/m4.txt" || fail "scrape 4 failed"
	if ! grep -q "^kaos_offcpu_seconds_total{pid=\"$PROG\"" "$TMP/m4.txt"; then
		gone=1
		break
	fi
	sleep 0.1
done
[ $gone = 1 ] || fail "the exited process's off-cpu series stayed past retain"
grep -q '^kaos_offcpu_dropped_total{reason="count_map_full"} 0$' "$TMP/m4.txt" ||
	fail "the drop counters went with the process"

stop_daemon
cat "$TMP"/folded/*.folded >"$TMP/all.folded"
grep -q '^\[off-cpu\];consumer;.*wait_for_work' "$TMP/all.folded" ||
	fail "no [off-cpu] wait_for_work stacks of the consumer in the folded files"
fns=$(awk '/^\[off-cpu\];consumer;/ {s += $NF} END {printf "%.0f", s}' "$TMP/all.folded")
# the folded intervals hold charged blocks only: at most the counter, not much less
python3 -c "import sys; sys.exit(0 if 0.5 * $s3 * 1e9 <= $fns <= $s3 * 1e9 + 1e6 else 1)" ||
	fail "folded consumer off-cpu $fns ns vs the counter's $s3 s"
echo "PASS: daemon --off-cpu: per-thread counters grow, match the program ($ratio %), promtool ok," \
	"[off-cpu] folded stacks ($fns ns), SIGTERM exit 0"
