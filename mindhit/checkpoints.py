"""Where PostgreSQL consumers of the log keep their positions: ``projection_checkpoints``.

Each projection and the archiver store, per topic partition, the next offset to
read, in the same transaction as the rows that offset covers; a restart resumes
there exactly. Every read and write of that table goes through this module: the
projector's folds, archiver, replay and stream retention, and the lag report.

A writer *fences* before it writes: it locks the checkpoint rows it will advance
and checks they still hold what it last read (:func:`fence`), so a second writer,
or a replay that swapped tables in meanwhile, makes it raise :class:`CheckpointMoved`
instead of writing rows twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from mindhit.db import sql_file
from mindhit.log_epoch import Position

__all__ = [
    "CheckpointKey",
    "CheckpointMoved",
    "Checkpoints",
    "fence",
    "load",
    "load_async",
    "positions",
    "positions_async",
    "stamp",
    "store",
]

CheckpointKey = tuple[str, str, int]
"""(projection, topic, partition)."""

Checkpoints = dict[CheckpointKey, int]
"""(projection, topic, partition) → next offset."""

_SELECT = "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
_POSITIONS = "SELECT projection, topic, partition, next_offset, epoch FROM projection_checkpoints"
_STAMP = (
    "UPDATE projection_checkpoints SET epoch = %s, updated_at = now()"
    " WHERE partition = %s AND topic = ANY(%s)"
)
_FENCE = sql_file("mindhit", "checkpoints_fence")
_STORE = sql_file("mindhit", "checkpoints_store")


class CheckpointMoved(RuntimeError):
    """The stored checkpoint is not where this writer expected: someone else wrote it."""


def _rows(rows: Iterable[tuple[str, str, int, int]]) -> Checkpoints:
    return {(p, t, n): o for p, t, n, o in rows}


def load(
    conn: psycopg.Connection[Any],
    projections: Iterable[str] | None = None,
    *,
    lock: bool = False,
) -> Checkpoints:
    """The stored checkpoints of ``projections`` (all when ``None``).

    With ``lock`` the rows stay locked (``FOR UPDATE``) until the caller's
    transaction ends.
    """
    suffix = " FOR UPDATE" if lock else ""
    if projections is None:
        return _rows(conn.execute(_SELECT + suffix).fetchall())
    query = _SELECT + " WHERE projection = ANY(%s)" + suffix
    return _rows(conn.execute(query, (list(projections),)).fetchall())


async def load_async(conn: psycopg.AsyncConnection[Any]) -> Checkpoints:
    """Every stored checkpoint ({} on a database not migrated yet)."""
    cur = await conn.execute("SELECT to_regclass('projection_checkpoints') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return {}
    cur = await conn.execute(_SELECT)
    return _rows(await cur.fetchall())


def fence(conn: psycopg.Connection[Any], expected: Checkpoints) -> None:
    """Lock the checkpoint rows of ``expected`` and check they still hold those offsets.

    Call inside the writing transaction, before writing. Raises
    :class:`CheckpointMoved` when any differs (a missing row counts as 0).
    """
    if not expected:
        return
    keys = list(expected)
    stored = _rows(
        conn.execute(
            _FENCE,
            ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
        ).fetchall()
    )
    for key, offset in expected.items():
        if stored.get(key, 0) != offset:
            raise CheckpointMoved(f"{key}: stored {stored.get(key, 0)}, expected {offset}")


def store(
    conn: psycopg.Connection[Any],
    advance: Checkpoints,
    epochs: Mapping[int, str] | None = None,
) -> None:
    """Upsert checkpoints inside the caller's transaction.

    ``epochs`` (partition → log epoch the entries were read in) is stored beside
    each checkpoint; a partition not in it keeps its stored epoch.
    """
    if not advance:
        return
    keys = list(advance)
    known = epochs or {}
    conn.execute(
        _STORE,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [advance[k] for k in keys],
            [known.get(k[2]) for k in keys],
        ),
    )


def _positions(rows: Iterable[tuple[str, str, int, int, str | None]]) -> list[Position]:
    return [
        Position(consumer=p, topic=t, partition=int(n), offset=int(o), epoch=e)
        for p, t, n, o, e in rows
    ]


def positions(conn: psycopg.Connection[Any]) -> list[Position]:
    """Every stored checkpoint with the log epoch it was read in."""
    return _positions(conn.execute(_POSITIONS).fetchall())


async def positions_async(conn: psycopg.AsyncConnection[Any]) -> list[Position]:
    """Every stored checkpoint with its epoch ([] on a database not migrated yet)."""
    cur = await conn.execute("SELECT to_regclass('projection_checkpoints') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return []
    cur = await conn.execute(_POSITIONS)
    return _positions(await cur.fetchall())


def stamp(conn: psycopg.Connection[Any], partition: int, topics: Iterable[str], epoch: str) -> int:
    """Set the epoch of every checkpoint of ``topics`` in ``partition`` (``mindhit recover``)."""
    cur = conn.execute(_STAMP, (epoch, partition, list(topics)))
    return cur.rowcount
