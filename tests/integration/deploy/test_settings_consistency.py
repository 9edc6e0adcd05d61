"""Every setting the code reads is configurable in compose, the chart and the README.

An operator configures MindHit only through ``MINDHIT_*`` variables. If the code grows a
setting that compose or the chart does not pass, the deployed system silently runs on
the code default; if a deployment file names a variable the code does not read, the
operator's change silently does nothing. These tests keep the four in step with
``mindhit.settings.env_names()``.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import msgspec
import pytest
import yaml

from mindhit.settings import ENV_PREFIX, Settings, env_names

from .chart import (
    CHART,
    ROOT,
    RenderError,
    compose_config,
    declared_env_names,
    find,
    helm,
    render,
    workloads,
)

pytestmark = pytest.mark.integration

VALUES_FILES = ["values.yaml", "values-local.yaml", "values-dev.yaml", "values-prod.yaml"]
APP_SERVICES = ["migrate", "gateway", "processors", "projector", "web"]
_NAME = re.compile(r"\bMINDHIT_[A-Z0-9_]+\b")
# read by the test harness, CI and build scripts, never by MindHit itself
HARNESS_NAMES = {
    "MINDHIT_TEST_DB",
    "MINDHIT_TEST_KEY_PREFIX",
    "MINDHIT_TEST_REDIS_URL",
    "MINDHIT_TEST_REDIS",  # single or cluster: which Redis the suite's fixture gives
    "MINDHIT_TEST_REDIS_CLUSTER_PORT",  # first of six fixed ports for the test cluster
    "MINDHIT_TEST_PORTS",  # FIRST-LAST: the range free_port() gives test servers ports from
    "MINDHIT_TEST_WORKERS",  # pytest-xdist workers for scripts/test.sh (default: one per core)
    "MINDHIT_TEST_PG_ADMIN_URL",
    "MINDHIT_FAIL_ON_SKIP",
    "MINDHIT_BIN",  # the extension's type generator: which `mindhit` to run
}


def _settings() -> set[str]:
    return set(env_names())


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _mentioned(text: str) -> set[str]:
    return set(_NAME.findall(text))


def _readme_table() -> dict[str, str]:
    rows = re.findall(r"^\| `(MINDHIT_[A-Z0-9_]+)` \| `([^`]*)` \|", _readme(), re.MULTILINE)
    return dict(rows)


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_passes_every_setting_to_each_app_service(service: str) -> None:
    """Each compose service gets exactly the settings the code reads."""
    environment = _compose()["services"][service]["environment"]
    assert set(environment) == _settings(), (
        f"missing: {sorted(_settings() - set(environment))}, "
        f"unknown: {sorted(set(environment) - _settings())}"
    )


def test_compose_defaults_are_valid_settings_that_listen_inside_the_container() -> None:
    """`docker compose up` with no overrides yields settings the code accepts."""
    config = compose_config({})
    for service in APP_SERVICES:
        settings = Settings.from_env(config["services"][service]["environment"])
        for component in ("gateway", "web", "processors", "projector"):
            assert getattr(settings, f"{component}_host") == "0.0.0.0"
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.database_url == "postgresql://mindhit:mindhit@postgres:5432/mindhit"
        assert settings.public_url == "http://localhost:8080"
    published = config["services"]["web"]["ports"][0]
    assert (published["host_ip"], published["published"], published["target"]) == (
        "127.0.0.1",
        "8080",
        8080,
    )


def test_compose_settings_follow_the_shell_environment() -> None:
    """Any setting can be overridden from the shell (or .env) without editing compose.yaml."""
    overrides = {name: f"override-{i}" for i, name in enumerate(sorted(_settings()))}
    config = compose_config(overrides)
    for service in APP_SERVICES:
        environment = config["services"][service]["environment"]
        pinned = {n for n in _settings() if environment[n] != overrides[n]}
        # only the listen addresses and ports are fixed: they are the container's contract
        assert pinned == {
            f"MINDHIT_{c}_{k}"
            for c in ("GATEWAY", "WEB", "PROCESSORS", "PROJECTOR")
            for k in ("HOST", "PORT")
        }


def test_compose_names_no_unknown_setting() -> None:
    """compose.yaml mentions no MINDHIT_* variable the code would ignore."""
    unknown = _mentioned((ROOT / "compose.yaml").read_text()) - _settings()
    assert not unknown


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_chart_gives_every_container_exactly_the_settings(values_file: str) -> None:
    """Every Deployment and the migration Job receive each setting once, none unknown."""
    docs = render(values_file)
    found = workloads(docs)
    assert {w.component for w in found} == {"gateway", "processors", "projector", "web", "migrate"}
    for workload in found:
        names = declared_env_names(workload.container, docs)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        assert not duplicates, f"{workload.name}: set twice: {duplicates}"
        assert set(names) == _settings(), (
            f"{workload.name}: missing {sorted(_settings() - set(names))}, "
            f"unknown {sorted(set(names) - _settings())}"
        )


@pytest.mark.parametrize("values_file", ["values.yaml", "values-local.yaml"])
def test_chart_configmap_and_secret_split_the_settings(values_file: str) -> None:
    """The ConfigMap and the Secret together hold each setting exactly once."""
    docs = render(values_file)
    config_map = find(docs, "ConfigMap", "mindhit")
    secret = find(docs, "Secret", "mindhit")
    assert config_map is not None and secret is not None
    config_keys, secret_keys = set(config_map["data"]), set(secret["stringData"])
    assert not config_keys & secret_keys
    assert config_keys | secret_keys == _settings()
    assert {"MINDHIT_DATABASE_URL", "MINDHIT_REDIS_URL", "MINDHIT_SECRET_KEY"} <= secret_keys


def test_chart_files_name_no_unknown_setting() -> None:
    """No template or values file sets a MINDHIT_* variable the code would ignore."""
    for path in sorted(CHART.rglob("*")):
        if path.is_file():
            unknown = _mentioned(path.read_text()) - _settings()
            assert not unknown, f"{path.relative_to(ROOT)}: {sorted(unknown)}"


def test_chart_values_schema_refuses_unknown_settings() -> None:
    """`helm install --set config.MINDHIT_TYPO=…` fails instead of being ignored."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    config = schema["properties"]["config"]
    secrets = schema["properties"]["secrets"]["properties"]["values"]
    assert config["additionalProperties"] is False and secrets["additionalProperties"] is False
    assert set(config["properties"]) | set(secrets["properties"]) == _settings()
    with pytest.raises(RenderError, match="MINDHIT_TYPO"):
        render("values.yaml", "config.MINDHIT_TYPO=1")
    with pytest.raises(RenderError, match="MINDHIT_TYPO"):
        render("values.yaml", "secrets.values.MINDHIT_TYPO=1")


