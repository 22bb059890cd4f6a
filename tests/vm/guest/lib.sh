# Helpers for the guest's tests (busybox sh; sourced). The same assertions
# as tests/integration/, written without bash or python3: JSON is checked
# with awk on kaos-trace's final line (keys in a fixed order).
# BIN: where the static binaries are (/bin in the guest; build/vm/guest/bin
# to run these tests on the host's own kernel)
BIN=${BIN:-/bin}
KT=$BIN/kaos-trace
WORK=$BIN/kt_workload
TMP=$(mktemp -d /tmp/kt.XXXXXX)
TRACER_PID=

trap 'rm -rf "$TMP"' EXIT

fail() {
	echo "FAIL: $*"
	for f in "$TMP"/*.err "$TMP"/*.txt; do
		[ -f "$f" ] && {
			echo "--- $f"
			tail -n 20 "$f"
		}
	done
	[ -n "$TRACER_PID" ] && kill -INT "$TRACER_PID" 2>/dev/null
	exit 1
}

# start_tracer NAME ARGS...: kaos-trace in the background until it has attached.
start_tracer() {
	name=$1
	shift
	# A stale "attached" from an earlier run of the same name would let us go on
	# before this tracer has its SIGINT handler (background jobs ignore SIGINT).
	rm -f "$TMP/$name.txt" "$TMP/$name.err"
	"$KT" "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" &
	TRACER_PID=$!
	i=0
	while [ $i -lt 1200 ]; do
		grep -q "attached" "$TMP/$name.err" 2>/dev/null && return 0
		kill -0 "$TRACER_PID" 2>/dev/null || fail "kaos-trace exited before attaching"
		sleep 0.1
		i=$((i + 1))
	done
	fail "kaos-trace did not attach within 120 s"
}

# stop_tracer: SIGINT, wait, fail on a non-zero exit.
stop_tracer() {
	kill -INT "$TRACER_PID" 2>/dev/null
	rc=0
	wait "$TRACER_PID" || rc=$?
	TRACER_PID=
	[ $rc -eq 0 ] || fail "kaos-trace exited with $rc"
}

# json_final FILE: the last line, which must be the final summary.
json_final() {
	line=$(tail -n 1 "$1")
	case $line in
	'{"type":"final"'*) printf '%s\n' "$line" ;;
	*) fail "$1: last line is not the final summary: $(echo "$line" | cut -c1-200)" ;;
	esac
}

# json_top FILE KEY: a top-level number of the final line (before "processes").
json_top() {
	json_final "$1" | sed 's/,"processes":.*//' |
		sed -n "s/.*[{,]\"$2\":\\([-0-9.e+]*\\).*/\\1/p"
}

# json_ring FILE RING OP FIELD: e.g. json_ring f work.0 send ops -> one value per
# process that has such a ring, space-separated.
json_ring() {
	json_final "$1" | awk -v ring="$2" -v op="$3" -v field="$4" '{
		n = split($0, part, /\{"id":/)
		out = ""
		for (i = 2; i <= n; i++) {
			if (!index(part[i], "\"name\":\"" ring "\""))
				continue
			if (match(part[i], "\"" op "\":\\{[^}]*\"" field "\":[0-9.]+")) {
				s = substr(part[i], RSTART, RLENGTH)
				sub(/.*:/, "", s)
				out = out (out == "" ? "" : " ") s
			}
		}
		print out
	}'
}

# expect NAME GOT WANT
expect() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
