#!/usr/bin/env bash
# libkaos' reliable UDP is a real source of the retransmit probe: under a
# seeded in-process loss (drop_ppm) kaos-trace counts exactly the
# retransmits the transport counted itself, on the sender's send-queue ring,
# and classifies them; without loss both say 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PROG=$B/tests/progs/kt_udp_loss
need "$KT" "$PROG"

run_traced() { # name, then kt_udp_loss's options
	local name=$1
	shift
	LD_LIBRARY_PATH=$B "$KT" --sample 1 --json "$TMP/$name.json" -- "$PROG" "$@" \
		>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "$name: kaos-trace -- kt_udp_loss failed: $(tail -3 "$TMP/$name.err")"
	own=$(sed -n 's/^udp udpl.tx sent 20000 retransmits \([0-9]*\) .*/\1/p' "$TMP/$name.txt")
	[ -n "$own" ] || fail "$name: no counters from kt_udp_loss: $(cat "$TMP/$name.txt")"
}

run_traced lossy --msgs 20000 --drop-ppm 20000 --seed 7
lossy_own=$own
[ "$own" -gt 100 ] || fail "lossy: only $own retransmits under 2 % loss"
json_check "$TMP/lossy.json" \
	'final["lost"] == 0' \
	"[r[\"retransmit\"][\"ops\"] for p in final[\"processes\"] for r in p[\"rings\"] if r[\"name\"] == \"udpl.tx\"] == [$own]" \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "udpl.tx"] == [20000]' \
	'[r["recv"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "udpr.rx"] == [20000]'
# the class, and the retransmits by the probe's reason as the transport counted them
read -r tmo fast < <(sed -n 's/^udp udpl.tx sent 20000 retransmits [0-9]* timeout \([0-9]*\) fast \([0-9]*\) .*/\1 \2/p' "$TMP/lossy.txt")
# and the ratio's unit: retransmitted datagrams per message sent (not per datagram)
pct=$(python3 -c "print('%.2f' % (100.0 * $own / 20000))")
grep -Eq "udpl.tx +retransmit +$own .* high \(timeout $tmo, fast $fast; $pct % of msgs sent\)$" "$TMP/lossy.txt" ||
	fail "lossy: retransmits not shown as high (timeout $tmo, fast $fast; $pct % of msgs sent): $(grep retransmit "$TMP/lossy.txt")"

run_traced clean --msgs 20000
[ "$own" -eq 0 ] || fail "clean: $own retransmits without loss"
json_check "$TMP/clean.json" \
	'final["lost"] == 0' \
	'[r.get("retransmit", {}).get("ops", 0) for p in final["processes"] for r in p["rings"] if r["name"] == "udpl.tx"] == [0]' \
	'[r["send"]["ops"] for p in final["processes"] for r in p["rings"] if r["name"] == "udpl.tx"] == [20000]'
# The probe says why (arg4: 1 timeout, 2 fast), as the transport's own counters do.
. "$(dirname "$0")/bpftrace_lib.sh"
bt_require
# (bpftrace 0.17 cannot attach a library's USDT with -c: attach first, then run)
bt_start "$TMP/why" "usdt:$(realpath "$B/libkaos.so"):kaos:retransmit { @why[arg4] = count(); }"
"$PROG" --msgs 20000 --drop-ppm 20000 --seed 7 >"$TMP/why.txt" || fail "why: kt_udp_loss failed"
bt_stop "$TMP/why"
read -r timeout fast < <(sed -n 's/^udp udpl.tx .* timeout \([0-9]*\) fast \([0-9]*\) .*/\1 \2/p' "$TMP/why.txt")
[ -n "$fast" ] && [ "$fast" -gt 0 ] || fail "why: no fast retransmits counted: $(cat "$TMP/why.txt")"
bt_fast=$(sed -n 's/^@why\[2\]: \([0-9]*\)$/\1/p' "$TMP/why.out")
bt_timeout=$(sed -n 's/^@why\[1\]: \([0-9]*\)$/\1/p' "$TMP/why.out")
[ "${bt_fast:-0}" = "$fast" ] && [ "${bt_timeout:-0}" = "$timeout" ] ||
	fail "why: bpftrace saw timeout ${bt_timeout:-0} fast ${bt_fast:-0}, the transport $timeout/$fast"
grep -q '^@why\[0\]' "$TMP/why.out" && fail "why: a retransmit without a reason"

echo "PASS: kaos-trace's retransmit count equals the transport's own ($lossy_own under loss, 0 without); the probe says why (timeout/fast) as the transport counts"
