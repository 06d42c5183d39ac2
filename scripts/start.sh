#!/usr/bin/env bash
# The main job: installs what is needed, builds, and starts a real VS Code
# (code-server) on loopback with the AstraForge extension loaded and a
# sample workspace open. The extension starts (or finds) the user's background server
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
# The URL is printed only once code-server answers; a minute of silence, or its exit, is a failure.
answered=""
for _ in $(seq 1 300); do
  # Failure unless an answer says otherwise: node exits 0 when a fetch is left hanging by a closed socket.
  if node -e "process.exitCode=1; fetch('http://127.0.0.1:$PORT/healthz',{signal:AbortSignal.timeout(2000)}).then(r=>{process.exitCode=r.ok?0:1},()=>{})"; then
    answered=yes
    break
  fi
  [ -n "$(jobs -r)" ] || break # code-server exited
  sleep 0.2
done
if [ -z "$answered" ]; then
  echo "start: VS Code (code-server) did not answer on 127.0.0.1:$PORT; the end of its log ($DATA/code-server.log):" >&2
  tail -n 20 "$DATA/code-server.log" >&2
  exit 1
fi

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
