#!/usr/bin/env bash
# Installs a real VS Code that runs here: code-server 4.100.3 (VS Code
# 1.100.3, the last line on Node 20) from npm, plus Debian's Chromium for
# the browser tests. @vscode/test-electron's download of VS Code cannot
# work on these machines, so the extension's tests run in code-server.
# Cached in .tools/code-server; safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.100.3
DIR=.tools/code-server
STAMP=$DIR/.installed-$VERSION

. scripts/lib/ensure-apt.sh
ensure_apt setup-code-server libkrb5-dev ripgrep chromium

# VS Code's built-in TypeScript support needs the TypeScript its extensions
# folder pins (npm-shrinkwrap.json); the npm package leaves it out, and every
# .js or .ts file opened then shows "tsserver was deleted by another
# application". Checked on its own so installs made before this step get it.
install_extension_typescript() {
  local extensions=$DIR/node_modules/code-server/lib/vscode/extensions
  [ -f "$extensions/node_modules/typescript/lib/tsserver.js" ] && return 0
  echo "setup-code-server: installing the TypeScript of VS Code's built-in extensions"
  (cd "$extensions" && npm_config_fund=false npm_config_audit=false npm install --omit=dev --ignore-scripts --loglevel=error >/dev/null)
}

if [ -f "$STAMP" ]; then
  install_extension_typescript
  exit 0
fi
echo "setup-code-server: installing code-server $VERSION (a minute or two, once)"
rm -rf "$DIR" && mkdir -p "$DIR"
cd "$DIR"
echo '{"name":"astraforge-code-server","private":true}' > package.json
export npm_config_yes=true npm_config_loglevel=error npm_config_fund=false npm_config_audit=false
# Its install scripts download prebuilt binaries, which cannot work here: skip them and rebuild what is native.
npm install --ignore-scripts "code-server@$VERSION" >/dev/null
(
  cd node_modules/code-server/lib/vscode
  npm install --omit=dev --ignore-scripts >/dev/null
  mkdir -p node_modules/@vscode/ripgrep/bin
  ln -sf /usr/bin/rg node_modules/@vscode/ripgrep/bin/rg
  npm rebuild kerberos node-pty @parcel/watcher @vscode/spdlog @vscode/deviceid native-watchdog >/dev/null
)
(
  cd node_modules/code-server
  ln -sfn node_modules lib/vscode/node_modules.asar
  # The npm package ships only the macOS wrapper of the terminal `code` CLI; it is portable bash.
  ln -sf code-darwin.sh lib/vscode/bin/remote-cli/code-linux.sh
  ln -sf code-linux.sh lib/vscode/bin/remote-cli/code-server
  ln -sf browser-linux.sh lib/vscode/bin/helpers/browser.sh
)
npm rebuild argon2 >/dev/null
cd ../..
install_extension_typescript
touch "$STAMP"
echo "setup-code-server: done"
