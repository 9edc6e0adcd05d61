#!/usr/bin/env bash
# Shared names and the exact Helm invocation of the local (kind) deployment.
# Sourced by scripts/kind-*.sh and by scripts/validate-deploy.sh, so the manifests the
# offline validation checks are the ones `make kind-deploy` installs.
# shellcheck disable=SC2034  # variables are used by the scripts that source this file

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CLUSTER="${KIND_CLUSTER:-mindhit}"
NAMESPACE="${NAMESPACE:-mindhit}"
RELEASE="${RELEASE:-mindhit}"
IMAGE="${IMAGE:-mindhit:local}"
CHART="$ROOT/charts/mindhit"
HOST_HTTP_PORT="${HOST_HTTP_PORT:-8080}"

# Arguments shared by `helm upgrade --install` (kind-deploy) and `helm template` (render).
HELM_LOCAL_ARGS=(
  "$RELEASE" "$CHART"
  --namespace "$NAMESPACE"
  --values "$CHART/values-local.yaml"
  --set "image.repository=${IMAGE%:*}"
  --set "image.tag=${IMAGE##*:}"
)

need() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "error: '$tool' is not installed (see README, section Deploy)" >&2
      exit 1
    fi
  done
}
