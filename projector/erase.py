"""Right to erasure: remove a user from every read table, the archive and the hot log.

Steps of :func:`erase_user`:
  1. note each stream's highwater: the user's hot entries all lie below it, and delete
     their rejected events from the quarantine stream;
  2. drain the overview's pending changes in bounded transactions, folds going on
     (:func:`projector.overview_drainer.drain_ahead`);
  3. in one transaction holding the erasure lock exclusively: record the
     tombstone (cut = now), delete the user's rows (read tables, shadows, archive
     and, by default, the account) and record the Redis purges owed
     (:func:`projector.pg.erase_user_rows`);
  4. append a ``UserErased`` event to the sessions topic, so the processors drop
     their state and every projector replica does the same;
  5. trim the streams now as far as every reader allows; purges still pending are
     finished by the archiver's trimmer once readers move past them.

The tombstone makes every later fold, archive write and replay skip the user's
events up to the cut. (The dashboard's "erase all my data" keeps the account, so
what the user records afterwards is projected again.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.clock import Clock
from mindhit.settings import Settings
from projector.overview_drainer import drain_ahead
from projector.pg import ERASE_LOCK, erase_user_rows
from projector.retention import purge_points, purge_quarantine, trim_streams
from projector.rows import EraseUser
from schema.derived import UserErased
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, partition_for, stream_key

__all__ = ["EraseReport", "erase_user", "find_user_id"]


class EraseReport(msgspec.Struct, kw_only=True):
    """What an erasure removed and what is still owed."""

    user_id: str
    rows_deleted: int
    entries_trimmed: int
    pending_purges: int


def find_user_id(conn: psycopg.Connection[Any], email: str) -> str | None:
    """The user id of ``email`` (case-insensitive), if such an account exists."""
    row = conn.execute(
        "SELECT user_id::text FROM users WHERE lower(email) = lower(%s)", (email,)
    ).fetchone()
    conn.commit()
    return row[0] if row else None


async def erase_user(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    user_id: str,
    *,
    reason: str = "",
    delete_account: bool = True,
    clock: Clock,
) -> EraseReport:
    """Erase ``user_id`` everywhere (see the module docstring for the steps)."""
    purges = await purge_points(settings, redis, user_id)
    await purge_quarantine(redis, settings.key_prefix, user_id)
    at = clock()
    erase = EraseUser(user_id=user_id, at=at, reason=reason, delete_account=delete_account)

    def go() -> int:
        drain_ahead(conn)  # the backlog, folds going on: under the lock only what is left
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ERASE_LOCK,))
            return erase_user_rows(conn, erase, purges)

    deleted = await asyncio.to_thread(go)
    event = UserErased(user_id=user_id, ts=at, reason=reason)
    await streams.append(
        redis,
        stream_key(
            settings.key_prefix, SESSIONS_TOPIC, partition_for(user_id, settings.partitions)
        ),
        encode_derived_entry(DerivedEntry(events=[event])),
        key=user_id.encode(),
        timestamp_ms=event.ts,
    )
    trimmed = await trim_streams(settings, redis, conn)
    pending = conn.execute(
        "SELECT count(*) FROM erasure_purges WHERE user_id = %s AND done_at IS NULL", (user_id,)
    ).fetchone()
    conn.commit()
    return EraseReport(
        user_id=user_id,
        rows_deleted=deleted,
        entries_trimmed=trimmed,
        pending_purges=int(pending[0]) if pending else 0,
    )
