"""Merging a batch's visits into ``page_visits``: a plain insert when they are new, else
the upsert.

A visit is closed once, so the visits a live batch brings are almost always new rows
(a stored one comes back only with redelivery after a crash, a replay over a table
that has it, or two users sending one visit id). New rows are inserted from the
staging table with a plain ``INSERT … SELECT`` (no ``ON CONFLICT``): the upsert's
speculative insertion cost about twice the backend CPU for the same rows, and a plain
insert from ``tmp_visits`` costs the backend what a second binary ``COPY`` of the rows
from Python did, without encoding every row a second time in this process (100,000
visits: ~0.3 s of this process's CPU saved). Steps, inside the batch's transaction:

1. under a savepoint, insert the staged visits (``tmp_visits``, from which the rows
   of erased sessions were deleted) into ``page_visits``, in the order they were staged
   (the log's: see :data:`_INSERT_NEW`);
2. all new: what the batch changed is exactly those rows; add them to the overview's
   rollups in one statement (:func:`projector.overview.add_new_visits`);
3. a unique violation (some visit was stored already, or one visit id was staged
   twice): roll back to the savepoint and merge with the upsert instead
   (:func:`projector.overview.upsert_staged_visits`, which collects the versions it
   wrote and takes the stored versions it rewrote out, in the change table), then
   apply the change table to the rollups (:func:`projector.overview.apply_changes`).

Either way ``page_visits`` and the rollups end up as the upsert alone would leave
them, so duplicates, redelivery and replay fold as before.

Live (``tables`` names ``overview_changes``) steps 2 and 3 write the changes to that
table instead of the rollups, and the overview drainer adds them to the rollups later
(:mod:`projector.overview_drainer`): a batch of new visits writes ``page_visits``, one
row naming them (:func:`projector.overview_refs.record_new_visits_by_reference`) and its
checkpoint; the upsert's change set (one unindexed row per changed visit version) goes
to ``overview_changes`` directly. Before the upsert, pending references naming a staged
visit become per-visit rows (:func:`projector.overview_refs.resolve_staged_references`:
a reference adds the version stored when drained, so it must not outlive a rewrite).
Replay's shadow tables are folded with their rollups as above.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import psycopg
from psycopg import errors, sql

from projector.overview import (
    OVERVIEW_CHANGES,
    add_new_visits,
    apply_changes,
    upsert_staged_visits,
)
from projector.overview_refs import record_new_visits_by_reference, resolve_staged_references
from projector.tables import PAGE_VISITS

__all__ = ["merge_visits"]

_INSERT_NEW: Final = (
    f"INSERT INTO {{page_visits}} ({', '.join(c.name for c in PAGE_VISITS.stored)})\n"
    f"SELECT {', '.join(c.value('t') for c in PAGE_VISITS.stored)}\n"
    f"FROM {PAGE_VISITS.staging} t"
)
"""The staged visits as new rows (a unique violation if one is stored already), in the
order they were staged: the batch's, which is the log's (a user's visits in the order
they closed). Three of ``page_visits``' four indexes lead with the user or session and
end with ``start_at``, so in that order consecutive rows land on the same index pages;
sorted by the key (a hashed UUID) only the primary key's did and the other three took
them at random. Per 100,000 bench visits the insert cost the backend ~0.8 s instead of
~0.9-1.3 s (issue 14, bench/HISTORY.md 2026-12-07).

The sort also met key locks in one order, so two writers inserting the *same* new ids
never deadlocked. No two writers do: a visit's id is named from its user
(:func:`schema.ids.visit_id`), a user's rows are folded by one writer (the projection
lock, or a group's partition fenced by its token: :mod:`projector.fencing`), and replay
writes its own shadow tables. Were it to happen, PostgreSQL ends one of them with a
deadlock error, an ``OperationalError``: nothing of that batch is written and the
projector resumes from its checkpoints (:data:`projector.app.RESTARTED_ON`). The upsert
(a batch with stored visits) keeps its key order."""


def merge_visits(
    conn: psycopg.Connection[Any],
    tables: Mapping[str, str],
    upsert: str,
    restage: Callable[[], object] | None = None,
) -> None:
    """Merge the visits staged in ``tmp_visits`` and add what changed to the rollups, or
    live to the pending changes (steps above).

    Args:
        conn: the batch's connection, inside its transaction.
        tables: logical → physical table names (live or replay's shadow).
        upsert: the visits' upsert statement (:attr:`projector.tables.ReadTable.upsert`).
        restage: called before the upsert's path, to stage the visits per visit if they
            were staged as entries of COPY rows (:func:`projector.staging.restage_visits`).
    """
    insert = sql.SQL(_INSERT_NEW).format(page_visits=sql.Identifier(tables["page_visits"]))
    deferred = OVERVIEW_CHANGES in tables  # live: the drainer updates the rollups
    try:
        with conn.transaction():
            conn.execute(insert)
    except errors.UniqueViolation:
        if restage is not None:
            restage()
        if deferred:  # first the pending references naming a visit it may rewrite
            resolve_staged_references(conn, tables)
            upsert_staged_visits(conn, tables, upsert, into=tables[OVERVIEW_CHANGES])
        else:
            upsert_staged_visits(conn, tables, upsert)
            apply_changes(conn, tables)
        return
    if deferred:
        record_new_visits_by_reference(conn, tables)
    else:
        add_new_visits(conn, tables)
