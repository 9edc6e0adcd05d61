"""Who owns each session: one Redis key per session, claimed on first sight.

Why it exists: a ``session_id`` travels in every event, and before this module the
gateway took any id it was sent, so whoever knew a victim's session id could relabel,
backdate or stop that session. Now the first user seen with a session owns it, for
good, whichever gateway process or partition sees it:

``<prefix>:session-owner:<session_id>``  string: the owner's user id (``SET NX``)
``<prefix>:user-sessions:<user_id>``     set: the session ids a user owns (for erasure)

One key per session works on Redis Cluster (no multi-key operation needs one slot).
A claim is ``SET key user NX GET``: atomic, so two users racing for a new id get one
owner. Sessions recorded before this key existed are owned by ``sessions.user_id`` in
PostgreSQL; the caller hands that lookup in (``legacy``), and it is asked only for ids
with no key yet, so a legacy session is claimed for its real owner on its first event.
Keys live :data:`OWNER_TTL_S`; a session seen again after that is found through the
same PostgreSQL lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit.db import sql_file

__all__ = [
    "OWNER_TTL_S",
    "LegacyOwners",
    "claim_sessions",
    "forget_user_sessions",
    "owner_key",
    "owners_of",
    "recorded_owners",
    "user_sessions_key",
]

OWNER_TTL_S = 400 * 86_400
"""How long an ownership key lives (longer than any session is recorded)."""

LegacyOwners = Callable[[Sequence[str]], Awaitable[Mapping[str, str]]]
"""Session ids → their owners recorded before the keys existed (PostgreSQL ``sessions``)."""


_RECORDED = sql_file("mindhit", "session_owners_recorded")


async def recorded_owners(
    conn: psycopg.AsyncConnection[Any], session_ids: Sequence[str]
) -> dict[str, str]:
    """Owners of ``session_ids`` as the ``sessions`` read table records them (legacy)."""
    cur = await conn.execute(_RECORDED, (list(session_ids),))
    return {row[0]: row[1] for row in await cur.fetchall()}


def owner_key(prefix: str, session_id: str) -> str:
    """The key holding ``session_id``'s owner."""
    return f"{prefix}:session-owner:{session_id}"


def user_sessions_key(prefix: str, user_id: str) -> str:
    """The set of session ids ``user_id`` owns."""
    return f"{prefix}:user-sessions:{user_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def owners_of(
    redis: aioredis.Redis, prefix: str, session_ids: Sequence[str]
) -> dict[str, str]:
    """The recorded owner of each of ``session_ids`` that has one (no claiming)."""
    if not session_ids:
        return {}
    pipe = redis.pipeline(transaction=False)
    for session_id in session_ids:
        pipe.get(owner_key(prefix, session_id))
    found = await pipe.execute()
    return {s: _text(v) for s, v in zip(session_ids, found, strict=True) if v is not None}


async def claim_sessions(
    redis: aioredis.Redis,
    prefix: str,
    user_id: str,
    session_ids: Iterable[str],
    *,
    legacy: LegacyOwners | None = None,
) -> dict[str, str]:
    """The owner of each of ``session_ids``, claiming the unowned ones for ``user_id``.

    Steps: read the owner keys (one pipelined round trip); for ids without one, ask
    ``legacy`` for an earlier owner; ``SET NX GET`` each such key to that owner, or to
    ``user_id`` when there is none (the reply tells who won a race); add each id
    claimed to its owner's set. The caller refuses the events of sessions whose
    owner is not ``user_id``.
    """
    ids = list(dict.fromkeys(session_ids))
    owners = await owners_of(redis, prefix, ids)
    missing = [s for s in ids if s not in owners]
    if not missing:
        return owners
    earlier = dict(await legacy(missing)) if legacy is not None else {}
    pipe = redis.pipeline(transaction=False)
    for session_id in missing:
        wanted = earlier.get(session_id, user_id)
        pipe.set(owner_key(prefix, session_id), wanted, nx=True, get=True, ex=OWNER_TTL_S)
    replies = await pipe.execute()
    claimed: dict[str, list[str]] = {}
    for session_id, previous in zip(missing, replies, strict=True):
        if previous is not None:
            owners[session_id] = _text(previous)
            continue
        owners[session_id] = earlier.get(session_id, user_id)
        claimed.setdefault(owners[session_id], []).append(session_id)
    if claimed:
        pipe = redis.pipeline(transaction=False)
        for owner, sessions in claimed.items():
            pipe.sadd(user_sessions_key(prefix, owner), *sessions)
            pipe.expire(user_sessions_key(prefix, owner), OWNER_TTL_S)
        await pipe.execute()
    return owners


async def forget_user_sessions(
    redis: aioredis.Redis, prefix: str, user_id: str, also: Iterable[str] = ()
) -> int:
    """Delete ``user_id``'s ownership keys and set (erasure); return the keys deleted.

    ``also`` adds session ids known from elsewhere (the read tables). Only keys that
    still name ``user_id`` are deleted, so another user's claim is never touched.
    """
    members: Any = await redis.smembers(user_sessions_key(prefix, user_id))  # type: ignore[misc]
    ids = sorted({_text(m) for m in members} | set(also))
    owners = await owners_of(redis, prefix, ids)
    mine = [owner_key(prefix, s) for s, owner in owners.items() if owner == user_id]
    deleted = 0
    for start in range(0, len(mine), 500):
        pipe = redis.pipeline(transaction=False)
        for key in mine[start : start + 500]:
            pipe.delete(key)
        deleted += sum(await pipe.execute())
    deleted += int(await redis.delete(user_sessions_key(prefix, user_id)))
    return deleted
