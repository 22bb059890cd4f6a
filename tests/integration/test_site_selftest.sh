#!/usr/bin/env bash
# kaos-trace's combined-site self-test (user/engine/kt_features.c) must catch an
# unsafe fast path, or its "+1 only if safe" means nothing. +1 cannot be
# probed on this kernel (6.18 refuses the 10-byte nop), so the checks are run
# on the one unsafe site known: a plain 5-byte nop, which 6.18 turns into a
# CALL into a per-process trampoline mapping (FACTS.md, the fork hazard).
# A harness built here against libkt.a runs
#   the real self-test: it must run and report, and choose +0 here;
#   the same checks with a nop5 as "+1": where the kernel optimises nop5
#   (6.18: measured by the same self-test), the grandchild forked after the
#   hits must die with SIGSEGV, red-zone data must be corrupted, and the
#   choice must be +0 with the reason; elsewhere the child must live.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(uname -m)" = x86_64 ] || {
	echo "not applicable: $(uname -m) has no combined site (one nop, emulated)"
	exit 0
}
[ -e "$B/libkt.a" ] && [ -e "$B/libkaos.a" ] || fail "$B/libkt.a or libkaos.a missing (run make)"
[ "$(id -u)" = 0 ] || fail "must run as root (perf uprobe events)"

cat >"$TMP/harness.c" <<'C'
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include "kt_features.h"

static void show(const char *name, const struct kt_features *f)
{
	char line[256];

	kt_features_site_line(f, line, sizeof(line));
	printf("%s tested=%d at1_err=%d fork=%s%d redzone_bad=%u nop5=%s site_at=%d line=%s\n",
	       name, f->site_tested, f->at1_err,
	       WIFSIGNALED(f->at1_fork_status) ? "signal" : "exit",
	       WIFSIGNALED(f->at1_fork_status) ? WTERMSIG(f->at1_fork_status)
					       : WEXITSTATUS(f->at1_fork_status),
	       f->at1_redzone_bad, kt_nop5_name(f->nop5), f->site_at, line);
}

int main(void)
{
	struct kt_features f;

	kt_features_probe(&f, KT_PROBE_SITES | KT_PROBE_ALL);
	show("combined", &f);
	kt_features_test_nop5_as_at1(&f);
	show("nop5", &f);
	return 0;
}
C
${CC:-gcc} -O2 -D_GNU_SOURCE -Iuser/engine -Iinclude "$TMP/harness.c" -o "$TMP/harness" \
	"$B/libkt.a" "$B/libkaos.a" -lbpf -lpfm -lelf -lz -lm -pthread || fail "cannot build the harness"
"$TMP/harness" >"$TMP/harness.txt" || fail "harness failed: $(cat "$TMP/harness.txt")"
cat "$TMP/harness.txt"
combined=$(grep '^combined ' "$TMP/harness.txt")
nop5=$(grep '^nop5 ' "$TMP/harness.txt")

[[ $combined == *" tested=1 "* ]] || fail "the self-test did not run or report: $combined"
[[ $combined == *" site_at=0 "* ]] || fail "the self-test chose +1 on $(uname -r): $combined"
[[ $nop5 == *" tested=1 at1_err=0 "* ]] || fail "nop5 as +1: not probed: $nop5"
if [[ $nop5 == *" nop5=optimised "* ]]; then
	[[ $nop5 == *" fork=signal11 "* ]] || fail "the fork check missed the nop5 hazard: $nop5"
	[[ $nop5 != *" redzone_bad=0 "* ]] || fail "the red-zone check missed the nop5 CALL: $nop5"
	[[ $nop5 == *" site_at=0 "* && $nop5 == *"did not exit normally (signal 11)"* ]] ||
		fail "nop5 as +1: not refused with the reason: $nop5"
	echo "ok: the self-test's fork and red-zone checks catch the 6.18 nop5 hazard"
else
	[[ $nop5 == *" fork=exit0 "* ]] || fail "a child forked after nop5 hits died: $nop5"
	echo "ok: this kernel does not optimise nop5; its forked child lives"
fi
echo "PASS: the site self-test runs, chooses +0 here and catches an unsafe site"
