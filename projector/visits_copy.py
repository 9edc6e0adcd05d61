"""New visits COPYed straight into ``page_visits`` by the live fold, with their pending
overview changes (issue 14).

A visit is closed once, so a live batch's visits are almost always new rows; they used
to be COPYed into the staging table ``tmp_visits`` and inserted from it by an
``INSERT … SELECT`` (:mod:`projector.visits_merge`), and their changes written to
``overview_changes`` by a second ``INSERT … SELECT`` from it. Here the batch's visits are
COPYed into ``page_visits`` itself and their changes into ``overview_changes``, in binary,
from the rows the fold already has: the backend neither stages the rows nor converts
them (text ids to ``uuid``, milliseconds to ``timestamptz``) nor reads them twice.

Binary COPY data carries no types, only each value in its column type's binary form, so
the values are prepared here in that form and sent with the dumpers of types of the
same form: a UUID's 16 bytes (``bytea``), a ``timestamptz``'s microseconds since
2000-01-01 (``int8``), a ``date``'s days since 2000-01-01 (``int4``). Ids were checked
canonical by the fold (:func:`projector.folds.is_uuid`).

Steps, inside the batch's transaction (:func:`copy_new_visits`):

1. only live (``tables`` names ``overview_changes``; replay's shadow fold keeps the
   staging path and its rollups), and only when every time is within years 1–9999 (else
   the staging path, whose conversion reports what PostgreSQL makes of it);
2. none of the batch's (user, session) pairs has an erasure tombstone (else the staging
   path, which drops those rows: :func:`projector.erase_session.drop_erased_sessions`);
3. under a savepoint, COPY the visits into ``page_visits`` in key order (two writers of
   the same new ids meet their key locks in one order, as the insert's ``ORDER BY``),
   then one change row per visit (+1) into ``overview_changes``;
4. a unique violation (a visit of the batch was stored already: a redelivered entry
   after a crash, a visit id another user sent): roll back to the savepoint and return
   False; the caller stages the batch and merges it by the upsert, which collects exactly
   what it changed. So the tables end as the staging path leaves them, and folding a
   batch twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any, Final

import psycopg
from psycopg import errors, sql
from psycopg.types.string import BytesBinaryDumper

from projector.overview import OVERVIEW_CHANGES
from projector.rows import VisitRow
from projector.tables import PAGE_VISITS

__all__ = ["copy_new_visits"]

_BINARY_AS: Final = {"uuid": "bytea", "timestamptz": "int8"}
"""Stored type → the type whose binary dumper sends the value as prepared here."""
_COLUMNS: Final = tuple(c.name for c in PAGE_VISITS.stored)
"""In the order :func:`_copy_visits` writes its values (a test checks it against the table)."""
_TYPES: Final = [_BINARY_AS.get(c.live or c.staged, c.staged) for c in PAGE_VISITS.stored]
_CHANGES: Final = "user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits"
_CHANGE_TYPES: Final = ["bytea", "int4", "text", "text", "text", "text", "int8", "int4"]
_VISIT_ID: Final = attrgetter("visit_id")
_START: Final = attrgetter("start_at")
_END: Final = attrgetter("end_at")
_Y2K_MS: Final = 946_684_800_000
"""2000-01-01 in Unix milliseconds: PostgreSQL's epoch for binary times and dates."""
_DAY_MS: Final = 86_400_000
_Y2K_DAYS: Final = _Y2K_MS // _DAY_MS
_EARLIEST_MS: Final = -62_135_596_800_000  # 0001-01-01
_LATEST_MS: Final = 253_402_300_800_000  # 10000-01-01
_TOMBSTONED: Final = (
    "SELECT EXISTS (SELECT 1 FROM unnest(%s::uuid[], %s::uuid[]) b (user_id, session_id)"
    " JOIN erased_sessions e ON e.user_id = b.user_id"
    " AND e.session_id IN (erased_session_key(b.session_id), b.session_id))"
)
"""Whether a (user, session) pair of the batch is erased (the tombstone names its key,
or, written by an older projector, the id itself)."""


def copy_new_visits(
    conn: psycopg.Connection[Any], tables: Mapping[str, str], rows: Sequence[VisitRow]
) -> bool:
    """COPY ``rows`` (one per visit id) into ``page_visits`` as new rows and their +1
    changes into ``overview_changes`` (steps above); False when nothing was written and
    the caller must stage and merge them.

    Args:
        conn: the batch's connection, inside its transaction.
        tables: logical → physical table names (live or replay's shadow).
        rows: the batch's visits, one user's per visit id (:func:`projector.pg._one_owner`).
    """
    if OVERVIEW_CHANGES not in tables or not rows:
        return False
    for time in (_START, _END):
        if min(map(time, rows)) < _EARLIEST_MS or max(map(time, rows)) >= _LATEST_MS:
            return False
    ids: dict[str, bytes] = {}
    pairs = {(r.user_id, r.session_id) for r in rows}
    for user_id, session_id in pairs:
        for value in (user_id, session_id):
            if value not in ids:
                ids[value] = bytes.fromhex(value.replace("-", ""))
    found = conn.execute(_TOMBSTONED, ([u for u, _ in pairs], [s for _, s in pairs])).fetchone()
    if found is None or found[0]:
        return False
    keyed = sorted(rows, key=_VISIT_ID)  # the processors' ids are canonical (lower case)
    try:
        with conn.transaction():  # a savepoint: the fallback starts from the same tables
            _copy_visits(conn, tables["page_visits"], keyed, ids)
            _copy_changes(conn, tables[OVERVIEW_CHANGES], keyed, ids)
    except errors.UniqueViolation:
        return False
    return True


def _cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A cursor whose ``bytea`` values are dumped by psycopg's C dumper of ``bytes`` (by
    type, ``bytea`` maps to the Python dumper of ``psycopg.Binary``: 5x slower)."""
    cursor = conn.cursor()
    cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
    return cursor


def _copy_visits(
    conn: psycopg.Connection[Any],
    table: str,
    keyed: list[VisitRow],
    ids: Mapping[str, bytes],
) -> None:
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
    )
    with _cursor(conn).copy(query) as copy:
        copy.set_types(_TYPES)
        write = copy.write_row
        for r in keyed:
            write(
                (bytes.fromhex(r.visit_id.replace("-", "")), ids[r.user_id], ids[r.session_id],
                 r.client_id, r.tab_id, r.url_hash, r.content_hash, r.url, r.title, r.domain,
                 (r.start_at - _Y2K_MS) * 1000, (r.end_at - _Y2K_MS) * 1000, r.dwell_ms,
                 r.end_reason, r.opened_seq)
            )  # fmt: skip


def _copy_changes(
    conn: psycopg.Connection[Any],
    table: str,
    keyed: list[VisitRow],
    ids: Mapping[str, bytes],
) -> None:
    """Each new visit's +1: its day is the UTC date of its start, as
    :data:`projector.overview._RECORD_NEW` computes it from the staged milliseconds."""
    query = sql.SQL("COPY {} (" + _CHANGES + ") FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table)
    )
    with _cursor(conn).copy(query) as copy:
        copy.set_types(_CHANGE_TYPES)
        write = copy.write_row
        for r in keyed:
            write(
                (ids[r.user_id], r.start_at // _DAY_MS - _Y2K_DAYS, r.domain, r.url_hash,
                 r.content_hash, r.title, r.dwell_ms, 1)
            )  # fmt: skip