def test_terraform_and_workflows_name_no_unknown_setting() -> None:
    """The Secrets Manager secret and CI name only real settings (or harness variables)."""
    for folder, allowed in (
        (ROOT / "terraform", _settings()),
        (ROOT / ".github", _settings() | HARNESS_NAMES),
    ):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            unknown = _mentioned(path.read_text()) - allowed
            assert not unknown, f"{path.relative_to(ROOT)}: {sorted(unknown)}"


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_chart_values_are_settings_the_code_accepts(values_file: str) -> None:
    """Every values file renders a ConfigMap that parses into Settings, listening in-pod."""
    docs = render(values_file)
    config_map = find(docs, "ConfigMap", "mindhit")
    assert config_map is not None
    settings = Settings.from_env(config_map["data"])
    for component in ("gateway", "web", "processors", "projector"):
        assert getattr(settings, f"{component}_host") == "0.0.0.0"
    if values_file != "values-local.yaml":
        assert settings.env == "production"


def test_code_defaults_stay_on_loopback() -> None:
    """Only the deployment files open the servers to the network, never the code."""
    settings = Settings.from_env({})
    for component in ("gateway", "web", "processors", "projector"):
        assert getattr(settings, f"{component}_host") == "127.0.0.1"


def test_readme_documents_every_setting_with_its_default() -> None:
    """README's configuration table lists each setting once, with the code's default."""
    table = _readme_table()
    assert set(table) == _settings(), (
        f"missing: {sorted(_settings() - set(table))}, unknown: {sorted(set(table) - _settings())}"
    )
    for field in msgspec.structs.fields(Settings):
        name = ENV_PREFIX + field.name.upper()
        assert table[name] == _default_text(field.default), name


