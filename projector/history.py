"""A stream's history, read back for a rebuild: the archive first, then the Redis tail.

Replay reads every stream below its target offset: what the archiver already copied
to ``event_log`` (paged, :mod:`projector.archive_read`), then what only Redis still
holds. Re-deriving reads the raw partitions side by side in log time
(:func:`by_time`), as the live workers met them. Everything here streams: memory
stays flat however long the log is.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import streams
from projector.archive_read import archived_end, read_archived
from schema.log import FIELD_VALUE, LogEntryError, decode_raw_entry

__all__ = ["Entry", "HistoryGap", "StreamHistory", "by_time", "tail_entries"]

Entry = tuple[int, bytes | None]
"""(offset, value) of one log entry (an archived entry split per user: one per part)."""


class HistoryGap(RuntimeError):
    """Entries are missing from both the archive and Redis."""


async def tail_entries(
    redis: aioredis.Redis, stream: str, lo: int, hi: int
) -> AsyncIterator[Entry]:
    """Entries ``lo <= offset < hi`` of one stream from Redis, in order.

    Raises:
        HistoryGap: Redis was trimmed past ``lo`` (those entries are gone).
    """
    position = lo
    while position < hi:
        earliest = await streams.earliest_offset(redis, stream)
        if earliest > position:
            raise HistoryGap(
                f"{stream}: offsets {position}..{earliest - 1} are neither archived nor in Redis"
            )
        records = await streams.read(redis, {stream: position}, count=min(500, hi - position))
        if not records:
            return
        for record in records:
            if record.offset >= hi:
                return
            yield record.offset, record.fields.get(FIELD_VALUE)
            position = record.offset + 1


class StreamHistory:
    """One stream's entries below ``target``: the archive, then the Redis tail.

    Args:
        conn: reads the archive.
        redis: reads the tail.
        stream: the stream's key.
        where: the stream's ``(topic, partition)``.
        target: the offset to read up to (excluded).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        redis: aioredis.Redis,
        stream: str,
        where: tuple[str, int],
        target: int,
    ) -> None:
        self._conn = conn
        self._redis = redis
        self.stream = stream
        self.where = where
        self.target = target
        self.position = 0
        """The offset after the last entry read: where a later catch-up resumes."""

    async def entries(self) -> AsyncIterator[Entry]:
        """Yield the entries in log order (where the archive ends is read when it starts)."""
        topic, partition = self.where
        archived = min(archived_end(self._conn, topic, partition), self.target)
        self.position = archived
        for offset, value in read_archived(self._conn, topic, partition, 0, archived):
            yield offset, value
        async for offset, live in tail_entries(self._redis, self.stream, archived, self.target):
            yield offset, live
            self.position = offset + 1


def _logged_at(value: bytes | None) -> int:
    """When a raw entry was logged (its newest upload), for merging partitions in time."""
    try:
        return max((u.received_at for u in decode_raw_entry(value or b"").uploads), default=0)
    except LogEntryError:
        return 0


async def by_time(
    sources: list[tuple[int, AsyncIterator[Entry]]],
) -> AsyncIterator[tuple[int, int, bytes | None]]:
    """``(partition, offset, value)`` of raw streams merged by log time, each in its order.

    Re-deriving handles the partitions as the live workers did: side by side in
    time, so a page two users read is announced by whoever read it first.
    """
    heads: list[tuple[int, int, int, bytes | None]] = []
    for partition, entries in sources:
        first = await anext(entries, None)
        if first is not None:
            heapq.heappush(heads, (_logged_at(first[1]), partition, first[0], first[1]))
    by_partition = dict(sources)
    while heads:
        _, partition, offset, value = heapq.heappop(heads)
        yield partition, offset, value
        following = await anext(by_partition[partition], None)
        if following is not None:
            heapq.heappush(heads, (_logged_at(following[1]), partition, following[0], following[1]))
