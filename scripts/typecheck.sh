#!/usr/bin/env bash
# Type-checks each layer with its own tsconfig (see tsconfig.json): the
# contract with no platform types, the server with node, the extension with
# node and vscode, the webview with the DOM, the tests with all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for layer in server/contract server src webview-ui test; do
  npx tsc -p "$layer/tsconfig.json" || { echo "typecheck: $layer failed"; status=1; }
done
exit $status
