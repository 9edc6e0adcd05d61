"""The overview's daily rollups: kept equal to an aggregate of other read tables.

``overview_days`` and ``overview_domains`` are sums over ``page_visits`` per user and
UTC day, ``overview_domains_monthly`` and ``overview_pages_monthly`` per calendar month
(a day's or week's pages are read from ``page_visits`` itself); ``page_titles`` counts
each user's visits per page version and title (the search's titles); ``overview_branches``
lists the top-level topics of each session's mind map. Instead of folding events a
second time (which would count a redelivered visit twice), the adapter adds what a
batch *changed* in ``page_visits``:
the versions the visits' upsert wrote with a positive sign and the stored versions they
replaced with a negative one (one statement). A duplicate therefore adds zero, the
order of batches does not matter, and replay/crash/resume give the same rows as a
clean fold. Branches are rebuilt per session from ``mindmap_graphs`` (a rebuilt map
replaces its rows). Erasures take the erased visits' share away (one session) or
rebuild a user's rollups from what is left (a user, up to a cut).

Live, the visits fold does not update these five rollups of ``page_visits`` itself: it
appends its changes in its own transaction (a batch of new visits: one reference naming
them, :mod:`projector.overview_refs`; an upsert: :func:`upsert_staged_visits` into
``overview_changes``), and
:func:`drain_changes` later folds pending changes (per-visit rows and references to
visits, :mod:`projector.overview_refs`) into the rollups and deletes them in
one transaction (run by :mod:`projector.overview_drainer`, and by every erasure before
it reads or adjusts the rollups). Replay's shadow fold still updates its shadow rollups
in the batch's transaction (:func:`add_new_visits`, :func:`apply_changes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

import psycopg
from psycopg import errors, sql

from projector.overview_refs import OVERVIEW_CHANGE_REFS, take_references

__all__ = [
    "LIVE_ROLLUPS",
    "OVERVIEW_CHANGES",
    "OVERVIEW_TABLES",
    "add_new_visits",
    "apply_changes",
    "drain_changes",
    "ensure_overview_temp",
    "rebuild_staged_branches",
    "rebuild_user",
    "subtract_session",
    "upsert_staged_visits",
]

OVERVIEW_TABLES: Final = (
    "overview_days",
    "overview_domains",
    "overview_domains_monthly",
    "overview_pages_monthly",
    "page_titles",
)
"""Rollups of ``page_visits`` (the visits projection; ``page_titles``: the titles each
user saw per page version, which the search reads); ``overview_branches`` is the
sessions projection's."""
OVERVIEW_CHANGES: Final = "overview_changes"
"""The live visits fold's pending changes to :data:`OVERVIEW_TABLES` (migration 265)."""
LIVE_ROLLUPS: Final = {
    t: t for t in (OVERVIEW_CHANGES, OVERVIEW_CHANGE_REFS, "page_visits", *OVERVIEW_TABLES)
}
"""The live change tables (both kinds), ``page_visits`` (references resolve against it)
and rollups: what :func:`drain_changes` reads and writes."""


def _sql(name: str) -> str:
    return resources.files("projector").joinpath("sql", name).read_text()


_TEMP: Final = _sql("overview_temp.sql")
_APPLY: Final = _sql("overview_visits.sql")
_NEW_VISITS: Final = _sql("overview_new_visits.sql")
_BRANCHES: Final = _sql("overview_branches.sql")
_STAGED: Final = (
    "SELECT user_id, (start_at AT TIME ZONE 'UTC')::date,"
    " domain, url_hash, content_hash, title, dwell_ms, 1 FROM tmp_visits"
)
"""The staged visits (``tmp_visits``, all new) as additions."""
_CHANGE_COLUMNS: Final = "(user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)"
_STAGED_CONTRIBUTION: Final = f"INSERT INTO tmp_overview {_CHANGE_COLUMNS} {_STAGED}"
_SOURCE_STAGED: Final = (
    "SELECT user_id, (start_at AT TIME ZONE 'UTC')::date AS day,"
    " domain, url_hash, content_hash, title, dwell_ms, 1 AS visits FROM tmp_visits"
)
_SOURCE_DRAINED: Final = (
    "SELECT user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits FROM tmp_overview"
)
_TAKE: Final = (
    "WITH gone AS (DELETE FROM {overview_changes}{where}"
    " RETURNING user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)"
    f" INSERT INTO tmp_overview {_CHANGE_COLUMNS}"
    " SELECT user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits FROM gone"
)
"""Pending changes moved into this connection's ``tmp_overview`` (``{where}``: which)."""
_AT_MOST: Final = (
    " WHERE ctid = ANY(ARRAY(SELECT ctid FROM {overview_changes} ORDER BY seq LIMIT %(limit)s))"
)
"""The ``limit`` lowest-numbered rows this statement sees (change rows are never
updated, so their ``ctid`` stays theirs until deleted; the table needs no index).
Lowest ``seq`` first (an identity, migration 270), not in table order nor by
``changed_at``: a rewritten visit's -1 cancels a +1 an earlier transaction wrote, whose
number was drawn before the -1's fold read that version committed. Once drains and
VACUUM freed the table's first pages a later batch's rows are stored before an earlier
one's, and ``changed_at`` (PostgreSQL's clock) can step back between two folds. Drained
before its +1, the -1 left the day at zero visits, deleted with the new dwell, and the
+1 brought the old one back for good (test_overview_drain.py)."""
_CONTRIBUTION: Final = (
    "INSERT INTO tmp_overview"
    " (user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)"
    " SELECT v.user_id, (v.start_at AT TIME ZONE 'UTC')::date, v.domain, v.url_hash,"
    " v.content_hash, v.title, {sign} * v.dwell_ms, {sign} FROM {page_visits} v WHERE "
)


