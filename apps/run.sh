#!/usr/bin/env bash
# `make run`: the main job. For now the libkaos demo workload on its own
# (apps/kaos-demo.c); once kaos-trace exists, this is where it wraps the demo.
set -euo pipefail
B=${B:-build}
MSGS=${KAOS_DEMO_MSGS:-10000000}
echo "run.sh: kaos-demo, $MSGS messages per ring (KAOS_DEMO_MSGS changes it)"
exec "$B/kaos-demo" --msgs "$MSGS"
