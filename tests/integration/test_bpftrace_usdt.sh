#!/usr/bin/env bash
# libkaos' USDT probes seen by a third-party tracer (bpftrace), with exact
# counts and argument values (docs/probes.md).
#
# tests/progs/probe_counts drives an SPSC ring (per message, copy batches,
# zero copy, 10 fail-fast backpressure episodes, 5 retransmits) and an MPMC
# ring (2 producer + 2 consumer threads) and prints, per ring, its id and how
# many operations and messages it made. Every operation moves >= 1 message
# and sampling is off, so each must fire exactly one probe.
#
#  1. bpftrace attached to $B/libkaos.so (all processes: semaphores are set
#     by the kernel for every process that maps the library), program
#     started afterwards: all five probes, exact hits and argument sums.
#  2. bpftrace -p PID on an already running program (rings created after
#     the attach): exact send/recv hits and message sums.
#  3. Sampling: kaos_probe_control.sample_every set to 4 in the running
#     program from outside (process_vm_writev, as docs/probes.md describes),
#     then exactly the operations holding a multiple-of-4 position fire
#     (the program computes which), and ring_close still reports exact totals.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/bpftrace_lib.sh
. tests/integration/control_lib.sh

B=${B:-build}
N=100000
PROG=$PWD/$B/tests/progs/probe_counts
[ -x "$PROG" ] || die "$PROG missing: run make first"
[ -e "$B/libkaos.so" ] || die "$B/libkaos.so missing: run make first"
LIB=$(realpath "$B/libkaos.so")
bt_require

