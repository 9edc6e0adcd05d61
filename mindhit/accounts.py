"""Users, device tokens and privacy settings: the one store the CLI, gateway and web share.

Device tokens are random 256-bit secrets shown once; only their SHA-256 is stored,
so a database leak reveals no usable token. Revoked tokens stay in the table so the
gateway can answer 403 (revoked) rather than 401 (unknown).

Addresses are stored in the one canonical form of :func:`mindhit.emails.normalize_email`
(one address, NFKC, lower case, IDNA domain), so two spellings are one account. An
address counts as confirmed once its owner used a confirmation link
(:mod:`mindhit.account_links`) or the operator created the account.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from mindhit.db import sql_file
from mindhit.emails import EmailError, normalize_email
from schema.ids import uuid7

__all__ = [
    "USER_COLUMNS",
    "AccountError",
    "DeviceToken",
    "EmailTakenError",
    "SignedOutAll",
    "SignedOutError",
    "TokenInfo",
    "User",
    "confirm_email",
    "create_token",
    "create_user",
    "find_user",
    "hash_token",
    "list_tokens",
    "lookup_token",
    "lookup_tokens",
    "revoke_token",
    "set_admin",
    "set_password",
    "sign_out_everywhere",
    "user_from_row",
]

TOKEN_PREFIX = "mh_"
_USER_CREATE = sql_file("mindhit", "user_create")
_TOKEN_REVOKE = sql_file("mindhit", "token_revoke")
_TOKENS_LIST = sql_file("mindhit", "tokens_list")
_TOKEN_LOOKUP = sql_file("mindhit", "token_lookup")
_TOKENS_LOOKUP = sql_file("mindhit", "token_lookup_many")


class AccountError(ValueError):
    """An account operation that cannot be done (unknown user, duplicate email, …)."""


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A MindHit user: ``is_admin`` is the operator-set flag, nothing else."""

    user_id: str
    email: str
    is_admin: bool = False
    email_confirmed: bool = False
    has_password: bool = False


USER_COLUMNS = (
    "user_id::text, email, is_admin, email_confirmed_at IS NOT NULL, password_hash IS NOT NULL"
)
"""The ``users`` columns :func:`user_from_row` reads, in order (join other tables
``USING (user_id)`` so the names stay unambiguous)."""


def user_from_row(row: tuple[Any, ...]) -> User:
    """A :class:`User` from a row selected with :data:`USER_COLUMNS`."""
    return User(
        user_id=row[0],
        email=row[1],
        is_admin=row[2],
        email_confirmed=row[3],
        has_password=row[4],
    )


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
    erased_at: int | None = None
    """The cut of the user's latest erasure (Unix ms; None if never erased): events
    recorded up to it are refused (:mod:`mindhit.erasures`)."""


