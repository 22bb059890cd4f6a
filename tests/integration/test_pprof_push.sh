#!/usr/bin/env bash
# [pprof] push_url, real BPF: the daemon profiling a program spinning in
# hot_spin POSTs each interval's CPU profile to a Pyroscope-style /ingest
# (a python3 http.server on loopback, started and killed here, that saves
# bodies and query strings): the query has name, from, until, format, the
# body is multipart: a gzip profile Go's pprof reads and names hot_spin,
# and a JSON sample_type_config naming its sample types. The receiver
# killed: failed and dropped attempts grow in /metrics while the daemon
# goes on serving and tracing; restarted on its port: pushes resume. With
# --pprof-push-format folded the body is folded text, and the latency and
# off-CPU kinds are pushed too. Bad push settings (https, a bad URL, an
# unknown format) are one line and exit 2, and a reload with one is rejected.
# With --alloc (and nothing else to push), each interval pushes an alloc
# profile too: Go's four heap types named in its config, block_alloc on top
# of its alloc_space.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
HOT=$PWD/$B/tests/progs/kt_hotspin
OFF=$PWD/$B/tests/progs/kt_offcpu
AW=$PWD/$B/tests/progs/kt_alloc_workload
PPROF=$PWD/$B/tools/pprof
need "$KT" "$HOT" "$OFF" "$AW" "$PPROF"
command -v curl >/dev/null || fail "curl is missing (make deps)"
command -v python3 >/dev/null || fail "python3 is missing (make deps)"
command -v promtool >/dev/null || fail "promtool is missing (make deps installs prometheus)"
export PPROF_TMPDIR=$TMP/pprof-home

# bad_flags NAME PATTERN ARGS...: one line matching PATTERN on stderr, exit 2
bad_flags() {
	local name=$1 re=$2 rc=0
	shift 2
	"$KT" daemon -b "$HOT" --profile 99 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, expected 2"
	[ "$(wc -l <"$TMP/$name.err")" -eq 1 ] && grep -Eq "$re" "$TMP/$name.err" ||
		fail "$name: $(cat "$TMP/$name.err")"
}
bad_flags https "https is not supported" --pprof-push-url https://127.0.0.1:1/ingest
bad_flags scheme "expected http://HOST\[:PORT\]\[/PATH\]" --pprof-push-url ftp://x/ingest
bad_flags port "bad host or port" --pprof-push-url http://127.0.0.1:99999/ingest
bad_flags format "push_format: expected pprof or folded, got 'json'" \
	--pprof-push-url http://127.0.0.1:1/ingest --pprof-push-format json
bad_flags app "app_name: 'a b'" --pprof-push-url http://127.0.0.1:1/ingest --pprof-app-name 'a b'
bad_flags interval "push_interval: invalid duration '0s'" \
	--pprof-push-url http://127.0.0.1:1/ingest --pprof-push-interval 0s
# --check-config: the push settings pass with the rest
"$KT" daemon -b "$HOT" --profile 99 --listen off --check-config \
	--pprof-push-url http://127.0.0.1:1/ingest >"$TMP/chk.out" 2>&1 || fail "check-config: $(cat "$TMP/chk.out")"

# the receiver: saves N.body (a multipart body's "profile" part), N.config
# (its "sample_type_config" part), then N.query: the request line's target,
# and for multipart " types=" the config's sample types
cat >"$TMP/recv.py" <<'EOF'
import email.parser, email.policy, http.server, json, os, sys
d, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = len([f for f in os.listdir(d) if f.endswith(".query")])
        ctype, query = self.headers.get("Content-Type", ""), self.path
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                     for p in msg.iter_parts()}
            body, config = parts["profile"], parts["sample_type_config"]
            with open(f"{d}/{n}.config", "wb") as f:
                f.write(config)
            query += " types=" + ",".join(json.loads(config))
        with open(f"{d}/{n}.body", "wb") as f:
            f.write(body)
        with open(f"{d}/tmp", "w") as f:
            f.write(query + "\n")
        os.rename(f"{d}/tmp", f"{d}/{n}.query")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", port), H)
