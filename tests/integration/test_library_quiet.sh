#!/usr/bin/env bash
# Library modules return errors and notes; only the drivers print (issue 16).
# The engine modules that used to write to stderr themselves (the session's
# notes, the feature check's notes and probe-site line, libpfm's init error)
# must not any more, and the driver must still show those lines.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT"
cd "$(dirname "$0")/../.."

for f in user/engine/kt_session.c user/engine/kt_features.c user/collectors/kt_pmu.c; do
	# stdout/stderr by name, or the calls that can only mean them
	if grep -nE '\b(stderr|stdout)\b|[^sfn]printf\(|\bputs\(|\bperror\(' "$f"; then
		fail "$f prints by itself (return the line to the caller instead)"
	fi
done

# the driver still shows what the library now hands it
"$KT" -d 0.1 --sample 1 -b "$B/libkaos.so" >/dev/null 2>"$TMP/run.err" ||
	fail "kaos-trace failed: $(cat "$TMP/run.err")"
if [ "$(uname -m)" = x86_64 ]; then
	grep -q '^kaos-trace: probe sites: attaching at +' "$TMP/run.err" ||
		fail "no probe-site line: $(cat "$TMP/run.err")"
fi
grep -q '^kaos-trace: attached ' "$TMP/run.err" || fail "no attached line: $(cat "$TMP/run.err")"
echo "PASS: kt_session, kt_features and kt_pmu print nothing themselves; kaos-trace shows their lines"