def hash_token(token: str) -> bytes:
    """SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).digest()


class EmailTakenError(AccountError):
    """Another account already has this address."""


class SignedOutError(AccountError):
    """The sign-in a device token was asked through has ended (or never was)."""


_REVOKE_ALL = "UPDATE device_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL"
"""Revoke every active device token of a user (run after deleting their sign-ins, in the
same transaction: see :func:`create_token`)."""


def canonical_email(email: str) -> str:
    """The canonical address, or :class:`AccountError` saying why ``email`` is not one."""
    try:
        return normalize_email(email)
    except EmailError as exc:
        raise AccountError(str(exc)) from exc


async def create_user(
    conn: psycopg.AsyncConnection[Any],
    email: str,
    *,
    password_hash: str | None = None,
    is_admin: bool = False,
    email_confirmed: bool = False,
) -> User:
    """Create a user with default settings.

    Args:
        email: normalised with :func:`canonical_email` before it is stored.
        password_hash: an Argon2 hash (``None``: the user cannot sign in with a password).
        is_admin: the operator's admin flag.
        email_confirmed: the address is known to be the user's (the operator says so).

    Raises:
        AccountError: not exactly one valid address; :class:`EmailTakenError` when
            another account has it.
    """
    email = canonical_email(email)
    user_id = uuid7()
    try:
        async with conn.transaction():
            await conn.execute(
                _USER_CREATE, (user_id, email, password_hash, is_admin, email_confirmed)
            )
            await conn.execute("INSERT INTO user_settings (user_id) VALUES (%s)", (user_id,))
    except psycopg.errors.UniqueViolation as exc:
        raise EmailTakenError(f"a user with email {email!r} already exists") from exc
    return User(
        user_id=user_id,
        email=email,
        is_admin=is_admin,
        email_confirmed=email_confirmed,
        has_password=password_hash is not None,
    )


def _lookup_form(email: str) -> str:
    try:
        return normalize_email(email)
    except EmailError:
        return email.strip()


async def find_user(conn: psycopg.AsyncConnection[Any], email: str) -> User | None:
    """Return the user with this address (any spelling of it), if any."""
    cur = await conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(%s)",
        (_lookup_form(email),),
    )
    row = await cur.fetchone()
    return None if row is None else user_from_row(row)


async def set_password(
    conn: psycopg.AsyncConnection[Any],
    user_id: str,
    password_hash: str,
    *,
    now: datetime,
    keep_session: bytes | None = None,
) -> int:
    """Store a new password hash, end every dashboard sign-in but ``keep_session`` and
    revoke every device token; return how many tokens were revoked.

    Steps, in one transaction: write the hash and the change time; delete the user's
    ``web_sessions`` rows except the one whose hash is ``keep_session`` (the browser
    that made the change stays signed in; everyone else must sign in again); revoke the
    device tokens (a token paired by whoever had a stolen sign-in or the old password
    would go on uploading into the account; the owner pairs their extensions again).
    """
    async with conn.transaction():
        await conn.execute(
            "UPDATE users SET password_hash = %s, password_changed_at = %s WHERE user_id = %s",
            (password_hash, now, user_id),
        )
        await conn.execute(
            "DELETE FROM web_sessions WHERE user_id = %s"
            " AND (%s::bytea IS NULL OR session_hash <> %s::bytea)",
            (user_id, keep_session, keep_session),
        )
        cur = await conn.execute(_REVOKE_ALL, (now, user_id))
        return cur.rowcount


class SignedOutAll(msgspec.Struct, frozen=True, kw_only=True):
    """What "sign out everywhere" ended: browser sign-ins and device tokens."""

    ended: int
    tokens_revoked: int


async def sign_out_everywhere(
    conn: psycopg.AsyncConnection[Any], user_id: str, *, now: datetime
) -> SignedOutAll:
    """End every dashboard sign-in of the user and revoke every device token.

    A device token is a sign-in too (the extension's, paired through a browser that was
    signed in): a stolen one must stop working with the rest. The sign-ins are deleted
    first, in the same transaction, so a token being created through one of them
    (:func:`create_token` holds its row) is committed before the revocation reads the
    tokens, or not created at all.
    """
    async with conn.transaction():
        cur = await conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (user_id,))
        ended = cur.rowcount
        cur = await conn.execute(_REVOKE_ALL, (now, user_id))
        return SignedOutAll(ended=ended, tokens_revoked=cur.rowcount)


async def set_admin(conn: psycopg.AsyncConnection[Any], user_id: str, is_admin: bool) -> None:
    """Set or clear the operator's admin flag."""
    await conn.execute("UPDATE users SET is_admin = %s WHERE user_id = %s", (is_admin, user_id))


async def confirm_email(
    conn: psycopg.AsyncConnection[Any], user_id: str, email: str, *, now: datetime
) -> bool:
    """Mark ``email`` confirmed, if it is still the user's address; ``False`` otherwise."""
    cur = await conn.execute(
        "UPDATE users SET email_confirmed_at = coalesce(email_confirmed_at, %s)"
        " WHERE user_id = %s AND email = %s",
        (now, user_id, email),
    )
    return cur.rowcount == 1


async def create_token(
    conn: psycopg.AsyncConnection[Any],
    user_id: str,
    device: str,
    *,
    login: bytes | None = None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """Create a device token for ``user_id``; return ``(token_id, secret)``. Shown once.

    Args:
        login: the hash of the dashboard sign-in (``web_sessions``) the token is asked
            through: the token is made only while it stands (not expired at ``now``),
            holding its row until the token is committed, so "sign out everywhere", a
            password change or an erasure (which delete the sign-ins before they revoke
            the tokens) either sees the new token and revokes it or ends the sign-in
            first and no token is made. ``None``: the operator's command line.

    Raises:
        AccountError: the device name is not 1-100 characters; :class:`SignedOutError`
            when ``login`` no longer stands.
    """
    device = device.strip()
    if not device or len(device) > 100:
        raise AccountError("device name must be 1-100 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = uuid7()
    async with conn.transaction():
        if login is not None:
            cur = await conn.execute(
                "SELECT 1 FROM web_sessions WHERE session_hash = %s AND user_id = %s"
                " AND expires_at > coalesce(%s, now()) FOR SHARE",
                (login, user_id, now),
            )
            if await cur.fetchone() is None:
                raise SignedOutError("this sign-in has ended")
        await conn.execute(
            "INSERT INTO device_tokens (token_id, user_id, device, token_hash)"
            " VALUES (%s, %s, %s, %s)",
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
    return TokenInfo(
        user_id=row[0],
        token_id=row[1],
        revoked=row[2],
        blocked_domains=tuple(row[3]),
        erased_at=row[4],
    )


async def lookup_tokens(
    conn: psycopg.AsyncConnection[Any], presented: Sequence[str]
) -> dict[str, TokenInfo]:
    """:func:`lookup_token` for several tokens in one query: each known one's answer,
    by the secret presented (unknown tokens are left out)."""
    by_hash = {hash_token(secret): secret for secret in presented}
    cur = await conn.execute(_TOKENS_LOOKUP, (list(by_hash),))
    return {
        by_hash[bytes(row[0])]: TokenInfo(
            user_id=row[1],
            token_id=row[2],
            revoked=row[3],
            blocked_domains=tuple(row[4]),
            erased_at=row[5],
        )
        for row in await cur.fetchall()
    }
