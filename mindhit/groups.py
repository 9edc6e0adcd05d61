"""What a consumer group looks like right now: its generation, members and their partitions.

The Faust transport keeps each group's state in Redis (:mod:`mindhit.keys`); the lag
report and the ops page read it from here, without importing the transport.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit.keys import group_state_key

__all__ = ["GroupMember", "GroupView", "group_view", "read_group"]


class GroupMember(msgspec.Struct, frozen=True, kw_only=True):
    """One live member and the partitions the generation gives it."""

    member: str
    partitions: list[int]


class GroupView(msgspec.Struct, frozen=True, kw_only=True):
    """A consumer group's current generation (``assigned`` False until it is published)."""

    name: str
    generation: int
    assigned: bool
    members: list[GroupMember]


def group_view(name: str, state: Mapping[bytes, bytes]) -> GroupView | None:
    """The view of group ``name`` from its state hash (pure); None when it never formed."""
    if b"generation" not in state:
        return None
    members = [m for m in state.get(b"view", b"").decode().split("\n") if m]
    raw = state.get(b"assignment")
    owners: list[str] = json.loads(raw) if raw else []
    return GroupView(
        name=name,
        generation=int(state[b"generation"]),
        assigned=raw is not None,
        members=[
            GroupMember(member=m, partitions=[p for p, o in enumerate(owners) if o == m])
            for m in members
        ],
    )


async def read_group(client: aioredis.Redis, prefix: str, group: str) -> GroupView | None:
    """The current view of ``group`` in Redis."""
    state: Any = await client.hgetall(group_state_key(prefix, group))  # type: ignore[misc]
    return group_view(group, state)
