#!/usr/bin/env bash
# A Docker engine for the docker sandbox provider and its tests: Debian's
# docker.io, dockerd started in the background when none answers, and the
# default sandbox image built locally (no registry is reachable here).
# Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/ensure-apt.sh
ensure_apt setup-docker docker.io debootstrap busybox-static

if ! docker info >/dev/null 2>&1; then
  # Only the local engine on its default socket is ours to start; one that DOCKER_HOST names is not.
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "unix:///var/run/docker.sock" ]; then
    echo "setup-docker: no Docker engine answers at DOCKER_HOST=$DOCKER_HOST" >&2
    exit 1
  fi
  echo "setup-docker: starting dockerd"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO sh -c 'nohup dockerd >/var/log/astraforge-dockerd.log 2>&1 &'
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { echo "setup-docker: dockerd did not start; see /var/log/astraforge-dockerd.log" >&2; exit 1; }
fi

bash scripts/build-sandbox-image.sh
