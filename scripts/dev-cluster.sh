#!/usr/bin/env bash
# A Kubernetes cluster double for development and tests, on loopback: an API
# server double serving agent-sandbox's kinds, and a controller double that
# turns SandboxClaims into "pods" (af-runner in bubblewrap, each on its own
# 127.x address), with the namespace "astraforge" holding the templates and
# warm pools of server/deploy/kubernetes. Prints one line, KUBECONFIG=<path>,
# once the API answers, and runs until SIGTERM or SIGINT, then stops all it
# started. Then:  KUBECONFIG=<path> node server/dist/main.js --sandbox kubernetes
# ASTRAFORGE_DEV_CLUSTER_WARM=N sets every warm pool's size (0: cold starts).
# ASTRAFORGE_DEV_CLUSTER_ROUTER=1 also starts agent-sandbox's router double and
# prints ASTRAFORGE_KUBERNETES_ROUTER_URL=<url> after the KUBECONFIG line.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v bwrap >/dev/null || { echo "dev-cluster: bubblewrap is missing (apt-get install -y bubblewrap)" >&2; exit 1; }
[ -x server/dist/af-runner ] || node scripts/build.mjs --server-only >&2
exec node --import tsx test/helpers/kube/devClusterMain.ts
