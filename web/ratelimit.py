"""Sign-in rate limiting: a fixed window per email and per client address, kept in Redis.

Redis (not process memory) holds the counters so every dashboard replica sees the same
attempts. The decision itself is a pure function so it is tested without Redis.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import msgspec
import redis.asyncio as aioredis

__all__ = ["Limit", "RateDecision", "SignInLimiter", "decide"]

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


class SignInLimiter:
    """Counts sign-in attempts per email and per address; both must be within limits."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        per_email: Limit = Limit(attempts=5, window_s=300),
        per_address: Limit = Limit(attempts=30, window_s=300),
        signups: Limit = Limit(attempts=10, window_s=3600),
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._per_email = per_email
        self._per_address = per_address
        self._signups = signups
        self._script = client.register_script(_SCRIPT)

    def _key(self, kind: str, value: str) -> str:
        digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
        return f"{self._prefix}:web:signin:{kind}:{digest}"

    async def _hit(self, key: str, limit: Limit) -> RateDecision:
        count, ttl = await self._script(keys=[key], args=[limit.window_s])
        return decide(int(count), int(ttl), limit)

    async def attempt(self, email: str, address: str) -> RateDecision:
        """Record one attempt; deny when either the email or the address is over its limit."""
        by_email = await self._hit(self._key("email", email), self._per_email)
        by_address = await self._hit(self._key("addr", address), self._per_address)
        if by_email.allowed and by_address.allowed:
            return RateDecision(allowed=True)
        return RateDecision(
            allowed=False, retry_after_s=max(by_email.retry_after_s, by_address.retry_after_s)
        )

    async def signup(self, address: str) -> RateDecision:
        """Record one account creation from ``address``; deny beyond the hourly limit."""
        return await self._hit(self._key("signup", address), self._signups)

    async def reset(self, email: str) -> None:
        """Forget failed attempts for ``email`` after a successful sign-in."""
        await self._client.delete(self._key("email", email))
