# Helpers for the kaos-trace daemon tests (sourced, not run). Builds on lib.sh.
. "$(dirname "$0")/lib.sh"

# start_daemon NAME ARGS...: `kaos-trace daemon ARGS` in the background; waits until it
# runs. Sets DPID, DERR (its log) and PORT (of /metrics, when listening).
start_daemon() {
	local name=$1
	shift
	DERR=$TMP/$name.err
	"$KT" daemon "$@" >"$TMP/$name.out" 2>"$DERR" &
	DPID=$!
	KT_PIDS+=("$DPID")
	for _ in $(seq 1 400); do
		grep -Eq 'start: running|"event":"start","msg":"running' "$DERR" 2>/dev/null && break
		kill -0 "$DPID" 2>/dev/null || fail "daemon exited before running: $(cat "$DERR")"
		sleep 0.05
	done
	grep -Eq 'start: running|"event":"start","msg":"running' "$DERR" ||
		fail "daemon did not start within 20 s"
	PORT=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$DERR" | tail -1 | grep -o '[0-9]*$' || true)
}

# scrape [PATH] [CURL ARGS...]: GET from the daemon's endpoint.
scrape() {
	local path=${1:-/metrics}
	shift || true
	curl -sf --max-time 10 "$@" "http://127.0.0.1:$PORT$path"
}

# wait_file FILE PATTERN [SECONDS]: until FILE has a line matching the ERE (daemon alive).
wait_file() {
	local file=$1 re=$2 secs=${3:-15}
	for _ in $(seq 1 $((secs * 20))); do
		grep -Eq "$re" "$file" 2>/dev/null && return 0
		kill -0 "$DPID" 2>/dev/null || fail "daemon died while waiting for /$re/ in $file"
		sleep 0.05
	done
	fail "no line /$re/ in $file within $secs s"
}

wait_log() { wait_file "$DERR" "$@"; }

# stop_daemon: SIGTERM; the daemon must exit 0.
stop_daemon() {
	kill -TERM "$DPID"
	local rc=0
	wait "$DPID" || rc=$?
	[ $rc -eq 0 ] || fail "daemon exited with $rc after SIGTERM"
}

# link_ids PID: the BPF link ids held by a process (its fds, see /proc/PID/fdinfo).
link_ids() {
	for f in /proc/"$1"/fdinfo/*; do
		awk '/^link_id:/ {print $2}' "$f" 2>/dev/null || true
	done | sort -n
}
