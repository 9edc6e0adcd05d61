"""Whether the Redis holding the log keeps what the gateway acknowledges.

An acknowledged upload survives a Redis restart only when Redis persists (an
append-only file, or RDB save points), and a failover only when the gateway waits
for replicas (``MINDHIT_WAIT_REPLICAS``). A Redis with neither loses every
acknowledged upload on its next restart, and afterwards looks like an idle one. So in
production the gateway refuses to start on such a Redis, unless the operator says
they accept it (``MINDHIT_ALLOW_VOLATILE_REDIS``).

:func:`volatility` is the pure rule; :func:`inspect_redis` reads what Redis reports
(``INFO persistence``, ``INFO replication``, ``CONFIG GET save``; managed services
that refuse ``CONFIG`` count as having no save points). On Redis Cluster every primary
is asked and the weakest counts: an upload may land on any of them.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from mindhit.redis_client import is_cluster
from mindhit.settings import Settings

__all__ = [
    "RedisDurability",
    "VolatileRedisError",
    "check_redis_durability",
    "inspect_redis",
    "volatility",
]


class RedisDurability(msgspec.Struct, frozen=True, kw_only=True):
    """What Redis reports about keeping its data."""

    aof: bool
    """The append-only file is on (``aof_enabled``)."""
    rdb_saves: bool
    """RDB save points are configured (``CONFIG GET save`` is not empty)."""
    replicas: int
    """Replicas connected now (``connected_slaves``)."""


class VolatileRedisError(RuntimeError):
    """Production on a Redis that would lose acknowledged uploads, without the override."""


def volatility(found: RedisDurability, wait_replicas: int) -> str | None:
    """Why acknowledged uploads would not survive a Redis restart, or ``None`` if they would.

    They survive when Redis persists (AOF or RDB save points), or when the gateway
    waits for at least one replica (``wait_replicas`` > 0) and one is connected.
    """
    if found.aof or found.rdb_saves:
        return None
    if wait_replicas > 0 and found.replicas > 0:
        return None
    if wait_replicas > 0:
        waiting = f"MINDHIT_WAIT_REPLICAS={wait_replicas} but no replica is connected"
    elif found.replicas > 0:
        waiting = f"{found.replicas} replica(s) connected but MINDHIT_WAIT_REPLICAS=0"
    else:
        waiting = "no replicas"
    return (
        "Redis keeps no data across a restart (appendonly no, no RDB save points) and "
        f"{waiting}: every acknowledged upload would be lost on its next restart. Turn on "
        "AOF (appendonly yes, appendfsync everysec), or wait for replicas, or set "
        "MINDHIT_ALLOW_VOLATILE_REDIS=true to accept that"
    )


async def inspect_redis(client: aioredis.Redis) -> RedisDurability:
    """Ask Redis how it keeps its data (on Redis Cluster: the weakest primary's answer)."""
    if not is_cluster(client):
        return await _inspect_node(client)
    cluster = await cast(RedisCluster, client).initialize()
    found = [await _inspect_node(client, target_nodes=node) for node in cluster.get_primaries()]
    return RedisDurability(
        aof=all(node.aof for node in found),
        rdb_saves=all(node.rdb_saves for node in found),
        replicas=min(node.replicas for node in found),
    )


async def _inspect_node(client: aioredis.Redis, **target: Any) -> RedisDurability:
    persistence: Any = await client.info("persistence", **target)
    replication: Any = await client.info("replication", **target)
    try:
        found: Any = await client.config_get("save", **target)
        points = next(iter(found.values()), b"") if found else b""
        text = points.decode() if isinstance(points, bytes) else str(points)
        rdb_saves = bool(text.strip())
    except redis.exceptions.ResponseError:  # CONFIG refused (a managed service)
        rdb_saves = False
    return RedisDurability(
        aof=int(persistence.get("aof_enabled", 0)) == 1,
        rdb_saves=rdb_saves,
        replicas=int(replication.get("connected_slaves", 0)),
    )


async def check_redis_durability(client: aioredis.Redis, settings: Settings) -> str | None:
    """In production, raise unless Redis keeps acknowledged uploads (or the override is set).

    Returns:
        The reason Redis is volatile (outside production, or overridden), else ``None``.

    Raises:
        VolatileRedisError: production, a volatile Redis, no ``allow_volatile_redis``.
    """
    reason = volatility(await inspect_redis(client), settings.wait_replicas)
    if reason is not None and settings.env == "production" and not settings.allow_volatile_redis:
        raise VolatileRedisError(reason)
    return reason
