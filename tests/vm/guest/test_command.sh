# kaos-trace -- COMMAND: traced from its first operation, exact counts.
. "$(dirname "$0")/lib.sh"

# Batched, 5,000 messages' 10,000 records come in a burst about the size of
# the default 1 MiB ring: an emulated guest's consumer, slower than the
# traced loop, lost a few hundred. A 16 MiB ring holds them all.
"$KT" --sample 1 --ringbuf-size 16M --json "$TMP/cmd.json" -- "$WORK" --msgs 5000 --bp 5 \
	>"$TMP/cmd.txt" 2>"$TMP/cmd.err" ||
	fail "kaos-trace -- COMMAND failed"
f=$TMP/cmd.json
expect lost "$(json_top "$f" lost)" 0
expect send.ops "$(json_ring "$f" work.0 send ops)" 5000
expect recv.ops "$(json_ring "$f" work.0 recv ops)" 5000
expect backpressure.ops "$(json_ring "$f" work.bp backpressure ops)" 5
echo "PASS: command traced from its start"
