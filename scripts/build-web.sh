#!/usr/bin/env bash
# Build the dashboard's JavaScript islands (web/static/dist) and install the browser-test
# driver (tests/e2e/node_modules). Offline after the first npm install; idempotent: it
# rebuilds only when a source, the lock file or the build script is newer than the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {  # install(dir): npm ci when node_modules is missing or older than the lock file
  local dir=$1
  if [[ ! -d $dir/node_modules || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

install web/frontend
install tests/e2e
bundle=web/static/dist/mindmap.js
if [[ ! -f $bundle ]] || [[ -n $(find web/frontend/src web/frontend/build.mjs web/frontend/package-lock.json -newer "$bundle" 2>/dev/null | head -1) ]]; then
  node web/frontend/build.mjs
fi
