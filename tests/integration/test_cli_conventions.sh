#!/usr/bin/env bash
# The conventions users expect of kaos-trace (issue 16): -h/-?/--help and
# --version everywhere, subcommands' --help on stdout, an unknown subcommand
# or a bare word is one line and exit 2 (never a program run), "-" is stdout
# for --json/--folded/--timeline, durations take units, -r takes ring names.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

# ok NAME CMD...: exit 0; stdout in $TMP/NAME.out, stderr in $TMP/NAME.err
ok() {
	local name=$1 rc=0
	shift
	timeout 120 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	[ $rc -eq 0 ] || fail "$name: exit $rc: $(head -5 "$TMP/$name.err")"
}

# usage_error NAME REGEX CMD...: exit 2, exactly one stderr line matching, nothing on stdout
usage_error() {
	local name=$1 re=$2 rc=0
	shift 2
	timeout 120 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
	[ $rc -eq 2 ] || fail "$name: exit $rc, expected 2: $(cat "$TMP/$name.err")"
	[ "$(wc -l <"$TMP/$name.err")" -eq 1 ] || fail "$name: not one line: $(cat "$TMP/$name.err")"
	grep -Eq "$re" "$TMP/$name.err" || fail "$name: stderr lacks /$re/: $(cat "$TMP/$name.err")"
	[ ! -s "$TMP/$name.out" ] || fail "$name: wrote to stdout: $(head -3 "$TMP/$name.out")"
}

# ---------------------------------------------------------------- help and version
for h in -h -? --help; do
	ok "help$h" "$KT" "$h"
	head -1 "$TMP/help$h.out" | grep -q '^Usage: kaos-trace ' || fail "$h: $(head -2 "$TMP/help$h.out")"
	[ ! -s "$TMP/help$h.err" ] || fail "$h wrote to stderr"
	for sub in list features pmu daemon diff compare; do
		ok "help-$sub$h" "$KT" "$sub" "$h"
		head -1 "$TMP/help-$sub$h.out" | grep -q "^Usage: kaos-trace $sub" ||
			fail "$sub $h: $(head -2 "$TMP/help-$sub$h.out")"
	done
done
ok help-pmu-list "$KT" pmu list --help
grep -q '^Usage: kaos-trace pmu list' "$TMP/help-pmu-list.out" || fail "pmu list --help"
grep -q -- '-h *Give this help list' "$TMP/help--help.out" || fail "--help does not list -h"
ver=$("$KT" --version)
[[ $ver == "kaos-trace "* ]] || fail "--version: $ver"
for sub in list features pmu daemon diff compare; do
	ok "version-$sub" "$KT" "$sub" --version
	[ "$(cat "$TMP/version-$sub.out")" = "$ver" ] || fail "$sub --version: $(cat "$TMP/version-$sub.out")"
done

# ---------------------------------------------------------------- unknown commands
usage_error help_word "^kaos-trace: unknown command 'help' .*--help" "$KT" help
usage_error typo "^kaos-trace: unknown command 'lsit' \(did you mean 'list'\?\)$" "$KT" lsit 1
usage_error typo2 "did you mean 'daemon'" "$KT" deamon --watch x
# a program without --: refused (its output would be on stdout had it run)
usage_error bare_prog "unknown command '.*kt_workload': to trace a program, put -- before it" \
	"$KT" "$WORK" --msgs 10
usage_error bare_path_cmd "unknown command 'true': to trace a program, put -- before it" "$KT" true
usage_error late_word "unexpected argument '.*kt_workload': to trace a command, put -- before it" \
	"$KT" --sample 1 "$WORK" --msgs 10
# with -- it still runs
ok dashdash "$KT" --sample 1 -- "$WORK" --msgs 1000
grep -q "command exited with status 0" "$TMP/dashdash.err" || fail "-- COMMAND: $(cat "$TMP/dashdash.err")"
grep -q "^ring 1 work.0 sent 1000" "$TMP/dashdash.out" || fail "-- COMMAND: its output"

