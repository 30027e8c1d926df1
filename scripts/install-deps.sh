#!/usr/bin/env bash
# Installs what Dockyard needs from Debian, idempotently. Safe to run again.
set -euo pipefail

# Build: libseccomp for the container seccomp filter, pkg-config to find it.
# Tests: busybox-static (test images), iproute2/nftables/iptables (network checks).
# Benchmarks: runc and podman (peers), hyperfine; for the registry bench
# docker-registry (CNCF distribution) and nginx-light (peers), wrk (load).
# python3: Debian's interpreter, copied into a test image that runs boto3.
# awscli: Debian's is the AWS CLI v2 (/usr/bin/aws), which has `aws logs
# tail`; PyPI's awscli (v1, first on PATH where pip installs it) has not.
PKGS=(
  pkg-config libseccomp-dev libsystemd-dev libdbus-1-dev
  busybox-static iproute2 nftables iptables python3 awscli
  runc podman skopeo hyperfine
  docker-registry nginx-light wrk
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Real clients for the end-to-end tests (PyPI): the AWS CLI and SDK, oras;
# moto's server is the ECS benchmark's peer; ecs-deploy deploys to services.
if ! python3 -c 'import awscli, boto3, oras, moto, ecs_deploy' >/dev/null 2>&1; then
  python3 -m pip install --quiet awscli boto3 oras 'moto[server]' ecs-deploy
fi
