#!/usr/bin/env bash
# Never harm the traced process (issue 11, item 1): a program that forks or
# execs while traced, or after its tracer left (cleanly or SIGKILLed), keeps
# running and so do its children. On Linux 6.18 a traced 5-byte nop probe
# site becomes a CALL into a per-process trampoline mapping that a forked
# child does not inherit: the child died with SIGSEGV at its first ring
# operation. tests/progs/kt_fork does ring operations, forks children that
# do ring operations (on the inherited ring and on a new one) and execs
# itself; it reports every child's status, and fk_cmd fails on any child
# that did not exit 0.
#
# For -p, -b, -- COMMAND and the daemon:
#   attached: ops, fork (child runs while traced), hold (child forked now,
#             run later)
#   detached: the tracer stops (SIGINT/SIGTERM, then SIGKILL in a second
#             round); the held child runs; a new child is forked and runs
#   exec:     attached again, the program execs itself, does ops, forks
# and where the mode traces children (-b, the daemon) the child's ring is in
# the tracer's output. A final part attaches bpftrace at the note's address.
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/fork_lib.sh"
. "$(dirname "$0")/bpftrace_lib.sh"
need "$KT" "$FORK"
N=1000
# MODES: a subset of the parts, to run one alone
MODES=${MODES:-p b cmd daemon bpftrace}
has_mode() { [[ " $MODES " == *" $1 "* ]]; }
trap 'kt_rc=$?; bt_cleanup; cleanup $kt_rc' EXIT

# probe_hits FILE PID: the probe hits the summary in FILE gives process PID,
# summed over its images (an exec starts a new one: "pid N (kt_fork) after
# exec #1: ..."); a child gone before its name was read is "(?)".
probe_hits() {
	sed -En "s/^pid $2 \((kt_fork|\?)\)[^:]*: ([0-9]+) probe hits.*/\2/p" "$1" |
		awk '{n += $1} END {print n + 0}'
}

# round_attached: the steps while a tracer is attached; leaves a held child.
round_attached() {
	fk_cmd ops '^ops done'
	fk_cmd fork '^child [0-9]+ exit 0'
	FORKED=$(fk_child_pid)
	fk_cmd hold '^held [0-9]+'
}
# round_detached: the tracer is gone: the held child runs, a new one forks.
round_detached() {
	fk_cmd release '^child [0-9]+ exit 0'
	fk_cmd ops '^ops done'
	fk_cmd fork '^child [0-9]+ exit 0'
}

# ---- -p PID and -b PATH
for mode in p b; do
	has_mode $mode || continue
	fk_start "$mode" "$FORK" --ops $N
	target=(-p "$FK_PID")
	[ $mode = b ] && target=(-b "$FORK")
	start_tracer "$mode-1" "${target[@]}" --sample 1
	round_attached
	# the attach point on the combined sites, and why, is said at start
	grep -Eq '^kaos-trace: probe sites: attaching at \+[01] \(.*\): .+' "$TMP/$mode-1.err" ||
		fail "-$mode: no 'probe sites: attaching at' line"
	stop_tracer
	if [ $mode = b ]; then
		got=$(probe_hits "$TMP/$mode-1.txt" "$FORKED")
		[ "$got" -ge $((4 * N)) ] || fail "-b: the forked child: $got probe hits, expected >= $((4 * N))"
	fi
	round_detached
	start_tracer "$mode-2" "${target[@]}" --sample 1
	round_attached
	kill -KILL "$TRACER_PID"
	wait "$TRACER_PID" 2>/dev/null || true
	round_detached
	start_tracer "$mode-3" "${target[@]}" --sample 1
	fk_cmd exec '^exec done'
	fk_cmd ops '^ops done'
	fk_cmd fork '^child [0-9]+ exit 0'
	stop_tracer
	# the new image's fork.exec and fork.parent: N sends and N recvs each
	got=$(probe_hits "$TMP/$mode-3.txt" "$FK_PID")
	[ "$got" -ge $((4 * N)) ] || fail "-$mode: after exec: $got probe hits, expected >= $((4 * N))"
	fk_quit wait
	echo "ok: -$mode: fork while attached, after a clean stop, after SIGKILL, exec"
done

# ---- -- COMMAND: the tracer ends with the command; SIGKILL is the only early detach
if has_mode cmd; then
fk_start cmd "$KT" --sample 1 -- "$FORK" --ops $N
TRACER_PID=$FK_PID
KT_PIDS+=("$FK_PID")
fk_cmd ops '^ops done'
fk_cmd fork '^child [0-9]+ exit 0'
fk_cmd exec '^exec done'
fk_cmd ops '^ops done'
fk_cmd fork '^child [0-9]+ exit 0'
fk_quit wait
grep -q "command exited with status 0" "$TMP/cmd.err" || fail "-- COMMAND: no exit report"
pid=$(sed -n 's/^exec done pid \([0-9]*\)$/\1/p' "$FK_OUT")
got=$(probe_hits "$FK_OUT" "$pid") # 2N before exec, 4N after
[ "$got" -ge $((6 * N)) ] || fail "-- COMMAND: around exec: $got probe hits, expected >= $((6 * N))"
fk_start cmd2 "$KT" --sample 1 -- "$FORK" --ops $N
KT_PIDS+=("$FK_PID")
fk_cmd ops '^ops done'
fk_cmd hold '^held [0-9]+'
tracer=$FK_PID
kill -KILL "$tracer"
wait "$tracer" 2>/dev/null || true
round_detached
fk_quit
echo "ok: -- COMMAND: fork and exec while attached, fork after SIGKILL"
fi

# ---- the daemon
# the daemon attaches before "running"; it logs a process once it sees its events
daemon_round() { start_daemon "$1" --watch "$FORK" --listen off; }
# (a child gone before the daemon reads its name is logged as "(?)")
daemon_traced() { wait_log "process: pid $1 \((kt_fork|\?)\) traced" 20; }
if has_mode daemon; then
fk_start d "$FORK" --ops $N
daemon_round d-1
round_attached
daemon_traced "$FORKED" # the daemon follows the program: the forked child is traced
grep -Eq 'start: probe sites: attaching at \+[01] \(.*\): .+' "$DERR" ||
	fail "daemon: no 'probe sites: attaching at' line"
stop_daemon
round_detached
daemon_round d-2
round_attached
daemon_traced "$FORKED"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
round_detached
daemon_round d-3
fk_cmd exec '^exec done'
fk_cmd ops '^ops done'
daemon_traced "$FK_PID"
fk_cmd fork '^child [0-9]+ exit 0'
stop_daemon
fk_quit wait
echo "ok: daemon: fork while attached, after SIGTERM, after SIGKILL, exec"
fi

# ---- bpftrace at the note's address (all processes mapping libkaos.so)
if has_mode bpftrace; then
	bt_require
	LIB=$(realpath "$B/libkaos.so")
	fk_start bt "$FORK" --ops $N
	bt_start "$TMP/bt" "usdt:$LIB:kaos:send { @s = count(); }"
	round_attached
	bt_stop "$TMP/bt"
	hits=$(bt_map "$TMP/bt.out" s)
	[ "$hits" -ge $((2 * N)) ] || fail "bpftrace saw $hits sends, expected >= $((2 * N))"
	round_detached
	fk_quit wait
	echo "ok: bpftrace: fork while attached ($hits sends seen), after it stopped"
fi
echo "PASS: forks and execs of a traced program survive, attached and after detach"
