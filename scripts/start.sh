#!/usr/bin/env bash
# The main job: installs what is needed, builds, and starts the companion
# server on loopback, printing its URL and API key.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
DATA_DIR=${ASTRAFORGE_DATA_DIR:-$PWD/.data}
PORT=${ASTRAFORGE_PORT:-8787}
mkdir -p "$DATA_DIR"
node server/dist/main.js --host 127.0.0.1 --port "$PORT" --data-dir "$DATA_DIR" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  node -e "fetch('http://127.0.0.1:$PORT/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" && break
  sleep 0.1
done
if [ -n "${ASTRAFORGE_API_KEY:-}" ]; then key=$ASTRAFORGE_API_KEY; else key=$(cat "$DATA_DIR/api-key"); fi
cat <<MSG

AstraForge server: http://127.0.0.1:$PORT
API key:           $key   (kept in $DATA_DIR/api-key, mode 0600)
OpenAPI:           curl -H "Authorization: Bearer $key" http://127.0.0.1:$PORT/api/openapi.json
Try:               curl -H "Authorization: Bearer $key" -X POST http://127.0.0.1:$PORT/v1/sessions
Stop with Ctrl+C.
MSG
wait $server
