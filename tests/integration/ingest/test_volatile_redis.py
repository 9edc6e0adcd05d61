"""Production refuses a Redis that would lose acknowledged uploads on its next restart.

Each test starts its own redis-server (never the shared one's configuration) with the
persistence it needs: none, an append-only file, or none but a replica to wait for.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest
import redis
from litestar.testing import AsyncTestClient

from ingest.app import create_app
from ingest.durability import REFUSAL_KEPT_S
from mindhit.redis_durability import VolatileRedisError
from mindhit.settings import Settings
from tests.integration.ingest.conftest import Account
from tests.support.servers import PrivateRedis
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = pytest.mark.integration


def _production(settings: Settings, server: PrivateRedis, **changes: object) -> Settings:
    return msgspec.structs.replace(
        settings,
        env="production",
        redis_url=server.url,
        secret_key="x" * 32,
        **changes,  # type: ignore[arg-type]
    )


async def _upload(settings: Settings, account: Account) -> int:
    async with AsyncTestClient(app=create_app(settings)) as client:
        answer = await client.post(
            "/v1/events", content=upload_body(event_dicts(3)), headers=account.headers
        )
        return answer.status_code


async def test_production_refuses_a_redis_without_persistence_or_replicas(
    settings: Settings, account: Account, volatile_redis: PrivateRedis
) -> None:
    with pytest.raises(BaseExceptionGroup) as refused:  # the app's start-up failed
        await _upload(_production(settings, volatile_redis), account)
    assert refused.group_contains(VolatileRedisError, match="appendonly no, no RDB save points")


async def test_the_override_and_development_start_on_it(
    settings: Settings, account: Account, volatile_redis: PrivateRedis
) -> None:
    allowed = _production(settings, volatile_redis, allow_volatile_redis=True)
    assert await _upload(allowed, account) == 202
    development = msgspec.structs.replace(settings, redis_url=volatile_redis.url)
    assert await _upload(development, account) == 202


async def test_production_starts_on_a_redis_with_an_append_only_file(
    settings: Settings, account: Account, tmp_path: Path
) -> None:
    server = PrivateRedis(tmp_path / "aof", fsync="everysec")
    server.start()
    try:
        assert await _upload(_production(settings, server), account) == 202
    finally:
        server.stop()


async def test_production_starts_on_a_volatile_redis_only_when_it_waits_for_a_replica(
    settings: Settings, account: Account, volatile_redis: PrivateRedis, tmp_path: Path
) -> None:
    replica = PrivateRedis(tmp_path / "replica", appendonly=False)
    replica.start()
    control = redis.Redis(port=replica.port)
    primary = redis.Redis(port=volatile_redis.port)
    try:
        control.replicaof("127.0.0.1", volatile_redis.port)
        deadline = time.monotonic() + 10
        while primary.info("replication").get("slave0", {}).get("state") != "online":
            assert time.monotonic() < deadline, "the replica did not come online"
            await asyncio.sleep(0.05)
        # A replica the gateway does not wait for does not keep what it acknowledged.
        with pytest.raises(BaseExceptionGroup) as refused:
            await _upload(_production(settings, volatile_redis), account)
        assert refused.group_contains(VolatileRedisError, match="MINDHIT_WAIT_REPLICAS=0")
        waiting = _production(settings, volatile_redis, wait_replicas=1, wait_timeout_ms=2000)
        assert await _upload(waiting, account) == 202
    finally:
        replica.stop()
        control.close()
        primary.close()


async def test_a_gateway_started_while_redis_was_down_is_ready_only_once_it_checked_it(
    settings: Settings, tmp_path: Path
) -> None:
    """Production, Redis unreachable at start-up: the gateway starts (unready). When a
    Redis without persistence comes up on that address, ``/readyz`` stays 503 and says
    why (an orchestrator sends it no uploads); a durable one makes it ready."""
    volatile = PrivateRedis(tmp_path / "volatile", appendonly=False)  # not started yet
    async with AsyncTestClient(app=create_app(_production(settings, volatile))) as client:
        assert (await client.get("/readyz")).status_code == 503
        volatile.start()
        try:
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert "volatile" in answer.json()["redis"]
            assert "appendonly no" in answer.json()["redis"]
        finally:
            volatile.stop()
        durable = PrivateRedis(tmp_path / "durable", fsync="everysec")
        durable.port = volatile.port  # the same address, now with an append-only file
        durable.start()
        try:
            answer = await client.get("/readyz")
            assert answer.status_code == 200, answer.json()
        finally:
            durable.stop()


async def test_requests_sent_straight_to_a_gateway_that_could_not_check_redis_are_refused(
    settings: Settings, account: Account, tmp_path: Path
) -> None:
    """Production, Redis down at start-up, then up without persistence; no ``/readyz``
    was asked (a client reaching the pod past the balancer): uploads and new sessions
    are answered 503 with the reason, nothing is appended; once Redis keeps what it
    acknowledges, the same upload is taken."""
    volatile = PrivateRedis(tmp_path / "volatile", appendonly=False)  # not started yet
    body = upload_body(event_dicts(3))
    async with AsyncTestClient(app=create_app(_production(settings, volatile))) as client:
        volatile.start()
        control = redis.Redis(port=volatile.port)
        try:
            for _ in range(3):
                answer = await client.post("/v1/events", content=body, headers=account.headers)
                assert answer.status_code == 503, answer.text
                assert "would not keep" in answer.json()["detail"]
                assert "appendonly no" in answer.json()["detail"]
                assert answer.headers["retry-after"] == "1"
            started = await client.post("/v1/sessions", headers=account.headers)
            assert started.status_code == 503, started.text
            assert list(control.scan_iter(_type="stream")) == []
        finally:
            control.close()
            volatile.stop()
        durable = PrivateRedis(tmp_path / "durable", fsync="everysec")
        durable.port = volatile.port  # the same address, now with an append-only file
        durable.start()
        try:
            await asyncio.sleep(REFUSAL_KEPT_S)  # the refusal stands that long
            answer = await client.post("/v1/events", content=body, headers=account.headers)
            assert answer.status_code == 202, answer.text
            assert answer.json()["accepted"] == 3
        finally:
            durable.stop()
