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

Every trim is one Lua call (``trim_fenced.lua``, beside this module) that checks, in the
partition's slot, that the partition's log epoch is still the one the floors were read
in (a Redis that lost the log after they were read has new entries below them: never
trimmed), and, for a projector replica, that the replica still holds the partition's
lease (:class:`TrimFence`). A replica trims and purges only the partitions it holds; one
paused past its lease (another replica took the partition over) trims nothing of them
when it resumes, and marks no purge of theirs done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from importlib import resources
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.checkpoints import Checkpoints
from mindhit.clock import Clock, system_clock
from mindhit.db import sql_file
from mindhit.keys import PROJECTOR_GROUP, groups_key, partition_lease_key
from mindhit.log_epoch import Position, epoch_key
from mindhit.logs import get_logger
from mindhit.offsets import load_committed
from mindhit.settings import Settings
from projector import metrics
from projector.append_times import AppendTimes
from projector.append_times_store import save_append_times
from projector.projections import ARCHIVED_TOPICS, ARCHIVER, projection_of_topic, stream_ids
from schema.topics import RAW_TOPIC, partition_for, stream_key

__all__ = [
    "TRIM_EPOCH_CHANGED",
    "TRIM_FENCED",
    "TrimFence",
    "consumer_group_offsets",
    "floor_epochs",
    "purge_points",
    "purge_quarantine",
    "trim_streams",
    "trim_target",
]

log = get_logger(__name__)

_PURGES_PENDING = sql_file("projector", "purges_pending")
_PURGES_DONE = sql_file("projector", "purges_done")
_TRIM_FENCED = resources.files("projector").joinpath("trim_fenced.lua").read_text()

TRIM_FENCED = -1
"""``trim_fenced.lua``'s answer when the replica no longer holds the partition's lease."""
TRIM_EPOCH_CHANGED = -2
"""``trim_fenced.lua``'s answer when the partition's epoch is not the floors' one."""


class TrimFence(msgspec.Struct, frozen=True, kw_only=True):
    """A projector replica's right to trim: its member id and the partitions it holds.

    Taken when a trimmer run starts; each trim checks in Redis that the lease of its
    partition still names ``member`` and has not expired.
    """

    member: str
    partitions: frozenset[int]


def floor_epochs(positions: Iterable[Position]) -> dict[int, set[str]]:
    """The log epochs the checkpoints of each partition were read in (pure).

    Only checkpoints past offset 0 count. One epoch per partition is the normal case;
    none (never stamped) leaves the epoch unchecked; several mean the log guard has a
    problem to report and the partition is not trimmed.
    """
    found: dict[int, set[str]] = {}
    for position in positions:
        if position.offset > 0 and position.epoch is not None:
            found.setdefault(position.partition, set()).add(position.epoch)
    return found


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
    *,
    fence: TrimFence | None = None,
) -> int:
    """Trim every archived topic partition as far as allowed; return entries trimmed.

    ``times`` is the trimmer's memory of when entries were appended, kept across calls
    and saved to Redis after each (:mod:`projector.append_times_store`; loaded at start).
    Without one a fresh memory knows nothing older than now: only purges and a zero
    window trim then, and nothing is saved.

    ``fence`` (a projector replica's): only the partitions it names are trimmed, each
    only while the replica holds its lease. Without one (``mindhit erase``, tools) every
    partition is trimmed, unfenced by leases.

    Steps: read the checkpoints (archiver and projections, with their epochs) and
    pending purges; read the consumer groups' committed offsets; per stream note its
    highwater at ``clock()``, find the entries older than the window, compute the
    target (:func:`trim_target`) and trim in one fenced Lua call (epoch, lease,
    ``XTRIM MINID``); mark purges whose offset was reached by a trim that ran as done;
    save the notes (of the partitions trimmed).
    """
    persist = times is not None
    times = times if times is not None else AppendTimes()
    now_ms = clock()
    cutoff_ms = now_ms - round(settings.stream_retention_s * 1000)
    prefix = settings.key_prefix

    def load() -> tuple[list[Position], dict[str, int]]:
        found = checkpoints.positions(conn)
        purges = conn.execute(_PURGES_PENDING).fetchall()
        conn.commit()
        return found, {s: o for s, o in purges}

    positions, purges = await asyncio.to_thread(load)
    stored: Checkpoints = {(p.consumer, p.topic, p.partition): p.offset for p in positions}
    epochs = floor_epochs(positions)
    groups = await consumer_group_offsets(redis, prefix, settings.partitions)
    trimmed = 0
    done: list[tuple[str, int]] = []
    for stream, (topic, partition) in stream_ids(settings, ARCHIVED_TOPICS).items():
        if not _trims(partition, fence, epochs):
            continue
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
            expected = next(iter(epochs.get(partition, ())), "")
            removed = await _trim(redis, prefix, stream, partition, target, expected, fence)
            if removed is None:
                continue  # fenced: nothing trimmed, no purge done
            trimmed += removed
        reached = target if target is not None else earliest
        if stream in purges and reached >= purges[stream]:
            done.append((stream, purges[stream]))
    if done:
        await asyncio.to_thread(_mark_done, conn, done)
    if persist:
        held = fence.partitions if fence is not None else None
        await save_append_times(redis, settings, times, partitions=held)
    metrics.TRIMMED.inc(trimmed)
    return trimmed


def _trims(partition: int, fence: TrimFence | None, epochs: dict[int, set[str]]) -> bool:
    """Whether this run trims ``partition``: held by the replica (any, without a fence)
    and read in one log (checkpoints of two logs: the log guard reports it)."""
    held = fence is None or partition in fence.partitions
    return held and len(epochs.get(partition, ())) <= 1


def _mark_done(conn: psycopg.Connection[Any], done: Iterable[tuple[str, int]]) -> None:
    """Mark the purges reached by this run's trims done, in one transaction."""
    with conn.transaction():
        for stream, upto in done:
            conn.execute(_PURGES_DONE, (stream, upto))


async def _trim(
    redis: aioredis.Redis,
    prefix: str,
    stream: str,
    partition: int,
    target: int,
    expected_epoch: str,
    fence: TrimFence | None,
) -> int | None:
    """One fenced ``XTRIM MINID`` (``trim_fenced.lua``): entries removed, or None (logged)
    when the script answered :data:`TRIM_FENCED` or :data:`TRIM_EPOCH_CHANGED`."""
    keys = [stream, epoch_key(prefix, partition)]
    member = ""
    if fence is not None:
        keys.append(partition_lease_key(prefix, PROJECTOR_GROUP, partition))
        member = fence.member
    reply: Any = await redis.eval(  # type: ignore[misc]
        _TRIM_FENCED, len(keys), *keys, streams.entry_id(target), expected_epoch, member
    )
    removed = int(reply)
    if removed >= 0:
        return removed
    event = "trim_fenced" if removed == TRIM_FENCED else "trim_epoch_changed"
    log.warning(event, stream=stream, partition=partition)
    return None
