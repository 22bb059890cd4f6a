#!/usr/bin/env bash
# The cross-process IPC unit tests at a larger scale than the valgrind-sized
# default: tens of millions of messages between processes, in order, none lost.
set -u
B=${B:-build}
T=$B/tests/unit/test_ipc
[ -x "$T" ] || {
	echo "FAIL $T not built"
	exit 1
}
KAOS_TEST_SCALE=${KAOS_TEST_SCALE:-20} "$T"
