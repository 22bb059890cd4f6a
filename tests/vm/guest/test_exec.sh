# A command that execs itself (same pid): two process images, each with its
# exact count, samples never above it (the exec tracepoint on this kernel).
. "$(dirname "$0")/lib.sh"

"$KT" --sample 1 --ringbuf-size 16M --json "$TMP/exec.json" -- "$BIN/kt_scope" exec 5000 >"$TMP/exec.txt" 2>"$TMP/exec.err" ||
	fail "kaos-trace -- kt_scope exec failed"
f=$TMP/exec.json
expect lost "$(json_top "$f" lost)" 0
expect send.ops "$(json_ring "$f" scope.img send ops)" "5000 5000"
expect recv.ops "$(json_ring "$f" scope.img recv ops)" "5000 5000"
expect send.samples "$(json_ring "$f" scope.img send samples)" "5000 5000"
expect images "$(json_final "$f" | grep -o '"exec":[0-9]*' | sort | tr '\n' ' ')" '"exec":0 "exec":1 '
echo "PASS: exec splits the process into two images of exact counts"
