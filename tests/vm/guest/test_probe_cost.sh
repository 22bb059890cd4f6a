# Prices one probe hit for each probe-site build of libkaos (the build's own
# site, the combined one by default, where kaos-trace attaches where its
# self-test chose; the measuring-only plain nop5; PROBE_NOP=1's nop1; the
# same instruction on arm64): the same loop untraced and
# traced, best of 3, with exact counts checked so the figure is for real hits.
# Prints "@@ COST <build> site=<insn> <ns per hit>" for the host's report:
# no timed assertion.
. "$(dirname "$0")/lib.sh"

PAIRS=${PAIRS:-10000}
elapsed() { # BIN -> ns for PAIRS pairs
	out=$("$1" --pairs "$PAIRS") || return 1
	echo "$out" | awk '{print $6}'
}

for bin in "$BIN/kt_probe_cost" "$BIN/kt_probe_cost-nop5" "$BIN/kt_probe_cost-nop1"; do
	site=$("$bin" --pairs 1 | awk '{print $8}')
	best_u=
	best_t=
	for r in 1 2 3; do
		echo "${bin##*/} round $r: untraced"
		u=$(elapsed "$bin") || fail "$bin failed"
		echo "${bin##*/} round $r: traced"
		# the measuring-only nop5 twin is refused without the flag (it never forks)
		allow=
		case $bin in *-nop5) allow=--allow-nop5-sites ;; esac
		# A run's 20,000 records come in about 10 ms (a hit costs ~500 ns on
		# the host) and the default 2 MiB ring holds about that many, so a
		# consumer descheduled for a few ms (a busy host, an emulated guest)
		# lost some. 16 MiB holds them all: the counts below stay exact.
		start_tracer "cost-$site-$r" -b "$bin" --sample 1 --no-calibrate $allow \
			--ringbuf-size 16M --json "$TMP/cost$r.json"
		t=$(elapsed "$bin") || fail "$bin failed (traced)"
		echo "${bin##*/} round $r: stopping the tracer"
		stop_tracer
		f=$TMP/cost$r.json
		expect lost "$(json_top "$f" lost)" 0
		expect send.ops "$(json_ring "$f" cost.0 send ops)" $((PAIRS + 64))
		expect recv.ops "$(json_ring "$f" cost.0 recv ops)" $((PAIRS + 64))
		[ -z "$best_u" ] || [ "$u" -lt "$best_u" ] && best_u=$u
		[ -z "$best_t" ] || [ "$t" -lt "$best_t" ] && best_t=$t
	done
	echo "@@ COST ${bin##*/} site=$site $(((best_t - best_u) / (2 * PAIRS))) ns/hit" \
		"(untraced $((best_u / PAIRS)) ns/pair)"
done
echo "PASS: probe cost measured"
