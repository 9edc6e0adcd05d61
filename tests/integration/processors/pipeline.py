"""An in-process pipeline for tests: the real handlers on real Redis streams, no Faust.

``Pipeline.feed`` appends raw entries like the gateway does; ``Pipeline.drain``
runs the dwell, enrich and mind-map handlers over their topics until no entry is
left, exactly as the agents would (same handlers, same emit contract).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from processors.agents import in_order
from processors.agents.enrich import EnrichHandler
from processors.agents.mindmap import MindmapHandler, OnBuilt, Reports
from processors.agents.raw import RawHandler
from processors.ai.base import AIError, AIProvider, Enrichment, MindmapPage, PageInput
from processors.ai.local import LocalProvider
from processors.content import ContentStore
from processors.erasure import user_eraser
from processors.report.outbox import ReportOutbox
from processors.state import StateStore
from schema.derived import DerivedBase, MindmapNode
from schema.events import ClientEvent
from schema.ids import uuid7
from schema.log import RawEntry, Upload, encode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, URLS_TOPIC, partition_for, stream_key
from tests.support.scripted import derived_events


class CountingProvider:
    """The offline provider, counting its calls; ``fail_with`` makes every call fail."""

    name = "local"

    def __init__(self) -> None:
        self._inner = LocalProvider()
        self.enriched: list[str] = []
        self.mindmaps = 0
        self.fail_with: str | None = None

    async def enrich(self, page: PageInput) -> Enrichment:
        if self.fail_with:
            raise AIError(self.fail_with)
        self.enriched.append(page.url)
        return await self._inner.enrich(page)

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        if self.fail_with:
            raise AIError(self.fail_with)
        self.mindmaps += 1
        return await self._inner.build_mindmap(pages)

    async def aclose(self) -> None:
        await self._inner.aclose()


class Pipeline:
    """The processors' handlers wired to real streams of one key prefix."""

    def __init__(
        self,
        client: aioredis.Redis,
        settings: Settings,
        clock_ms: int = 1,
        on_built: OnBuilt | None = None,
        provider: AIProvider | None = None,
    ) -> None:
        self.on_built = on_built
        self.redis = client
        self.settings = settings
        self.counting = CountingProvider()
        self.provider: Any = provider or self.counting
        self.now = clock_ms
        self.positions: dict[str, int] = {}
        self.restart()

    def restart(self) -> None:
        """New handlers with empty memory, as after a worker restart (Redis keeps its data)."""
        prefix = self.settings.key_prefix
        content = ContentStore(self.redis, prefix)
        self.outbox = ReportOutbox(self.redis, prefix)
        self.states = StateStore(self.redis, prefix)
        self.raw = RawHandler(
            self.states,
            content,
            in_order(self.emit),
            idle_threshold_ms=self.settings.idle_threshold_s * 1000,
        )
        self.enrich = EnrichHandler(content, self.provider, self.emit, self.clock)
        self.mindmap = MindmapHandler(
            content,
            self.provider,
            self.emit,
            self.clock,
            Reports(self.on_built, self.outbox) if self.on_built is not None else None,
            user_eraser(self.states, content, self.outbox),
        )

    def clock(self) -> int:
        self.now += 1
        return self.now

    async def emit(self, topic: str, partition: int, value: bytes) -> None:
        key = stream_key(self.settings.key_prefix, topic, partition)
        await streams.append(self.redis, key, value, key=b"", timestamp_ms=self.now)

    async def feed(self, user_id: str, client_id: str, events: list[ClientEvent]) -> None:
        """Append one upload as the gateway would (raw partition of the user)."""
        upload = Upload(
            batch_id=uuid7(),
            user_id=user_id,
            client_id=client_id,
            received_at=max((e.ts for e in events), default=0),
            events=events,
        )
        partition = partition_for(user_id, self.settings.partitions)
        key = stream_key(self.settings.key_prefix, RAW_TOPIC, partition)
        value = encode_raw_entry(RawEntry(uploads=[upload]))
        await streams.append(self.redis, key, value, key=user_id.encode(), timestamp_ms=0)

    async def drain(self) -> None:
        """Run every handler over its topic until nothing new is left."""
        handlers: list[tuple[str, Any]] = [
            (RAW_TOPIC, self.raw),
            (URLS_TOPIC, self.enrich),
            (SESSIONS_TOPIC, self.mindmap),
        ]
        progressed = True
        while progressed:
            progressed = False
            for topic, handler in handlers:
                for partition in range(self.settings.partitions):
                    key = stream_key(self.settings.key_prefix, topic, partition)
                    start = self.positions.get(key, 0)
                    for record in await streams.read(self.redis, {key: start}, count=1000):
                        await handler.handle(partition, record.value, record.offset)
                        self.positions[key] = record.offset + 1
                        progressed = True
        await self.mindmap.drain()

    async def derived(self, topic: str) -> list[DerivedBase]:
        """Every derived event on ``topic``, partition by partition, in order."""
        return await derived_events(
            self.redis, self.settings.key_prefix, self.settings.partitions, topic
        )
