"""The Terraform environments are wired as documented: remote state, HA data stores.

No cloud account is reachable here, so these read the HCL (python-hcl2) and check what
an operator relies on: each environment keeps its own state in the bucket and lock table
the bootstrap creates; production-grade environments get Multi-AZ PostgreSQL with
backups and a Redis cluster with failover and encryption whose shards share the
partitions evenly; the cluster add-ons are pinned and their IAM roles trust only their
own service account; the Helm values files agree with the environments they describe.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from redis.crc import key_slot

from schema.topics import partition_tag

from .chart import CHART, ROOT

pytestmark = pytest.mark.integration

TERRAFORM = ROOT / "terraform"
ENVIRONMENTS = ["dev", "staging", "prod"]


def _load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        loaded: dict[str, Any] = hcl2.load(handle)
        return loaded


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _block(blocks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for block in blocks:
        for key, body in block.items():
            if _unquote(key) == name:
                return {k: _unquote(v) for k, v in body.items()}
    raise AssertionError(f"no block {name}")


def _bootstrap_default(name: str) -> Any:
    variables = _load(TERRAFORM / "bootstrap" / "variables.tf")["variable"]
    return _block(variables, name)["default"]


def _module_args(env: str) -> dict[str, Any]:
    return _block(_load(TERRAFORM / "environments" / env / "main.tf")["module"], "mindhit")


def _resource(module: str, kind: str, name: str) -> dict[str, Any]:
    for block in _load(TERRAFORM / "modules" / module / "main.tf")["resource"]:
        body = block.get(f'"{kind}"', {}).get(f'"{name}"')
        if body is not None:
            return {k: _unquote(v) for k, v in body.items()}
    raise AssertionError(f"no resource {kind}.{name} in {module}")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_keeps_its_state_in_the_bootstrapped_bucket(env: str) -> None:
    """State is remote (S3), locked (DynamoDB), encrypted, one key per environment."""
    terraform = _load(TERRAFORM / "environments" / env / "main.tf")["terraform"][0]
    backend = _block(terraform["backend"], "s3")
    assert backend["bucket"] == _bootstrap_default("state_bucket")
    assert backend["dynamodb_table"] == _bootstrap_default("lock_table")
    assert backend["region"] == _bootstrap_default("region")
    assert backend["encrypt"] is True
    assert backend["key"] == f"environments/{env}/terraform.tfstate"
    assert _module_args(env)["environment"] == env
    assert _module_args(env)["source"] == "../../modules/stack"


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_staging_and_prod_databases_are_multi_az_with_backups(env: str) -> None:
    """Production-grade environments survive an AZ loss and keep a week of backups."""
    args = _module_args(env)
    assert args["db_multi_az"] is True
    assert args["db_backup_retention_days"] >= 7
    assert args.get("deletion_protection", True) is True
    assert args["redis_replicas_per_shard"] >= 1


def test_no_environment_turns_off_deletion_protection() -> None:
    """A stray `terraform destroy` cannot drop any environment's database."""
    for env in ENVIRONMENTS:
        assert _module_args(env).get("deletion_protection", True) is True, env


