#!/usr/bin/env bash
# Library modules return errors and notes; only the drivers print (issue 16).
# The engine modules that used to write to stderr themselves (the session's
# notes, the feature check's notes and probe-site line, libpfm's init error)
# must not any more, and the driver must still show those lines. --func's
# notes and start-up description and --pmu's dropped-event warning go through
# the engine's note callback too (kt_func_list.c formats list's output to the
# FILEs it is given).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT"
cd "$(dirname "$0")/../.."

for f in user/engine/kt_session.c user/engine/kt_features.c user/collectors/kt_pmu.c \
	user/collectors/kt_func*.c; do
	[ "$f" = user/collectors/kt_func_list.c ] && continue
	# stdout/stderr by name, or the calls that can only mean them
	if grep -nE '\b(stderr|stdout)\b|[^sfn]printf\(|\bputs\(|\bperror\(' "$f"; then
		fail "$f prints by itself (return the line to the caller instead)"
	fi
	# kt_func formats to no FILE at all (its notes and description are note lines)
	case "$f" in user/collectors/kt_func*)
		if grep -nE '\bv?fprintf\(|\bfput[sc]\(' "$f"; then
			fail "$f writes to a stream (hand the line to the note callback)"
		fi ;;
	esac
done

# the driver still shows what the library now hands it
"$KT" -d 0.1 --sample 1 -b "$B/libkaos.so" >/dev/null 2>"$TMP/run.err" ||
	fail "kaos-trace failed: $(cat "$TMP/run.err")"
if [ "$(uname -m)" = x86_64 ]; then
	grep -q '^kaos-trace: probe sites: attaching at +' "$TMP/run.err" ||
		fail "no probe-site line: $(cat "$TMP/run.err")"
fi
grep -q '^kaos-trace: attached ' "$TMP/run.err" || fail "no attached line: $(cat "$TMP/run.err")"

# --func: the description and the skipped-functions note reach stderr through the driver
"$KT" -d 0.1 --func 'kaos_ring_*' -b "$B/libkaos.so" >/dev/null 2>"$TMP/func.err" ||
	fail "kaos-trace --func failed: $(cat "$TMP/func.err")"
grep -q '^kaos-trace: --func: [0-9]* functions\?, [0-9]* uprobes; ' "$TMP/func.err" ||
	fail "no --func summary line: $(cat "$TMP/func.err")"
grep -q '^kaos-trace: --func: probing kaos_ring_' "$TMP/func.err" ||
	fail "no --func probing line: $(cat "$TMP/func.err")"

# --pmu: an event that cannot be opened here is dropped with one warning line
# (a hardware event on a machine without a PMU, or else nothing to check)
"$KT" pmu list >"$TMP/pmu-list.txt" || fail "pmu list failed"
if grep -Eq '^  CYCLES +no$' "$TMP/pmu-list.txt"; then
	"$KT" -d 0.1 --pmu cycles,task-clock -b "$B/libkaos.so" >/dev/null 2>"$TMP/pmu.err" ||
		fail "kaos-trace --pmu failed: $(cat "$TMP/pmu.err")"
	grep -q '^kaos-trace: --pmu cycles: cannot count it here' "$TMP/pmu.err" ||
		fail "no --pmu dropped-event line: $(cat "$TMP/pmu.err")"
fi
echo "PASS: kt_session, kt_features, kt_func and kt_pmu print nothing themselves; kaos-trace shows their lines"
