"""The group lease: at most one worker of an app id consumes and commits at a time.

There is no broker-side group coordinator, so a second worker started with the
same app id would otherwise take every partition too and process everything
twice. Instead it waits as a hot standby until the lease is free: released on a
clean stop, or expired ``lease_ms`` after its holder died (expiry uses Redis's
clock). The lease is two fields of the group's offsets hash, so commits go
through a single-key Lua script that stores offsets only while the caller holds
the lease (one Redis Cluster slot, no cross-key script), so a
worker that lost it (paused longer than the lease) cannot overwrite the new
holder's progress; it stops instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import LEASE_MEMBER_FIELD, groups_key, offsets_key, tp_field

__all__ = ["GroupLease", "LeaseLost"]


def _script(name: str) -> str:
    return resources.files("processors.transport").joinpath(name).read_text()


class LeaseLost(RuntimeError):
    """Another worker holds this app's lease: this worker must stop consuming."""


class GroupLease:
    """Lease and fenced commits of one consumer group for one worker."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        self.prefix = prefix
        self.group = group
        self.member = member
        self.ttl_ms = ttl_ms
        self._renew_src = _script("renew.lua")
        self._commit_src = _script("commit.lua")
        self._release_src = _script("release.lua")

    @property
    def key(self) -> str:
        """The group's offsets hash, which also holds the lease fields."""
        return offsets_key(self.prefix, self.group)

    async def holder(self, client: aioredis.Redis) -> str | None:
        """Who held the lease last (it may have expired since)."""
        value: Any = await client.hget(self.key, LEASE_MEMBER_FIELD)  # type: ignore[misc]
        return value.decode() if value is not None else None

    async def renew(self, client: aioredis.Redis) -> bool:
        """Acquire or extend the lease; False when another worker holds it."""
        result: Any = await client.eval(self._renew_src, 1, self.key, self.member, self.ttl_ms)
        return bool(result)

    async def release(self, client: aioredis.Redis) -> None:
        """Give the lease up if held (clean shutdown)."""
        await client.eval(self._release_src, 1, self.key, self.member)

    async def commit(self, client: aioredis.Redis, offsets: Mapping[tuple[str, int], int]) -> None:
        """Store committed offsets, fenced by the lease.

        Steps:
            1. In one Lua script: check the lease names this worker (even if expired:
               nobody took it over), extend it, then HSET the offsets.
            2. Record the group in the groups set (for ``mindhit lag``).

        Raises:
            LeaseLost: another worker holds the lease; nothing was stored.
        """
        args: list[Any] = [self.member, self.ttl_ms]
        for (topic, partition), offset in offsets.items():
            args += [tp_field(topic, partition), offset]
        stored: Any = await client.eval(self._commit_src, 1, self.key, *args)
        if not stored:
            raise LeaseLost(
                f"lease of group {self.group!r} is held by {await self.holder(client)!r}"
            )
        await client.sadd(groups_key(self.prefix), self.group)  # type: ignore[misc]
