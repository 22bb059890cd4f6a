#!/usr/bin/env bash
# Kernel CI: boots a Debian kernel under qemu with an initramfs of busybox
# and kaos' statically linked test binaries, runs the guest tests
# (tests/vm/guest/test_*.sh) inside, prints one line per test and a summary.
#
#   tests/vm/vmtest.sh [--arch x86_64|arm64] [--kernel SPEC] [--guest DIR]
#                      [--timeout SECONDS] [--only TEST]
#
# SPEC: a suite (bookworm, bookworm-backports), a linux-image package or a
# kernel image file (tests/vm/debian.sh). The guest dir (make vm-guest) is
# $B/vm/guest for the host's architecture, $B/<arch>/vm/guest for another.
# Pass/fail comes from the guest's "@@ SUMMARY" line alone: qemu exits 0
# whatever happened inside, so a missing summary (crash, hang, timeout) fails.
# Exit: 0 pass, 1 fail, 77 kernel not reachable (skip), 2 usage.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
export VM_CACHE=${VM_CACHE:-build/vm-cache}
arch=$(uname -m)
kernel=bookworm
guest=
timeout_s=${VM_TIMEOUT:-900}
only=

while [ $# -gt 0 ]; do
	case $1 in
	--arch) arch=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--guest) guest=$2; shift ;;
	--timeout) timeout_s=$2; shift ;;
	--only) only=$2; shift ;;
	*)
		sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
	shift
done
case $arch in amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; esac
case $arch in x86_64 | aarch64) ;; *)
	echo "vmtest: unsupported architecture '$arch'" >&2
	exit 2
	;;
esac
if [ -z "$guest" ]; then
	if [ "$arch" = "$(uname -m)" ]; then guest=$B/vm/guest; else guest=$B/$arch/vm/guest; fi
fi
[ -x "$guest/bin/kaos-trace" ] && [ -f "$guest/init" ] ||
	{
		echo "vmtest: no guest files in $guest (make vm-guest ARCH=$arch)" >&2
		exit 1
	}

t_start=$SECONDS
# Runs at once (tests/run.sh vm) share the cache: one fetches (kernel, busybox) at a time.
mkdir -p "$VM_CACHE"
exec 8>"$VM_CACHE/.fetch.lock"
flock 8
kdir=$(tests/vm/debian.sh kernel "$arch" "$kernel")
rc=$?
if [ $rc -eq 77 ]; then
	echo "SKIP  vmtest $arch $kernel: kernel not reachable from here"
	exit 77
fi
[ $rc -eq 0 ] && [ -f "$kdir/image" ] || {
	echo "FAIL  vmtest $arch $kernel: could not fetch the kernel" >&2
	exit 1
}
release=$(cat "$kdir/release")
t_fetch=$((SECONDS - t_start))

