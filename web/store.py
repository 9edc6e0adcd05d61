"""Read queries over the projector's tables, always scoped to one user.

Every function takes the signed-in user's id and puts it in the WHERE clause, so another
user's session id simply finds nothing (the caller answers 404). SQL lives in ``web/sql``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import msgspec
import psycopg

from mindhit.db import sql_file
from schema.derived import MindmapNode
from web.models import (
    MindmapView,
    SearchHit,
    SearchResults,
    SessionList,
    SessionRef,
    SessionSummary,
    UserPreferences,
)
from web.outline import to_graph
from web.snippets import distinct_fragments, split_highlights
from web.timeline import TimelineVisit

__all__ = [
    "get_mindmap",
    "get_mindmap_tree",
    "get_preferences",
    "get_session",
    "last_event",
    "list_sessions",
    "put_preferences",
    "search",
    "session_visits",
]

Conn = psycopg.AsyncConnection[Any]
MAX_VISITS = 5000
_STATUS = {"completed": "ready"}


@cache
def sql(name: str) -> str:
    """The text of ``web/sql/<name>.sql``."""
    return sql_file("web", name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _summary(row: tuple[Any, ...]) -> SessionSummary:
    (sid, status, reason, label, started, stopped, active, pages, domains, _last, top) = row
    duration = int((stopped - started).total_seconds() * 1000) if started and stopped else None
    return SessionSummary(
        session_id=sid,
        status=_STATUS.get(status, status),
        reason=reason,
        label=label,
        started_at=_iso(started),
        stopped_at=_iso(stopped),
        duration_ms=duration,
        active_ms=int(active),
        page_count=int(pages),
        domain_count=int(domains),
        top_domains=list(top or []),
    )


def valid_uuid(value: str) -> bool:
    """Whether ``value`` looks like a UUID (anything else is a 404 without a query)."""
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def list_sessions(
    conn: Conn, user_id: str, *, limit: int = 50, before: datetime | None = None
) -> SessionList:
    """A page of the user's sessions, newest first."""
    cur = await conn.execute(
        sql("sessions_list"), {"user_id": user_id, "before": before, "limit": limit + 1}
    )
    rows = await cur.fetchall()
    sessions = [_summary(r) for r in rows[:limit]]
    next_before = sessions[-1].started_at if len(rows) > limit and sessions else None
    return SessionList(sessions=sessions, next_before=next_before)


async def get_session(conn: Conn, user_id: str, session_id: str) -> SessionSummary | None:
    """One of the user's sessions, or ``None`` (unknown, or someone else's)."""
    if not valid_uuid(session_id):
        return None
    cur = await conn.execute(sql("session_get"), {"user_id": user_id, "session_id": session_id})
    row = await cur.fetchone()
    return None if row is None else _summary(row)


async def session_visits(conn: Conn, user_id: str, session_id: str) -> list[TimelineVisit]:
    """The session's visits in order, with the summary/tags/topic of each page."""
    cur = await conn.execute(
        sql("session_visits"),
        {"user_id": user_id, "session_id": session_id, "limit": MAX_VISITS},
    )
    return [
        TimelineVisit(
            visit_id=r[0],
            url=r[1],
            title=r[10] or r[1],
            domain=r[3],
            start_ts=int(r[4]),
            end_ts=int(r[5]),
            dwell_ms=int(r[6]),
            summary=r[7],
            tags=list(r[8]),
            topic=r[9],
        )
        for r in await cur.fetchall()
    ]


async def get_mindmap_tree(
    conn: Conn, user_id: str, session_id: str
) -> tuple[MindmapNode, str, datetime] | None:
    """The session's mind-map tree, its provider and build time, or ``None``."""
    if not valid_uuid(session_id):
        return None
    cur = await conn.execute(sql("mindmap_get"), {"user_id": user_id, "session_id": session_id})
    row = await cur.fetchone()
    if row is None:
        return None
    graph = row[0]
    root = msgspec.convert(
        graph.get("root", graph) if isinstance(graph, dict) else graph, MindmapNode
    )
    return root, row[1], row[2]


async def get_mindmap(conn: Conn, user_id: str, session_id: str) -> MindmapView | None:
    """The session's mind map flattened for the map island, or ``None``."""
    found = await get_mindmap_tree(conn, user_id, session_id)
    if found is None:
        return None
    root, provider, built_at = found
    return MindmapView(
        session_id=session_id,
        provider=provider,
        built_at=_iso(built_at) or "",
        graph=to_graph(root),
        fallback_from=root.fallback_from,
    )


async def search(conn: Conn, user_id: str, query: str, *, limit: int = 20) -> SearchResults:
    """Full-text search over titles, summaries and page text of pages the user visited."""
    query = query.strip()[:200]
    if not query:
        return SearchResults(query="", hits=[])
    cur = await conn.execute(sql("search"), {"user_id": user_id, "q": query, "limit": limit})
    hits = []
    for r in await cur.fetchall():
        snippet, highlights = split_highlights(distinct_fragments(r[7] or ""))
        hits.append(
            SearchHit(
                url=r[1],
                title=r[2] or r[1],
                domain=r[3],
                summary=r[4],
                topic=r[5],
                tags=list(r[6]),
                snippet=snippet,
                highlights=highlights,
                sessions=[
                    SessionRef(session_id=sid, started_at=_iso(started))
                    for sid, started in zip(r[8], r[9], strict=False)
                ],
            )
        )
    return SearchResults(query=query, hits=hits)


async def last_event(conn: Conn, user_id: str) -> tuple[datetime | None, int, int]:
    """The newest event folded for the user, and how many sessions record / process."""
    cur = await conn.execute(sql("last_event"), {"user_id": user_id})
    row = await cur.fetchone()
    assert row is not None
    return row[0], int(row[1]), int(row[2])


async def get_preferences(conn: Conn, user_id: str) -> UserPreferences:
    """The user's block list, idle threshold and email-report choice."""
    cur = await conn.execute(sql("settings_get"), {"user_id": user_id})
    row = await cur.fetchone()
    if row is None:
        return UserPreferences()
    return UserPreferences(
        blocked_domains=list(row[0]), idle_threshold_s=int(row[1]), email_reports=bool(row[2])
    )


async def put_preferences(conn: Conn, user_id: str, prefs: UserPreferences) -> None:
    """Store the user's settings (the gateway picks the block list up within its cache TTL)."""
    await conn.execute(
        sql("settings_put"),
        {
            "user_id": user_id,
            "blocked_domains": list(prefs.blocked_domains),
            "idle_threshold_s": prefs.idle_threshold_s,
            "email_reports": prefs.email_reports,
        },
    )
