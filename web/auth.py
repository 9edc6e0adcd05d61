"""Passwords and dashboard sign-in sessions.

Passwords are hashed with Argon2id (argon2-cffi's defaults, re-hashed when those change).
A sign-in creates a random 256-bit cookie value; only its SHA-256 is stored in
``web_sessions`` so a leaked table gives no usable cookie. Sessions expire after
``SESSION_TTL``; signing out deletes the row.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mindhit.accounts import User
from mindhit.db import sql_file

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "SESSION_TTL",
    "check_password",
    "create_login",
    "delete_login",
    "hash_password",
    "password_problem",
    "user_for_login",
]

SESSION_TTL = timedelta(days=14)
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
_USER_BY_EMAIL = sql_file("web", "user_by_email")
_LOGIN_CREATE = sql_file("web", "login_create")
_LOGIN_USER = sql_file("web", "login_user")
# A valid hash of a random password: verifying against it when the user does not exist
# keeps sign-in time the same for known and unknown emails.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or ``None`` when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "That password is too long."
    return None


def _session_hash(cookie_value: str) -> bytes:
    return hashlib.sha256(cookie_value.encode()).digest()


async def check_password(
    conn: psycopg.AsyncConnection[Any], email: str, password: str
) -> User | None:
    """The user whose email and password match, else ``None`` (timing-safe for unknown emails).

    Steps: look the user up; verify the Argon2 hash (a dummy hash when unknown); when the
    hash parameters are outdated, store a fresh hash.
    """
    cur = await conn.execute(_USER_BY_EMAIL, (email.strip(),))
    row = await cur.fetchone()
    stored = row[3] if row is not None and row[3] else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row[3]:
        return None
    if _hasher.check_needs_rehash(stored):
        await conn.execute(
            "UPDATE users SET password_hash = %s WHERE user_id = %s",
            (_hasher.hash(password), row[0]),
        )
    return User(user_id=row[0], email=row[1], is_admin=row[2])


async def create_login(
    conn: psycopg.AsyncConnection[Any], user_id: str, *, now: datetime, user_agent: str = ""
) -> str:
    """Create a sign-in session for ``user_id``; return the cookie value (shown once)."""
    value = secrets.token_urlsafe(32)
    await conn.execute(
        _LOGIN_CREATE, (_session_hash(value), user_id, now + SESSION_TTL, user_agent[:300])
    )
    await conn.execute("DELETE FROM web_sessions WHERE expires_at < %s", (now,))
    return value


async def user_for_login(
    conn: psycopg.AsyncConnection[Any], cookie_value: str, *, now: datetime
) -> User | None:
    """The signed-in user for a session cookie, or ``None`` when unknown or expired."""
    cur = await conn.execute(_LOGIN_USER, (_session_hash(cookie_value), now))
    row = await cur.fetchone()
    return None if row is None else User(user_id=row[0], email=row[1], is_admin=row[2])


async def delete_login(conn: psycopg.AsyncConnection[Any], cookie_value: str) -> None:
    """Sign out: forget this session cookie."""
    await conn.execute(
        "DELETE FROM web_sessions WHERE session_hash = %s", (_session_hash(cookie_value),)
    )
