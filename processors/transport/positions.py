"""Where each assigned partition's next fetch reads, and what a fetched entry becomes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import redis.asyncio as aioredis
from faust.types import TP, ConsumerMessage

from mindhit import streams
from mindhit.redis_retry import until_reachable
from processors.transport import metrics
from processors.transport.catalog import load_committed
from processors.transport.context import GroupContext
from schema.log import FIELD_HEADERS, FIELD_KEY, FIELD_TIMESTAMP, FIELD_VALUE, decode_headers

__all__ = ["Positions", "to_message"]

T = TypeVar("T")


class Positions:
    """Next offsets to read per partition, highwaters seen, and the seek epoch.

    Every seek bumps :attr:`epoch`; a fetch that started in an older epoch drops
    what it read, so a seek always takes effect. Reading offsets waits for a Redis that
    cannot be reached (:func:`~mindhit.redis_retry.until_reachable`, until ``stopping()``):
    a worker asks while it starts (its assignment, table recovery), and the URL's node may
    be down or a master failing over just then.
    """

    def __init__(self, ctx: GroupContext, stopping: Callable[[], bool] = lambda: False) -> None:
        self.ctx = ctx
        self.stopping = stopping
        self.next: dict[TP, int] = {}
        self.highwaters: dict[TP, int] = {}
        self.epoch = 0

    def invalidate(self) -> None:
        """Make fetches in flight drop what they read."""
        self.epoch += 1

    def seek(self, tp: TP, offset: int) -> None:
        """Read ``tp`` from ``offset`` next."""
        self.epoch += 1
        self.next[TP(tp.topic, tp.partition)] = offset

    def retain(self, tps: set[TP]) -> set[TP]:
        """Forget positions outside ``tps``; return those of ``tps`` without a position."""
        self.epoch += 1
        self.next = {tp: pos for tp, pos in self.next.items() if tp in tps}
        return tps - set(self.next)

    def _waiting(self, step: Callable[[], Awaitable[T]], what: str) -> Awaitable[T]:
        return until_reachable(step, what=what, stopping=self.stopping)

    async def committed(self, client: aioredis.Redis, tps: Iterable[TP]) -> dict[TP, int]:
        """The group's committed offsets of ``tps`` (those that have one)."""
        fields = [(tp.topic, tp.partition) for tp in tps]
        stored = await self._waiting(
            lambda: load_committed(client, self.ctx.prefix, self.ctx.group, fields),
            "reading committed offsets",
        )
        return {TP(topic, partition): offset for (topic, partition), offset in stored.items()}

    async def start(self, client: aioredis.Redis, tps: set[TP], *, latest: bool) -> None:
        """Position ``tps`` at their committed offset, else at the end (``latest``) or start."""
        await self._waiting(lambda: self._start(client, tps, latest), "positioning partitions")

    async def _start(self, client: aioredis.Redis, tps: set[TP], latest: bool) -> None:
        committed = await self.committed(client, tps)
        for tp in tps:
            offset = committed.get(tp)
            if offset is None:
                stream = self.ctx.stream(tp)
                if latest:
                    offset = await streams.highwater(client, stream)
                else:
                    offset = await streams.earliest_offset(client, stream)
            self.next[tp] = offset

    async def read_highwaters(
        self, client: aioredis.Redis, partitions: Iterable[TP], *, wait: bool = True
    ) -> dict[TP, int]:
        """The offset the next append will get, per partition (remembered and published;
        ``wait=False``: one attempt)."""
        tps = [TP(tp.topic, tp.partition) for tp in partitions]

        def read() -> Awaitable[list[int]]:
            return asyncio.gather(*(streams.highwater(client, self.ctx.stream(tp)) for tp in tps))

        values = await (self._waiting(read, "reading highwaters") if wait else read())
        found = dict(zip(tps, values, strict=True))
        self.highwaters.update(found)
        for tp, value in found.items():
            metrics.HIGHWATER.labels(tp.topic, str(tp.partition)).set(value)
        return found

    async def read_earliest(
        self, client: aioredis.Redis, partitions: Iterable[TP]
    ) -> dict[TP, int]:
        """The offset of the oldest entry still stored, per partition."""
        tps = [TP(tp.topic, tp.partition) for tp in partitions]
        values = await self._waiting(
            lambda: asyncio.gather(
                *(streams.earliest_offset(client, self.ctx.stream(tp)) for tp in tps)
            ),
            "reading earliest offsets",
        )
        return dict(zip(tps, values, strict=True))

    def advance(
        self, by_stream: Mapping[str, TP], records: list[streams.StreamRecord]
    ) -> dict[TP, list[streams.StreamRecord]]:
        """Group fetched records by partition and move positions (and highwaters) past them."""
        result: dict[TP, list[streams.StreamRecord]] = {}
        for record in records:
            result.setdefault(by_stream[record.stream], []).append(record)
        for tp, items in result.items():
            next_offset = items[-1].offset + 1
            self.next[tp] = next_offset
            metrics.FETCHED.labels(tp.topic).inc(len(items))
            if next_offset > self.highwaters.get(tp, 0):
                self.highwaters[tp] = next_offset
        return result


def to_message(tp: TP, record: streams.StreamRecord, generation_id: int) -> ConsumerMessage:
    """The Faust message of one fetched stream entry."""
    fields: Mapping[bytes, bytes] = record.fields
    key = fields.get(FIELD_KEY) or None
    value = fields.get(FIELD_VALUE)
    raw_headers = fields.get(FIELD_HEADERS)
    return ConsumerMessage(
        tp.topic,
        tp.partition,
        record.offset,
        int(fields.get(FIELD_TIMESTAMP, b"0")) / 1000.0,
        0,
        decode_headers(raw_headers) if raw_headers else [],
        key,
        value,
        None,
        len(key) if key else 0,
        len(value) if value else 0,
        tp,
        generation_id=generation_id,
    )
