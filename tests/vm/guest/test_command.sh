# kaos-trace -- COMMAND: traced from its first operation, exact counts.
. "$(dirname "$0")/lib.sh"

"$KT" --sample 1 --json "$TMP/cmd.json" -- "$WORK" --msgs 5000 --bp 5 >"$TMP/cmd.txt" 2>"$TMP/cmd.err" ||
	fail "kaos-trace -- COMMAND failed"
f=$TMP/cmd.json
expect lost "$(json_top "$f" lost)" 0
expect send.ops "$(json_ring "$f" work.0 send ops)" 5000
expect recv.ops "$(json_ring "$f" work.0 recv ops)" 5000
expect backpressure.ops "$(json_ring "$f" work.bp backpressure ops)" 5
echo "PASS: command traced from its start"