def _fmt(
    text: str, tables: Mapping[str, str], *, source: str = "", **literals: int
) -> sql.Composed:
    idents = {k: sql.Identifier(v) for k, v in tables.items()}
    extra = {"source": sql.SQL(source)} if source else {}  # type: ignore[arg-type]
    return sql.SQL(text).format(  # type: ignore[arg-type]
        **idents, **extra, **{k: sql.Literal(v) for k, v in literals.items()}
    )


def ensure_overview_temp(conn: psycopg.Connection[Any]) -> None:
    """Create this connection's change tables (idempotent; erasure commands need them too)."""
    conn.execute(_TEMP)  # type: ignore[arg-type]


_VISIT_FIELDS: Final = (
    "{a}.user_id, ({a}.start_at AT TIME ZONE 'UTC')::date, {a}.domain, {a}.url_hash,"
    " {a}.content_hash, {a}.title"
)
_UPSERT_VISITS: Final = (
    "WITH changed AS ({upsert}\n"
    "RETURNING cur.visit_id, cur.user_id, cur.start_at, cur.domain, cur.url_hash,"
    " cur.content_hash, cur.title, cur.dwell_ms, cur.xmax::text <> '0' AS rewritten)\n"
    "INSERT INTO {{changes}}"
    " (user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)\n"
    f"SELECT {_VISIT_FIELDS.format(a='c')}, c.dwell_ms, 1 FROM changed c\n"
    f"UNION ALL SELECT {_VISIT_FIELDS.format(a='o')}, -o.dwell_ms, -1\n"
    "FROM changed c CROSS JOIN LATERAL (SELECT v.* FROM {{page_visits}} v"
    " WHERE v.visit_id = c.visit_id OFFSET 0) o\n"
    "WHERE c.rewritten"
)


def upsert_staged_visits(
    conn: psycopg.Connection[Any],
    tables: Mapping[str, str],
    upsert: str,
    into: str = "tmp_overview",
) -> None:
    """Merge the staged visits (``upsert``: their statement) and collect what it changed
    into ``into`` (this connection's ``tmp_overview``, or the live ``overview_changes``).

    One statement: the visits the upsert inserted or rewrote (its ``RETURNING``) are
    added, the stored versions of the rewritten ones (read from the statement's
    snapshot, i.e. before the upsert) taken away; visits it left alone (identical,
    or another user's) add nothing; ``page_visits`` is read once, not before and after.

    Only the rewritten visits are looked up (one index probe each, ``OFFSET 0`` keeps
    the planner from joining all of them): a version the upsert *inserted* has no
    ``xmax``, one it *updated* carries the lock the conflict took (PostgreSQL locks the
    conflicting row before updating it and keeps its own lock on the new version). A
    batch of new visits, the common case, thus reads nothing back: probing every staged
    visit cost about a fifth of the statement.
    """
    statement = _UPSERT_VISITS.format(upsert=upsert.strip().rstrip(";"))
    conn.execute(_fmt(statement, {**tables, "changes": into}))


def apply_changes(conn: psycopg.Connection[Any], tables: Mapping[str, str]) -> None:
    """Add the collected changes to the rollups and drop days/pages left without visits."""
    conn.execute(_fmt(_APPLY, tables))
    conn.execute("DELETE FROM tmp_overview")


def add_new_visits(conn: psycopg.Connection[Any], tables: Mapping[str, str]) -> None:
    """Add the staged visits (``tmp_visits``), all just inserted as new, to the rollups.

    One statement reading the staged rows once; it leaves the rollups as collecting the
    same rows in the change table and :func:`apply_changes` would (a new visit only
    adds), without writing the change table or looking for rows left at zero visits.
    Titles the user's rows lack are inserted without ``ON CONFLICT``; should one be
    stored meanwhile (a second writer of the user's rows, which the partitioning rules
    out), the statement is rolled back to its savepoint and the batch added by that
    change table instead, with the same result.
    """
    if not _add_only(conn, tables, _SOURCE_STAGED):
        conn.execute(_STAGED_CONTRIBUTION)
        apply_changes(conn, tables)


