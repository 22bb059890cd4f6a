# shellcheck shell=bash
# Helpers for integration tests that trace with bpftrace (sourced, not run:
# tests/run.sh only runs test_*.sh). Every failure says why; nothing skips.

# bpftrace 0.17 prints these and still works (no tracefs, no memlock rlimit
# needed on this kernel): never a reason to fail, never worth showing.
bt_filter_noise() {
	grep -v -e "couldn't set RLIMIT_MEMLOCK" \
		-e 'failed to detach probe' \
		-e '^open(/sys/kernel/tracing/uprobe_events)' \
		-e '^open(/sys/kernel/debug/tracing/uprobe_events)' || true
}

die() {
	echo "FAIL: $*" >&2
	exit 1
}

bt_require() {
	[ "$(id -u)" = 0 ] || die "must run as root (bpftrace loads BPF programs)"
	command -v bpftrace >/dev/null ||
		die "bpftrace not installed (apt-get install bpftrace; it is in the Makefile's DEB_PKGS)"
}

# bt_run OUT SCRIPT CMD: runs CMD under `bpftrace -e SCRIPT -c CMD`.
# OUT.out gets stdout (CMD's output, then bpftrace's maps), OUT.err the
# filtered stderr. Fails the test, showing stderr, if bpftrace fails.
bt_run() {
	local out=$1 script=$2 cmd=$3 rc=0
	bpftrace -e "$script" -c "$cmd" >"$out.out" 2>"$out.raw" || rc=$?
	bt_filter_noise <"$out.raw" >"$out.err"
	if [ "$rc" != 0 ]; then
		echo "bpftrace exited $rc (BPF load or attach failed?) running: $cmd" >&2
		echo "script: $script" >&2
		sed 's/^/  stdout| /' "$out.out" >&2
		sed 's/^/  stderr| /' "$out.err" >&2
		die "bpftrace failed"
	fi
}

# bt_map FILE NAME: the value of scalar map @NAME printed at exit (0 if the
# map was never written: bpftrace prints nothing for it).
bt_map() {
	local v
	v=$(sed -n "s/^@$2: \(-\{0,1\}[0-9][0-9]*\)\$/\1/p" "$1" | tail -n 1)
	echo "${v:-0}"
}

# field FILE PREFIX KEY: value of KEY=... on the line of FILE starting with PREFIX.
field() {
	local v
	v=$(sed -n "s/^$2 .*\b$3=\([0-9][0-9]*\).*/\1/p" "$1" | head -n 1)
	[ -n "$v" ] || die "no '$3=' on a '$2' line in $1: $(head -c 400 "$1")"
	echo "$v"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || die "$1: got $2, expected $3"
	echo "ok: $1 = $2"
}

# bt_kmap FILE NAME KEY: value of @NAME[KEY] printed at exit (0 if absent).
bt_kmap() {
	local v
	v=$(sed -n "s/^@$2\[$3\]: \(-\{0,1\}[0-9][0-9]*\)\$/\1/p" "$1" | tail -n 1)
	echo "${v:-0}"
}

# bt_keys FILE NAME: the keys of map @NAME, sorted, space-separated.
bt_keys() {
	sed -n "s/^@$2\[\([^]]*\)\]: .*/\1/p" "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# bt_start OUT SCRIPT [BPFTRACE_OPTION...]: runs bpftrace in the background
# and returns once it has attached every probe (its BEGIN probe fires after
# that). Sets BT_PID. bpftrace 0.17 cannot attach USDT probes of a shared
# library with -c (the child has not mapped the library yet: "Error finding
# location for probe"), so tests start bpftrace first, then the workload.
BT_PID=
bt_start() {
	local out=$1 script=$2 rc=0
	shift 2
	bpftrace "$@" -e "BEGIN { printf(\"KAOS_BT_ATTACHED\\n\"); } $script" \
		>"$out.out" 2>"$out.raw" &
	BT_PID=$!
	for _ in $(seq 300); do
		grep -q KAOS_BT_ATTACHED "$out.out" && return 0
		if ! kill -0 "$BT_PID" 2>/dev/null; then
			wait "$BT_PID" || rc=$?
			BT_PID=
			bt_filter_noise <"$out.raw" >"$out.err"
			sed 's/^/  stderr| /' "$out.err" >&2
			die "bpftrace exited ($rc) before attaching (BPF load or attach failed?)"
		fi
		sleep 0.1
	done
	die "bpftrace did not attach within 30 s"
}

# bt_stop OUT: stops the bpftrace of bt_start (SIGINT: it prints its maps).
bt_stop() {
	local out=$1 rc=0
	[ -n "$BT_PID" ] || die "bt_stop: no bpftrace running"
	# bpftrace 0.17 sometimes ignores a SIGINT (seen here: it exited only on a
	# second one): repeat it every 2 s, and give up after 30 s, never hang.
	local waited=0
	kill -INT "$BT_PID" 2>/dev/null || true
	while kill -0 "$BT_PID" 2>/dev/null; do
		sleep 0.1
		waited=$((waited + 1))
		if [ $((waited % 20)) -eq 0 ]; then
			kill -INT "$BT_PID" 2>/dev/null || true
		fi
		if [ $waited -ge 300 ]; then
			kill -KILL "$BT_PID" 2>/dev/null || true
			wait "$BT_PID" 2>/dev/null || true
			BT_PID=
			die "bpftrace did not stop within 30 s of SIGINT"
		fi
	done
	wait "$BT_PID" || rc=$?
	BT_PID=
	bt_filter_noise <"$out.raw" >"$out.err"
	if [ "$rc" != 0 ]; then
		sed 's/^/  stderr| /' "$out.err" >&2
		die "bpftrace exited $rc"
	fi
}

# For an EXIT trap: stops a bpftrace this test started and left running.
bt_cleanup() {
	if [ -n "$BT_PID" ]; then
		kill -INT "$BT_PID" 2>/dev/null || true
		sleep 1
		kill -KILL "$BT_PID" 2>/dev/null || true
		wait "$BT_PID" 2>/dev/null || true
	fi
}
