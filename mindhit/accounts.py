"""Users, device tokens and privacy settings: the one store the CLI, gateway and web share.

Device tokens are random 256-bit secrets shown once; only their SHA-256 is stored,
so a database leak reveals no usable token. Revoked tokens stay in the table so the
gateway can answer 403 (revoked) rather than 401 (unknown).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import msgspec
import psycopg

from mindhit.db import sql_file
from schema.ids import uuid7

__all__ = [
    "AccountError",
    "DeviceToken",
    "TokenInfo",
    "User",
    "create_token",
    "create_user",
    "find_user",
    "hash_token",
    "list_tokens",
    "lookup_token",
    "revoke_token",
]

TOKEN_PREFIX = "mh_"
_USER_CREATE = sql_file("mindhit", "user_create")
_TOKEN_REVOKE = sql_file("mindhit", "token_revoke")
_TOKENS_LIST = sql_file("mindhit", "tokens_list")
_TOKEN_LOOKUP = sql_file("mindhit", "token_lookup")


class AccountError(ValueError):
    """An account operation that cannot be done (unknown user, duplicate email, …)."""


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A MindHit user."""

    user_id: str
    email: str
    is_admin: bool = False


class DeviceToken(msgspec.Struct, frozen=True, kw_only=True):
    """A device token as listed to its owner (never the secret itself)."""

    token_id: str
    device: str
    created_at: str
    revoked: bool


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the gateway learns from a presented token."""

    user_id: str
    token_id: str
    revoked: bool
    blocked_domains: tuple[str, ...] = ()


def hash_token(token: str) -> bytes:
    """SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).digest()


async def create_user(
    conn: psycopg.AsyncConnection[Any],
    email: str,
    *,
    password_hash: str | None = None,
    is_admin: bool = False,
) -> User:
    """Create a user with default settings; raises :class:`AccountError` if the email exists."""
    email = email.strip()
    if "@" not in email or len(email) > 320:
        raise AccountError(f"not an email address: {email!r}")
    user_id = uuid7()
    try:
        async with conn.transaction():
            await conn.execute(_USER_CREATE, (user_id, email, password_hash, is_admin))
            await conn.execute("INSERT INTO user_settings (user_id) VALUES (%s)", (user_id,))
    except psycopg.errors.UniqueViolation as exc:
        raise AccountError(f"a user with email {email!r} already exists") from exc
    return User(user_id=user_id, email=email, is_admin=is_admin)


async def find_user(conn: psycopg.AsyncConnection[Any], email: str) -> User | None:
    """Return the user with this email (case-insensitive), if any."""
    cur = await conn.execute(
        "SELECT user_id::text, email, is_admin FROM users WHERE lower(email) = lower(%s)",
        (email.strip(),),
    )
    row = await cur.fetchone()
    return None if row is None else User(user_id=row[0], email=row[1], is_admin=row[2])


async def create_token(
    conn: psycopg.AsyncConnection[Any], user_id: str, device: str
) -> tuple[str, str]:
    """Create a device token for ``user_id``; return ``(token_id, secret)``. Shown once."""
    device = device.strip()
    if not device or len(device) > 100:
        raise AccountError("device name must be 1-100 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid7()
    await conn.execute(
        "INSERT INTO device_tokens (token_id, user_id, device, token_hash) VALUES (%s, %s, %s, %s)",
        (token_id, user_id, device, hash_token(secret)),
    )
    return token_id, secret


async def revoke_token(
    conn: psycopg.AsyncConnection[Any], user_id: str, token_id_or_device: str
) -> int:
    """Revoke the user's token(s) named by id or device name; return how many were revoked."""
    cur = await conn.execute(_TOKEN_REVOKE, (user_id, token_id_or_device, token_id_or_device))
    return cur.rowcount


async def list_tokens(conn: psycopg.AsyncConnection[Any], user_id: str) -> list[DeviceToken]:
    """The user's device tokens, newest first."""
    cur = await conn.execute(_TOKENS_LIST, (user_id,))
    return [
        DeviceToken(token_id=r[0], device=r[1], created_at=r[2].isoformat(), revoked=r[3])
        for r in await cur.fetchall()
    ]


async def lookup_token(conn: psycopg.AsyncConnection[Any], secret: str) -> TokenInfo | None:
    """Resolve a presented token to its user and block list; ``None`` if unknown."""
    cur = await conn.execute(_TOKEN_LOOKUP, (hash_token(secret),))
    row = await cur.fetchone()
    if row is None:
        return None
    return TokenInfo(user_id=row[0], token_id=row[1], revoked=row[2], blocked_domains=tuple(row[3]))
