"""Partition leases of one consumer-group member (Redis adapter).

Each partition number of a group (every topic's partition N, and for the Faust
transport the tables' changelog partition N) has a lease hash
``<prefix>:{pN}:lease:<group>`` naming its owner and when the lease expires (Redis
clock). A member starts a partition only once it holds the lease, renews it while
it owns it and releases it after the partition's last commit. The Faust transport
fences its offset commits and appends by the lease in the same Lua call
(:mod:`processors.transport.lease`); the projector fences its PostgreSQL commits with
a token taken after the lease (:mod:`projector.group`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import LEASE_MEMBER_FIELD, partition_lease_key
from mindhit.logs import get_logger
from mindhit.node_groups import on_each_node

__all__ = ["LeaseLost", "Leases", "lua"]

log = get_logger(__name__)


def lua(name: str) -> str:
    """The source of a Lua script kept in :mod:`mindhit.lua`."""
    return resources.files("mindhit.lua").joinpath(name).read_text()


class LeaseLost(RuntimeError):
    """Another member holds a partition's lease: this member must stop consuming it."""


class Leases:
    """The partition leases of one member of one consumer group."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        self.prefix = prefix
        self.group = group
        self.member = member
        self.ttl_ms = ttl_ms
        self._renew_src = lua("renew.lua")
        self._release_src = lua("release.lua")

    def key(self, partition: int) -> str:
        """The lease hash of ``partition``."""
        return partition_lease_key(self.prefix, self.group, partition)

    async def holder(self, client: aioredis.Redis, partition: int) -> str | None:
        """Who held ``partition``'s lease last (it may have expired since)."""
        value: Any = await client.hget(self.key(partition), LEASE_MEMBER_FIELD)  # type: ignore[misc]
        return value.decode() if value is not None else None

    async def renew(
        self, client: aioredis.Redis, partitions: Iterable[int], *, held: bool = False
    ) -> set[int]:
        """Acquire or extend the leases of ``partitions`` (one round trip); return those held.

        ``held``: renewals of leases this member holds (``renew.lua`` refuses to revive
        one that lapsed: a renewal a frozen node runs late must not extend it); those found
        lapsed are taken again at once (a second round trip: this member is alive now).
        """
        wanted = sorted(partitions)
        if not wanted:
            return set()
        pipe = client.pipeline(transaction=False)
        for partition in wanted:
            flag = ("1",) if held else ()
            pipe.eval(self._renew_src, 1, self.key(partition), self.member, self.ttl_ms, *flag)
        results = await pipe.execute()
        lapsed = {p for p, result in zip(wanted, results, strict=True) if int(result) < 0}
        got = {p for p, result in zip(wanted, results, strict=True) if int(result) > 0}
        return got | (await self.renew(client, lapsed) if lapsed else set())

    async def renew_by_node(
        self,
        client: aioredis.Redis,
        partitions: Iterable[int],
        *,
        limit_s: float,
        before: Callable[[set[int]], Awaitable[None]] | None = None,
    ) -> set[int]:
        """Renew the leases of ``partitions`` (held) on each Redis node at once, each
        node's call bounded by ``limit_s`` (``before`` runs first on that node's
        partitions); return those another member has taken over.

        A node that does not answer holds up only its own partitions (their leases live
        on it): they are neither renewed nor counted as taken over, and the leases on the
        other nodes are renewed in time (:mod:`mindhit.node_groups`).
        """

        async def renew(group: set[int]) -> set[int]:
            if before is not None:
                await before(group)
            return await self.renew(client, group, held=True)

        outcomes = await on_each_node(
            client, partitions, self.key, renew, limit_s=limit_s, what="the lease renewal"
        )
        lost: set[int] = set()
        for group, outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.warning(
                    "lease renewal failed; retried at the next heartbeat",
                    group=self.group,
                    partitions=sorted(group),
                    error=repr(outcome),
                )
            else:
                lost |= group - outcome
        return lost

    async def release(self, client: aioredis.Redis, partitions: Iterable[int]) -> None:
        """Give up the leases of ``partitions`` this member holds (after their last commit)."""
        wanted = sorted(partitions)
        if not wanted:
            return
        pipe = client.pipeline(transaction=False)
        for partition in wanted:
            pipe.eval(self._release_src, 1, self.key(partition), self.member)
        await pipe.execute()
