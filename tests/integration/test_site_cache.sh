#!/usr/bin/env bash
# The probe-site self-test (~35-60 ms of uprobe registration at start) is
# kept for the boot in /run/kaos-trace/site-test (a kt_bootcache record): a second start says it
# used it; a cache that is not root's, is group/other-writable, is cut short
# or names another boot is ignored (a fresh test runs and replaces it);
# `kaos-trace features` always tests afresh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(uname -m)" = x86_64 ] || {
	echo "not applicable: $(uname -m) has no combined site (no self-test)"
	exit 0
}
need "$KT"
CACHE=/run/kaos-trace/site-test
site_line() { # run kaos-trace briefly; print its probe-site line
	"$KT" -d 0.1 --sample 1 -b "$B/libkaos.so" 2>&1 >/dev/null | grep '^kaos-trace: probe sites:' || true
}
fresh() { [[ "$1" == *'attaching at +'* && "$1" != *'self-test of this boot'* ]]; }
cached() { [[ "$1" == *'(self-test of this boot, /run/kaos-trace)'* ]]; }

rm -f "$CACHE"
l=$(site_line)
fresh "$l" || fail "no fresh self-test without a cache: '$l'"
[ -f "$CACHE" ] || fail "the self-test left no cache"
[ "$(stat -c '%u %a' "$CACHE")" = "0 600" ] || fail "cache owner/mode: $(stat -c '%u %a' "$CACHE")"
l=$(site_line)
cached "$l" || fail "the second start did not use the cache: '$l'"

# not trusted: other-writable, not root's, cut short, another boot
chmod 0666 "$CACHE"
l=$(site_line)
fresh "$l" || fail "an other-writable cache was used: '$l'"
chown nobody "$CACHE"
l=$(site_line)
fresh "$l" || fail "a cache owned by nobody was used: '$l'"
rm -f "$CACHE"
site_line >/dev/null
head -c 40 "$CACHE" >"$TMP/short" && cat "$TMP/short" >"$CACHE"
l=$(site_line)
fresh "$l" || fail "a cut-short cache was used: '$l'"
cached "$(site_line)" || fail "the cut-short cache was not replaced"
# another boot: the boot id is stored at offset 12 (kt_bootcache's header)
printf 'ffffffff' | dd of="$CACHE" bs=1 seek=12 conv=notrunc status=none
l=$(site_line)
fresh "$l" || fail "a cache of another boot was used: '$l'"

"$KT" features >"$TMP/features.txt"
grep -q '^combined_site_+1: ' "$TMP/features.txt" || grep -q 'probe_site:' "$TMP/features.txt" ||
	fail "features printed no site test: $(cat "$TMP/features.txt")"
echo "PASS: site self-test cached per boot; untrusted, short or stale caches ignored"
