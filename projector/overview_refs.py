"""The overview's change rows by reference: one row per batch naming the visits it inserted.

Why: the visits fold's per-visit change rows (one row in ``overview_changes`` per new
visit, what the fold wrote before references) cost its transaction ~0.12-0.16 s of
backend CPU per 100,000 visits (issue 14, bench/HISTORY.md). A reference
(``overview_change_refs``, migration 271) is one row per batch: the new visits' ids. It
means "+1 of each named visit, *in the version stored when the reference is drained*":
the drainer resolves it against ``page_visits`` (:func:`take_references`). Rollups plus
per-visit changes plus the references' resolution still equal the aggregate of
``page_visits``:

* a visit a reference names and an erasure deletes: erasures drain every pending change
  first (both kinds), and a named visit with no row resolves to nothing anyway;
* a visit a reference names and an upsert rewrites: the upsert writes -1 of the stored
  version and +1 of the new one, so the reference must not add the new version too.
  Before the upsert, :func:`resolve_staged_references` turns every pending reference
  naming a staged visit into per-visit rows (+1 of the versions stored then) and deletes
  it, in the fold's transaction; those rows draw their ``seq`` before the upsert's -1.
  A drain and that guard lock references in ``seq`` order: neither sees a reference the
  other is taking half-way;
* a drain needs no order *across* the two kinds: after that guard no -1 ever cancels a
  reference's +1, and each kind alone keeps its order (per-visit rows by ``seq``,
  migration 270; references lowest ``seq`` first).

Two releases (a table read by other processes): release 1 (8f773e7) read both kinds
everywhere and wrote per-visit rows; this release 2 writes references
(:func:`record_new_visits_by_reference` in :func:`projector.visits_merge.merge_visits`),
so a replica of a build before release 1 must not run beside it: its drainer would leave
references pending and its upsert would rewrite visits they name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import psycopg

from mindhit.db import sql_file
from projector.tables import with_tables

__all__ = [
    "OVERVIEW_CHANGE_REFS",
    "choose_references",
    "record_new_visits_by_reference",
    "resolve_staged_references",
    "take_references",
]

OVERVIEW_CHANGE_REFS: Final = "overview_change_refs"
"""Pending changes by reference (migration 271): ``seq``, ``visit_ids``, ``visits``."""
_RECORD: Final = (
    "INSERT INTO {overview_change_refs} (visit_ids, visits)"
    " SELECT array_agg(visit_id), count(*) FROM tmp_visits HAVING count(*) > 0"
)
_LOCK: Final = "SELECT seq, visits FROM {overview_change_refs} ORDER BY seq FOR UPDATE"
_TAKE: Final = sql_file("projector", "overview_refs_take")
_RESOLVE: Final = sql_file("projector", "overview_refs_resolve")


def choose_references(pending: Sequence[tuple[int, int]], budget: int | None) -> list[int]:
    """The references a drain takes: the lowest-numbered first, until the visits they
    name reach ``budget`` (the last one may pass it; ``None``: every one).

    Args:
        pending: ``(seq, visits)`` of every pending reference, lowest ``seq`` first.
        budget: visits the drain may still take (``None``: no bound; ``<= 0``: none).

    Returns:
        Their ``seq``: a prefix of ``pending``, all of it when it names fewer than
        ``budget`` visits, so a drain that took less than its bound left none behind.
    """
    chosen: list[int] = []
    named = 0
    for seq, visits in pending:
        if budget is not None and named >= budget:
            break
        chosen.append(seq)
        named += visits
    return chosen


def record_new_visits_by_reference(
    conn: psycopg.Connection[Any], tables: Mapping[str, str]
) -> None:
    """Append one reference naming the staged visits (``tmp_visits``, all just inserted as
    new) to the pending changes: the live fold's whole share of the overview for a batch
    of new visits, one row in an unindexed table."""
    conn.execute(with_tables(_RECORD, tables))


def take_references(
    conn: psycopg.Connection[Any], tables: Mapping[str, str], budget: int | None
) -> int:
    """Move pending references into this connection's ``tmp_overview``, resolved against
    ``page_visits`` now; return how many visits they named.

    Steps, in the caller's (the drain's) transaction: lock every pending reference in
    ``seq`` order (an upsert's guard holding one: wait for its commit, which deleted it);
    choose the lowest-numbered within ``budget`` (:func:`choose_references`); delete them
    and add each named visit's stored version (+1) to ``tmp_overview`` in one statement.
    """
    pending = [(int(s), int(v)) for s, v in conn.execute(with_tables(_LOCK, tables)).fetchall()]
    chosen = choose_references(pending, budget)
    if not chosen:
        return 0
    conn.execute(with_tables(_TAKE, tables), {"seqs": chosen})
    named = dict(pending)
    return sum(named[s] for s in chosen)


def resolve_staged_references(conn: psycopg.Connection[Any], tables: Mapping[str, str]) -> None:
    """Turn the pending references naming any staged visit into per-visit change rows of
    the versions stored now, and delete them (``projector/sql/overview_refs_resolve.sql``).

    Run by the live fold before its upsert rewrites stored visits, in the same
    transaction: a reference resolves to the version stored when it is drained, so one
    left pending over a rewrite would add the new version a second time.
    """
    conn.execute(with_tables(_RESOLVE, tables))
