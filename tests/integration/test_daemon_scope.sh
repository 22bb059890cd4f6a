#!/usr/bin/env bash
# The daemon's --watch PROGRAM traces that program's processes only (its
# probes are in libkaos.so): another program of the same library has no
# series in /metrics and fires no alert. A program that execs itself has
# one series set per image in /metrics, each with its exact count. A
# program added at SIGHUP joins the scope.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
SCOPE=$B/tests/progs/kt_scope
need "$KT" "$WORK" "$SCOPE"
command -v curl >/dev/null || fail "curl is missing (make deps)"
N=30000

printf '[watch]\npath = %s\n' "$(realpath "$SCOPE")" >"$TMP/kt.conf"
start_daemon scope --sample 1 --config "$TMP/kt.conf" --listen 127.0.0.1:0 --windows 2s --ringbuf-size 67108864 \
	--alert 'ring=work.* send.count > 0' --alert-log "$TMP/alerts.jsonl" --eval-interval 100ms
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
wait_log "scope: processes of $(realpath "$SCOPE"), now and later, children included \(0 running\)"

"$WORK" --msgs 100000 --batch 1 >"$TMP/other.txt" || fail "the other workload failed"
"$SCOPE" exec $N >"$TMP/exec.txt" || fail "kt_scope exec failed"
pid=$(awk '/scope.img/ {print $NF; exit}' "$TMP/exec.txt")
wait_log "process: pid $pid \(kt_scope\) exec'd: its new image's series carry exec=\"1\""

# counts may still be in flight: poll until both images are complete
ok=
for _ in $(seq 1 100); do
	scrape >"$TMP/metrics.txt" || fail "scrape failed"
	old=$(grep -c "^kaos_ring_messages_total{pid=\"$pid\",process=\"kt_scope\",ring=\"scope.img\",op=\"send\"} $N\$" "$TMP/metrics.txt" || true)
	new=$(grep -c "^kaos_ring_messages_total{pid=\"$pid\",process=\"kt_scope\",exec=\"1\",ring=\"scope.img\",op=\"send\"} $N\$" "$TMP/metrics.txt" || true)
	if [ "$old" = 1 ] && [ "$new" = 1 ]; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "/metrics lacks the two images of pid $pid with $N sends each: $(grep scope.img "$TMP/metrics.txt")"
grep -q "^kaos_trace_process_running{pid=\"$pid\",process=\"kt_scope\"} 0" "$TMP/metrics.txt" ||
	fail "the exec'd image still counts as running"
if grep -q 'ring="work\.' "$TMP/metrics.txt"; then
	fail "another program's rings in /metrics: $(grep 'ring="work\.' "$TMP/metrics.txt" | head -3)"
fi
if grep -q 'process="kt_workload"' "$TMP/metrics.txt"; then fail "another program's process in /metrics"; fi
sleep 0.3 # one more rule evaluation after the last events
cp "$TMP/alerts.jsonl" "$TMP/alerts.before" 2>/dev/null || : >"$TMP/alerts.before"

# SIGHUP with the other program watched too: it joins the scope from then on.
printf '[watch]\npath = %s\npath = %s\n' "$(realpath "$SCOPE")" "$(realpath "$WORK")" >"$TMP/kt.conf"
kill -HUP "$DPID"
wait_log "scope: processes of $(realpath "$WORK"), now and later, children included \(0 running\)"
"$WORK" --msgs 20000 --batch 1 >/dev/null || fail "the workload failed"
for _ in $(seq 1 100); do
	scrape >"$TMP/metrics2.txt" || fail "scrape failed"
	grep -q 'process="kt_workload",ring="work.0",op="send"} 20000$' "$TMP/metrics2.txt" && break
	sleep 0.1
done
grep -q 'process="kt_workload",ring="work.0",op="send"} 20000$' "$TMP/metrics2.txt" ||
	fail "a program watched at reload is not traced: $(grep work.0 "$TMP/metrics2.txt" | head -3)"
stop_daemon
# the alerts before the reload: none fired (the rule then watched kt_workload legitimately)
if sed -n '/"firing"/p' "$TMP/alerts.before" | grep -c . >/dev/null; then
	fail "an alert fired on another program's rings: $(cat "$TMP/alerts.before")"
fi
echo "PASS: daemon --watch PROGRAM: its processes only; an exec'd process has two images of $N sends in /metrics"
