"""The archiver: copies every raw and derived log entry into ``event_log``, exactly once.

Exactly once comes from the checkpoint: rows and the archiver's checkpoint
(``projection = 'archiver'``) commit in one transaction, and the checkpoint is
fenced (a second archiver, or a crash mid-batch, cannot archive an entry twice).

Each entry is split per user (:func:`split_entry`) so erasing a user is a plain
DELETE and no other user's data goes with it. Parts of erased users received up to
their erasure are never archived (server time: the uploads' ``received_at``, for a
derived part the ``received_at`` of the raw entry it comes from, else when it was
logged), so output a lagging worker derives after an erasure stays out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.checkpoints import CheckpointMoved, Checkpoints
from mindhit.logs import get_logger
from mindhit.settings import Settings
from mindhit.stream_reader import StreamReader
from projector import fencing, metrics
from projector.erase_session import TombstoneKeys, strip_sessions
from projector.folds import is_uuid
from projector.pg import ERASE_LOCK, load_erased, lock_projections
from projector.projections import ARCHIVED_TOPICS, ARCHIVER, stream_ids
from schema.log import (
    FIELD_VALUE,
    DerivedEntry,
    LogEntryError,
    RawEntry,
    decode_derived_entry,
    decode_raw_entry,
    encode_derived_entry,
    encode_raw_entry,
)
from schema.topics import RAW_TOPIC

__all__ = ["ARCHIVE_COLUMNS", "ArchiveRow", "Archiver", "split_entry"]

log = get_logger(__name__)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

ArchiveRow = tuple[
    str, int, int, int, "uuid.UUID | None", dt.datetime, bytes, bytes, "bytes | None"
]
"""One ``event_log`` row, in the order of :data:`ARCHIVE_COLUMNS`."""

ARCHIVE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("topic", "text"),
    ("partition", "int4"),
    ('"offset"', "int8"),
    ("part", "int4"),
    ("user_id", "uuid"),
    ("logged_at", "timestamptz"),
    ("key", "bytea"),
    ("value", "bytea"),
    ("headers", "bytea"),
)
"""``event_log``'s columns as the archiver COPYs them, with their binary COPY types."""
_COPY = (
    f"COPY event_log ({', '.join(name for name, _ in ARCHIVE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
)


def split_entry(topic: str, value: bytes) -> list[tuple[str | None, bytes]]:
    """Split one entry value into ``(user_id, value)`` parts, one per user, order kept.

    A single-user entry is returned unchanged (no re-encoding). An undecodable
    entry is kept whole with no user (the archive keeps the log, even its bad parts).
    """
    try:
        if topic == RAW_TOPIC:
            raw = decode_raw_entry(value)
            users = list(dict.fromkeys(u.user_id for u in raw.uploads))
            if len(users) <= 1:
                return [(users[0] if users else None, value)]
            return [
                (
                    user,
                    encode_raw_entry(
                        RawEntry(uploads=[u for u in raw.uploads if u.user_id == user])
                    ),
                )
                for user in users
            ]
        derived = decode_derived_entry(value)
    except LogEntryError:
        return [(None, value)]
    users = list(dict.fromkeys(e.user_id for e in derived.events))
    if len(users) <= 1:
        return [(users[0] if users else None, value)]
    return [
        (
            user,
            encode_derived_entry(
                DerivedEntry(
                    events=[e for e in derived.events if e.user_id == user],
                    origin=derived.origin,
                    received_at=derived.received_at,
                )
            ),
        )
        for user in users
    ]


def received_ms(row: ArchiveRow) -> int:
    """When the gateway received what an archive row holds (Unix ms, server time).

    A raw part: its earliest upload's ``received_at``; a derived part: its entry's
    ``received_at``; else (unknown, undecodable) when the row was logged.
    """
    topic, value, logged = row[0], row[7], row[5]
    fallback = int((logged - _EPOCH).total_seconds() * 1000)
    try:
        if topic == RAW_TOPIC:
            return min((u.received_at for u in decode_raw_entry(value).uploads), default=fallback)
        return decode_derived_entry(value).received_at or fallback
    except LogEntryError:
        return fallback


def _month(at: dt.datetime) -> tuple[int, int]:
    return (at.year, at.month)


def _without_erased_sessions(
    conn: psycopg.Connection[Any], rows: list[ArchiveRow]
) -> list[ArchiveRow]:
    """Drop events of erased sessions from rows of users who have any (see erase_session).

    One query per batch loads the tombstones of the batch's users.
    """
    users = sorted({str(r[4]) for r in rows if r[4] is not None})
    if not users:
        return rows
    erased: dict[str, set[str]] = {}
    for user_id, session_id in conn.execute(
        "SELECT user_id::text, session_id::text FROM erased_sessions"
        " WHERE user_id = ANY(%s::uuid[])",
        (users,),
    ).fetchall():
        erased.setdefault(user_id, set()).add(session_id)
    if not erased:
        return rows
    out: list[ArchiveRow] = []
    for row in rows:
        sessions = erased.get(str(row[4])) if row[4] is not None else None
        if not sessions:
            out.append(row)
            continue
        value = strip_sessions(row[0], row[7], TombstoneKeys(sessions))
        if value is not None:
            out.append((*row[:7], value, row[8]))
    return out


