"""Device-token authentication with a short-lived in-process cache.

Every upload presents its token; a PostgreSQL round trip per upload would cap
the gateway, so lookups (including "unknown token") are cached for
``token_cache_seconds``. Concurrent first uses of one token share one lookup. The
cache is keyed by the token's SHA-256, never the secret. A revocation therefore
takes effect within ``token_cache_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from mindhit.accounts import TokenInfo, hash_token

__all__ = ["TokenCache", "bearer_token"]

Lookup = Callable[[str], Awaitable[TokenInfo | None]]


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class TokenCache:
    """Resolves tokens through ``lookup``, remembering answers for ``ttl_s`` seconds.

    Args:
        lookup: the real lookup (PostgreSQL); may raise when the database is down.
        ttl_s: how long an answer is reused.
        timer: monotonic seconds (injected for tests).
        max_entries: bound on remembered tokens (oldest forgotten first).
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        ttl_s: float,
        timer: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._timer = timer
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, TokenInfo | None]] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Future[TokenInfo | None]] = {}

    async def resolve(self, secret: str) -> TokenInfo | None:
        """The token's owner and state, or ``None`` when no such token exists."""
        digest = hash_token(secret)
        cached = self._entries.get(digest)
        now = self._timer()
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[TokenInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            info = await self._lookup(secret)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(info)
            self._remember(digest, info, now)
            return info
        finally:
            del self._inflight[digest]

    def _remember(self, digest: bytes, info: TokenInfo | None, now: float) -> None:
        self._entries[digest] = (now + self._ttl_s, info)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
