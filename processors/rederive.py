"""Re-deriving history: the processors' work done again over the raw log with other settings.

``mindhit replay --rederive`` hands every raw entry below a cutover to a
:class:`Rederiver`, which runs the very handlers the live workers run
(:class:`~processors.agents.raw.RawHandler`, ``EnrichHandler``, ``MindmapHandler``)
with the settings given (idle threshold, AI provider) and returns the derived
entries they would have emitted. Nothing is sent to the streams: the projector
folds the entries into its shadow tables and keeps them as the new derivation.

What differs from the live workers, and why:

* fold state starts empty, kept like the live workers keep theirs (users with an
  open session in memory, the others in Redis) but under its own keys
  (``<prefix>:rederive:{pN}:dwell-state``, deleted when done; it does not expire, so
  a late upload the live worker counted late because the user's state had expired may
  fold into its session here), and "already
  announced" markers live in memory: the derivation depends only on the log and
  the settings, never on what the live workers did before;
* a cached enrichment is reused only when the configured provider made it
  (switching provider re-enriches every page version); new enrichments are
  cached for the live workers unless this is a dry run;
* no report emails, no ``mindmap-done`` markers, no page texts written.

The replay hands raw entries over in log time across partitions (each partition
in its own order), as the live workers saw them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis

from mindhit.clock import Clock
from mindhit.settings import Settings
from processors.agents import in_order
from processors.agents.enrich import EnrichHandler
from processors.agents.mindmap import MindmapHandler
from processors.agents.raw import RawHandler
from processors.ai.base import AIProvider
from processors.content import CachedEnrichment, ContentStore
from processors.state import StateStore, dwell_ttl_ms
from schema.topics import SESSIONS_TOPIC, URLS_TOPIC

__all__ = ["DerivedOut", "Rederiver", "derivation_settings"]

DerivedOut = tuple[str, bytes]
"""(topic, encoded :class:`schema.log.DerivedEntry`) in the partition of its raw entry."""


def derivation_settings(settings: Settings, provider: AIProvider) -> dict[str, object]:
    """The settings that shape derived events (recorded with each derivation)."""
    shaped: dict[str, object] = {
        "idle_threshold_s": settings.idle_threshold_s,
        "ai_provider": provider.name,
    }
    if provider.name == "gemini":
        shaped["gemini_model"] = settings.gemini_model
    return shaped


class _ReplayContent(ContentStore):
    """The live content store for page texts; everything else fresh and in memory."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, provider_name: str, *, write_cache: bool
    ) -> None:
        super().__init__(client, prefix)
        self._provider_name = provider_name
        self._write_cache = write_cache
        self._announced: set[tuple[str, str]] = set()
        self._enrichments: dict[tuple[str, str], CachedEnrichment] = {}

    async def put_texts(self, texts: Iterable[tuple[str, str]], user_id: str = "") -> None:
        return None  # the texts came from the log: the live workers stored them

    async def hold_texts(self, hashes: Iterable[str], user_id: str) -> None:
        return None  # recorded by the live workers too

    async def unknown_versions(self, versions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [v for v in dict.fromkeys(versions) if v not in self._announced]

    async def mark_versions(
        self, versions: Iterable[tuple[str, str]], users: dict[tuple[str, str], str] | None = None
    ) -> None:
        self._announced.update(versions)

    async def take_entry(
        self,
        texts: Mapping[str, Iterable[tuple[str, str]]],
        held: Mapping[str, Iterable[str]],
        versions: Sequence[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        return await self.unknown_versions(versions)  # texts and holds: as put_texts, hold_texts

    def queue_mark_versions(
        self,
        pipe: Any,
        versions: Iterable[tuple[str, str]],
        users: dict[tuple[str, str], str] | None = None,
    ) -> bool:
        self._announced.update(versions)  # in memory, nothing for the live Redis
        return False

    async def get_enrichments(
        self, versions: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], CachedEnrichment]:
        found = {v: self._enrichments[v] for v in versions if v in self._enrichments}
        missing = [v for v in versions if v not in found]
        cached = await super().get_enrichments(missing) if missing else {}
        for version, value in cached.items():
            if value.provider == self._provider_name:
                found[version] = self._enrichments[version] = value
        return found

    async def put_enrichment(
        self, url_hash: str, content_hash: str, value: CachedEnrichment
    ) -> None:
        self._enrichments[(url_hash, content_hash)] = value
        if self._write_cache:
            await super().put_enrichment(url_hash, content_hash, value)

    async def lock_enrichment(self, url_hash: str, content_hash: str, owner: str) -> bool:
        return True

    async def unlock_enrichment(self, url_hash: str, content_hash: str) -> None:
        return None

    async def mindmap_done(self, user_id: str, session_id: str) -> bool:
        return False

    async def mark_mindmap_done(self, user_id: str, session_id: str) -> None:
        return None


class Rederiver:
    """The live handlers wired to in-memory stores and an emit that collects.

    Args:
        settings: the settings to derive with (``idle_threshold_s``, key prefix).
        redis: the live Redis (page texts, enrichment cache).
        provider: the AI provider to derive with.
        clock: Unix ms, for enrichment and mind-map times.
        write_cache: cache new enrichments for the live workers (False for a dry run).
    """

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        provider: AIProvider,
        clock: Clock,
        *,
        write_cache: bool = True,
    ) -> None:
        self.settings = derivation_settings(settings, provider)
        self._redis = redis
        self._state_prefix = f"{settings.key_prefix}:rederive"
        self._states = StateStore(redis, self._state_prefix)
        content = _ReplayContent(redis, settings.key_prefix, provider.name, write_cache=write_cache)
        self._out: deque[DerivedOut] = deque()
        self._raw = RawHandler(
            self._states,
            content,
            in_order(self._collect),
            idle_threshold_ms=settings.idle_threshold_s * 1000,
            state_ttl_ms=dwell_ttl_ms(settings),
        )
        self._enrich = EnrichHandler(content, provider, self._collect, clock)
        self._mindmap = MindmapHandler(content, provider, self._collect, clock)
        self._provider = provider
        self._partitions: set[int] = set()

    async def aclose(self) -> None:
        """Delete the fold state kept in Redis and release the provider's connections."""
        try:
            if self._partitions:
                for partition in self._partitions:  # one slot per partition
                    await self._redis.delete(*self._states.keys(partition))
        finally:
            await self._provider.aclose()

    async def _collect(self, topic: str, partition: int, value: bytes) -> None:
        self._out.append((topic, value))

    async def derive(self, partition: int, offset: int, value: bytes) -> list[DerivedOut]:
        """Every derived entry the raw entry at ``(partition, offset)`` leads to, in order.

        Steps: fold the raw entry (visits, URL versions, closed sessions); then hand
        each collected ``urls`` entry to the enrich handler and each ``sessions``
        entry to the mind-map handler, whose outputs are collected in turn, until
        nothing is left. Every entry carries ``offset`` as its origin.
        """
        if partition not in self._partitions:
            self._partitions.add(partition)
            await self._redis.delete(*self._states.keys(partition))  # left by an aborted run
        await self._raw.handle(partition, value, offset)
        done: list[DerivedOut] = []
        while self._out:
            topic, entry = self._out.popleft()
            done.append((topic, entry))
            if topic == URLS_TOPIC:
                await self._enrich.handle(partition, entry)
            elif topic == SESSIONS_TOPIC:
                await self._mindmap.handle(partition, entry)
        return done
