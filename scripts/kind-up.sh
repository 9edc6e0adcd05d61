#!/usr/bin/env bash
# Create a local kind cluster for MindHit with an NGINX ingress controller.
# The ingress answers on http://mindhit.localtest.me:${HOST_HTTP_PORT} (default 8080).
set -euo pipefail
# shellcheck source=scripts/kind-lib.sh
. "$(dirname "$0")/kind-lib.sh"
need kind kubectl

if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
  echo "kind cluster '$KIND_CLUSTER' already exists"
else
  kind create cluster --name "$KIND_CLUSTER" --wait 120s --config - <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    kubeadmConfigPatches:
      - |
        kind: InitConfiguration
        nodeRegistration:
          kubeletExtraArgs:
            node-labels: "ingress-ready=true"
    extraPortMappings:
      - containerPort: 80
        hostPort: ${HOST_HTTP_PORT}
        listenAddress: "127.0.0.1"
        protocol: TCP
YAML
fi

kubectl config use-context "kind-$KIND_CLUSTER"
INGRESS_NGINX_VERSION="${INGRESS_NGINX_VERSION:-controller-v1.12.1}"
kubectl apply -f "https://raw.githubusercontent.com/kubernetes/ingress-nginx/${INGRESS_NGINX_VERSION}/deploy/static/provider/kind/deploy.yaml"
kubectl -n ingress-nginx wait --for=condition=Ready pod \
  --selector=app.kubernetes.io/component=controller --timeout=180s
echo "cluster ready; next: make kind-build kind-deploy"
