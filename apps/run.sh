#!/usr/bin/env bash
# `make run`: the main job. Until kaos-trace exists this runs the libkaos
# demo workload on its own; with a tracer it runs the workload under it.
set -euo pipefail
B=${B:-build}
MSGS=${KAOS_DEMO_MSGS:-10000000}
if [ -x "$B/kaos-trace" ]; then
	echo "run.sh: kaos-trace present; tracing the demo"
	exec "$B/kaos-trace" -- "$B/kaos-demo" --msgs "$MSGS"
fi
echo "run.sh: kaos-demo, $MSGS messages per ring (set KAOS_DEMO_MSGS to change)"
exec "$B/kaos-demo" --msgs "$MSGS"