def _add_only(conn: psycopg.Connection[Any], tables: Mapping[str, str], source: str) -> bool:
    """Add ``source``'s changes (none negative) to the rollups in one statement; False
    when a title row it saw missing was inserted meanwhile (its plain insert relies on one
    writer per user's rows): then nothing was written and the caller adds them by the
    change table and the ``ON CONFLICT`` statements instead."""
    try:
        with conn.transaction():  # a savepoint: the fallback starts from the same rollups
            conn.execute(_fmt(_NEW_VISITS, tables, source=source))
    except errors.UniqueViolation:
        return False
    return True


def drain_changes(
    conn: psycopg.Connection[Any], tables: Mapping[str, str] = LIVE_ROLLUPS, limit: int = 0
) -> int:
    """Fold pending changes into the rollups and delete them, in the caller's transaction;
    return how many were drained (``limit``: at most that many, 0: every one it sees).

    Both kinds of pending change are taken: per-visit rows (``limit`` counts them, lowest
    ``seq`` first) and, within what ``limit`` leaves, references (each named visit counts;
    :mod:`projector.overview_refs`). The count returned is rows plus named visits.

    Steps: delete the pending rows and move them into ``tmp_overview`` (one statement, so
    exactly the rows deleted are added); lock the pending references, delete the
    lowest-numbered within the bound and add their visits' stored versions to
    ``tmp_overview`` (:func:`projector.overview_refs.take_references`); when none is
    negative (the common case, new visits), add them in one statement
    (:data:`_NEW_VISITS` over ``tmp_overview``), else (a rewritten visit's stored
    version) by :func:`apply_changes`, which also drops rows left at zero visits. The
    caller holds the erasure lock (shared, or exclusive for an erasure) and is the only
    drainer: nobody else writes the rollups meanwhile.
    """
    ensure_overview_temp(conn)
    where = _AT_MOST if limit else ""
    taken = conn.execute(
        _fmt(_TAKE.replace("{where}", where), tables), {"limit": limit} if limit else None
    ).rowcount
    taken = max(taken, 0)
    if OVERVIEW_CHANGE_REFS in tables and (not limit or taken < limit):
        taken += take_references(conn, tables, limit - taken if limit else None)
    if taken <= 0:
        return 0
    negative = conn.execute("SELECT EXISTS (SELECT 1 FROM tmp_overview WHERE visits < 0)")
    if (row := negative.fetchone()) and not row[0] and _add_only(conn, tables, _SOURCE_DRAINED):
        conn.execute("DELETE FROM tmp_overview")
    else:
        apply_changes(conn, tables)
    return taken


def rebuild_staged_branches(conn: psycopg.Connection[Any], tables: Mapping[str, str]) -> None:
    """Rebuild the branch rows of the sessions whose maps the batch wrote (``tmp_mindmaps``)."""
    conn.execute(
        "INSERT INTO tmp_branch_sessions SELECT DISTINCT user_id::uuid, session_id::uuid"
        " FROM tmp_mindmaps"
    )
    conn.execute(_fmt(_BRANCHES, tables))
    conn.execute("DELETE FROM tmp_branch_sessions")


def subtract_session(
    conn: psycopg.Connection[Any], tables: Mapping[str, str], user_id: str, session_id: str
) -> None:
    """Take an erased session's visits out of the rollups (before its rows are deleted)."""
    ensure_overview_temp(conn)
    if "page_visits" in tables and all(t in tables for t in OVERVIEW_TABLES):
        conn.execute(
            _fmt(
                _CONTRIBUTION + "v.user_id = %(user)s AND v.session_id = %(session)s",
                tables,
                sign=-1,
            ),
            {"user": user_id, "session": session_id},
        )
        apply_changes(conn, tables)
    if "overview_branches" in tables:
        conn.execute(
            _fmt(
                "DELETE FROM {overview_branches} WHERE user_id = %(user)s"
                " AND session_id = %(session)s",
                tables,
            ),
            {"user": user_id, "session": session_id},
        )


def rebuild_user(conn: psycopg.Connection[Any], tables: Mapping[str, str], user_id: str) -> None:
    """Rebuild one user's rollups from their remaining visits and maps (after an erasure)."""
    ensure_overview_temp(conn)
    params = {"user": user_id}
    if "page_visits" in tables and all(t in tables for t in OVERVIEW_TABLES):
        for table in OVERVIEW_TABLES:
            conn.execute(_fmt(f"DELETE FROM {{{table}}} WHERE user_id = %(user)s", tables), params)
        conn.execute(_fmt(_CONTRIBUTION + "v.user_id = %(user)s", tables, sign=1), params)
        apply_changes(conn, tables)
    if "overview_branches" in tables and "mindmap_graphs" in tables:
        conn.execute(
            _fmt(
                "INSERT INTO tmp_branch_sessions SELECT user_id, session_id"
                " FROM {mindmap_graphs} WHERE user_id = %(user)s",
                tables,
            ),
            params,
        )
        conn.execute(
            _fmt("DELETE FROM {overview_branches} WHERE user_id = %(user)s", tables), params
        )
        conn.execute(_fmt(_BRANCHES, tables))
        conn.execute("DELETE FROM tmp_branch_sessions")
