"""A user's erasure as every service sees it: the tombstone, its lock, the account's epoch.

``erased_users`` holds one row per erased user: its ``erased_at`` is the cut (server time,
Unix ms), everything received up to it is skipped by every fold, archive write and replay.
The projector writes it when it folds ``UserErased``; the dashboard's "erase all my data"
also writes it at once (:func:`record_erasure`), so the gateway and the pairing exchange
know of the erasure before the projector has caught up:

* the gateway refuses, into an erased account, events recorded up to its cut
  (:class:`mindhit.accounts.TokenInfo` ``erased_at``): an extension that queued them
  before the erasure and uploads them after pairing again brings nothing back;
* the pairing exchange answers with :func:`account_ref`, an opaque identifier of the
  account that stays the same across sign-ins, "sign out everywhere" and password changes
  but changes with every erasure: the extension uploads what it queued only to the account
  (and erasure epoch) it queued it for.

Every writer of ``erased_users`` holds :data:`ERASE_LOCK` exclusively while it takes the
row's number (``seq``): readers that saw number ``n`` have seen every erasure before it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Final

import psycopg

__all__ = ["ERASE_LOCK", "account_ref", "erased_at", "record_erasure"]

ERASE_LOCK: Final = 0x6D68_6572  # "mher": erasure vs. folding
"""The advisory lock an erasure holds exclusively and every projector batch shares."""

_RECORD = """
INSERT INTO erased_users (user_id, erased_at, reason)
VALUES (%(user)s, timestamptz 'epoch' + %(at)s * interval '1 ms', %(reason)s)
ON CONFLICT (user_id) DO UPDATE SET
    erased_at = GREATEST(erased_users.erased_at, EXCLUDED.erased_at),
    reason = EXCLUDED.reason,
    seq = nextval('erased_users_seq')
"""


async def record_erasure(
    conn: psycopg.AsyncConnection[Any], user_id: str, at_ms: int, reason: str
) -> None:
    """Record (or move forward) ``user_id``'s tombstone with cut ``at_ms``, inside the
    caller's transaction, holding :data:`ERASE_LOCK` exclusively until it ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ERASE_LOCK,))
    await conn.execute(_RECORD, {"user": user_id, "at": at_ms, "reason": reason})


async def erased_at(conn: psycopg.AsyncConnection[Any], user_id: str) -> int | None:
    """The cut of ``user_id``'s latest erasure (Unix ms), or None if never erased."""
    cur = await conn.execute(
        "SELECT (extract(epoch FROM erased_at) * 1000)::bigint FROM erased_users"
        " WHERE user_id = %s",
        (user_id,),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else None


def account_ref(user_id: str, erased_at_ms: int | None) -> str:
    """An opaque identifier of the account in its current erasure epoch (22 characters,
    URL-safe): the same for every pairing until the account's data is erased, then
    another one. Tells nothing of the address; a digest, not the user id itself."""
    epoch = "" if erased_at_ms is None else str(erased_at_ms)
    digest = hashlib.sha256(f"mindhit-account\0{user_id}\0{epoch}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
