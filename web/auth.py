"""Passwords and dashboard sign-in sessions.

Passwords are hashed with Argon2id in worker threads (:mod:`mindhit.passwords`),
re-hashed when the parameters change. A sign-in creates a random 256-bit cookie value;
only its SHA-256 is stored in ``web_sessions`` so a leaked table gives no usable cookie.
Sessions expire after ``SESSION_TTL``; signing out deletes the row, "sign out
everywhere" and a password change delete the user's other rows.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import psycopg

from mindhit.accounts import USER_COLUMNS, User, user_from_row
from mindhit.db import sql_file
from mindhit.passwords import hash_password, password_problem, verify_password

__all__ = [
    "SESSION_TTL",
    "check_password",
    "create_login",
    "delete_login",
    "hash_password",
    "login_count",
    "password_problem",
    "session_hash",
    "user_for_login",
]

SESSION_TTL = timedelta(days=14)
_LOGIN_CREATE = sql_file("web", "login_create")


def session_hash(cookie_value: str) -> bytes:
    """The stored form of a session cookie value."""
    return hashlib.sha256(cookie_value.encode()).digest()


async def check_password(
    conn: psycopg.AsyncConnection[Any], user: User | None, password: str
) -> bool:
    """Whether ``password`` is ``user``'s (timing-safe: ``None`` costs the same and fails).

    Steps: read the stored hash; verify it in a worker thread (a dummy hash when there is
    none); when the hash parameters are outdated, store a fresh hash.
    """
    stored = None
    if user is not None:
        cur = await conn.execute(
            "SELECT password_hash FROM users WHERE user_id = %s", (user.user_id,)
        )
        row = await cur.fetchone()
        stored = row[0] if row is not None else None
    check = await verify_password(stored, password)
    if user is not None and check.matched and check.new_hash:
        await conn.execute(
            "UPDATE users SET password_hash = %s WHERE user_id = %s",
            (check.new_hash, user.user_id),
        )
    return user is not None and check.matched


async def create_login(
    conn: psycopg.AsyncConnection[Any], user_id: str, *, now: datetime, user_agent: str = ""
) -> str:
    """Create a sign-in session for ``user_id``; return the cookie value (shown once)."""
    value = secrets.token_urlsafe(32)
    await conn.execute(
        _LOGIN_CREATE,
        (session_hash(value), user_id, now, now + SESSION_TTL, user_agent[:300]),
    )
    await conn.execute("DELETE FROM web_sessions WHERE expires_at < %s", (now,))
    return value


async def user_for_login(
    conn: psycopg.AsyncConnection[Any], cookie_value: str, *, now: datetime
) -> User | None:
    """The signed-in user for a session cookie, or ``None`` when unknown or expired."""
    cur = await conn.execute(
        f"SELECT {USER_COLUMNS} FROM web_sessions s JOIN users u USING (user_id)"
        " WHERE s.session_hash = %s AND s.expires_at > %s",
        (session_hash(cookie_value), now),
    )
    row = await cur.fetchone()
    return None if row is None else user_from_row(row)


async def login_count(conn: psycopg.AsyncConnection[Any], user_id: str, *, now: datetime) -> int:
    """How many browsers the user is signed in on right now."""
    cur = await conn.execute(
        "SELECT count(*) FROM web_sessions WHERE user_id = %s AND expires_at > %s",
        (user_id, now),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def delete_login(conn: psycopg.AsyncConnection[Any], cookie_value: str) -> None:
    """Sign out: forget this session cookie."""
    await conn.execute(
        "DELETE FROM web_sessions WHERE session_hash = %s", (session_hash(cookie_value),)
    )
