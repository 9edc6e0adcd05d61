#!/usr/bin/env bash
# Delete the local kind cluster (and with it everything deployed on it).
set -euo pipefail
# shellcheck source=scripts/kind-lib.sh
. "$(dirname "$0")/kind-lib.sh"
need kind

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  kind delete cluster --name "$KIND_CLUSTER"
else
  echo "no kind cluster named '$KIND_CLUSTER'"
fi
