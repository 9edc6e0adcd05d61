"""What an erasure deletes from Redis besides the user's stream entries.

The streams are purged by trimming (:mod:`projector.retention`), the quarantine by
``XDEL`` (:func:`projector.retention.purge_quarantine`); the processors drop their
own state, content holdings and owed reports when ``user.erased`` reaches them. This
module deletes the rest, so nothing of the user stays behind in Redis:

* their dead letters, whose work items hold page text, in every partition, and their
  retries (:func:`mindhit.dlq.erase_user_letters`): no retry can re-project them;
* their sessions' ownership keys and their listings (:mod:`mindhit.session_owners`), and
  their entries in the partition hashes that held ownership before those keys;
* every key whose name holds their user id: the server ``seq`` counter, their clients'
  idempotency states, ``mindmap-done`` markers, quotas, … found with ``SCAN MATCH`` (rare
  work, once per erasure, so a key added later is covered without a list to keep).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit.dlq import erase_user_letters
from mindhit.session_owners import forget_user_sessions
from mindhit.settings import Settings
from mindhit.streams import sessions_key

__all__ = ["Forgotten", "forget_user"]

_GLOB = re.compile(r"([*?\[\]\\])")


class Forgotten(msgspec.Struct, kw_only=True):
    """What :func:`forget_user` deleted."""

    dead_letters: int = 0
    session_keys: int = 0
    legacy_claims: int = 0
    keys: int = 0


async def _legacy_claims(redis: aioredis.Redis, settings: Settings, user_id: str) -> int:
    """Remove ``user_id``'s entries from every partition's old ownership hash."""
    removed = 0
    for partition in range(settings.partitions):
        key = sessions_key(settings.key_prefix, partition)
        mine = [
            field
            async for field, owner in redis.hscan_iter(key, count=1000)
            if owner in (user_id, user_id.encode())
        ]
        if mine:
            removed += int(await redis.hdel(key, *mine))  # type: ignore[misc]
    return removed


async def _keys_naming(redis: aioredis.Redis, prefix: str, user_id: str) -> int:
    """Delete every key under ``prefix`` whose name holds ``user_id``."""
    escaped = _GLOB.sub(r"\\\1", prefix)
    pattern = f"{escaped}:*{user_id}*"
    found: list[Any] = [key async for key in redis.scan_iter(match=pattern, count=1000)]
    deleted = 0
    for start in range(0, len(found), 500):
        pipe = redis.pipeline(transaction=False)
        for key in found[start : start + 500]:
            pipe.delete(key)
        deleted += sum(await pipe.execute())
    return deleted


async def forget_user(redis: aioredis.Redis, settings: Settings, user_id: str) -> Forgotten:
    """Delete ``user_id``'s dead letters and per-user keys (see the module docstring)."""
    return Forgotten(
        dead_letters=await erase_user_letters(redis, settings, user_id),
        session_keys=await forget_user_sessions(redis, settings.key_prefix, user_id),
        legacy_claims=await _legacy_claims(redis, settings, user_id),
        keys=await _keys_naming(redis, settings.key_prefix, user_id),
    )
