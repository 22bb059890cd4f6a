#!/usr/bin/env bash
# --alloc: heap profiling by uprobes on the allocator.
#  - the hot-path question: a ring workload whose hot path allocates nothing
#    reports 0.00 allocations per message on its ring, one whose producer
#    mallocs per message 1.00; the per-message site is the producer's, with
#    its stack symbolized; [alloc] and [leak] towers in the folded file; the
#    final JSON's "alloc" agrees with the text report;
#  - bad input: a static binary (-- COMMAND and -p), an unknown --alloc-lib,
#    an --alloc-lib whose allocator is not there, --alloc-lib without
#    --alloc: one line on stderr, exit 2, nothing traced.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
STATIC=$B/tests/progs/kt_static_alloc
need "$KT" "$WORK" "$STATIC"

# ---------------------------------------------------------------- allocations per message
for mode in none per-msg; do
	extra=()
	[ "$mode" = per-msg ] && extra=(--malloc-per-msg)
	"$KT" --alloc --sample 1 --folded "$TMP/$mode.folded" --json "$TMP/$mode.json" \
		-- "$WORK" --threads --msgs 4000 "${extra[@]}" >"$TMP/$mode.txt" 2>"$TMP/$mode.err" ||
		fail "kaos-trace --alloc ($mode) failed"
	grep -q '^ring 1 work.0 sent 4000 recv 4000' "$TMP/$mode.txt" || fail "$mode: the workload did not finish"
	grep -q '^alloc: heap of the traced processes (glibc allocator), exact: traced from the start$' \
		"$TMP/$mode.txt" || fail "$mode: no exact alloc report"
	grep -q 'kaos-trace: alloc: 0 calls lost, 0 blocks untracked, 0 calls not charged' "$TMP/$mode.err" ||
		fail "$mode: drops, or no alloc counters line"
	grep -q '^\[alloc\];' "$TMP/$mode.folded" || fail "$mode: no [alloc] tower"
done
line=$(grep -E '^  ring work.0 \(pid [0-9]+\): ' "$TMP/none.txt") || fail "none: no per-ring line"
echo "hot path without allocations: $line"
[[ $line == *": 0.00 allocations per message ("* ]] || fail "none: expected 0.00 allocations per message"
line=$(grep -E '^  ring work.0 \(pid [0-9]+\): ' "$TMP/per-msg.txt") || fail "per-msg: no per-ring line"
echo "hot path with a malloc per message: $line"
[[ $line == *": 1.00 allocations per message ("* ]] || fail "per-msg: expected 1.00 allocations per message"
# the 4000 blocks: one site, the producer's (symbolized), all freed, short-lived
grep -Eq '^ +[0-9]+ +4000 +32000  producer < start_thread' "$TMP/per-msg.txt" ||
	fail "no producer site with 4000 calls of 8 bytes"
grep -Eq '^\[alloc\];.*;start_thread;producer 32000$' "$TMP/per-msg.folded" ||
	fail "no [alloc] stack of the producer weighing 32000 bytes"
if grep -q '^\[leak\];.*producer' "$TMP/per-msg.folded"; then fail "the producer's freed blocks shown as leaks"; fi
read -r allocs bytes frees < <(sed -nE 's/^  pid [0-9]+: ([0-9]+) allocations, ([0-9]+) bytes allocated, ([0-9]+) frees$/\1 \2 \3/p' \
	"$TMP/per-msg.txt")
read -r lblocks lbytes < <(sed -nE 's/^    outstanding at the end \(leak candidates\): ([0-9]+) blocks, ([0-9]+) bytes$/\1 \2/p' \
	"$TMP/per-msg.txt")
[ "$allocs" -ge 4000 ] && [ "$allocs" -lt 4020 ] || fail "per-msg: $allocs allocations, expected 4000 and a few"
AL='final["alloc"]'
P="$AL['processes'][0]"
json_check "$TMP/per-msg.json" \
	"$AL['allocator'] == 'glibc' and $AL['exact'] is True and $AL['dropped'] is False" \
	"len($AL['processes']) == 1 and $P['pid'] == final['processes'][0]['pid']" \
	"$P['allocs'] == $allocs and $P['bytes_allocated'] == $bytes and $P['frees'] == $frees" \
	"$P['leaked_blocks'] == $lblocks and $P['leaked_bytes'] == $lbytes" \
	"$P['peak_bytes'] >= $lbytes and $P['short_lived'] >= 3900" \
	"[s['stack'][-2:] for s in $P['top_sites'] if s['allocs'] == 4000] == [['start_thread', 'producer']]" \
	"[s['bytes'] for s in $P['top_sites']] == sorted((s['bytes'] for s in $P['top_sites']), reverse=True)" \
	"[(r['name'], r['messages'], round(r['allocs_per_message'], 2)) for r in $AL['rings']] == [('work.0', 4000, 1.0)]"

# ---------------------------------------------------------------- bad input
bad() { # NAME EXPECTED-LINE ARGS...: exit 2 and that one line on stderr
	local name=$1 want=$2 rc=0
	shift 2
	"$KT" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	[ "$rc" = 2 ] || fail "$name: exit status $rc, expected 2"
	[ "$(wc -l <"$TMP/$name.err")" = 1 ] || fail "$name: expected one line on stderr"
	grep -qF -- "$want" "$TMP/$name.err" || fail "$name: expected '$want', got: $(cat "$TMP/$name.err")"
	echo "$name: $(cat "$TMP/$name.err")"
}
bad static-cmd "--alloc: $STATIC: static binary: no allocator to probe" --alloc -- "$STATIC"
bad unknown-lib "--alloc-lib foo: unknown allocator (glibc, jemalloc, tcmalloc)" \
	--alloc --alloc-lib foo -- "$WORK" --msgs 10
bad absent-lib "--alloc: $WORK: no jemalloc allocator found (no libjemalloc.so* loaded)" \
	--alloc --alloc-lib jemalloc -- "$WORK" --msgs 10
bad lib-alone "--alloc-lib and --alloc-short need --alloc" --alloc-lib glibc -- "$WORK" --msgs 10
coproc SP { exec "$STATIC" --wait; }
KT_PIDS+=("$SP_PID")
read -r _ spid <&"${SP[0]}" || fail "the static workload did not start"
bad static-pid "--alloc: pid $spid: static binary: no allocator to probe" --alloc -p "$spid" -d 1
echo go >&"${SP[1]}"
wait "$SP_PID" || true

echo "PASS: 0.00 and 1.00 allocations per message, sites, towers and JSON agree, bad input refused"
