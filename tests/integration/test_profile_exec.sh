#!/usr/bin/env bash
# --profile and --off-cpu -- COMMAND where the command is a script that execs its program
# (a pyenv shim, a wrapper ./run.sh): kaos-trace runs it (a script has no kaos
# probes, --profile needs none), and after the exec the process's name and
# maps are read again, so its stacks carry the program's name and symbols,
# not the shell's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOT=$PWD/$B/tests/progs/kt_hotspin
need "$KT" "$HOT"

# the shell first spends CPU of its own (sampled, so its maps are read as sh's),
# then execs the program
cat >"$TMP/wrapper.sh" <<SH
#!/bin/sh
i=0; while [ \$i -lt 200000 ]; do i=\$((i + 1)); done
exec "$HOT" --cpu-ms 400 --spin-us 15000 --ops 5
SH
chmod +x "$TMP/wrapper.sh"
"$KT" --profile 997 --folded "$TMP/exec.folded" -- "$TMP/wrapper.sh" >"$TMP/exec.txt" 2>"$TMP/exec.err" ||
	fail "kaos-trace --profile -- a script failed: $(tail -3 "$TMP/exec.err")"
grep -q '^hot_spin ' "$TMP/exec.txt" || fail "the program did not run to its end"
grep -q 'no kaos probes there: --profile' "$TMP/exec.err" || fail "the scope line does not say the script has no probes"
# after the exec: the program's name, and its functions by name
grep -q '^\[cpu\];kt_hotspin;.*;worker;hot_spin' "$TMP/exec.folded" ||
	fail "no kt_hotspin;...;worker;hot_spin stack after the exec: $(sort -t' ' -k2 -nr "$TMP/exec.folded" | head -3)"
# --off-cpu: the same for the blocked time (a shell that first blocks, then execs)
PLAIN=$PWD/$B/tests/progs/kt_plain
need "$PLAIN"
cat >"$TMP/wrap_block.sh" <<SH
#!/bin/sh
sleep 0.2
exec "$PLAIN" --block-ms 300
SH
chmod +x "$TMP/wrap_block.sh"
"$KT" --off-cpu --folded "$TMP/off.folded" -- "$TMP/wrap_block.sh" >"$TMP/off.txt" 2>"$TMP/off.err" ||
	fail "kaos-trace --off-cpu -- a script failed: $(tail -3 "$TMP/off.err")"
grep -q '^\[off-cpu\];kt_plain;.*main;plain_block' "$TMP/off.folded" ||
	fail "no kt_plain;...;main;plain_block off-cpu stack after the exec: $(sort -t' ' -k2 -nr "$TMP/off.folded" | head -3)"
# a script without --profile (USDT only): still refused, in one line
rc=0
"$KT" -d 1 -- "$TMP/wrapper.sh" >"$TMP/usdt.txt" 2>"$TMP/usdt.err" || rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$TMP/usdt.err")" -eq 1 ] ||
	fail "USDT tracing of a script: exit $rc, $(cat "$TMP/usdt.err")"
echo "PASS: --profile and --off-cpu follow a script's exec into its program (name and symbols)"
