#!/usr/bin/env bash
# kaos-pipeline end to end: byte-exact round trips, damaged and foreign input
# refused, unreadable input, write errors, bad arguments (exit 2), and user
# data never destroyed: an existing OUT is kept without --force and on every
# failure (bad input, directory input, SIGINT/SIGTERM mid-compress, a full
# disk), a symlinked OUT is never written through, nothing partial is left.
set -u
B=${B:-build}
P=$B/kaos-pipeline
T=$(mktemp -d /tmp/kp-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0

ok() { echo "ok   $*"; }
bad() {
	echo "FAIL $*"
	fails=$((fails + 1))
}

[ -x "$P" ] || {
	echo "FAIL $P not built"
	exit 1
}

# ---------------------------------------------------------------- inputs
head -c 0 /dev/null >"$T/empty"
printf 'x' >"$T/one"
head -c 4095 /dev/urandom >"$T/c-1"
head -c 4096 /dev/urandom >"$T/c"
head -c 4097 /dev/urandom >"$T/c+1"
head -c 3000000 /dev/urandom >"$T/random"
# compressible text-like data, a few MB
awk 'BEGIN { srand(42); for (i = 0; i < 120000; i++) { n = int(rand() * 12) + 3;
	line = ""; for (k = 0; k < n; k++) line = line sprintf("w%d ", int(rand() * 900));
	print line } }' >"$T/text"

# roundtrip NAME ARGS...: compress with ARGS, decompress, compare
roundtrip() {
	local f=$1
	shift
	rm -f "$T/$f.kpz" "$T/$f.out"
	if ! "$P" compress "$T/$f" "$T/$f.kpz" "$@" 2>"$T/err"; then
		bad "compress $f $* ($(cat "$T/err"))"
		return
	fi
	if ! "$P" decompress "$T/$f.kpz" "$T/$f.out" --workers 3 2>"$T/err"; then
		bad "decompress $f $* ($(cat "$T/err"))"
		return
	fi
	if cmp -s "$T/$f" "$T/$f.out"; then
		ok "roundtrip $f $*"
	else
		bad "roundtrip $f $*: output differs"
	fi
}

for f in empty one c-1 c c+1; do
	roundtrip "$f" --chunk-size 4096 --workers 2
done
roundtrip random --chunk-size 64k --workers 4 --level 1
roundtrip c+1 --chunk-size 1 --workers 2
roundtrip text --level 0 --chunk-size 1m
roundtrip text --workers 2 --chunk-size=100000 --level=9
roundtrip text --workers 1

# the text actually got smaller
if [ "$(stat -c %s "$T/text.kpz")" -lt "$(($(stat -c %s "$T/text") / 2))" ]; then
	ok "text compresses"
else
	bad "text did not compress: $(stat -c %s "$T/text.kpz") bytes"
fi

# a regular file is mapped, a pipe is read: the same bytes make the same output
"$P" compress "$T/text" "$T/mapped.kpz" --chunk-size 64k 2>"$T/err" || bad "compress mapped ($(cat "$T/err"))"
cat "$T/text" | "$P" compress - "$T/piped.kpz" --chunk-size 64k 2>"$T/err" ||
	bad "compress piped ($(cat "$T/err"))"
if cmp -s "$T/mapped.kpz" "$T/piped.kpz"; then
	ok "mapped and read input give the same output"
else
	bad "mapped and read input give different output"
fi
# stdin already read from: only the rest is compressed (not mapped from byte 0)
{
	dd bs=100 count=1 of=/dev/null status=none
	"$P" compress - "$T/rest.kpz" --chunk-size 64k
} <"$T/text" 2>"$T/err" || bad "compress rest of stdin ($(cat "$T/err"))"
if "$P" decompress "$T/rest.kpz" - 2>"$T/err" | cmp -s - <(tail -c +101 "$T/text"); then
	ok "stdin at an offset: the rest of it"
else
	bad "stdin at an offset ($(cat "$T/err"))"
fi

# stdin/stdout
if "$P" compress - - --chunk-size 8192 <"$T/text" 2>"$T/err" | "$P" decompress - - 2>>"$T/err" |
	cmp -s - "$T/text"; then
	ok "stdin/stdout pipe"
else
	bad "stdin/stdout pipe ($(cat "$T/err"))"
