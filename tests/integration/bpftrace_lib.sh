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
