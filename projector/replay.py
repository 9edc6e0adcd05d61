"""Replay: rebuild read tables from the archive plus the live tail, then swap atomically.

The dashboard keeps reading the live tables while the shadow tables
(``<table>__shadow``) are built; the swap is a rename inside one short transaction.
Memory stays flat: the archive is read through a server-side cursor and the
tail through bounded stream reads, folded in fixed-size batches.

With a ``derive`` function (``mindhit replay --rederive``) the derived topics are
not read back from the log below the cutover (the raw targets): every raw entry
is handed to ``derive`` — the processors' handlers with the current settings —
and what it returns is folded instead, and kept as a new generation
(:mod:`projector.derivations`) that the swap puts in force.
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from mindhit import streams
from mindhit.logs import get_logger
from mindhit.settings import Settings
from projector.archive import split_entry
from projector.archive_read import archived_end, read_archived
from projector.consumer import fold_value
from projector.derivations import (
    Derivation,
    DerivedRow,
    drop_unrecorded,
    latest_derivation,
    new_generation,
    read_generation,
    record_derivation,
    write_rows,
)
from projector.diff import SessionChange, other_changes, session_changes
from projector.folds import Batch, is_uuid, without_erased
from projector.pg import (
    SHADOW_SUFFIX,
    apply_batch,
    ensure_temp_tables,
    load_erased,
    store_checkpoints,
)
from projector.projections import PROJECTIONS, projection_of_topic, stream_ids, tables_of
from schema.log import LogEntryError, decode_raw_entry, encode_raw_entry
from schema.topics import RAW_TOPIC

__all__ = ["Derive", "ReplayError", "ReplayResult", "replay"]

log = get_logger(__name__)

BATCH_EVENTS = 5_000
"""Events folded per shadow transaction (bounds memory and transaction size)."""


SWAP_ATTEMPTS = 100
SWAP_LOCK_TIMEOUT_MS = 200


def _rename(conn: psycopg.Connection[Any], tables: tuple[str, ...], shadow: dict[str, str]) -> None:
    """Swap each shadow table in under the live name; drop the old one."""
    for t in tables:
        old = sql.Identifier(t + "__old")
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(t), old))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(shadow[t]), sql.Identifier(t)
            )
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(old))


class ReplayError(RuntimeError):
    """The log cannot be replayed (entries missing from both the archive and Redis)."""


class ReplayResult(msgspec.Struct, kw_only=True):
    """What a replay did."""

    projections: tuple[str, ...]
    entries: int
    events: int
    seconds: float
    swapped: bool
    changes: list[SessionChange] = []
    other: dict[str, int] = {}
    generation: int = 0
    superseded: int = 0
    derived_with: dict[str, Any] = {}


Derive = Callable[[int, int, bytes], Awaitable[list[tuple[str, bytes]]]]
"""``(partition, offset, raw entry value)`` → the ``(topic, derived entry value)`` it leads to."""

Progress = Callable[[int, int], None]
"""Called with (entries done so far, events done so far)."""


class _Shadow:
    """Folds entries into the shadow tables in bounded batches (and keeps re-derived ones)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        tables: dict[str, str],
        erased: dict[str, int],
        *,
        derive: Derive | None,
        generation: int,
        cutover: dict[int, int],
    ):
        self.conn = conn
        self.tables = tables
        self.erased = erased
        self.batch = Batch(erased)
        self.derive = derive
        self.generation = generation
        self.cutover = cutover
        self.rows: list[DerivedRow] = []
        self.seqs: dict[tuple[str, int], int] = {}
        self.entries = 0
        self.events = 0
        self.derived = 0
        self.superseded = 0

    async def fold(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """Fold one log entry; a raw entry below the cutover is re-derived when deriving."""
        if topic != RAW_TOPIC:
            fold_value(self.batch, topic, value, self.cutover.get(partition, 0))
        else:
            fold_value(self.batch, topic, value)
            if self.derive is not None and value is not None and offset < self.cutover[partition]:
                await self._derive(partition, offset, value)
        if self.batch.events >= BATCH_EVENTS:
            self.flush()

    async def _derive(self, partition: int, offset: int, value: bytes) -> None:
        assert self.derive is not None
        try:
            entry = decode_raw_entry(value)
        except LogEntryError:
            return  # counted as rejected by the raw fold
        kept = without_erased(entry, self.batch.erased)
        if not kept.uploads:
            return
        if kept is not entry:
            value = encode_raw_entry(kept)
        logged = max(u.received_at for u in kept.uploads)
        logged_at = dt.datetime.fromtimestamp(logged / 1000, dt.UTC)
        for topic, derived in await self.derive(partition, offset, value):
            fold_value(self.batch, topic, derived)
            self.derived += 1
            for user, part in split_entry(topic, derived):
                if user is not None and not is_uuid(user):
                    continue  # never projected (the folds reject it), so not kept either
                seq = self.seqs.get((topic, partition), 0)
                self.seqs[(topic, partition)] = seq + 1
                owner = uuid.UUID(user) if user else None
                self.rows.append(
                    (self.generation, topic, partition, seq, offset, owner, logged_at, part)
                )

    def flush(self) -> None:
        if len(self.batch) or self.batch.erasures:
            apply_batch(self.conn, self.batch, tables=self.tables, expected={}, advance={})
        write_rows(self.conn, self.rows)
        self.rows = []
        self.events += self.batch.events
        self.superseded += self.batch.superseded
        self.erased = self.batch.erased
        self.batch = Batch(self.erased)


async def _tail_entries(
    redis: aioredis.Redis, stream: str, lo: int, hi: int
) -> AsyncIterator[tuple[int, bytes | None]]:
    """Entries ``lo <= offset < hi`` of one stream from Redis, in order."""
    position = lo
    while position < hi:
        earliest = await streams.earliest_offset(redis, stream)
        if earliest > position:
            raise ReplayError(
                f"{stream}: offsets {position}..{earliest - 1} are neither archived nor in Redis"
            )
        records = await streams.read(redis, {stream: position}, count=min(500, hi - position))
        if not records:
            return
        for record in records:
            if record.offset >= hi:
                return
            yield record.offset, record.fields.get(b"v")
            position = record.offset + 1


async def _tail(
    redis: aioredis.Redis,
    stream: str,
    lo: int,
    hi: int,
    fold: Callable[[int, bytes | None], Awaitable[None]],
) -> int:
    """Fold entries ``lo <= offset < hi`` of one stream from Redis; return the next offset."""
    position = lo
    async for offset, value in _tail_entries(redis, stream, lo, hi):
        await fold(offset, value)
        position = offset + 1
    return position


async def _stream_entries(
    conn: psycopg.Connection[Any],
    redis: aioredis.Redis,
    stream: str,
    topic: str,
    partition: int,
    target: int,
    done: dict[str, int],
) -> AsyncIterator[tuple[int, bytes | None]]:
    """One stream's entries below ``target``: the archive, then the Redis tail.

    An entry archived per user comes as several values with one offset. ``done``
    records the offset after the last entry yielded (where the live tail resumes).
    """
    archived = min(archived_end(conn, topic, partition), target)
    done[stream] = archived
    for offset, value in read_archived(conn, topic, partition, 0, archived):
        yield offset, value
    async for offset, live in _tail_entries(redis, stream, archived, target):
        yield offset, live
        done[stream] = offset + 1


def _logged_at(value: bytes | None) -> int:
    """When a raw entry was logged (its newest upload), for merging partitions in time."""
    try:
        return max((u.received_at for u in decode_raw_entry(value or b"").uploads), default=0)
    except LogEntryError:
        return 0


async def _by_time(
    sources: list[tuple[int, AsyncIterator[tuple[int, bytes | None]]]],
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


async def replay(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    *,
    projections: tuple[str, ...] = tuple(PROJECTIONS),
    diff: bool = False,
    dry_run: bool = False,
    derive: Derive | None = None,
    derive_settings: dict[str, Any] | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    now: Callable[[], float] = time.perf_counter,
) -> ReplayResult:
    """Rebuild ``projections`` into shadow tables and swap them in.

    Steps:
      1. create empty shadow tables shaped like the live ones;
      2. take the target: each stream's live checkpoint (or its highwater when the
         projection never ran); with ``derive``, the raw targets are the cutover
         and a new generation number is reserved;
      3. per stream, fold the archive below the target (server-side cursor), then
         the Redis tail up to the target, in batches of :data:`BATCH_EVENTS`.
         Derived streams: first the entries of the derivation in force (unless
         re-deriving), then the live ones it does not supersede. Raw entries below
         the cutover also go through ``derive`` when given, and what it returns is
         folded and kept under the new generation;
      4. in one transaction: lock the checkpoint rows, then the live tables;
         fold whatever the live projection committed meanwhile; compute the
         ``diff`` if asked; rename shadow → live (unless ``dry_run``); store the
         checkpoints the rebuilt tables correspond to; put the new generation in
         force; commit;
      5. drop the old tables (or the unused shadows and generation).

    Raises:
        ReplayError: entries are missing from both the archive and Redis, or
            ``derive`` was given for only some projections.
    """
    started = now()
    if derive is not None and set(projections) != set(PROJECTIONS):
        raise ReplayError("re-deriving history rebuilds every projection")
    tables = tables_of(projections)
    shadow = {t: t + SHADOW_SUFFIX for t in tables}
    ensure_temp_tables(conn)
    conn.commit()
    with conn.transaction():
        for t in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(shadow[t])))
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    sql.Identifier(shadow[t]), sql.Identifier(t)
                )
            )
    ids = stream_ids(settings, [t for p in projections for t in PROJECTIONS[p].topics])
    stored = dict(
        ((p, t, n), o)
        for p, t, n, o in conn.execute(
            "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
            " WHERE projection = ANY(%s)",
            (list(projections),),
        )
    )
    targets: dict[str, int] = {}
    for stream, (topic, partition) in ids.items():
        key = (projection_of_topic(topic), topic, partition)
        targets[stream] = stored[key] if key in stored else await streams.highwater(redis, stream)
    conn.commit()
    in_force = latest_derivation(conn)
    if derive is not None:
        drop_unrecorded(conn)
        generation = new_generation(conn)
        cutover = {p: targets[s] for s, (t, p) in ids.items() if t == RAW_TOPIC}
    else:
        generation = in_force.generation if in_force else 0
        cutover = in_force.cutover if in_force else {}
    if on_total:
        on_total(sum(targets.values()))
    folder = _Shadow(
        conn,
        shadow,
        load_erased(conn),
        derive=derive,
        generation=generation,
        cutover=cutover,
    )
    conn.commit()
    positions: dict[str, int] = {}

    def counted(topic: str, partition: int) -> Callable[[int, bytes | None], Awaitable[None]]:
        async def fold(offset: int, value: bytes | None) -> None:
            await folder.fold(topic, partition, offset, value)
            folder.entries += 1
            if progress and folder.entries % 64 == 0:
                progress(folder.entries, folder.events + folder.batch.events)

        return fold

    last: dict[int, int] = {}

    async def fold_entry(topic: str, partition: int, offset: int, value: bytes | None) -> None:
        if last.get(partition) != offset:  # parts of one archived entry count once
            folder.entries += 1
            last[partition] = offset
        await folder.fold(topic, partition, offset, value)
        if progress and folder.entries % 64 == 0:
            progress(folder.entries, folder.events + folder.batch.events)

    def entries(stream: str) -> AsyncIterator[tuple[int, bytes | None]]:
        topic, partition = ids[stream]
        return _stream_entries(conn, redis, stream, topic, partition, targets[stream], positions)

    raw = [s for s in ids if ids[s][0] == RAW_TOPIC]
    if derive is not None:
        async for partition, offset, value in _by_time([(ids[s][1], entries(s)) for s in raw]):
            await fold_entry(RAW_TOPIC, partition, offset, value)
    for stream, (topic, partition) in ids.items():
        if derive is not None and topic == RAW_TOPIC:
            continue
        if derive is None and in_force is not None and topic != RAW_TOPIC:
            _fold_generation(folder, in_force, topic, partition)
        last.clear()
        async for offset, value in entries(stream):
            await fold_entry(topic, partition, offset, value)
    folder.flush()
    if progress:
        progress(folder.entries, folder.events)

    changes: list[SessionChange] = []
    other: dict[str, int] = {}
    swapped = False
    keys = [(projection_of_topic(ids[s][0]), *ids[s]) for s in ids]
    for attempt in range(SWAP_ATTEMPTS):
        saved = dict(positions)
        try:
            with conn.transaction():
                # Give way to dashboard queries: never wait long for a lock (a query
                # reading two tables in another order would otherwise deadlock us).
                conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_MS}ms'")
                live = {
                    (p, t, n): o
                    for p, t, n, o in conn.execute(
                        "SELECT projection, topic, partition, next_offset"
                        " FROM projection_checkpoints WHERE projection = ANY(%s) FOR UPDATE",
                        (list(projections),),
                    )
                }
                conn.execute(
                    sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                    )
                )
                conn.execute("SET LOCAL lock_timeout = 0")
                for stream, key in zip(ids, keys, strict=True):
                    caught_up = live.get(key, positions[stream])
                    if caught_up > positions[stream]:
                        positions[stream] = await _tail(
                            redis, stream, positions[stream], caught_up, counted(*ids[stream])
                        )
                folder.flush()
                if diff:
                    changes = session_changes(conn, tables)
                    other = other_changes(conn, tables)
                if not dry_run:
                    _rename(conn, tables, shadow)
                    advance = {k: positions[s] for s, k in zip(ids, keys, strict=True)}
                    store_checkpoints(conn, {k: o for k, o in advance.items() if live.get(k) != o})
                    if derive is not None:
                        record_derivation(
                            conn,
                            generation,
                            settings=derive_settings or {},
                            cutover=cutover,
                            entries=folder.derived,
                        )
                    swapped = True
            break
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            positions.clear()
            positions.update(saved)
            folder.batch = Batch(folder.erased)
            log.info("replay_swap_retry", attempt=attempt + 1)
            time.sleep(min(0.05 * (attempt + 1), 1.0))
    else:
        raise ReplayError(f"could not lock the live tables in {SWAP_ATTEMPTS} attempts")
    if not swapped:
        with conn.transaction():
            for t in tables:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(shadow[t])))
        if derive is not None:
            drop_unrecorded(conn, generation)
    log.info(
        "replay_done",
        projections=projections,
        entries=folder.entries,
        events=folder.events,
        generation=generation,
        superseded=folder.superseded,
    )
    return ReplayResult(
        projections=projections,
        entries=folder.entries,
        events=folder.events,
        seconds=now() - started,
        swapped=swapped,
        changes=changes,
        other=other,
        generation=generation if (swapped or derive is None) else 0,
        superseded=folder.superseded,
        derived_with=dict(derive_settings or {}) if derive is not None else {},
    )


def _fold_generation(folder: _Shadow, derivation: Derivation, topic: str, partition: int) -> None:
    """Fold the kept entries of the derivation in force for one derived stream."""
    for value in read_generation(folder.conn, derivation.generation, topic, partition):
        fold_value(folder.batch, topic, value)
        if folder.batch.events >= BATCH_EVENTS:
            folder.flush()
