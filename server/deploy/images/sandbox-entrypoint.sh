#!/bin/sh
# The sandbox pod's entrypoint: agent-sandbox's runtime HTTP API on port 8888
# (runtime_api.py, for the agent-sandbox Python client) in the background,
# then af-runner as the pod's first process, serving the AstraForge server
# over TCP (its arguments come from the SandboxTemplate). The runner reaps
# the API server like any other orphan.
if [ -n "${AF_RUNTIME_API_PORT:-8888}" ] && [ "${AF_RUNTIME_API_PORT:-8888}" != 0 ] && command -v python3 >/dev/null; then
  python3 /opt/astraforge/bin/runtime_api.py "${AF_RUNTIME_API_PORT:-8888}" </dev/null >/dev/null 2>&1 &
fi
exec /opt/astraforge/bin/af-runner "$@"
