#!/usr/bin/env bash
# Debian packages for the kernel CI, fetched without touching the host's apt
# configuration or installing anything: a private sources/lists folder under
# $VM_CACHE (the host's own Debian mirrors, both architectures, plus the
# host suite's -backports), `apt-get download`, and `dpkg-deb` to unpack.
#
#   debian.sh lists                       refresh the private package lists (daily)
#   debian.sh kernel ARCH SPEC            fetch a kernel, print its folder (see below)
#   debian.sh busybox ARCH DEST           busybox-static's binary for ARCH
#   debian.sh sysroot ARCH DIR            arm64 (etc.) -dev packages unpacked into DIR
#   debian.sh btf IMAGE OUT               a kernel's BTF (vmlinux ELF, bzImage or Image)
#
# ARCH is x86_64|amd64|aarch64|arm64. SPEC is a suite (bookworm,
# bookworm-backports: the kernel that suite's linux-image-ARCH metapackage
# points at today, so security updates are followed), a package name
# (linux-image-6.1.0-56-amd64) or the path of a kernel image file.
# A kernel folder holds: image (what qemu boots: x86's vmlinux ELF booted via
# PVH, arm64's Image), release (uname -r), package, config.
# Exit 77: the suite or package is not reachable from here (a skip, not a failure).
set -euo pipefail

VM_CACHE=${VM_CACHE:-build/vm-cache}
mkdir -p "$VM_CACHE"
VM_CACHE=$(cd "$VM_CACHE" && pwd)
APT_DIR=$VM_CACHE/apt
LISTS_MAX_AGE_MIN=${LISTS_MAX_AGE_MIN:-1440}

die() {
	echo "debian.sh: $*" >&2
	exit 1
}

deb_arch() {
	case $1 in
	x86_64 | amd64) echo amd64 ;;
	aarch64 | arm64) echo arm64 ;;
	*) die "unsupported architecture '$1' (x86_64 or arm64)" ;;
	esac
}

apt_opts() {
	local d
	d=$(cd "$APT_DIR" && pwd)
	printf '%s\n' -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$d/sources" \
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" \
		-o "Dir::State::status=$d/status" \
		-o APT::Architectures::=amd64 -o APT::Architectures::=arm64 \
		-o Acquire::Languages=none -o APT::Sandbox::User=root
}

# Private sources: every deb repository the host uses, and <codename>-backports
# from the repository that serves <codename> itself.
write_sources() {
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot tell the host's Debian codename (/etc/os-release)"
	mkdir -p "$APT_DIR/sources" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	: >"$APT_DIR/status"
	apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
		awk -v cn="$codename" '$1 == "deb" && !seen[$2 " " $3 " " $4]++ {
			print "Types: deb\nURIs: " $2 "\nSuites: " $3 "\nComponents: " $4 "\n"
			if ($3 == cn && !bp[$2 " " $4]++)
				print "Types: deb\nURIs: " $2 "\nSuites: " cn "-backports\nComponents: " $4 "\n"
		}' >"$APT_DIR/sources/kaos-vm.sources.tmp"
	[ -s "$APT_DIR/sources/kaos-vm.sources.tmp" ] || die "the host has no Debian apt sources"
	mv "$APT_DIR/sources/kaos-vm.sources.tmp" "$APT_DIR/sources/kaos-vm.sources"
}

cmd_lists() {
	mkdir -p "$APT_DIR"
	exec 9>"$APT_DIR/.lock"
	flock 9
	local stamp=$APT_DIR/lists/.updated
	if [ -f "$stamp" ] && [ -f "$APT_DIR/sources/kaos-vm.sources" ] &&
		[ -z "$(find "$stamp" -mmin +"$LISTS_MAX_AGE_MIN")" ]; then
		return 0
	fi
	write_sources
	local opts
	mapfile -t opts < <(apt_opts)
	# A suite that cannot be reached only warns here; resolving a kernel from it says so.
	apt-get "${opts[@]}" -qq update >"$APT_DIR/update.log" 2>&1 ||
		echo "debian.sh: apt-get update reported errors (see $APT_DIR/update.log)" >&2
	touch "$stamp"
}

apt_run() { # apt-get|apt-cache ARGS...
	local tool=$1 opts
	shift
	mapfile -t opts < <(apt_opts)
	"$tool" "${opts[@]}" "$@"
}

