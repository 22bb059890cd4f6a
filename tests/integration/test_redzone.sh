#!/usr/bin/env bash
# The red-zone rule of include/kaos/probes.h, checked on the running kernel.
#
# tests/progs/redzone.c (see its comment) runs two variants N times each,
# every call through a probe, and counts calls whose stack values changed:
#   c_stack      plain C, values in its own frame, built by the Makefile with
#                the project's flags (-mno-red-zone): MUST show 0 corruptions
#                while traced. This is the assertion.
#   asm_redzone  control, uses the red zone explicitly via asm: reported only.
# Two twins of the same source, built here, make the result interpretable:
#   red-zone twin  c_stack compiled WITHOUT -mno-red-zone (we pass
#                  -DKAOS_NO_RED_ZONE to get past the header's guard on
#                  purpose): shows that the flag is what protects c_stack.
#                  Reported only (a kernel without the nop5 CALL optimisation
#                  corrupts nothing).
#   nop1 twin      -DKAOS_PROBE_NOP1: the header claims a 1-byte nop is safe
#                  with the red zone, so the asm control MUST show 0 there.
# Every traced run must also show each probe hit exactly N times with
# sum(arg0) == N(N-1)/2, or the run proved nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/bpftrace_lib.sh

B=${B:-build}
N=200000
SUM=$((N * (N - 1) / 2))
PROG=$PWD/$B/tests/progs/redzone

if [ "$(uname -m)" != x86_64 ]; then
	echo "not applicable: $(uname -m) has no red zone below the stack pointer"
	exit 0
fi
[ -x "$PROG" ] || die "$PROG missing: run make first"
bt_require

work=$PWD/$B/tests/redzone
mkdir -p "$work"
CC=${CC:-gcc}
CFLAGS=(-std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude -D_GNU_SOURCE)
"$CC" "${CFLAGS[@]}" -mred-zone -DKAOS_NO_RED_ZONE tests/progs/redzone.c -o "$work/redzone-red-zone" ||
	die "cannot build the red-zone twin"
"$CC" "${CFLAGS[@]}" -mno-red-zone -DKAOS_NO_RED_ZONE -DKAOS_PROBE_NOP1 tests/progs/redzone.c \
	-o "$work/redzone-nop1" || die "cannot build the nop1 twin"

# Untraced, nothing may change: otherwise the harness itself is broken.
"$PROG" "$N" >"$work/untraced.out" || die "$PROG $N failed"
expect_eq "untraced c_stack corrupted" "$(field "$work/untraced.out" c_stack corrupted)" 0
expect_eq "untraced asm_redzone corrupted" "$(field "$work/untraced.out" asm_redzone corrupted)" 0

# run_traced NAME BINARY: traces both probes of BINARY, checks hits and args.
run_traced() {
	local name=$1 bin=$2 out=$work/$1
	bt_run "$out" "usdt:$bin:kaos_redzone:c_stack { @c = count(); @cs = sum(arg0); }
		usdt:$bin:kaos_redzone:asm_redzone { @a = count(); @as = sum(arg0); }" "$bin $N"
	expect_eq "$name c_stack calls" "$(field "$out.out" c_stack calls)" "$N"
	expect_eq "$name c_stack probe hits" "$(bt_map "$out.out" c)" "$N"
	expect_eq "$name c_stack sum(arg0)" "$(bt_map "$out.out" cs)" "$SUM"
	expect_eq "$name asm_redzone probe hits" "$(bt_map "$out.out" a)" "$N"
	expect_eq "$name asm_redzone sum(arg0)" "$(bt_map "$out.out" as)" "$SUM"
}

run_traced project "$PROG"
expect_eq "project build (-mno-red-zone), traced: c_stack corrupted" \
	"$(field "$work/project.out" c_stack corrupted)" 0
ctl=$(field "$work/project.out" asm_redzone corrupted)

run_traced red-zone "$work/redzone-red-zone"
twin=$(field "$work/red-zone.out" c_stack corrupted)

run_traced nop1 "$work/redzone-nop1"
expect_eq "nop1 twin, traced: asm_redzone (red zone in use) corrupted" \
	"$(field "$work/nop1.out" asm_redzone corrupted)" 0

echo
echo "control, asm red-zone data around a traced project-build probe: $ctl of $N calls corrupted"
echo "twin, the same C built without -mno-red-zone, traced: $twin of $N calls corrupted"
if [ "$ctl" = 0 ]; then
	echo "note: the control was not corrupted: this kernel does not turn the traced nop5 into" \
		"a CALL (or the build uses PROBE_NOP=1), so the hazard is absent here"
else
	echo "the hazard is real on $(uname -r); -mno-red-zone kept the project build at 0"
fi