tmp=$(mktemp -d)
PROG_PID=
cleanup() {
	bt_cleanup
	if [ -n "$PROG_PID" ]; then
		kill "$PROG_PID" 2>/dev/null || true
		wait "$PROG_PID" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

U="usdt:$LIB:kaos"
ALL_PROBES="
$U:send { @send[arg0] = count(); @send_n[arg0] = sum(arg2); @send_bytes[arg0] = sum(arg3);
	@send_pos[arg0] = max(arg1); }
$U:recv { @recv[arg0] = count(); @recv_n[arg0] = sum(arg2); @recv_bytes[arg0] = sum(arg3);
	@recv_pos[arg0] = max(arg1); }
$U:backpressure { @bp[arg0] = count(); @bp_episodes[arg0] = max(arg1); @bp_wait[arg0] = sum(arg4); }
$U:retransmit { @rt[arg0] = count(); @rt_count[arg0] = max(arg1); @rt_seq[arg0] = sum(arg5); }
$U:ring_close { @close[arg0] = count(); @close_sent[arg0] = sum(arg1); @close_recv[arg0] = sum(arg5); }"

# ring LINE-FILE KIND KEY: a field of the program's "ring kind=KIND" line
ring() { field "$1" "ring kind=$2" "$3"; }

# check_send_recv PROGOUT BTOUT KIND: send/recv probes against the program's counts
check_send_recv() {
	local p=$1 t=$2 k=$3 id
	id=$(ring "$p" "$k" id)
	expect_eq "$k ring $id: send hits" "$(bt_kmap "$t" send "$id")" "$(ring "$p" "$k" send_ops)"
	expect_eq "$k ring $id: sum(send arg2 n)" "$(bt_kmap "$t" send_n "$id")" "$(ring "$p" "$k" sent)"
	expect_eq "$k ring $id: recv hits" "$(bt_kmap "$t" recv "$id")" "$(ring "$p" "$k" recv_ops)"
	expect_eq "$k ring $id: sum(recv arg2 n)" "$(bt_kmap "$t" recv_n "$id")" "$(ring "$p" "$k" recvd)"
}

echo "== 1. attached to $LIB, workload started afterwards"
bt_start "$tmp/bt1" "$ALL_PROBES"
"$PROG" "$N" >"$tmp/prog1.out" || die "$PROG $N failed"
bt_stop "$tmp/bt1"
cat "$tmp/prog1.out"
t=$tmp/bt1.out
p=$tmp/prog1.out
spsc=$(ring "$p" spsc id)
mpmc=$(ring "$p" mpmc id)
slot=$(ring "$p" spsc slot_size)
expect_eq "ring ids in send probes (arg0)" "$(bt_keys "$t" send)" "$(printf '%s\n' "$spsc" "$mpmc" | sort -n | tr '\n' ' ' | sed 's/ $//')"
for k in spsc mpmc; do
	id=$(ring "$p" $k id)
	sent=$(ring "$p" $k sent)
	recvd=$(ring "$p" $k recvd)
	check_send_recv "$p" "$t" $k
	expect_eq "$k: sum(send arg3 bytes)" "$(bt_kmap "$t" send_bytes "$id")" $((sent * slot))
	expect_eq "$k: sum(recv arg3 bytes)" "$(bt_kmap "$t" recv_bytes "$id")" $((recvd * slot))
	expect_eq "$k: max(send arg1 cumulative)" "$(bt_kmap "$t" send_pos "$id")" "$sent"
	expect_eq "$k: max(recv arg1 cumulative)" "$(bt_kmap "$t" recv_pos "$id")" "$recvd"
	expect_eq "$k: ring_close hits" "$(bt_kmap "$t" close "$id")" 1
	expect_eq "$k: ring_close arg1 sent" "$(bt_kmap "$t" close_sent "$id")" "$sent"
	expect_eq "$k: ring_close arg5 received" "$(bt_kmap "$t" close_recv "$id")" "$recvd"
done
expect_eq "spsc: backpressure hits" "$(bt_kmap "$t" bp "$spsc")" "$(ring "$p" spsc bp)"
expect_eq "spsc: max(backpressure arg1 episodes)" "$(bt_kmap "$t" bp_episodes "$spsc")" \
	"$(ring "$p" spsc bp)"
expect_eq "spsc: sum(backpressure arg4 wait), fail-fast" "$(bt_kmap "$t" bp_wait "$spsc")" 0
expect_eq "mpmc: backpressure hits" "$(bt_kmap "$t" bp "$mpmc")" "$(ring "$p" mpmc bp)"
expect_eq "spsc: retransmit hits" "$(bt_kmap "$t" rt "$spsc")" "$(ring "$p" spsc retransmits)"
expect_eq "spsc: max(retransmit arg1 count)" "$(bt_kmap "$t" rt_count "$spsc")" \
	"$(ring "$p" spsc retransmits)"
expect_eq "spsc: sum(retransmit arg5 seq)" "$(bt_kmap "$t" rt_seq "$spsc")" \
	"$(ring "$p" spsc retransmit_seq_sum)"

# start_waiting: starts "$PROG --wait $N" with its stdin on a fifo (fd 7); sets PROG_PID.
start_waiting() {
	local out=$1
	rm -f "$tmp/go"
	mkfifo "$tmp/go"
	"$PROG" --wait "$N" <"$tmp/go" >"$out" &
	PROG_PID=$!
	exec 7>"$tmp/go" # opening the fifo lets the program start reading it
	for _ in $(seq 100); do
		grep -q '^ready pid=' "$out" && break
		kill -0 "$PROG_PID" 2>/dev/null || die "$PROG --wait exited early"
		sleep 0.1
	done
	grep -q "^ready pid=$PROG_PID\$" "$out" || die "$PROG --wait did not get ready"
}

# release_waiting: lets the program run and waits for it.
release_waiting() {
	local rc=0
	echo go >&7
	exec 7>&-
	wait "$PROG_PID" || rc=$?
	PROG_PID=
	[ "$rc" = 0 ] || die "$PROG --wait $N exited $rc"
}

# control_addr PID: the live kaos_probe_control, found as the dynamic linker
# binds it: the executable first (a program that names the symbol gets a
# copy relocation and the library then uses that copy), then libkaos.so.
control_addr() {
	local exe addr
	exe=$(readlink "/proc/$1/exe")
	addr=$(control_file_addr "$exe" "$1") || die "pid $1: cannot find kaos_probe_control"
	[ -n "$addr" ] || addr=$(control_file_addr "$LIB" "$1") ||
		die "pid $1: cannot find kaos_probe_control"
	[ -n "$addr" ] || die "kaos_probe_control defined neither in $exe nor in $LIB"
	echo "$addr"
}

echo "== 2. bpftrace -p on a running process"
start_waiting "$tmp/prog2.out"
bt_start "$tmp/bt2" "$U:send { @send[arg0] = count(); @send_n[arg0] = sum(arg2); }
	$U:recv { @recv[arg0] = count(); @recv_n[arg0] = sum(arg2); }" -p "$PROG_PID"
release_waiting
bt_stop "$tmp/bt2"
cat "$tmp/prog2.out"
for k in spsc mpmc; do
	check_send_recv "$tmp/prog2.out" "$tmp/bt2.out" $k
done

# sampling_run NAME BINARY: section 3 for one build of probe_counts.
sampling_run() {
	local name=$1 bin=$2 addr t p k id
	PROG=$bin
	start_waiting "$tmp/$name.out"
	addr=$(control_addr "$PROG_PID")
	"$PWD/$B/tests/progs/probe_control_poke" "$PROG_PID" "$addr" 4 ||
		die "could not set sample_every in pid $PROG_PID at $addr"
	# -p: only this process's hits (another program using the library beside
	# the test would add its own)
	bt_start "$tmp/bt-$name" "$ALL_PROBES" -p "$PROG_PID"
	release_waiting
	bt_stop "$tmp/bt-$name"
	cat "$tmp/$name.out"
	t=$tmp/bt-$name.out
	p=$tmp/$name.out
	for k in spsc mpmc; do
		id=$(ring "$p" $k id)
		expect_eq "$name $k: the program saw sample_every" "$(ring "$p" $k sample_every)" 4
		expect_eq "$name $k: sampled send hits" "$(bt_kmap "$t" send "$id")" \
			"$(ring "$p" $k sampled_send_ops)"
		expect_eq "$name $k: sampled recv hits" "$(bt_kmap "$t" recv "$id")" \
			"$(ring "$p" $k sampled_recv_ops)"
		expect_eq "$name $k: ring_close arg1 sent, exact under sampling" \
			"$(bt_kmap "$t" close_sent "$id")" "$(ring "$p" $k sent)"
		expect_eq "$name $k: ring_close arg5 received" "$(bt_kmap "$t" close_recv "$id")" \
			"$(ring "$p" $k recvd)"
	done
	# backpressure and retransmit are not sampled
	id=$(ring "$p" spsc id)
	expect_eq "$name spsc: backpressure hits, not sampled" "$(bt_kmap "$t" bp "$id")" \
		"$(ring "$p" spsc bp)"
	expect_eq "$name spsc: retransmit hits, not sampled" "$(bt_kmap "$t" rt "$id")" \
		"$(ring "$p" spsc retransmits)"
}

echo "== 3. sampling: sample_every=4 written with process_vm_writev"
sampling_run sampled "$PROG"

# The same with a program that names kaos_probe_control (copy relocation):
# the write must go to the executable's copy, which the library then uses.
twin=$PWD/$B/tests/probe_counts-copyreloc
flags=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE -pthread)
[ "$(uname -m)" = x86_64 ] && flags+=(-mno-red-zone -DKAOS_NO_RED_ZONE)
mkdir -p "$(dirname "$twin")"
"${CC:-gcc}" "${flags[@]}" -DPROBE_COUNTS_DIRECT_CONTROL tests/progs/probe_counts.c -o "$twin" \
	-L"$B" -Wl,-rpath,"$(dirname "$LIB")" -lkaos || die "cannot build $twin"
if readelf -rW "$twin" | grep -c 'COPY.*kaos_probe_control' >/dev/null; then
	echo "$twin has a copy relocation of kaos_probe_control"
else
	echo "note: the toolchain made no copy relocation; the library's object is used"
fi
sampling_run copyreloc "$twin"
