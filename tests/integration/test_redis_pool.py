"""The factory's waiting pool: a full pool makes a command wait, not fail.

The same on Redis Cluster (``MINDHIT_TEST_REDIS=cluster``), where ``max_connections`` is
per node: the waiting command reads the key the ``BLPOP`` holds, so both go to one node.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from mindhit.redis_client import connect_redis, plain_url

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def test_a_full_pool_makes_a_command_wait_for_a_connection(
    redis_url: str, key_prefix: str
) -> None:
    empty = f"{key_prefix}:empty"
    waiting = connect_redis(redis_url, max_connections=1, pool_timeout=5.0)
    failing = connect_redis(redis_url, max_connections=1)
    try:
        await waiting.get(empty)  # a cluster client learns the slots first (connections)
        await failing.get(empty)
        # BLPOP on an empty key holds the only connection for 0.3 s, server-side idle
        held = asyncio.ensure_future(waiting.blpop([empty], timeout=0.3))
        await asyncio.sleep(0.05)
        assert await waiting.get(empty) is None  # waited for the BLPOP's connection
        assert held.done()
        assert not any(await asyncio.gather(*(waiting.get(empty) for _ in range(50))))
        held = asyncio.ensure_future(failing.blpop([empty], timeout=0.3))
        await asyncio.sleep(0.05)
        with pytest.raises(MaxConnectionsError):
            await failing.get(empty)
        await held
    finally:
        await waiting.aclose()
        await failing.aclose()


async def test_a_command_that_waits_longer_than_the_pool_timeout_fails(
    redis_url: str, key_prefix: str
) -> None:
    empty = f"{key_prefix}:empty"
    client = connect_redis(redis_url, max_connections=1, pool_timeout=0.1)
    try:
        await client.get(empty)
        held = asyncio.ensure_future(client.blpop([empty], timeout=0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get(empty)
        await held
        assert await client.get(empty) is None  # released: the pool serves again
    finally:
        await client.aclose()


async def test_waiting_commands_are_served_in_arrival_order_and_a_cancelled_one_leaks_nothing(
    redis_url: str, key_prefix: str
) -> None:
    if plain_url(redis_url)[1]:  # Redis Cluster waits by retrying, in no set order
        return
    client = connect_redis(redis_url, max_connections=1, pool_timeout=5.0)
    key = f"{key_prefix}:order"
    try:
        held = asyncio.ensure_future(client.blpop([f"{key_prefix}:empty"], timeout=0.3))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(client.rpush(key, "cancelled"))
        queued = []
        for i in range(5):
            queued.append(asyncio.ensure_future(client.rpush(key, str(i))))
            await asyncio.sleep(0.01)
        gone.cancel()  # gave up while waiting: the connection must not go to it
        await asyncio.gather(held, *queued)
        assert await client.lrange(key, 0, -1) == [b"0", b"1", b"2", b"3", b"4"]
        assert await asyncio.wait_for(client.ping(), 2.0)
    finally:
        await client.aclose()
