#!/usr/bin/env bash
# Config file and SIGHUP: a good config is applied (new rule visible on
# /metrics), a bad one is rejected with a log line naming file, line and
# column while the old config keeps running; a bad config at start is one
# line and exit 2. JSON log lines parse. Folded stacks are written per
# interval and rotated (keep = 2).
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
need "$KT" "$WORK"

# a bad config at start: one line, exit 2, nothing loaded
printf '[daemon]\nlisen = 127.0.0.1:0\n' >"$TMP/bad-start.conf"
rc=0
"$KT" daemon --config "$TMP/bad-start.conf" --watch "$WORK" 2>"$TMP/bad-start.err" || rc=$?
[ $rc = 2 ] || fail "bad config at start: exit $rc"
[ "$(grep -c . "$TMP/bad-start.err")" = 1 ] || fail "bad config at start: $(cat "$TMP/bad-start.err")"
grep -q "bad-start.conf:2: unknown key 'lisen' in \[daemon\]" "$TMP/bad-start.err" ||
	fail "bad config message: $(cat "$TMP/bad-start.err")"

mkdir -p "$TMP/folded"
conf=$TMP/kaos-trace.conf
write_conf() { # extra rule lines...
	{
		printf '[daemon]\nlisten = 127.0.0.1:0\nlog_format = json\nwindows = 2s, 10s\n'
		printf '[watch]\npath = %s\n' "$WORK"
		printf '[alerts]\nrule = lost > 0\n'
		for r in "$@"; do printf 'rule = %s\n' "$r"; done
		printf '[folded]\ndir = %s\ninterval = 1s\nkeep = 2\n' "$TMP/folded"
	} >"$conf"
}
write_conf
start_daemon reload --sample 1 --config "$conf"
python3 - "$DERR" <<'PY' || fail "log lines are not JSON"
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    assert set(d) == {"time", "level", "event", "msg"}, d
PY
port1=$PORT

# good reload: one more rule; the endpoint stays where it is
write_conf 'ring=work.* send.count > 0 over 10s'
kill -HUP "$DPID"
wait_log '"event":"reload","msg":"applied: 1 watch, 2 rules, 2 windows"'
"$WORK" --msgs 20000 --hold-ms 1500 >/dev/null &
wp=$!
# folded stacks of this run: grab the file before rotation (keep = 2) removes it
wait_log '"event":"folded","msg":"wrote [1-9][0-9]* stacks'
path=$(grep -o 'wrote [1-9][0-9]* stacks to [^"]*' "$DERR" | head -1 | sed 's/.* to //')
cp "$path" "$TMP/sample.folded" 2>/dev/null || fail "folded file $path rotated away too early"
wait "$wp" || fail "workload failed"
ok=0
for _ in $(seq 1 60); do
	scrape /metrics >"$TMP/m1.txt" || fail "scrape after reload failed"
	grep -q '^kaos_trace_alert_firing{rule="ring=work.\* send.count > 0 over 10s"} 1$' "$TMP/m1.txt" && ok=1 && break
	sleep 0.1
done
[ $ok = 1 ] || fail "the reloaded rule did not fire: $(grep alert_firing "$TMP/m1.txt")"
grep -q '^kaos_trace_config_reloads_total 1$' "$TMP/m1.txt" || fail "reload not counted"

# bad reloads: the old config stays (and keeps serving)
write_conf 'send.p99 > 1'
kill -HUP "$DPID"
wait_log "\"event\":\"reload\",\"msg\":\"rejected: $conf:9: rule 'send.p99 > 1': column 13: expected a time unit.*keeping the previous config"
printf '[watch]\npath = %s/missing.so\n' "$TMP" >"$conf"
kill -HUP "$DPID"
wait_log "rejected: watch $TMP/missing.so: .*No such file.*keeping the previous config"
[ "$PORT" = "$port1" ] || fail "endpoint moved"
scrape /metrics >"$TMP/m2.txt" || fail "scrape after bad reloads failed"
grep -q '^kaos_trace_config_reload_failures_total 2$' "$TMP/m2.txt" || fail "failures not counted"
grep -q '^kaos_trace_alert_firing{rule="ring=work.\* send.count > 0 over 10s"}' "$TMP/m2.txt" ||
	fail "rules of the previous config are gone"
grep -q '^kaos_trace_links 5$' "$TMP/m2.txt" || fail "probes detached by a rejected reload"

# folded stacks: rotated every second, the newest two kept, flamegraph grammar
! grep -Evq '^[^ ].* [0-9]+$' "$TMP/sample.folded" || fail "folded lines do not match 'frames count'"
grep -Eq '(^|;)main;pump;[^ ]* [0-9]+$' "$TMP/sample.folded" ||
	fail "no main;pump;... chain: $(head -3 "$TMP/sample.folded")"
sleep 3 # more rotations: at most 2 files stay
n=$(find "$TMP/folded" -name 'kaos-trace-*.folded' | wc -l)
[ "$n" = 2 ] || fail "$n folded files kept, expected 2"
[ -z "$(find "$TMP/folded" -name '*.tmp')" ] || fail "temporary folded files left"
stop_daemon

# SIGHUP through a symlinked config (a Kubernetes ConfigMap: kaos.conf ->
# ..data/kaos.conf, ..data -> a versioned directory swapped by rename), with
# the watch given as a flag and listen = off in the file: each reload follows
# the link to the new target, keeps listen off and the file's rules; a target
# caught empty mid-rewrite is rejected (it used to apply as "0 rules" with the
# default listen address).
cm=$TMP/cm
mkdir -p "$cm"
cm_version() { # DIR RULE...: a config version in cm/DIR
	mkdir -p "$cm/$1"
	{
		printf '[daemon]\nlisten = off\n[alerts]\n'
		shift
		for r in "$@"; do printf 'rule = %s\n' "$r"; done
	} >"$cm/$1/kaos.conf"
}
cm_point() { ln -sfn "$1" "$cm/..data.tmp" && mv -T "$cm/..data.tmp" "$cm/..data"; }
listening() { ss -ltnpH 2>/dev/null | grep -c "pid=$DPID," >/dev/null; }
cm_version v1 'lost > 0' 'send.count > 0 over 10s'
cm_point v1
ln -s ..data/kaos.conf "$cm/kaos.conf"
start_daemon symlinked --config "$cm/kaos.conf" --watch "$WORK"
grep -q 'running: .* 2 alert rules' "$DERR" || fail "symlinked config at start: $(cat "$DERR")"
listening && fail "listen = off, but the daemon listens"
cm_version v2 'lost > 0' 'send.count > 0 over 10s' 'recv.count > 0 over 10s'
cm_point v2
rm -rf "$cm/v1"
kill -HUP "$DPID"
wait_log 'reload: applied: 1 watch, 3 rules'
listening && fail "listen = off turned on by a reload through the symlink"
: >"$cm/v2/kaos.conf" # caught mid-rewrite
kill -HUP "$DPID"
wait_log "reload: rejected: config $cm/kaos.conf is empty; keeping the previous config"
listening && fail "an empty config read turned listening on"
grep -q 'applied: 1 watch, 0 rules' "$DERR" && fail "an empty config was applied"
stop_daemon
echo "PASS: reload applies good configs, rejects bad ones (old config kept), folded rotation, symlinked config"
