#!/usr/bin/env bash
# make test-fresh: README's two commands on a fresh machine. Builds a minimal
# Debian root with mmdebstrap from this machine's apt sources (and its proxy and
# validity settings), clones HEAD into a 0700 directory inside it (as
# `mktemp -d` makes one), binds /proc, /sys and /dev in, and runs `make run`,
# then `CI=true make test` there as root, printing PASS/FAIL and the time of
# each. Not part of make test: it installs every package and runs every test.
#
#   tests/fresh/fresh.sh [--suite CODENAME]
#
# The root is a mktemp -d folder under $FRESH_DIR (default /var/tmp). It is
# removed after a pass and on Ctrl-C, and left for inspection after a failure.
# The mounts live in a private mount namespace of this script's: they go when
# it ends, however it ends, and never show on the host.
# Logs: $B/fresh/*.log in the work tree. FRESH_TIMEOUT (s, default 3600) per command.
# Exit: 0 both passed, 1 something failed, 2 bad set-up, 130 interrupted.
set -uo pipefail

die() {
	echo "fresh: $*" >&2
	exit 2
}

# ---------------------------------------------------------------- inside the namespace
# inner ROOT LOGDIR REV SUITE: runs in the private mount namespace.
inner() {
	local root=$1 logdir=$2 rev=$3 suite=$4 status=0
	trap 'kill_root_procs "$root"; exit 130' INT TERM
	build_root "$root" "$suite" "$logdir/mmdebstrap.log" || return 1
	mount_binds "$root" || return 1
	local dir
	dir=$(chroot "$root" mktemp -d) || return 1
	git clone -q "$PWD" "$root$dir/kaos" &&
		git -C "$root$dir/kaos" checkout -q "$rev" || return 1
	echo "fresh: clean clone of $rev in $dir/kaos (mode $(stat -c %a "$root$dir"))"
	run_in_root "$root" "$dir/kaos" "make run" "$logdir/make-run.log" make run || status=1
	if [ $status -eq 0 ]; then
		run_in_root "$root" "$dir/kaos" "make test" "$logdir/make-test.log" \
			env CI=true make test || status=1
	fi
	kill_root_procs "$root"
	return $status
}

# The host's Debian apt sources of SUITE (and SUITE-updates, -security) as one-line entries.
mirrors() {
	local suite=$1
	apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
		awk -v s="$suite" '$1 == "deb" && ($3 == s || index($3, s "-") == 1) &&
			!seen[$2 " " $3 " " $4]++ { print "deb " $2 " " $3 " " $4 }'
}

build_root() { # root suite log
	local root=$1 suite=$2 log=$3 t0=$SECONDS src aptconf
	mapfile -t src < <(mirrors "$suite")
	[ ${#src[@]} -gt 0 ] || {
		echo "fresh: this machine's apt sources have no '$suite' suite" >&2
		return 1
	}
	# how this machine reaches its mirrors (proxy, snapshot dates), nothing else
	aptconf=$root.apt.conf
	apt-config dump | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until|Check-Date) ' \
		>"$aptconf" || true
	echo "fresh: building a minimal $suite root in $root from: ${src[*]}"
	# policy-rc.d: services a package ships (prometheus) are not started in a chroot
	local opts=(--variant=minbase --include=ca-certificates,git,make)
	[ -s "$aptconf" ] && opts+=("--aptopt=$aptconf")
	mmdebstrap "${opts[@]}" \
		--customize-hook='printf "#!/bin/sh\nexit 101\n" >"$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"' \
		"$suite" "$root" "${src[@]}" >"$log" 2>&1 || {
		echo "fresh: mmdebstrap failed (log: $log)" >&2
		tail -n 20 "$log" | sed 's/^/      | /' >&2
		return 1
	}
	rm -f "$aptconf"
	cp /etc/resolv.conf "$root/etc/resolv.conf"
	echo "fresh: root built in $((SECONDS - t0)) s ($(du -sm "$root" | cut -f1) MB)"
}

