"""Pure timeline logic: visits in order, idle gaps between them, per-domain totals.

No I/O here: the store hands in rows, the pages and the JSON API render the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

__all__ = [
    "DomainTotal",
    "Timeline",
    "TimelineEntry",
    "TimelineVisit",
    "build_timeline",
    "domain_totals",
    "format_duration",
]

#: Gaps between visits shorter than this are not shown (tab switching takes a moment).
MIN_GAP_MS = 30_000


class TimelineVisit(msgspec.Struct, frozen=True, kw_only=True):
    """One closed visit of a session, joined with what the AI said about its page."""

    visit_id: str
    url: str
    title: str
    domain: str
    start_ts: int
    end_ts: int
    dwell_ms: int
    summary: str = ""
    tags: list[str] = []
    topic: str = ""


class DomainTotal(msgspec.Struct, frozen=True, kw_only=True):
    """Attended time and visit count on one domain."""

    domain: str
    dwell_ms: int
    visits: int
    share: float = 0.0


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A timeline line: a visit, or an idle gap (``kind == "gap"``, then ``visit`` is None).

    ``bar`` is the visit's dwell as a fraction (0-1) of the longest dwell in the session,
    so the page can draw proportional dwell bars.
    """

    kind: str
    start_ts: int
    end_ts: int
    visit: TimelineVisit | None = None
    bar: float = 0.0


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    """A session's visits in order with idle gaps and per-domain totals."""

    entries: list[TimelineEntry]
    domains: list[DomainTotal]
    total_dwell_ms: int


def domain_totals(visits: Iterable[TimelineVisit]) -> list[DomainTotal]:
    """Sum dwell per domain, largest first (ties by name), with each domain's share."""
    dwell: dict[str, int] = {}
    count: dict[str, int] = {}
    for visit in visits:
        dwell[visit.domain] = dwell.get(visit.domain, 0) + max(0, visit.dwell_ms)
        count[visit.domain] = count.get(visit.domain, 0) + 1
    total = sum(dwell.values())
    ordered = sorted(dwell, key=lambda d: (-dwell[d], d))
    return [
        DomainTotal(
            domain=d,
            dwell_ms=dwell[d],
            visits=count[d],
            share=(dwell[d] / total) if total else 0.0,
        )
        for d in ordered
    ]


def build_timeline(visits: Sequence[TimelineVisit], *, min_gap_ms: int = MIN_GAP_MS) -> Timeline:
    """Order visits by start time and insert a gap entry where nothing was attended.

    A gap is the time between the latest end seen so far and the next visit's start,
    when it is at least ``min_gap_ms`` long; overlapping visits never produce a gap.
    """
    ordered = sorted(visits, key=lambda v: (v.start_ts, v.end_ts, v.visit_id))
    longest = max((v.dwell_ms for v in ordered), default=0)
    entries: list[TimelineEntry] = []
    latest_end: int | None = None
    for visit in ordered:
        if latest_end is not None and visit.start_ts - latest_end >= min_gap_ms:
            entries.append(TimelineEntry(kind="gap", start_ts=latest_end, end_ts=visit.start_ts))
        entries.append(
            TimelineEntry(
                kind="visit",
                start_ts=visit.start_ts,
                end_ts=visit.end_ts,
                visit=visit,
                bar=(max(0, visit.dwell_ms) / longest) if longest > 0 else 0.0,
            )
        )
        latest_end = visit.end_ts if latest_end is None else max(latest_end, visit.end_ts)
    return Timeline(
        entries=entries,
        domains=domain_totals(ordered),
        total_dwell_ms=sum(max(0, v.dwell_ms) for v in ordered),
    )


def format_duration(ms: int | None) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``1 h 05 min``; ``—`` when unknown."""
    if ms is None or ms < 0:
        return "—"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
