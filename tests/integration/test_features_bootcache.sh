#!/usr/bin/env bash
# Start-up (issue #16): the BPF feature probes of the start-up check (a ring
# buffer map, a program calling bpf_get_attach_cookie) run once a boot: their
# "yes" answers are kept in /run/kaos-trace/bpf-features (kt_bootcache), so a
# later start creates one ring buffer map (its own), not two. A record that
# is not root's own and private is ignored; `kaos-trace features` always
# probes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
need "$KT"
bt_require
LIB=$(readlink -f "$B/libkaos.so")
REC=/run/kaos-trace/bpf-features

# ringbufs NAME ARGS...: how many ring buffer maps (BPF_MAP_CREATE = 0,
# BPF_MAP_TYPE_RINGBUF = 27: bpf_attr's first field) kaos-trace ARGS creates
ringbufs() {
	local name=$1
	shift
	bt_run "$TMP/$name" 'tracepoint:syscalls:sys_enter_bpf
		/pid == cpid && args->cmd == 0 && *(uint32 *)args->uattr == 27/ { @rb = count(); }' \
		"$KT $*"
	bt_map "$TMP/$name.out" rb
}

rm -f "$REC"
expect_eq "ring buffers created by a start with no record" "$(ringbufs cold -b "$LIB" -d 0.1)" 2
[ -f "$REC" ] || fail "no $REC after a start"
[ "$(stat -c '%u %a' "$REC")" = "0 600" ] || fail "$REC is not root's and private: $(stat -c '%u %a' "$REC")"
expect_eq "ring buffers created by a start with the record" "$(ringbufs warm -b "$LIB" -d 0.1)" 1
expect_eq "ring buffers created by 'features' (always probes)" "$(ringbufs feat features)" 1

# a record others may write steers nothing: probed again, and rewritten
chmod 0620 "$REC"
expect_eq "ring buffers created with a group-writable record" "$(ringbufs shared -b "$LIB" -d 0.1)" 2
[ "$(stat -c '%a' "$REC")" = 600 ] || fail "$REC not rewritten: mode $(stat -c '%a' "$REC")"
echo "PASS: BPF feature probes once a boot (kt_bootcache), never trusting others' records"
