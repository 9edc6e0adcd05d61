"""Things the user does from the dashboard that change state, shared by pages and the API.

Device tokens, settings, starting/stopping a session and erasing all data (account
actions such as sign-up and passwords are in :mod:`web.account`). Each
takes its connections and clock as arguments (no globals), so pages, the JSON API and the
tests call exactly the same code.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.accounts import AccountError, SignedOutError, User, create_token, revoke_token
from mindhit.clock import Clock, utc_datetime
from mindhit.db import sql_file
from mindhit.erasures import record_erasure
from mindhit.settings import Settings
from schema.derived import UserErased
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, partition_for, stream_key, topic_for
from web.models import CreatedToken, ErasureResult, SessionControlResult

__all__ = [
    "ActionError",
    "erase_account",
    "new_token",
    "remove_token",
    "start_session",
    "stop_session",
]

Conn = psycopg.AsyncConnection[Any]


class ActionError(ValueError):
    """The request cannot be done; the message is shown to the user.

    ``field`` names the input it is about (the API's 400 answers carry it);
    ``retry_after_s`` is set when the answer is "not now" (429).
    """

    def __init__(self, message: str, *, field: str = "", retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.field = field
        self.retry_after_s = retry_after_s


async def new_token(
    conn: Conn, user_id: str, device: str, *, login: bytes, now: datetime
) -> CreatedToken:
    """Create a device token for the extension; the secret is returned this once.

    ``login`` is the hash of the sign-in (a browser's, or the one that confirmed a
    pairing code) the token is asked through: once it has ended ("sign out everywhere",
    a password change, erasure) no token is made (:class:`SignedOutError`), and a token
    made just before is revoked with the others.
    """
    try:
        token_id, secret = await create_token(conn, user_id, device, login=login, now=now)
    except SignedOutError:
        raise
    except AccountError as exc:
        raise ActionError(str(exc)) from exc
    return CreatedToken(token_id=token_id, device=device.strip(), token=secret)


async def remove_token(conn: Conn, user_id: str, token_id: str) -> bool:
    """Revoke one of the user's tokens by id; ``False`` when none matched."""
    return await revoke_token(conn, user_id, token_id) > 0


async def start_session(
    redis: aioredis.Redis, settings: Settings, user_id: str, *, clock: Clock, label: str = ""
) -> SessionControlResult:
    """Start a recording session through the kernel's session log (appends to raw)."""
    from mindhit import session_log

    if len(label) > session_log.MAX_LABEL_LENGTH:
        raise ActionError("A session label has at most 200 characters.")
    created = await session_log.start_session(redis, settings, user_id, label, clock=clock)
    return SessionControlResult(session_id=created.session_id, status="recording")


async def stop_session(
    redis: aioredis.Redis,
    settings: Settings,
    user_id: str,
    session_id: str,
    *,
    clock: Clock,
    conn: Conn | None = None,
) -> SessionControlResult | None:
    """Stop one of the user's sessions; ``None`` when it is not theirs (answer 404).

    The owner is the session's ownership key, or for a session recorded before the
    keys existed, its ``sessions`` row (read through ``conn``).
    """
    from mindhit import session_log
    from mindhit.session_owners import recorded_owners

    legacy = functools.partial(recorded_owners, conn) if conn is not None else None
    try:
        await session_log.stop_session(
            redis, settings, user_id, session_id, clock=clock, legacy=legacy
        )
    except session_log.SessionNotFoundError:
        return None
    return SessionControlResult(session_id=session_id, status="processing")


async def erase_account(
    conn: Conn, redis: aioredis.Redis, settings: Settings, user: User, *, clock: Clock
) -> ErasureResult:
    """Erase everything the user recorded.

    Steps, in order: end every sign-in, delete every device token (so no new event can
    arrive; the gateway answers 401 to them, and their device names go too) and reset
    the settings but the block list (so an extension paired afterwards still records
    none of those domains), in one transaction; then append ``UserErased`` to the sessions topic
    (the projector deletes every read row, archive entry and Redis key of the user on
    it and tombstones them; the tombstone is written at once too, see
    :mod:`mindhit.erasures`). Its cut is server time: everything the gateway received
    up to now plus ``token_cache_seconds`` (a gateway may still take a revoked token
    that long) is erased, whatever times the client put in its events. The account
    itself stays so the user can keep signing in; an erasure appended twice is
    harmless (the projector's delete is idempotent).
    """
    now_ms = clock()
    now = utc_datetime(now_ms)
    cut = now_ms + int(settings.token_cache_seconds * 1000)
    async with conn.transaction():
        # The tombstone now, not when the projector folds UserErased: the gateway refuses
        # events recorded up to the cut from then on (a queue an extension kept through
        # the erasure), and a pairing answers with the account's new epoch.
        await record_erasure(conn, user.user_id, cut, "user request")
        # The sign-ins go first: a token being made through one holds its row
        # (mindhit.accounts.create_token), so it is committed before the revocation
        # reads the tokens, or not made at all.
        await conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (user.user_id,))
        cur = await conn.execute(  # deleted, not kept revoked: their names are the user's
            "DELETE FROM device_tokens WHERE user_id = %s AND revoked_at IS NULL",
            (user.user_id,),
        )
        revoked = cur.rowcount
        await conn.execute("DELETE FROM device_tokens WHERE user_id = %s", (user.user_id,))
        await conn.execute(sql_file("web", "settings_reset"), (now, user.user_id))
    event = UserErased(user_id=user.user_id, ts=cut, reason="user request")
    partition = partition_for(user.user_id, settings.partitions)
    await streams.append(
        redis,
        stream_key(settings.key_prefix, topic_for(event), partition),
        encode_derived_entry(DerivedEntry(events=[event])),
        key=user.user_id.encode(),
        timestamp_ms=now_ms,
    )
    assert topic_for(event) == SESSIONS_TOPIC
    return ErasureResult(erased=True, tokens_revoked=revoked)
