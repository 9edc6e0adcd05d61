"""Insight across sessions: where did my day, week or month go.

The figures come from the daily rollups the projector keeps (``overview_*`` tables, UTC
days), so a month of a heavy user reads a few thousand small rows. Period arithmetic,
zero-filling and the heatmap's levels are pure functions; the queries live in
``web/sql/overview_*.sql`` and always carry the user's id. Every figure carries the
query that lists the sessions behind it (``/overview/sessions?…``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import psycopg
from psycopg import sql as pgsql

from web.models import SessionSummary
from web.store import _summary, sql

__all__ = [
    "Figure",
    "HeatDay",
    "Overview",
    "Period",
    "heat_levels",
    "latest_active_day",
    "load_overview",
    "period_bounds",
    "sessions_behind",
]

Conn = psycopg.AsyncConnection[Any]
Period = Literal["day", "week", "month"]
TOP = 10
TAG_PAGES = 200
"""Most-read pages and page tags are computed over this many of the period's most-read
page versions."""
HEATMAP_WEEKS = 53


class Figure(msgspec.Struct, frozen=True, kw_only=True):
    """One bar of the overview: a day, a domain, a page, a page tag or a map topic.

    ``sessions`` is the query string of ``/overview/sessions`` (and
    ``/v1/overview/sessions``) listing the sessions behind this figure.
    """

    key: str
    label: str
    dwell_ms: int
    visits: int = 0
    url: str = ""
    share: float = 0.0
    session_count: int = 0
    sessions: str = ""


class HeatDay(msgspec.Struct, frozen=True, kw_only=True):
    """One cell of the calendar heatmap: a day, its attended time and its level 0–4."""

    day: str
    dwell_ms: int
    level: int
    sessions: str


class Overview(msgspec.Struct, frozen=True, kw_only=True):
    """Attended time in one period, by day, domain, page, tag and map topic, plus a year
    of activity as a heatmap. Days are UTC; ``end`` is exclusive."""

    period: Period
    start: str
    end: str
    previous: str
    next: str
    total_ms: int
    visits: int
    days: list[Figure]
    domains: list[Figure]
    pages: list[Figure]
    tags: list[Figure]
    topics: list[Figure]
    heatmap: list[HeatDay]


def period_bounds(period: Period, anchor: date) -> tuple[date, date]:
    """The period containing ``anchor``: ``[start, end)``; weeks start on Monday."""
    if period == "day":
        return anchor, anchor + timedelta(days=1)
    if period == "week":
        start = anchor - timedelta(days=anchor.weekday())
        return start, start + timedelta(days=7)
    start = anchor.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def heat_levels(values: list[int]) -> list[int]:
    """Levels 0–4 for the heatmap: 0 for no activity, else the quartile among active days."""
    active = sorted(v for v in values if v > 0)
    if not active:
        return [0 for _ in values]
    cuts = [active[min(len(active) - 1, (len(active) * q) // 4)] for q in (1, 2, 3)]
    return [0 if v <= 0 else 1 + sum(v > c for c in cuts) for v in values]


def _figures_query(period: Period) -> pgsql.Composed:
    """The figures' SQL reading the monthly rollups for a month, the daily ones otherwise."""
    monthly = period == "month"
    return pgsql.SQL(sql("overview_figures")).format(
        pages=pgsql.SQL(_MONTH_PAGES if monthly else _DAY_PAGES),
        domains=pgsql.Identifier("overview_domains_monthly" if monthly else "overview_domains"),
        bucket=pgsql.Identifier("month" if monthly else "day"),
    )


_MONTH_PAGES = (
    "SELECT url_hash, content_hash, dwell_ms, visits FROM overview_pages_monthly"
    " WHERE user_id = %(user_id)s AND month = %(start)s"
    " ORDER BY dwell_ms DESC LIMIT %(tag_pages)s + (SELECT count(*) FROM gone_pages)"
)
_DAY_PAGES = (
    "SELECT url_hash, content_hash, sum(dwell_ms) AS dwell_ms, count(*) AS visits"
    " FROM page_visits WHERE user_id = %(user_id)s"
    " AND start_at >= %(start)s::date::timestamp AT TIME ZONE 'UTC'"
    " AND start_at < %(end)s::date::timestamp AT TIME ZONE 'UTC'"
    " GROUP BY url_hash, content_hash ORDER BY sum(dwell_ms) DESC"
    " LIMIT %(tag_pages)s + (SELECT count(*) FROM gone_pages)"
)
"""A day's or week's pages straight from the user's visits (by ``page_visits_user_start``):
a daily page rollup held nearly a row per visit for a heavy reader and answered no faster
(a year of 1,000,000 visits: a day 2.3-2.8 ms vs 3.0-6.6 ms, a week ~22 ms both), while
every visit folded paid a rollup row for it (migration 171 dropped it)."""


