#!/usr/bin/env bash
# The main job, for now: build Dockyard, make a small busybox image, load
# it, and run containers from it the way a Docker user would.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dockyard-target}"
cargo build --release --locked -p dockyard
dy="$CARGO_TARGET_DIR/release/dockyard"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/oci.py "$work/busybox.tar" --name docker.io/library/busybox:latest >/dev/null

set -x
"$dy" image load "$work/busybox.tar"
"$dy" images
"$dy" run --rm busybox sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; ip -4 addr show eth0 | grep inet'
"$dy" rm -f dockyard-demo-web >/dev/null 2>&1 || true
"$dy" run -d --name dockyard-demo-web -p 8080:80 --memory 64m busybox \
  sh -c 'echo "<h1>served by a Dockyard container</h1>" > /tmp/index.html; exec httpd -f -p 80 -h /tmp'
sleep 0.3
"$dy" ps
python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/").read().decode())'
"$dy" stop -t 1 dockyard-demo-web
"$dy" rm dockyard-demo-web
