"""Shared fixtures: real Redis and PostgreSQL, isolated per test run and per test.

Each test run uses its own database (``MINDHIT_TEST_DB``, created afresh and
migrated) and each test its own Redis key prefix, so runs never see each other's
data; under pytest-xdist each worker is a run of its own (``tests.support.workers``).
A missing service is an error, never a skip: CI must not pass by skipping.

``MINDHIT_TEST_REDIS=cluster`` points the ``redis_url`` fixture (and so every test and
process built on it) at a Redis Cluster instead of one server: the one
``MINDHIT_TEST_REDIS_URL`` names when it is a ``redis+cluster://`` URL, else a private
3-master cluster started for the session on free ports (or on
``MINDHIT_TEST_REDIS_CLUSTER_PORT`` and the five ports after it; the next worker ten up).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.db import apply_migrations
from mindhit.redis_client import connect_redis, connect_redis_sync, plain_url
from mindhit.settings import Settings
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.servers import PrivateRedis
from tests.support.workers import test_database_name, test_key_prefix, worker_port_base

REDIS_URL = os.environ.get("MINDHIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_MODE = os.environ.get("MINDHIT_TEST_REDIS", "single")
PG_ADMIN_URL = os.environ.get(
    "MINDHIT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_DB = test_database_name()  # MINDHIT_TEST_DB, per worker under pytest-xdist
KEY_PREFIX = test_key_prefix()  # MINDHIT_TEST_KEY_PREFIX, per worker likewise


def _db_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url() -> str:
    """A freshly created and migrated database for this test run."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEST_DB,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')
        conn.execute(f'CREATE DATABASE "{TEST_DB}"')
    url = _db_url(TEST_DB)
    apply_migrations(url)
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Redis (or Redis Cluster) used by the tests (fails, never skips, when down)."""
    if REDIS_MODE not in {"single", "cluster"}:
        raise pytest.UsageError(f"MINDHIT_TEST_REDIS={REDIS_MODE!r}: use single or cluster")
    if REDIS_MODE == "single" or plain_url(REDIS_URL)[1]:
        connect_redis_sync(REDIS_URL).ping()
        yield REDIS_URL
        return
    port = os.environ.get("MINDHIT_TEST_REDIS_CLUSTER_PORT")
    cluster = PrivateRedisCluster(
        tmp_path_factory.mktemp("redis-cluster"),
        port_base=worker_port_base(int(port), 10) if port else None,
    )
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def own_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PrivateRedisCluster]]:
    """Starts private Redis Clusters for a test that moves slots or kills masters (so it
    never shares the session's cluster); ``own_cluster(replicas=1, ...)``. Stopped after
    the test (and after the fixtures it asked for later, e.g. its workers)."""
    started: list[PrivateRedisCluster] = []

    def start(**options: Any) -> PrivateRedisCluster:
        cluster = PrivateRedisCluster(tmp_path_factory.mktemp("own-cluster"), **options)
        started.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis server of the test's own that keeps nothing on disk (no AOF, no snapshot):
    for tests that stop, freeze or replicate it, never the session's Redis."""
    server = PrivateRedis(tmp_path / "volatile", appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"{KEY_PREFIX}-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = connect_redis_sync(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))  # every primary's
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])  # split per slot by a cluster client
    client.close()


@pytest.fixture
def settings(redis_url: str, database_url: str, key_prefix: str, tmp_path: Any) -> Settings:
    """Settings pointing at the real test services, with this test's key prefix."""
    return Settings.from_env(
        {},
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=key_prefix,
        data_dir=str(tmp_path / "data"),
        log_format="console",
        partitions=4,
    )


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio Redis client."""
    client = connect_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def apg(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit asyncio PostgreSQL connection to the test database."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
    yield conn
    await conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a ``slow`` test run first, the rest after, each in its own order.

    ``scripts/test.sh`` hands whole files to the pytest-xdist workers in this order
    (``--no-loadscope-reorder``): a long soak started last would keep one worker busy
    for minutes after the other ran out of work.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # a stable sort


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Under CI (``MINDHIT_FAIL_ON_SKIP=1``) a skipped test fails: nothing passes by skipping."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("MINDHIT_FAIL_ON_SKIP") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run every test: {report.longrepr}"
