#!/usr/bin/env bash
# Builds the default sandbox image, astraforge-sandbox:bookworm, from
# Debian's packages (bash, git, coreutils, python3, nodejs) with debootstrap,
# since no image registry is reachable. The root filesystem tarball is
# cached outside the checkout, keyed by this script's hash, so a new clone
# (and CI) imports it in seconds instead of bootstrapping again.
# Safe to run twice; `--force` rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${ASTRAFORGE_SANDBOX_IMAGE:-astraforge-sandbox:bookworm}
PACKAGES=bash,git,coreutils,python3,nodejs,ca-certificates,procps
MIRROR=${ASTRAFORGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${ASTRAFORGE_CACHE_DIR:-/var/cache/astraforge}
key=$(sha256sum "$0" | cut -c1-12)
tarball="$CACHE/sandbox-rootfs-$key.tar"

if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1 \
  && [ "$(docker image inspect -f '{{ index .Config.Labels "astraforge.recipe" }}' "$IMAGE")" = "$key" ]; then
  exit 0
fi

if [ ! -f "$tarball" ] || [ "${1:-}" = "--force" ]; then
  echo "setup-docker: building the sandbox image's root filesystem with debootstrap (a few minutes, once)"
  mkdir -p "$CACHE"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
  # No package cache or logs in the image.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
  tar -C "$root" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi

echo "setup-docker: importing $IMAGE"
docker import --change "LABEL astraforge.recipe=$key" --change 'CMD ["/bin/sh"]' "$tarball" "$IMAGE" >/dev/null
