#!/usr/bin/env bash
# Start PostgreSQL 16 and Redis 7 from compose.yaml for development on the host, then
# print the settings that point MindHit at them (`make up` also finds them by itself on
# 127.0.0.1:5432 / :6379 when those ports are the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker >/dev/null 2>&1; then
  echo "error: docker is not installed (see README, section Deploy)" >&2
  exit 1
fi

docker compose up --detach --wait postgres redis
pg_port="${POSTGRES_HOST_PORT:-5432}"
redis_port="${REDIS_HOST_PORT:-6379}"
cat <<ENV
PostgreSQL and Redis are up. To use them:
  export MINDHIT_DATABASE_URL=postgresql://mindhit:${POSTGRES_PASSWORD:-mindhit}@127.0.0.1:${pg_port}/mindhit
  export MINDHIT_REDIS_URL=redis://127.0.0.1:${redis_port}/0
  make up
ENV