def test_postgresql_and_redis_are_encrypted_and_fail_over() -> None:
    """RDS: encrypted, private, TLS forced; ElastiCache: failover, TLS, encrypted at rest."""
    db = _resource("rds", "aws_db_instance", "this")
    assert db["storage_encrypted"] is True and db["publicly_accessible"] is False
    assert db["engine"] == "postgres" and db["multi_az"] == "${var.multi_az}"
    assert db["skip_final_snapshot"] is False
    params = _resource("rds", "aws_db_parameter_group", "this")
    assert {"name": '"rds.force_ssl"', "value": '"1"'} in [
        {k: v for k, v in p.items() if k != "__is_block__"} for p in params["parameter"]
    ]
    redis = _resource("elasticache", "aws_elasticache_replication_group", "this")
    assert redis["engine"] == "redis"
    # cluster mode: shards x replicas; without it one primary and its replicas
    assert redis["cluster_mode"] == '${var.cluster_mode ? "enabled" : "disabled"}'
    assert redis["num_node_groups"] == "${var.cluster_mode ? var.shards : null}"
    assert redis["replicas_per_node_group"] == "${var.cluster_mode ? var.replicas_per_shard : null}"
    assert redis["num_cache_clusters"] == "${var.cluster_mode ? null : var.replicas_per_shard + 1}"
    group = _resource("elasticache", "aws_elasticache_parameter_group", "this")
    parameters = {_unquote(p["name"]): _unquote(p["value"]) for p in group["parameter"]}
    assert parameters == {
        "maxmemory-policy": "noeviction",
        "cluster-enabled": '${var.cluster_mode ? "yes" : "no"}',
    }
    assert str(redis["engine_version"]).startswith("${var.engine_version")
    variables = _load(TERRAFORM / "modules" / "elasticache" / "variables.tf")["variable"]
    assert _block(variables, "engine_version")["default"].startswith("7.")
    for flag in (
        "automatic_failover_enabled",
        "multi_az_enabled",
        "transit_encryption_enabled",
        "at_rest_encryption_enabled",
    ):
        assert redis[flag] is True, flag


def _module_blocks(module: str, kind: str) -> dict[str, dict[str, Any]]:
    """Every ``resource``/``data`` block of a module (all its files), by "type.name"."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((TERRAFORM / "modules" / module).glob("*.tf")):
        for block in _load(path).get(kind, []):
            for kind_name, bodies in block.items():
                for name, body in bodies.items():
                    found[f"{_unquote(kind_name)}.{_unquote(name)}"] = body
    return found


def _variable_default(module: str, name: str) -> Any:
    variables = _load(TERRAFORM / "modules" / module / "variables.tf")["variable"]
    return _block(variables, name)["default"]


def test_the_application_connects_to_redis_with_tls_auth_and_the_cluster_flag() -> None:
    """MINDHIT_REDIS_URL: TLS, the AUTH token, and in cluster mode the configuration
    endpoint with the rediss+cluster:// scheme (what makes mindhit/redis_client.py use the
    cluster client), else the primary."""
    outputs = _load(TERRAFORM / "modules" / "elasticache" / "outputs.tf")["output"]
    url = _block(outputs, "redis_url")
    assert url["sensitive"] is True
    assert url["value"] == (
        '${format("%s://:%s@%s:6379/0", var.cluster_mode ? "rediss+cluster" : "rediss", '
        "random_password.auth.result, local.endpoint)}"
    )
    endpoint = _load(TERRAFORM / "modules" / "elasticache" / "main.tf")["locals"][0]["endpoint"]
    group = "aws_elasticache_replication_group.this"
    assert endpoint == (
        f"${{(var.cluster_mode ? {group}.configuration_endpoint_address"
        f" : {group}.primary_endpoint_address)}}"
    )


def test_prod_runs_redis_in_cluster_mode_and_no_environment_leaves_it_implicit() -> None:
    """Prod shards its Redis; each environment says whether its Redis is a cluster."""
    for env in ENVIRONMENTS:
        assert isinstance(_module_args(env).get("redis_cluster_mode"), bool), env
    prod = _module_args("prod")
    assert prod["redis_cluster_mode"] is True and prod["redis_shards"] >= 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_spreads_its_partitions_evenly_over_redis_shards(env: str) -> None:
    """Keys of partition N share the hash tag {pN}: its slot decides the shard.

    ElastiCache gives each shard an equal range of the 16,384 slots; a partition count
    that lands unevenly makes one shard hold (and serve) more of the log than the others.
    """
    args = _module_args(env)
    partitions, shards = args["partitions"], args.get("redis_shards", 1)
    per_shard = [0] * shards
    for partition in range(partitions):
        slot = key_slot(partition_tag(partition).encode())
        per_shard[slot * shards // 16384] += 1
    assert max(per_shard) <= 1.2 * partitions / shards, (env, per_shard)


def test_cluster_add_on_charts_are_pinned_to_exact_versions() -> None:
    """Every add-on release installs an exact, reviewed chart version over HTTPS."""
    releases = _module_blocks("cluster_addons", "resource")
    helm = {name: body for name, body in releases.items() if name.startswith("helm_release.")}
    assert {name.split(".")[1] for name in helm} == {
        "aws_load_balancer_controller",
        "cluster_autoscaler",
        "external_dns",
        "keda",
        "metrics_server",
        "prometheus",
    }
    for name, body in helm.items():
        assert _unquote(body["repository"]).startswith("https://"), name
        variable = body["version"].removeprefix("${var.").removesuffix("}")
        assert re.fullmatch(r"\d+\.\d+\.\d+", _variable_default("cluster_addons", variable)), name
        assert body["atomic"] is True, name


def test_cluster_autoscaler_matches_the_clusters_kubernetes_version() -> None:
    """The autoscaler's minor version follows the control plane's (a mismatch is refused)."""
    eks_version = _variable_default("eks", "kubernetes_version")
    assert _variable_default("stack", "kubernetes_version") == eks_version
    assert _variable_default("cluster_addons", "cluster_autoscaler_image_tag").startswith(
        f"v{eks_version}."
    )
    node_group = _module_blocks("eks", "resource")["aws_eks_node_group.default"]
    # the autoscaler owns the desired size: an apply must not reset it
    assert node_group["lifecycle"][0]["ignore_changes"] == ["${scaling_config[0].desired_size}"]


def test_add_on_roles_trust_only_their_own_service_account() -> None:
    """IRSA: the cluster's OIDC provider, exact subject and audience, no wildcards."""
    trust = _module_blocks("cluster_addons", "data")["aws_iam_policy_document.irsa_trust"]
    (statement,) = trust["statement"]
    assert statement["actions"] == ['"sts:AssumeRoleWithWebIdentity"']
    conditions = {
        _unquote(c["variable"]): (_unquote(c["test"]), c["values"]) for c in statement["condition"]
    }
    assert conditions == {
        "${var.oidc_issuer}:sub": (
            "StringEquals",
            ['"system:serviceaccount:${each.value.namespace}:${each.value.service_account}"'],
        ),
        "${var.oidc_issuer}:aud": ("StringEquals", ['"sts.amazonaws.com"']),
    }


