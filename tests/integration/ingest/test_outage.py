"""Redis outages: 503 with Retry-After, nothing half-written, a retried batch lands once.

Uses a PRIVATE redis-server on a free port (never the shared one), with an
append-only file so a restart keeps what was acknowledged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from ingest.app import create_app
from mindhit.settings import Settings
from schema.api import BatchResult
from tests.integration.ingest.conftest import Account, logged_uploads, serve
from tests.support.servers import PrivateRedis
from tests.unit.ingest.factories import event_dicts, upload_body

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_stopped_gives_503_and_the_retried_batch_lands_once(
    settings: Settings, account: Account, private_redis: PrivateRedis
) -> None:
    settings = msgspec.structs.replace(settings, redis_url=private_redis.url)
    first = upload_body(event_dicts(50, first_seq=1))
    retried = upload_body(event_dicts(50, first_seq=51))
    async with serve(create_app(settings)) as client:
        ok = await client.post("/v1/events", content=first, headers=account.headers)
        assert ok.status_code == 202
        private_redis.stop()
        down = await asyncio.gather(
            *(client.post("/v1/events", content=retried, headers=account.headers) for _ in range(2))
        )
        assert [a.status_code for a in down] == [503, 503]
        assert down[0].headers["retry-after"] == "1"
        assert "unavailable" in down[0].json()["detail"]
        assert (await client.get("/readyz")).status_code == 503
        private_redis.start()
        answers = [
            await client.post("/v1/events", content=retried, headers=account.headers)
            for _ in range(2)
        ]
        results = [msgspec.json.decode(a.content, type=BatchResult) for a in answers]
        assert [(a.status_code, r.duplicate) for a, r in zip(answers, results, strict=True)] == [
            (202, False),
            (202, True),
        ]
    check = aioredis.Redis.from_url(private_redis.url)
    try:
        uploads = await logged_uploads(check, settings)
    finally:
        await check.aclose()
    assert [[e.seq for e in up.events][:1] for _, up in uploads] == [[1], [51]]


async def test_redis_over_its_memory_limit_gives_503_and_writes_nothing(
    settings: Settings, account: Account, private_redis: PrivateRedis
) -> None:
    settings = msgspec.structs.replace(settings, redis_url=private_redis.url)
    control = redis.Redis(port=private_redis.port)
    body = upload_body(event_dicts(20))
    app = create_app(settings)
    async with serve(app) as client:
        control.config_set("maxmemory", 1)
        full = await client.post("/v1/events", content=body, headers=account.headers)
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert control.dbsize() == 0  # no entry, no dedupe key, nothing half-written
        control.config_set("maxmemory", 0)
        again = await client.post("/v1/events", content=body, headers=account.headers)
        assert again.status_code == 202
        assert not msgspec.json.decode(again.content, type=BatchResult).duplicate
        metrics = generate_latest(app.state.gateway.metrics.registry).decode()
    assert 'mindhit_gateway_unavailable_total{dependency="redis"} 1.0' in metrics
    control.close()


async def test_with_wait_replicas_an_upload_is_acknowledged_only_once_replicated(
    settings: Settings, account: Account, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    replica_dir = tmp_path / "replica"
    replica_dir.mkdir()
    replica = PrivateRedis(replica_dir)
    replica.start()
    control = redis.Redis(port=replica.port)
    control.replicaof("127.0.0.1", private_redis.port)
    primary = redis.Redis(port=private_redis.port)
    deadline = time.monotonic() + 10
    while primary.info("replication").get("slave0", {}).get("state") != "online":
        assert time.monotonic() < deadline, "the replica did not come online"
        await asyncio.sleep(0.05)
    # Long enough for a replica's acknowledgement on a loaded CI box (300 ms failed once
    # there): only the two uploads made without a replica wait it out in full.
    settings = msgspec.structs.replace(
        settings, redis_url=private_redis.url, wait_replicas=1, wait_timeout_ms=1500
    )
    first = upload_body(event_dicts(10, first_seq=1))
    second = upload_body(event_dicts(10, first_seq=11))
    try:
        async with serve(create_app(settings)) as client:
            ok = await client.post("/v1/events", content=first, headers=account.headers)
            assert ok.status_code == 202
            replica.stop()
            while primary.info("replication")["connected_slaves"] > 0:
                await asyncio.sleep(0.05)
            lonely = await client.post("/v1/events", content=second, headers=account.headers)
            assert lonely.status_code == 503 and lonely.headers["retry-after"] == "1"
            assert "replicas" in lonely.json()["detail"]
            # It was written, just not replicated: a retry is recognised, never stored
            # twice, and acknowledged only once it is as durable as a first write.
            retry = await client.post("/v1/events", content=second, headers=account.headers)
            assert retry.status_code == 503 and "replicas" in retry.json()["detail"]
            replica.start()
            control.replicaof("127.0.0.1", private_redis.port)
            deadline = time.monotonic() + 10
            while primary.info("replication").get("slave0", {}).get("state") != "online":
                assert time.monotonic() < deadline, "the replica did not come back online"
                await asyncio.sleep(0.05)
            retry = await client.post("/v1/events", content=second, headers=account.headers)
            assert retry.status_code == 202
            assert msgspec.json.decode(retry.content, type=BatchResult).duplicate
        on_replica = aioredis.Redis(port=replica.port)
        try:
            uploads = await logged_uploads(on_replica, settings)
        finally:
            await on_replica.aclose()
        assert [[e.seq for e in up.events][:1] for _, up in uploads] == [[1], [11]]
    finally:
        replica.stop()
        control.close()
        primary.close()