with open(f"{d}/port.tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(f"{d}/port.tmp", f"{d}/port")
s.serve_forever()
EOF
BG=()
trap 'rc=$?; for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; cleanup $rc' EXIT
# start_recv DIR PORT: the receiver (PORT 0: any), RPID, RPORT
start_recv() {
	mkdir -p "$1"
	rm -f "$1/port"
	python3 "$TMP/recv.py" "$1" "$2" 2>"$1.err" &
	RPID=$!
	BG+=("$RPID")
	for _ in $(seq 1 200); do
		[ -s "$1/port" ] && break
		sleep 0.05
	done
	[ -s "$1/port" ] || fail "receiver did not start: $(cat "$1.err")"
	RPORT=$(cat "$1/port")
}
# wait_push DIR N RE: until DIR has N queries matching RE (daemon alive)
wait_push() {
	for _ in $(seq 1 600); do
		[ "$(cat "$1"/*.query 2>/dev/null | grep -Ec "$3")" -ge "$2" ] && return 0
		kill -0 "$DPID" 2>/dev/null || fail "daemon died"
		sleep 0.05
	done
	fail "fewer than $2 pushes /$3/ in $1 within 30 s: $(cat "$1"/*.query 2>/dev/null)"
}
# metric NAME: its value for kind="cpu"
metric() {
	scrape | awk -v n="$1{kind=\"cpu\"}" '$1 == n {print $2}'
}

"$HOT" --cpu-ms 120000 --spin-us 15000 --ops 50 >"$TMP/hot.txt" &
BG+=($!)
start_recv "$TMP/r1" 0
start_daemon pp -b "$HOT" --sample 1 --profile 997 --listen 127.0.0.1:0 \
	--pprof-push-url "http://127.0.0.1:$RPORT/ingest" --pprof-push-interval 1s
[ -n "$PORT" ] || fail "no 'metrics on http://127.0.0.1:PORT' log line"
wait_log "push: profiles pushed to http://127.0.0.1:$RPORT/ingest every 1s as pprof"
wait_log "process: pid [0-9]+ \(kt_hotspin\) traced"
CPU='name=kaos-trace%7B%7D&.* types=samples,cpu$'
wait_push "$TMP/r1" 2 "$CPU"

# the last cpu push: its query (the app name as Pyroscope's prefix), a
# profile pprof reads, hot_spin on top, and its sample types' config
q=$(grep -El "$CPU" "$TMP"/r1/*.query | sort -V | tail -1)
body=${q%.query}.body
grep -Eq '^/ingest\?name=kaos-trace%7B%7D&from=[0-9]{10}&until=[0-9]{10}&format=pprof&spyName=kaos-trace types=samples,cpu$' \
	"$q" || fail "query: $(cat "$q")"
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["cpu"] == {"units": "samples", "aggregation": "sum", "display-name": "cpu", "sampled": True}, c
assert c["samples"]["display-name"] == "cpu_samples", c
' "${q%.query}.config" || fail "sample_type_config: $(cat "${q%.query}.config")"
from=$(grep -o 'from=[0-9]*' "$q" | cut -d= -f2)
until=$(grep -o 'until=[0-9]*' "$q" | cut -d= -f2)
[ $((until - from)) -ge 0 ] && [ $((until - from)) -le 3 ] || fail "from $from until $until"
gzip -t "$body" || fail "the pushed profile is not gzip"
"$PPROF" -top "$body" >"$TMP/top.txt" 2>"$TMP/top.err" || fail "pprof -top: $(cat "$TMP/top.err")"
grep -q '^Type: cpu$' "$TMP/top.txt" || fail "not a cpu profile: $(head "$TMP/top.txt")"
awk '$NF == "hot_spin" {ok = 1} END {exit !ok}' "$TMP/top.txt" ||
	fail "pprof -top does not name hot_spin: $(cat "$TMP/top.txt")"
scrape >"$TMP/metrics.txt"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.txt" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
for k in cpu off-cpu latency alloc; do
	grep -q "^kaos_trace_pprof_push_dropped_total{kind=\"$k\"} 0$" "$TMP/metrics.txt" ||
		fail "no dropped_total{kind=$k} 0"
done
sent=$(metric kaos_trace_pprof_push_sent_total)
[ "${sent:-0}" -ge 2 ] || fail "sent_total $sent"
[ "$(metric kaos_trace_pprof_push_failed_total)" = 0 ] || fail "failed pushes with a receiver"

# the receiver dies: attempts fail, profiles are dropped, the daemon goes on
kill -KILL "$RPID"
wait "$RPID" 2>/dev/null || true
for _ in $(seq 1 400); do
	d=$(metric kaos_trace_pprof_push_dropped_total)
	[ "${d:-0}" -ge 1 ] && break
	sleep 0.05
done
[ "${d:-0}" -ge 1 ] || fail "no dropped profile within 20 s without a receiver"
f=$(metric kaos_trace_pprof_push_failed_total)
[ "$f" -ge 3 ] || fail "failed_total $f after a profile was dropped (3 tries each)"
[ "$(scrape /healthz)" = ok ] || fail "/healthz while the receiver is down"
kill -0 "$DPID" || fail "daemon died"
s1=$(scrape /metrics | awk '$1 == "kaos_trace_probe_fired_total" {print $2}')
sleep 1
s2=$(scrape /metrics | awk '$1 == "kaos_trace_probe_fired_total" {print $2}')
[ "$s2" -gt "$s1" ] || fail "tracing stalled while the receiver is down ($s1 -> $s2)"

# back on the same port: pushes resume
start_recv "$TMP/r2" "$RPORT"
wait_push "$TMP/r2" 1 "$CPU"
[ "$(metric kaos_trace_pprof_push_sent_total)" -gt "$sent" ] || fail "sent_total did not grow"
stop_daemon

# folded: text lines ending in a count, hot_spin among the frames; the
# latency (event stacks, with a folded dir) and off-CPU (kt_offcpu) kinds pushed too
start_recv "$TMP/r3" 0
mkdir -p "$TMP/folded"
conf() {
	printf '[pprof]\npush_url = %s\npush_interval = 1s\npush_format = folded\napp_name = my.app\n' \
		"$1" >"$TMP/push.conf"
}
conf "http://127.0.0.1:$RPORT/x/ingest?tenant=t1"
start_daemon pf --config "$TMP/push.conf" -b "$HOT" -b "$OFF" --sample 1 --profile 997 \
	--listen off --folded-dir "$TMP/folded" --off-cpu
wait_push "$TMP/r3" 1 '^/x/ingest\?tenant=t1&name=my\.app\.cpu&from=[0-9]+&until=[0-9]+&format=folded&units=samples&aggregationType=sum&sampleRate=997&spyName=kaos-trace$'
q=$(grep -l 'name=my\.app\.cpu' "$TMP"/r3/*.query | head -1)
grep -Eq '(^|;)hot_spin;?.* [0-9]+$|;hot_spin [0-9]+$' "${q%.query}.body" ||
	fail "folded body lacks hot_spin: $(head -5 "${q%.query}.body")"
wait_push "$TMP/r3" 1 'name=my\.app\.latency&.*&format=folded&units=samples&aggregationType=sum&sampleRate=1000000000&'
q=$(grep -l 'name=my\.app\.latency' "$TMP"/r3/*.query | head -1)
grep -Eq ';kaos_ring_send [0-9]+$' "${q%.query}.body" ||
	fail "latency body lacks send stacks: $(head -5 "${q%.query}.body")"
# kt_offcpu's consumer thread blocks
"$OFF" --ms 30000 >"$TMP/off.txt" &
BG+=($!)
wait_push "$TMP/r3" 1 'name=my\.app\.off_cpu&.*&format=folded&units=samples&aggregationType=sum&sampleRate=1000000000&'
q=$(grep -l 'name=my\.app\.off_cpu' "$TMP"/r3/*.query | head -1)
grep -q '^consumer;start_thread;' "${q%.query}.body" ||
	fail "off-cpu body lacks the consumer thread: $(head -5 "${q%.query}.body")"
# SIGHUP with an https push_url: rejected in one line, the pushes go on
conf "https://127.0.0.1:$RPORT/ingest"
kill -HUP "$DPID"
wait_log "reload: rejected: .*push_url 'https://127.0.0.1:$RPORT/ingest': https is not supported"
n=$(ls "$TMP"/r3/*.query | wc -l)
wait_push "$TMP/r3" $((n + 1)) 'name=my\.app\.'
stop_daemon

# --alloc: the interval's allocations of kt_alloc_workload, pushed as pprof
start_recv "$TMP/r4" 0
start_daemon pa -b "$AW" --sample 1 --alloc --listen off \
	--pprof-push-url "http://127.0.0.1:$RPORT/ingest" --pprof-push-interval 1s
"$AW" --loop --allocs 2000 >"$TMP/aw.out" &
BG+=($!)
wait_log "process: pid [0-9]+ \(kt_alloc_worklo\) traced"
HEAP='name=kaos-trace%7B%7D&.*&format=pprof&.* types=[a-z_,]*alloc_space'
wait_push "$TMP/r4" 2 "$HEAP"
q=$(grep -El "$HEAP" "$TMP"/r4/*.query | sort -V | tail -1)
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["alloc_space"] == {"units": "bytes", "aggregation": "sum", "display-name": "alloc_space", "sampled": False}, c
assert c["alloc_objects"]["units"] == "objects" and c["alloc_objects"]["aggregation"] == "sum", c
assert c["inuse_space"]["units"] == "bytes" and c["inuse_space"]["aggregation"] == "average", c
assert c["inuse_objects"]["units"] == "objects" and c["inuse_objects"]["aggregation"] == "average", c
' "${q%.query}.config" || fail "alloc sample_type_config: $(cat "${q%.query}.config")"
"$PPROF" -sample_index=alloc_space -top "${q%.query}.body" >"$TMP/atop.txt" 2>&1 ||
	fail "pprof -top of the alloc push: $(cat "$TMP/atop.txt")"
grep -q 'Type: alloc_space' "$TMP/atop.txt" || fail "not alloc_space: $(head -5 "$TMP/atop.txt")"
grep -Eq ' block_alloc$' "$TMP/atop.txt" ||
	fail "the alloc push does not name block_alloc: $(cat "$TMP/atop.txt")"
stop_daemon
echo "ok: pprof push"
