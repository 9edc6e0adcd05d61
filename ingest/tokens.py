"""Device-token authentication with a short-lived in-process cache.

Every upload presents its token; a PostgreSQL round trip per upload would cap
the gateway, so lookups (including "unknown token") are cached for
``token_cache_seconds``. Concurrent first uses of one token share one lookup. The
cache is keyed by the token's SHA-256, never the secret. A revocation therefore
takes effect within ``token_cache_seconds``.

A token in use is refreshed ahead of its expiry: a request in the last fifth of
the TTL is answered from the cache and starts one lookup in the background, so
a steadily used token never makes a request wait for PostgreSQL (without it, a
busy gateway's tokens all expired together every TTL, and every request of the
moment waited for its lookup through a pool of 4 connections). An answer is
never used past its TTL: if the background lookup has not finished by then, the
next request waits for it as on a first use.

Each answer's lifetime is drawn between ``(1 - spread) × ttl_s`` and ``ttl_s``: tokens
first used together (a gateway's start, a burst of clients) would otherwise expire,
and be looked up again, together every TTL. At 200 tokens that was ~40 ms of lookups
(~200 µs of CPU each) in one burst every few seconds, which the uploads arriving
meanwhile waited behind; spread, the lookups drift apart within a few TTLs. A
revocation still takes effect within ``token_cache_seconds``.
"""

from __future__ import annotations

import asyncio
import random
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
        refresh_ahead: the last fraction of the TTL in which a use starts a
            background refresh.
        spread: each answer lives a random ``1 - spread`` to 1 of ``ttl_s`` (0: all
            exactly ``ttl_s``).
        draw: uniform numbers in [0, 1) (injected for tests).
    """

    def __init__(
        self,
        lookup: Lookup,
        *,
        ttl_s: float,
        timer: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
        refresh_ahead: float = 0.2,
        spread: float = 0.0,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._refresh_s = ttl_s * refresh_ahead
        self._spread = spread
        self._draw = draw
        self._refreshes: set[asyncio.Task[TokenInfo | None]] = set()
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
            if cached[0] - now <= self._refresh_s and digest not in self._inflight:
                self._refresh(secret, digest, now)
            return cached[1]
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        return await self._load(secret, digest, self._begin(digest), now)

    def _begin(self, digest: bytes) -> asyncio.Future[TokenInfo | None]:
        """Register a lookup of ``digest`` that later uses will share."""
        future: asyncio.Future[TokenInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        return future

    def _refresh(self, secret: str, digest: bytes, now: float) -> None:
        """Look ``secret`` up in the background (a failure is left to the next use)."""
        future = self._begin(digest)
        task = asyncio.get_running_loop().create_task(self._load(secret, digest, future, now))
        self._refreshes.add(task)

        def done(task: asyncio.Task[TokenInfo | None]) -> None:
            self._refreshes.discard(task)
            if task.cancelled():  # possibly before it ran: nobody may wait on its lookup
                if self._inflight.get(digest) is future:
                    del self._inflight[digest]
                future.cancel()
            else:
                task.exception()  # retrieved: the entry expires, a later use looks up again

        task.add_done_callback(done)

    async def _load(
        self, secret: str, digest: bytes, future: asyncio.Future[TokenInfo | None], now: float
    ) -> TokenInfo | None:
        """Run the lookup ``future`` stands for; its answer is remembered from ``now``."""
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
        lifetime = self._ttl_s * (1 - self._spread * self._draw())
        self._entries[digest] = (now + lifetime, info)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
