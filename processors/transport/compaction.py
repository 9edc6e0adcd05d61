"""Changelog compaction: drop entries superseded by a newer entry with the same key.

A table's changelog gets one entry per update, so recovering a table from it
costs the number of updates ever made. Compaction keeps only the newest entry
per key, so recovery costs the number of keys. Gaps in offsets are fine for
changelogs (Faust reads them without acking), never for source topics, which is
why only topics declared with ``compacting=True`` are compacted. The newest entry
of a stream is never superseded, so the highwater recovery waits for always exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from faust.types import TP
from mode import Service

from mindhit.logs import get_logger
from mindhit.streams import offset_of
from processors.transport import metrics
from processors.transport.context import GroupContext
from schema.log import FIELD_KEY

__all__ = ["CompactionResult", "Compactor", "compact_stream", "superseded"]

log = get_logger(__name__)

PAGE = 1000


class CompactionResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one compaction pass over one stream did."""

    scanned: int
    deleted: int


def superseded(entries: Iterable[tuple[int, bytes]]) -> list[int]:
    """Offsets whose key appears again later; ``entries`` are ``(offset, key)`` in offset order.

    Entries without a key are never superseded.
    """
    latest: dict[bytes, int] = {}
    dropped: list[int] = []
    for offset, key in entries:
        if not key:
            continue
        previous = latest.get(key)
        if previous is not None:
            dropped.append(previous)
        latest[key] = offset
    return dropped


async def compact_stream(client: aioredis.Redis, stream: str) -> CompactionResult:
    """Delete superseded entries of one changelog stream.

    Steps:
        1. Scan the stream in pages, keeping only ``(offset, key)`` per entry.
        2. Compute the superseded offsets (pure: :func:`superseded`).
        3. ``XDEL`` them in pages. Entries appended during the scan are untouched,
           and an entry is only deleted when a newer one for its key was seen, so
           concurrent writers never lose their latest value.
    """
    entries: list[tuple[int, bytes]] = []
    start = "-"
    while True:
        page: Any = await client.xrange(stream, min=start, max="+", count=PAGE)
        if not page:
            break
        for entry_id, fields in page:
            entries.append((offset_of(entry_id), fields.get(FIELD_KEY, b"")))
        last_id = page[-1][0]
        start = "(" + (last_id.decode() if isinstance(last_id, bytes) else last_id)
        if len(page) < PAGE:
            break
    dropped = superseded(entries)
    for begin in range(0, len(dropped), PAGE):
        await client.xdel(stream, *(f"0-{offset + 1}" for offset in dropped[begin : begin + PAGE]))
    return CompactionResult(scanned=len(entries), deleted=len(dropped))


class Compactor(Service):
    """Compacts the changelog partitions this worker holds, every ``compact_interval`` s."""

    def __init__(self, ctx: GroupContext, *, held: Callable[[], set[TP]], **kwargs: Any) -> None:
        self.ctx = ctx
        self._held = held
        self._client: aioredis.Redis | None = None
        super().__init__(**kwargs)

    @property
    def client(self) -> aioredis.Redis:
        """This service's own Redis client (compaction scans must not delay fetches)."""
        if self._client is None:
            self._client = self.ctx.new_client()
        return self._client

    @Service.task
    async def _every_interval(self) -> None:
        interval = self.ctx.options.compact_interval_s
        if not interval:
            return
        while not self.should_stop:
            await self.sleep(interval)
            await self.compact_now()

    async def compact_now(self) -> int:
        """Compact the held changelog partitions once; return entries deleted."""
        deleted = 0
        for tp in sorted(self._held()):
            meta = self.ctx.catalog.meta(tp.topic)
            if meta is None or not meta.compacting:
                continue
            stream = self.ctx.stream(tp)
            try:
                result = await compact_stream(self.client, stream)
            except Exception as exc:
                log.warning("compaction failed", stream=stream, error=repr(exc))
                continue
            deleted += result.deleted
            metrics.COMPACTED.labels(tp.topic).inc(result.deleted)
            if result.deleted:
                log.info("compacted", stream=stream, scanned=result.scanned, deleted=result.deleted)
        return deleted

    async def on_stop(self) -> None:
        """Close the connection."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