fi

# ---------------------------------------------------------------- refusals
# refuse CMD... : must exit non-zero with one line on stderr naming the program
refuse() {
	local what=$1 want=$2
	shift 2
	"$@" >/dev/null 2>"$T/err"
	local rc=$?
	local lines
	lines=$(wc -l <"$T/err")
	if [ "$rc" -ne 0 ] && { [ "$want" = any ] || [ "$rc" -eq "$want" ]; } && [ "$lines" -eq 1 ] &&
		grep -q '^kaos-pipeline: ' "$T/err"; then
		ok "$what -> exit $rc: $(cat "$T/err")"
	else
		bad "$what: exit $rc, stderr: $(cat "$T/err")"
	fi
}

good=$T/text.kpz
size=$(stat -c %s "$good")

# flip one byte at OFFSET of a copy
flip() {
	cp "$good" "$T/dmg"
	local byte
	byte=$(od -An -tu1 -j "$1" -N1 "$T/dmg" | tr -d ' ')
	printf "$(printf '\\%03o' $(((byte ^ 0x40) & 255)))" |
		dd of="$T/dmg" bs=1 seek="$1" conv=notrunc status=none
}

flip $((size / 2))
refuse "flipped byte in compressed data" 1 "$P" decompress "$T/dmg" "$T/dmg.out"
[ -e "$T/dmg.out" ] && bad "partial output left behind" || ok "no partial output"
flip 40 # inside the first frame header
refuse "flipped byte in a frame header" 1 "$P" decompress "$T/dmg" "$T/dmg.out"
flip 5 # file magic
refuse "flipped byte in the magic" 1 "$P" decompress "$T/dmg" "$T/dmg.out"
flip 17 # chunk size field
refuse "flipped byte in the file header" 1 "$P" decompress "$T/dmg" "$T/dmg.out"
flip $((size - 10)) # end marker
refuse "flipped byte in the end marker" 1 "$P" decompress "$T/dmg" "$T/dmg.out"
head -c $((size - 32)) "$good" >"$T/trunc"
refuse "end marker cut off" 1 "$P" decompress "$T/trunc" "$T/dmg.out"
head -c $((size / 3)) "$good" >"$T/trunc"
refuse "truncated mid-chunk" 1 "$P" decompress "$T/trunc" "$T/dmg.out"
head -c 20 "$good" >"$T/trunc"
refuse "truncated header" 1 "$P" decompress "$T/trunc" "$T/dmg.out"
{ cat "$good"; printf 'junk'; } >"$T/trail"
refuse "trailing data" 1 "$P" decompress "$T/trail" "$T/dmg.out"
refuse "foreign file (random)" 1 "$P" decompress "$T/random" "$T/dmg.out"
gzip -c "$T/one" >"$T/one.gz"
refuse "foreign file (gzip)" 1 "$P" decompress "$T/one.gz" "$T/dmg.out"
refuse "empty file" 1 "$P" decompress "$T/empty" "$T/dmg.out"
# two valid files glued: the first end marker is followed by data
cat "$T/one.kpz" "$T/one.kpz" >"$T/glued"
refuse "two files concatenated" 1 "$P" decompress "$T/glued" "$T/dmg.out"

refuse "missing input" 1 "$P" compress "$T/nope" "$T/x"
refuse "directory as input" 1 "$P" compress "$T" "$T/x"
refuse "unwritable output directory" 1 "$P" compress "$T/one" "$T/nodir/x"
refuse "same file in and out" 1 "$P" compress "$T/text" "$T/text"
cmp -s "$T/text" "$T/text.out" && ok "input untouched" || bad "input damaged by same-file run"
refuse "compress to /dev/full" 1 "$P" compress "$T/text" /dev/full
grep -q "No space left" "$T/err" && ok "/dev/full error names the cause" ||
	bad "/dev/full message: $(cat "$T/err")"
refuse "decompress to /dev/full" 1 "$P" decompress "$T/text.kpz" /dev/full

