"""Housekeeping: due session deletions, retention, idle recordings, old archive partitions.

Run by the projector every ``MINDHIT_HOUSEKEEPING_INTERVAL_S`` (one replica at a time:
a PostgreSQL advisory lock). Each turn, in order:

1. **Retention** (at most every :data:`RETENTION_EVERY_S`): every session of a user
   started before ``now - days`` (their ``retention_days``, else
   ``MINDHIT_RETENTION_DAYS``; ``0`` = forever) is filed as a deletion due at once
   (reason ``retention``), so it goes the same way as a session the user deleted.
2. **Due deletions**: for each deletion past its undo window, append ``SessionErased``
   (with the page texts the user read only in that session, which the processors
   release from the Redis content store) to the user's sessions partition, then mark
   it ``erasing`` (append first: a crash in
   between appends it again, and erasing twice is a no-op). The projector deletes the
   rows and marks it ``done`` in the same transaction.
3. **Idle recordings**: a session still recording with no event for
   ``MINDHIT_SESSION_IDLE_CLOSE_S`` is stopped (``session.stopped`` from the server,
   dated at its last event).
4. **Archive partitions**: with an operator retention, monthly ``event_log`` partitions
   wholly older than it are dropped (no user may keep history longer).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from mindhit import session_log, streams
from mindhit.clock import Clock, utc_datetime
from mindhit.logs import get_logger
from mindhit.settings import Settings
from schema.derived import SessionErased
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import partition_for, stream_key, topic_for

__all__ = ["HOUSEKEEPING_LOCK", "Housekeeper", "TurnReport"]

log = get_logger(__name__)

HOUSEKEEPING_LOCK: Final = 0x6D68_686B  # "mhhk"
RETENTION_EVERY_S: Final = 3600.0
_BATCH: Final = 500


def _fixed(at: datetime) -> Clock:
    """A clock standing still at ``at`` (a stop dated at the session's last event)."""
    ms = int(at.timestamp() * 1000)
    return lambda: ms


class TurnReport(msgspec.Struct, kw_only=True):
    """What one housekeeping turn did."""

    ran: bool = False
    expired: int = 0
    erasing: int = 0
    closed: int = 0
    dropped_partitions: list[str] = []


class Housekeeper:
    """Runs the housekeeping turns with its own PostgreSQL connection.

    Args:
        settings: retention, idle close and partition settings.
        redis: async Redis client (appends ``SessionErased``, stops sessions).
        conn: a synchronous PostgreSQL connection owned by the housekeeper.
        clock: the wall clock (Unix ms), injected.
    """

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis,
        conn: psycopg.Connection[Any],
        *,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.conn = conn
        self.clock = clock
        self._retention_at = float("-inf")

    async def turn(self) -> TurnReport:
        """One turn (steps in the module docstring); skipped when another replica runs one."""
        report = TurnReport()
        now = utc_datetime(self.clock())
        if not self._lock():
            return report
        try:
            report.ran = True
            if time.monotonic() - self._retention_at >= RETENTION_EVERY_S:
                report.expired = self._file_expired(now)
                self._retention_at = time.monotonic()
            report.erasing = await self._erase_due(now)
            report.closed = await self._close_idle(now)
            report.dropped_partitions = self._drop_partitions(now)
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (HOUSEKEEPING_LOCK,))
            self.conn.commit()
        if report.expired or report.erasing or report.closed or report.dropped_partitions:
            log.info("housekeeping", **msgspec.structs.asdict(report))
        return report

    def _lock(self) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (HOUSEKEEPING_LOCK,)).fetchone()
        self.conn.commit()
        return bool(row and row[0])

    def _file_expired(self, now: datetime) -> int:
        """File every session older than its user's retention as a deletion due now."""
        default = self.settings.retention_days
        users = self.conn.execute(
            "SELECT u.user_id, coalesce(s.retention_days, %s) FROM users u"
            " LEFT JOIN user_settings s ON s.user_id = u.user_id"
            " WHERE coalesce(s.retention_days, %s) > 0",
            (default, default),
        ).fetchall()
        filed = 0
        for user_id, days in users:
            filed += self.conn.execute(
                "INSERT INTO session_deletions"
                " (user_id, session_id, reason, requested_at, due_at)"
                " SELECT user_id, session_id, 'retention', %(now)s, %(now)s FROM sessions"
                " WHERE user_id = %(user)s AND started_at < %(cut)s"
                " ON CONFLICT (user_id, session_id) DO UPDATE SET state = 'pending',"
                " reason = 'retention', due_at = EXCLUDED.due_at"
                " WHERE session_deletions.state = 'cancelled'",
                {"user": user_id, "now": now, "cut": now - timedelta(days=int(days))},
            ).rowcount
            self.conn.commit()
        return filed

    async def _erase_due(self, now: datetime) -> int:
        """Append ``SessionErased`` for deletions past their undo window; mark them erasing."""
        due = self.conn.execute(
            "SELECT user_id::text, session_id::text, reason FROM session_deletions"
            " WHERE state = 'pending' AND due_at <= %s ORDER BY due_at LIMIT %s",
            (now, _BATCH),
        ).fetchall()
        self.conn.commit()
        if not due:
            return 0
        ts = int(now.timestamp() * 1000)
        for user_id, session_id, reason in due:
            event = SessionErased(
                user_id=user_id,
                session_id=session_id,
                ts=ts,
                reason=reason,
                content_hashes=self._only_here(user_id, session_id),
            )
            partition = partition_for(user_id, self.settings.partitions)
            await streams.append(
                self.redis,
                stream_key(self.settings.key_prefix, topic_for(event), partition),
                encode_derived_entry(DerivedEntry(events=[event])),
                key=user_id.encode(),
                timestamp_ms=ts,
            )
        self.conn.execute(
            "UPDATE session_deletions d SET state = 'erasing'"
            " FROM unnest(%s::uuid[], %s::uuid[]) AS x(u, s)"
            " WHERE d.user_id = x.u AND d.session_id = x.s AND d.state = 'pending'",
            ([u for u, _, _ in due], [s for _, s, _ in due]),
        )
        self.conn.commit()
        return len(due)

    def _only_here(self, user_id: str, session_id: str) -> list[str]:
        """Page texts the user read in this session and in no other of theirs."""
        rows = self.conn.execute(
            "SELECT DISTINCT v.content_hash FROM page_visits v"
            " WHERE v.user_id = %(u)s AND v.session_id = %(s)s AND v.content_hash <> ''"
            " AND NOT EXISTS (SELECT 1 FROM page_visits o WHERE o.user_id = %(u)s"
            " AND o.url_hash = v.url_hash AND o.content_hash = v.content_hash"
            " AND o.session_id <> %(s)s)",
            {"u": user_id, "s": session_id},
        ).fetchall()
        self.conn.commit()
        return sorted(r[0] for r in rows)

    async def _close_idle(self, now: datetime) -> int:
        """Stop recording sessions that have had no event for the idle-close time."""
        cut = now - timedelta(seconds=self.settings.session_idle_close_s)
        idle = self.conn.execute(
            "SELECT user_id::text, session_id::text, coalesce(last_event_at, started_at)"
            " FROM sessions WHERE status = 'recording'"
            " AND coalesce(last_event_at, started_at) < %s LIMIT %s",
            (cut, _BATCH),
        ).fetchall()
        self.conn.commit()
        closed = 0
        for user_id, session_id, last in idle:
            # Stopped at its last event: the idle hours do not count as time spent.
            try:
                await session_log.stop_session(
                    self.redis,
                    self.settings,
                    user_id,
                    session_id,
                    clock=_fixed(last),
                    reason="idle",
                )
            except session_log.SessionNotFoundError:
                continue
            closed += 1
        return closed

    def _drop_partitions(self, now: datetime) -> list[str]:
        """Drop monthly archive partitions that end before the operator's retention."""
        if not self.settings.retention_days:
            return []
        cut = now - timedelta(days=self.settings.retention_days)
        names = [
            r[0]
            for r in self.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'event_log'::regclass ORDER BY c.relname"
            ).fetchall()
        ]
        dropped = []
        for name in names:
            stamp = name.removeprefix("event_log_")
            if len(stamp) != 6 or not stamp.isdigit():
                continue
            year, month = int(stamp[:4]), int(stamp[4:])
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=now.tzinfo)
            if end <= cut:
                self.conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
        self.conn.commit()
        return dropped
