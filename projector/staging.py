"""Stage a batch's row operations into the staging tables by binary COPY.

Why a module: the visits are staged two ways. Entries of COPY rows
(:class:`schema.derived.VisitRows`, held whole by the fold:
:mod:`projector.visit_rows_fold`) are written into the COPY as they are, beside the
rows built from events and columns (:func:`stage_visits`); PostgreSQL then checks
what the fold did not (each row's shape and field sizes, UTF-8, time ranges: a
``DataError``, or ``ProtocolViolation`` for a UUID or integer of another size), and one
statement checks that every row is its entry's user's (and whether a title or domain is
beyond what the tables index: those are then cut as :mod:`mindhit.storable_visit` says).
Whatever fails (a refused COPY, another count or another user) rolls back to a savepoint
and the batch is staged from the rows decoded, with the per-visit rules of columns
(:func:`restage_visits`); the same when the merge's plain insert meets a visit already
stored or staged twice.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any, Final

import psycopg
from psycopg import errors, sql

from mindhit.copy_binary import binary_transformer, format_rows
from mindhit.storable_visit import STAGED_FIXES, STAGED_OVERSIZE
from mindhit.visit_rows import LAYOUT_1, WIRE_TYPES
from projector.copy_rows import SIGNATURE, TRAILER, binary_copy_data, staged_rows
from projector.erase_session import drop_erased_sessions
from projector.tables import PAGE_VISITS, ReadTable
from projector.visit_rows_fold import explode_rows, has_rows, users_of
from schema.derived import VisitRows

__all__ = ["copy_ops", "one_owner", "restage_visits", "stage_visits"]

if (
    tuple(c for c, _, _ in LAYOUT_1) != PAGE_VISITS.copy_columns
    or PAGE_VISITS.copy_types != WIRE_TYPES
    or tuple(f for _, _, f in LAYOUT_1) != tuple(c.attr or c.name for c in PAGE_VISITS.columns)
):  # entries of rows are sent into this table's COPY as they are
    raise RuntimeError("PAGE_VISITS' staging columns changed: add a VisitRows layout")

_USERS: Final = (
    "SELECT user_id::text, n, oversize FROM (SELECT user_id, count(*) AS n,"
    f" bool_or({STAGED_OVERSIZE}) AS oversize FROM {PAGE_VISITS.staging} GROUP BY user_id) u"
)
"""Each staged user's rows, and whether a title or domain of theirs needs cutting (grouped
by the UUID, cast after: grouped by its text, 100,000 rows took ~25 ms instead of ~14)."""
_FIX_OVERSIZE: Final = f"UPDATE {PAGE_VISITS.staging} SET {STAGED_FIXES} WHERE {STAGED_OVERSIZE}"
_CLEAR: Final = f"DELETE FROM {PAGE_VISITS.staging}"


class _Refused(Exception):
    """The staged rows are not what the entries of rows claim (count or users)."""


def copy_ops(conn: psycopg.Connection[Any], table: ReadTable, ops: Any) -> None:
    """COPY the row operations ``ops`` into ``table``'s staging table (binary)."""
    with conn.cursor().copy(_copy_statement(table)) as copy:  # type: ignore[arg-type]
        for data in binary_copy_data(conn, table.copy_types, staged_rows(table), ops):
            copy.write(data)


def _copy_statement(table: ReadTable) -> str:
    return f"COPY {table.staging} ({', '.join(table.copy_columns)}) FROM STDIN (FORMAT BINARY)"


