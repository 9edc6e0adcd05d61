"""Merging a batch's visits into ``page_visits``: COPY when they are new, else the upsert.

A visit is closed once, so the visits a live batch brings are almost always new rows
(a stored one comes back only with redelivery after a crash, a replay over a table
that has it, or two users sending one visit id). New rows are written the way a bulk
load is, with a binary ``COPY`` straight into the table (PostgreSQL writes them page
by page); the ``INSERT … ON CONFLICT`` upsert writes row by row and cost about twice
as much backend CPU for the same rows. Steps, inside the batch's transaction:

1. under a savepoint, COPY the staged visits (the rows already COPYed into
   ``tmp_visits``, less those of erased sessions) into ``page_visits``, in key
   order (two writers meet key locks in one order, like the upsert's ``ORDER BY``);
2. all new: what the batch changed is exactly those rows; add them (from
   ``tmp_visits``) to the overview's change table;
3. a unique violation (some visit was stored already): roll back to the
   savepoint and merge with the upsert instead
   (:func:`projector.overview.upsert_staged_visits`, which also takes the stored
   versions it rewrote out of the rollups).

Either way ``page_visits`` and the change table end up as the upsert alone would
leave them, so duplicates, redelivery and replay fold as before.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping, Sequence
from operator import attrgetter
from typing import Any, Final

import psycopg
from psycopg import errors, postgres, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format

from projector.overview import upsert_staged_visits
from projector.rows import VisitRow
from projector.tables import PAGE_VISITS

__all__ = ["merge_visits"]

_COLUMNS: Final = tuple(c.name for c in PAGE_VISITS.stored)
_TYPES: Final = [c.live or c.staged for c in PAGE_VISITS.stored]
_ROW: Final = attrgetter(*_COLUMNS)
_VISIT_ID: Final = attrgetter("visit_id")
_PG_EPOCH_MS: Final = 946_684_800_000
"""2000-01-01 UTC in Unix ms: binary ``timestamptz`` counts microseconds from it."""
_INT8: Final = struct.Struct("!q")
_CONTRIBUTION: Final = (
    "INSERT INTO tmp_overview (user_id, day, domain, url_hash, content_hash, dwell_ms, visits)"
    " SELECT t.user_id::uuid,"
    " ((timestamptz 'epoch' + t.start_at * interval '1 ms') AT TIME ZONE 'UTC')::date,"
    " t.domain, t.url_hash, t.content_hash, t.dwell_ms, 1 FROM tmp_visits t"
)


class _UuidText(Dumper):
    """A canonical UUID string as binary ``uuid`` (the folds checked its form)."""

    format = Format.BINARY
    oid = postgres.types["uuid"].oid

    def dump(self, obj: str) -> bytes:
        return bytes.fromhex(obj.replace("-", ""))


class _UnixMs(Dumper):
    """Unix milliseconds as binary ``timestamptz`` (what ``'epoch' + ms`` gives in SQL)."""

    format = Format.BINARY
    oid = postgres.types["timestamptz"].oid

    def dump(self, obj: int) -> bytes:
        return _INT8.pack((obj - _PG_EPOCH_MS) * 1000)


def _copy_new(conn: psycopg.Connection[Any], physical: str, rows: Sequence[VisitRow]) -> None:
    """COPY ``rows`` into ``physical`` (a unique violation if one is stored already)."""
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(physical), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
    )
    with conn.cursor() as cursor:
        cursor.adapters.register_dumper(None, _UuidText)  # by OID, for this cursor only
        cursor.adapters.register_dumper(None, _UnixMs)
        with cursor.copy(query) as copy:
            copy.set_types(_TYPES)
            for row in rows:
                copy.write_row(_ROW(row))


def merge_visits(
    conn: psycopg.Connection[Any],
    tables: Mapping[str, str],
    upsert: str,
    staged: Sequence[VisitRow],
    dropped: Collection[tuple[str, str]] = (),
) -> None:
    """Merge the visits staged in ``tmp_visits`` and collect what changed (steps above).

    Args:
        conn: the batch's connection, inside its transaction.
        tables: logical → physical table names (live or replay's shadow).
        upsert: the visits' upsert statement (:attr:`projector.tables.ReadTable.upsert`).
        staged: the row operations COPYed into ``tmp_visits``, in that order.
        dropped: (user id, session id) of erased sessions whose staged rows were
            deleted from ``tmp_visits`` since (their visits are not written).
    """
    rows = [r for r in staged if (r.user_id, r.session_id) not in dropped] if dropped else staged
    rows = sorted(rows, key=_VISIT_ID)
    try:
        with conn.transaction():
            _copy_new(conn, tables["page_visits"], rows)
    except errors.UniqueViolation:
        upsert_staged_visits(conn, tables, upsert)
        return
    conn.execute(_CONTRIBUTION)  # type: ignore[arg-type]
