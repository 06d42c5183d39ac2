#!/usr/bin/env bash
# The main job: installs what is needed, builds, and starts a real VS Code
# (code-server) on loopback with the AstraForge extension loaded and a
# sample workspace open. The extension starts its embedded companion server
# itself. Prints the URL to open; Ctrl+C stops everything.
#
# The model provider comes from the environment (or later from the
# extension's settings and "AstraForge: Set Model API Key"):
#   ASTRAFORGE_MODEL_BASE_URL, ASTRAFORGE_MODEL_API_KEY, ASTRAFORGE_MODEL
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup-code-server.sh

DATA=${ASTRAFORGE_DATA_DIR:-$PWD/.data}
PORT=${ASTRAFORGE_VSCODE_PORT:-8080}
WORKSPACE=$DATA/sample-workspace
USER_DATA=$DATA/code-server/user-data
mkdir -p "$USER_DATA/User" "$DATA/code-server/extensions"
[ -d "$WORKSPACE" ] || cp -r test/fixtures/sample-workspace "$WORKSPACE"
[ -f "$USER_DATA/User/settings.json" ] || cat > "$USER_DATA/User/settings.json" <<'JSON'
{
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "git.openRepositoryInParentFolders": "never"
}
JSON

remote="vscode-remote://127.0.0.1:$PORT"
payload=$(node -e 'console.log(encodeURIComponent(JSON.stringify([["extensionDevelopmentPath", process.argv[1]]])))' "$remote$PWD")
folder=$(node -e 'console.log(encodeURIComponent(process.argv[1]))' "$WORKSPACE")
URL="http://127.0.0.1:$PORT/?folder=$folder&payload=$payload"

node .tools/code-server/node_modules/code-server/out/node/entry.js \
  --auth none --bind-addr "127.0.0.1:$PORT" \
  --user-data-dir "$USER_DATA" --extensions-dir "$DATA/code-server/extensions" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  "$WORKSPACE" > "$DATA/code-server.log" 2>&1 &
vscode=$!
trap 'kill $vscode 2>/dev/null; wait $vscode 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 300); do
  node -e "fetch('http://127.0.0.1:$PORT/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" && break
  sleep 0.2
done

cat <<MSG

AstraForge in VS Code (code-server), with the sample workspace:

  $URL

Open it in a browser on this machine (or tunnel port $PORT). The extension
starts its own sandbox server; see "AstraForge: Show Server Log".
Models: ${ASTRAFORGE_MODEL_BASE_URL:-none configured; the command agent works without one}
VS Code log: $DATA/code-server.log
Stop with Ctrl+C.
MSG
wait $vscode
