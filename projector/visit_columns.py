"""The fold of a columnar visits event (:class:`schema.derived.VisitsClosed`), pure.

Why: a :class:`VisitClosed` per visit costs this process a struct decoded and 15
attribute reads to stage it; a :class:`VisitsClosed` decodes into plain lists, and its
visits become their staging rows (:data:`projector.tables.PAGE_VISITS`' columns in their
staged types, :mod:`projector.copy_rows`) column by column, with C callables, as they are
folded. A batch holds such a row (a ``tuple``) where it holds a ``VisitClosed`` otherwise:
the same key, merged the same way (a later version of a visit replaces the earlier), staged
as it is (:func:`projector.copy_rows.staged_rows`). The checks are ``_visit``'s, vectorised:
canonical visit, session and user ids; an erasure's cut; and, the columns being another
process's claim, equally long columns (else every visit of the event is rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import compress, repeat
from typing import Any, Final, Protocol

from mindhit.copy_binary import micros_since_2000, uuid_bytes
from mindhit.storable_visit import storable_domains, storable_tab_ids, storable_titles
from projector.rows import session_time
from projector.tables import PAGE_VISITS
from schema.derived import VisitsClosed
from schema.ids import UUID_TEXT
from schema.visits import COLUMNS, columns_agree

__all__ = ["fold_columns", "is_staged", "visit_session_is"]

_SOURCE: Final = tuple(c.attr or c.name for c in PAGE_VISITS.columns)
_SESSION_AT: Final = _SOURCE.index("session_id")
_STORABLE: Final[dict[str, Callable[[Any], list[Any]]]] = {
    "tab_id": storable_tab_ids,
    "title": storable_titles,
    "domain": storable_domains,
}
"""The columns a client's value may not fit (:mod:`mindhit.storable_visit`)."""
assert set(_SOURCE) == {*COLUMNS, "user_id"}, "PAGE_VISITS and VisitsClosed disagree"


class _Batch(Protocol):
    visits: dict[tuple[str, str], Any]
    events: int
    rejected: int

    def valid_ids(self, *values: str) -> bool: ...


def is_staged(op: object) -> bool:
    """Whether a batch's visit operation is already its staging row (not an event)."""
    return type(op) is tuple


def visit_session_is(op: Any, session_id: str) -> bool:
    """Whether a batch's operation (a row operation, an event or a visit's staging row)
    belongs to ``session_id``."""
    if is_staged(op):
        return bool(op[_SESSION_AT] == _uuid_or_none(session_id))
    return bool(op.session_id == session_id)


def _uuid_or_none(text: str) -> bytes | None:
    try:
        return uuid_bytes(text)
    except ValueError:
        return None


def _checked(
    batch: _Batch, e: VisitsClosed, received: int, cut: int | None
) -> tuple[list[bool] | None, int]:
    """Which visits of ``e`` pass ``_visit``'s checks and the erasure's cut (None: all),
    and how many fail the checks (the ones the cut drops are not rejected)."""
    match = UUID_TEXT.fullmatch
    sessions = set(e.session_id)
    ids_ok = all(map(match, e.visit_id)) and batch.valid_ids(*sessions)
    timed = cut is not None and received <= 0  # else the entry's time met the cut already
    if ids_ok and not timed:
        return None, 0
    valid = {s for s in sessions if batch.valid_ids(s)}
    ok = [
        match(v) is not None and s in valid for v, s in zip(e.visit_id, e.session_id, strict=True)
    ]
    late = [True] * len(ok)
    if timed:
        times = map(_time_of, e.session_id, e.start_ts)
        late = [t > cut for t in times]  # type: ignore[operator]
    keep = [a and b for a, b in zip(ok, late, strict=True)]
    return keep, sum(not a and b for a, b in zip(ok, late, strict=True))


def _time_of(session_id: str, start_ts: int) -> int:
    created = session_time(session_id)
    return start_ts if created is None else created


def fold_columns(batch: _Batch, e: VisitsClosed, received: int, cut: int | None) -> None:
    """Fold ``e`` into ``batch.visits`` as staging rows, keyed (user, visit id).

    ``received`` is its entry's ``received_at`` (``0``: unknown, each visit's own time
    then meets the cut), ``cut`` the user's erasure (None: not erased). Counts every
    visit as an event, and the ones whose checks fail as rejected.
    """
    n = len(e.visit_id)
    batch.events += n - 1  # the entry counted the event once
    if not columns_agree(e) or not batch.valid_ids(e.user_id):
        batch.rejected += n
        return
    if cut is not None and 0 < received <= cut:
        return  # received before the user's erasure
    keep, rejected = _checked(batch, e, received, cut)
    columns: dict[str, list[Any]] = {c: getattr(e, c) for c in COLUMNS}
    if keep is not None:
        batch.rejected += rejected
        columns = {c: list(compress(values, keep)) for c, values in columns.items()}
        n = len(columns["visit_id"])
    user = uuid_bytes(e.user_id)
    sessions = {s: uuid_bytes(s) for s in set(columns["session_id"])}
    staged: list[Iterable[Any]] = []
    for column, source in zip(PAGE_VISITS.columns, _SOURCE, strict=True):
        if source == "user_id":
            staged.append(repeat(user, n))
        elif source == "session_id":
            staged.append(map(sessions.__getitem__, columns[source]))
        elif source == "visit_id":
            staged.append(map(uuid_bytes, columns[source]))
        elif column.staged == "timestamptz":
            staged.append(micros_since_2000(columns[source]))
        elif source in _STORABLE:  # as the tables take them (mindhit.storable_visit)
            staged.append(_STORABLE[source](columns[source]))
        else:
            staged.append(columns[source])
    keys = zip(repeat(e.user_id, n), columns["visit_id"], strict=True)
    batch.visits.update(zip(keys, zip(*staged, strict=True), strict=True))
