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

Fenced: a save checks that this worker still holds the partition's lease (``fence``)
atomically with its writes, like its commits and changelog appends, so a worker paused
past its lease can never overwrite the state the new owner keeps (the save fails with
``FENCED``; the entry is the new owner's to fold). On a standalone Redis that is one
``MULTI`` (``save_guard.lua``, a plain ``HSET`` of the states, ``save_finish.lua``: the
states' bytes never pass through Lua, which hashes every byte of a string it is
handed); on a cluster one Lua call (``save_state.lua``).

Bounded life: ``<prefix>:{p<N>}:dwell-written`` (sorted set user → Redis time of their
last save) beside the hash; each save also removes up to :data:`SWEEP` users not saved
for ``ttl_ms`` (:func:`dwell_ttl_ms`: :data:`DWELL_IDLE_MULTIPLE` ×
``MINDHIT_SESSION_IDLE_CLOSE_S``, 7 days by default), so the state of users who stopped
using MindHit leaves Redis (while the partition sees traffic). What the fold does
without it: :func:`processors.dwell.fold`'s ``stale_before``. Users in a hash from
before the sorted set are listed in it (as saved now) the first time a worker loads
the partition.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.redis_client import is_cluster
from mindhit.settings import Settings
from processors.dwell import UserState, encode_state
from schema.topics import partition_tag

__all__ = ["DWELL_IDLE_MULTIPLE", "SWEEP", "Fence", "StateStore", "dwell_ttl_ms"]

DWELL_IDLE_MULTIPLE = 84
"""A user's state lives this many session idle closes after their last event (7 days)."""
SWEEP = 16
"""Users whose state expired that one save removes at most."""


def _lua(name: str) -> str:
    return resources.files("processors").joinpath(name).read_text()


_SAVE = _lua("save_state.lua") + _lua("state_expiry.lua")
_GUARD = _lua("save_guard.lua")
_FINISH = _lua("save_finish.lua") + _lua("state_expiry.lua")
_LIST = _lua("list_state_users.lua")

Fence = Callable[[int], "tuple[str, str] | None"]
"""Partition → (its lease hash, this worker's member id) while held, else None (unfenced)."""


def dwell_ttl_ms(settings: Settings) -> int:
    """How long a user's fold state lives after their last saved event."""
    return round(DWELL_IDLE_MULTIPLE * settings.session_idle_close_s * 1000)


class StateStore:
    """Per-user fold state for the partitions this worker owns.

    Args:
        client: the Redis holding the state.
        prefix: the key prefix.
        ttl_ms: how long a user's state lives after their last save (0 = forever).
        fence: this worker's lease of a partition (None: saves are not fenced).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        ttl_ms: int = 0,
        fence: Fence | None = None,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_ms = ttl_ms
        self._fence = fence
        self._memory: dict[str, bytes] = {}
        self._listed: set[int] = set()
        """Partitions whose users are all in the last-write set (checked once)."""

    def _key(self, partition: int) -> str:
        return f"{self._prefix}:{partition_tag(partition)}:dwell-state"

    def _written_key(self, partition: int) -> str:
        return f"{self._prefix}:{partition_tag(partition)}:dwell-written"

    def keys(self, partition: int) -> tuple[str, str]:
        """The partition's keys: the state hash and its last-write set."""
        return self._key(partition), self._written_key(partition)

    async def _list_old_users(self, partition: int) -> None:
        """Put users saved before the last-write set existed into it, as saved now.

        Once per partition per process (``list_state_users.lua``: two O(1) counts, and
        only when the set has fewer users than the hash a pass over the hash's users),
        so their state expires a ``ttl_ms`` from now unless saved again.
        """
        if partition in self._listed or self._ttl_ms <= 0:
            return
        await self._redis.eval(_LIST, 2, *self.keys(partition))  # type: ignore[misc]
        self._listed.add(partition)

    @property
    def users_in_memory(self) -> int:
        """How many users' state is held in memory (those with an open session)."""
        return len(self._memory)

    def held(self, partition: int, users: Iterable[str]) -> dict[str, bytes | None] | None:
        """:meth:`load` without a round trip: the users' states when all are in memory
        (and the partition's users were listed), else None (then :meth:`load` them)."""
        if partition not in self._listed and self._ttl_ms > 0:
            return None
        memory = self._memory
        found: dict[str, bytes | None] = {}
        for user in users:
            state = memory.get(user)
            if state is None:
                return None
            found[user] = state
        return found

    async def load(self, partition: int, users: Iterable[str]) -> dict[str, bytes | None]:
        """The encoded state of each user (``None`` for a user never seen).

        Encoded (:func:`processors.dwell.encode_state`), as :func:`processors.dwell.fold`
        takes it: the fold decodes a private copy, so nothing it does reaches the
        store before :meth:`save`.
        """
        await self._list_old_users(partition)
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
        encoded: Mapping[str, bytes] | None = None,
    ) -> None:
        """Write the states back; users without an open session leave memory.

        ``encoded`` is :meth:`encode` of ``states`` when the caller made it already.
        :meth:`save_encoded` with the states' encodings and which of them are idle.
        """
        if encoded is None:
            encoded = self.encode(states)
        idle = {user for user, state in states.items() if state.is_idle()}
        await self.save_encoded(partition, encoded, idle, also)

    async def save_encoded(
        self,
        partition: int,
        encoded: Mapping[str, bytes],
        idle: Container[str],
        also: Callable[[Any], object] | None = None,
    ) -> None:
        """Write the users' encoded states back (:meth:`encode`); those in ``idle``
        (:meth:`~processors.dwell.UserState.is_idle`: no open session) leave memory.

        So a caller may let a state go once it is encoded, while it is in the CPU's cache.

        Steps: 1. write every touched user's state, fenced by the partition's lease (see
        the module docstring; also notes their save time and removes up to
        :data:`SWEEP` expired users), in one round trip with whatever ``also`` queues
        into the same pipeline (e.g. the URL versions just announced; in the same
        transaction on a standalone Redis); 2. keep users with an open session in
        memory (encoded), drop the others.

        Raises:
            redis.exceptions.ResponseError: ``FENCED``: this worker no longer holds
                the partition's lease; nothing was written.
        """
        cluster = is_cluster(self._redis)
        pipe = self._redis.pipeline(transaction=bool(encoded) and not cluster)
        if encoded:
            states_key, written = self.keys(partition)
            held = self._fence(partition) if self._fence is not None else None
            lease, member = held if held is not None else (states_key, "")
            if cluster:  # one script: a transaction's keys must share the partition's slot
                pairs = [item for pair in encoded.items() for item in pair]
                pipe.eval(_SAVE, 3, states_key, written, lease, member, self._ttl_ms, SWEEP, *pairs)
            else:  # one transaction: the states' bytes kept out of Lua (save_guard.lua)
                aside = f"{states_key}-aside"
                pipe.eval(_GUARD, 3, states_key, lease, aside, member)
                pipe.hset(states_key, items=[x for pair in encoded.items() for x in pair])
                keys = (states_key, written, lease, aside)
                pipe.eval(_FINISH, 4, *keys, member, self._ttl_ms, SWEEP, *encoded)
        if also is not None:
            also(pipe)
        if len(pipe):
            await pipe.execute()
        memory = self._memory
        for user, state in encoded.items():
            if user in idle:
                memory.pop(user, None)
            else:
                memory[user] = state

    @staticmethod
    def encode(states: Mapping[str, UserState]) -> dict[str, bytes]:
        """Each user's state encoded as :meth:`save` writes and memory keeps it."""
        return {user: encode_state(s) for user, s in states.items()}

    async def erase(self, partition: int, user_id: str) -> None:
        """Drop a user's state for good (``user.erased``): from memory and from Redis."""
        self._memory.pop(user_id, None)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hdel(self._key(partition), user_id)
        pipe.zrem(self._written_key(partition), user_id)
        await pipe.execute()

    def forget(self) -> None:
        """Drop everything from memory (partitions were revoked; Redis stays the truth)."""
        self._memory.clear()