# ---------------------------------------------------------------- user data
# no_leftovers DIR WHAT: no temporary file of ours left in DIR
no_leftovers() {
	local left
	left=$(find "$1" -maxdepth 1 -name '.*.kaos-*' | head -n 3)
	[ -z "$left" ] && ok "$2: nothing partial left" || bad "$2: left behind: $left"
}
# intact FILE WHAT: FILE still holds the reference bytes in $T/keep.ref
intact() {
	cmp -s "$1" "$T/keep.ref" && ok "$2: existing file intact" || bad "$2: existing file changed"
}
printf 'precious user data\n' >"$T/keep.ref"
D=$T/ud
mkdir -p "$D"

cp "$T/keep.ref" "$D/out"
refuse "existing OUT without --force" 1 "$P" compress "$T/one" "$D/out"
grep -q 'already exists' "$T/err" || bad "existing OUT message: $(cat "$T/err")"
intact "$D/out" "no --force"
refuse "existing OUT without --force (decompress)" 1 "$P" decompress "$T/one.kpz" "$D/out"
intact "$D/out" "no --force (decompress)"

refuse "foreign input into an existing OUT" 1 "$P" decompress "$T/random" "$D/out" --force
intact "$D/out" "foreign input"
no_leftovers "$D" "foreign input"
refuse "damaged input into an existing OUT" 1 "$P" decompress "$T/dmg" "$D/out" --force
intact "$D/out" "damaged input"
refuse "directory input into an existing OUT" 1 "$P" compress "$T" "$D/out" --force
grep -q 'is a directory' "$T/err" || bad "directory input message: $(cat "$T/err")"
intact "$D/out" "directory input"
no_leftovers "$D" "directory input"
refuse "directory as OUT" 1 "$P" compress "$T/one" "$D" --force

# --force replaces, with the input's permissions (as gzip gives them)
chmod 640 "$T/text"
if "$P" compress "$T/text" "$D/out" --force 2>"$T/err" && "$P" decompress "$D/out" - | cmp -s - "$T/text"; then
	ok "--force replaces OUT"
else
	bad "--force replace ($(cat "$T/err"))"
fi
[ "$(stat -c %a "$D/out")" = 640 ] && ok "OUT has the input's mode" ||
	bad "OUT mode $(stat -c %a "$D/out"), input 640"
chmod 644 "$T/text"
rm -f "$D/new"
(umask 027 && cat "$T/one" | "$P" compress - "$D/new") 2>"$T/err" || bad "compress from stdin ($(cat "$T/err"))"
[ "$(stat -c %a "$D/new")" = 640 ] && ok "OUT from stdin: 0666 less the umask" ||
	bad "OUT from stdin mode $(stat -c %a "$D/new") under umask 027"
no_leftovers "$D" "successful runs"

# a symlinked OUT: never written through; with --force the link itself is replaced
cp "$T/keep.ref" "$D/target"
ln -sfn "$D/target" "$D/link"
refuse "symlinked OUT without --force" 1 "$P" compress "$T/one" "$D/link"
cmp -s "$D/target" "$T/keep.ref" && ok "link target intact" || bad "link target written through"
ln -sfn "$D/missing-target" "$D/dangling"
refuse "dangling symlink OUT without --force" 1 "$P" compress "$T/one" "$D/dangling"
[ -e "$D/missing-target" ] && bad "created the dangling link's target" || ok "dangling link's target not created"
if "$P" compress "$T/one" "$D/link" --force 2>"$T/err" && [ ! -L "$D/link" ] && [ -f "$D/link" ] &&
	cmp -s "$D/target" "$T/keep.ref"; then
	ok "--force replaces the link, not its target"
else
	bad "--force on a symlink ($(cat "$T/err")); link: $(ls -l "$D/link")"
fi

