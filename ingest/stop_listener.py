"""Stops made without this gateway reach it at once, not a minute later.

The gateway trusts a session it confirmed as the uploader's for up to a minute without
asking Redis (:class:`ingest.owner_cache.OwnSessions`), and reads a session's stop note
(:mod:`mindhit.session_stops`) only when it asks. So a stop from the dashboard or the
housekeeping's idle close reached the extension up to a minute late, and an upload of a
session closed just as it was confirmed was not told for that minute. Every stop is
published on ``<prefix>:session-stops``; :class:`StopListener` forgets each stopped
session from the cache, so the next upload asks Redis and is told.

A message missed while the subscription was down costs no more than the cache's minute
did: after every (re)subscription the whole cache is cleared, and a listener that cannot
subscribe leaves the cache as it was (its entries still expire).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import redis

from ingest.owner_cache import OwnSessions
from mindhit.logs import get_logger
from mindhit.session_stops import stops_channel

__all__ = ["StopListener"]

log = get_logger(__name__)

_POLL_S: Final = 1.0
"""How long one wait for a message blocks (so a dead connection is noticed)."""


class StopListener:
    """Subscribes to the stops channel and forgets stopped sessions from ``own``."""

    def __init__(
        self, redis_client: Any, prefix: str, own: OwnSessions, *, retry_s: float = 1.0
    ) -> None:
        self._redis = redis_client
        self._channel = stops_channel(prefix)
        self._own = own
        self._retry_s = retry_s
        self.subscribed = asyncio.Event()
        """Set while subscribed (tests wait for it)."""

    async def run(self) -> None:
        """Listen until cancelled; a lost connection is subscribed again after a pause."""
        while True:
            try:
                await self._listen()
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("stop_listener_lost", error=str(exc), retry_s=self._retry_s)
                await asyncio.sleep(self._retry_s)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self._own.clear()  # whatever was published meanwhile went unheard
            self.subscribed.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    self._own.forget(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            self.subscribed.clear()
            await pubsub.aclose()
