#!/usr/bin/env bash
# Task placement throughput: 5,000 simulated container instances, 1,000
# services of 100 tasks each (100,000 placements), binpack(memory) and
# spread(attribute:ecs.availability-zone) + spread(instanceId), through
# `place()` (one stateless call per service, as the control plane calls it)
# and through one `ClusterView` (as a reconciler placing many services).
# Single-threaded; only the placement calls are timed. Anchor: Nomad's
# million-container run, 3,750 placements/s with five servers; target:
# 10,000/s on one core.
#
#   bench/placement.sh                       # both strategies, both APIs
#   bench/placement.sh --api place --strategy spread --instances 10000
#
# Extra arguments go to the benchmark (later flags win). Each run ends with
# a `RESULT key=value ...` line.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}

echo "building placement_bench (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p dockyard-scheduler --example placement_bench)
exec "$CARGO_TARGET_DIR/release/examples/placement_bench" --strategy both --api both "$@"