# SIGINT / SIGTERM mid-compress: the input is a FIFO whose writer stays open,
# so the pipeline is certainly mid-stream (output begun, input not ended)
interrupt() {
	local sig=$1 want=$2 fifo=$T/fifo.$1
	mkfifo "$fifo"
	cp "$T/keep.ref" "$D/out"
	# job control on: a background job of a script otherwise starts with SIGINT
	# ignored (and kaos-pipeline, like gzip, keeps an ignored signal ignored)
	set -m
	"$P" compress "$fifo" "$D/out" --force --chunk-size 64k 2>"$T/err" &
	local pid=$!
	set +m
	exec 7<>"$fifo" # read-write: never blocks, even if kaos-pipeline never opens it
	cat "$T/random" >&7 &
	local writer=$!
	local tmp="" i
	for i in $(seq 1 400); do # waits for a state, asserts nothing about time
		tmp=$(find "$D" -maxdepth 1 -name '.out.kaos-*' -size +1k | head -n 1)
		[ -n "$tmp" ] && break
		sleep 0.05
	done
	[ -n "$tmp" ] || bad "SIG$sig: no output begun"
	kill -"$sig" "$pid"
	for i in $(seq 1 400); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$pid" 2>/dev/null && { bad "SIG$sig: still running"; kill -KILL "$pid"; }
	local rc=0
	wait "$pid" || rc=$?
	kill "$writer" 2>/dev/null
	wait "$writer" 2>/dev/null
	exec 7>&-
	[ "$rc" -eq "$want" ] && ok "SIG$sig mid-compress -> exit $rc" || bad "SIG$sig: exit $rc, want $want"
	intact "$D/out" "SIG$sig"
	no_leftovers "$D" "SIG$sig"
	rm -f "$fifo"
}
interrupt INT 130
interrupt TERM 143

# a full disk: a 256 KiB tmpfs in a private mount namespace
if unshare -m true 2>/dev/null; then
	mkdir -p "$T/small"
	unshare -m bash -c '
		mount -t tmpfs -o size=256k kaos-full "$1" || exit 9
		cp "$2" "$1/out"
		"$3" compress "$4" "$1/out" --force --level 0 2>"$5"; echo "rc=$?" >>"$5"
		cmp -s "$1/out" "$2" && echo intact >>"$5"
		"$3" compress "$4" "$1/new" --level 0 2>>"$5"; echo "rc=$?" >>"$5"
		[ -e "$1/new" ] && echo "new exists" >>"$5"
		ls -A "$1" | sed "s/^/file: /" >>"$5"
	' full "$T/small" "$T/keep.ref" "$P" "$T/random" "$T/full.log"
	if grep -q 'No space left' "$T/full.log" && [ "$(grep -c '^rc=1$' "$T/full.log")" -eq 2 ] &&
		grep -q '^intact$' "$T/full.log" && ! grep -q 'new exists' "$T/full.log" && [ "$(grep '^file: ' "$T/full.log")" = "file: out" ]; then
		ok "disk full: exit 1, OUT intact, nothing partial"
	else
		bad "disk full: $(tr '\n' ' ' <"$T/full.log")"
	fi
else
	bad "disk full: cannot make a mount namespace (run as root)"
fi

# stdout: --help and output to a full device fail
"$P" --help >/dev/full 2>"$T/err" && bad "--help to /dev/full exited 0" || ok "--help to /dev/full -> non-zero"
refuse "compress to stdout on /dev/full" 1 sh -c '"$1" compress "$2" - >/dev/full' sh "$P" "$T/text"

# ---------------------------------------------------------------- usage (exit 2)
refuse "no arguments" 2 "$P"
refuse "unknown command" 2 "$P" squash a b
refuse "missing OUT" 2 "$P" compress "$T/one"
refuse "extra argument" 2 "$P" compress "$T/one" "$T/x" "$T/y"
refuse "workers 0" 2 "$P" compress "$T/one" "$T/x" --workers 0
refuse "workers not a number" 2 "$P" compress "$T/one" "$T/x" --workers two
refuse "workers missing value" 2 "$P" compress "$T/one" "$T/x" --workers
refuse "level 10" 2 "$P" compress "$T/one" "$T/x" --level 10
refuse "level -1" 2 "$P" compress "$T/one" "$T/x" --level -1
grep -q -- '--level must be 0..9' "$T/err" || bad "level -1 names the range: $(cat "$T/err")"
refuse "chunk size 0" 2 "$P" compress "$T/one" "$T/x" --chunk-size 0
refuse "chunk size too big" 2 "$P" compress "$T/one" "$T/x" --chunk-size 65m
refuse "chunk size junk" 2 "$P" compress "$T/one" "$T/x" --chunk-size 12q
refuse "level on decompress" 2 "$P" decompress "$T/one.kpz" "$T/x" --level 3
refuse "unknown option" 2 "$P" compress "$T/one" "$T/x" --fast
"$P" --help >/dev/null && ok "--help exits 0" || bad "--help"

echo
if [ $fails -gt 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
