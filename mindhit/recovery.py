"""Recovering a lost log (``mindhit recover``): the plan and the stream surgery.

After Redis lost the log (see :mod:`mindhit.log_epoch`) the consumers' checkpoints
are ahead of the streams. Recovery makes every stream of an affected partition
reach every checkpoint again, so offsets keep meaning the same entries:

1. the partition's epoch becomes ``recovering:…``: appends are refused meanwhile;
2. each stream is set aside (renamed ``<stream>:held``, same hash slot);
3. with ``reseed``, the archived entries (``event_log``) are written back at their
   own offsets (parts of an entry split per user joined again); entries set aside
   that are the archived ones (same offset and timestamp) count as archived;
4. the stream's last id is moved to the furthest checkpoint (:attr:`StreamPlan.reach`):
   the next append lands after every position any consumer holds;
5. raw entries set aside that the archive does not have (uploads acknowledged after
   the loss) are appended again after it; derived ones are dropped (the processors
   derive them again);
6. the caller clears the processors' positions and state of the partition (they
   fold the partition again from its earliest entry), stamps every checkpoint with
   a new epoch and, last, sets that epoch: the consumers resume.

Entries between the archiver's checkpoint and :attr:`StreamPlan.reach` were read by
some consumer but never archived: they are gone (:attr:`StreamPlan.lost`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
import redis
import redis.asyncio as aioredis

from mindhit.log_epoch import Position
from mindhit.streams import entry_id, offset_of
from schema.log import (
    FIELD_HEADERS,
    FIELD_KEY,
    FIELD_TIMESTAMP,
    FIELD_VALUE,
    DerivedEntry,
    RawEntry,
    decode_derived_entry,
    decode_raw_entry,
    encode_derived_entry,
    encode_raw_entry,
)
from schema.topics import RAW_TOPIC

__all__ = [
    "CHUNK_BYTES",
    "CHUNK_ENTRIES",
    "ArchivedEntry",
    "StreamPlan",
    "append_held",
    "held_key",
    "join_parts",
    "plan_stream",
    "set_aside",
    "set_reach",
    "write_archived",
]


CHUNK_ENTRIES = 500
"""Most entries recovery writes to a stream in one pipeline (and :data:`CHUNK_BYTES`).

A cluster pipeline fails after :data:`mindhit.redis_cluster.CALL_TIMEOUT_S` (12 s),
however healthy the cluster: one pipeline of everything a partition held reached that
at ~300,000 entries on a loaded machine (``bench/recovery_append.py``, small uploads:
10.0 s once, the bound once; 7.7 s on a quiet one; 1,000,000 always), and a recovery
that failed so failed on every run. A chunk of 500 took 0.02-0.20 s at most (0.65 s on
a machine loaded 6 times over)."""

CHUNK_BYTES = 4 * 1024 * 1024
"""Most bytes of fields recovery writes in one pipeline: entries carry page texts, up
to the 2 MiB an upload may be, so a chunk is cut at this size too."""


class StreamPlan(msgspec.Struct, frozen=True, kw_only=True):
    """What recovery does to one stream."""

    stream: str
    topic: str
    partition: int
    archived: int
    """The archiver's checkpoint: every offset below it is in ``event_log``."""
    reach: int
    """The furthest checkpoint on this stream: where the next append must land."""

    @property
    def lost(self) -> int:
        """Offsets some consumer read that the archive never got."""
        return max(0, self.reach - self.archived)


def plan_stream(
    stream: str, topic: str, partition: int, positions: Iterable[Position], archiver: str
) -> StreamPlan:
    """The plan of one stream from the checkpoints on it (pure)."""
    mine = [p for p in positions if p.topic == topic and p.partition == partition]
    archived = max((p.offset for p in mine if p.consumer == archiver), default=0)
    reach = max((p.offset for p in mine), default=0)
    return StreamPlan(
        stream=stream, topic=topic, partition=partition, archived=archived, reach=reach
    )


class ArchivedEntry(msgspec.Struct, frozen=True):
    """One archived log entry, parts joined: offset, timestamp (ms), key, value, headers."""

    offset: int
    timestamp_ms: int
    key: bytes
    value: bytes
    headers: bytes | None


def join_parts(topic: str, parts: Sequence[bytes]) -> bytes:
    """One entry value from its per-user parts (the archiver's split undone; pure)."""
    if len(parts) == 1:
        return parts[0]
    if topic == RAW_TOPIC:
        uploads = [u for part in parts for u in decode_raw_entry(part).uploads]
        return encode_raw_entry(RawEntry(uploads=uploads))
    events = [e for part in parts for e in decode_derived_entry(part).events]
    return encode_derived_entry(DerivedEntry(events=events))


def held_key(stream: str) -> str:
    """Where a stream's entries wait while it is rebuilt (same hash slot)."""
    return f"{stream}:held"


