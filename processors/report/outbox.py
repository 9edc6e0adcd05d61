"""The report outbox: session reports owed, kept in Redis until they are finished.

Why it exists: the mind-map agent marks a session's map done (so a redelivered
``session.closed`` never builds it again) and only then mails the report, in the
background. Without a durable note of the report owed, a worker dying in between,
or an SMTP server being down, loses the report for good. So the agent writes an
:class:`OutboxRecord` here *before* it marks the map done, and removes it once the
report is finished (sent, or not wanted). Whatever is left is sent again later: by
the worker that is assigned the partition next, and periodically while it holds it.

One Redis hash per sessions partition, ``<prefix>:{p<N>}:report-outbox`` (field =
session id, value = msgpack :class:`OutboxRecord`), so it shares the partition's
hash tag with the partition's streams and state. It only holds reports still owed,
so it stays small; each scan reads it whole.

Retries: a failed send keeps the record with one more attempt and an exponential
next-retry time (1, 2, 4 … minutes, capped); after ``max_attempts`` failures the
record is dropped, logged as an error and counted as
``mindhit_reports_total{outcome="abandoned"}``.

Delivery is *at least once*: a worker dying after the mail was accepted but before
the record was removed sends that report again.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit.logs import get_logger
from processors.report.metrics import REPORTS
from schema.derived import MindmapBuilt, SessionClosed
from schema.topics import partition_tag

__all__ = [
    "FIRST_RETRY_MS",
    "MAX_ATTEMPTS",
    "MAX_RETRY_MS",
    "OutboxRecord",
    "ReportOutbox",
]

log = get_logger(__name__)

MAX_ATTEMPTS = 8
"""Failed sends after which a report is abandoned (about two hours of retries)."""
FIRST_RETRY_MS = 60_000
"""Wait after the first failure; it doubles with every further failure."""
MAX_RETRY_MS = 2 * 3600 * 1000
"""Longest wait between two attempts."""

_RESCHEDULE = resources.files(__package__).joinpath("reschedule.lua").read_text()


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One report owed: the session and its map, failed attempts so far, next retry time."""

    closed: SessionClosed
    built: MindmapBuilt
    attempts: int = 0
    due_ms: int = 0
    """Unix ms from which the report may be sent (again)."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(OutboxRecord)


class ReportOutbox:
    """The per-partition report outbox in Redis (see the module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        first_retry_ms: int = FIRST_RETRY_MS,
        max_retry_ms: int = MAX_RETRY_MS,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._reschedule = client.register_script(_RESCHEDULE)
        self.max_attempts = max_attempts
        self._first_retry_ms = first_retry_ms
        self._max_retry_ms = max_retry_ms

    def key(self, partition: int) -> str:
        """The outbox hash of ``partition``, e.g. ``mindhit:{p3}:report-outbox``."""
        return f"{self._prefix}:{partition_tag(partition)}:report-outbox"

    def retry_delay_ms(self, attempts: int) -> int:
        """How long to wait after the ``attempts``-th failed send."""
        return min(self._first_retry_ms * 2 ** max(attempts - 1, 0), self._max_retry_ms)

    async def put(
        self, partition: int, closed: SessionClosed, built: MindmapBuilt, now_ms: int
    ) -> None:
        """Record that ``closed`` is owed a report, due now (replaces an older record)."""
        record = OutboxRecord(closed=closed, built=built, due_ms=now_ms)
        value = _encoder.encode(record)
        await self._redis.hset(self.key(partition), closed.session_id, value)  # type: ignore[misc]

    async def get(self, partition: int, session_id: str) -> OutboxRecord | None:
        """The record of ``session_id``, or ``None`` when no report is owed."""
        raw: Any = await self._redis.hget(self.key(partition), session_id)  # type: ignore[misc]
        return _decoder.decode(raw) if raw is not None else None

    async def records(self, partition: int) -> list[OutboxRecord]:
        """Every record of ``partition``, soonest due first (undecodable ones are dropped)."""
        key = self.key(partition)
        found: Any = await self._redis.hgetall(key)  # type: ignore[misc]
        records: list[OutboxRecord] = []
        for field, raw in found.items():
            try:
                records.append(_decoder.decode(raw))
            except msgspec.DecodeError as exc:
                log.error("report_outbox.undecodable", key=key, field=field, error=str(exc))
                await self._redis.hdel(key, field)  # type: ignore[misc]
        return sorted(records, key=lambda r: (r.due_ms, r.closed.session_id))

    async def due(self, partition: int, now_ms: int) -> list[OutboxRecord]:
        """The records of ``partition`` whose time has come, soonest due first."""
        return [r for r in await self.records(partition) if r.due_ms <= now_ms]

    async def remove(self, partition: int, session_id: str) -> None:
        """Forget the report of ``session_id``: it is finished."""
        await self._redis.hdel(self.key(partition), session_id)  # type: ignore[misc]

    async def failed(self, partition: int, record: OutboxRecord, now_ms: int) -> bool:
        """Count one failed send of ``record``: schedule the next try, or abandon it.

        Steps: 1. one more attempt; 2. out of attempts → remove it and, if it was
        still there, log an error and count ``abandoned``; 3. else store it with the
        next retry time, only if it is still in the outbox (an erasure meanwhile wins).

        Returns:
            True when it will be retried, False when it was abandoned or erased.
        """
        attempts = record.attempts + 1
        session_id = record.closed.session_id
        if attempts >= self.max_attempts:
            removed: Any = await self._redis.hdel(self.key(partition), session_id)  # type: ignore[misc]
            if removed:
                REPORTS.labels("abandoned").inc()
                log.error("report.abandoned", session_id=session_id, attempts=attempts)
            return False
        retry = msgspec.structs.replace(
            record, attempts=attempts, due_ms=now_ms + self.retry_delay_ms(attempts)
        )
        stored: Any = await self._reschedule(
            keys=[self.key(partition)], args=[session_id, _encoder.encode(retry)]
        )
        return bool(stored)

    async def erase_user(self, partition: int, user_id: str) -> int:
        """Drop every report owed to ``user_id`` in ``partition``; return how many."""
        records = await self.records(partition)
        owned = [r.closed.session_id for r in records if r.closed.user_id == user_id]
        if not owned:
            return 0
        return int(await self._redis.hdel(self.key(partition), *owned))  # type: ignore[misc]
