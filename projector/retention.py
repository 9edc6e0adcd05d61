"""Stream retention: head-trim Redis streams once their entries are safe in the archive.

A stream partition is trimmed (``XTRIM … MINID``, head only, so offsets stay dense)
below its entries appended within the last ``Settings.stream_retention_s`` seconds
(:class:`projector.append_times.AppendTimes`), or further when an erasure owes a purge,
but never past the slowest reader: the archiver, the projection that folds the topic,
and every Faust consumer group (their committed offsets live in the hashes
``<prefix>:{pN}:offsets:<group>``, field ``<topic>:<N>``, groups listed in the set
``<prefix>:groups``: the transport's commit store, read through :mod:`mindhit.offsets`).
So Redis holds what is in flight plus the window, not history: replay reads the archive
for what was trimmed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.checkpoints import Checkpoints
from mindhit.clock import Clock, system_clock
from mindhit.db import sql_file
from mindhit.keys import groups_key
from mindhit.logs import get_logger
from mindhit.offsets import load_committed
from mindhit.settings import Settings
from projector import metrics
from projector.append_times import AppendTimes
from projector.append_times_store import save_append_times
from projector.projections import ARCHIVED_TOPICS, ARCHIVER, projection_of_topic, stream_ids
from schema.topics import RAW_TOPIC, partition_for, stream_key

__all__ = [
    "consumer_group_offsets",
    "purge_points",
    "purge_quarantine",
    "trim_streams",
    "trim_target",
]

log = get_logger(__name__)

_PURGES_PENDING = sql_file("projector", "purges_pending")
_PURGES_DONE = sql_file("projector", "purges_done")


def trim_target(
    *,
    highwater: int,
    earliest: int,
    aged: int,
    floors: Iterable[int],
    purge_upto: int | None = None,
) -> int | None:
    """The offset to trim below, or None when nothing may or need be trimmed.

    Wanted: drop the entries older than the window (below ``aged``), or everything
    below ``purge_upto`` if an erasure owes that. Allowed: no further than the
    lowest floor (the next offset each reader still needs).
    """
    wanted = aged
    if purge_upto is not None:
        wanted = max(wanted, purge_upto)
    target = min([wanted, highwater, *floors])
    return target if target > earliest else None


async def purge_points(settings: Settings, redis: aioredis.Redis, user_id: str) -> dict[str, int]:
    """Where each stream must be trimmed below to purge ``user_id``'s hot entries.

    Raw entries are partitioned by user, so only the user's raw partition counts;
    derived topics are checked in every partition. Empty streams owe nothing.
    """
    own_raw = stream_key(
        settings.key_prefix, RAW_TOPIC, partition_for(user_id, settings.partitions)
    )
    points: dict[str, int] = {}
    for stream, (topic, _) in stream_ids(settings, ARCHIVED_TOPICS).items():
        if topic == RAW_TOPIC and stream != own_raw:
            continue
        highwater = await streams.highwater(redis, stream)
        if highwater > await streams.earliest_offset(redis, stream):
            points[stream] = highwater
    return points


async def purge_quarantine(redis: aioredis.Redis, prefix: str, user_id: str) -> int:
    """Delete ``user_id``'s rejected events from the quarantine stream; return how many.

    The quarantine is a plain stream (not a topic), so deleting from its middle is fine.
    """
    key = streams.quarantine_key(prefix)
    doomed: list[bytes] = []
    last = "-"
    while True:
        page: Any = await redis.xrange(key, min=last, max="+", count=1000)
        if last != "-":
            page = page[1:]  # the first entry is the last one of the previous page
        if not page:
            break
        doomed += [eid for eid, fields in page if fields.get(b"user_id") == user_id.encode()]
        last = page[-1][0].decode()
    for start in range(0, len(doomed), 500):
        await redis.xdel(key, *doomed[start : start + 500])
    return len(doomed)


async def consumer_group_offsets(
    redis: aioredis.Redis, prefix: str, partitions: int
) -> dict[tuple[str, int], list[int]]:
    """Committed offsets of every Faust consumer group on partitions ``0 .. partitions-1``,
    per (topic, partition)."""
    out: dict[tuple[str, int], list[int]] = {}
    groups: Any = await redis.smembers(groups_key(prefix))  # type: ignore[misc]
    for group in sorted(g.decode() if isinstance(g, bytes) else g for g in groups):
        for tp, offset in (await load_committed(redis, prefix, group, partitions)).items():
            out.setdefault(tp, []).append(offset)
    return out


async def trim_streams(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    times: AppendTimes | None = None,
    clock: Clock = system_clock,
) -> int:
    """Trim every archived topic partition as far as allowed; return entries trimmed.

    ``times`` is the trimmer's memory of when entries were appended, kept across
    calls and saved to Redis after each (:mod:`projector.append_times_store`; the
    projector loads it at start). Without one (the default) a fresh memory knows
    nothing older than now: only purges and a zero window trim then, and nothing is
    saved.

    Steps: read the checkpoints (archiver and projections) and pending purges;
    read the consumer groups' committed offsets; per stream note its highwater at
    ``clock()``, find the entries older than the window, compute the target
    (:func:`trim_target`) and ``XTRIM MINID``; mark purges whose offset was
    reached as done; save the notes.
    """
    persist = times is not None
    times = times if times is not None else AppendTimes()
    now_ms = clock()
    cutoff_ms = now_ms - round(settings.stream_retention_s * 1000)

    def load() -> tuple[Checkpoints, dict[str, int]]:
        cps = checkpoints.load(conn)
        purges = conn.execute(_PURGES_PENDING).fetchall()
        conn.commit()
        return cps, {s: o for s, o in purges}

    stored, purges = await asyncio.to_thread(load)
    groups = await consumer_group_offsets(redis, settings.key_prefix, settings.partitions)
    trimmed = 0
    done: list[tuple[str, int]] = []
    for stream, (topic, partition) in stream_ids(settings, ARCHIVED_TOPICS).items():
        highwater = await streams.highwater(redis, stream)
        earliest = await streams.earliest_offset(redis, stream)
        times.note(stream, now_ms, highwater)
        floors = [
            stored.get((ARCHIVER, topic, partition), 0),
            stored.get((projection_of_topic(topic), topic, partition), 0),
            *groups.get((topic, partition), []),
        ]
        target = trim_target(
            highwater=highwater,
            earliest=earliest,
            aged=times.appended_before(stream, cutoff_ms),
            floors=floors,
            purge_upto=purges.get(stream),
        )
        if target is not None:
            removed: int = await redis.xtrim(
                stream, minid=streams.entry_id(target), approximate=False
            )
            trimmed += removed
        reached = target if target is not None else earliest
        if stream in purges and reached >= purges[stream]:
            done.append((stream, purges[stream]))
    if done:

        def mark() -> None:
            with conn.transaction():
                for stream, upto in done:
                    conn.execute(_PURGES_DONE, (stream, upto))

        await asyncio.to_thread(mark)
    if persist:
        await save_append_times(redis, settings, times)
    metrics.TRIMMED.inc(trimmed)
    return trimmed
