#!/usr/bin/env bash
# Build the MindHit image and load it into the kind cluster (no registry needed).
set -euo pipefail
# shellcheck source=scripts/kind-lib.sh
. "$(dirname "$0")/kind-lib.sh"
need docker kind

docker build --tag "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$KIND_CLUSTER"
echo "loaded $IMAGE into kind cluster '$KIND_CLUSTER'"
