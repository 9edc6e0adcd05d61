"""Settling session owner keys once the projector has committed their sessions' rows.

A session's owner key (:mod:`mindhit.session_owners`) is the only record of its owner
until the ``sessions`` row exists; after that PostgreSQL answers for it and the key is a
cache of the sessions in flight. So after each committed batch the projector settles
the keys of the sessions it wrote: their life is cut (or renewed) to the settled TTL
(2 × ``MINDHIT_SESSION_IDLE_CLOSE_S``). Settling happens *after* the commit, never
before: a crash in between leaves the key with its long pending life (memory, not
safety), and the session's next projected event settles it.

A session seen in many batches is settled at most once per :data:`RENEW_FRACTION` of the
TTL per process, so an active session costs one Redis call every few minutes, not one
per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import redis.asyncio as aioredis

from mindhit.session_owners import settle_sessions

__all__ = ["RENEW_FRACTION", "OwnerKeys"]

RENEW_FRACTION = 0.1
"""A session settled less than this fraction of the TTL ago is not settled again."""
_REMEMBERED = 100_000
"""At most this many recently settled sessions are remembered (then all forgotten)."""


class OwnerKeys:
    """Settles the owner keys of sessions whose rows this projector committed.

    Args:
        redis: the Redis holding the keys.
        prefix: the key prefix.
        ttl_s: the settled TTL (:func:`mindhit.session_owners.settled_ttl_s`).
        now: monotonic clock in seconds, injected.
    """

    def __init__(
        self, redis: aioredis.Redis, prefix: str, ttl_s: int, now: Callable[[], float]
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._now = now
        self._settled: dict[tuple[str, str], float] = {}

    def due(self, written: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The ``(user_id, session_id)`` pairs of ``written`` not settled recently."""
        now = self._now()
        fresh = now - RENEW_FRACTION * self._ttl_s
        return [s for s in dict.fromkeys(written) if self._settled.get(s, fresh - 1) < fresh]

    async def settle(self, written: Iterable[tuple[str, str]]) -> int:
        """Settle the keys of ``written`` sessions (rows committed); return how many."""
        due = self.due(written)
        if not due:
            return 0
        settled = await settle_sessions(self._redis, self._prefix, due, self._ttl_s)
        if len(self._settled) + len(due) > _REMEMBERED:
            self._settled.clear()
        now = self._now()
        self._settled.update(dict.fromkeys(due, now))
        return settled
