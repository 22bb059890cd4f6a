#!/usr/bin/env bash
# kaos-trace -p finds the probes and the sampling control of a process whose
# libkaos is mapped from a path with spaces (/proc/PID/maps keeps them: a
# reader that stops at the first space looks for "/tmp/.../lib" and finds none).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need "$KT" "$WORK"

dir="$TMP/a dir (x)"
mkdir -p "$dir"
# the copy's RUNPATH ($ORIGIN) finds the library copied beside it
cp "$WORK" "$dir/kt_workload"
cp -L "$B/libkaos.so.0" "$dir/libkaos.so.0"

coproc W { "$dir/kt_workload" --wait --msgs 20000 --batch 16; }
cpid=$W_PID # bash unsets W_PID once the coprocess exits
read -r ready wpid <&"${W[0]}"
# a copy: bash closes and unsets W once it reaps the coprocess, which
# can be before the cat below (a short workload, once it has its go)
exec {W_OUT}<&"${W[0]}"
[ "$ready" = ready ] || fail "workload did not start"
grep -qF "$dir/libkaos.so.0" "/proc/$wpid/maps" || fail "libkaos not mapped from '$dir'"
start_tracer spaces --sample 2 -p "$wpid" --json "$TMP/spaces.json"
echo go >&"${W[1]}"
cat <&"$W_OUT" >"$TMP/work.txt"
exec {W_OUT}<&-
wait "$cpid" || fail "workload failed"
rc=0
wait "$TRACER_PID" || rc=$?
[ $rc -eq 0 ] || fail "kaos-trace -p exited with $rc: $(cat "$TMP/spaces.err")"
# the sampling control is searched in the same maps: not finding it is said
if grep -q "cannot set sampling" "$TMP/spaces.err"; then
	fail "sampling control not found: $(cat "$TMP/spaces.err")"
fi
json_check "$TMP/spaces.json" \
	'final["lost"] == 0' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "work.0"] == [20000]' \
	"[p[\"pid\"] for p in final[\"processes\"]] == [$wpid]"
echo "PASS: -p on a process whose libkaos path holds spaces: probes and sampling control found"
