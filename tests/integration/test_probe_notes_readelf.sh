#!/usr/bin/env bash
# Cross-check of tests/unit/test_probe_notes.c with other readers of the
# same notes: binutils (readelf -n, objdump) and bpftrace's probe listing
# must see in $B/libkaos.so exactly the kaos probes of docs/probes.md, seven
# register arguments each, semaphores in .probes, a nop at every site (on
# x86 the combined 1-byte + 10-byte nop unless built with PROBE_NOP=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/bpftrace_lib.sh

B=${B:-build}
LIB=$B/libkaos.so
EXPECTED="kaos:backpressure kaos:batch kaos:recv kaos:retransmit kaos:ring_close kaos:send"

[ -e "$LIB" ] || die "$LIB missing: run make first"
for t in readelf objdump; do
	command -v $t >/dev/null || die "$t not installed (binutils)"
done
case $(uname -m) in
x86_64) REG='%(r[abcd]x|r[sd]i|rbp|r[89]|r1[0-5])' ;;
aarch64) REG='x([0-9]|[12][0-9]|30)' ;;
*) die "unsupported architecture $(uname -m)" ;;
esac
ARGS_RE="^(8@$REG ){6}8@$REG\$"
BATCH_ARGS_RE="^(8@$REG ){3}8@$REG\$" # kaos:batch: buffer, records, generation, pid tag

# One line per note: provider name location semaphore |arguments
notes=$(readelf -n --wide "$LIB" | awk '
	/Provider:/ { p = $0; sub(/.*Provider: */, "", p) }
	/Name:/ { n = $2 }
	/Location:/ { l = $2; sub(/,$/, "", l); s = $6 }
	/Arguments:/ { a = $0; sub(/.*Arguments: */, "", a); print p, n, l, s, "|" a }') ||
	die "readelf -n $LIB failed"
[ -n "$notes" ] || die "readelf -n finds no stapsdt notes in $LIB"
echo "$notes" | sed 's/^/note: /'

got=$(echo "$notes" | awk '{ print $1 ":" $2 }' | sort -u | tr '\n' ' ' | sed 's/ $//')
expect_eq "probes seen by readelf" "$got" "$EXPECTED"

read -r probes_lo probes_size < <(readelf -S --wide "$LIB" |
	awk '$2 == ".probes" { print $4, $6 } $3 == ".probes" { print $5, $7 }')
[ -n "${probes_lo:-}" ] || die "$LIB has no .probes section"
probes_lo=$((16#$probes_lo))
probes_hi=$((probes_lo + 16#$probes_size))

nop_kinds=""
declare -A sema_of
while read -r prov name loc sema rest; do
	args=${rest#|}
	if [ "$name" = batch ]; then
		[[ $args =~ $BATCH_ARGS_RE ]] || die "$prov:$name at $loc: arguments '$args' are not 4 x 8@register"
	else
		[[ $args =~ $ARGS_RE ]] || die "$prov:$name at $loc: arguments '$args' are not 7 x 8@register"
	fi
	s=$((sema))
	((s >= probes_lo && s + 2 <= probes_hi && s % 2 == 0)) ||
		die "$prov:$name semaphore $sema not an aligned short inside .probes"
	if [ -n "${sema_of[$name]:-}" ] && [ "${sema_of[$name]}" != "$sema" ]; then
		die "$prov:$name sites use two semaphores (${sema_of[$name]}, $sema)"
	fi
	sema_of[$name]=$sema
	# the instruction at the site, as objdump decodes it
	# the instructions at the site, as objdump decodes them ("bytes|insn;" each)
	insn=$(objdump -d --insn-width=11 --start-address=$((loc)) --stop-address=$((loc + 11)) "$LIB" |
		awk -F'\t' '/^ *[0-9a-f]+:\t/ { gsub(/ +$/, "", $2); printf "%s|%s;", $2, $3 }') ||
		die "objdump -d $LIB failed at $loc"
	case $insn in
	"90|nop;66 2e 0f 1f 84 00 00 00 00 00|cs nopw"*) kind=combined ;;
	"0f 1f 44 00 00|nopl"*) kind=nop5 ;;
	"90|nop;"*) kind=nop1 ;;
	"d503201f|nop"* | "1f 20 03 d5|nop"*) kind=a64nop ;; # objdump prints arm64 words
	*) die "$prov:$name at $loc is not a nop: '$insn'" ;;
	esac
	nop_kinds="$nop_kinds $kind"
done <<<"$notes"
kinds=$(echo $nop_kinds | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')
[ "$(echo $kinds | wc -w)" = 1 ] || die "sites mix nop kinds: $kinds"
# a plain nop5 is what crashed forked children on 6.18 (issue 11): never in a build
[ "$kinds" != nop5 ] || die "the sites are plain 5-byte nops"
if [ "$(uname -m)" = x86_64 ] && [ "$(cat "$B/.probe-nop" 2>/dev/null)" != 1 ]; then
	[ "$kinds" = combined ] || die "default x86 build: sites are $kinds, not the combined site"
fi
echo "ok: every site is a $kinds"
dupes=$(printf '%s\n' "${sema_of[@]}" | sort | uniq -d)
[ -z "$dupes" ] || die "probes share a semaphore: $dupes"
echo "ok: one semaphore per probe, in .probes"

bt_require
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bpftrace -l "usdt:$(realpath "$LIB"):*" >"$tmp/list" 2>&1 ||
	die "bpftrace -l failed: $(bt_filter_noise <"$tmp/list")"
listed=$(sed -n 's/^usdt:.*:\([^:]*:[^:]*\)$/\1/p' "$tmp/list" |
	sort -u | tr '\n' ' ' | sed 's/ $//')
expect_eq "probes listed by bpftrace -l" "$listed" "$EXPECTED"
