"""Who owns each session: one Redis key per session while it is in flight, PostgreSQL after.

Why it exists: a ``session_id`` travels in every event, and before this module the
gateway took any id it was sent, so whoever knew a victim's session id could relabel,
backdate or stop that session. Now the first user seen with a session owns it, for
good, whichever gateway process or partition sees it:

``<prefix>:session-owner:<session_id>``  string: the owner's user id (``SET NX``)
``<prefix>:session-keys:<user_id>``      sorted set: the user's session ids whose owner key
                                         may still be alive, scored by its expiry (erasure)
``<prefix>:user-sessions:<user_id>``     set: the same, as written before the sorted set
                                         (read by erasure, no longer written; 400 days)

One key per session works on Redis Cluster (no multi-key operation needs one slot).
A claim is ``SET key user NX GET``: atomic, so two users racing for a new id get one
owner.

Lifetime (the key is the answer while the session is in flight; PostgreSQL after):

* a session nobody recorded yet is claimed for :data:`PENDING_TTL_S` (400 days): until
  the projector has written its row, the key is the only record of its owner, and it
  must outlive any projector lag;
* once the projector committed the session's row (``sessions``, owner per session), it
  *settles* the key (:func:`settle_sessions`, after the commit): its life is cut to the
  settled TTL (:func:`settled_ttl_s`, 2 × ``MINDHIT_SESSION_IDLE_CLOSE_S``) and renewed
  each time a later batch projects the session again, so an open session keeps its key
  and a finished one leaves Redis that long after its last event;
* a session id without a key is looked up in PostgreSQL first (``legacy``: its
  ``sessions`` row, else the tombstone of a session its owner deleted) and claimed for
  that owner, settled at once. Only an id PostgreSQL does not know is claimed for the
  uploader.

So an id never changes owner: before its row exists the key holds it (never settled,
so it does not expire while the projector is behind), after that the row does, and a
missing key is always rebuilt from the row. Sessions recorded before the keys existed
are found the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit.db import sql_file
from mindhit.session_stops import stopped_key
from mindhit.settings import Settings

__all__ = [
    "DEFAULT_SETTLED_TTL_S",
    "PENDING_TTL_S",
    "LegacyOwners",
    "claim_sessions",
    "forget_user_sessions",
    "owner_key",
    "owners_of",
    "recorded_owners",
    "session_keys_key",
    "settle_sessions",
    "settled_ttl_s",
    "user_sessions_key",
]

PENDING_TTL_S = 400 * 86_400
"""How long a new session's key lives until the projector settles it (beyond any lag)."""
SETTLED_IDLE_MULTIPLE = 2
"""A settled key lives this many ``MINDHIT_SESSION_IDLE_CLOSE_S`` after its last projection."""
DEFAULT_SETTLED_TTL_S = SETTLED_IDLE_MULTIPLE * 7200
"""The settled TTL under the default idle close (2 h): 4 hours."""

LegacyOwners = Callable[[Sequence[str]], Awaitable[Mapping[str, str]]]
"""Session ids → their owners recorded before the keys existed (PostgreSQL ``sessions``)."""


_RECORDED = sql_file("mindhit", "session_owners_recorded")
_SETTLE = resources.files("mindhit.lua").joinpath("settle_owner.lua").read_text()
_TRACK = resources.files("mindhit.lua").joinpath("track_sessions.lua").read_text()


def settled_ttl_s(settings: Settings) -> int:
    """How long a settled owner key lives after the projector last wrote its session."""
    return max(1, round(SETTLED_IDLE_MULTIPLE * settings.session_idle_close_s))


async def recorded_owners(
    conn: psycopg.AsyncConnection[Any], session_ids: Sequence[str]
) -> dict[str, str]:
    """Durable owners of ``session_ids``: their ``sessions`` rows, else their tombstones."""
    cur = await conn.execute(_RECORDED, {"ids": list(session_ids)})
    return {row[0]: row[1] for row in await cur.fetchall()}


def owner_key(prefix: str, session_id: str) -> str:
    """The key holding ``session_id``'s owner."""
    return f"{prefix}:session-owner:{session_id}"


def user_sessions_key(prefix: str, user_id: str) -> str:
    """The set of session ids ``user_id`` owns, as written before :func:`session_keys_key`."""
    return f"{prefix}:user-sessions:{user_id}"


def session_keys_key(prefix: str, user_id: str) -> str:
    """The sorted set of ``user_id``'s session ids whose owner key may still be alive."""
    return f"{prefix}:session-keys:{user_id}"


