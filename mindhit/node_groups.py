"""Partitions grouped by the Redis node serving them, so a node that stops answering
holds up only its own partitions.

A pipeline over several Redis Cluster nodes fails as a whole when one of them does not
answer (after the cluster client's bound, :data:`mindhit.redis_cluster.CALL_TIMEOUT_S`).
A worker renewing the leases of all its partitions in one such pipeline therefore lost
the leases on the healthy masters too while one master was frozen. Split by node and
bounded each, the healthy nodes' calls finish in milliseconds and the frozen node's
fails on its own. Every key of a partition shares its hash tag (``{pN}``), so one key
of a partition places all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from mindhit.redis_cluster import within

__all__ = ["by_node", "on_each_node"]

R = TypeVar("R")


def by_node(
    client: aioredis.Redis, partitions: Iterable[int], key_of: Callable[[int], str]
) -> list[set[int]]:
    """``partitions`` grouped by the node that serves ``key_of(partition)``'s slot, as the
    client's slot map knows it (one group on a plain Redis, or before the map is known)."""
    wanted = set(partitions)
    if not isinstance(client, RedisCluster) or not wanted:
        return [wanted] if wanted else []
    groups: dict[str, set[int]] = {}
    for partition in wanted:
        try:
            node = client.get_node_from_key(key_of(partition))
        except Exception:  # slot map not known yet, or a slot nobody serves
            node = None
        groups.setdefault(node.name if node is not None else "", set()).add(partition)
    return list(groups.values())


async def on_each_node(
    client: aioredis.Redis,
    partitions: Iterable[int],
    key_of: Callable[[int], str],
    call: Callable[[set[int]], Awaitable[R]],
    *,
    limit_s: float,
    what: str,
) -> list[tuple[set[int], R | BaseException]]:
    """Run ``call`` on each node's partitions at once, each bounded by ``limit_s``.

    A call that fails or takes longer (``redis.TimeoutError``, the call cancelled) is
    returned as its error beside its partitions; the others' results are not held up.
    """
    groups = by_node(client, partitions, key_of)

    async def bounded(group: set[int]) -> R:
        return await within(limit_s, call(group), f"{what} (partitions {sorted(group)})")

    outcomes = await asyncio.gather(*(bounded(g) for g in groups), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
    return list(zip(groups, outcomes, strict=True))
