"""What a replay would change, per session: live tables compared with their shadows.

Pure formatting (:func:`describe_changes`) is separate from the queries
(:func:`session_changes`) so the wording is tested without a database.
"""

from __future__ import annotations

from typing import Any, LiteralString

import msgspec
import psycopg
from psycopg import sql

from mindhit.db import sql_file
from projector.pg import SHADOW_SUFFIX

__all__ = ["SessionChange", "describe_changes", "other_changes", "session_changes"]

_IGNORED = {"session_id", "user_id", "status_at"}
"""Columns not worth a line: identity, and when the status was entered (a re-derived
session enters it again at replay time)."""

_SESSIONS = sql_file("projector", "diff_sessions")
_VISITS = sql_file("projector", "diff_visits")
_MINDMAPS = sql_file("projector", "diff_mindmaps")
_ROWS = sql_file("projector", "diff_rows")


def _shadowed(query: LiteralString, table: str) -> sql.Composed:
    """``query`` with ``{shadow}`` naming ``table``'s shadow."""
    return sql.SQL(query).format(shadow=sql.Identifier(table + SHADOW_SUFFIX))


class SessionChange(msgspec.Struct, frozen=True):
    """How one session differs between the live tables and the rebuilt ones."""

    session_id: str
    label: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    visits_before: tuple[int, int] = (0, 0)
    visits_after: tuple[int, int] = (0, 0)
    mindmap_changed: bool = False


def describe_changes(change: SessionChange) -> str:
    """One human line for a session change, e.g. ``status: recording → completed``."""
    parts: list[str] = []
    if change.before is None:
        parts.append("new session")
    elif change.after is None:
        parts.append("session removed")
    else:
        for column in sorted(set(change.before) | set(change.after)):
            if column in _IGNORED:
                continue
            old, new = change.before.get(column), change.after.get(column)
            if old != new:
                parts.append(f"{column}: {old} → {new}")
    if change.visits_before != change.visits_after:
        (n0, d0), (n1, d1) = change.visits_before, change.visits_after
        parts.append(f"visits: {n0} → {n1} (dwell {d0 / 1000:.0f}s → {d1 / 1000:.0f}s)")
    if change.mindmap_changed:
        parts.append("mind map rebuilt")
    label = f" “{change.label}”" if change.label else ""
    return f"session {change.session_id}{label}: " + "; ".join(parts)


def session_changes(
    conn: psycopg.Connection[Any], tables: tuple[str, ...], limit: int = 10_000
) -> list[SessionChange]:
    """Sessions whose rows differ between ``T`` and ``T__shadow`` for the given tables."""
    by_session: dict[str, dict[str, Any]] = {}
    if "sessions" in tables:
        query = _shadowed(_SESSIONS, "sessions")
        for sid, before, after in conn.execute(query, (limit,)):
            by_session.setdefault(sid, {})["rows"] = (before, after)
    if "page_visits" in tables:
        query = _shadowed(_VISITS, "page_visits")
        for sid, n0, d0, n1, d1 in conn.execute(query, (limit,)):
            by_session.setdefault(sid, {})["visits"] = (
                (n0 or 0, int(d0 or 0)),
                (n1 or 0, int(d1 or 0)),
            )
    if "mindmap_graphs" in tables:
        query = _shadowed(_MINDMAPS, "mindmap_graphs")
        for (sid,) in conn.execute(query, (limit,)):
            by_session.setdefault(sid, {})["mindmap"] = True
    labels = dict(
        conn.execute(
            "SELECT session_id::text, label FROM sessions WHERE session_id = ANY(%s::uuid[])",
            (list(by_session),),
        ).fetchall()
    )
    changes: list[SessionChange] = []
    for sid in sorted(by_session):
        info = by_session[sid]
        before, after = info.get("rows", (None, None)) if "rows" in info else ({}, {})
        visits = info.get("visits", ((0, 0), (0, 0)))
        changes.append(
            SessionChange(
                session_id=sid,
                label=labels.get(sid, ""),
                before=before,
                after=after,
                visits_before=visits[0],
                visits_after=visits[1],
                mindmap_changed=bool(info.get("mindmap")),
            )
        )
    return changes


def other_changes(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> dict[str, int]:
    """Rows that differ, per table not keyed by session (``urls``, ``page_texts``)."""
    out: dict[str, int] = {}
    for table in ("urls", "page_texts"):
        if table not in tables:
            continue
        query = sql.SQL(_ROWS).format(
            l=sql.Identifier(table), s=sql.Identifier(table + SHADOW_SUFFIX)
        )
        row = conn.execute(query).fetchone()
        out[table] = int(row[0]) if row else 0
    return out
