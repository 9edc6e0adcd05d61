"""With ``wait_replicas`` > 0 the producer's flush (Faust's step before a commit) ends only
once that many replicas hold every append: real redis-server primary and replica.

A failover to a replica that lacked appends whose input offsets were committed would
lose derived output of acknowledged events; the flush must refuse instead.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
import redis
from faust.exceptions import ProducerSendError
from prometheus_client import REGISTRY
from redis.crc import key_slot

from mindhit.keys import written_key
from mindhit.settings import Settings
from processors.transport.app_config import faust_app_options
from processors.transport.options import broker_url
from schema.topics import stream_key
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.servers import PrivateRedis, attach_replica

pytestmark = pytest.mark.integration

PREFIX = "mhwr"
PARTITIONS = 4


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "primary", appendonly=False)
    server.start()
    control = redis.Redis(port=server.port)
    control.config_set("repl-diskless-sync-delay", 0)  # a replica syncs at once, not in 5 s
    control.close()
    yield server
    server.stop()


@pytest.fixture
def replica(primary: PrivateRedis, tmp_path: Path) -> Iterator[PrivateRedis]:
    server = attach_replica(primary, tmp_path / "replica", appendonly=False)
    yield server
    server.stop()


async def _app(url: str, wait_replicas: int, partitions: int = PARTITIONS) -> faust.App:
    app = faust.App(
        f"wait-{wait_replicas}",
        broker=broker_url(url, PREFIX, wait_replicas=wait_replicas, wait_timeout_ms=100),
        topic_partitions=partitions,
        value_serializer="raw",
        web_enabled=False,
        autodiscover=False,
        producer_request_timeout=1.0,
    )
    await app.producer.start()
    return app


@pytest.fixture
async def waiting_app(primary: PrivateRedis) -> AsyncIterator[faust.App]:
    app = await _app(primary.url, 1)
    yield app
    await app.producer.stop()


async def _send(app: faust.App, count: int, first: int = 0) -> None:
    """Queue ``count`` messages over every partition (without waiting for them)."""
    partitions = app.conf.topic_partitions
    for n in range(first, first + count):
        await app.producer.send("derived", None, b"v%d" % n, n % partitions, None, None)


def _lengths(server: PrivateRedis) -> list[int]:
    client = redis.Redis(port=server.port)
    try:
        return [
            int(client.xlen(stream_key(PREFIX, "derived", p)))  # type: ignore[arg-type]
            for p in range(PARTITIONS)
        ]
    finally:
        client.close()


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _calls(server: PrivateRedis | int) -> dict[str, int]:
    client = redis.Redis(port=server if isinstance(server, int) else server.port)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


async def test_flush_ends_once_the_replica_holds_every_append(
    waiting_app: faust.App, primary: PrivateRedis, replica: PrivateRedis
) -> None:
    waits = _sample("mindhit_transport_replication_waits_total")
    await _send(waiting_app, 400)
    await waiting_app.producer.flush()
    # WAIT acknowledged: the replica has applied every append, no need to poll it.
    assert _lengths(replica) == [100] * PARTITIONS
    assert _sample("mindhit_transport_replication_waits_total") > waits
    assert _calls(primary).get("wait", 0) >= 1
    # Nothing appended since: the next flush sends nothing.
    before = _calls(primary).get("wait", 0)
    await waiting_app.producer.flush()
    assert _calls(primary).get("wait", 0) == before


async def test_flush_refuses_while_the_replica_lags_and_ends_once_it_caught_up(
    waiting_app: faust.App, primary: PrivateRedis, replica: PrivateRedis
) -> None:
    await _send(waiting_app, 8)
    await waiting_app.producer.flush()
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)  # connected, but acknowledges nothing
    try:
        timeouts = _sample("mindhit_transport_replication_timeouts_total")
        await _send(waiting_app, 8, first=8)
        begin = time.monotonic()
        with pytest.raises(ProducerSendError, match="replica"):
            await waiting_app.producer.flush()
        assert 0.9 <= time.monotonic() - begin < 5.0  # producer_request_timeout = 1 s
        assert _sample("mindhit_transport_replication_timeouts_total") > timeouts
        assert _lengths(primary) == [4] * PARTITIONS  # stored, just not replicated
    finally:
        replica.process.send_signal(signal.SIGCONT)
    await waiting_app.producer.flush()  # the same appends, now replicated
    assert _lengths(replica) == [4] * PARTITIONS


def _lose_marker(primary: PrivateRedis, producer: Any, partition: int) -> None:
    """Delete the producer's ``written`` marker of ``partition`` on the primary."""
    control = redis.Redis(port=primary.port)
    try:
        control.delete(written_key(PREFIX, partition, producer.replication.producer_id))
    finally:
        control.close()


