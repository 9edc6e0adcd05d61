"""Closed visits one per event (:class:`VisitClosed`) and as columns (:class:`VisitsClosed`).

Why a module: the columnar event is a format change read by other processes, landed over
two releases (issue 14): readers first, then the processors' writer (:func:`columnar`).
The conversions here are the one place the two shapes are mapped onto each other, pure,
for that writer, the readers that filter a visits event (session erasure) and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Any, Final, TypeVar

from schema.derived import DerivedBase, VisitClosed, VisitsClosed

__all__ = ["COLUMNS", "closed_visits", "columnar", "columns_agree", "select_visits"]

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


def _columns(user_id: str, visits: Sequence[VisitClosed]) -> VisitsClosed:
    fields: dict[str, Any] = {c: [getattr(v, c) for v in visits] for c in COLUMNS}
    return VisitsClosed(user_id=user_id, **fields)


def columnar(events: Iterable[E]) -> list[E | VisitsClosed]:
    """``events`` with every run of consecutive :class:`VisitClosed` of one user replaced
    by one :class:`VisitsClosed` (the other events as they are, the order kept).

    The processors write their visits entries through this
    (:func:`processors.agents.encode_by_topic`).
    """
    out: list[E | VisitsClosed] = []
    run: list[VisitClosed] = []
    for event in events:
        if run and not (isinstance(event, VisitClosed) and event.user_id == run[0].user_id):
            out.append(_columns(run[0].user_id, run))
            run = []
        if isinstance(event, VisitClosed):
            run.append(event)
        else:
            out.append(event)
    if run:
        out.append(_columns(run[0].user_id, run))
    return out


def select_visits(event: VisitsClosed, keep: Sequence[bool]) -> VisitsClosed | None:
    """``event`` with only its visits whose ``keep`` is true (``None`` when none is); its
    columns must agree in length (:func:`columns_agree`)."""
    if all(keep):
        return event
    if not any(keep):
        return None
    fields: dict[str, Any] = {c: list(compress(getattr(event, c), keep)) for c in COLUMNS}
    return VisitsClosed(user_id=event.user_id, **fields)
