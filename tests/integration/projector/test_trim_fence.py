"""Stream retention's trims and erasure purges are fenced, on real Redis and PostgreSQL.

A trimmer run reads the floors (checkpoints, Faust commits) and the purges owed, then
trims. A projector replica paused in between (SIGSTOP, a long GC) resumes with what it
read: these tests stand the world still at exactly that point (the run is held after
its reads) and change it meanwhile, as a pause would let happen.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.keys import PROJECTOR_GROUP
from mindhit.leases import Leases
from mindhit.log_epoch import epoch_key
from mindhit.settings import Settings
from projector import retention
from projector.projections import ARCHIVER, projection_of_topic
from projector.retention import TrimFence, trim_streams
from schema.topics import RAW_TOPIC, stream_key

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

PARTITION = 0
TTL_MS = 400


async def _log(settings: Settings, redis: aioredis.Redis, pg: psycopg.Connection[Any]) -> str:
    """Ten raw entries in partition 0, read by the archiver and the projection (epoch
    ``e1``), and an erasure owing a purge of all ten; returns the stream."""
    stream = stream_key(settings.key_prefix, RAW_TOPIC, PARTITION)
    for n in range(10):
        await streams.append(redis, stream, b"old-%d" % n, key=None, timestamp_ms=n)
    await redis.set(epoch_key(settings.key_prefix, PARTITION), "e1")
    with pg.transaction():
        checkpoints.store(
            pg,
            {
                (ARCHIVER, RAW_TOPIC, PARTITION): 10,
                (projection_of_topic(RAW_TOPIC), RAW_TOPIC, PARTITION): 10,
            },
            {PARTITION: "e1"},
        )
        pg.execute(
            "INSERT INTO erasure_purges (user_id, stream, up_to_offset) VALUES (%s, %s, 10)",
            (str(uuid.uuid4()), stream),
        )
    return stream


def _pause_after_reads(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Awaitable[None]]
) -> None:
    """Hold the next trimmer run after it read its floors and purges; run ``meanwhile``."""
    read = retention.consumer_group_offsets

    async def paused(*args: Any) -> Any:
        floors = await read(*args)
        await meanwhile()
        return floors

    monkeypatch.setattr(retention, "consumer_group_offsets", paused)


def _pending(pg: psycopg.Connection[Any]) -> int:
    row = pg.execute("SELECT count(*) FROM erasure_purges WHERE done_at IS NULL").fetchone()
    pg.commit()
    return int(row[0]) if row else -1


async def _values(redis: aioredis.Redis, stream: str) -> list[bytes]:
    entries: Any = await redis.xrange(stream)
    return [fields[b"v"] for _, fields in entries]


async def test_a_replica_paused_past_its_lease_trims_and_purges_nothing_of_the_partition(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replica a read the purge owed on partition 0 and stopped; its lease expired and
    replica b took the partition over. When a resumes, it trims nothing of partition 0
    and marks no purge done: the purge is b's, and b does it."""
    stream = await _log(settings, aredis, pg)
    a = Leases(settings.key_prefix, PROJECTOR_GROUP, "replica-a", TTL_MS)
    # b's lease outlives the test: its own trim must not meet an expired lease under load
    b = Leases(settings.key_prefix, PROJECTOR_GROUP, "replica-b", TTL_MS * 50)
    assert await a.renew(aredis, [PARTITION]) == {PARTITION}

    async def taken_over() -> None:
        while not await b.renew(aredis, [PARTITION]):  # a's lease expires meanwhile
            await aredis.ping()

    _pause_after_reads(monkeypatch, taken_over)
    held_by_a = TrimFence(member="replica-a", partitions=frozenset({PARTITION}))
    assert await trim_streams(settings, aredis, pg, fence=held_by_a) == 0
    assert len(await _values(aredis, stream)) == 10
    assert _pending(pg) == 1

    monkeypatch.undo()
    held_by_b = TrimFence(member="replica-b", partitions=frozenset({PARTITION}))
    assert await trim_streams(settings, aredis, pg, fence=held_by_b) == 10
    assert await _values(aredis, stream) == []
    assert _pending(pg) == 0


async def test_a_trim_never_reaches_a_log_redis_lost_after_the_floors_were_read(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis lost the log between the trimmer's reads and its trim (the replica was
    paused, or the log guard had not looked yet): the gateway has acknowledged three
    uploads into a new log (new epoch) below the old floors and the purge owed. They
    stay; the replica still holds its lease (taken again after the loss)."""
    stream = await _log(settings, aredis, pg)
    a = Leases(settings.key_prefix, PROJECTOR_GROUP, "replica-a", TTL_MS * 10)
    assert await a.renew(aredis, [PARTITION]) == {PARTITION}

    async def log_lost() -> None:
        await aredis.delete(stream, epoch_key(settings.key_prefix, PARTITION), a.key(PARTITION))
        await aredis.set(epoch_key(settings.key_prefix, PARTITION), "e2")
        for n in range(3):
            await streams.append(aredis, stream, b"new-%d" % n, key=None, timestamp_ms=n)
        assert await a.renew(aredis, [PARTITION]) == {PARTITION}

    _pause_after_reads(monkeypatch, log_lost)
    fence = TrimFence(member="replica-a", partitions=frozenset({PARTITION}))
    assert await trim_streams(settings, aredis, pg, fence=fence) == 0
    assert await _values(aredis, stream) == [b"new-0", b"new-1", b"new-2"]
    assert _pending(pg) == 1
