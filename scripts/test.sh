#!/usr/bin/env bash
# The whole test suite: services, browser, node packages, lint, every test level, deploy checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

./scripts/ensure-services.sh

echo "== lint"
ruff check .
ruff format --check .
mypy schema mindhit ingest processors projector web

./scripts/validate-deploy.sh  # compose, Helm, Terraform, Dockerfile, workflows, shellcheck (offline)

./scripts/test-extension.sh  # browser extension: npm ci, schema drift check, lint, typecheck, build, vitest

./scripts/build-web.sh  # dashboard JS islands (esbuild) and the e2e browser driver (playwright-core)

# one pytest-xdist worker per core (MINDHIT_TEST_WORKERS=N to choose), each with its own
# database, key prefix and ports (tests/support/workers.py); a test file stays on one worker,
# and files are handed out in collection order: those with slow tests first (tests/conftest.py)
WORKERS=(-n "${MINDHIT_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder)

echo "== python tests (unit, integration, e2e)"
python -m pytest "${WORKERS[@]}" "$@"

if [[ $# -eq 0 ]]; then  # the whole suite: the tests marked cluster once more, on Redis Cluster
  echo "== python tests on a real 3-master Redis Cluster (-m cluster)"
  MINDHIT_TEST_REDIS=cluster python -m pytest "${WORKERS[@]}" -m cluster
fi