mount_binds() { # root
	local root=$1 d
	# the root a mount point, as / is on a machine: `unshare -m` (test_pipeline_cli's
	# full disk) changes the propagation of / and fails with EINVAL on a plain directory
	mount --bind "$root" "$root" && mount --make-rslave "$root" || return 1
	for d in proc sys dev; do
		mount --rbind "/$d" "$root/$d" && mount --make-rslave "$root/$d" || return 1
	done
	# like a fresh machine: its own /run and /dev/shm, not the host's
	mount -t tmpfs -o mode=755 tmpfs "$root/run" &&
		mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
}

# run_in_root ROOT DIR LABEL LOG CMD...: CMD in DIR inside ROOT, output to the
# terminal and LOG; one PASS/FAIL line with its time.
run_in_root() {
	local root=$1 dir=$2 label=$3 log=$4 t0=$SECONDS rc
	shift 4
	echo "fresh: == $label (log: $log)"
	timeout -k 30 "${FRESH_TIMEOUT:-3600}" chroot "$root" env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -c 'cd "$1" && shift && exec "$@"' - "$dir" "$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	local t=$((SECONDS - t0))
	local verdict=PASS
	[ "$rc" -eq 0 ] || verdict=FAIL
	printf 'fresh: %s  %-10s %dm%02ds%s\n' "$verdict" "$label" $((t / 60)) $((t % 60)) \
		"$([ "$rc" -eq 0 ] || echo "  (exit $rc)")" | tee -a "$(dirname "$log")/verdicts.txt"
	return "$rc"
}

# Processes whose root is ROOT (a test's leftovers, or all of them on Ctrl-C).
kill_root_procs() { # root
	local root=$1 p pids=() sig
	for sig in TERM KILL; do
		pids=()
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
		done
		[ ${#pids[@]} -gt 0 ] || return 0
		[ $sig = TERM ] && echo "fresh: ending ${#pids[@]} process(es) left in the root: ${pids[*]}"
		kill -$sig "${pids[@]}" 2>/dev/null
		sleep 2
	done
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit $?
fi

# ---------------------------------------------------------------- outside
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
while [ $# -gt 0 ]; do
	case $1 in
	--suite) suite=$2; shift ;;
	*) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, mount, chroot): run it with sudo"
for t in mmdebstrap unshare chroot git; do
	command -v $t >/dev/null || die "$t is missing (make test-fresh installs mmdebstrap)"
done
[ -n "$suite" ] || die "cannot tell this machine's Debian codename: pass --suite"
self=$(realpath "$0")
cd "$(dirname "$self")/../.." || exit 2
B=${B:-build}
logdir=$(mkdir -p "$B/fresh" && cd "$B/fresh" && pwd) || die "cannot make $B/fresh"
rm -f "$logdir"/*.log "$logdir/verdicts.txt"
rev=$(git rev-parse HEAD) || die "not in a git clone"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
	echo "fresh: note: uncommitted changes are not tested, only HEAD $rev"
base=${FRESH_DIR:-/var/tmp}
root=$(mktemp -d "$base/kaos-fresh.XXXXXX") || die "cannot make a folder in $base"
root=$(realpath "$root")
chmod 755 "$root"

interrupted=
trap 'interrupted=1' INT TERM
t0=$SECONDS
unshare --mount --propagation slave "$self" --inner "$root" "$logdir" "$rev" "$suite"
rc=$?
[ -n "$interrupted" ] && rc=130
t=$((SECONDS - t0))
if [ $rc -eq 0 ] || [ $rc -eq 130 ]; then
	# the mounts were in the namespace, not here; --one-file-system all the same
	rm -rf --one-file-system "$root" "$root.apt.conf"
	[ $rc -eq 0 ] && echo "fresh: PASS  make run, make test in a fresh $suite root ($((t / 60))m$((t % 60))s in all)"
	[ $rc -eq 130 ] && echo "fresh: interrupted; $root removed"
	exit $rc
fi
echo "fresh: FAIL  ($((t / 60))m$((t % 60))s in all); the root is left for inspection: $root"
echo "fresh: (remove it with: rm -rf --one-file-system $root)"
exit 1
