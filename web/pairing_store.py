"""One-time pairing codes: what the dashboard hands the extension instead of a token.

A signed-in user confirming "connect this browser" gets a random code, valid once and for
:data:`CODE_TTL_S` seconds, bound to that user, the device name they confirmed and the
extension's PKCE challenge (RFC 7636, S256). The extension exchanges code and verifier for
a new device token. Only the code's SHA-256 names its Redis key, so reading Redis gives
nothing to exchange; ``GETDEL`` makes a code single-use even under concurrent exchanges,
and the key's TTL is its eviction story. Issuing is limited per user
(:data:`ISSUE_LIMIT` per minute).

The key carries no user id because the exchange is not signed in: the code itself is the
credential, and the user it pairs is the one stored with it, never one the client names.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from base64 import urlsafe_b64encode
from typing import Final

import msgspec
import redis.asyncio as aioredis

__all__ = [
    "CODE_TTL_S",
    "ISSUE_LIMIT",
    "PairingLimitedError",
    "PendingCode",
    "challenge_of",
    "issue_code",
    "take_code",
    "valid_challenge",
    "valid_verifier",
]

CODE_TTL_S: Final = 120
"""How long a code waits for the extension to exchange it."""

ISSUE_LIMIT: Final = 10
"""Codes a user may be issued per minute."""

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


class PendingCode(msgspec.Struct, frozen=True, kw_only=True):
    """What a code stands for until it is exchanged.

    ``login`` is the hex SHA-256 of the sign-in cookie that confirmed it: the code is
    valid only while that sign-in is (``""``: a code issued before this field).
    """

    user_id: str
    device: str
    challenge: str
    login: str = ""


class PairingLimitedError(Exception):
    """The user asked for too many codes; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many pairing codes; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PendingCode)


def valid_challenge(challenge: str) -> bool:
    """An S256 challenge: 43 characters of URL-safe base64 (32 bytes, no padding)."""
    return bool(_CHALLENGE.match(challenge))


def valid_verifier(verifier: str) -> bool:
    """A PKCE verifier: 43–128 unreserved characters (RFC 7636 §4.1)."""
    return bool(_VERIFIER.match(verifier))


def challenge_of(verifier: str) -> str:
    """The S256 challenge of ``verifier``: URL-safe base64 of its SHA-256, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _code_key(prefix: str, code: str) -> str:
    return f"{prefix}:web:pairing:{hashlib.sha256(code.encode()).hexdigest()}"


async def issue_code(
    redis: aioredis.Redis,
    prefix: str,
    pending: PendingCode,
) -> str:
    """Store and return a fresh code for ``pending``; beyond the limit raise a rate error.

    Steps: count the issue in the user's one-minute window (INCR, EXPIRE NX, TTL in one
    MULTI); refuse beyond :data:`ISSUE_LIMIT`; store the code's hash with the pending
    pairing for :data:`CODE_TTL_S` seconds.
    """
    window = f"{prefix}:web:pairing-issued:{pending.user_id}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(window)
        pipe.expire(window, 60, nx=True)
        pipe.ttl(window)
        count, _, ttl = await pipe.execute()
    if int(count) > ISSUE_LIMIT:
        raise PairingLimitedError(max(1, int(ttl)))
    code = secrets.token_urlsafe(32)
    await redis.set(_code_key(prefix, code), _encoder.encode(pending), ex=CODE_TTL_S)
    return code


async def take_code(
    redis: aioredis.Redis, prefix: str, code: str, verifier: str
) -> PendingCode | None:
    """The pairing ``code`` stands for, when ``verifier`` matches its challenge; else ``None``.

    The code is consumed by the first attempt (GETDEL), right or wrong: it can never be
    exchanged twice, and guessing a verifier gets one try per code.
    """
    if not code or len(code) > 128:
        return None
    raw = await redis.getdel(_code_key(prefix, code))
    if raw is None:
        return None
    pending = _decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
    expected = pending.challenge.encode()
    if not valid_verifier(verifier) or not hmac.compare_digest(
        challenge_of(verifier).encode(), expected
    ):
        return None
    return pending
