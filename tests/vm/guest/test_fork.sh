# A traced program forks and execs, while its tracer is attached and after
# it stopped (cleanly, then SIGKILLed): every child exits 0 (issue 11: a
# traced 5-byte nop site crashed forked children with SIGSEGV on 6.18).
# The same steps as tests/integration/test_fork_safety.sh, in busybox sh,
# for -p, -b and -- COMMAND on this kernel.
. "$(dirname "$0")/lib.sh"
FORK=$BIN/kt_fork
N=1000

# fk_start NAME CMD...: CMD reads kt_fork's commands from a fifo on fd 3.
fk_start() {
	name=$1
	shift
	FK_OUT=$TMP/$name.out
	mkfifo "$TMP/$name.in"
	"$@" <"$TMP/$name.in" >"$FK_OUT" 2>"$TMP/$name.err" &
	FK_PID=$!
	exec 3>"$TMP/$name.in"
}

# fk_cmd COMMAND ANSWER-ERE: sends COMMAND, waits for the answer; fails on a
# child that did not exit 0.
fk_cmd() {
	before=$(wc -l <"$FK_OUT")
	echo "$1" >&3
	i=0
	while [ $i -lt 600 ]; do
		new=$(tail -n +$((before + 1)) "$FK_OUT")
		if echo "$new" | grep -Eq '^child [0-9]+ (signal|exit [1-9]|lost)'; then
			fail "after '$1': a child of kt_fork failed: $new"
		fi
		echo "$new" | grep -Eq "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "kt_fork gave no /$2/ after '$1' within 60 s: $new"
}

fk_quit() {
	echo quit >&3
	exec 3>&-
	rc=0
	wait "$FK_PID" || rc=$?
	[ $rc -eq 0 ] || fail "kt_fork (or its tracer) exited $rc: $(cat "$FK_OUT")"
	grep -Eq '^children ok [0-9]+ bad 0$' "$FK_OUT" || fail "kt_fork: $(cat "$FK_OUT")"
}

for mode in p b; do
	fk_start "$mode" "$FORK" --ops $N
	if [ $mode = p ]; then target="-p $FK_PID"; else target="-b $FORK"; fi
	start_tracer "$mode-1" $target --sample 1
	fk_cmd ops '^ops done'
	fk_cmd fork '^child [0-9]+ exit 0'
	fk_cmd hold '^held [0-9]+'
	stop_tracer
	fk_cmd release '^child [0-9]+ exit 0'
	fk_cmd fork '^child [0-9]+ exit 0'
	start_tracer "$mode-2" $target --sample 1
	fk_cmd ops '^ops done'
	fk_cmd hold '^held [0-9]+'
	kill -KILL "$TRACER_PID"
	wait "$TRACER_PID" 2>/dev/null
	TRACER_PID=
	fk_cmd release '^child [0-9]+ exit 0'
	fk_cmd fork '^child [0-9]+ exit 0'
	start_tracer "$mode-3" $target --sample 1
	fk_cmd exec '^exec done'
	fk_cmd ops '^ops done'
	fk_cmd fork '^child [0-9]+ exit 0'
	stop_tracer
	grep -Eq "^pid $FK_PID \(kt_fork\)[^:]*: [1-9][0-9]* probe hits" "$TMP/$mode-3.txt" ||
		fail "-$mode: not traced after exec: $(cat "$TMP/$mode-3.txt")"
	fk_quit
	echo "ok: -$mode: fork attached, after a clean stop, after SIGKILL, exec"
done

fk_start cmd "$KT" --sample 1 -- "$FORK" --ops $N
fk_cmd ops '^ops done'
fk_cmd fork '^child [0-9]+ exit 0'
fk_cmd exec '^exec done'
fk_cmd fork '^child [0-9]+ exit 0'
fk_quit
echo "ok: -- COMMAND: fork and exec while attached"
grep -h "probe sites: attaching" "$TMP"/*.err | head -n 1 | sed 's/^kaos-trace: /@@ SITE /'
echo "PASS: forks and execs of a traced program survive"
