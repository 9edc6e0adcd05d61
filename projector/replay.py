"""Replay: rebuild read tables from the archive plus the live tail, then swap atomically.

The dashboard keeps reading the live tables while the shadow tables
(``<table>__shadow``) are built; the swap is a rename inside one short transaction.
Memory stays flat: the archive is read through a server-side cursor and the
tail through bounded stream reads, folded in fixed-size batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from mindhit import streams
from mindhit.logs import get_logger
from mindhit.settings import Settings
from projector.archive_read import archived_end, read_archived
from projector.consumer import fold_value, stream_ids
from projector.diff import SessionChange, other_changes, session_changes
from projector.folds import Batch
from projector.pg import (
    SHADOW_SUFFIX,
    apply_batch,
    ensure_temp_tables,
    load_erased,
    store_checkpoints,
)
from projector.projections import PROJECTIONS, projection_of_topic, tables_of

__all__ = ["ReplayError", "ReplayResult", "replay"]

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


Progress = Callable[[int, int], None]
"""Called with (entries done so far, events done so far)."""


class _Shadow:
    """Folds entries into the shadow tables in bounded batches."""

    def __init__(
        self, conn: psycopg.Connection[Any], tables: dict[str, str], erased: dict[str, int]
    ):
        self.conn = conn
        self.tables = tables
        self.erased = erased
        self.batch = Batch(erased)
        self.entries = 0
        self.events = 0

    def fold(self, topic: str, value: bytes | None) -> None:
        fold_value(self.batch, topic, value)
        if self.batch.events >= BATCH_EVENTS:
            self.flush()

    def flush(self) -> None:
        if len(self.batch) or self.batch.erasures:
            apply_batch(self.conn, self.batch, tables=self.tables, expected={}, advance={})
        self.events += self.batch.events
        self.erased = self.batch.erased
        self.batch = Batch(self.erased)


async def _tail(
    redis: aioredis.Redis, stream: str, lo: int, hi: int, fold: Callable[[int, bytes | None], None]
) -> int:
    """Fold entries ``lo <= offset < hi`` of one stream from Redis; return the next offset."""
    position = lo
    while position < hi:
        earliest = await streams.earliest_offset(redis, stream)
        if earliest > position:
            raise ReplayError(
                f"{stream}: offsets {position}..{earliest - 1} are neither archived nor in Redis"
            )
        records = await streams.read(redis, {stream: position}, count=min(500, hi - position))
        if not records:
            break
        for record in records:
            if record.offset >= hi:
                return position
            fold(record.offset, record.fields.get(b"v"))
            position = record.offset + 1
    return position


async def replay(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    *,
    projections: tuple[str, ...] = tuple(PROJECTIONS),
    diff: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    now: Callable[[], float] = time.perf_counter,
) -> ReplayResult:
    """Rebuild ``projections`` into shadow tables and swap them in.

    Steps:
      1. create empty shadow tables shaped like the live ones;
      2. take the target: each stream's live checkpoint (or its highwater when the
         projection never ran);
      3. per stream, fold the archive below the target (server-side cursor), then
         the Redis tail up to the target, in batches of :data:`BATCH_EVENTS`;
      4. in one transaction: lock the checkpoint rows, then the live tables;
         fold whatever the live projection committed meanwhile; compute the
         ``diff`` if asked; rename shadow → live (unless ``dry_run``); store the
         checkpoints the rebuilt tables correspond to; commit;
      5. drop the old tables (or the unused shadows).
    """
    started = now()
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
    if on_total:
        on_total(sum(targets.values()))
    folder = _Shadow(conn, shadow, load_erased(conn))
    conn.commit()
    positions: dict[str, int] = {}

    def counted(topic: str) -> Callable[[int, bytes | None], None]:
        def fold(offset: int, value: bytes | None) -> None:
            folder.fold(topic, value)
            folder.entries += 1
            if progress and folder.entries % 64 == 0:
                progress(folder.entries, folder.events + folder.batch.events)

        return fold

    for stream, (topic, partition) in ids.items():
        target = targets[stream]
        archived = min(archived_end(conn, topic, partition), target)
        fold = counted(topic)
        last = -1
        for offset, value in read_archived(conn, topic, partition, 0, archived):
            if offset != last:
                folder.entries += 1
                last = offset
            fold_value(folder.batch, topic, value)
            if progress and folder.entries % 64 == 0:
                progress(folder.entries, folder.events + folder.batch.events)
            if folder.batch.events >= BATCH_EVENTS:
                folder.flush()
        positions[stream] = await _tail(redis, stream, archived, target, fold)
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
                            redis, stream, positions[stream], caught_up, counted(ids[stream][0])
                        )
                folder.flush()
                if diff:
                    changes = session_changes(conn, tables)
                    other = other_changes(conn, tables)
                if not dry_run:
                    _rename(conn, tables, shadow)
                    advance = {k: positions[s] for s, k in zip(ids, keys, strict=True)}
                    store_checkpoints(conn, {k: o for k, o in advance.items() if live.get(k) != o})
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
    log.info("replay_done", projections=projections, entries=folder.entries, events=folder.events)
    return ReplayResult(
        projections=projections,
        entries=folder.entries,
        events=folder.events,
        seconds=now() - started,
        swapped=swapped,
        changes=changes,
        other=other,
    )
