"""Building replay's shadow tables: log entries folded into ``<table>__shadow`` in batches.

The dashboard keeps reading the live tables while :class:`ShadowBuild` folds the log
into empty copies of them, :data:`BATCH_EVENTS` events per transaction (flat memory,
short transactions). When re-deriving, every raw entry below the cutover is also
handed to the ``derive`` function (the processors' handlers) and what it returns is
folded too and kept as rows of the new generation (:mod:`projector.derivations`).
The build counts what it did itself and reports progress through one callback.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import psycopg
from psycopg import sql

from projector.archive import split_entry
from projector.consumer import fold_value
from projector.derivations import Derivation, DerivedRow, read_generation, write_rows
from projector.folds import Batch, is_uuid, without_erased
from projector.pg import SHADOW_SUFFIX, apply_batch
from schema.log import LogEntryError, decode_raw_entry, encode_raw_entry
from schema.topics import RAW_TOPIC

__all__ = [
    "BATCH_EVENTS",
    "Derive",
    "Deriver",
    "OnProgress",
    "ShadowBuild",
    "create_shadows",
    "drop_shadows",
]

BATCH_EVENTS = 5_000
"""Events folded per shadow transaction (bounds memory and transaction size)."""

PROGRESS_EVERY = 64
"""Entries between two progress reports."""

Derive = Callable[[int, int, bytes], Awaitable[list[tuple[str, bytes]]]]
"""``(partition, offset, raw entry value)`` → the ``(topic, derived entry value)`` it leads to."""

OnProgress = Callable[[int, int, int], None]
"""Called with (entries done, events done, entries in total)."""


class Deriver(Protocol):
    """What re-derives history: the processors' handlers (``processors.rederive``)."""

    @property
    def settings(self) -> dict[str, Any]:
        """The settings it derives with (recorded with the generation)."""

    async def derive(self, partition: int, offset: int, value: bytes) -> list[tuple[str, bytes]]:
        """Every derived entry the raw entry at ``(partition, offset)`` leads to."""


def shadow_names(tables: tuple[str, ...]) -> dict[str, str]:
    """Live table → its shadow."""
    return {t: t + SHADOW_SUFFIX for t in tables}


def create_shadows(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> dict[str, str]:
    """Create an empty shadow of each table, shaped like the live one; return the names."""
    shadow = shadow_names(tables)
    with conn.transaction():
        for t in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(shadow[t])))
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    sql.Identifier(shadow[t]), sql.Identifier(t)
                )
            )
    return shadow


def drop_shadows(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> None:
    """Drop the shadows of ``tables`` (a dry run, or an aborted replay)."""
    with conn.transaction():
        for name in shadow_names(tables).values():
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


class ShadowBuild:
    """Folds entries into the shadow tables in bounded batches (and keeps re-derived ones).

    Args:
        conn: the replay's connection.
        shadow: live table → shadow table.
        erased: erased users and their cuts (their events are skipped).
        derive: re-derives raw entries below ``cutover`` (``None``: plain replay).
        generation: the derivation whose rows are kept (new when re-deriving).
        cutover: raw partition → offset below which derived entries come from it.
        progress: called every :data:`PROGRESS_EVERY` entries.
        total: the entries to fold in all, as reported to ``progress``.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        shadow: dict[str, str],
        erased: dict[str, int],
        *,
        derive: Derive | None,
        generation: int,
        cutover: dict[int, int],
        progress: OnProgress | None = None,
        total: int = 0,
    ) -> None:
        self.conn = conn
        self.shadow = shadow
        self.derive = derive
        self.generation = generation
        self.cutover = cutover
        self._progress = progress
        self._total = total
        self.batch = Batch(erased)
        self.rows: list[DerivedRow] = []
        self.seqs: dict[tuple[str, int], int] = {}
        self._last: dict[int, int] = {}
        self.entries = 0
        self.events = 0
        self.derived = 0
        self.superseded = 0

    def start_stream(self) -> None:
        """Begin another stream (entry counting restarts its per-partition memory)."""
        self._last.clear()

    async def fold_entry(
        self, topic: str, partition: int, offset: int, value: bytes | None
    ) -> None:
        """Fold one entry of the log (a part of an archived entry counts once with the rest)."""
        if self._last.get(partition) != offset:
            self.entries += 1
            self._last[partition] = offset
        await self._fold(topic, partition, offset, value)
        self._report(every=PROGRESS_EVERY)

    async def _fold(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """Fold one value; a raw entry below the cutover is re-derived when deriving."""
        if topic != RAW_TOPIC:
            fold_value(self.batch, topic, value, self.cutover.get(partition, 0))
        else:
            fold_value(self.batch, topic, value)
            if self.derive is not None and value is not None and offset < self.cutover[partition]:
                await self._derive(partition, offset, value)
        if self.batch.events >= BATCH_EVENTS:
            self.flush()

    def fold_generation(self, derivation: Derivation, topic: str, partition: int) -> None:
        """Fold the kept entries of the derivation in force for one derived stream."""
        for value in read_generation(self.conn, derivation.generation, topic, partition):
            fold_value(self.batch, topic, value)
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
            self._keep(topic, partition, offset, logged_at, derived)

    def _keep(
        self, topic: str, partition: int, origin: int, logged_at: dt.datetime, derived: bytes
    ) -> None:
        """Keep a re-derived entry as rows of the generation, one per user."""
        for user, part in split_entry(topic, derived):
            if user is not None and not is_uuid(user):
                continue  # never projected (the folds reject it), so not kept either
            seq = self.seqs.get((topic, partition), 0)
            self.seqs[(topic, partition)] = seq + 1
            owner = uuid.UUID(user) if user else None
            self.rows.append(
                (self.generation, topic, partition, seq, origin, owner, logged_at, part)
            )

    def flush(self) -> None:
        """Write the folded batch to the shadow tables and the kept rows, then start afresh."""
        if len(self.batch) or self.batch.erasures:
            apply_batch(self.conn, self.batch, tables=self.shadow, expected={}, advance={})
        write_rows(self.conn, self.rows)
        self.rows = []
        self.events += self.batch.events
        self.superseded += self.batch.superseded
        self.batch = Batch(self.batch.erased)

    def discard(self) -> None:
        """Drop what was folded but not flushed."""
        self.batch = Batch(self.batch.erased)

    def finish(self) -> None:
        """Flush the rest and report the final progress."""
        self.flush()
        self._report(every=1)

    def _report(self, *, every: int) -> None:
        if self._progress is not None and self.entries % every == 0:
            self._progress(self.entries, self.events + self.batch.events, self._total)
