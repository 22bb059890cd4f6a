#!/usr/bin/env bash
# The daemon's collectors under the CLI's option names, real BPF:
# -b (and its old name --watch), --func with --max-funcs, --profile, --off-cpu
# (one table of options with the one-shot CLI: both --help list the same group),
# with --off-cpu-min-us, --sample and --budget. --func on a program without
# kaos probes times its functions into the folded files with exact counts,
# --profile adds a [cpu] tower to the same files (folded per interval, not
# only at exit); bad flags are one line and exit 2, before any BPF (the
# option parser returns an error: no exit() inside the library).
set -euo pipefail
. "$(dirname "$0")/daemon_lib.sh"
PROG=$PWD/$B/tests/progs/kt_funcs
OFF=$B/tests/progs/kt_offcpu
need "$KT" "$PROG" "$OFF"

# one table of shared options (kt_engine.h): the same names in both --help groups
shared() {
	"$KT" "$@" --help | sed -n '/^ Targets, collectors and sampling/,/^$/p' |
		sed -nE 's/^ +(-[^-], )?(--[a-z0-9-]+).*/\2/p'
}
diff <(shared) <(shared daemon) >"$TMP/shared.diff" || fail "shared options differ: $(cat "$TMP/shared.diff")"
[ "$(shared daemon | wc -l)" -eq 16 ] || fail "shared options: $(shared daemon | tr '\n' ' ')"

# bad_flags NAME PATTERN ARGS...: one line matching PATTERN on stderr, exit 2
bad_flags() {
	local name=$1 re=$2 rc=0
	shift 2
	"$KT" daemon "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, expected 2"
	[ "$(wc -l <"$TMP/$name.err")" -eq 1 ] && grep -Eq "$re" "$TMP/$name.err" ||
		fail "$name: $(cat "$TMP/$name.err")"
}
bad_flags stray "unexpected argument 'stray'" -b "$PROG" stray
bad_flags profile0 "profile: expected a number 1\.\.100000, got '0'" -b "$PROG" --profile 0 --folded-dir "$TMP"
bad_flags nodir "profile needs \[folded\] dir \(--folded-dir DIR\) or a listen address" -b "$PROG" \
	--profile 99 --listen off
bad_flags funcnodir "func needs \[folded\] dir" -b "$PROG" --func 'busy_*'
bad_flags minus "off_cpu_min_us: expected a duration" -b "$OFF" --off-cpu --off-cpu-min-us 5parsecs
bad_flags both "sample and budget are exclusive" -b "$OFF" --sample 4 --budget 1
bad_flags pmu "start: --pmu: unknown event .bogus-event." -b "$OFF" --pmu bogus-event --listen off
bad_flags maxfuncs "max_funcs: expected a number 1\.\.1023" -b "$PROG" --func x --max-funcs 0 \
	--folded-dir "$TMP"

# -b and --watch name the same setting
"$KT" daemon --watch "$OFF" --check-config --listen off | grep -q "config OK: 1 watch" ||
	fail "--watch is no longer -b"
"$KT" daemon -b "$OFF" -b "$PROG" --func 'busy_*' --folded-dir "$TMP" --check-config \
	--listen off | grep -q "config OK: 2 watches" || fail "-b twice with --func"

# --func (kt_funcs has no kaos probes) and --profile: both in the folded files
mkdir -p "$TMP/folded"
start_daemon funcs -b "$PROG" --func 'busy_*' --max-funcs 8 --profile 997 \
	--folded-dir "$TMP/folded" --folded-interval 1s --listen off
# long enough (~160 ms) for samples after the daemon first saw the process
"$PROG" --n20 3000 --n100 1000 >"$TMP/funcs-run.txt" || fail "kt_funcs failed"
wait_log "process: pid [0-9]+ \(kt_funcs\) exited"
# written while the daemon runs (per interval), not only at exit
wait_log "folded: wrote [1-9][0-9]* stacks"
stop_daemon
grep -q "trace: profile: [1-9][0-9]* samples at 997 Hz" "$DERR" || fail "no profile summary"
sum() { cat "$TMP"/folded/*.folded | awk -v t="$1" 'index($0, t) == 1 { n += $NF } END { print n + 0 }'; }
[ "$(sum '[busy_20us];')" -eq 3000 ] || fail "busy_20us: $(sum '[busy_20us];') calls folded, expected 3000"
[ "$(sum '[busy_100us];')" -eq 1000 ] || fail "busy_100us: $(sum '[busy_100us];') calls folded, expected 1000"
[ "$(sum "[cpu];kt_funcs;")" -gt 0 ] || fail "no [cpu] samples of kt_funcs in the folded files: $(cat "$TMP"/folded/*.folded | grep -v "^\[busy" | head -5)"

# --off-cpu-min-us and --sample reach the engine
start_daemon offcpu -b "$OFF" --off-cpu --off-cpu-min-us 2 --sample 4 --listen off
grep -q 'off-cpu: sched_switch traced, blocks >= 2us counted' "$DERR" || fail "--off-cpu-min-us 2"
grep -q 'sampling: fixed 1 in 4 (--sample)' "$DERR" || fail "--sample 4: $(grep sampling "$DERR")"
stop_daemon
start_daemon budget -b "$OFF" --budget 2.5 --listen off
grep -q "sampling: budget 2.5% of each process's CPU (--budget)" "$DERR" || fail "--budget 2.5"
stop_daemon
echo "PASS: daemon collectors (-b/--watch, --func, --profile, --off-cpu-min-us, --sample, --budget)"