@pytest.mark.parametrize(
    ("env", "values_file"), [("dev", "values-dev.yaml"), ("prod", "values-prod.yaml")]
)
def test_helm_values_files_describe_their_environment(env: str, values_file: str) -> None:
    """values-<env>.yaml and terraform agree on partitions, hosts and replica bounds."""
    values = yaml.safe_load((CHART / values_file).read_text())
    args = _module_args(env)
    domain = _unquote(_load(TERRAFORM / "environments" / env / "terraform.tfvars")["domain"])
    assert int(values["config"]["MINDHIT_PARTITIONS"]) == args["partitions"]
    assert values["ingress"]["host"] == domain
    assert values["ingress"]["gatewayHost"] == f"ingest.{domain}"
    assert values["config"]["MINDHIT_PUBLIC_URL"] == f"https://{domain}"
    assert values["config"]["MINDHIT_GATEWAY_PUBLIC_URL"] == f"https://ingest.{domain}"
    # the ALB connects from inside the VPC: only it may set the client address
    assert values["config"]["MINDHIT_TRUSTED_PROXIES"] == _unquote(args["vpc_cidr_block"])
    for component, bounds in (
        ("processors", "processors_replicas"),
        ("projector", "projector_replicas"),
    ):
        auto = values[component]["autoscaling"]
        assert (auto["minReplicas"], auto["maxReplicas"]) == (
            args[bounds]["min"],
            args[bounds]["max"],
        )
        assert auto["maxReplicas"] <= args["partitions"]