async def test_flush_refuses_when_appends_vanished_before_they_were_replicated(
    waiting_app: faust.App, primary: PrivateRedis, replica: PrivateRedis
) -> None:
    """A failover to a replica that lacked the last appends: their markers are gone too."""
    producer: Any = waiting_app.producer
    await _send(waiting_app, 4)
    await waiting_app.producer.flush()
    lost = _sample("mindhit_transport_replication_lost_total")
    await _send(waiting_app, 4, first=4)
    await waiting_app.producer.send_and_wait("derived", None, b"x", 1, None, None)
    _lose_marker(primary, producer, 1)  # as a failover to a replica that lacked the batch
    with pytest.raises(ProducerSendError, match=r"\[1\] vanished"):
        await waiting_app.producer.flush()
    assert _sample("mindhit_transport_replication_lost_total") == lost + 1


async def test_a_later_batch_notices_an_earlier_one_vanished(
    waiting_app: faust.App, primary: PrivateRedis, replica: PrivateRedis
) -> None:
    """The marker a later batch overwrites would hide the loss: its ``SET … GET`` sees it."""
    producer: Any = waiting_app.producer
    await waiting_app.producer.send_and_wait("derived", None, b"a", 2, None, None)
    _lose_marker(primary, producer, 2)
    await waiting_app.producer.send_and_wait("derived", None, b"b", 2, None, None)
    with pytest.raises(ProducerSendError, match=r"\[2\] vanished"):
        await waiting_app.producer.flush()


async def test_without_wait_replicas_flush_sends_no_extra_command(primary: PrivateRedis) -> None:
    app = await _app(primary.url, 0)
    try:
        await _send(app, 8)
        await app.producer.flush()
        control = redis.Redis(port=primary.port)
        control.config_resetstat()
        control.close()
        await _send(app, 8, first=8)
        await app.producer.flush()
        await app.producer.flush()
        calls = _calls(primary)
    finally:
        await app.producer.stop()
    handshakes = {"hello", "client|setinfo", "info", "config|resetstat"}  # a new connection, ours
    assert set(calls) - handshakes == {"xadd"}, calls
    assert not [key for key in _keys(primary) if b":written:" in key or b":replicated" in key]


def _keys(server: PrivateRedis) -> list[bytes]:
    client = redis.Redis(port=server.port)
    try:
        return list(client.keys("*"))
    finally:
        client.close()


async def test_on_redis_cluster_each_master_written_waits_for_its_own_replica(
    tmp_path: Path,
) -> None:
    """``WAIT`` counts one node's replicas: every master appended to is asked, on its own
    connection, and one lagging replica holds the flush back."""
    cluster = PrivateRedisCluster(tmp_path / "cluster", replicas=1)
    cluster.start()
    partitions = 6
    app = await _app(cluster.url, 1, partitions)
    try:
        owners = {
            p: cluster.owner(key_slot(stream_key(PREFIX, "derived", p).encode()))
            for p in range(partitions)
        }
        await _send(app, 60)
        await app.producer.flush()
        waited = {port for port in cluster.ports[:3] if _calls(port).get("wait", 0) > 0}
        assert waited == set(owners.values())
        with cluster.replica_paused(owners[0]):
            await _send(app, partitions)
            with pytest.raises(ProducerSendError, match="0 of 1 replicas"):
                await app.producer.flush()
        await app.producer.flush()
    finally:
        await app.producer.stop()
        cluster.stop()


async def test_a_commit_waiting_for_missing_replicas_is_seen_and_given_up_in_bounded_time(
    primary: PrivateRedis, tmp_path: Path
) -> None:
    """No replica at all (MINDHIT_WAIT_REPLICAS=1 against a lone primary): the flush
    before a commit waits ``MINDHIT_PRODUCER_TIMEOUT_S`` (the worker's settings, not
    Faust's 20 minutes), the stall shows as ``mindhit_transport_commit_stalled_seconds``
    while it lasts, then the flush refuses (the worker stops uncommitted)."""
    settings = Settings.from_env(
        {},
        key_prefix=PREFIX,
        data_dir=str(tmp_path / "data"),
        wait_replicas=1,
        producer_timeout_s=2.0,
    )
    app = faust.App("wait-bounded", **faust_app_options(settings, primary.url, web=False))
    await app.producer.start()
    try:
        await _send(app, 8)
        flush = asyncio.create_task(app.producer.flush())
        stalled = 0.0
        begin = time.monotonic()
        while not flush.done() and time.monotonic() - begin < 15:
            stalled = max(stalled, _sample("mindhit_transport_commit_stalled_seconds"))
            await asyncio.sleep(0.1)
        assert flush.done(), "the flush is still waiting for replicas after 15 s"
        with pytest.raises(ProducerSendError, match="replica"):
            await flush
        assert 1.9 <= time.monotonic() - begin < 6.0
        assert stalled > 0.5  # the stall was visible while it lasted
        assert _sample("mindhit_transport_commit_stalled_seconds") == 0.0
    finally:
        await app.producer.stop()
