"""Which URL versions were announced: Redis's markers, and what this worker saw of them.

The dwell handler asks, for every URL version its batch meets, whether the version's
marker (``<prefix>:urlver:<url_hash>:<content_hash>``, :mod:`processors.content`)
exists: ~700 markers per 16 raw entries, nearly all of them there. This keeps the
versions seen announced, each until its marker's expiry at the earliest, and asks Redis
only about the others: the same answers, a fraction of the keys.

A marker goes away in three ways, and none goes unseen:

- *It expires.* A version is kept until the expiry Redis reported for its marker
  (``PTTL``, read instead of the marker's value) or the lifetime it was written with,
  counted from before the command was sent.
- *It is deleted* (an erasure, :meth:`processors.content.ContentStore.erase_user`;
  ``mindhit recover``). Whatever deletes markers also deletes the token key
  (:func:`mindhit.streams.url_versions_token_key`; in the same transaction on a standalone
  Redis, right after on a cluster), then waits until a replica of the token's node holds
  that (:func:`mindhit.replica_wait.replica_holds`, ``WAIT 1``; no wait on a node without
  replicas): promoted without the deletion, a replica would hand back the token every
  worker kept its versions under. Not acknowledged in time, the erasure fails and is
  retried (``mindhit recover`` fails). Every look-up first reads the token (``SET NX GET``:
  a missing one is created) in the same pipeline, before the markers; a token other than
  the one the kept versions were seen under drops them all, and the versions answered
  from memory are asked again (a second round trip, after an erasure only). What that
  pipeline read is not kept: a cluster runs it node by node, so a marker may have been
  read before the deletion whose new token it came with.
- *Redis loses data.* Restarted empty, it has no token (as above). A failover that lost
  the last writes is a log loss the workers stand still for (:mod:`processors.transport
  .log_check`) until ``mindhit recover``, which deletes the token; and what a worker
  keeps is dropped when its partitions are revoked (:meth:`AnnouncedVersions.forget`).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.redis_client import is_cluster
from mindhit.streams import url_versions_token_key

__all__ = ["LIMIT", "AnnouncedVersions", "Version"]

Version = tuple[str, str]
"""``(url_hash, content_hash)``."""
LIMIT = 100_000
"""Versions kept at most (~35 MB); past it, everything kept is dropped and asked again."""
_TTLS = resources.files("processors").joinpath("version_ttls.lua").read_text()


class AnnouncedVersions:
    """The URL-version markers in Redis, with the versions known announced kept in memory.

    Args:
        client: the Redis holding the markers.
        prefix: the key prefix.
        ttl_s: the lifetime markers are written with (0: none).
        clock: monotonic seconds (deadlines of kept versions).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        ttl_s: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._token_key = url_versions_token_key(prefix)
        self._ttl_s = ttl_s
        self._clock = clock
        self._kept: dict[Version, float] = {}
        """Version → until when its marker exists at least (``clock`` seconds)."""
        self._token: bytes | None = None
        """The token the kept versions were seen under."""

    def marker(self, url_hash: str, content_hash: str) -> str:
        """The marker key of one URL version."""
        return f"{self._prefix}:urlver:{url_hash}:{content_hash}"

    def token(self) -> tuple[bytes | None, float]:
        """The token the kept versions were seen under, and the time now: what
        :meth:`remember` takes, read before the markers are written."""
        return self._token, self._clock()

    def forget(self) -> None:
        """Drop every kept version (partitions were revoked: Redis stays the truth)."""
        self._kept.clear()
        self._token = None

    async def unknown(self, pipe: Any, versions: Sequence[Version]) -> list[Version]:
        """Those of ``versions`` (unique) never announced, in order, asked with ``pipe``.

        Steps: 1. queue, at the end of ``pipe`` (which may hold other commands), the
        token and the remaining life of each marker not kept (or kept past its
        deadline); 2. run the pipeline; 3. a token not the one the kept versions were
        seen under drops them, and those answered from memory are asked again (one
        more round trip); 4. keep each version whose marker exists.
        """
        started = self._clock()
        kept = self._kept
        asked = [v for v in versions if kept.get(v, 0.0) <= started] if kept else list(versions)
        created = self._queue(pipe, asked)
        changed, fresh = self._settle(started, asked, created, await pipe.execute())
        if changed and len(asked) < len(versions):  # an erasure: ask what memory answered
            skipped = set(asked)
            again = [v for v in versions if v not in skipped]
            started = self._clock()
            pipe = self._redis.pipeline(transaction=False)
            created = self._queue(pipe, again)
            _, more = self._settle(started, again, created, await pipe.execute())
            wanted = {*fresh, *more}
            fresh = [v for v in versions if v in wanted]
        return fresh

    def _queue(self, pipe: Any, asked: Sequence[Version]) -> str:
        """Queue the token (returns the one created if there is none) and the remaining
        life of the markers of ``asked``."""
        created = secrets.token_hex(8)
        pipe.set(self._token_key, created, nx=True, get=True)
        markers = [self.marker(u, c) for u, c in asked]
        if is_cluster(self._redis):
            for marker in markers:
                pipe.pttl(marker)
        elif markers:
            pipe.eval(_TTLS, len(markers), *markers)
        return created

    def _settle(
        self, started: float, asked: Sequence[Version], created: str, results: list[Any]
    ) -> tuple[bool, list[Version]]:
        """Take the token and the markers' lives at the end of ``results``: whether the
        token changed, and the versions of ``asked`` not announced."""
        if not asked:
            old, lives = results[-1], []
        elif is_cluster(self._redis):
            old, lives = results[-len(asked) - 1], results[-len(asked) :]
        else:
            old, lives = results[-2], results[-1]
        token = old if old is not None else created.encode()
        changed = token != self._token
        kept = self._kept
        if changed or len(kept) > LIMIT:
            kept.clear()
            self._token = token
        if changed:  # answers, not kept: a cluster may have read them before the token
            return True, [v for v, life in zip(asked, lives, strict=True) if life == -2]
        fresh: list[Version] = []
        for version, life in zip(asked, lives, strict=True):
            if life == -2:  # no such key
                fresh.append(version)
            else:
                kept[version] = math.inf if life == -1 else started + life / 1000
        return False, fresh

    def remember(self, versions: Iterable[Version], seen: tuple[bytes | None, float]) -> None:
        """Keep versions whose markers were just written (``ttl_s``); ``seen`` is
        :meth:`token` from before the write (nothing is kept when the token changed
        since: the write may have come before a deletion)."""
        token, since = seen
        if token is None or token != self._token:
            return
        until = since + self._ttl_s if self._ttl_s else math.inf
        for version in versions:
            self._kept[version] = until
