"""With one Redis Cluster master frozen, a fetch loop keeps reading the healthy masters.

Before :class:`mindhit.stream_reader.StreamReader`, a read over streams of several
masters was one call, so while one master was frozen (``SIGSTOP``; in production a
paused VM) every fetch waited for it until the cluster client's bound (12 s): the
healthy partitions were fetched once per 12 s. Now each node's reads are a call of their
own, a call not answered stays in flight across fetches, and the other nodes are read
meanwhile; nothing is read twice or skipped, and the frozen node's entries arrive once
it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot
from structlog.testing import capture_logs

from mindhit import streams
from mindhit.redis_client import connect_redis
from mindhit.stream_reader import StreamReader
from tests.support.redis_cluster import PrivateRedisCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOUND_S = 3.0
"""The cluster client's bound for this test's client (12 s by default)."""


def _keys_by_master(cluster: PrivateRedisCluster) -> dict[int, str]:
    """One stream key per master (by port)."""
    keys: dict[int, str] = {}
    for n in range(256):
        key = f"reader:{{p{n}}}:raw"
        keys.setdefault(cluster.owner(key_slot(key.encode())), key)
    assert len(keys) == len(cluster.ports)
    return keys


async def _append(client: aioredis.Redis, key: str, value: int) -> None:
    await streams.append(client, key, b"%d" % value, key=None, timestamp_ms=value)


class _Loop:
    """A fetch loop's positions and what it has read, per stream."""

    def __init__(self, reader: StreamReader, keys: list[str]) -> None:
        self.reader = reader
        self.positions = dict.fromkeys(keys, 0)
        self.read: dict[str, list[int]] = {key: [] for key in keys}

    async def fetch(self) -> float:
        """One fetch; return how long it took."""
        began = asyncio.get_running_loop().time()
        for record in await self.reader.read(self.positions, count=100, block_ms=100):
            # every entry once, in order: the next offset after those read
            assert record.offset == len(self.read[record.stream]), "read twice or skipped"
            self.read[record.stream].append(record.offset)
        for key, offsets in self.read.items():
            self.positions[key] = len(offsets)
        return asyncio.get_running_loop().time() - began


async def test_healthy_masters_are_read_while_one_is_frozen_and_its_entries_come_once(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=30_000)  # frozen for seconds: no failover
    keys = _keys_by_master(cluster)
    frozen_port = cluster.ports[1]
    frozen_key = keys[frozen_port]
    client = connect_redis(cluster.url)
    client.call_timeout_s = BOUND_S  # type: ignore[attr-defined]
    reader = StreamReader(client)
    loop = _Loop(reader, list(keys.values()))
    try:
        for key in keys.values():
            await _append(client, key, 0)
        await loop.fetch()
        assert all(offsets == [0] for offsets in loop.read.values())
        with cluster.frozen(frozen_port):
            await _append(client, keys[cluster.ports[0]], 1)  # a healthy master's
            slowest = 0.0
            for step in range(1, 26):  # ~2.5 s: less than the bound
                await _append(client, keys[cluster.ports[2]], step)
                slowest = max(slowest, await loop.fetch())
                assert loop.read[keys[cluster.ports[2]]][-1] == step, (
                    f"fetch {step}: the healthy master's new entry was not read"
                )
            assert reader.in_flight == {f"127.0.0.1:{frozen_port}"}
        # Appended to the frozen master only once it answers again (its queue first).
        await _append(client, frozen_key, 1)
        for _ in range(20):
            await loop.fetch()
            if len(loop.read[frozen_key]) == 2:
                break
        assert loop.read[frozen_key] == [0, 1]
        assert loop.read[keys[cluster.ports[0]]] == [0, 1]
        assert loop.read[keys[cluster.ports[2]]] == list(range(26))
        assert slowest < 1.0, f"a fetch waited {slowest:.1f} s for the frozen master"
        assert not reader.in_flight
    finally:
        reader.close()
        await client.aclose()


async def test_a_frozen_masters_failed_read_is_logged_and_sent_again_and_alone_it_fails(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=30_000)
    keys = _keys_by_master(cluster)
    frozen_port = cluster.ports[0]
    frozen_node = f"127.0.0.1:{frozen_port}"
    client = connect_redis(cluster.url)
    client.call_timeout_s = BOUND_S  # type: ignore[attr-defined]
    reader = StreamReader(client)
    loop = _Loop(reader, [keys[frozen_port], keys[cluster.ports[1]]])
    other = next(  # a second slot of the frozen master
        key
        for n in range(256)
        if cluster.owner(key_slot((key := f"reader:{{q{n}}}:raw").encode())) == frozen_port
    )
    try:
        await client.initialize()
        with cluster.frozen(frozen_port):
            with capture_logs() as logs:
                began = asyncio.get_running_loop().time()
                while asyncio.get_running_loop().time() - began < BOUND_S + 1.5:
                    assert await loop.fetch() < 1.0  # never raises: the other master answers
            failed = [e for e in logs if e["event"] == "node read failed; reading the other nodes"]
            assert [e["node"] for e in failed] == [frozen_node]
            assert "TimeoutError" in failed[0]["error"]
            assert reader.in_flight == {frozen_node}  # sent again
            # Only the frozen master's streams: nothing answers, so the fetch fails.
            alone = StreamReader(client)
            with pytest.raises(redis.TimeoutError):
                await asyncio.wait_for(alone.read({keys[frozen_port]: 0, other: 0}), 30)
            alone.close()
    finally:
        reader.close()
        await client.aclose()


async def test_a_read_in_flight_across_a_seek_brings_nothing_from_the_old_offset(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    cluster = own_cluster(node_timeout_ms=30_000)
    keys = _keys_by_master(cluster)
    frozen_port = cluster.ports[2]
    frozen_key, healthy_key = keys[frozen_port], keys[cluster.ports[0]]
    client = connect_redis(cluster.url)
    reader = StreamReader(client)
    try:
        for value in range(3):
            await _append(client, frozen_key, value)
        await client.initialize()
        with cluster.frozen(frozen_port):
            assert await reader.read({frozen_key: 1, healthy_key: 0}, block_ms=100) == []
            assert reader.in_flight == {f"127.0.0.1:{frozen_port}"}  # asked from offset 1
        await asyncio.sleep(0.5)  # its answer (offsets 1 and 2) arrives
        seeked = {frozen_key: 2, healthy_key: 0}  # the loop moved on to offset 2 meanwhile
        first = await reader.read(seeked, block_ms=100)
        second = await reader.read(seeked, block_ms=100)
        assert [(r.stream, r.offset) for r in first + second] == [(frozen_key, 2)]
    finally:
        reader.close()
        await client.aclose()
