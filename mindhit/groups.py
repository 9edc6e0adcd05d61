"""What a consumer group looks like right now: its generation, members and their partitions.

The Faust transport and the projector keep each group's state in Redis
(:mod:`mindhit.keys`); the lag report and the ops page read it from here, without
importing either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit.keys import PROJECTOR_GROUP, group_state_key, groups_key

__all__ = ["GroupMember", "GroupView", "group_view", "read_group", "read_groups"]


class GroupMember(msgspec.Struct, frozen=True, kw_only=True):
    """One live member and the partitions the generation gives it."""

    member: str
    partitions: list[int]


class GroupView(msgspec.Struct, frozen=True, kw_only=True):
    """A consumer group's current generation (``assigned`` False until it is published)."""

    name: str
    generation: int
    kind: str = "faust"
    """``faust`` (a processors app's workers) or ``projector`` (the projector's replicas)."""
    assigned: bool
    members: list[GroupMember]


def group_view(name: str, state: Mapping[bytes, bytes], kind: str = "faust") -> GroupView | None:
    """The view of group ``name`` from its state hash (pure); None when it never formed."""
    if b"generation" not in state:
        return None
    members = [m for m in state.get(b"view", b"").decode().split("\n") if m]
    raw = state.get(b"assignment")
    owners: list[str] = json.loads(raw) if raw else []
    return GroupView(
        name=name,
        kind=kind,
        generation=int(state[b"generation"]),
        assigned=raw is not None,
        members=[
            GroupMember(member=m, partitions=[p for p, o in enumerate(owners) if o == m])
            for m in members
        ],
    )


async def read_group(
    client: aioredis.Redis, prefix: str, group: str, kind: str = "faust"
) -> GroupView | None:
    """The current view of ``group`` in Redis."""
    state: Any = await client.hgetall(group_state_key(prefix, group))  # type: ignore[misc]
    return group_view(group, state, kind)


async def read_groups(client: aioredis.Redis, prefix: str) -> list[GroupView]:
    """Every Faust group that committed (by name), then the projector's group, as formed."""
    names: Any = await client.smembers(groups_key(prefix))  # type: ignore[misc]
    views = [await read_group(client, prefix, n.decode()) for n in sorted(names)]
    views.append(await read_group(client, prefix, PROJECTOR_GROUP, "projector"))
    return [view for view in views if view is not None]
