"""Partition leases and fenced commits of one consumer group member (Redis adapter).

Each partition number of a group (every topic's partition N and the tables'
changelog partition N) has a lease hash ``<prefix>:{pN}:lease:<group>`` naming its
owner and when the lease expires (Redis clock). A member starts a partition only
once it holds the lease, renews it while it owns it and releases it after the
partition's last commit. Offset commits and table-changelog appends check the lease
in the same Lua call, so a member that lost a partition (paused past its lease,
partitioned away) can never commit or append for it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import LEASE_MEMBER_FIELD, groups_key, offsets_key, partition_lease_key, tp_field

__all__ = ["LeaseLost", "PartitionLeases", "script"]


def script(name: str) -> str:
    """The source of a Lua script kept beside this module."""
    return resources.files("processors.transport").joinpath(name).read_text()


class LeaseLost(RuntimeError):
    """Another member holds a partition's lease: this member must stop consuming it."""


class PartitionLeases:
    """The partition leases of one member of one consumer group."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        self.prefix = prefix
        self.group = group
        self.member = member
        self.ttl_ms = ttl_ms
        self._renew_src = script("renew.lua")
        self._commit_src = script("commit.lua")
        self._release_src = script("release.lua")

    def key(self, partition: int) -> str:
        """The lease hash of ``partition``."""
        return partition_lease_key(self.prefix, self.group, partition)

    async def holder(self, client: aioredis.Redis, partition: int) -> str | None:
        """Who held ``partition``'s lease last (it may have expired since)."""
        value: Any = await client.hget(self.key(partition), LEASE_MEMBER_FIELD)  # type: ignore[misc]
        return value.decode() if value is not None else None

    async def renew(self, client: aioredis.Redis, partitions: Iterable[int]) -> set[int]:
        """Acquire or extend the leases of ``partitions`` (one round trip); return those held."""
        wanted = sorted(partitions)
        if not wanted:
            return set()
        pipe = client.pipeline(transaction=False)
        for partition in wanted:
            pipe.eval(self._renew_src, 1, self.key(partition), self.member, self.ttl_ms)
        results = await pipe.execute()
        return {p for p, held in zip(wanted, results, strict=True) if held}

    async def release(self, client: aioredis.Redis, partitions: Iterable[int]) -> None:
        """Give up the leases of ``partitions`` this member holds (after their last commit)."""
        pipe = client.pipeline(transaction=False)
        for partition in sorted(partitions):
            pipe.eval(self._release_src, 1, self.key(partition), self.member)
        await pipe.execute()

    async def commit(self, client: aioredis.Redis, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store committed offsets, each partition's fenced by its lease.

        Steps:
            1. One Lua call per partition (pipelined): check the lease names this
               member (even if expired: nobody took it over), extend it, then HSET the
               partition's offsets into the group's offsets hash.
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
                offsets_key(self.prefix, self.group),
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
