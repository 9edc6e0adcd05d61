"""Closed visits one per event (:class:`VisitClosed`) and as columns (:class:`VisitsClosed`).

Why a module: the columnar event is a format change read by other processes, landed over
two releases (issue 14): readers first, then the processors' writer (:func:`columnar`).
The processors now write COPY rows (:func:`mindhit.visit_rows.as_rows`) and columns only
for a run that rows cannot hold; the log keeps every shape. The conversions here are the
one place the two shapes are mapped onto each other, pure, for the writers, the readers
that filter a visits event (session erasure) and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress
from typing import Any, Final, TypeVar

from schema.derived import DerivedBase, VisitClosed, VisitsClosed

__all__ = [
    "COLUMNS",
    "closed_visits",
    "columnar",
    "columns_agree",
    "columns_of",
    "select_visits",
    "visit_runs",
]

E = TypeVar("E", bound=DerivedBase)

COLUMNS: Final = tuple(f for f in VisitsClosed.__struct_fields__ if f not in ("user_id", "v"))
"""The per-visit columns of :class:`VisitsClosed`: :class:`VisitClosed`'s fields but the user."""


def columns_agree(event: VisitsClosed) -> bool:
    """Whether every column of ``event`` holds as many values as ``visit_id`` (a reader
    that zips them must not lose or invent a visit)."""
    n = len(event.visit_id)
    return all(len(getattr(event, c)) == n for c in COLUMNS)


def closed_visits(event: VisitsClosed) -> list[VisitClosed]:
    """The visits of ``event`` one per event, in order; raises ``ValueError`` when its
    columns disagree in length (:func:`columns_agree`)."""
    if not columns_agree(event):
        raise ValueError("VisitsClosed columns of different lengths")
    columns = [getattr(event, c) for c in COLUMNS]
    return [
        VisitClosed(user_id=event.user_id, **dict(zip(COLUMNS, values, strict=True)))
        for values in zip(*columns, strict=True)
    ]


def columns_of(user_id: str, visits: Sequence[VisitClosed]) -> VisitsClosed:
    """``user_id``'s ``visits`` as one :class:`VisitsClosed`."""
    fields: dict[str, Any] = {c: [getattr(v, c) for v in visits] for c in COLUMNS}
    return VisitsClosed(user_id=user_id, **fields)


def visit_runs(events: Iterable[E]) -> Iterator[E | list[VisitClosed]]:
    """``events`` with every run of consecutive :class:`VisitClosed` of one user as one
    list (the other events as they are, the order kept): what a writer of one event per
    run (:func:`columnar`, :func:`mindhit.visit_rows.as_rows`) groups."""
    run: list[VisitClosed] = []
    for event in events:
        if run and not (isinstance(event, VisitClosed) and event.user_id == run[0].user_id):
            yield run
            run = []
        if isinstance(event, VisitClosed):
            run.append(event)
        else:
            yield event
    if run:
        yield run


def columnar(events: Iterable[E]) -> list[E | VisitsClosed]:
    """``events`` with every run of consecutive :class:`VisitClosed` of one user replaced
    by one :class:`VisitsClosed` (the other events as they are, the order kept)."""
    return [
        columns_of(item[0].user_id, item) if isinstance(item, list) else item
        for item in visit_runs(events)
    ]


def select_visits(event: VisitsClosed, keep: Sequence[bool]) -> VisitsClosed | None:
    """``event`` with only its visits whose ``keep`` is true (``None`` when none is); its
    columns must agree in length (:func:`columns_agree`)."""
    if all(keep):
        return event
    if not any(keep):
        return None
    fields: dict[str, Any] = {c: list(compress(getattr(event, c), keep)) for c in COLUMNS}
    return VisitsClosed(user_id=event.user_id, **fields)
