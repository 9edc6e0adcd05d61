"""Fixed-window limits on account forms (sign-ups per address, account mails per user).

Redis (not process memory) holds the counters so every dashboard replica sees the same
attempts. The decision itself is a pure function so it is tested without Redis.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import msgspec
import redis.asyncio as aioredis

__all__ = ["Limit", "RateDecision", "WindowLimiter", "decide"]

_SCRIPT = resources.files("web").joinpath("ratelimit.lua").read_text()


class Limit(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``attempts`` in ``window_s`` seconds."""

    attempts: int
    window_s: int


class RateDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Whether to allow an attempt and, if not, how long to wait."""

    allowed: bool
    retry_after_s: int = 0


def decide(count: int, ttl_s: int, limit: Limit) -> RateDecision:
    """Allow while the window's count is within the limit; else say when it resets."""
    if count <= limit.attempts:
        return RateDecision(allowed=True)
    wait = ttl_s if 0 < ttl_s <= limit.window_s else limit.window_s
    return RateDecision(allowed=False, retry_after_s=max(1, wait))


class WindowLimiter:
    """Fixed-window limits on account forms: new accounts per address, mails per user.

    Sign-in attempts have their own throttle (:mod:`web.throttle`).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        signups: Limit = Limit(attempts=10, window_s=3600),
        account_mails: Limit = Limit(attempts=5, window_s=3600),
    ) -> None:
        self._prefix = prefix
        self._signups = signups
        self._account_mails = account_mails
        self._script = client.register_script(_SCRIPT)

    def _key(self, kind: str, value: str) -> str:
        digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
        return f"{self._prefix}:web:limit:{kind}:{digest}"

    async def _hit(self, key: str, limit: Limit) -> RateDecision:
        count, ttl = await self._script(keys=[key], args=[limit.window_s])
        return decide(int(count), int(ttl), limit)

    async def signup(self, address: str) -> RateDecision:
        """Record one account creation from ``address``; deny beyond the hourly limit."""
        return await self._hit(self._key("signup", address), self._signups)

    async def account_mail(self, user_id: str) -> RateDecision:
        """Record one account mail (confirmation link) for ``user_id``; deny beyond the limit."""
        return await self._hit(self._key("mail", user_id), self._account_mails)
