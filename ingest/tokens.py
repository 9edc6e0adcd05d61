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
and be looked up again, together every TTL.

Lookups are batched (a group commit, as in :mod:`ingest.coalescer`): at most one
query is in flight, and every token that needs a lookup meanwhile (first uses and
refreshes alike) waits for the next one, which asks PostgreSQL for all of them at
once (``lookup_tokens``: ``token_hash = ANY(...)``). One token at a time, a burst
of a few hundred (a gateway's start, clients coming back, a wave of refreshes)
was a few hundred queries queued for 4 connections; each took a couple of event
loop turns, so on a busy gateway (turns of 20-100 ms) the burst lasted seconds,
refreshes finished after their answers had expired, and uploads waited for them
(measured on the bench: lookups of up to 2.4 s, uploads held as long).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence

from mindhit.accounts import TokenInfo, hash_token

__all__ = ["Lookup", "TokenCache", "bearer_token"]

Lookup = Callable[[Sequence[str]], Awaitable[Mapping[str, TokenInfo]]]
"""Looks several tokens up at once: the answer of each known one, by its secret
(unknown tokens are left out); raises when the database cannot answer."""


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class _Wanted:
    """A token waiting for a lookup: its secret, who waits, and when it was asked for."""

    __slots__ = ("future", "now", "secret")

    def __init__(self, secret: str, future: asyncio.Future[TokenInfo | None], now: float) -> None:
        self.secret = secret
        self.future = future
        self.now = now


class TokenCache:
    """Resolves tokens through ``lookup``, remembering answers for ``ttl_s`` seconds.

    Args:
        lookup: the real lookup (PostgreSQL), several tokens per call; may raise
            when the database is down.
        ttl_s: how long an answer is reused.
        timer: monotonic seconds (injected for tests).
        max_entries: bound on remembered tokens (oldest forgotten first).
        refresh_ahead: the last fraction of the TTL in which a use starts a
            background refresh.
        spread: each answer lives a random ``1 - spread`` to 1 of ``ttl_s`` (0: all
            exactly ``ttl_s``).
        draw: uniform numbers in [0, 1) (injected for tests).
        max_batch: most tokens one lookup asks for (the rest go in the next).
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
        max_batch: int = 500,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._refresh_s = ttl_s * refresh_ahead
        self._spread = spread
        self._draw = draw
        self._timer = timer
        self._max_entries = max_entries
        self._max_batch = max_batch
        self._entries: OrderedDict[bytes, tuple[float, TokenInfo | None]] = OrderedDict()
        # every token with a lookup to come or in flight, by digest (uses share it)
        self._inflight: dict[bytes, asyncio.Future[TokenInfo | None]] = {}
        self._queued: dict[bytes, _Wanted] = {}  # waiting for the next lookup
        self._looking = False  # a lookup is in flight
        self._scheduled = False  # a lookup is due in this loop iteration
        self._tasks: set[asyncio.Task[None]] = set()

    async def resolve(self, secret: str) -> TokenInfo | None:
        """The token's owner and state, or ``None`` when no such token exists."""
        digest = hash_token(secret)
        cached = self._entries.get(digest)
        now = self._timer()
        if cached is not None and cached[0] > now:
            if cached[0] - now <= self._refresh_s and digest not in self._inflight:
                self._want(secret, digest, now)  # in the background: nobody waits for it
            return cached[1]
        pending = self._inflight.get(digest)
        if pending is None:
            pending = self._want(secret, digest, now)
        return await asyncio.shield(pending)

    def _want(self, secret: str, digest: bytes, now: float) -> asyncio.Future[TokenInfo | None]:
        """Queue a lookup of ``secret`` for the next query; its answer counts from ``now``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TokenInfo | None] = loop.create_future()
        self._inflight[digest] = future
        self._queued[digest] = _Wanted(secret, future, now)
        if not self._looking and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)  # the uses of this loop iteration share it
        return future

    def _start(self) -> None:
        """Send the queued lookups as one query, unless one is in flight."""
        self._scheduled = False
        if self._looking or not self._queued:
            return
        digests = list(itertools.islice(self._queued, self._max_batch))
        batch = {digest: self._queued.pop(digest) for digest in digests}
        self._looking = True
        task = asyncio.get_running_loop().create_task(self._load(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load(self, batch: dict[bytes, _Wanted]) -> None:
        """Look ``batch`` up; answer its waiters and remember each answer from its
        ``now``. A failure is handed to the waiters (a background refresh has none: its
        entry expires and a later use looks it up again), nothing is remembered."""
        try:
            answers = await self._lookup([wanted.secret for wanted in batch.values()])
        except BaseException as exc:
            for digest, wanted in batch.items():
                if self._inflight.get(digest) is wanted.future:
                    del self._inflight[digest]
                if isinstance(exc, asyncio.CancelledError):
                    wanted.future.cancel()
                else:
                    wanted.future.set_exception(exc)
                    wanted.future.exception()  # retrieved: waiters (if any) re-raise it
            if not isinstance(exc, Exception):
                raise
        else:
            for digest, wanted in batch.items():
                info = answers.get(wanted.secret)
                self._remember(digest, info, wanted.now)
                if self._inflight.get(digest) is wanted.future:
                    del self._inflight[digest]
                wanted.future.set_result(info)
        finally:
            self._looking = False
            self._start()

    def _remember(self, digest: bytes, info: TokenInfo | None, now: float) -> None:
        lifetime = self._ttl_s * (1 - self._spread * self._draw())
        self._entries[digest] = (now + lifetime, info)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
