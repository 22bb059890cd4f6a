# shellcheck shell=bash
# Drives tests/progs/kt_fork (sourced, not run; needs lib.sh's TMP and fail).
# kt_fork reads one command a line on stdin (a fifo here) and answers on
# stdout; fk_cmd sends one and waits for its answer, so every step happens
# at a known point of the tracer's life.
FORK=${FORK:-$B/tests/progs/kt_fork}
FK_PID=
FK_OUT=
FK_FD=

# fk_start NAME CMD...: runs CMD (kt_fork, or a tracer running it) fed by a fifo.
fk_start() {
	local name=$1
	shift
	FK_OUT=$TMP/$name.txt
	rm -f "$TMP/$name.in"
	mkfifo "$TMP/$name.in"
	"$@" <"$TMP/$name.in" >"$FK_OUT" 2>"$TMP/$name.err" &
	FK_PID=$!
	exec {FK_FD}>"$TMP/$name.in"
}

# fk_cmd COMMAND ANSWER-ERE: sends COMMAND, waits (20 s at most) for a new
# line matching ANSWER-ERE; fails on a child that did not exit 0.
fk_cmd() {
	local before new
	before=$(wc -l <"$FK_OUT")
	echo "$1" >&"$FK_FD"
	for _ in $(seq 1 400); do
		new=$(tail -n +$((before + 1)) "$FK_OUT")
		if echo "$new" | grep -Eq '^child [0-9]+ (signal|exit [1-9]|lost)'; then
			fail "after '$1': a child of kt_fork failed: $(echo "$new" | tr '\n' ' ')"
		fi
		echo "$new" | grep -Eq "$2" && return 0
		sleep 0.05
	done
	fail "kt_fork gave no /$2/ after '$1' within 20 s (it printed: $(echo "$new" | tr '\n' ' '))"
}

# fk_child_pid: pid of the last child kt_fork reported.
fk_child_pid() {
	grep -Eo '^(child|held) [0-9]+' "$FK_OUT" | tail -n 1 | awk '{print $2}'
}

# fk_quit [WAIT]: "quit"; kt_fork must report no bad child. With WAIT, it is
# our child: its exit status must be 0 too.
fk_quit() {
	echo quit >&"$FK_FD"
	exec {FK_FD}>&-
	if [ "${1:-}" = wait ]; then
		local rc=0
		wait "$FK_PID" || rc=$?
		[ $rc -eq 0 ] || fail "kt_fork exited $rc: $(cat "$FK_OUT")"
	else
		for _ in $(seq 1 400); do
			grep -q '^children ok' "$FK_OUT" && break
			sleep 0.05
		done
	fi
	grep -Eq '^children ok [0-9]+ bad 0$' "$FK_OUT" || fail "kt_fork: $(cat "$FK_OUT")"
}

# wait_gone PID: until the process has exited (a SIGKILLed tracer, for one).
wait_gone() {
	for _ in $(seq 1 400); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "process $1 still alive after 20 s"
}
