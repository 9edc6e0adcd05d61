#!/usr/bin/env bash
# Install or upgrade the MindHit chart on the kind cluster with values-local.yaml
# (in-cluster PostgreSQL and Redis).
#   scripts/kind-deploy.sh           install/upgrade and wait until everything is ready
#   scripts/kind-deploy.sh --render  print the manifests that would be installed
#                                    (what scripts/validate-deploy.sh checks offline)
set -euo pipefail
# shellcheck source=scripts/kind-lib.sh
. "$(dirname "$0")/kind-lib.sh"
HELM="${HELM:-helm}"

if [ "${1:-}" = "--render" ]; then
  exec "$HELM" template "${HELM_LOCAL_ARGS[@]}"
fi

need kubectl "$HELM"
kubectl config use-context "kind-$KIND_CLUSTER"
# No --wait: on a first install Helm would wait for pods that need the schema before
# running the post-install migration hook (values-local.yaml creates the database in the
# same release). Helm still waits for the hook Job; the rollout is awaited afterwards.
"$HELM" upgrade --install "${HELM_LOCAL_ARGS[@]}" --create-namespace --timeout 10m
kubectl -n "$NAMESPACE" rollout status statefulset --timeout=300s
kubectl -n "$NAMESPACE" rollout status deployment --timeout=300s
"$HELM" test "$RELEASE" --namespace "$NAMESPACE" --logs  # every Service answers /readyz
echo "MindHit is up: http://mindhit.localtest.me:${HOST_HTTP_PORT}"