# Downloads PKG (a name, optionally name:arch) into the cache; prints the .deb's path.
fetch_deb() {
	local pkg=$1 dir=$VM_CACHE/debs name ver arch f
	mkdir -p "$dir"
	name=${pkg%%:*}
	read -r ver arch < <(apt_run apt-cache show --no-all-versions "$pkg" 2>/dev/null |
		awk '/^Version:/ {v = $2} /^Architecture:/ {a = $2} END {print v, a}')
	[ -n "$ver" ] || return 77
	# the file name holds the version with ':' escaped by apt
	f=$dir/${name}_${ver//:/%3a}_${arch}.deb
	if [ ! -f "$f" ]; then
		(cd "$dir" && apt_run apt-get -qq download "$pkg" >/dev/null 2>"$dir/.download.err") ||
			die "apt-get download $pkg failed: $(tail -n3 "$dir/.download.err")"
		[ -f "$f" ] || die "apt-get download $pkg did not write $f"
	fi
	echo "$f"
}

# The first ELF found by decompressing an x86 bzImage's payload.
extract_elf() { # bzImage out
	local img=$1 out=$2 magic cmd off
	for spec in '\x28\xb5\x2f\xfd|zstd -dcq' '\xfd7zXZ\x00|xz -dcq --single-stream' \
		'\x1f\x8b\x08|gzip -dcq' '\x02\x21\x4c\x18|lz4 -dcq' 'BZh|bzip2 -dcq' \
		'\x5d\x00\x00\x00|xz -dcq --format=lzma'; do
		magic=${spec%%|*}
		cmd=${spec#*|}
		for off in $(LC_ALL=C grep -obUaP "$magic" "$img" 2>/dev/null | cut -d: -f1 | head -n4); do
			tail -c +$((off + 1)) "$img" | $cmd >"$out" 2>/dev/null || true
			if [ "$(head -c4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
				return 0
			fi
		done
	done
	rm -f "$out"
	return 1
}

is_elf() { [ "$(head -c4 "$1" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; }

# Kernel image -> raw BTF or an ELF with .BTF that bpftool reads.
cmd_btf() { # image out
	local img=$1 out=$2 off hdr
	[ -f "$img" ] || die "btf: no such file $img"
	if is_elf "$img"; then
		cp "$img" "$out"
		return 0
	fi
	if [ "$(head -c2 "$img" | od -An -tx1 | tr -d ' ')" = 9feb ]; then
		cp "$img" "$out" # already raw BTF (e.g. /sys/kernel/btf/vmlinux)
		return 0
	fi
	if extract_elf "$img" "$out"; then
		return 0
	fi
	# An uncompressed image (arm64's Image) holds .BTF as a raw blob: the header
	# is magic 0xeb9f, version 1, flags 0, hdr_len 24, then type/str offsets and lengths.
	for off in $(LC_ALL=C grep -obUaP '\x9f\xeb\x01\x00\x18\x00\x00\x00\x00\x00\x00\x00' "$img" |
		cut -d: -f1); do
		# shellcheck disable=SC2086
		set -- $(od -An -tu4 -j $((off + 4)) -N 20 "$img")
		# hdr_len type_off type_len str_off str_len: types first, strings right after
		[ "$#" = 5 ] && [ "$2" = 0 ] && [ "$4" = "$3" ] || continue
		dd if="$img" of="$out" iflag=skip_bytes,count_bytes skip="$off" count=$(($1 + $4 + $5)) \
			bs=1M status=none
		if bpftool btf dump file "$out" >/dev/null 2>&1; then
			return 0
		fi
	done
	rm -f "$out"
	die "btf: no BTF found in $img"
}

cmd_kernel() { # arch spec
	local arch darch spec=$2 pkg deb dir img
	darch=$(deb_arch "$1")
	arch=$1
	case $arch in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; esac
	if [ -f "$spec" ]; then
		dir=$VM_CACHE/kernels/local-$(realpath "$spec" | md5sum | cut -c1-12)
		rm -rf "$dir" # the file may have changed since
		mkdir -p "$dir"
		img=$spec
		echo "$(realpath "$spec")" >"$dir/package"
	else
		cmd_lists
		if [ "${spec#linux-image-}" != "$spec" ]; then
			pkg=$spec
		else
			# The metapackage names today's ABI. The host's own codename means its
			# candidate (security updates included), like `apt-get upgrade` would pick.
			local sel=/$spec
			[ "$spec" != "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")" ] || sel=
			pkg=$(apt_run apt-cache depends "linux-image-$darch:$darch$sel" 2>/dev/null |
				awk '/Depends: linux-image-/ {print $2; exit}') || true
			pkg=${pkg%%:*}
			if [ -z "$pkg" ]; then
				echo "debian.sh: no linux-image-$darch in suite '$spec' here (unreachable or unknown)" >&2
				exit 77
			fi
		fi
		dir=$VM_CACHE/kernels/$pkg
		if [ -f "$dir/image" ] && [ -s "$dir/release" ]; then
			echo "$dir"
			return 0
		fi
		deb=$(fetch_deb "$pkg:$darch") || {
			echo "debian.sh: package $pkg:$darch not found" >&2
			exit 77
		}
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" ./boot
		rm -f "$deb" # the unpacked folder is the cache
		img=$(ls "$dir.tmp"/boot/vmlinuz-* | head -n1)
		cp "$dir.tmp"/boot/config-* "$dir.tmp/config" 2>/dev/null || true
		basename "$img" | sed 's/^vmlinuz-//' >"$dir.tmp/release"
		echo "$pkg" >"$dir.tmp/package"
		dir=$dir.tmp
	fi
	if [ "$arch" = x86_64 ]; then
		# qemu boots the inner vmlinux directly (PVH): no decompression under TCG
		if is_elf "$img"; then
			cp "$img" "$dir/image"
		else
			extract_elf "$img" "$dir/image" || die "no vmlinux inside $img"
		fi
	else
		# arm64's vmlinuz is the Image itself, or gzip'ed
		if [ "$(head -c2 "$img" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
			gzip -dc "$img" >"$dir/image"
		else
			cp "$img" "$dir/image"
		fi
	fi
	rm -rf "$dir"/boot
	if [ ! -s "$dir/release" ]; then
		{ grep -aoE -m1 'Linux version [^ ]+' "$dir/image" || true; } | head -n1 |
			awk '{print $3}' >"$dir/release"
		[ -s "$dir/release" ] || echo unknown >"$dir/release"
	fi
	if [ "${dir%.tmp}" != "$dir" ]; then
		rm -rf "${dir%.tmp}"
		mv "$dir" "${dir%.tmp}"
		dir=${dir%.tmp}
	fi
	echo "$dir"
}

cmd_busybox() { # arch dest
	local darch deb tmp
	darch=$(deb_arch "$1")
	if [ "$darch" = "$(dpkg --print-architecture)" ] &&
		dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
		cp /bin/busybox "$2"
		return 0
	fi
	cmd_lists
	deb=$(fetch_deb "busybox-static:$darch") || die "busybox-static:$darch not found"
	tmp=$(mktemp -d)
	dpkg-deb -x "$deb" "$tmp"
	cp "$tmp/bin/busybox" "$2"
	rm -rf "$tmp"
}

cmd_sysroot() { # arch dir
	local darch deb
	darch=$(deb_arch "$1")
	local tmp
	cmd_lists
	mkdir -p "$2"
	tmp=$(mktemp -d)
	# -dev packages for headers and static archives, runtime ones for the .so links
	(cd "$tmp" && apt_run apt-get -qq download libbpf-dev:"$darch" libbpf1:"$darch" \
		libelf-dev:"$darch" libelf1:"$darch" zlib1g-dev:"$darch" zlib1g:"$darch" \
		libpfm4-dev:"$darch" libpfm4:"$darch" libjansson-dev:"$darch" libjansson4:"$darch" \
		libncurses-dev:"$darch" libncursesw6:"$darch" libtinfo6:"$darch" \
		>/dev/null) ||
		die "sysroot: apt-get download failed"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$2"
	done
	rm -rf "$tmp"
	# absolute links (libz.so -> /lib/...) must point into the sysroot
	local l t root
	root=$(cd "$2" && pwd)
	find "$root" -type l | while read -r l; do
		t=$(readlink "$l")
		case $t in /*) ln -sfn "$root$t" "$l" ;; esac
	done
}

case ${1:-} in
lists) cmd_lists ;;
kernel) cmd_kernel "${2:?arch}" "${3:?suite or package}" ;;
busybox) cmd_busybox "${2:?arch}" "${3:?dest}" ;;
sysroot) cmd_sysroot "${2:?arch}" "${3:?dir}" ;;
btf) cmd_btf "${2:?image}" "${3:?out}" ;;
*)
	echo "usage: debian.sh lists|kernel ARCH SPEC|busybox ARCH DEST|sysroot ARCH DIR|btf IMAGE OUT" >&2
	exit 2
	;;
esac
