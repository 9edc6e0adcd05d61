"""Redis killed and restarted under the transport: workers wait, then finish with exact tables.

A commit that fails while Redis is away is retried until it is stored: Faust offers
offsets it has handed to the driver only once, so a dropped commit of a partition's
last messages would leave it uncommitted for good.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
import redis.asyncio as aioredis
from faust.types import TP
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from mindhit import streams
from processors.transport.catalog import load_committed
from processors.transport.options import broker_url
from schema.topics import stream_key
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


async def _changelog_entries(client: aioredis.Redis, prefix: str) -> int:
    return sum(
        [
            await streams.highwater(client, stream_key(prefix, "counter-counts-changelog", p))
            for p in range(4)
        ]
    )


def _log_count(worker: Worker, text: str) -> int:
    return worker.log_path.read_text(errors="replace").count(text)


async def _wait_for_log_count(worker: Worker, text: str, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        if _log_count(worker, text) >= count:
            return True
        await asyncio.sleep(0.02)
    return False


async def _kill_redis_before_a_tail_is_committed(
    server: PrivateRedis, worker: Worker, prefix: str, total: int
) -> int:
    """Hit the bad moment: the last messages are processed, then Redis dies before their commit.

    Appends a tail of 40 messages, waits until the worker has processed it (its table
    changelog is stored), kills Redis and waits until the worker's commit of the tail
    fails. When that commit lands first (a few milliseconds of a 0.5 s commit interval),
    Redis is restarted and another tail is tried. Returns the number of messages
    appended in all, with Redis left down.
    """
    for _ in range(5):
        client = aioredis.Redis.from_url(server.url)
        try:
            tail = [(b"k%d" % i, b"%d" % (total + i)) for i in range(40)]
            await produce(client, prefix, "numbers", tail)
            total += len(tail)
            while await _changelog_entries(client, prefix) < total:
                assert worker.alive(), worker.log_tail()
                await asyncio.sleep(0.005)
            committed = sum(
                (await load_committed(client, prefix, "counter", partitions=4)).values()
            )
        finally:
            await client.aclose()
        failed_before = _log_count(worker, "commit failed")
        server.kill()
        if committed < total and await _wait_for_log_count(
            worker, "commit failed", failed_before + 1, 5.0
        ):
            return total
        server.start()
        client = aioredis.Redis.from_url(server.url)
        try:
            await wait_committed(client, prefix, "counter", "numbers", worker)
        finally:
            await client.aclose()
    pytest.fail("Redis never died between processing a tail and committing it")


async def _counter_caught_up(
    private_redis: PrivateRedis, tmp_path: Path, workers: list[Worker], prefix: str, n: int
) -> Worker:
    """A counter worker (commits every 0.5 s) that has committed ``n`` numbers."""
    client = aioredis.Redis.from_url(private_redis.url)
    try:
        await produce(client, prefix, "numbers", [(b"k%d" % (i % 40), b"%d" % i) for i in range(n)])
        env = worker_env(private_redis.url, prefix, "counter", T_COMMIT_INTERVAL="0.5")
        worker = Worker(COUNTER, env, tmp_path / "worker.log").start()
        workers.append(worker)
        await wait_committed(client, prefix, "counter", "numbers", worker)
    finally:
        await client.aclose()
    return worker


async def test_a_tail_whose_commit_fails_while_redis_is_down_is_committed_after_the_restart(
    private_redis: PrivateRedis, tmp_path: Path, workers: list[Worker]
) -> None:
    """Nothing new arrives after the tail, so Faust never offers its offsets again.

    Unless the failed commit is retried until it is stored, the partitions stay
    uncommitted for good (the CI symptom: commits stop moving after the restart).
    """
    prefix = "tail"
    worker = await _counter_caught_up(private_redis, tmp_path, workers, prefix, 400)

    total = await _kill_redis_before_a_tail_is_committed(private_redis, worker, prefix, 400)
    await asyncio.sleep(0.5)  # the commit keeps failing for a while
    private_redis.start()

    client = aioredis.Redis.from_url(private_redis.url)
    try:
        committed = await wait_committed(client, prefix, "counter", "numbers", worker, timeout=20.0)
        assert sum(committed.values()) == total
        counts = {
            json.loads(k): json.loads(v)
            for k, v in (await table_state(client, prefix, "counter-counts-changelog")).items()
        }
        assert sum(counts.values()) == total
        assert "commit stored" in worker.log_tail(200)
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        await client.aclose()


@pytest.fixture
async def outage_app(private_redis: PrivateRedis) -> AsyncIterator[faust.App]:
    """An in-process app on the private Redis whose consumer holds partitions 0 and 1."""
    application = faust.App(
        "outage",
        broker=broker_url(private_redis.url, "inproc"),
        topic_partitions=4,
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
    )
    consumer: Any = application.consumer
    consumer._assignment = {TP("t", 0), TP("t", 1)}
    assert await consumer.membership.leases.renew(consumer.membership.client, {0, 1}) == {0, 1}
    yield application
    await consumer.aclose()


async def test_a_commit_is_retried_until_redis_is_back(
    outage_app: faust.App, private_redis: PrivateRedis
) -> None:
    consumer: Any = outage_app.consumer
    await consumer.highwaters(TP("t", 0))  # leaves a pooled connection the kill makes stale
    private_redis.kill()
    retries_before = REGISTRY.get_sample_value("mindhit_transport_commit_retries_total") or 0
    with capture_logs() as logs:
        commit = asyncio.create_task(consumer._commit({TP("t", 0): 7, TP("t", 1): 3}))
        await asyncio.sleep(0.6)
        assert not commit.done()  # not given up: Faust would never offer these offsets again
        private_redis.start()
        assert await asyncio.wait_for(commit, 5.0) is True
    events = [entry["event"] for entry in logs]
    assert events[0] == "commit failed; retrying until stored"
    assert events[-1] == "commit stored"
    retries = REGISTRY.get_sample_value("mindhit_transport_commit_retries_total")
    assert retries is not None and retries >= retries_before + 2
    client = aioredis.Redis.from_url(private_redis.url)
    try:
        assert await load_committed(client, "inproc", "outage", partitions=4) == {
            ("t", 0): 7,
            ("t", 1): 3,
        }
    finally:
        await client.aclose()


async def test_a_commit_retrying_while_redis_is_down_ends_when_the_consumer_stops(
    outage_app: faust.App, private_redis: PrivateRedis
) -> None:
    consumer: Any = outage_app.consumer
    private_redis.kill()
    commit = asyncio.create_task(consumer._commit({TP("t", 0): 7}))
    await asyncio.sleep(0.3)
    assert not commit.done()
    await consumer.stop()  # shutdown is not held up by Redis being away
    assert await asyncio.wait_for(commit, 5.0) is False


async def test_a_commit_on_a_connection_left_dead_by_a_restart_is_retried(
    outage_app: faust.App, private_redis: PrivateRedis
) -> None:
    """Redis is back, yet the first command on each pooled connection still fails once.

    (redis-py 8 clients made by ``from_url`` do not retry a command on a new connection.)
    """
    consumer: Any = outage_app.consumer
    await consumer.highwaters(TP("t", 0))  # one pooled connection, idle
    private_redis.kill()
    private_redis.start()
    with capture_logs() as logs:
        assert await asyncio.wait_for(consumer._commit({TP("t", 1): 5}), 5.0) is True
    assert [entry["event"] for entry in logs] in (
        ["commit failed; retrying until stored", "commit stored"],
        [],  # a redis-py that retries on a new connection by itself
    )
    client = aioredis.Redis.from_url(private_redis.url)
    try:
        assert await load_committed(client, "inproc", "outage", partitions=4) == {("t", 1): 5}
    finally:
        await client.aclose()


async def test_a_worker_stopped_while_redis_is_down_exits_without_waiting_for_it(
    private_redis: PrivateRedis, tmp_path: Path, workers: list[Worker]
) -> None:
    """Commits are retried until stored, but not past a SIGTERM: a replay covers them."""
    prefix = "stopping"
    worker = await _counter_caught_up(private_redis, tmp_path, workers, prefix, 200)

    await _kill_redis_before_a_tail_is_committed(private_redis, worker, prefix, 200)
    began = time.monotonic()
    assert worker.stop(signal.SIGTERM, timeout=30.0) == 0
    assert time.monotonic() - began < 10.0
    assert "commit failed while stopping" in worker.log_tail(200)