def _link(start: date, end: date, **narrow: str) -> str:
    query = {"from": start.isoformat(), "to": end.isoformat()}
    query.update({k: v for k, v in narrow.items() if v})
    return urlencode(query)


def _figures(rows: list[tuple[Any, ...]], kind: str, start: date, end: date) -> list[Figure]:
    chosen = [r for r in rows if r[0] == kind]
    total = sum(int(r[4]) for r in chosen) or 1
    out = []
    for _kind, key, label, extra, dwell, visits in chosen:
        narrow = {"day": {}, "domain": {"domain": key}, "page": {"page": key},
                  "tag": {"tag": key}, "topic": {"topic": key}}[kind]  # fmt: skip
        lo, hi = (start, end)
        if kind == "day":
            lo = date.fromisoformat(key)
            hi = lo + timedelta(days=1)
        out.append(
            Figure(
                key=key,
                label=label or key,
                dwell_ms=int(dwell),
                visits=int(visits or 0),
                url=extra if kind == "page" else "",
                share=round(int(dwell) / total, 4),
                session_count=int(extra) if kind == "topic" and extra else 0,
                sessions=_link(lo, hi, **narrow),
            )
        )
    return out


def _fill_days(figures: list[Figure], start: date, end: date) -> list[Figure]:
    """Every day of the period, in order, with zero for days without activity."""
    by_day = {f.key: f for f in figures}
    days = []
    day = start
    while day < end:
        key = day.isoformat()
        days.append(
            by_day.get(key)
            or Figure(key=key, label=key, dwell_ms=0, sessions=_link(day, day + timedelta(1)))
        )
        day += timedelta(days=1)
    return days


async def latest_active_day(conn: Conn, user_id: str, today: date) -> date:
    """The user's latest day (not after ``today``) with attended time, else ``today``.

    Where the overview opens when no day is asked for: on a Monday the calendar week
    holds nothing yet, and "where did my week go?" should show the week that went. A day
    whose only visits are in sessions the user deleted does not count (its figures read
    as nothing while the deletion waits for its undo window to pass).
    """
    cur = await conn.execute(sql("overview_latest_day"), {"user_id": user_id, "today": today})
    row = await cur.fetchone()
    return row[0] if row else today


async def load_overview(conn: Conn, user_id: str, period: Period, anchor: date) -> Overview:
    """The user's overview of the period containing ``anchor``."""
    start, end = period_bounds(period, anchor)
    params = {"user_id": user_id, "start": start, "end": end, "top": TOP, "tag_pages": TAG_PAGES}
    cur = await conn.execute(_figures_query(period), params)
    rows = await cur.fetchall()
    days = _fill_days(_figures(rows, "day", start, end), start, end)
    heat_end = end
    heat_start = heat_end - timedelta(weeks=HEATMAP_WEEKS)
    heat_start -= timedelta(days=heat_start.weekday())
    cur = await conn.execute(
        sql("overview_heatmap"), {"user_id": user_id, "start": heat_start, "end": heat_end}
    )
    active = {d: int(ms) for d, ms in await cur.fetchall()}
    cells = [heat_start + timedelta(days=i) for i in range((heat_end - heat_start).days)]
    values = [active.get(d, 0) for d in cells]
    heatmap = [
        HeatDay(day=d.isoformat(), dwell_ms=v, level=lv, sessions=_link(d, d + timedelta(1)))
        for d, v, lv in zip(cells, values, heat_levels(values), strict=True)
    ]
    return Overview(
        period=period,
        start=start.isoformat(),
        end=end.isoformat(),
        previous=period_bounds(period, start - timedelta(days=1))[0].isoformat(),
        next=end.isoformat(),
        total_ms=sum(d.dwell_ms for d in days),
        visits=sum(d.visits for d in days),
        days=days,
        domains=_figures(rows, "domain", start, end),
        pages=_figures(rows, "page", start, end),
        tags=_figures(rows, "tag", start, end),
        topics=_figures(rows, "topic", start, end),
        heatmap=heatmap,
    )


async def sessions_behind(
    conn: Conn,
    user_id: str,
    start: date,
    end: date,
    narrow: dict[str, str | None],
    *,
    limit: int = 100,
) -> list[SessionSummary]:
    """The user's sessions behind one figure (newest first): visits in ``[start, end)``
    narrowed to one of ``domain``, ``page`` (url hash), ``tag`` or ``topic``."""
    params = {
        "user_id": user_id,
        "start": start,
        "end": end,
        "limit": limit,
        **{k: narrow.get(k) or None for k in ("domain", "page", "tag", "topic")},
    }
    cur = await conn.execute(sql("overview_sessions"), params)
    return [_summary(r) for r in await cur.fetchall()]
