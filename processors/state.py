"""Where the dwell fold's per-user state lives between messages: memory, backed by Redis.

One Redis hash per raw partition, ``<prefix>:{p<N>}:dwell-state`` (field = user
id, value = msgpack :class:`processors.dwell.UserState`), so the state shares the
partition's hash tag. Users with an open session stay in memory; a user whose
sessions are all finished is written back and dropped from memory (their small
residue — last seq per client, recently stopped sessions — stays in Redis so a
redelivered batch remains a no-op). Memory holds each state encoded, as written to
Redis: the fold decodes its own private copy from it (no copy of a live object), a
few KB per user, and nothing the garbage collector has to walk.

Why this is safe without a changelog: the fold ignores any event at or below a
client's highest seen seq, so state saved *ahead* of the committed offset just
turns the redelivered events into no-ops. The agent saves state before it
acknowledges a message, so state is never behind the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis

from processors.dwell import UserState, encode_state
from schema.topics import partition_tag

__all__ = ["StateStore"]


class StateStore:
    """Per-user fold state for the partitions this worker owns."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._memory: dict[str, bytes] = {}

    def _key(self, partition: int) -> str:
        return f"{self._prefix}:{partition_tag(partition)}:dwell-state"

    @property
    def users_in_memory(self) -> int:
        """How many users' state is held in memory (those with an open session)."""
        return len(self._memory)

    async def load(self, partition: int, users: Iterable[str]) -> dict[str, bytes | None]:
        """The encoded state of each user (``None`` for a user never seen).

        Encoded (:func:`processors.dwell.encode_state`), as :func:`processors.dwell.fold`
        takes it: the fold decodes a private copy, so nothing it does reaches the
        store before :meth:`save`.
        """
        found: dict[str, bytes | None] = {}
        missing: list[str] = []
        for user in users:
            state = self._memory.get(user)
            if state is None:
                missing.append(user)
            else:
                found[user] = state
        if missing:
            values: list[Any] = await self._redis.hmget(self._key(partition), missing)  # type: ignore[misc]
            for user, raw in zip(missing, values, strict=True):
                found[user] = raw or None
        return found

    async def save(
        self,
        partition: int,
        states: dict[str, UserState],
        also: Callable[[Any], object] | None = None,
    ) -> None:
        """Write the states back; users without an open session leave memory.

        Steps: 1. HSET every touched user's state in one command, in one round trip
        with whatever ``also`` queues into the same pipeline (e.g. the URL versions
        just announced); 2. keep users with an open session in memory (encoded),
        drop the others.
        """
        pipe = self._redis.pipeline(transaction=False)
        encoded = {user: encode_state(s) for user, s in states.items()}
        if encoded:
            pipe.hset(self._key(partition), mapping=encoded)  # type: ignore[arg-type]
        if also is not None:
            also(pipe)
        if len(pipe):
            await pipe.execute()
        for user, state in states.items():
            if state.is_idle():
                self._memory.pop(user, None)
            else:
                self._memory[user] = encoded[user]

    async def erase(self, partition: int, user_id: str) -> None:
        """Drop a user's state for good (``user.erased``): from memory and from Redis."""
        self._memory.pop(user_id, None)
        await self._redis.hdel(self._key(partition), user_id)

    def forget(self) -> None:
        """Drop everything from memory (partitions were revoked; Redis stays the truth)."""
        self._memory.clear()
