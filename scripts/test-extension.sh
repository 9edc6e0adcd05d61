#!/usr/bin/env bash
# The browser extension's checks: install, generated types in sync with schema/,
# lint, typecheck, build (extension/dist, loaded by the e2e test), unit tests.
set -euo pipefail
cd "$(dirname "$0")/../extension"
VENV=${VENV:-.venv}
export MINDHIT_BIN="${MINDHIT_BIN:-$PWD/../$VENV/bin/mindhit}"

if ! command -v chromium >/dev/null; then  # the e2e test loads the built extension into it
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

echo "== extension: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "== extension: generated types match schema/ (mindhit schema export)"
npm run --silent generate:check
echo "== extension: lint"
npm run --silent lint
echo "== extension: typecheck"
npm run --silent typecheck
echo "== extension: build"
npm run --silent build
echo "== extension: unit tests"
npx vitest run
