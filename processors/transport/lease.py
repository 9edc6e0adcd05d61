"""Fenced offset commits of one consumer group member (Redis adapter).

The leases themselves (``<prefix>:{pN}:lease:<group>``, taken, renewed and released)
are :class:`mindhit.leases.Leases`, shared with the projector. Offset commits and
table-changelog appends check the lease in the same Lua call, so a member that lost
a partition (paused past its lease, partitioned away) can never commit or append for
it afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import groups_key, offsets_key, tp_field
from mindhit.leases import LeaseLost, Leases

__all__ = ["LeaseLost", "PartitionLeases", "script"]


def script(name: str) -> str:
    """The source of a Lua script kept beside this module."""
    return resources.files("processors.transport").joinpath(name).read_text()


class PartitionLeases(Leases):
    """The partition leases of one member of one consumer group, with fenced commits."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        super().__init__(prefix, group, member, ttl_ms)
        self._commit_src = script("commit.lua")

    async def commit(self, client: aioredis.Redis, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store committed offsets, each partition's fenced by its lease.

        Steps:
            1. One Lua call per partition (pipelined): check the lease names this
               member (even if expired: nobody took it over), extend it, then HSET the
               partition's offsets into the group's offsets hash of that partition
               (same hash tag as the lease: one slot on Redis Cluster).
            2. Record the group in the groups set (for ``mindhit lag``).

        Raises:
            LeaseLost: another member holds a partition's lease; its offsets were not
                stored (those of partitions still held were).
        """
        by_partition: dict[int, list[Any]] = {}
        for (topic, partition), offset in offsets.items():
            by_partition.setdefault(partition, []).extend((tp_field(topic, partition), offset))
        order = sorted(by_partition)
        pipe = client.pipeline(transaction=False)
        for partition in order:
            pipe.eval(
                self._commit_src,
                2,
                self.key(partition),
                offsets_key(self.prefix, self.group, partition),
                self.member,
                self.ttl_ms,
                *by_partition[partition],
            )
        pipe.sadd(groups_key(self.prefix), self.group)
        results = await pipe.execute()
        lost = [p for p, stored in zip(order, results, strict=False) if not stored]
        if lost:
            raise LeaseLost(
                f"partitions {lost} of group {self.group!r} are leased to "
                f"{await self.holder(client, lost[0])!r}, not {self.member!r}"
            )
