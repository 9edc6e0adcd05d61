"""The overview page (``/overview``) and its API (``/v1/overview``), registered by create_app."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
import psycopg
from litestar import Controller, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import Parameter
from litestar.response import Template

from mindhit.accounts import User
from mindhit.clock import Clock, utc_datetime
from web.models import SessionSummary
from web.overview import (
    Overview,
    Period,
    latest_active_day,
    load_overview,
    period_bounds,
    sessions_behind,
)

__all__ = ["OverviewApi", "OverviewPages"]

Conn = psycopg.AsyncConnection[Any]
_PERIODS = ("day", "week", "month")
FromDate = Annotated[str | None, Parameter(query="from", description="first day (ISO date)")]
AnchorDate = Annotated[
    str | None,
    Parameter(
        description="any day of the period (ISO date); default: the latest day with"
        " attended time (today when none)"
    ),
]


def _period(value: str) -> Period:
    if value not in _PERIODS:
        raise ValidationException(f"period: one of {', '.join(_PERIODS)}, not {value!r}")
    return value  # type: ignore[return-value]


def _date(value: str | None, field: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationException(f"{field}: a date like 2026-12-04, not {value[:40]!r}") from exc


class FigureFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which figure's sessions to list: a date range and at most one narrowing."""

    start: str | None = None
    end: str | None = None
    domain: str | None = None
    page: str | None = None
    tag: str | None = None
    topic: str | None = None

    def narrowing(self) -> dict[str, str | None]:
        return {"domain": self.domain, "page": self.page, "tag": self.tag, "topic": self.topic}


async def _figure_filter(
    from_: FromDate = None,
    to: str | None = None,
    domain: str | None = None,
    page: str | None = None,
    tag: str | None = None,
    topic: str | None = None,
) -> FigureFilter:
    """The query parameters of ``/overview/sessions`` (a dependency, documented in OpenAPI)."""
    return FigureFilter(start=from_, end=to, domain=domain, page=page, tag=tag, topic=topic)


async def _anchor(conn: Conn, user: User, clock: Clock, value: str | None) -> date:
    """The day whose period to show: the one asked for, else the latest active one."""
    today = utc_datetime(clock()).date()
    if value:
        return _date(value, "date", today)
    return await latest_active_day(conn, user.user_id, today)


def _range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    lo = _date(start, "from", period_bounds("month", today)[0])
    hi = _date(end, "to", period_bounds("month", today)[1])
    if hi <= lo or (hi - lo).days > 400:
        raise ValidationException("to: must be after from, at most 400 days later")
    return lo, hi


class OverviewApi(Controller):
    """``/v1/overview``: the figures, and the sessions behind any of them."""

    path = "/v1/overview"
    tags = ["dashboard"]

    @get("/", summary="Attended time per day, domain, page, tag and map topic; heatmap")
    async def overview(
        self, user: User, conn: Conn, clock: Clock, period: str = "week", date: AnchorDate = None
    ) -> Overview:
        anchor = await _anchor(conn, user, clock, date)
        return await load_overview(conn, user.user_id, _period(period), anchor)

    @get(
        "/sessions",
        summary="The sessions behind one overview figure",
        dependencies={"figure": Provide(_figure_filter)},
    )
    async def sessions(
        self, user: User, conn: Conn, clock: Clock, figure: FigureFilter
    ) -> list[SessionSummary]:
        lo, hi = _range(figure.start, figure.end, utc_datetime(clock()).date())
        return await sessions_behind(conn, user.user_id, lo, hi, figure.narrowing())


class OverviewPages(Controller):
    """The overview page and the list of sessions behind a figure."""

    include_in_schema = False

    @get("/overview")
    async def overview(
        self, user: User, conn: Conn, clock: Clock, period: str = "week", date: AnchorDate = None
    ) -> Template:
        anchor = await _anchor(conn, user, clock, date)
        data = await load_overview(conn, user.user_id, _period(period), anchor)
        return Template(
            template_name="overview.html",
            context={"user": user, "o": data, "today": utc_datetime(clock()).date().isoformat()},
        )

    @get("/overview/sessions", dependencies={"figure": Provide(_figure_filter)})
    async def sessions(
        self, user: User, conn: Conn, clock: Clock, figure: FigureFilter
    ) -> Template:
        lo, hi = _range(figure.start, figure.end, utc_datetime(clock()).date())
        narrow = figure.narrowing()
        found = await sessions_behind(conn, user.user_id, lo, hi, narrow)
        page = figure.page
        if page:
            cur = await conn.execute(
                "SELECT url FROM page_visits WHERE user_id = %s AND url_hash = %s LIMIT 1",
                (user.user_id, page),
            )
            row = await cur.fetchone()
            narrow["page"] = row[0] if row else "a page you no longer have"
        what = next((f"{k} “{v}”" for k, v in narrow.items() if v), "any page")
        return Template(
            template_name="overview_sessions.html",
            context={"user": user, "sessions": found, "start": lo, "end": hi, "what": what},
        )
