"""Waiting for a replica to hold a write a failover must not lose (``WAIT``).

Some deletions must survive a failover: the URL-versions token's (every worker drops
the versions it kept as announced when the token changes, :mod:`processors.announced`);
promoted without it, a replica hands workers back the token they kept stale versions
under. ``WAIT`` counts replicas that acknowledged the writes of *its own connection*, so
:func:`replica_holds` writes a marker in the key's slot and waits on that connection: a
write replicated after every earlier write on the node (whoever made it), its
acknowledgement covers the deletion. On Redis Cluster the pair runs on the slot's node
(:func:`mindhit.slot_pipeline.run_on_slot_node`).

A node without replicas is not waited for: ``WAIT 1`` there blocks its whole timeout.
"""

from __future__ import annotations

from typing import Any, Final, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from mindhit.redis_client import is_cluster
from mindhit.slot_pipeline import run_on_slot_node

__all__ = ["ACK_TTL_MS", "REPLICA_WAIT_MS", "NotReplicated", "ack_key", "replica_holds"]

REPLICA_WAIT_MS: Final = 1000
"""How long one ``WAIT`` lasts (below the clients' 5 s socket timeout)."""
ACK_TTL_MS: Final = 60_000
"""Lifetime of the marker written before each ``WAIT``."""


class NotReplicated(redis.exceptions.TimeoutError):
    """No replica acknowledged within the wait (a timeout: retried as Redis trouble)."""


def ack_key(prefix: str, key: str) -> str:
    """The marker written before ``WAIT`` (``<prefix>:{<tag>}:replicated``): in ``key``'s
    slot, tagged with ``key``'s hash tag or, without one, all of ``key``."""
    opened = key.find("{")
    closed = key.find("}", opened + 1) if opened >= 0 else -1
    tag = key[opened + 1 : closed] if closed > opened + 1 else key
    return f"{prefix}:{{{tag}}}:replicated"


async def _replicas(client: aioredis.Redis, key: str) -> int:
    """Replicas connected to the node serving ``key`` (``INFO replication``)."""
    if is_cluster(client):
        cluster = cast(RedisCluster, client)
        await cluster.initialize()
        node = cluster.get_node_from_key(key)
        info: Any = await cluster.execute_command("INFO", "replication", target_nodes=node)
    else:
        info = await client.info("replication")
    return int(info.get("connected_slaves", 0))


async def replica_holds(client: aioredis.Redis, prefix: str, key: str, timeout_ms: int = 0) -> int:
    """Wait until a replica of ``key``'s node holds every write made there so far.

    Steps: 1. ask the node how many replicas it has; none: return 0 at once; 2. on one
    connection of the node, ``SET`` :func:`ack_key` (expires after
    :data:`ACK_TTL_MS`) and ``WAIT 1 timeout_ms``
    (:data:`REPLICA_WAIT_MS` when 0); 3. no acknowledgement: raise :class:`NotReplicated`
    (the caller's write may yet be lost in a failover: do it again later).

    Returns:
        The replicas that acknowledged (0: the node has none).
    """
    if await _replicas(client, key) == 0:
        return 0
    marker, wait_ms = ack_key(prefix, key), timeout_ms or REPLICA_WAIT_MS
    commands: list[tuple[Any, ...]] = [("SET", marker, 1, "PX", ACK_TTL_MS), ("WAIT", 1, wait_ms)]
    if is_cluster(client):
        replies = await run_on_slot_node(cast(RedisCluster, client), marker, commands)
    else:
        pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the SET
        for command in commands:
            pipe.execute_command(*command)
        replies = list(await pipe.execute())
    if isinstance(replies[-1], Exception):
        raise replies[-1]
    if int(replies[-1]) < 1:
        raise NotReplicated(f"no replica acknowledged the writes on {key!r}'s node in {wait_ms} ms")
    return int(replies[-1])