# ---------------------------------------------------------------- "-" is stdout
ok json_stdout "$KT" --sample 1 -i 200ms --json - -- "$WORK" --msgs 20000 --hold-ms 700
python3 - "$TMP/json_stdout.out" <<'PY' || fail "--json -: stdout is not JSON lines"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[-1]["type"] == "final", lines[-1]["type"]
# -i 200ms: intervals were reported (as seconds, 200 s would have given none)
assert any(l["type"] == "interval" for l in lines), [l["type"] for l in lines]
sends = [r["send"]["ops"] for p in lines[-1]["processes"] for r in p["rings"] if r["name"] == "work.0"]
assert sends == [20000], sends
PY
# the text report and the command's own output went to stderr
grep -q "== kaos-trace summary" "$TMP/json_stdout.err" || fail "--json -: no report on stderr"
grep -q "^ring 1 work.0 sent 20000" "$TMP/json_stdout.err" || fail "--json -: command's stdout not on stderr"

ok folded_stdout "$KT" --sample 1 --folded - -- "$WORK" --msgs 2000
grep -Eq '^.+ [0-9]+$' "$TMP/folded_stdout.out" || fail "--folded -: no folded lines"
grep -Evq '^.+ [0-9]+$' "$TMP/folded_stdout.out" && fail "--folded -: other lines on stdout: $(grep -Ev '^.+ [0-9]+$' "$TMP/folded_stdout.out" | head -3)"
grep -q "wrote [0-9]* folded stacks to stdout" "$TMP/folded_stdout.err" || fail "--folded -: $(tail -3 "$TMP/folded_stdout.err")"

ok timeline_stdout "$KT" --sample 1 --timeline - -- "$WORK" --msgs 2000
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["traceEvents"]) > 0' \
	"$TMP/timeline_stdout.out" || fail "--timeline -: stdout is not one trace JSON"

usage_error two_stdout "^kaos-trace: --json - and --folded - would both write to stdout" \
	"$KT" --json - --folded - -- "$WORK"
usage_error two_stdout2 "^kaos-trace: --json - and --timeline - would both write to stdout" \
	"$KT" --json - --timeline - -- "$WORK"
usage_error stdout_and_stacks "^kaos-trace: --json - and the folded stacks \(no --folded FILE\)" \
	"$KT" --json - --stacks -- "$WORK"

# ---------------------------------------------------------------- durations with units
ok dur_ms "$KT" --sample 1 -d 500ms -b "$B/libkaos.so" --json "$TMP/dur.json" --off-cpu --off-cpu-min-us 1ms
json_check "$TMP/dur.json" 'final["elapsed_s"] < 60'
ok dur_bare "$KT" --sample 1 -d 0.5 -b "$B/libkaos.so"
usage_error dur_bad "^kaos-trace: invalid duration '1x' \(a number of seconds, or a number with a unit" \
	"$KT" -b "$B/libkaos.so" -d 1x
usage_error dur_neg "^kaos-trace: invalid duration '-1s'" "$KT" -b "$B/libkaos.so" -d -1s
usage_error dur_nan "^kaos-trace: invalid interval 'nan'" "$KT" -b "$B/libkaos.so" -i nan
usage_error iv_small "^kaos-trace: invalid interval '5ms' \(at least 10ms\)" "$KT" -b "$B/libkaos.so" -i 5ms
usage_error offcpu_bad "^kaos-trace: invalid --off-cpu-min-us '5x'" "$KT" -b "$B/libkaos.so" --off-cpu --off-cpu-min-us 5x
usage_error rb_bad "^kaos-trace: invalid ring buffer size '3M'" "$KT" -b "$B/libkaos.so" --ringbuf-size 3M
# the daemon: flags and config keys through the same parser
cat >"$TMP/kt.conf" <<EOF
[daemon]
eval_interval = 500ms
ringbuf_size = 4M
probe_cost = 1.5us
budget = 0.5%
off_cpu_min_block = 5us
EOF
ok daemon_units "$KT" daemon --check-config --config "$TMP/kt.conf" --watch "$B/libkaos.so" \
	--retain 2m --folded-interval 1m --ringbuf-size 8M
grep -q "^config OK" "$TMP/daemon_units.out" || fail "daemon units: $(cat "$TMP/daemon_units.out")"
rc=0
"$KT" daemon --check-config --watch "$B/libkaos.so" --eval-interval 1x >/dev/null 2>"$TMP/d_bad.err" || rc=$?
[ $rc -eq 2 ] && grep -q "invalid duration '1x'" "$TMP/d_bad.err" || fail "daemon bad duration: rc $rc $(cat "$TMP/d_bad.err")"

