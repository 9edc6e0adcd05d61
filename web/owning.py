"""Owning your sessions: rename one, delete one with an undo window, keep history N days.

A rename is the user's own choice, stored beside the read tables (``session_labels``)
like their settings, so a replay that rebuilds ``sessions`` keeps it. A deletion is a
request (``session_deletions``) that hides the session at once and takes effect after
``MINDHIT_DELETE_UNDO_S`` unless undone: the projector's housekeeping then appends
``SessionErased``, the same erasure path as "erase all my data", scoped to the session.
Every function takes the signed-in user's id and puts it in every WHERE clause.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import psycopg

from web import store

__all__ = [
    "DeletionState",
    "OwningError",
    "RenameSession",
    "RetentionSettings",
    "get_retention",
    "pending_deletions",
    "put_retention",
    "rename_session",
    "request_deletion",
    "undo_deletion",
]

Conn = psycopg.AsyncConnection[Any]


class OwningError(ValueError):
    """The request cannot be done; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RenameSession(msgspec.Struct, frozen=True, kw_only=True):
    """``PUT /v1/sessions/{id}/name`` body: the new name ("" = back to the recorded label)."""

    label: Annotated[str, msgspec.Meta(max_length=200)]


class DeletionState(msgspec.Struct, frozen=True, kw_only=True):
    """Where a session's deletion stands; ``undo_until`` is when undoing stops working."""

    session_id: str
    state: Literal["pending", "cancelled", "erasing", "done"]
    undo_until: str
    reason: str = "user request"


class RetentionSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``PUT /v1/settings/retention`` body: keep history this many days (``None`` = default).

    ``default_days`` and ``max_days`` describe the operator's setting (``0`` = forever).
    """

    days: Annotated[int, msgspec.Meta(ge=1, le=36500)] | None = None
    default_days: int = 0
    max_days: int = 0


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def rename_session(
    conn: Conn, user_id: str, session_id: str, label: str, *, now: datetime
) -> str:
    """Give one of the user's sessions a name; an empty name restores the recorded one."""
    if await store.get_session(conn, user_id, session_id) is None:
        raise OwningError("No such session.", 404)
    label = " ".join(label.split())
    if len(label) > 200:
        raise OwningError("A session name has at most 200 characters.")
    if not label:
        await conn.execute(
            "DELETE FROM session_labels WHERE user_id = %s AND session_id = %s",
            (user_id, session_id),
        )
    else:
        await conn.execute(
            "INSERT INTO session_labels (user_id, session_id, label, renamed_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, session_id) DO UPDATE SET"
            " label = EXCLUDED.label, renamed_at = EXCLUDED.renamed_at",
            (user_id, session_id, label, now),
        )
    found = await store.get_session(conn, user_id, session_id)
    return found.label if found else label


async def request_deletion(
    conn: Conn, user_id: str, session_id: str, *, now: datetime, undo_s: float
) -> DeletionState:
    """Hide the session now and erase it after ``undo_s`` seconds unless undone."""
    if await store.get_session(conn, user_id, session_id) is None:
        raise OwningError("No such session.", 404)
    due = now + timedelta(seconds=undo_s)
    await conn.execute(
        "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, session_id) DO UPDATE SET"
        " requested_at = EXCLUDED.requested_at, due_at = EXCLUDED.due_at, state = 'pending'"
        " WHERE session_deletions.state = 'cancelled'",
        (user_id, session_id, now, due),
    )
    return DeletionState(session_id=session_id, state="pending", undo_until=_iso(due))


async def undo_deletion(
    conn: Conn, user_id: str, session_id: str, *, now: datetime
) -> DeletionState:
    """Cancel a pending deletion; too late (or none) is an error the user can read."""
    if not store.valid_uuid(session_id):
        raise OwningError("No such deletion.", 404)
    cur = await conn.execute(
        "UPDATE session_deletions SET state = 'cancelled'"
        " WHERE user_id = %s AND session_id = %s AND state = 'pending' AND due_at > %s"
        " RETURNING due_at",
        (user_id, session_id, now),
    )
    row = await cur.fetchone()
    if row is not None:
        return DeletionState(session_id=session_id, state="cancelled", undo_until=_iso(row[0]))
    cur = await conn.execute(
        "SELECT state FROM session_deletions WHERE user_id = %s AND session_id = %s",
        (user_id, session_id),
    )
    found = await cur.fetchone()
    if found is None or found[0] == "cancelled":
        raise OwningError("No such deletion.", 404)
    raise OwningError("Too late to undo: the session is being erased.", 409)


async def pending_deletions(conn: Conn, user_id: str, *, now: datetime) -> list[DeletionState]:
    """The user's deletions that can still be undone, soonest first."""
    cur = await conn.execute(
        "SELECT session_id::text, due_at, reason FROM session_deletions"
        " WHERE user_id = %s AND state = 'pending' AND due_at > %s ORDER BY due_at",
        (user_id, now),
    )
    return [
        DeletionState(session_id=r[0], state="pending", undo_until=_iso(r[1]), reason=r[2])
        for r in await cur.fetchall()
    ]


async def get_retention(conn: Conn, user_id: str, *, default_days: int) -> RetentionSettings:
    """How long the user's history is kept (their choice, else the operator's default)."""
    cur = await conn.execute(
        "SELECT retention_days FROM user_settings WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    days = row[0] if row else None
    return RetentionSettings(days=days, default_days=default_days, max_days=default_days)


async def put_retention(
    conn: Conn, user_id: str, days: int | None, *, default_days: int
) -> RetentionSettings:
    """Store the user's choice; more than the operator allows is refused."""
    if days is not None and default_days and days > default_days:
        raise OwningError(f"History is kept at most {default_days} days on this server.")
    await conn.execute(
        "INSERT INTO user_settings (user_id, retention_days) VALUES (%s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET retention_days = EXCLUDED.retention_days",
        (user_id, days),
    )
    return RetentionSettings(days=days, default_days=default_days, max_days=default_days)
