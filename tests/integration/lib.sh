# Shared helpers for the kaos-trace integration tests (sourced, not run).
B=${B:-build}
KT=$B/kaos-trace
WORK=$B/tests/progs/kt_workload
TMP=$(mktemp -d /tmp/kt-test.XXXXXX)
KT_PIDS=()

KT_FAILED=

# show_logs: the tail of each log this test wrote, for the run's log.
show_logs() {
	for f in "$TMP"/*.err "$TMP"/*.txt; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
	return 0
}

# cleanup [STATUS]: the EXIT trap (STATUS: the test's, when the trap ran
# something before). A command failing under set -e ends the test with its
# status and, when its stderr went to /dev/null, an empty log: name it.
cleanup() {
	local rc=${1:-$?}
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -z "$KT_FAILED" ]; then
		echo "FAIL: exit status $rc without a FAIL line; last command: $BASH_COMMAND" >&2
		show_logs
	fi
	for p in "${KT_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	# A script's background job ignores SIGINT (bash sets it so for jobs of a
	# shell without job control): a workload still waiting for its go file
	# would keep the wait below, and the test, from ending. After 10 s what
	# still runs gets SIGKILL.
	local i p alive
	for i in $(seq 1 100); do
		alive=
		for p in "${KT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -n "$alive" ] || break
		sleep 0.1
	done
	for p in "${KT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${KT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
	KT_FAILED=1
	echo "FAIL: $*" >&2
	show_logs
	exit 1
}

# reachable FILE...: copies of FILEs that any user can run or read; prints the
# folder. For tests that run something as another user (nobody): the clone may
# live under a directory only its owner can enter (mktemp -d makes 0700).
reachable() {
	chmod 711 "$TMP"
	mkdir -p -m 755 "$TMP/pub"
	local f
	for f in "$@"; do
		cp "$f" "$TMP/pub/" && chmod a+rx "$TMP/pub/$(basename "$f")" || return 1
	done
	echo "$TMP/pub"
}

need() {
	for b in "$@"; do
		[ -x "$b" ] || fail "missing $b (run make first)"
	done
}

# wait_ready FILE PID [WHAT]: waits until the program PID (its stdout in
# FILE) has printed a line starting "ready": it has exec'd and mapped its
# libraries, so -p PID finds them (before that, PID may still be the shell's
# fork), or it listens.
wait_ready() {
	local what=${3:-the workload (pid $2)}
	for _ in $(seq 1 300); do
		grep -qs '^ready' "$1" && return 0
		kill -0 "$2" 2>/dev/null || fail "$what exited before it was ready"
		sleep 0.1
	done
	fail "$what did not print ready within 30 s"
}

# wait_mapped PID REGEX: waits until process PID maps a file matching REGEX
# (it has exec'd and ld.so has loaded it), for a program that prints no
# ready line.
wait_mapped() {
	for _ in $(seq 1 200); do
		grep -Eq "$2" "/proc/$1/maps" 2>/dev/null && return 0
		kill -0 "$1" 2>/dev/null || fail "pid $1 exited before mapping $2"
		sleep 0.05
	done
	fail "pid $1 did not map $2 within 10 s"
}

# start_tracer NAME ARGS...: kaos-trace in the background, waits until attached.
start_tracer() {
	local name=$1
	shift
	"$KT" "$@" >"$TMP/$name.txt" 2>"$TMP/$name.err" &
	local p=$!
	KT_PIDS+=("$p")
	TRACER_PID=$p
	for _ in $(seq 1 200); do
		grep -q "attached" "$TMP/$name.err" 2>/dev/null && return 0
		kill -0 "$p" 2>/dev/null || fail "kaos-trace exited before attaching: $(cat "$TMP/$name.err")"
		sleep 0.05
	done
	fail "kaos-trace did not attach within 10 s"
}

# stop_tracer: SIGINT, wait; fails if it exits non-zero.
stop_tracer() {
	kill -INT "$TRACER_PID" 2>/dev/null || true
	local rc=0
	wait "$TRACER_PID" || rc=$?
	[ $rc -eq 0 ] || fail "kaos-trace exited with $rc"
}

# json_check FILE PYTHON-EXPR...: asserts on the last JSON line ("final") with python3.
json_check() {
	local file=$1
	shift
	python3 - "$file" "$@" <<'PY' || fail "JSON assertion failed"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
final = json.loads(lines[-1])
assert final["type"] == "final", final["type"]
ok = True
for expr in sys.argv[2:]:
    try:
        v = eval(expr, {"final": final, "lines": [json.loads(l) for l in lines]})
    except Exception as e:
        v = "error: %r" % (e,)
    if v is not True:
        print("assertion %s -> %s" % (expr, v), file=sys.stderr)
        ok = False
if not ok:
    print(json.dumps(final, indent=1)[:4000], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