# ---------------------------------------------------------------- -r by name
# kt_workload --rings 3: work.0 (id 1), work.1 (id 2), work.2 (id 3)
ok ring_names "$KT" --sample 1 -r work.1 -r 1 -r no-such-ring --json "$TMP/rn.json" \
	-- "$WORK" --msgs 3000 --rings 3
json_check "$TMP/rn.json" \
	'sorted(r["name"] for p in final["processes"] for r in p["rings"]) == ["work.0", "work.1"]' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.1"] == [3000]' \
	'final["ring_filter_dropped_rings"] == 1' \
	'final["ring_filter_dropped_events"] >= 6000' \
	'final["lost"] == 0'
grep -q "^ring filter (-r): [0-9]* events of 1 other rings dropped" "$TMP/ring_names.out" ||
	fail "-r NAME: the report does not count the dropped events"
[ "$(grep -c "matched no ring" "$TMP/ring_names.err")" -eq 1 ] &&
	grep -q "warning: -r 'no-such-ring' matched no ring" "$TMP/ring_names.err" ||
	fail "-r NAME matching nothing: $(cat "$TMP/ring_names.err")"
# the rings left out feed no other output either: folded stacks and the timeline
ok ring_names_out "$KT" --sample 1 -r work.1 --folded "$TMP/rn.folded" --timeline "$TMP/rn.tl.json" \
	-- "$WORK" --msgs 2000 --rings 3
python3 - "$TMP/rn.folded" "$TMP/rn.tl.json" <<'PY' || fail "-r NAME: other rings' events reached the folded stacks or the timeline"
import json, sys
folded = sum(int(l.rsplit(" ", 1)[1]) for l in open(sys.argv[1]) if l.strip())
# work.1 alone: 2000 sends and 2000 receives (all three rings: 12000)
assert 4000 <= folded <= 4001, folded
tl = json.load(open(sys.argv[2]))
assert 4000 <= tl["otherData"]["events"] <= 4001, tl["otherData"]["events"]
PY
# ids alone: still the kernel's filter, no userspace counting
ok ring_ids "$KT" --sample 1 -r 3 --json "$TMP/ri.json" -- "$WORK" --msgs 3000 --rings 3
json_check "$TMP/ri.json" \
	'[r["name"] for p in final["processes"] for r in p["rings"]] == ["work.2"]' \
	'"ring_filter_dropped_events" not in final'
usage_error ring_long "invalid ring 'a-name-much-longer-than-31-bytes-x'" \
	"$KT" -r a-name-much-longer-than-31-bytes-x -- "$WORK"

# ---------------------------------------------------------------- bash completion
comp=$(dirname "$0")/../../deploy/kaos-trace.bash-completion
[ -f /usr/share/bash-completion/bash_completion ] || fail "bash-completion is not installed"
complete_words() { # words of the command line (the last one is completed)
	bash -c '. /usr/share/bash-completion/bash_completion; . "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
		_kaos_trace kaos-trace "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$comp" "$@"
}
for sub in list features pmu diff compare; do
	[ "$(complete_words kaos-trace "$sub" --h)" = --help ] || fail "completion: $sub --help"
	[ "$(complete_words kaos-trace "$sub" --v)" = --version ] || fail "completion: $sub --version"
done
for o in --json --folded --timeline; do
	complete_words kaos-trace "$o" "" | grep -qx -- - || fail "completion: $o -"
done
[ "$(complete_words kaos-trace pmu l)" = list ] || fail "completion: pmu list"
[ "$(complete_words kaos-trace diff --fail-if-s)" = --fail-if-slower ] || fail "completion: diff --fail-if-slower"
[ "$(complete_words kaos-trace diff --fail-if-m)" = --fail-if-more-allocs ] ||
	fail "completion: diff --fail-if-more-allocs"
[ "$(complete_words kaos-trace diff --fo)" = --folded ] || fail "completion: diff --folded"
[ "$(complete_words kaos-trace diff a.json -- --j)" = --json ] || fail "completion: diff after --"
[ "$(complete_words kaos-trace comp)" = compare ] || fail "completion: compare"
[ "$(complete_words kaos-trace compare --ro)" = --rounds ] || fail "completion: compare --rounds"

echo "PASS: help/version everywhere, unknown commands refused, '-' is stdout, durations with units, -r NAME"
