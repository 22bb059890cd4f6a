# Folded stacks of a known call chain, symbolized from the static
# executable: main -> pump -> libkaos' send, root first.
. "$(dirname "$0")/lib.sh"

# 8 MiB of ring buffer: 10,000 events with stacks in a burst, drained by a tracer that
# qemu without KVM runs slowly (the default 1 MiB lost 7,090 of them, counted, on a busy host)
start_tracer st --sample 1 --ringbuf-size 8M -b "$WORK" --folded "$TMP/out.folded"
"$WORK" --msgs 5000 --batch 1 --hold-ms 500 >"$TMP/work.txt" || fail "workload failed"
stop_tracer
[ -s "$TMP/out.folded" ] || fail "no folded output"
bad=$(grep -Evc '^[^ ].* [0-9]+$' "$TMP/out.folded")
[ "$bad" = 0 ] || fail "$bad lines do not match 'frame;frame;... count'"
grep -Eq '(^|;)main;pump;[^; ]*(kaos|send)[^ ]* [0-9]+$' "$TMP/out.folded" ||
	fail "chain main;pump;kaos_ring_send... not found root-first: $(head -n 5 "$TMP/out.folded")"
total=$(awk '{s += $NF} END {print s}' "$TMP/out.folded")
[ "$total" -ge 10000 ] || fail "folded weights sum to $total, expected >= 10000 events"
grep -q '0x[0-9a-f]*;main;' "$TMP/out.folded" && fail "unsymbolized frame right above main"
# the heaviest stack, as evidence in the host's log
echo "@@ STACK $(sort -t' ' -k2 -n -r "$TMP/out.folded" | head -n 1 | awk '{print $NF, $1}' | cut -c1-300)"
echo "PASS: folded stacks symbolized, root first"