def _queue_track(
    pipe: Any, prefix: str, user_id: str, ttl_ms: Mapping[str, int], mode: str
) -> None:
    """Queue ``track_sessions.lua`` for one user (EVAL: a cluster pipeline has no EVALSHA)."""
    pairs = [item for sid, ms in ttl_ms.items() for item in (ms, sid)]
    pipe.eval(_TRACK, 1, session_keys_key(prefix, user_id), mode, *pairs)


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
    settled_ttl: int = DEFAULT_SETTLED_TTL_S,
) -> dict[str, str]:
    """The owner of each of ``session_ids``, claiming the unowned ones for ``user_id``.

    Steps: read the owner keys (one pipelined round trip); for ids without one, ask
    ``legacy`` (PostgreSQL) for their durable owner; ``SET NX GET`` each such key to
    that owner for ``settled_ttl`` seconds (the row exists: the key is only a cache),
    or to ``user_id`` for :data:`PENDING_TTL_S` when there is none (the reply tells who
    won a race); list each id claimed in its owner's :func:`session_keys_key`. The
    caller refuses the events of sessions whose owner is not ``user_id``.

    ``legacy`` must be given wherever a key may have expired (the gateway, the
    dashboard): without it a missing key is claimed for ``user_id``.
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
        ttl = settled_ttl if session_id in earlier else PENDING_TTL_S
        pipe.set(owner_key(prefix, session_id), wanted, nx=True, get=True, ex=ttl)
    replies = await pipe.execute()
    claimed: dict[str, dict[str, int]] = {}
    for session_id, previous in zip(missing, replies, strict=True):
        if previous is not None:
            owners[session_id] = _text(previous)
            continue
        owners[session_id] = earlier.get(session_id, user_id)
        ttl = settled_ttl if session_id in earlier else PENDING_TTL_S
        claimed.setdefault(owners[session_id], {})[session_id] = ttl * 1000
    if claimed:
        pipe = redis.pipeline(transaction=False)
        for owner, sessions in claimed.items():
            _queue_track(pipe, prefix, owner, sessions, "")
        await pipe.execute()
    return owners


async def settle_sessions(
    redis: aioredis.Redis, prefix: str, written: Iterable[tuple[str, str]], ttl_s: int
) -> int:
    """Settle the owner keys of sessions whose rows the projector has just committed.

    ``written`` holds ``(user_id, session_id)`` pairs. Call only *after* the rows are
    committed: a key settled before its row exists could expire with nothing left
    that knows the owner. Steps, in one pipelined round trip: per session,
    ``settle_owner.lua`` cuts (or renews) the key's life to ``ttl_s`` if it still
    names that user; per user, ``track_sessions.lua`` moves those ids' expiry in their
    listing (only ids already listed) and drops the expired ones. Returns how many
    keys were settled.
    """
    per_user: dict[str, dict[str, int]] = {}
    for user_id, session_id in written:
        per_user.setdefault(user_id, {})[session_id] = ttl_s * 1000
    if not per_user:
        return 0
    pipe = redis.pipeline(transaction=False)
    for user_id, sessions in per_user.items():
        for session_id in sessions:
            pipe.eval(_SETTLE, 1, owner_key(prefix, session_id), user_id, ttl_s)
    for user_id, sessions in per_user.items():
        _queue_track(pipe, prefix, user_id, sessions, "XX")
    replies = await pipe.execute()
    settled = sum(len(sessions) for sessions in per_user.values())
    return sum(int(r) for r in replies[:settled])


async def forget_user_sessions(
    redis: aioredis.Redis, prefix: str, user_id: str, also: Iterable[str] = ()
) -> int:
    """Delete ``user_id``'s ownership keys, their sessions' earlier-build stop markers and
    the listings (erasure); return the ownership keys and listings deleted. Stop notes name
    the user: the erasure's sweep of the keys naming them deletes them
    (:mod:`projector.forget`), owner key alive or not; a marker of a session whose owner
    key already expired holds only its id and expires with its life
    (:mod:`mindhit.session_stops`).

    ``also`` adds session ids known from elsewhere (the read tables). Only keys that
    still name ``user_id`` are deleted, so another user's claim is never touched.
    """
    listed: Any = await redis.zrange(session_keys_key(prefix, user_id), 0, -1)
    members: Any = await redis.smembers(user_sessions_key(prefix, user_id))  # type: ignore[misc]
    ids = sorted({_text(m) for m in (*listed, *members)} | set(also))
    owners = await owners_of(redis, prefix, ids)
    mine = [s for s, owner in owners.items() if owner == user_id]
    deleted = 0
    for start in range(0, len(mine), 500):
        pipe = redis.pipeline(transaction=False)
        for session_id in mine[start : start + 500]:
            pipe.delete(owner_key(prefix, session_id))
            pipe.delete(stopped_key(prefix, session_id))  # a leftover marker (≤ 7 days old)
        deleted += sum((await pipe.execute())[::2])
    for listing in (user_sessions_key(prefix, user_id), session_keys_key(prefix, user_id)):
        deleted += int(await redis.delete(listing))  # two slots on a cluster: one by one
    return deleted
