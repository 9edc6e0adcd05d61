"""Per-user request and byte quotas of the gateway (token buckets in Redis).

Every authenticated request takes one token from the user's request bucket and its
body's size from their byte bucket (``quota.lua``, one atomic script per request, one
key per user: ``<prefix>:quota:<user_id>``, expiring once both buckets are full again).
A request the buckets cannot pay for is refused with 429, ``Retry-After`` (seconds
until enough has refilled) and ``field`` naming the quota (``quota.requests`` or
``quota.bytes``); it takes nothing. Buckets are per user, not per token, so more
device tokens do not buy more quota, and one user's flood never slows another's
uploads. Redis holds the buckets so every gateway replica sees the same quota.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis

from ingest.errors import ApiError
from mindhit.settings import Settings

__all__ = ["QuotaDecision", "QuotaLimiter", "QuotaPolicy", "quota_key"]

_SCRIPT = resources.files("ingest").joinpath("quota.lua").read_text()


def quota_key(prefix: str, user_id: str) -> str:
    """The hash holding a user's two buckets."""
    return f"{prefix}:quota:{user_id}"


class QuotaPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Sustained rates and bursts; a rate of 0 switches that quota off."""

    requests_per_s: float
    request_burst: int
    bytes_per_s: float
    byte_burst: int

    @classmethod
    def of(cls, settings: Settings) -> QuotaPolicy:
        """The settings' quotas; the byte burst is raised to the largest accepted body
        (else a legitimate upload of that size could never pass)."""
        return cls(
            requests_per_s=settings.quota_requests_per_s,
            request_burst=max(1, settings.quota_request_burst),
            bytes_per_s=settings.quota_bytes_per_s,
            byte_burst=max(settings.quota_byte_burst, settings.max_body_bytes),
        )

    @property
    def enabled(self) -> bool:
        """Whether any quota applies."""
        return self.requests_per_s > 0 or self.bytes_per_s > 0


class QuotaDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Taken (``quota`` empty), or refused by ``quota`` for ``retry_after_s`` seconds."""

    quota: str = ""
    retry_after_s: int = 0

    @property
    def allowed(self) -> bool:
        """Whether the request was paid for."""
        return not self.quota

    @classmethod
    def from_reply(cls, reply: Any) -> QuotaDecision:
        """Decode the script's ``{verdict, wait_ms}``."""
        verdict, wait_ms = reply
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        if verdict == "ok":
            return cls()
        return cls(quota=verdict, retry_after_s=max(1, math.ceil(int(wait_ms) / 1000)))

    def raise_if_refused(self, policy: QuotaPolicy) -> None:
        """Raise the 429 answer of a refused request."""
        if self.allowed:
            return
        if self.quota == "bytes":
            what = f"{policy.bytes_per_s:g} bytes/s, burst {policy.byte_burst}"
        else:
            what = f"{policy.requests_per_s:g} requests/s, burst {policy.request_burst}"
        raise ApiError(
            429,
            f"{self.quota} quota exceeded ({what}); retry after {self.retry_after_s} s",
            field=f"quota.{self.quota}",
            headers={"Retry-After": str(self.retry_after_s)},
        )


class QuotaLimiter:
    """Charges requests to their user's buckets (see the module docstring)."""

    def __init__(self, client: aioredis.Redis, prefix: str, policy: QuotaPolicy) -> None:
        self._prefix = prefix
        self.policy = policy
        self._script = client.register_script(_SCRIPT)

    async def take(self, user_id: str, cost_bytes: int, now_ms: int) -> QuotaDecision:
        """Take one request and ``cost_bytes`` from the user's buckets, or nothing."""
        if not self.policy.enabled:
            return QuotaDecision()
        p = self.policy
        reply = await self._script(
            keys=[quota_key(self._prefix, user_id)],
            args=[now_ms, p.requests_per_s, p.request_burst, p.bytes_per_s, p.byte_burst,
                  cost_bytes],
        )  # fmt: skip
        return QuotaDecision.from_reply(reply)

    async def charge(self, user_id: str, cost_bytes: int, now_ms: int) -> None:
        """:meth:`take`, raising the 429 answer when refused."""
        (await self.take(user_id, cost_bytes, now_ms)).raise_if_refused(self.policy)