def test_readme_names_no_unknown_variable() -> None:
    """README mentions only settings and the documented test-harness variables."""
    assert not _mentioned(_readme()) - _settings() - HARNESS_NAMES


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_pods_listen_and_are_probed_on_their_port_setting(values_file: str) -> None:
    """containerPort and the /healthz, /readyz probes follow the component's port setting."""
    docs = render(values_file)
    config = find(docs, "ConfigMap", "mindhit")
    assert config is not None
    for workload in workloads(docs):
        if workload.kind != "Deployment":
            continue
        port = int(config["data"][f"MINDHIT_{workload.component.upper()}_PORT"])
        assert workload.args == [workload.component]
        ports = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        scraped = port
        if workload.component in ("gateway", "web"):
            # /metrics only on the internal port: in the pod, never in the Service
            scraped = int(config["data"][f"MINDHIT_{workload.component.upper()}_METRICS_PORT"])
            ports.append({"name": "metrics", "containerPort": scraped, "protocol": "TCP"})
        assert workload.container["ports"] == ports
        deployment = find(docs, "Deployment", workload.name)
        assert deployment is not None
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(scraped)
        assert workload.container["readinessProbe"]["httpGet"] == {
            "path": "/readyz",
            "port": "http",
        }
        assert workload.container["livenessProbe"]["httpGet"] == {
            "path": "/healthz",
            "port": "http",
        }
        service = find(docs, "Service", workload.name)
        assert service is not None and service["spec"]["ports"] == [
            {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
        ]
    ingress = find(docs, "Ingress", "mindhit")
    if ingress is not None:  # it reaches only the public ports, which serve no /metrics
        backends = [p["backend"]["service"] for r in ingress["spec"]["rules"]
                    for p in r["http"]["paths"]]  # fmt: skip
        assert backends and all(b["port"] == {"name": "http"} for b in backends)


@pytest.mark.parametrize("values_file", ["values-dev.yaml", "values-prod.yaml"])
def test_production_uses_external_stores_and_an_existing_secret(values_file: str) -> None:
    """The EKS values render no in-cluster database, Redis or Secret: RDS/ElastiCache are used."""
    docs = render(values_file)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not {k for k in kinds if k[0] in ("StatefulSet", "Secret")}
    for workload in workloads(docs):
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in workload.container["env"]]
        assert set(refs) == {"mindhit-app"}


def test_local_values_bring_their_own_postgresql_and_redis() -> None:
    """values-local (kind) runs PostgreSQL 16 and Redis 7 in the cluster and points at them."""
    docs = render("values-local.yaml")
    assert find(docs, "StatefulSet", "mindhit-postgresql") is not None
    redis = find(docs, "StatefulSet", "mindhit-redis")
    assert redis is not None
    assert "--appendonly" in redis["spec"]["template"]["spec"]["containers"][0]["args"]
    secret = find(docs, "Secret", "mindhit")
    assert secret is not None
    assert secret["stringData"]["MINDHIT_REDIS_URL"] == "redis://mindhit-redis:6379/0"
    assert "@mindhit-postgresql:5432/" in secret["stringData"]["MINDHIT_DATABASE_URL"]


def test_kind_deploy_installs_what_the_validation_renders() -> None:
    """`make kind-deploy` installs the values-local manifests with the image kind-build loads."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "kind-deploy.sh"), "--render"],
        env={"PATH": "/usr/bin:/bin", "HELM": str(helm())},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(out) if doc]
    assert docs == render("values-local.yaml")
    assert {w.container["image"] for w in workloads(docs)} == {"mindhit:local"}
    assert {w.container["imagePullPolicy"] for w in workloads(docs)} == {"Never"}


def test_ingress_sends_each_host_to_its_service() -> None:
    """The dashboard host reaches web, the gateway host the gateway (both serve /v1 paths)."""
    docs = render("values-prod.yaml")
    ingress = find(docs, "Ingress", "mindhit")
    assert ingress is not None
    routes = {
        rule["host"]: rule["http"]["paths"][0]["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
    }
    assert routes == {
        "mindhit.example.com": "mindhit-web",
        "ingest.mindhit.example.com": "mindhit-gateway",
    }
    with pytest.raises(RenderError, match="ingress host of gateway"):
        render("values.yaml", "ingress.gatewayHost=")


def test_an_empty_secret_key_is_generated_once_per_release() -> None:
    """Without MINDHIT_SECRET_KEY the chart makes one strong key (cookies stay valid)."""
    docs = render("values.yaml")
    keys = {
        doc["metadata"]["name"]: doc["stringData"]["MINDHIT_SECRET_KEY"]
        for doc in docs
        if doc["kind"] == "Secret"
    }
    assert set(keys) == {"mindhit", "mindhit-migrate"}
    assert len(set(keys.values())) == 1
    assert len(keys["mindhit"]) == 48
    # a new install gets a new key (an upgrade keeps the installed one: `lookup`)
    other = find(render("values.yaml"), "Secret", "mindhit")
    assert other is not None and other["stringData"]["MINDHIT_SECRET_KEY"] != keys["mindhit"]
