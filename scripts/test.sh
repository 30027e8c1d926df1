#!/usr/bin/env bash
# Runs Dockyard's whole test suite: formatting, lints, unit tests and the
# privileged integration tests (real containers, mounts, cgroups, bridges).
# Run as root; DOCKYARD_REQUIRE_ROOT=1 makes a privileged test fail instead
# of skipping when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# A run killed mid-test (not one that failed: tests clean up then) leaves
# containers behind; they are not this run's.
bash scripts/check-leftovers.sh --clean
# Two test threads: the privileged tests start real containers and the
# machine this runs on has two cores.
cargo test --workspace --locked -- --test-threads=2
# The privileged tests must clean up after themselves, even when they fail.
bash scripts/check-leftovers.sh
