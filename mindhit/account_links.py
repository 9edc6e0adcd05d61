"""One-time links: confirm an email address, or sign in once without a password.

Why it exists: an address is only trusted once its owner shows they read mail sent
to it (reports and admin rights depend on that), and a user the operator created has
no password until they get a way in. Both are a link carrying a random 256-bit secret.

Only the secret's SHA-256 is stored (``account_links``), with its purpose, user,
address and expiry. A link works once: :func:`consume_link` deletes its row and
returns what it was for, and only if the user still has the address it was sent to.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec
import psycopg

__all__ = [
    "CONFIRM_TTL",
    "SIGN_IN_TTL",
    "LinkPurpose",
    "UsedLink",
    "consume_link",
    "create_link",
    "looks_like_link_secret",
]

LinkPurpose = Literal["confirm-email", "sign-in"]
CONFIRM_TTL = timedelta(days=2)
SIGN_IN_TTL = timedelta(hours=1)
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


class UsedLink(msgspec.Struct, frozen=True, kw_only=True):
    """What a consumed link was for."""

    user_id: str
    email: str
    purpose: LinkPurpose


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def looks_like_link_secret(value: str) -> bool:
    """Whether ``value`` has the shape of a link secret (anything else is refused unread)."""
    return bool(_SECRET.match(value))


async def create_link(
    conn: psycopg.AsyncConnection[Any],
    user_id: str,
    *,
    purpose: LinkPurpose,
    now: datetime,
    ttl: timedelta,
) -> str:
    """A new one-time link secret for the user's current address (shown once).

    Steps: read the user's address; store the secret's hash with the purpose, user,
    address and expiry; drop this user's expired links.

    Raises:
        LookupError: no such user.
    """
    cur = await conn.execute("SELECT email FROM users WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    if row is None:
        raise LookupError(f"no user {user_id}")
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO account_links (link_hash, user_id, purpose, email, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (_hash(secret), user_id, purpose, row[0], now, now + ttl),
    )
    await conn.execute(
        "DELETE FROM account_links WHERE user_id = %s AND expires_at < %s", (user_id, now)
    )
    return secret


async def consume_link(
    conn: psycopg.AsyncConnection[Any],
    secret: str,
    *,
    purpose: LinkPurpose,
    now: datetime,
    user_id: str | None = None,
) -> UsedLink | None:
    """Use a link once: delete it and say whose it was, or ``None`` when it is not valid.

    Not valid: unknown, already used, expired, for another purpose, for another user
    than ``user_id`` (when given), or sent to an address the user no longer has. A link
    for another user is left untouched, so it cannot be spent by someone else.
    """
    if not looks_like_link_secret(secret):
        return None
    cur = await conn.execute(
        "DELETE FROM account_links AS l USING users AS u"
        " WHERE l.link_hash = %s AND l.purpose = %s AND l.expires_at > %s"
        " AND u.user_id = l.user_id AND u.email = l.email"
        " AND (%s::uuid IS NULL OR l.user_id = %s::uuid)"
        " RETURNING l.user_id::text, l.email",
        (_hash(secret), purpose, now, user_id, user_id),
    )
    row = await cur.fetchone()
    return None if row is None else UsedLink(user_id=row[0], email=row[1], purpose=purpose)