def one_owner(
    conn: psycopg.Connection[Any], table: ReadTable, physical: str, ops: dict[Any, Any]
) -> list[Any]:
    """The operations of an owned table with one user per key.

    The folds key such rows by (user, id), so two users sending the same id (a session
    id, say) give two operations; the row belongs to its stored owner, else to whoever
    sent the id first in the log (the operations are in first-seen order). The others'
    operations on that key are dropped here, so one statement never sees two rows of a
    key (the upserts would also refuse to change another user's row). An owned table's
    operations are keyed (owner, key) in the batch (``ops``), whatever their form (a visit
    may be its staging row: :mod:`projector.visit_columns`; an entry of rows is keyed
    by a name no other key has, and its visits are checked when it is merged).
    """
    if table.owner is None or len(table.key) != 1:
        return list(ops.values())
    key, owner = table.key[0], table.owner
    if len(set(map(itemgetter(1), ops))) == len(ops):
        return list(ops.values())  # every key once: nothing contested
    users: dict[str, list[str]] = {}
    for user, id_ in ops:
        users.setdefault(id_, []).append(user)
    contested = [k for k, found in users.items() if len(set(found)) > 1]
    if not contested:
        return list(ops.values())
    query = sql.SQL("SELECT {k}::text, {o}::text FROM {t} WHERE {k} = ANY(%s::uuid[])").format(
        k=sql.Identifier(key), o=sql.Identifier(owner), t=sql.Identifier(physical)
    )
    stored = dict(conn.execute(query, (contested,)).fetchall())
    winner = {k: stored.get(k) or users[k][0] for k in contested}
    return [op for (user, id_), op in ops.items() if winner.get(id_, user) == user]


def stage_visits(conn: psycopg.Connection[Any], batch: Any, physical: str) -> None:
    """Stage ``batch.visits`` into ``tmp_visits`` (``physical``: the visits table).

    Entries of rows are written as they are, in log order among the other visits' rows
    (built as :func:`copy_ops` builds them), under a savepoint; the rows stored must
    number what the entries claim and each user's rows what that user's operations give
    (:func:`projector.visit_rows_fold.users_of`). Else, or when PostgreSQL refuses the
    data, the savepoint rolls back and the batch's entries of rows are decoded
    (:func:`projector.visit_rows_fold.explode_rows`) and staged like columns.
    """
    if not has_rows(batch.visits.values()):
        _stage_each(conn, batch, physical)
        return
    ops = one_owner(conn, PAGE_VISITS, physical, batch.visits)
    try:
        with conn.transaction():
            _copy_with_rows(conn, ops)
            found = conn.execute(_USERS).fetchall()
            if Counter({u: int(n) for u, n, _ in found}) != users_of(ops):
                raise _Refused
            if any(oversize for _, _, oversize in found):  # mindhit.storable_visit
                conn.execute(_FIX_OVERSIZE)  # type: ignore[arg-type]
    except (errors.DataError, errors.ProtocolViolation, _Refused):  # a field's size: 08P01
        explode_rows(batch)
        _stage_each(conn, batch, physical)


def _stage_each(conn: psycopg.Connection[Any], batch: Any, physical: str) -> None:
    """COPY ``batch.visits`` (none an entry of rows) one staging row per visit."""
    copy_ops(conn, PAGE_VISITS, one_owner(conn, PAGE_VISITS, physical, batch.visits))


def _copy_with_rows(conn: psycopg.Connection[Any], ops: list[Any]) -> None:
    """One binary COPY of ``ops``: entries of rows as their bytes, the others formatted."""
    tx = binary_transformer(conn, PAGE_VISITS.copy_types)
    rows = staged_rows(PAGE_VISITS)
    with conn.cursor().copy(_copy_statement(PAGE_VISITS)) as copy:  # type: ignore[arg-type]
        copy.write(SIGNATURE)
        run: list[Any] = []
        for op in [*ops, None]:
            if type(op) is VisitRows or op is None:
                if run:
                    copy.write(format_rows(rows(run), tx, bytearray()))
                    run = []
                if op is not None:
                    copy.write(op.rows)
            else:
                run.append(op)
        copy.write(TRAILER)


def restage_visits(conn: psycopg.Connection[Any], batch: Any, physical: str) -> bool:
    """Stage ``batch.visits`` again from its entries of rows decoded, when it holds any
    (else False: nothing to do): the merge's plain insert met a visit stored or staged
    twice, which the upsert's path settles per visit (one owner per id, the last version
    of a visit). Drops the erased sessions' rows again, as the first staging did."""
    if not has_rows(batch.visits.values()):
        return False
    conn.execute(_CLEAR)  # type: ignore[arg-type]
    explode_rows(batch)
    _stage_each(conn, batch, physical)
    drop_erased_sessions(conn)
    return True
