#!/usr/bin/env bash
# Placements per second: 5,000 simulated container instances, 1,000
# services of 100 tasks (100,000 tasks), binpack then spread, one core.
# Compared with Nomad's published 3,750/s (five servers) and the 10,000/s
# target. Extra arguments go to the bench (--instances, --services,
# --tasks, --strategy, --seed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}"
cargo build --release -q -p dockyard-scheduler --example placement_bench
exec taskset -c 0 "$CARGO_TARGET_DIR/release/examples/placement_bench" "$@"
