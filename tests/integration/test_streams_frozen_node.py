"""A fetch from a Redis node that stopped answering fails within seconds.

A node frozen (``SIGSTOP`` here; in production a paused VM, or a peer cut off without a
reset) keeps its connections open and never replies. A single ``XREAD`` sent there fails
after redis-py's default ``socket_timeout`` (5 s in the installed 8.1; nothing in
MindHit sets one); a Redis Cluster read over several slots (a pipeline) was tried again
and again by redis-py and took 88 s to fail, a worker folding nothing meanwhile, from
the healthy masters either. On a cluster every command and pipeline now fails after
:data:`~mindhit.redis_cluster.CALL_TIMEOUT_S` (the cluster client's bound, so reads
whichever way they go), with ``redis.TimeoutError``, which every fetch loop retries as
an unreachable Redis (the processors log ``fetch failed; retrying``, the projector
restarts its run). And the
connections given up on are not reused: once the node answers again, reads return
exactly the entries asked for, not the late reply of a read abandoned.

(Checked as a suspect when a worker seemed to stall in a CI run of
``test_cluster_startup_processes.py``; that cause was elsewhere.)
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.crc import key_slot

from mindhit import streams
from mindhit.redis_client import UNREACHABLE, connect_redis
from mindhit.redis_cluster import CALL_TIMEOUT_S
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOCKET_TIMEOUT_S = 5.0
"""redis-py's default ``socket_timeout`` (``redis._defaults.DEFAULT_SOCKET_TIMEOUT``)."""
BLOCK_MS = 200


@contextmanager
def _frozen(process: subprocess.Popen[bytes] | None) -> Iterator[None]:
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


async def _append(client: aioredis.Redis, key: str, n: int) -> None:
    for i in range(n):
        await streams.append(client, key, b"%d" % i, key=None, timestamp_ms=i)


async def _times_out(client: aioredis.Redis, positions: dict[str, int]) -> float:
    """Read from a frozen node; return how long it took to fail."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(redis.TimeoutError):
        # The outer bound only ends the test if the read takes far too long (the bug).
        await asyncio.wait_for(streams.read(client, positions, count=10, block_ms=BLOCK_MS), 30)
    assert redis.TimeoutError in UNREACHABLE  # what every fetch loop retries
    return loop.time() - began


async def test_a_blocking_read_from_a_frozen_redis_fails_and_the_next_one_reads_right(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path / "redis", appendonly=False)
    server.start()
    client = connect_redis(server.url)
    try:
        await _append(client, "frozen:{p0}:raw", 3)
        assert [r.offset for r in await streams.read(client, {"frozen:{p0}:raw": 1})] == [1, 2]
        with _frozen(server.process):
            took = await _times_out(client, {"frozen:{p0}:raw": 3})
        assert SOCKET_TIMEOUT_S - 0.1 <= took < SOCKET_TIMEOUT_S + 5
        await _append(client, "frozen:{p0}:raw", 2)  # offsets 3 and 4
        records = await streams.read(client, {"frozen:{p0}:raw": 3}, block_ms=200)
        assert [(r.offset, r.value) for r in records] == [(3, b"0"), (4, b"1")]
    finally:
        await client.aclose()
        server.kill()


async def test_cluster_reads_from_a_frozen_master_fail_and_the_next_ones_read_right(
    own_cluster: Callable[..., PrivateRedisCluster],
) -> None:
    """Both ways a cluster read goes: one slot (a blocking ``XREAD`` to its node) and
    several slots (a pipeline of non-blocking ones, one of them to the frozen node)."""
    cluster = own_cluster(node_timeout_ms=30_000)  # frozen ~10 s: no failover
    frozen = cluster.ports[1]

    def key_on(owner_frozen: bool) -> str:
        return next(
            k
            for n in range(64)
            if (cluster.owner(key_slot((k := f"frozen:{{p{n}}}:raw").encode())) == frozen)
            is owner_frozen
        )

    there, elsewhere = key_on(True), key_on(False)
    client = connect_redis(cluster.url)
    try:
        await _append(client, there, 2)
        await _append(client, elsewhere, 2)
        assert len(await streams.read(client, {there: 0, elsewhere: 0})) == 4
        with _frozen(cluster.processes[cluster.ports.index(frozen)]):
            one_slot = await _times_out(client, {there: 2})
            several_slots = await _times_out(client, {there: 2, elsewhere: 2})
        assert one_slot < CALL_TIMEOUT_S + 2
        assert several_slots < CALL_TIMEOUT_S + 2
        await _append(client, there, 1)  # offset 2
        await _append(client, elsewhere, 1)
        assert [r.offset for r in await streams.read(client, {there: 2}, block_ms=200)] == [2]
        both = await streams.read(client, {there: 1, elsewhere: 2}, block_ms=200)
        assert sorted((r.stream, r.offset) for r in both) == sorted(
            [(there, 1), (there, 2), (elsewhere, 2)]
        )
    finally:
        await client.aclose()
