"""Sign-ups waiting for their address's owner: the one-time link that finishes them.

Why it exists: a sign-up that made the account at once had to refuse an address that
already had one, so anyone could ask "is this address a MindHit user?" (account
enumeration). Now sign-up only stores what was asked for here and mails a link to the
address; its answer is the same whether or not the address has an account. The account
is made when the link is used, i.e. by whoever reads that mailbox; the owner of an
address that already has an account is mailed that instead (:mod:`web.account`).

Only the link secret's SHA-256 names the Redis key (``<prefix>:web:signup:<hash>``); the
entry holds the address, the Argon2 hash of the chosen password and whether the address
already had an account when it was asked for (its link then finishes nothing). It lives
:data:`SIGNUP_TTL_S` and is used once (``GETDEL``).

Using the link also takes the password chosen when signing up: whoever asks for an
account with somebody else's address chooses its password, so a link its owner opened
unawares would otherwise make them an account the asker can sign in to (pre-hijacking).
"""

from __future__ import annotations

import hashlib
import secrets

import msgspec
import redis.asyncio as aioredis

from mindhit.account_links import CONFIRM_TTL, looks_like_link_secret

__all__ = ["SIGNUP_TTL_S", "PendingSignUp", "peek_sign_up", "store_sign_up", "take_sign_up"]

SIGNUP_TTL_S = int(CONFIRM_TTL.total_seconds())
"""How long a sign-up link works (as long as an address-confirmation link: 48 h)."""


class PendingSignUp(msgspec.Struct, frozen=True, kw_only=True):
    """A sign-up waiting for its link.

    ``confirmed``: the link went only by mail, so using it proves the address (false in
    development without SMTP, where it is shown on the page). ``taken``: the address had
    an account when the sign-up was asked for (no password kept; the link makes nothing).
    """

    email: str
    password_hash: str = ""
    confirmed: bool = False
    taken: bool = False


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PendingSignUp)


def _key(prefix: str, secret: str) -> str:
    return f"{prefix}:web:signup:{hashlib.sha256(secret.encode()).hexdigest()}"


async def store_sign_up(redis: aioredis.Redis, prefix: str, pending: PendingSignUp) -> str:
    """Store ``pending`` under a fresh 256-bit secret and return the secret (the link's)."""
    secret = secrets.token_urlsafe(32)
    await redis.set(_key(prefix, secret), _encoder.encode(pending), ex=SIGNUP_TTL_S)
    return secret


async def peek_sign_up(redis: aioredis.Redis, prefix: str, secret: str) -> PendingSignUp | None:
    """The sign-up ``secret`` stands for, left in place (its password is checked first)."""
    if not looks_like_link_secret(secret):
        return None
    raw = await redis.get(_key(prefix, secret))
    if raw is None:
        return None
    return _decoder.decode(raw if isinstance(raw, bytes) else raw.encode())


async def take_sign_up(redis: aioredis.Redis, prefix: str, secret: str) -> PendingSignUp | None:
    """The sign-up ``secret`` stands for, consumed (a link works once); ``None`` if none."""
    if not looks_like_link_secret(secret):
        return None
    raw = await redis.getdel(_key(prefix, secret))
    if raw is None:
        return None
    return _decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
