#!/usr/bin/env bash
# kaos-trace top (issue 13) under tmux in an 80x24 pane: rows appear for the
# live rings of two traced processes, s/S sort, / filters, Enter shows a
# ring's histogram, Esc goes back, q quits and the terminal is as it was
# (no alternate screen, the same stty settings); SIGTERM restores it too; a
# command started with -- ends with a last frame that says so and its exit
# status; without a terminal, plain text blocks (| head ends it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"
command -v tmux >/dev/null || fail "tmux missing (make test-deps)"

SOCK=kt-top-$$
tm() { tmux -L "$SOCK" "$@"; }
stop_tmux() { tm kill-server 2>/dev/null || true; }
WPIDS=()
kill_workloads() { for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'rc=$?; stop_tmux; kill_workloads; cleanup $rc' EXIT

pane() { tm capture-pane -p -t top; }
# wait_pane REGEX [WHAT]: until the pane shows REGEX (10 s at most)
wait_pane() {
	for _ in $(seq 1 100); do
		pane | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	pane >"$TMP/pane.txt"
	fail "${2:-the pane never showed /$1/}: $(cat "$TMP/pane.txt")"
}
# the pids in the table's rows, in order (rows: a pid in the first column)
row_pids() { pane | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1 }'; }
alt_screen() { tm display -p -t top '#{alternate_on}'; }

# two traced processes with open rings: kt_workload (work.0, work.1) and a
# copy named kt_other (its work.0), each held before sending until released
# a symlink: its own process name, the libkaos beside the real file ($ORIGIN)
ln -s "$(realpath "$WORK")" "$TMP/kt_other"
start_workload() { # NAME FIFO ARGS...
	local name=$1 fifo=$2
	shift 2
	mkfifo "$fifo"
	"$@" --wait --hold-ms 600000 <"$fifo" >"$TMP/$name.out" 2>&1 &
	WPIDS+=($!)
}
start_workload w1 "$TMP/go1" "$WORK" --msgs 20000 --rings 2
P1=${WPIDS[0]}
start_workload w2 "$TMP/go2" "$TMP/kt_other" --msgs 5000
P2=${WPIDS[1]}
exec 5>"$TMP/go1" 6>"$TMP/go2"
for f in w1 w2; do
	for _ in $(seq 1 100); do grep -q ready "$TMP/$f.out" && break; sleep 0.1; done
	grep -q ready "$TMP/$f.out" || fail "workload $f did not start"
done

tm new-session -d -s top -x 80 -y 24 "env -i PATH=$PATH TERM=xterm HOME=$HOME bash --norc --noprofile"
tm send-keys -t top "PS1='PROMPT\$ '; stty -a >$TMP/stty.before; clear" Enter
wait_pane '^PROMPT\$ ?$' "no shell prompt in the pane"
tm send-keys -t top "$KT top --sample 1 -p $P1 -p $P2 --alert 'send.p99 > 1ns' --alert 'recv.p99 > 1h' 2>$TMP/top.err; echo rc=\$?" Enter
wait_pane 'RING/FUNC' "top's table never appeared"
[ "$(alt_screen)" = 1 ] || fail "top does not use the alternate screen"
echo go >&5
echo go >&6
# rows: an open ring is news, busy or idle
wait_pane "^ *$P1 work\.1 " "no row for work.1 of pid $P1"
wait_pane "^ *$P2 work\.0 " "no row for work.0 of pid $P2"
[ "$(row_pids | wc -l)" = 3 ] || fail "expected 3 rows: $(pane)"
# the alert states: a line of their own above the status line
wait_pane '^alerts: 1 firing, 0 pending, 1 ok; send\.p99 > 1ns FIRING \(' "no alert line"
[ "$(pane | sed -n 23p | cut -c1-7)" = alerts: ] || fail "the alert line is not line 23: $(pane)"

# pause: said in the header, and undone
tm send-keys -t top Space
wait_pane '\[PAUSED\]' "Space did not pause"
tm send-keys -t top Space
for _ in $(seq 1 100); do pane | grep -q PAUSED || break; sleep 0.1; done
if pane | grep -q PAUSED; then fail "Space did not resume"; fi

# resize: narrower, the sparkline drops out and the rows stay; back, it returns
tm resize-window -t top -x 50 -y 20
for _ in $(seq 1 100); do pane | grep -q 'P99 TREND' || break; sleep 0.1; done
if pane | grep -q 'P99 TREND'; then fail "50 columns still show the sparkline: $(pane)"; fi
wait_pane "^ *work\.1 " "no work.1 row at 50 columns"
[ "$(pane | awk 'length > 50' | wc -l)" = 0 ] || fail "lines wider than 50 columns: $(pane)"
tm resize-window -t top -x 80 -y 24
wait_pane 'P99 TREND' "the sparkline did not come back at 80 columns"

# sort: F6 then s four times from msgs/s is pid (lowest first); S reverses it
lo=$((P1 < P2 ? P1 : P2)) hi=$((P1 < P2 ? P2 : P1))
tm send-keys -t top F6
wait_pane 'sort send p99 ' "F6 did not go to the next sort column"
tm send-keys -t top s s s s
wait_pane 'sort pid ' "s did not reach the pid column"
[ "$(row_pids | head -n 1)" = "$lo" ] || fail "sort pid: $lo is not first: $(pane)"
tm send-keys -t top S
wait_pane 'sort pid \(rev\)' "S did not reverse"
[ "$(row_pids | head -n 1)" = "$hi" ] || fail "reversed: $hi is not first: $(pane)"

# filter: the process name kt_other leaves its one row; / then Esc clears it
tm send-keys -t top / k t _ o t h
wait_pane 'Filter \(Enter apply, Esc clear\): kt_oth' "no filter prompt"
tm send-keys -t top Enter
wait_pane "filter 'kt_oth'" "the filter is not shown in the header"
[ "$(row_pids | sort -u)" = "$P2" ] || fail "the filter left other rows: $(pane)"
tm send-keys -t top /
tm send-keys -t top Escape
for _ in $(seq 1 100); do [ "$(row_pids | wc -l)" = 3 ] && break; sleep 0.1; done
[ "$(row_pids | wc -l)" = 3 ] || fail "Esc did not clear the filter: $(pane)"

# Enter: the selected ring's percentiles and histogram as bars; Esc back
tm send-keys -t top Home Enter
wait_pane '^send total +[1-9]' "no percentiles in the detail view"
wait_pane 'distribution' "no histogram in the detail view"
wait_pane '\|@+ *\|' "no histogram bars"
tm send-keys -t top Escape
wait_pane 'RING/FUNC' "Esc did not go back to the table"

# q: top ends, the pane is back at the shell with its terminal as it was
tm send-keys -t top q
wait_pane '^rc=0$' "q did not end top with status 0"
[ "$(alt_screen)" = 0 ] || fail "the alternate screen is still on after q"
tm send-keys -t top "clear; stty -a >$TMP/stty.after; echo done" Enter
wait_pane '^done$'
cmp -s "$TMP/stty.before" "$TMP/stty.after" ||
	fail "stty settings changed: $(diff "$TMP/stty.before" "$TMP/stty.after")"

# SIGTERM: the terminal is given back as well
tm send-keys -t top "clear; $KT top -p $P1 2>$TMP/top2.err; echo rc=\$?" Enter
wait_pane 'RING/FUNC' "top's table never appeared (second run)"
shell=$(tm display -p -t top '#{pane_pid}')
tp=$(pgrep -P "$shell" -x kaos-trace) || fail "no kaos-trace under the pane's shell"
kill -TERM "$tp"
wait_pane '^rc=0$' "SIGTERM did not end top with status 0"
[ "$(alt_screen)" = 0 ] || fail "the alternate screen is still on after SIGTERM"
tm send-keys -t top "clear; stty -a >$TMP/stty.after2; echo done2" Enter
wait_pane '^done2$'
cmp -s "$TMP/stty.before" "$TMP/stty.after2" || fail "stty settings changed after SIGTERM"

# -- COMMAND: its exit leaves the last frame up, saying so; q gives its status
# (its output goes to --command-output, not over the screen)
tm send-keys -t top "clear; $KT top --sample 1 --command-output $TMP/cmd.out -- $WORK --msgs 2000 --exit 3 2>$TMP/top3.err; echo rc=\$?" Enter
wait_pane 'the command exited \(status 3\): q to quit' "no line for the command's exit"
pane | grep -q 'work\.0' || fail "the last frame lost the command's ring: $(pane)"
tm send-keys -t top F10
wait_pane '^rc=3$' "F10 did not end top with the command's status"
grep -q '^ring 1 work.0 sent 2000 ' "$TMP/cmd.out" || fail "the command's output: $(cat "$TMP/cmd.out")"
if pane | grep -q '^ring 1 work'; then fail "the command wrote on the screen: $(pane)"; fi
stop_tmux

# no terminal: one plain block per refresh; a reader that goes away ends top
# (a ring is known once it has traffic after attach: a held command brings some)
timeout 60 "$KT" top --sample 1 -n 2 -- "$WORK" --msgs 3000 --rings 2 --hold-ms 4000 \
	>"$TMP/plain.txt" 2>"$TMP/plain.err" || fail "top -n 2 without a tty failed"
[ "$(grep -c '^kaos-trace top ' "$TMP/plain.txt")" = 2 ] || fail "not 2 blocks: $(cat "$TMP/plain.txt")"
grep -Eq '^ *PID .*RING/FUNC +MSGS/S' "$TMP/plain.txt" || fail "no column headings"
grep -Eq "^ *[0-9]+ +kt_workload +work\.1 " "$TMP/plain.txt" || fail "no row for work.1"
if grep -q $'\e' "$TMP/plain.txt"; then fail "escape sequences in the plain text"; fi
# --func: a row per function, its calls per second, named NAME()
FUNCS=$B/tests/progs/kt_funcs
if [ -x "$FUNCS" ]; then
	timeout 60 "$KT" top -n 1 --func 'busy_*' -- "$FUNCS" --n20 2000 --hold-ms 3000 \
		>"$TMP/func.txt" 2>"$TMP/func.err" || fail "top --func failed"
	grep -Eq '^ *[0-9]+ +kt_funcs +busy_20us\(\) +[0-9.]+k? ' "$TMP/func.txt" ||
		fail "no --func row: $(cat "$TMP/func.txt")"
else
	fail "missing $FUNCS (make)"
fi
timeout 60 "$KT" top -p "$P1" 2>"$TMP/head.err" | head -n 3 >"$TMP/head.txt" ||
	fail "top | head did not end"
[ "$(wc -l <"$TMP/head.txt")" = 3 ] || fail "top | head: $(cat "$TMP/head.txt")"
# bad input: one line, status 2
if "$KT" top -d 0s -p "$P1" 2>"$TMP/bad.err"; then fail "top -d 0s was accepted"; fi
[ "$(wc -l <"$TMP/bad.err")" = 1 ] && grep -q "invalid interval" "$TMP/bad.err" ||
	fail "bad -d: $(cat "$TMP/bad.err")"
if "$KT" top --profile 99 -p "$P1" 2>"$TMP/bad.err"; then fail "top --profile was accepted"; fi
grep -q "top has no view of stacks" "$TMP/bad.err" || fail "--profile: $(cat "$TMP/bad.err")"
if "$KT" top --alloc -p "$P1" 2>"$TMP/bad.err"; then fail "top --alloc was accepted"; fi
grep -q "top has no view of allocations" "$TMP/bad.err" || fail "--alloc: $(cat "$TMP/bad.err")"

# bash completion: the subcommand, and top's options are those of its --help
comp=$(dirname "$0")/../../deploy/kaos-trace.bash-completion
complete_words() { # words of the command line (the last one is completed)
	bash -c '. /usr/share/bash-completion/bash_completion; . "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
		_kaos_trace kaos-trace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$comp" "$@"
}
[ "$(complete_words kaos-trace to)" = top ] || fail "completion: top"
diff <("$KT" top --help | sed -nE 's/^ +(-[^-], )?(--[a-z0-9-]+).*/\2/p' | sort -u) \
	<(complete_words kaos-trace top --) >"$TMP/comp.err" ||
	fail "completion's top options are not top --help's: $(cat "$TMP/comp.err")"
echo "PASS: test_top"
