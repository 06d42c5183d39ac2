#!/usr/bin/env bash
# Installs what AstraForge needs on a Debian/Ubuntu machine; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/ensure-apt.sh
ensure_apt setup bubblewrap git gcc libc6-dev libseccomp-dev socat ripgrep fuse-overlayfs

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.astraforge-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

node scripts/build.mjs