async def set_aside(client: aioredis.Redis, stream: str) -> list[tuple[int, dict[bytes, bytes]]]:
    """Move ``stream`` to its held key (unless a crashed run already did) and read it.

    A partly rebuilt stream left by a crashed run is deleted: it is rebuilt again.
    """
    held = held_key(stream)
    if await client.exists(held):
        await client.delete(stream)
    elif await client.exists(stream):
        await client.rename(stream, held)
    entries: list[tuple[int, dict[bytes, bytes]]] = []
    last = "-"
    while True:
        page: Any = await client.xrange(held, min=last, max="+", count=1000)
        if last != "-":
            page = page[1:]
        if not page:
            return entries
        entries += [(offset_of(eid), dict(fields)) for eid, fields in page]
        last = page[-1][0].decode() if isinstance(page[-1][0], bytes) else page[-1][0]


def _fields(entry: ArchivedEntry) -> dict[bytes, bytes]:
    fields = {
        FIELD_KEY: entry.key,
        FIELD_TIMESTAMP: str(entry.timestamp_ms).encode(),
        FIELD_VALUE: entry.value,
    }
    if entry.headers:
        fields[FIELD_HEADERS] = entry.headers
    return fields


async def write_archived(
    client: aioredis.Redis,
    stream: str,
    entries: Iterable[ArchivedEntry],
    *,
    chunk: int = CHUNK_ENTRIES,
    chunk_bytes: int = CHUNK_BYTES,
) -> int:
    """Write archived entries back at their own offsets (ascending); return how many.

    Sent in pipelines of at most ``chunk`` entries and ``chunk_bytes`` (see
    :data:`CHUNK_ENTRIES`).
    """
    pairs = ((entry_id(entry.offset), _fields(entry)) for entry in entries)
    return await _append_chunked(client, stream, pairs, chunk, chunk_bytes)


async def set_reach(client: aioredis.Redis, stream: str, reach: int) -> None:
    """Make the next append to ``stream`` get offset ``reach`` (if it would get less).

    A placeholder entry is written at ``reach - 1`` and deleted at once (the stream
    keeps its last id), so no reader ever sees it.
    """
    if reach <= 0:
        return
    if await client.exists(stream):
        info: Any = await client.xinfo_stream(stream)
        if offset_of(info["last-generated-id"]) + 1 >= reach:
            return
    await client.xadd(stream, {FIELD_KEY: b""}, id=entry_id(reach - 1))  # type: ignore[dict-item]
    await client.xdel(stream, entry_id(reach - 1))


async def append_held(
    client: aioredis.Redis,
    stream: str,
    entries: Iterable[Mapping[bytes, bytes]],
    *,
    chunk: int = CHUNK_ENTRIES,
    chunk_bytes: int = CHUNK_BYTES,
) -> int:
    """Append set-aside entries again after everything (dense ids), in their order;
    return how many.

    Sent in pipelines of at most ``chunk`` entries and ``chunk_bytes``, one after the
    other (see :data:`CHUNK_ENTRIES`), each at the id it must get (not ``0-*``): an
    entry that another write took first (a pipeline of an earlier run given up on but
    still sent, one redis-py sent again after a lost reply) fails the run with
    ``ResponseError`` instead of being followed by the rest, out of place or twice. A
    run that fails part-way leaves the held key (deleted only after this returns): the
    next run rebuilds the stream from it.
    """
    start = await _next_offset(client, stream)
    pairs = ((entry_id(start + i), dict(fields)) for i, fields in enumerate(entries))
    return await _append_chunked(client, stream, pairs, chunk, chunk_bytes)


async def _next_offset(client: aioredis.Redis, stream: str) -> int:
    """The offset the next ``XADD 0-*`` to ``stream`` would get."""
    try:
        info: Any = await client.xinfo_stream(stream)
    except redis.ResponseError as error:
        if "no such key" not in str(error).lower():
            raise
        return 0
    return offset_of(info["last-generated-id"]) + 1


async def _append_chunked(
    client: aioredis.Redis,
    stream: str,
    entries: Iterable[tuple[str, dict[bytes, bytes]]],
    chunk: int,
    chunk_bytes: int,
) -> int:
    """``XADD`` each (id, fields) to ``stream`` in order, a pipeline per chunk, each sent
    once the one before was answered; return how many."""
    count = pending = size = 0
    pipe = client.pipeline(transaction=False)
    for xid, fields in entries:
        pipe.xadd(stream, fields, id=xid)  # type: ignore[arg-type]
        count += 1
        pending += 1
        size += sum(len(name) + len(value) for name, value in fields.items())
        if pending >= chunk or size >= chunk_bytes:
            await pipe.execute()  # the pipeline is empty again after
            pending = size = 0
    if pending:
        await pipe.execute()
    return count
