"""Dense offsets on real Redis: what every producer and consumer relies on."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from mindhit import streams
from mindhit.redis_client import is_cluster
from schema.topics import stream_key
from tests.support.racing import WritesWhileAsked

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def test_concurrent_appends_get_dense_consecutive_offsets(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    key = stream_key(key_prefix, "raw", 0)

    async def producer(n: int) -> list[int]:
        return [
            await streams.append(aredis, key, b"x%d" % i, key=None, timestamp_ms=i)
            for i in range(n * 20, n * 20 + 20)
        ]

    results = await asyncio.gather(*(producer(n) for n in range(10)))
    assert sorted(o for offsets in results for o in offsets) == list(range(200))
    assert await streams.highwater(aredis, key) == 200
    assert await streams.earliest_offset(aredis, key) == 0


async def test_reading_from_an_offset_returns_that_entry_onwards(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    key = stream_key(key_prefix, "raw", 1)
    for i in range(10):
        await streams.append(aredis, key, b"v%d" % i, key=b"k", timestamp_ms=1000 + i)
    records = await streams.read(aredis, {key: 7}, count=100)
    assert [(r.offset, r.value, r.timestamp_ms) for r in records] == [
        (7, b"v7", 1007),
        (8, b"v8", 1008),
        (9, b"v9", 1009),
    ]
    assert await streams.highwater(aredis, stream_key(key_prefix, "raw", 2)) == 0


async def _keys_asked(client: aioredis.Redis) -> int:
    """``COMMAND GETKEYS`` calls served so far (by every primary of a cluster)."""
    nodes = cast(RedisCluster, client).get_primaries() if is_cluster(client) else [None]
    total = 0
    for node in nodes:
        kwargs = {"target_nodes": node} if node is not None else {}
        stats: Any = await client.info("commandstats", **kwargs)
        total += int(stats.get("cmdstat_command|getkeys", {}).get("calls", 0))
    return total


async def test_one_read_covers_many_partitions_and_topics_and_waits_when_all_are_idle(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    """On Redis Cluster those streams are in many hash slots: the read is split per slot."""
    positions: dict[str, int] = {}
    expected: list[tuple[str, int]] = []
    for partition in range(12):
        for topic in ("raw", "t-changelog"):
            key = stream_key(key_prefix, topic, partition)
            appended = partition % 3 + 1
            for i in range(appended):
                await streams.append(aredis, key, b"%d" % i, key=None, timestamp_ms=i)
            positions[key] = partition % 2
            expected += [(key, offset) for offset in range(partition % 2, appended)]
    asked = await _keys_asked(aredis)
    records = await streams.read(aredis, positions, count=100, block_ms=50)
    assert sorted((r.stream, r.offset) for r in records) == sorted(expected)
    single = {next(iter(positions)): 0}
    assert [r.offset for r in await streams.read(aredis, single, count=1, block_ms=50)] == [0]
    # Each XREAD goes straight to its slot's node: no extra round trip asking a node
    # for its keys (redis-py's default for a command whose keys are not at fixed places).
    assert await _keys_asked(aredis) == asked
    caught_up = positions | {r.stream: r.offset + 1 for r in records}
    began = asyncio.get_running_loop().time()
    assert await streams.read(aredis, caught_up, count=100, block_ms=50) == []
    assert asyncio.get_running_loop().time() - began >= 0.015  # waited, did not spin


async def test_a_stream_created_while_asked_where_it_starts_is_not_taken_for_trimmed(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    key = stream_key(key_prefix, "raw", 3)

    async def gateway_appends() -> None:
        for i in range(3):
            await streams.append(aredis, key, b"v%d" % i, key=None, timestamp_ms=i)

    client = cast(aioredis.Redis, WritesWhileAsked(aredis, {key: gateway_appends}))
    earliest = await streams.earliest_offset(client, key)
    # Nothing was ever trimmed: a reader resuming at 0 must not skip entries 0-2.
    assert [r.offset for r in await streams.read(aredis, {key: 0})] == [0, 1, 2]
    assert earliest == 0
