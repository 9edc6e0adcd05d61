"""The fold of visits sent as COPY rows (:class:`schema.derived.VisitRows`), pure.

Why: an entry of rows is staged by writing its bytes into the staging COPY as they are
(:func:`projector.staging.stage_visits`), so the fold keeps the event whole in
``batch.visits`` (under a key of its own, in log order) and checks only what is the
entry's: its user id and layout, and the user's erasure (an entry received before it is
dropped whole). Per-visit rules run on the rare paths, on the rows decoded
(:func:`explode_rows`): an erasure's cut by each visit's time (an entry without
``received_at``), a session erased within the batch, a visit of another shape folded
after an entry of rows (a later version of a visit it holds must replace it, so the
rows take their places first), and a staging that PostgreSQL refused or whose plain
insert met a stored or repeated visit; there the visits become
their staging rows, keyed and merged exactly as columns are (a later version of a visit
replaces the earlier, in the place first seen).
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from mindhit.storable_visit import storable_domain, storable_title
from mindhit.visit_rows import LAYOUT, StagedVisit, as_columns, decode_rows
from projector.tables import PAGE_VISITS
from projector.visit_columns import fold_columns
from schema.derived import VisitClosed, VisitRows

__all__ = ["explode_rows", "fold_rows", "has_rows", "users_of"]

_VISIT_AT: Final = PAGE_VISITS.copy_columns.index("visit_id")
_USER_AT: Final = PAGE_VISITS.copy_columns.index("user_id")
_TITLE_AT: Final = PAGE_VISITS.copy_columns.index("title")
_DOMAIN_AT: Final = PAGE_VISITS.copy_columns.index("domain")
_entries = itertools.count()
"""Numbers the keys that hold a whole entry of rows in ``batch.visits``."""


def fold_rows(batch: Any, e: VisitRows, received: int, cut: int | None) -> None:
    """Fold ``e`` into ``batch.visits`` whole, keyed (user, ``"rows:<n>"``: never a
    visit id).

    ``received`` is its entry's ``received_at`` (``0``: unknown), ``cut`` the user's
    erasure (None: not erased). Counts every visit as an event; an entry of an invalid
    user or an unknown layout is rejected whole (the staging would refuse its bytes
    too). With an erasure and no ``received_at``, each visit's own time meets the cut:
    the rows are decoded and folded as columns (:func:`fold_columns`).
    """
    n = max(e.count, 1)
    if cut is not None and received <= 0:  # each visit's own time meets the cut
        try:
            columns = as_columns(e)
        except ValueError:
            batch.events += n - 1
            batch.rejected += n
            return
        if batch.row_entries:
            explode_rows(batch)  # folded per visit: after the rows before it, as for columns
        fold_columns(batch, columns, received, cut)
        return
    batch.events += n - 1  # the entry counted the event once
    if e.layout != LAYOUT or e.count < 1 or not batch.valid_ids(e.user_id):
        batch.rejected += n
        return
    if cut is not None and received <= cut:
        return  # received before the user's erasure
    batch.visits[(e.user_id, f"rows:{next(_entries)}")] = e
    batch.row_entries += 1


def has_rows(ops: Iterable[Any]) -> bool:
    """Whether any of a batch's visit operations is a whole entry of rows."""
    return any(type(op) is VisitRows for op in ops)


def explode_rows(batch: Any, user_id: str | None = None) -> None:
    """Replace the entries of rows in ``batch.visits`` (``user_id``'s; None: all) by their
    visits' staging rows, keyed (user, visit id), in log order: a visit met again
    replaces the earlier version in the place first seen, as the fold of columns does.
    An entry that does not decode (:func:`projector.visit_rows.decode_rows`) is rejected
    whole: none of its visits is folded."""
    visits: dict[tuple[str, str], Any] = batch.visits
    if not has_rows(op for key, op in visits.items() if user_id in (None, key[0])):
        if user_id is None:
            batch.row_entries = 0  # it overcounts once an erasure dropped entries
        return
    out: dict[tuple[str, str], Any] = {}
    for key, op in visits.items():
        if type(op) is not VisitRows or user_id not in (None, key[0]):
            out[key] = op
            continue
        try:
            rows = decode_rows(op)
        except ValueError:
            batch.rejected += max(op.count, 1)
            continue
        for row in rows:
            out[(op.user_id, str(uuid.UUID(bytes=row[_VISIT_AT])))] = _storable(row)
    visits.clear()
    visits.update(out)
    batch.row_entries = sum(type(op) is VisitRows for op in out.values())


def _storable(row: StagedVisit) -> StagedVisit:
    """``row`` with its title and domain as the tables take them (``mindhit.storable_visit``;
    its tab id is an int4 already)."""
    title, domain = storable_title(row[_TITLE_AT]), storable_domain(row[_DOMAIN_AT])
    if title is row[_TITLE_AT] and domain is row[_DOMAIN_AT]:
        return row
    fixed = list(row)
    fixed[_TITLE_AT], fixed[_DOMAIN_AT] = title, domain
    return tuple(fixed)


def users_of(ops: Iterable[VisitClosed | StagedVisit | VisitRows]) -> Counter[str]:
    """How many staging rows each user's operations give (a check of what a COPY of
    entries of rows stored: their rows must be their entries' users')."""
    users: Counter[str] = Counter()
    for op in ops:
        if type(op) is VisitRows:
            users[op.user_id.lower()] += op.count
        elif type(op) is tuple:
            users[str(uuid.UUID(bytes=op[_USER_AT]))] += 1
        else:
            users[op.user_id.lower()] += 1  # type: ignore[union-attr]
    return users