class Archiver:
    """Copies new stream entries to the archive, then trims the streams (see retention)."""

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        conn: psycopg.Connection[Any],
        *,
        entries_per_read: int = 128,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.reader = StreamReader(redis)
        """Reads the partitions' streams (a frozen cluster node holds up only its own)."""
        self.conn = conn
        self.entries_per_read = entries_per_read
        self._all_ids = stream_ids(settings, ARCHIVED_TOPICS)
        self.ids = self._all_ids
        self.tokens: dict[int, int] | None = None
        """Partition → fencing token, when this replica archives only the partitions it holds."""
        self.positions: dict[str, int] = {}
        self.epochs: dict[int, str] = {}
        """Partition → log epoch, stored beside each checkpoint (kept by the log guard)."""
        self._months: set[tuple[int, int]] = set()

    def own(self, tokens: Mapping[int, int]) -> None:
        """Archive only the partitions of ``tokens``, each commit fenced by their tokens."""
        self.tokens = dict(tokens)
        self.ids = {s: tp for s, tp in self._all_ids.items() if tp[1] in self.tokens}
        self.positions = {s: o for s, o in self.positions.items() if s in self.ids}

    async def lag(self) -> dict[tuple[str, int], int]:
        """Entries not yet archived, per (topic, partition) held."""
        ids, positions = self.ids, list(self.positions.items())  # a new round may own() meanwhile
        out: dict[tuple[str, int], int] = {}
        for stream, position in positions:
            out[ids[stream]] = max(0, await streams.highwater(self.redis, stream) - position)
        return out

    async def load(self) -> None:
        """Resume from the archiver's checkpoints."""

        def go() -> Checkpoints:
            stored = checkpoints.load(self.conn, [ARCHIVER])
            self.conn.commit()
            return stored

        stored = await asyncio.to_thread(go)
        self.positions = {s: stored.get((ARCHIVER, *tp), 0) for s, tp in self.ids.items()}

    async def turn(self, *, block_ms: int | None = 1000) -> int:
        """Archive what is new; return the number of entries archived.

        Steps: read entries from the archiver's positions; split each per user;
        in one transaction take the archiver's write lock and the erasure lock
        (shared), drop parts of erased users, create the month partitions needed, fence
        and advance the checkpoints, COPY the rows; commit; then advance in-memory
        positions.
        """
        records = await self.reader.read(
            self.positions, count=self.entries_per_read, block_ms=block_ms
        )
        if not records:
            return 0
        rows: list[ArchiveRow] = []
        advance: dict[str, int] = {}
        for record in records:
            topic, partition = self.ids[record.stream]
            if record.offset < advance.get(record.stream, self.positions[record.stream]):
                continue
            value = record.fields.get(FIELD_VALUE)
            if value is not None:
                logged_at = _EPOCH + dt.timedelta(milliseconds=record.timestamp_ms)
                for part, (user, data) in enumerate(split_entry(topic, value)):
                    user_uuid = uuid.UUID(user) if user and is_uuid(user) else None
                    rows.append(
                        (topic, partition, record.offset, part, user_uuid, logged_at,
                         record.key, data, record.headers)
                    )  # fmt: skip
            advance[record.stream] = record.offset + 1
        expected = {(ARCHIVER, *self.ids[s]): self.positions[s] for s in advance}
        new = {(ARCHIVER, *self.ids[s]): o for s, o in advance.items()}
        try:
            fence = None
            if self.tokens is not None:
                fence = {p: self.tokens[p] for p in {self.ids[s][1] for s in advance}}
            written = await asyncio.to_thread(self._write, rows, expected, new, fence)
        except CheckpointMoved as exc:
            log.warning("archiver_checkpoint_moved", detail=str(exc))
            await self.load()
            return 0
        metrics.ARCHIVED_ROWS.inc(written)
        self.positions.update(advance)
        return len(records)

    def _write(
        self,
        rows: Sequence[ArchiveRow],
        expected: Checkpoints,
        new: Checkpoints,
        tokens: Mapping[int, int] | None,
    ) -> int:
        conn = self.conn
        with conn.transaction():
            # Outside a group a second archiver waits here, then is fenced by the checkpoint.
            lock_projections(conn, {ARCHIVER}, shared=tokens is not None)
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (ERASE_LOCK,))
            if tokens is not None:
                fencing.check(conn, tokens)
            erased = {uuid.UUID(u): at for u, at in load_erased(conn).items()}
            kept = [r for r in rows if r[4] not in erased or received_ms(r) > erased[r[4]]]
            kept = _without_erased_sessions(conn, kept)
            for month in {_month(r[5]) for r in kept} - self._months:
                _ensure_partition(conn, dt.datetime(month[0], month[1], 1, tzinfo=dt.UTC))
            checkpoints.fence(conn, expected)
            checkpoints.store(conn, new, self.epochs)
            _copy_rows(conn, kept)
        self._months.update(_month(r[5]) for r in kept)
        return len(kept)

    async def run(self, stop: asyncio.Event, tokens: Mapping[int, int] | None = None) -> None:
        """Archive until ``stop`` is set (with ``tokens``: only those partitions, fenced)."""
        if tokens is not None:
            self.own(tokens)
        await self.load()
        while not stop.is_set():
            if not self.ids:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                continue
            await self.turn()


def _ensure_partition(conn: psycopg.Connection[Any], month: dt.datetime) -> None:
    """Create the month's archive partition; a concurrent archiver creating it too is fine."""
    try:
        with conn.transaction():
            conn.execute("SELECT event_log_ensure_partition(%s)", (month,))
    except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
        pass


def _copy_rows(conn: psycopg.Connection[Any], rows: Iterable[ArchiveRow]) -> None:
    with conn.cursor().copy(_COPY) as copy:  # type: ignore[arg-type]
        copy.set_types([kind for _, kind in ARCHIVE_COLUMNS])
        for row in rows:
            copy.write_row(row)
