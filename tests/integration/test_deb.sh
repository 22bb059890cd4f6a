#!/usr/bin/env bash
# make deb: libkaos0, libkaos-dev and kaos-trace build with debhelper and
# lintian finds no error (make deb fails otherwise); each package holds
# exactly the expected files at Debian's paths; unpacked together into a
# throwaway root, the unit and config name files that are there, both
# programs run and say VERSION, and a program builds with pkg-config
# against the unpacked libkaos-dev and runs against libkaos0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(cat "$root/VERSION")
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

make -s -C "$root" deb >"$TMP/deb.txt" 2>&1 || fail "make deb: $(tail -n 30 "$TMP/deb.txt")"
grep -q '^lintian: 0 errors' "$TMP/deb.txt" || fail "lintian: $(cat "$TMP/deb.txt")"
debs=$root/build/deb

files() { # package: its regular files and links, sorted
	dpkg-deb -c "$debs/${1}_${version}_$arch.deb" | awk '$1 !~ /^d/ {print $6}' | sed 's|^\.||' | sort
}
expect() { # package, then the expected files
	local pkg=$1
	shift
	printf '%s\n' "$@" | sort >"$TMP/$pkg.want"
	files "$pkg" >"$TMP/$pkg.got"
	diff -u "$TMP/$pkg.want" "$TMP/$pkg.got" >"$TMP/$pkg.err" || fail "$pkg: files differ"
}
docs=()
for d in "$root"/docs/*.md; do docs+=("/usr/share/doc/kaos-trace/${d##*/}"); done
headers=()
for h in "$root"/include/kaos/*.h; do headers+=("/usr/include/kaos/${h##*/}"); done

expect libkaos0 /usr/lib/"$ma"/libkaos.so.0 /usr/lib/"$ma"/libkaos.so.0.1 \
	/usr/share/doc/libkaos0/changelog.gz /usr/share/doc/libkaos0/copyright
expect libkaos-dev "${headers[@]}" /usr/lib/"$ma"/libkaos.a /usr/lib/"$ma"/libkaos.so \
	/usr/lib/"$ma"/pkgconfig/kaos.pc /usr/share/man/man3/libkaos.3.gz \
	/usr/share/doc/libkaos-dev/{changelog.gz,copyright,ipc.md,pipeline.md,probes.md,rings.md}
expect kaos-trace /etc/kaos-trace/kaos-trace.conf /lib/systemd/system/kaos-trace.service \
	/usr/bin/kaos-pipeline /usr/bin/kaos-trace /usr/share/bash-completion/completions/kaos-trace \
	"${docs[@]}" /usr/share/doc/kaos-trace/{changelog.gz,copyright} \
	/usr/share/man/man1/kaos-pipeline.1.gz /usr/share/man/man8/kaos-trace.8.gz
dpkg-deb -f "$debs/libkaos-dev_${version}_$arch.deb" Depends | grep -c "libkaos0 (= $version)" >/dev/null ||
	fail "libkaos-dev must depend on the same libkaos0"
dpkg-deb -f "$debs/kaos-trace_${version}_$arch.deb" Depends | grep -c "libkaos0" >/dev/null ||
	fail "kaos-trace (kaos-pipeline) must depend on libkaos0"
dpkg-deb -I "$debs/kaos-trace_${version}_$arch.deb" conffiles | grep -cx /etc/kaos-trace/kaos-trace.conf >/dev/null ||
	fail "the config is not a conffile"

# ---------------------------------------------------------------- unpacked into a throwaway root
r=$TMP/root
for p in libkaos0 libkaos-dev kaos-trace; do dpkg-deb -x "$debs/${p}_${version}_$arch.deb" "$r"; done
unit=$r/lib/systemd/system/kaos-trace.service
read -r bin _ _ cfg < <(sed -n 's/^ExecStart=//p' "$unit")
[ "$bin" = /usr/bin/kaos-trace ] && [ -x "$r$bin" ] || fail "unit runs '$bin'"
[ -f "$r$cfg" ] || fail "unit's config '$cfg' is not in the package"
doc=$(sed -n 's|^Documentation=.*file://\([^ ]*\).*|\1|p' "$unit")
[ -n "$doc" ] && [ -f "$r$doc" ] || fail "unit's Documentation '$doc' is not in the package"
watch=$(sed -n 's/^path = //p' "$r$cfg")
[ "$watch" = "/usr/lib/$ma/libkaos.so.0" ] && [ -e "$r$watch" ] || fail "config watches '$watch'"

out=$("$r/usr/bin/kaos-trace" --version)
[ "$out" = "kaos-trace $version" ] || fail "packaged kaos-trace --version: '$out'"
out=$(LD_LIBRARY_PATH=$r/usr/lib/$ma "$r/usr/bin/kaos-pipeline" --version)
[ "$out" = "kaos-pipeline $version (libkaos $version)" ] || fail "kaos-pipeline --version: '$out'"
head -c 3000000 /dev/urandom | base64 >"$TMP/in.txt"
LD_LIBRARY_PATH=$r/usr/lib/$ma "$r/usr/bin/kaos-pipeline" compress "$TMP/in.txt" "$TMP/in.kz" &&
	LD_LIBRARY_PATH=$r/usr/lib/$ma "$r/usr/bin/kaos-pipeline" decompress "$TMP/in.kz" "$TMP/out.txt" ||
	fail "packaged kaos-pipeline"
cmp -s "$TMP/in.txt" "$TMP/out.txt" || fail "kaos-pipeline round trip differs"

flags=$(env PKG_CONFIG_PATH="$r/usr/lib/$ma/pkgconfig" \
	PKG_CONFIG_SYSROOT_DIR="$r" pkg-config --cflags --libs kaos) || fail "pkg-config kaos"
# shellcheck disable=SC2086 # the flags are words
cc -O2 -Wall -Wextra -Werror "$root/tests/install/kaos_app.c" -o "$TMP/kaos_app" $flags \
	>"$TMP/cc.err" 2>&1 || fail "building against libkaos-dev ($flags)"
out=$(LD_LIBRARY_PATH=$r/usr/lib/$ma "$TMP/kaos_app" 1000) || fail "kaos_app: $out"
[ "$out" = "headers $version library $version
sent 1016 received 1000" ] || fail "kaos_app printed: $out"
echo "PASS: make deb: 3 packages, lintian 0 errors, file lists, unpacked root works"
