"""Group membership in Redis: heartbeats, generations and the published assignment.

Members heartbeat into a sorted set scored by expiry. A heartbeat (one Lua call)
drops expired members and, when the live members differ from the current
generation's view, starts a new generation. Every member computes the new
assignment with the same pure function (:func:`mindhit.assignment.assign`)
from the generation's view and the last published assignment, and publishes it;
the first publish of a generation wins, and they are all equal anyway.
"""

from __future__ import annotations

import time

import msgspec
import redis.asyncio as aioredis
import redis.exceptions

from mindhit.assignment import assign
from mindhit.keys import group_members_key, group_state_key
from mindhit.leases import lua

__all__ = ["Generation", "GroupState", "HeartbeatLate"]


class HeartbeatLate(redis.exceptions.TimeoutError):
    """Redis ran the heartbeat more than half a session after it was sent (the node was
    frozen meanwhile): the member was not counted live again. Handled as a failed
    heartbeat (a timeout); the next one, sent in time, counts."""


class Generation(msgspec.Struct, frozen=True, kw_only=True):
    """One generation of a group: its members and who owns each partition."""

    number: int
    members: tuple[str, ...]
    owners: tuple[str, ...]
    """Owner of each partition; empty until published."""


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


class GroupState:
    """A member's view of its group in Redis."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        self.members_key = group_members_key(prefix, group)
        self.state_key = group_state_key(prefix, group)
        self.member = member
        self.ttl_ms = ttl_ms
        self._heartbeat_src = lua("heartbeat.lua")
        self._redis_ms: int | None = None
        """Redis's time at the last answered heartbeat's run, and when (``time.monotonic``)
        that heartbeat was sent: Redis ran it then or later, so a send dated from them is
        never dated too early (a busy event loop reading the answer late changes nothing)."""
        self._redis_ms_at = 0.0
        self._publish_src = lua("publish.lua")
        self._leave_src = lua("leave.lua")

    async def heartbeat(self, client: aioredis.Redis, partitions: int) -> Generation:
        """Say this member is alive; return the current generation, its assignment published.

        Steps:
            0. Before the first: read Redis's time (:meth:`_read_clock`).
            1. Heartbeat (Lua): refresh this member (unless Redis runs it more than half
               a session after it was sent: :class:`HeartbeatLate`), drop expired ones,
               start a new generation when the live members changed.
            2. If the generation has no assignment yet, compute it (sticky, from the
               last one) and publish it; the first publisher of a generation wins.
            3. Return the generation with the assignment as stored.
        """
        if self._redis_ms is None:
            await self._read_clock(client)
        for _ in range(3):
            late_after, sent = self._late_after(), time.monotonic()
            generation, view, owners, last, redis_ms, refreshed = await client.eval(
                self._heartbeat_src, 2, self.members_key, self.state_key, self.member,
                self.ttl_ms, *late_after
            )  # fmt: skip
            self._redis_ms, self._redis_ms_at = int(redis_ms), sent
            if not int(refreshed):
                raise HeartbeatLate(
                    f"Redis ran the heartbeat more than {self.ttl_ms // 2} ms after it was sent"
                )
            members = tuple(m for m in _text(view).split("\n") if m)
            if owners is not None:
                return Generation(
                    number=int(generation),
                    members=members,
                    owners=tuple(msgspec.json.decode(owners, type=list[str])),
                )
            previous = msgspec.json.decode(last, type=list[str]) if last else []
            computed = assign(partitions, members, previous)
            await client.eval(
                self._publish_src, 1, self.state_key, int(generation), msgspec.json.encode(computed)
            )
        raise RuntimeError("group membership kept changing; retrying at the next heartbeat")

    async def _read_clock(self, client: aioredis.Redis) -> None:
        """Date this member's first heartbeat: a read-only heartbeat (it refreshes no one)
        reads Redis's time, so even the first one that refreshes carries a deadline. Sent
        bare, a first heartbeat a frozen node ran only after it thawed would count a member
        perhaps dead since live for a whole session."""
        sent = time.monotonic()
        answer = await client.eval(
            self._heartbeat_src, 2, self.members_key, self.state_key, "", self.ttl_ms
        )
        self._redis_ms, self._redis_ms_at = int(answer[4]), sent

    def _late_after(self) -> tuple[int, ...]:
        """The latest Redis time (ms) the heartbeat sent now may refresh this member at:
        half a session after now, in Redis's time as the last answered heartbeat dates it
        (:meth:`_read_clock` reads it before the first)."""
        if self._redis_ms is None:
            return ()
        elapsed_ms = int((time.monotonic() - self._redis_ms_at) * 1000)
        return (self._redis_ms + elapsed_ms + self.ttl_ms // 2,)

    async def leave(self, client: aioredis.Redis) -> None:
        """Leave the group at once (clean stop)."""
        await client.eval(self._leave_src, 1, self.members_key, self.member)
