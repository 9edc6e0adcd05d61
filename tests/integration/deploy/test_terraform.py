"""The Terraform environments are wired as documented: remote state, HA data stores.

No cloud account is reachable here, so these read the HCL (python-hcl2) and check what
an operator relies on: each environment keeps its own state in the bucket and lock table
the bootstrap creates; production-grade environments get Multi-AZ PostgreSQL with
backups and a Redis replication group with failover and encryption.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from .chart import ROOT

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
    assert args["redis_replicas"] >= 1


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
