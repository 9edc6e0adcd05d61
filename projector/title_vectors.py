"""Filling in the search vectors of ``page_titles`` after the fold (migration 190).

The fold writes a new title row with ``search`` NULL and marks its user in
``page_titles_unparsed`` (``projector/sql/overview_*visits.sql``): parsing every new
title (``to_tsvector``) was ~0.3-0.5 s of the fold's backend per 100,000 new titles.
Housekeeping then calls :func:`fill_title_vectors`; until it has, the search computes a
missing vector itself with the same expression (``web/sql/search.sql``), so what it
finds and how it ranks it do not depend on this pass having run.

Per marked user, three short transactions, none holding a lock while it waits:

1. delete the user's mark (a batch writing the user's titles holds the mark's row lock
   until it commits, ``ON CONFLICT DO UPDATE``: the delete waits for it, so its rows are
   committed before step 2 looks; a batch coming later marks the user again);
2. fill the user's NULL vectors, :data:`CHUNK` per transaction while the time budget
   lasts, skipping rows a batch has locked (``FOR UPDATE SKIP LOCKED``: this pass never
   waits on a batch, so it cannot deadlock with one);
3. if any NULL vector is left (out of budget, or skipped), mark the user again.

A vector is a function of the title alone, so a filled row is what the fold used to
write; replay rebuilds ``page_titles`` with NULL vectors and its marks
(``page_titles_unparsed`` is a rollup of the visits projection), and erasing a user
removes their marks with their rows.
"""

from __future__ import annotations

import time
from typing import Any, Final

import psycopg

__all__ = ["CHUNK", "VECTOR", "fill_title_vectors"]

CHUNK: Final = 5000
"""Title rows filled per transaction."""
VECTOR: Final = "setweight(to_tsvector('english'::regconfig, {title}), 'A')"
"""A title's search vector (weight A), as the search computes a missing one."""

_FILL: Final = (
    "UPDATE page_titles p SET search = " + VECTOR.format(title="p.title") + " FROM ("
    " SELECT ctid FROM page_titles WHERE user_id = %(user)s AND search IS NULL"
    " LIMIT %(chunk)s FOR UPDATE SKIP LOCKED) x WHERE p.ctid = x.ctid"
)
_MARK_IF_LEFT: Final = (
    "INSERT INTO page_titles_unparsed (user_id) SELECT %(user)s::uuid WHERE EXISTS ("
    " SELECT 1 FROM page_titles WHERE user_id = %(user)s AND search IS NULL)"
    " ON CONFLICT (user_id) DO NOTHING"
)


def fill_title_vectors(
    conn: psycopg.Connection[Any], *, budget_s: float = 2.0, chunk: int = CHUNK
) -> int:
    """Fill the NULL search vectors of the marked users' titles; return the rows filled.

    Stops taking new users once ``budget_s`` has passed (what is left stays marked for
    the next call). ``conn`` must not be inside a transaction; each step commits.
    """
    started = time.monotonic()
    filled = 0
    users = [str(r[0]) for r in conn.execute("SELECT user_id FROM page_titles_unparsed").fetchall()]
    conn.commit()
    for user in users:
        if time.monotonic() - started >= budget_s:
            break
        params = {"user": user, "chunk": chunk}
        conn.execute("DELETE FROM page_titles_unparsed WHERE user_id = %(user)s", params)
        conn.commit()
        while True:  # a chunk per transaction, while the budget lasts
            rows = conn.execute(_FILL, params).rowcount  # type: ignore[arg-type]
            conn.commit()
            filled += rows
            if rows < chunk or time.monotonic() - started >= budget_s:
                break
        conn.execute(_MARK_IF_LEFT, params)  # type: ignore[arg-type]
        conn.commit()
    return filled