# ---------------------------------------------------------------- initramfs
work=$B/vm/run-$arch-$release
rm -rf "$work"
mkdir -p "$work/root"/{bin,dev,proc,sys,tmp,tests}
cp "$guest"/bin/* "$work/root/bin/"
cp "$guest"/init "$work/root/init"
cp "$guest"/lib.sh "$guest"/test_*.sh "$work/root/tests/"
# the dynamic programs' loader and libraries, at the target's paths
[ ! -d "$guest/root" ] || cp -R "$guest/root/." "$work/root/"
tests/vm/debian.sh busybox "$arch" "$work/root/bin/busybox" || {
	echo "FAIL  vmtest $arch $kernel: no busybox-static for $arch" >&2
	exit 1
}
exec 8>&- # the fetch lock
chmod 755 "$work/root/init" "$work/root/bin"/*
(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

# ---------------------------------------------------------------- qemu
# each guest test gets 300 s at most (half the VM's time when that is short)
per_test=$((timeout_s > 600 ? 300 : timeout_s / 2 + 1))
append="panic=-1 quiet loglevel=1 kaos.timeout=$per_test${only:+ kaos.only=$only}"
native=
[ "$arch" = "$(uname -m)" ] && [ -w /dev/kvm ] && native=1
case $arch in
x86_64)
	# the vmlinux ELF is booted directly (PVH): nothing to decompress under TCG
	qemu=(qemu-system-x86_64 -m 1G -smp 2 ${native:+-cpu host})
	append="console=ttyS0 $append"
	;;
aarch64)
	# cortex-a57: -cpu max emulates pointer authentication, ~3x slower under TCG
	qemu=(qemu-system-aarch64 -M virt -m 1G -smp 2 -cpu "$([ -n "$native" ] && echo host || echo cortex-a57)")
	append="console=ttyAMA0 $append"
	;;
esac
# KVM where the host has it, TCG otherwise. x86 guests get single-threaded
# TCG: under multi-threaded TCG the 6.12 guest died in its own text patching
# (Oops: int3 in __schedule, cross-modifying code racing another vCPU thread),
# at boot and after tests had started. arm64 guests keep one thread per vCPU.
tcg_threads=multi
[ "$arch" = x86_64 ] && tcg_threads=single
qemu+=(-accel kvm -accel "tcg,thread=$tcg_threads" -kernel "$kdir/image" -initrd "$work/initramfs.gz"
	-append "$append" -nographic -nodefaults -no-reboot -serial stdio)

echo "vmtest: $arch $release ($(cat "$kdir/package")), guest $guest, timeout ${timeout_s}s"
log=$work/console.log
boot_vm() {
	t_boot=$SECONDS
	timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 | tr -d '\r' | tee "$log" |
		awk '/^@@ (PASS|FAIL|COST|SKIP|STACK|SITE|ALLOC)/ {printf "  %s\n", substr($0, 4); fflush()}
		     /^@@\| / {printf "      | %s\n", substr($0, 5); fflush()}'
	qrc=${PIPESTATUS[0]}
	t_run=$((SECONDS - t_boot))
}
boot_vm
# The guest kernel crashing before our init ran is the emulator's fault, not
# the code under test: seen once in CI, 6.12 under multi-threaded TCG, an int3
# Oops in boot-time code patching at 1.4 s. Boot once more, visibly; a second
# crash fails. A crash after "@@ BOOT" is never retried.
if ! grep -aq '^@@ BOOT ' "$log" && grep -aqE 'Kernel panic|Oops|BUG:' "$log"; then
	echo "vmtest: $arch $release: the guest kernel crashed while booting, before any test ran; booting once more. First lines of the crash:"
	grep -aE -m1 -A8 'Oops|BUG:|Kernel panic' "$log" | sed 's/^/      | /'
	cp "$log" "$work/console-crashed-boot.log"
	boot_vm
fi
summary=$(grep -a '^@@ SUMMARY ' "$log" | tail -n1 | sed 's/^@@ SUMMARY //')
boot=$(grep -a '^@@ BOOT ' "$log" | awk '{print $3}')
{
	echo "arch $arch"
	echo "kernel $release"
	echo "package $(cat "$kdir/package")"
	echo "boot_to_init_s ${boot:-?}"
	echo "vm_wall_s $t_run"
	echo "fetch_s $t_fetch"
	grep -a '^@@ \(PASS\|FAIL\|COST\|FEATURE\|STACK\|SITE\|ALLOC\)' "$log" | sed 's/^@@ //'
	echo "summary ${summary:-none}"
} >"$work/results.txt"
cp "$work/results.txt" "$B/vm/results-$arch-$release.txt"

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "FAIL  vmtest $arch $release: timed out after ${timeout_s}s (log: $log)"
	tail -n 20 "$log" | sed 's/^/      | /'
	exit 1
fi
if [ -z "$summary" ]; then
	echo "FAIL  vmtest $arch $release: the guest printed no summary (qemu exit $qrc; log: $log)"
	grep -aE -m1 -A8 'Oops|BUG:|Kernel panic' "$log" | sed 's/^/      | /'
	tail -n 20 "$log" | sed 's/^/      | /'
	exit 1
fi
passed=$(echo "$summary" | awk '{print $1}')
failed=$(echo "$summary" | awk '{print $3}')
echo "vmtest: $arch $release: $summary (boot ${boot:-?} s, VM ${t_run} s, fetch ${t_fetch} s)"
[ "$failed" = 0 ] && [ "${passed:-0}" -gt 0 ]
