"""The factory's waiting pool: a full pool makes a command wait, not fail."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from mindhit.redis_client import connect_redis, is_cluster, plain_url

pytestmark = pytest.mark.integration


async def test_a_full_pool_makes_a_command_wait_for_a_connection(
    redis_url: str, key_prefix: str
) -> None:
    if plain_url(redis_url)[1]:  # Redis Cluster: the option is ignored (connect_redis)
        assert is_cluster(connect_redis(redis_url, max_connections=1, pool_timeout=5.0))
        return
    waiting = connect_redis(redis_url, max_connections=1, pool_timeout=5.0)
    failing = connect_redis(redis_url, max_connections=1)
    try:
        # BLPOP on an empty key holds the only connection for 0.3 s, server-side idle
        held = asyncio.ensure_future(waiting.blpop([f"{key_prefix}:empty"], timeout=0.3))
        await asyncio.sleep(0.05)
        assert await waiting.ping()  # waited for the BLPOP's connection
        assert held.done()
        assert all(await asyncio.gather(*(waiting.ping() for _ in range(50))))  # in turns
        held = asyncio.ensure_future(failing.blpop([f"{key_prefix}:empty"], timeout=0.3))
        await asyncio.sleep(0.05)
        with pytest.raises(MaxConnectionsError):
            await failing.ping()
        await held
    finally:
        await waiting.aclose()
        await failing.aclose()


async def test_a_command_that_waits_longer_than_the_pool_timeout_fails(
    redis_url: str, key_prefix: str
) -> None:
    if plain_url(redis_url)[1]:  # Redis Cluster: the option is ignored (connect_redis)
        return
    client = connect_redis(redis_url, max_connections=1, pool_timeout=0.1)
    try:
        held = asyncio.ensure_future(client.blpop([f"{key_prefix}:empty"], timeout=0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.ping()
        await held
        assert await client.ping()  # released: the pool serves again
    finally:
        await client.aclose()
