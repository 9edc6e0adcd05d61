"""Where the dwell fold's per-user state lives between messages: memory, backed by Redis.

One Redis hash per raw partition, ``<prefix>:{p<N>}:dwell-state`` (field = user
id, value = msgpack :class:`processors.dwell.UserState`), so the state shares the
partition's hash tag. Users with an open session stay in memory; a user whose
sessions are all finished is written back and dropped from memory (their small
residue — last seq per client, recently stopped sessions — stays in Redis so a
redelivered batch remains a no-op).

Why this is safe without a changelog: the fold ignores any event at or below a
client's highest seen seq, so state saved *ahead* of the committed offset just
turns the redelivered events into no-ops. The agent saves state before it
acknowledges a message, so state is never behind the commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from processors.dwell import UserState, decode_state, encode_state
from schema.topics import partition_tag

__all__ = ["StateStore"]


class StateStore:
    """Per-user fold state for the partitions this worker owns."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._memory: dict[str, UserState] = {}

    def _key(self, partition: int) -> str:
        return f"{self._prefix}:{partition_tag(partition)}:dwell-state"

    @property
    def users_in_memory(self) -> int:
        """How many users' state is held in memory (those with an open session)."""
        return len(self._memory)

    async def load(self, partition: int, users: Iterable[str]) -> dict[str, UserState | None]:
        """The state of each user (``None`` for a user never seen).

        A state held in memory is handed back as is, shared with the cache: callers
        must not change it (the fold never does; it returns a new state, which
        :meth:`save` keeps once the outputs are sent).
        """
        found: dict[str, UserState | None] = {}
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
                found[user] = decode_state(raw) if raw else None
        return found

    async def save(self, partition: int, states: dict[str, UserState]) -> None:
        """Write the states back; users without an open session leave memory.

        Steps: 1. HSET every touched user's state in one command; 2. keep users
        with an open session in memory, drop the others.
        """
        if not states:
            return
        await self._redis.hset(
            self._key(partition), mapping={user: encode_state(s) for user, s in states.items()}
        )
        for user, state in states.items():
            if state.is_idle():
                self._memory.pop(user, None)
            else:
                self._memory[user] = state

    async def erase(self, partition: int, user_id: str) -> None:
        """Drop a user's state for good (``user.erased``): from memory and from Redis."""
        self._memory.pop(user_id, None)
        await self._redis.hdel(self._key(partition), user_id)

    def forget(self) -> None:
        """Drop everything from memory (partitions were revoked; Redis stays the truth)."""
        self._memory.clear()
