"""Export everything a user has as one zip: JSON and CSV, readable without MindHit.

Files: ``README.txt`` (what each file holds), ``account.json`` (email, settings),
``sessions.json`` and ``sessions.csv``, ``visits.csv`` (every visit with its dwell),
``pages.json`` (each page version read: title, summary, tags, topic), and
``mindmaps/<session_id>.json``. Every query carries the user's id; rows are read with
a server-side cursor in batches, and the zip is built in a spooled temporary file.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from mindhit.accounts import User

__all__ = ["export_archive"]

Conn = psycopg.AsyncConnection[Any]
_json = msgspec.json.Encoder()
_BATCH = 5000

README = """MindHit export for {email}, made {when}.

account.json        your account and settings
sessions.json/.csv  your sessions (name, status, start, stop, active time, pages)
visits.csv          every page visit: session, url, title, domain, start, end, dwell_ms
pages.json          each page version you read: title, summary, tags, topic
mindmaps/ID.json    the mind map of each session (a tree of topics and pages)
Times are UTC (ISO 8601); durations are milliseconds.
"""

_SHOWN = (
    # Sessions the user deleted are gone from the export at once (even within the undo
    # window), as everywhere else they could see them.
    " AND NOT EXISTS (SELECT 1 FROM session_deletions d WHERE d.user_id = {a}.user_id"
    " AND d.session_id = {a}.session_id AND d.state <> 'cancelled')"
)
_SESSIONS = (
    "SELECT s.session_id::text, coalesce(l.label, s.label), s.status, s.status_reason,"
    " s.started_at, s.stopped_at, s.active_ms, s.page_count, s.domain_count"
    " FROM sessions s LEFT JOIN session_labels l"
    " ON l.user_id = s.user_id AND l.session_id = s.session_id"
    " WHERE s.user_id = %s"
    f"{_SHOWN.format(a='s')} ORDER BY s.started_at, s.session_id"
)
_VISITS = (
    "SELECT visit_id::text, session_id::text, url, title, domain, start_at, end_at, dwell_ms"
    f" FROM page_visits v WHERE user_id = %s{_SHOWN.format(a='v')} ORDER BY start_at, visit_id"
)
_PAGES = (
    # The title is the latest one the user saw on the page (never another user's).
    "WITH me AS (SELECT %s::uuid AS id)"
    " SELECT u.url, coalesce((SELECT v.title FROM page_visits v WHERE v.user_id = me.id"
    f" AND v.url_hash = u.url_hash AND v.title <> ''{_SHOWN.format(a='v')}"
    " ORDER BY v.start_at DESC LIMIT 1), ''),"
    " u.domain, u.summary, u.tags, u.topic, u.provider, u.content_hash"
    " FROM me, urls u WHERE (u.url_hash, u.content_hash) IN"
    " (SELECT DISTINCT url_hash, content_hash FROM page_visits w WHERE user_id = me.id"
    f"{_SHOWN.format(a='w')})"
    " ORDER BY u.url, u.content_hash"
)
_MAPS = (
    "SELECT session_id::text, graph, provider, built_at FROM mindmap_graphs m"
    f" WHERE user_id = %s{_SHOWN.format(a='m')} ORDER BY built_at"
)
_ACCOUNT = (
    "SELECT u.email, u.created_at, s.blocked_domains, s.idle_threshold_s, s.email_reports,"
    " s.map_view, s.retention_days FROM users u"
    " LEFT JOIN user_settings s ON s.user_id = u.user_id WHERE u.user_id = %s"
)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


async def _rows(conn: Conn, query: str, user_id: str) -> AsyncIterator[tuple[Any, ...]]:
    async with conn.transaction(), conn.cursor(name="mindhit_export") as cur:
        await cur.execute(query, (user_id,))  # type: ignore[arg-type]
        while batch := await cur.fetchmany(_BATCH):
            for row in batch:
                yield tuple(_iso(v) for v in row)


def _csv_text(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


async def export_archive(conn: Conn, user: User, *, now: datetime) -> bytes:
    """The user's whole history as zip bytes (see the module docstring for the files)."""
    uid = user.user_id
    with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", README.format(email=user.email, when=_iso(now)))
            cur = await conn.execute(_ACCOUNT, (uid,))  # type: ignore[arg-type]
            acc = await cur.fetchone()
            keys = ["email", "created_at", "blocked_domains", "idle_threshold_s",
                    "email_reports", "map_view", "retention_days"]  # fmt: skip
            account = dict(zip(keys, (_iso(v) for v in acc or ()), strict=False))
            archive.writestr("account.json", _json.encode({"user_id": uid, **account}))
            names = ["session_id", "name", "status", "status_reason", "started_at",
                     "stopped_at", "active_ms", "page_count", "domain_count"]  # fmt: skip
            sessions = [row async for row in _rows(conn, _SESSIONS, uid)]
            archive.writestr(
                "sessions.json", _json.encode([dict(zip(names, r, strict=True)) for r in sessions])
            )
            archive.writestr("sessions.csv", _csv_text(names, sessions))
            with archive.open("visits.csv", "w") as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(["visit_id", "session_id", "url", "title", "domain",
                                 "start_at", "end_at", "dwell_ms"])  # fmt: skip
                async for row in _rows(conn, _VISITS, uid):
                    writer.writerow(row)
                text.flush()
                text.detach()
            page_keys = ["url", "title", "domain", "summary", "tags", "topic", "provider",
                         "content_hash"]  # fmt: skip
            pages = [dict(zip(page_keys, r, strict=True)) async for r in _rows(conn, _PAGES, uid)]
            archive.writestr("pages.json", _json.encode(pages))
            async for sid, graph, provider, built in _rows(conn, _MAPS, uid):
                body = {"session_id": sid, "provider": provider, "built_at": built, "root": graph}
                archive.writestr(f"mindmaps/{sid}.json", _json.encode(body))
        spool.seek(0)
        return spool.read()
