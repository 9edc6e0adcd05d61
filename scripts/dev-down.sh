#!/usr/bin/env bash
# Stop the development PostgreSQL and Redis started by dev-up.sh.
#   scripts/dev-down.sh          stop them, keep their data (named volumes)
#   scripts/dev-down.sh --purge  stop them and delete their data
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null 2>&1; then
  echo "error: docker is not installed" >&2
  exit 1
fi

if [ "${1:-}" = "--purge" ]; then
  docker compose down --volumes --remove-orphans
else
  docker compose stop postgres redis
fi
